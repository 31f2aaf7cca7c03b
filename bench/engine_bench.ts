// `deno bench` (`deno task bench`): the two-state loop of variants.ts, 100,000 no-op transitions
// per iteration, with the floor (plain awaited async functions in a Map) as the group's baseline.
// `deno task bench:engine` prints ns/transition, the ratios and the budgets instead.

import {
  engineVariant,
  floorVariant,
  TRANSITIONS,
  type Variant,
  xstateVariant,
} from "./variants.ts";

const group = `loop of ${TRANSITIONS} transitions`;

function bench(variant: Variant, n: number, baseline = false): void {
  // The function must be `async`: `deno bench` only awaits async functions, and would otherwise
  // time how long it takes to start a run, piling up unfinished runs.
  const fn = async (): Promise<void> => {
    await variant.run();
  };
  Deno.bench({ name: variant.name, group, baseline, n, warmup: 2, fn });
}

bench(floorVariant(), 50, true);
bench(engineVariant({ config: "minimal", listener: false }), 20);
bench(engineVariant({ config: "minimal", listener: true }), 20);
bench(engineVariant({ config: "default", listener: false }), 20);
bench(engineVariant({ config: "default", listener: true }), 20);
// About a second per iteration: few iterations keep `deno bench` short.
bench(xstateVariant(), 5);
