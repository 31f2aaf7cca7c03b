// Ready-made tasks and assertions for users' own workflow tests.

import { ConfigurationError, NonRetryableError } from "../errors.ts";
import { RetryMode } from "../task/retry.ts";
import { type Task, TaskConfig } from "../task/task.ts";
import { assertionError, firstDifference, format } from "./_assert.ts";

export { MemoryCheckpointStore as InMemoryCheckpointStore } from "../recovery/memory_checkpoint_store.ts";

/** Options of {@link failOnAttempts} and {@link flaky}. */
export interface FailOnAttemptsOptions {
  /** The task id. Default `"FailOnAttempts"` (`"Flaky"` for {@link flaky}). */
  name?: string;
  /**
   * The task configuration. Default {@link TaskConfig.minimal} (one attempt); for {@link flaky},
   * 3 retries without delay.
   */
  config?: TaskConfig;
}

/** The task returned by {@link failOnAttempts}. */
export interface FailOnAttemptsTask<N extends string> extends Task<N> {
  /** The task id. */
  readonly name: string;
  /** The task configuration. */
  readonly config: TaskConfig;
  /** How many times `run` has been called. */
  readonly attempts: number;
  /**
   * Throws on the first `n` calls (`NonRetryableError` for `failOnAttempts`, a retryable `Error`
   * for `flaky`), then returns the next state.
   *
   * @returns The next state.
   */
  run(): N;
}

/**
 * A task that throws `NonRetryableError` on its first `n` attempts and returns `next` afterwards
 * (cano's `panic_on_attempt`). The error is never retried, so with `n ≥ 1` a dispatch fails at
 * once; a later dispatch (another run, or a resume) goes on counting. `attempts` counts every
 * call of `run`.
 *
 * @typeParam N The next state.
 * @param n How many attempts fail (a non-negative integer).
 * @param next The state returned once the failures are spent.
 * @param options The task id and configuration.
 * @returns The task.
 * @throws {ConfigurationError} When `n` is not a non-negative integer or `next` is not a non-empty string.
 *
 * @example Fail the first run, succeed the second
 * ```ts
 * import { failOnAttempts } from "@cano/cano/testing";
 * import { Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const task = failOnAttempts(1, "done");
 * const workflow = new Workflow<"work" | "done">().register("work", task).addExitState("done");
 * await assert.rejects(workflow.orchestrate("work"), { name: "StateContextError" });
 * assert.equal((await workflow.orchestrate("work")).state, "done");
 * assert.equal(task.attempts, 2);
 * ```
 */
export function failOnAttempts<const N extends string>(
  n: number,
  next: N,
  options: FailOnAttemptsOptions = {},
): FailOnAttemptsTask<N> {
  return failingTask(
    "failOnAttempts",
    n,
    next,
    options,
    { name: "FailOnAttempts", config: TaskConfig.minimal() },
    (message) => new NonRetryableError(message),
  );
}

/**
 * A task that throws a plain (retryable) `Error` on its first `n` attempts and returns `next`
 * afterwards — for testing retries: their count, their delays (with a fake clock), a
 * `RetryExhaustedError` when `n` is more than the retries allow. `attempts` counts every call of
 * `run`, across runs.
 *
 * @typeParam N The next state.
 * @param n How many attempts fail (a non-negative integer).
 * @param next The state returned once the failures are spent.
 * @param options The task id and configuration (default: 3 retries, no delay).
 * @returns The task.
 * @throws {ConfigurationError} When `n` is not a non-negative integer or `next` is not a non-empty string.
 *
 * @example Succeed on the third attempt
 * ```ts
 * import { flaky } from "@cano/cano/testing";
 * import { RetryMode, Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const task = flaky(2, "done", { config: { retry: RetryMode.fixed(3, 0) } });
 * const workflow = new Workflow<"work" | "done">().register("work", task).addExitState("done");
 * assert.equal((await workflow.orchestrate("work")).state, "done");
 * assert.equal(task.attempts, 3);
 * ```
 */
export function flaky<const N extends string>(
  n: number,
  next: N,
  options: FailOnAttemptsOptions = {},
): FailOnAttemptsTask<N> {
  return failingTask(
    "flaky",
    n,
    next,
    options,
    { name: "Flaky", config: { retry: RetryMode.fixed(3, 0) } },
    (message) => new Error(message),
  );
}

/** The task of {@link failOnAttempts} and {@link flaky}: `n` failures made by `fail`, then `next`. */
function failingTask<N extends string>(
  helper: string,
  n: number,
  next: N,
  options: FailOnAttemptsOptions,
  defaults: { name: string; config: TaskConfig },
  fail: (message: string) => Error,
): FailOnAttemptsTask<N> {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new ConfigurationError(`${helper} needs a non-negative integer, got ${n}`);
  }
  if (typeof next !== "string" || next.length === 0) {
    throw new ConfigurationError(`${helper} needs a next state name`);
  }
  const name = options.name ?? defaults.name;
  if (typeof name !== "string" || name.length === 0) {
    throw new ConfigurationError(`${helper} needs a non-empty task name`);
  }
  const config = options.config ?? defaults.config;
  let attempts = 0;
  return {
    name,
    config,
    get attempts(): number {
      return attempts;
    },
    run(): N {
      attempts++;
      if (attempts <= n) throw fail(`${name}: failing on purpose, attempt ${attempts} of ${n}`);
      return next;
    },
  };
}

/**
 * Throws unless the compensations that ran (`actual`) are exactly `expected`, in undo order
 * (the last completed step first). The message shows both lists and the first difference.
 *
 * @param actual The compensations recorded, in the order they ran.
 * @param expected The expected compensations, in undo order.
 * @throws {Error} An `AssertionError` when the lists differ.
 * @throws {ConfigurationError} When either argument is not an array of strings.
 *
 * @example Check a saga's rollback
 * ```ts
 * import { assertCompensationRan, RecordingObserver } from "@cano/cano/testing";
 * import { TaskConfig, Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const step = (name: string, next: "b" | "c") => ({
 *   name,
 *   run: () => ({ next, output: name }),
 *   compensate: () => {},
 * });
 * const workflow = new Workflow<"a" | "b" | "c" | "done">()
 *   .registerWithCompensation("a", step("a", "b"))
 *   .registerWithCompensation("b", step("b", "c"))
 *   .register("c", () => {
 *     throw new Error("boom");
 *   }, { config: TaskConfig.minimal() })
 *   .addExitState("done");
 * using observer = new RecordingObserver(workflow);
 * await assert.rejects(workflow.orchestrate("a"));
 * const undone = observer.events().flatMap((e) => e.type === "compensate" ? [e.taskId] : []);
 * assertCompensationRan(undone, ["b", "a"]);
 * assert.throws(() => assertCompensationRan(undone, ["a", "b"]), /differs at index 0/);
 * ```
 */
export function assertCompensationRan(
  actual: readonly string[],
  expected: readonly string[],
): void {
  for (const [label, list] of [["actual", actual], ["expected", expected]] as const) {
    if (!Array.isArray(list) || list.some((s) => typeof s !== "string")) {
      throw new ConfigurationError(`assertCompensationRan needs ${label} as an array of strings`);
    }
  }
  const index = firstDifference(actual, expected);
  if (index === -1) return;
  const show = (value: string | undefined): string =>
    value === undefined ? "nothing" : JSON.stringify(value);
  throw assertionError(
    `Compensation order differs at index ${index}: expected ${show(expected[index])}, got ${
      show(actual[index])
    }\n  - expected: ${format(expected)}\n  + actual:   ${format(actual)}`,
  );
}
