import { safeInstanceOf, safeString } from "../describe.ts";
import { ConfigurationError, NonRetryableError } from "../errors.ts";
import { type ResourceMap, type Task, TaskConfig, type TaskContext } from "./task.ts";
import { buildTask, checkFunction, checkOptionsObject, sleepFor } from "./timer.ts";

/**
 * What one `poll` returns: `{ ready: next }` ends the loop with the next state,
 * `{ pending: delayMs }` polls again after `delayMs` milliseconds. Build them with {@link ready}
 * and {@link pending}.
 *
 * @typeParam N The states the poll may finish with.
 */
export type PollOutcome<N extends string = string> =
  | { readonly ready: N }
  | { readonly pending: number };

/**
 * What a {@link pollTask} does when `poll` throws: `"failFast"` fails the task at once;
 * `{ retryOnError: n }` tolerates `n` consecutive errors (the `n + 1`-th fails the task) and
 * polls again immediately. A pending outcome resets the count.
 */
export type PollErrorPolicy = "failFast" | { readonly retryOnError: number };

/**
 * Options of {@link pollTask}.
 *
 * @typeParam N The states the poll may finish with.
 * @typeParam S The workflow's state union.
 * @typeParam D The run data type.
 * @typeParam R The resource map.
 */
export interface PollTaskOptions<
  N extends string = string,
  S extends string = string,
  D = unknown,
  R extends ResourceMap = ResourceMap,
> {
  /** Task id for events and checkpoint rows; defaults to the registered state. */
  name?: string;
  /**
   * Retry and timeout policy (default: `TaskConfig.minimal()`, no retry); fields left out keep
   * those defaults; its `attemptTimeout` bounds the whole poll loop.
   */
  config?: TaskConfig;
  /** Checks once: returns {@link ready} with the next state or {@link pending} with a delay. */
  poll(ctx: TaskContext<S, D, R>): PollOutcome<N> | Promise<PollOutcome<N>>;
  /** What a thrown error does (default `"failFast"`). */
  onPollError?: PollErrorPolicy;
}

/**
 * The poll outcome that ends the loop with `state`.
 *
 * @typeParam N The next state's type.
 * @param state The next state.
 * @returns `{ ready: state }`.
 *
 * @example Finish a poll
 * ```ts
 * import { ready } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(ready("done"), { ready: "done" });
 * ```
 */
export function ready<const N extends string>(state: N): { readonly ready: N } {
  return { ready: state };
}

/**
 * The poll outcome that polls again after `delayMs` milliseconds (0: at once, without a timer).
 *
 * @param delayMs Milliseconds to wait before the next poll; finite and ≥ 0.
 * @returns `{ pending: delayMs }`.
 *
 * @example Poll again in a second
 * ```ts
 * import { pending } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(pending(1_000), { pending: 1_000 });
 * ```
 */
export function pending(delayMs: number): { readonly pending: number } {
  return { pending: delayMs };
}

/**
 * Creates a task that polls until something is ready: `poll(ctx)` returns {@link ready} with the
 * next state, or {@link pending} to sleep `delayMs` and poll again. There is no iteration cap;
 * bound the loop with the config's `attemptTimeout` (it bounds the whole loop, not one poll) or
 * the workflow's total timeout. Cancellation and timeouts end a parked loop at once, rejecting
 * with `ctx.signal.reason`.
 *
 * Errors from `poll` follow `onPollError`: `"failFast"` (default) rethrows;
 * `{ retryOnError: n }` polls again immediately, without a delay, until `n + 1` consecutive
 * errors, then rethrows the last one. A `NonRetryableError` always fails at once. A pending
 * delay that is negative or not finite fails the task with a `ConfigurationError`.
 *
 * `pending(0)` polls again without a timer: a `poll` that returns it must itself await
 * something (I/O, a timer), or the loop never yields to the event loop.
 *
 * @typeParam N The states the poll may finish with.
 * @typeParam S The workflow's state union.
 * @typeParam D The run data type.
 * @typeParam R The resource map.
 * @param options The poll, the error policy and the task's name and config.
 * @returns A task object for `Workflow.register`.
 * @throws {ConfigurationError} When `poll` is not a function, `onPollError` is not `"failFast"`
 * or `{ retryOnError: n }` with a non-negative integer `n`, or the name or config is invalid.
 *
 * @example Wait for a job to finish
 * ```ts
 * import { pending, pollTask, ready, Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * type Step = "wait" | "done";
 * let checks = 0;
 * const workflow = new Workflow<Step>()
 *   .register("wait", pollTask({
 *     poll: () => ++checks < 3 ? pending(5) : ready("done"),
 *     onPollError: { retryOnError: 2 },
 *   }))
 *   .addExitState("done");
 *
 * assert.equal((await workflow.orchestrate("wait")).state, "done");
 * assert.equal(checks, 3);
 * ```
 */
export function pollTask<
  N extends S,
  S extends string = string,
  D = unknown,
  R extends ResourceMap = ResourceMap,
>(options: PollTaskOptions<N, S, D, R>): Task<N, S, D, R> {
  checkOptionsObject("pollTask", options);
  const { poll } = options;
  checkFunction("pollTask", "poll", poll);
  const tolerated = checkPolicy(options.onPollError);
  return buildTask("pollTask", options, TaskConfig.minimal(), async (ctx) => {
    const { signal } = ctx;
    let errors = 0;
    for (;;) {
      if (signal.aborted) throw signal.reason;
      let outcome: PollOutcome<N>;
      try {
        outcome = await poll(ctx);
      } catch (error) {
        if (signal.aborted) throw signal.reason; // cancelled or timed out, not a poll error
        if (safeInstanceOf(error, NonRetryableError)) throw error;
        errors += 1;
        if (errors > tolerated) throw error;
        continue; // cano re-polls at once after a tolerated error
      }
      if (typeof outcome === "object" && outcome !== null) {
        if ("ready" in outcome) return outcome.ready;
        if ("pending" in outcome) {
          errors = 0;
          await sleepFor(checkDelay(outcome.pending), signal);
          continue;
        }
      }
      throw new ConfigurationError(
        `pollTask poll() must return ready(state) or pending(delayMs), received ${
          safeString(outcome)
        }`,
      );
    }
  });
}

/** The number of consecutive poll errors tolerated (0 for fail-fast). */
function checkPolicy(policy: PollErrorPolicy | undefined): number {
  if (policy === undefined || policy === "failFast") return 0;
  if (typeof policy === "object" && policy !== null && "retryOnError" in policy) {
    const n = policy.retryOnError;
    if (Number.isSafeInteger(n) && n >= 0) return n;
    throw new ConfigurationError(
      `pollTask() onPollError.retryOnError must be a non-negative integer, received ${
        safeString(n)
      }`,
    );
  }
  throw new ConfigurationError(
    `pollTask() onPollError must be "failFast" or { retryOnError: n }, received ${
      JSON.stringify(policy)
    }`,
  );
}

function checkDelay(ms: unknown): number {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
    throw new ConfigurationError(
      `pollTask pending delay must be a finite number of milliseconds ≥ 0, received ${
        safeString(ms)
      }`,
    );
  }
  return ms;
}
