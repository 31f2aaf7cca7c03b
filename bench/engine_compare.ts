// `deno task bench:engine`: times every variant of the two-state loop (see variants.ts), prints
// ns/transition and the ratio to the floor, and checks the budgets: ≤ 20× the floor with no
// listener, ≤ 30× with one listener. Timings never fail the process: the exit code is 0 unless a
// variant did not run the expected number of transitions.
//
// Options: --runs=N (timed runs per variant, default 7), --warmup=N (untimed runs first, default
// 2, and at least 300 ms), --transitions=N (default 100000), --verbose (print every run).

import { runOptions } from "./_run_options.ts";
import { allVariants, TRANSITIONS, type Variant } from "./variants.ts";

/** Minimum warm-up time per variant, in milliseconds. */
const WARMUP_MS = 300;

/** The timing of one variant. */
export interface Measurement {
  /** The variant measured. */
  readonly variant: Variant;
  /** Every timed run, in milliseconds. */
  readonly runs: number[];
  /** The median run, in milliseconds. */
  readonly median: number;
}

/**
 * The median of some numbers.
 *
 * @param values At least one number.
 * @returns The median.
 */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] ?? NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] ?? NaN) + upper) / 2;
}

/**
 * Times each variant in turn: `warmup` untimed runs, then `runs` timed ones. Runs of one variant
 * are kept together so that the garbage a slow variant leaves behind (xstate's especially) is
 * collected during the next variant's warm-up rather than on its clock.
 *
 * @param variants The variants.
 * @param runs Timed runs per variant.
 * @param warmup Untimed runs per variant first.
 * @returns One measurement per variant, in order.
 */
export async function measure(
  variants: readonly Variant[],
  runs: number,
  warmup: number,
): Promise<Measurement[]> {
  const results: Measurement[] = [];
  for (const variant of variants) {
    // At least `warmup` runs and at least WARMUP_MS, so that fast variants (the floor: ~2 ms a
    // run) are fully optimised by the JIT before they are timed.
    const warmupStart = performance.now();
    for (let i = 0; i < warmup || performance.now() - warmupStart < WARMUP_MS; i++) {
      await variant.run();
    }
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const start = performance.now();
      await variant.run();
      times.push(performance.now() - start);
    }
    results.push({ variant, runs: times, median: median(times) });
  }
  return results;
}

/**
 * Formats the measurements as a Markdown table, the first one being the floor.
 *
 * @param results The measurements, floor first.
 * @param transitions Transitions per run.
 * @returns The table and whether every budget held.
 */
export function report(
  results: readonly Measurement[],
  transitions: number,
): { table: string; ok: boolean } {
  const floor = results[0]?.median ?? NaN;
  const header = ["variant", "total ms (median)", "ns/transition", "× floor", "budget", "result"];
  // Numeric columns are right-aligned.
  const right = [false, true, true, true, true, false];
  const rows: string[][] = [];
  let ok = true;
  for (const [i, { variant, median }] of results.entries()) {
    const ratio = median / floor;
    const pass = variant.budget === undefined || ratio <= variant.budget;
    ok &&= pass;
    rows.push([
      variant.name,
      median.toFixed(1),
      ((median * 1e6) / transitions).toFixed(0),
      i === 0 ? "1.0×" : `${ratio.toFixed(1)}×`,
      variant.budget === undefined ? "—" : `≤ ${variant.budget}×`,
      variant.budget === undefined ? "—" : pass ? "PASS" : "FAIL",
    ]);
  }
  const widths = header.map((_, c) => Math.max(...[header, ...rows].map((r) => r[c]?.length ?? 0)));
  const cells = (row: string[]): string[] =>
    row.map((cell, c) => right[c] ? cell.padStart(widths[c] ?? 0) : cell.padEnd(widths[c] ?? 0));
  const rule = widths.map((w, c) => right[c] ? `${"-".repeat(w - 1)}:` : "-".repeat(w));
  const lines = [cells(header), rule, ...rows.map(cells)].map((row) => `| ${row.join(" | ")} |`);
  return { table: lines.join("\n"), ok };
}

if (import.meta.main) {
  const { runs, warmup, transitions, verbose } = runOptions({
    runs: 7,
    warmup: 2,
    transitions: TRANSITIONS,
  });
  console.log(
    `cano engine loop: ${transitions} no-op transitions per run, median of ${runs} runs after ` +
      `at least ${warmup} warm-up runs and ${WARMUP_MS} ms (deno ${Deno.version.deno}, v8 ${Deno.version.v8}, ` +
      `${navigator.hardwareConcurrency} CPUs, ${Deno.build.target})\n`,
  );
  const started = performance.now();
  const results = await measure(allVariants(transitions), runs, warmup);
  const { table, ok } = report(results, transitions);
  console.log(table);
  if (verbose) {
    for (const { variant, runs } of results) {
      console.log(`${variant.name}: ${runs.map((ms) => ms.toFixed(1)).join(", ")} ms`);
    }
  }
  console.log(
    `\n${
      ok ? "PASS: every budget holds" : "FAIL: over budget (see above; the exit code stays 0)"
    } — took ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}
