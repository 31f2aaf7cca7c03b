// `deno task bench:engine`: times every variant of the two-state loop (see variants.ts), prints
// ns/transition and the ratio to the floor, and checks the budgets (issue 15): ≤ 10× the floor
// with no listener, ≤ 12× with one listener. Timings never fail the process: the exit code is 0
// unless a variant did not run the expected number of transitions.
//
// The variants are timed in rounds — each round runs every variant once, the floor first — and a
// variant's ratio is the median of its per-round ratios to the floor of the same round: the 2
// shared cores of the benchmark machine drift by 1.5–2× over seconds, and a ratio between runs
// seconds apart measures the drift. Each timed run follows an untimed run of the same variant, so
// the young generation it starts with holds its own garbage, not the previous variant's (a forced
// `gc()` instead shrinks the heap and makes the next run 10–30× slower).
//
// Options: --runs=N (timed rounds, default 9), --warmup=N (untimed runs of each variant first,
// default 2, and at least 300 ms), --transitions=N (default 100000), --verbose (print every run).

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
  /** The median of the per-round ratios to the floor (1 for the floor itself). */
  readonly ratio: number;
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
 * Times the variants in rounds: first `warmup` untimed runs of each (and at least WARMUP_MS), then
 * `runs` rounds in which every variant runs once, in order, each right after an untimed run of
 * itself (its primer). The
 * first variant is the floor: every other variant's ratio is taken to the floor of its round.
 *
 * @param variants The variants, floor first.
 * @param runs Timed rounds.
 * @param warmup Untimed runs per variant first.
 * @returns One measurement per variant, in order.
 */
export async function measure(
  variants: readonly Variant[],
  runs: number,
  warmup: number,
): Promise<Measurement[]> {
  for (const variant of variants) {
    // At least `warmup` runs and at least WARMUP_MS, so that fast variants (the floor: ~2 ms a
    // run) are fully optimised by the JIT before they are timed.
    const warmupStart = performance.now();
    for (let i = 0; i < warmup || performance.now() - warmupStart < WARMUP_MS; i++) {
      await variant.run();
    }
  }
  const times: number[][] = variants.map(() => []);
  for (let round = 0; round < runs; round++) {
    for (const [i, variant] of variants.entries()) {
      await variant.run(); // the primer: see the header
      const start = performance.now();
      await variant.run();
      times[i]!.push(performance.now() - start);
    }
  }
  const floor = times[0] ?? [];
  return variants.map((variant, i) => {
    const own = times[i] ?? [];
    const ratios = own.map((ms, round) => ms / (floor[round] ?? NaN));
    return { variant, runs: own, median: median(own), ratio: median(ratios) };
  });
}

/**
 * Formats the measurements as a Markdown table, the first one being the floor.
 *
 * @param results The measurements, floor first (ratios are taken per round, see `measure`).
 * @param transitions Transitions per run.
 * @returns The table and whether every budget held.
 */
export function report(
  results: readonly Measurement[],
  transitions: number,
): { table: string; ok: boolean } {
  const header = ["variant", "total ms (median)", "ns/transition", "× floor", "budget", "result"];
  // Numeric columns are right-aligned.
  const right = [false, true, true, true, true, false];
  const rows: string[][] = [];
  let ok = true;
  for (const [i, { variant, median, ratio }] of results.entries()) {
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
    runs: 9,
    warmup: 2,
    transitions: TRANSITIONS,
  });
  console.log(
    `cano engine loop: ${transitions} no-op transitions per run, median of ${runs} interleaved ` +
      `rounds (ratios: median of the per-round ratios to the floor) after ` +
      `at least ${warmup} warm-up runs and ${WARMUP_MS} ms (deno ${Deno.version.deno}, v8 ${Deno.version.v8}, ` +
      `${navigator.hardwareConcurrency} CPUs, ${Deno.build.target})\n`,
  );
  const started = performance.now();
  const results = await measure(allVariants(transitions), runs, warmup);
  const { table, ok } = report(results, transitions);
  console.log(table);
  if (verbose) {
    const floor = results[0]?.runs ?? [];
    for (const { variant, runs } of results) {
      const ratios = runs.map((ms, round) => (ms / (floor[round] ?? NaN)).toFixed(1));
      console.log(
        `${variant.name}: ${runs.map((ms) => ms.toFixed(1)).join(", ")} ms; ×floor by round: ${
          ratios.join(", ")
        }`,
      );
    }
  }
  console.log(
    `\n${
      ok ? "PASS: every budget holds" : "FAIL: over budget (see above; the exit code stays 0)"
    } — took ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}
