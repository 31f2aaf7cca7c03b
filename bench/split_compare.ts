// `deno task bench:split`: times a split of 10,000 no-op branches ("all", then with bulkhead 64)
// against Promise.all of the same functions in the same run, and checks the budgets: ≤ 3× the
// floor, and the bulkhead adding ≤ 20% over the plain split. Timings never fail the process.

import { median } from "./engine_compare.ts";
import { BRANCHES, promiseAllVariant, type SplitVariant, splitVariant } from "./split_variants.ts";

const RUNS = 15;
const WARMUP = 5;

async function time(variant: SplitVariant): Promise<number[]> {
  const runs: number[] = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const start = performance.now();
    const completed = await variant.run();
    if (i >= WARMUP) runs.push(performance.now() - start);
    if (completed !== BRANCHES) throw new Error(`${variant.name} completed ${completed} branches`);
  }
  return runs;
}

if (import.meta.main) {
  const variants = [promiseAllVariant(), splitVariant(), splitVariant(64)];
  const medians: number[] = [];
  for (const variant of variants) medians.push(median(await time(variant)));
  const [floor = NaN, plain = NaN, bulkhead = NaN] = medians;
  console.log(
    `split of ${BRANCHES} no-op branches, median of ${RUNS} runs after ${WARMUP} warm-ups ` +
      `(deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs)\n`,
  );
  console.log("| variant | ms (median) | µs/branch | × floor |");
  console.log("| --- | ---: | ---: | ---: |");
  variants.forEach((variant, i) => {
    const ms = medians[i] ?? NaN;
    console.log(
      `| ${variant.name} | ${ms.toFixed(2)} | ${(ms * 1000 / BRANCHES).toFixed(2)} | ${
        (ms / floor).toFixed(2)
      }× |`,
    );
  });
  const ratio = plain / floor;
  const overhead = bulkhead / plain - 1;
  console.log(`\nsplit/floor ${ratio.toFixed(2)}× (budget ≤ 3×): ${ratio <= 3 ? "PASS" : "FAIL"}`);
  console.log(
    `bulkhead overhead ${(overhead * 100).toFixed(1)}% (budget ≤ 20%): ${
      overhead <= 0.2 ? "PASS" : "FAIL"
    }`,
  );
}
