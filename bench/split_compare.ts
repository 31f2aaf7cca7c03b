// `deno task bench:split`: times a split of 10,000 no-op branches joined by "all" — single-attempt
// branches, the same with bulkhead 64, and branches without a config (`TaskConfig.default()`) —
// against `Promise.all` of the same functions, in one process, and checks issue 15's budgets:
// single-attempt ≤ 2× the floor, default config ≤ 5×, the bulkhead ≤ 20% over the plain split.
// Timings never fail the process; a run that did not complete every branch does.
//
// The variants are timed in interleaved rounds (each round runs every variant once, the floor
// first) and each ratio is the median of the per-round ratios: one run is 1–20 ms, and the two
// shared cores drift by 1.5–2× over seconds. Each timed run follows an untimed run of the same
// variant, so it starts with its own garbage in the young generation, not the previous variant's.
// (Runs this short still depend on the heap: whether a scavenge lands in a run, and how large the
// young generation has grown — the floor alone measures 1–3 ms depending on what else the process
// ran. Compare several runs of the command.)

import { median } from "./engine_compare.ts";
import { BRANCHES, promiseAllVariant, type SplitVariant, splitVariant } from "./split_variants.ts";

const RUNS = 31;
const WARMUP = 5;

/** A variant with its budget: a ratio to `against` (an index into the variants). */
interface Row {
  readonly variant: SplitVariant;
  readonly budget?: { readonly max: number; readonly against: number; readonly label: string };
}

async function once(variant: SplitVariant): Promise<number> {
  const start = performance.now();
  const completed = await variant.run();
  const ms = performance.now() - start;
  if (completed !== BRANCHES) throw new Error(`${variant.name} completed ${completed} branches`);
  return ms;
}

/** Every row's timed runs, in rounds. */
async function rounds(rows: readonly Row[]): Promise<number[][]> {
  for (const { variant } of rows) for (let i = 0; i < WARMUP; i++) await once(variant);
  const times: number[][] = rows.map(() => []);
  for (let round = 0; round < RUNS; round++) {
    for (const [i, { variant }] of rows.entries()) {
      await once(variant); // untimed: see the header
      times[i]!.push(await once(variant));
    }
  }
  return times;
}

/** The median over rounds of `times[i][round] / times[j][round]`. */
function ratio(times: number[][], i: number, j: number): number {
  const base = times[j] ?? [];
  return median((times[i] ?? []).map((ms, round) => ms / (base[round] ?? NaN)));
}

if (import.meta.main) {
  const rows: Row[] = [
    { variant: promiseAllVariant() },
    { variant: splitVariant(), budget: { max: 2, against: 0, label: "× floor" } },
    {
      variant: splitVariant({ bulkhead: 64 }),
      budget: { max: 1.2, against: 1, label: "× plain split" },
    },
    {
      variant: splitVariant({ config: "default" }),
      budget: { max: 5, against: 0, label: "× floor" },
    },
  ];
  const times = await rounds(rows);
  console.log(
    `split of ${BRANCHES} no-op branches, ${RUNS} interleaved rounds after ${WARMUP} warm-ups ` +
      `(deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs); ratios are medians ` +
      `of per-round ratios\n`,
  );
  console.log("| variant | ms (median) | µs/branch | × floor | budget | result |");
  console.log("| --- | ---: | ---: | ---: | --- | --- |");
  let ok = true;
  rows.forEach(({ variant, budget }, i) => {
    const ms = median(times[i] ?? []);
    const measured = budget === undefined ? NaN : ratio(times, i, budget.against);
    const pass = budget === undefined || measured <= budget.max;
    ok &&= pass;
    const verdict = budget === undefined
      ? "— | —"
      : `${measured.toFixed(2)} ${budget.label} (≤ ${budget.max}) | ${pass ? "PASS" : "FAIL"}`;
    console.log(
      `| ${variant.name} | ${ms.toFixed(2)} | ${(ms * 1000 / BRANCHES).toFixed(2)} | ${
        ratio(times, i, 0).toFixed(2)
      }× | ${verdict} |`,
    );
  });
  console.log(`\n${ok ? "PASS: every budget holds" : "FAIL: over budget (the exit code stays 0)"}`);
  if (Deno.args.includes("--verbose")) {
    rows.forEach(({ variant }, i) => {
      console.log(`${variant.name}: ${(times[i] ?? []).map((ms) => ms.toFixed(2)).join(", ")} ms`);
    });
  }
}
