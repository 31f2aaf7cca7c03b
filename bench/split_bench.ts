// `deno bench` (`deno task bench`): a split of 10,000 no-op branches under "all" — single-attempt
// branches with and without a bulkhead of 64, and branches without a config (TaskConfig.default())
// — against `Promise.all` of the same 10,000 async functions (the baseline).
// `deno run -A bench/split_compare.ts` prints the ratios and budgets.

import { BRANCHES, promiseAllVariant, splitVariant } from "./split_variants.ts";

const group = `${BRANCHES} no-op branches`;
const floor = promiseAllVariant();
const plain = splitVariant();
const bulkhead = splitVariant({ bulkhead: 64 });
const defaults = splitVariant({ config: "default" });

// Async functions: `deno bench` awaits only those, so each iteration times a whole split.
Deno.bench({ name: floor.name, group, baseline: true, fn: async () => void await floor.run() });
Deno.bench({ name: plain.name, group, fn: async () => void await plain.run() });
Deno.bench({ name: bulkhead.name, group, fn: async () => void await bulkhead.run() });
Deno.bench({ name: defaults.name, group, fn: async () => void await defaults.run() });
