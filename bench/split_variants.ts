// The split benchmark's variants: a split of N no-op branches joined by "all" through
// `orchestrate` — single-attempt branches (`TaskConfig.minimal()`), with and without a bulkhead,
// and branches given without a config (so `TaskConfig.default()`: 3 retries with backoff) — next
// to the floor, `Promise.all` over the same N async functions. Shared by `split_bench.ts`
// (deno bench) and `split_compare.ts` (ratios).

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

/** Options of {@link splitVariant}. */
export interface SplitVariantOptions {
  /** The join's bulkhead; none by default. */
  bulkhead?: number;
  /**
   * `minimal`: every branch is `{ config: TaskConfig.minimal(), run }` (one attempt, the
   * default); `default`: every branch is the bare function, i.e. `TaskConfig.default()`.
   */
  config?: "minimal" | "default";
  /** Branches per split. */
  n?: number;
}

/** A workflow whose only state is a split of N no-op branches joined by "all". */
export function splitVariant(options: SplitVariantOptions = {}): SplitVariant {
  const { bulkhead, config = "minimal", n = BRANCHES } = options;
  const branch = config === "minimal" ? { config: TaskConfig.minimal(), run: noop } : noop;
  const workflow = new Workflow<"scatter" | "count" | "done">()
    .registerSplit("scatter", Array.from({ length: n }, () => branch), {
      strategy: "all",
      next: "count",
      ...(bulkhead === undefined ? {} : { bulkhead }),
    })
    // Read from the join's outcome, so a run counts only branches that really succeeded.
    .register("count", (ctx) => {
      completed = ctx.split?.successes ?? 0;
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done");
  let completed = 0;
  const label = config === "minimal" ? "cano split, all" : "cano split, all, default config";
  return {
    name: bulkhead === undefined ? label : `${label}, bulkhead ${bulkhead}`,
    run: async () => {
      completed = 0;
      await workflow.orchestrate("scatter");
      return completed;
    },
  };
}
