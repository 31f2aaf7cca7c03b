// `deno bench` (`deno task bench`): a split of 10,000 no-op branches under "all", with and without
// a bulkhead of 64, against `Promise.all` of the same 10,000 async functions (the baseline).
// `deno run -A bench/split_compare.ts` prints the ratios and budgets.

import { BRANCHES, promiseAllVariant, splitVariant } from "./split_variants.ts";

const group = `${BRANCHES} no-op branches`;
const floor = promiseAllVariant();
const plain = splitVariant();
const bulkhead = splitVariant(64);

Deno.bench({ name: floor.name, group, baseline: true, fn: () => floor.run().then(() => {}) });
Deno.bench({ name: plain.name, group, fn: () => plain.run().then(() => {}) });
Deno.bench({ name: bulkhead.name, group, fn: () => bulkhead.run().then(() => {}) });
