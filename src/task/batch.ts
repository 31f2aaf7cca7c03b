import { abortable } from "../async.ts";
import { safeInstanceOf, safeString } from "../describe.ts";
import { ConfigurationError, NonRetryableError } from "../errors.ts";
import { RetryMode } from "./retry.ts";
import { type ResourceMap, type Task, TaskConfig, type TaskContext } from "./task.ts";
import { buildTask, checkFunction, checkOptionsObject, sleepFor } from "./timer.ts";

/**
 * The outcome of one item of a {@link batchTask}: its output, or the error of its last attempt.
 *
 * @typeParam O The item output type.
 */
export type BatchItemResult<O> =
  | { readonly ok: true; readonly value: O }
  | { readonly ok: false; readonly error: unknown };

/**
 * Options of {@link batchTask}.
 *
 * @typeParam I The item type.
 * @typeParam O The item output type.
 * @typeParam N The states `finish` may return.
 * @typeParam S The workflow's state union.
 * @typeParam D The run data type.
 * @typeParam R The resource map.
 */
export interface BatchTaskOptions<
  I,
  O,
  N extends string = string,
  S extends string = string,
  D = unknown,
  R extends ResourceMap = ResourceMap,
> {
  /** Task id for events and checkpoint rows; defaults to the registered state. */
  name?: string;
  /**
   * Retry and timeout policy of the whole load → process → finish cycle (default:
   * `TaskConfig.default()`). A retry replays the whole cycle, so items must be idempotent.
   */
  config?: TaskConfig;
  /** Loads the items. An error fails the task; `finish` is not called. */
  load(ctx: TaskContext<S, D, R>): readonly I[] | Promise<readonly I[]>;
  /**
   * Processes one item (context first, like every other callback: `open`, `step`, `finish`,
   * stream `processItem`). An error is retried per `itemRetry`, then lands in the item's result.
   */
  processItem(ctx: TaskContext<S, D, R>, item: I): O | Promise<O>;
  /** Gets every item's result, in input order, and returns the next state. */
  finish(ctx: TaskContext<S, D, R>, results: BatchItemResult<O>[]): N | Promise<N>;
  /** Items in flight at most: a positive integer, or `Infinity` (default 1). */
  concurrency?: number;
  /** Retry policy of each item (default `RetryMode.none()`); no per-item timeout. */
  itemRetry?: RetryMode;
}

/**
 * Creates a task that loads a list of items, processes them with bounded concurrency and lets
 * `finish` decide the next state from the per-item results.
 *
 * The cycle: `load(ctx)` (an error fails the task and `finish` is not called) → each item goes
 * through `processItem(ctx, item)` with at most `concurrency` in flight, retried per `itemRetry`
 * (backoff sleeps end when `ctx.signal` aborts; a `NonRetryableError` is not retried) → the
 * results, in input order whatever the completion order, each `{ ok: true, value }` or
 * `{ ok: false, error }` → `finish(ctx, results)` returns the next state. Failed items do not
 * fail the task: only `load`/`finish` errors and cancellation do, and the outer `config` retry
 * then replays the whole cycle. When `ctx.signal` aborts, no new item starts and the task
 * rejects with `ctx.signal.reason`.
 *
 * @typeParam I The item type.
 * @typeParam O The item output type.
 * @typeParam N The states `finish` may return.
 * @typeParam S The workflow's state union.
 * @typeParam D The run data type.
 * @typeParam R The resource map.
 * @param options The three phases, the concurrency, the item retry and the task's name and config.
 * @returns A task object for `Workflow.register`.
 * @throws {ConfigurationError} When a phase is not a function, `concurrency` is not a positive
 * integer (or `Infinity`), `itemRetry` is not a `RetryMode`, or the name or config is invalid.
 *
 * @example Square numbers two at a time, tolerating failures
 * ```ts
 * import { batchTask, RetryMode, Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * type Step = "crunch" | "done" | "partial";
 * const workflow = new Workflow<Step, { squares: number[] }>()
 *   .register("crunch", batchTask({
 *     load: () => [1, 2, 3, 4],
 *     processItem: (_ctx, n: number) => {
 *       if (n === 3) throw new Error("unlucky");
 *       return n * n;
 *     },
 *     finish: (ctx, results) => {
 *       ctx.data.squares = results.map((r) => r.ok ? r.value : -1);
 *       return results.every((r) => r.ok) ? "done" : "partial";
 *     },
 *     concurrency: 2,
 *     itemRetry: RetryMode.fixed(1, 0),
 *   }))
 *   .addExitStates("done", "partial");
 *
 * const result = await workflow.orchestrate("crunch", { data: { squares: [] } });
 * assert.equal(result.state, "partial");
 * assert.deepEqual(result.data.squares, [1, 4, -1, 16]);
 * ```
 */
export function batchTask<
  I,
  O,
  N extends S,
  S extends string = string,
  D = unknown,
  R extends ResourceMap = ResourceMap,
>(options: BatchTaskOptions<I, O, N, S, D, R>): Task<N, S, D, R> {
  checkOptionsObject("batchTask", options);
  const { load, processItem, finish } = options;
  checkFunction("batchTask", "load", load);
  checkFunction("batchTask", "processItem", processItem);
  checkFunction("batchTask", "finish", finish);
  const concurrency = checkConcurrency(options.concurrency);
  const itemRetry = checkItemRetry(options.itemRetry);

  async function processOne(item: I, ctx: TaskContext<S, D, R>): Promise<BatchItemResult<O>> {
    for (let k = 0;; k++) {
      try {
        return { ok: true, value: await processItem(ctx, item) };
      } catch (error) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        const wait = safeInstanceOf(error, NonRetryableError)
          ? undefined
          : itemRetry.delayForAttempt(k);
        if (wait === undefined) return { ok: false, error };
        await sleepFor(wait, ctx.signal);
      }
    }
  }

  return buildTask("batchTask", options, TaskConfig.default(), async (ctx) => {
    const { signal } = ctx;
    if (signal.aborted) throw signal.reason;
    const items = await load(ctx);
    if (!Array.isArray(items)) {
      throw new ConfigurationError(
        `batchTask load() must return an array of items, received ${safeString(items)}`,
      );
    }
    const results = new Array<BatchItemResult<O>>(items.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < items.length) {
        if (signal.aborted) throw signal.reason; // start no new item once aborted
        const index = next++;
        results[index] = await processOne(items[index] as I, ctx);
      }
    };
    const workers = Array.from({ length: Math.min(concurrency, items.length) }, worker);
    await abortable(Promise.all(workers), signal);
    if (signal.aborted) throw signal.reason;
    return await finish(ctx, results);
  });
}

function checkConcurrency(concurrency: number | undefined): number {
  if (concurrency === undefined) return 1;
  if ((Number.isSafeInteger(concurrency) && concurrency >= 1) || concurrency === Infinity) {
    return concurrency;
  }
  throw new ConfigurationError(
    `batchTask() option concurrency must be a positive integer or Infinity, received ${
      safeString(concurrency)
    }`,
  );
}

function checkItemRetry(mode: RetryMode | undefined): RetryMode {
  if (mode === undefined) return RetryMode.none();
  if (mode instanceof RetryMode) return mode;
  throw new ConfigurationError(
    "batchTask() option itemRetry must be a RetryMode (RetryMode.none/fixed/exponential)",
  );
}
