// The split benchmark's variants: a split of N no-op branches joined by "all" through
// `orchestrate`, with and without a bulkhead, next to the floor — `Promise.all` over the same N
// async functions. Shared by `split_bench.ts` (deno bench) and `split_compare.ts` (ratios).

import { TaskConfig, Workflow } from "../mod.ts";

/** Branches per split. */
export const BRANCHES = 10_000;

/** One way of running N no-op branches to completion. */
export interface SplitVariant {
  /** Shown in tables. */
  readonly name: string;
  /** Runs the N branches once; resolves with how many completed. */
  run(): Promise<number>;
}

const noop = async (): Promise<number> => await 1;

/** The floor: `Promise.all` over N async functions. */
export function promiseAllVariant(n: number = BRANCHES): SplitVariant {
  const fns = Array.from({ length: n }, () => noop);
  return {
    name: "floor: Promise.all of async fns",
    run: async () => (await Promise.all(fns.map((fn) => fn()))).length,
  };
}

/** A workflow whose only state is a split of N no-op branches joined by "all". */
export function splitVariant(bulkhead?: number, n: number = BRANCHES): SplitVariant {
  const branch = { config: TaskConfig.minimal(), run: noop };
  const workflow = new Workflow<"scatter" | "done">()
    .registerSplit("scatter", Array.from({ length: n }, () => branch), {
      strategy: "all",
      next: "done",
      ...(bulkhead === undefined ? {} : { bulkhead }),
    })
    .register("done", () => "done")
    .addExitState("done");
  let completed = 0;
  workflow.addEventListener("stateenter", (e) => {
    if (e.state === "done") completed = n;
  });
  return {
    name: bulkhead === undefined ? "cano split, all" : `cano split, all, bulkhead ${bulkhead}`,
    run: async () => {
      completed = 0;
      await workflow.orchestrate("scatter");
      return completed;
    },
  };
}
