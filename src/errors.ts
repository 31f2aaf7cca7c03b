/**
 * Error types raised by cano. Every error the library throws is a {@link CanoError} with a
 * {@link ErrorCategory}, so callers can branch on `error.category` without `instanceof` chains.
 *
 * @module
 */

import { describeMessage, safeInstanceOf } from "./describe.ts";

/** The category of a {@link CanoError}: what kind of failure it reports. */
export type ErrorCategory =
  | "task_execution"
  | "workflow"
  | "configuration"
  | "retry_exhausted"
  | "timeout"
  | "workflow_timeout"
  | "cancelled"
  | "circuit_open"
  | "rate_limited"
  | "checkpoint_store"
  | "compensation_failed"
  | "orphaned_compensation"
  | "resource_not_found"
  | "resource_duplicate_key"
  | "workflow_version_mismatch"
  | "store"
  | "conflict"
  | "ownership_lost"
  | "generic";

/** Options accepted by {@link CanoError}. */
export interface CanoErrorOptions {
  /** The error that caused this one. */
  cause?: unknown;
  /** The category; defaults to `"generic"`. */
  category?: ErrorCategory;
}

/**
 * The base class of every error cano throws.
 *
 * @example Branch on the category
 * ```ts
 * import { CanoError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const error = new CanoError("No task registered for state: ship", { category: "workflow" });
 * assert.equal(error.category, "workflow");
 * assert.ok(error instanceof Error);
 * ```
 */
export class CanoError extends Error {
  /** What kind of failure this is. */
  readonly category: ErrorCategory;

  /**
   * Creates an error.
   *
   * @param message Sentence-case text naming the action and the offending value.
   * @param options The cause and the category.
   */
  constructor(message: string, options: CanoErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "CanoError";
    this.category = options.category ?? "generic";
  }
}

/**
 * The category of any thrown value: a {@link CanoError}'s own category, or `"task_execution"` for
 * anything else a task may throw. Never throws, whatever the value (a `Proxy` whose traps throw,
 * a revoked `Proxy`, an object without a prototype are all `"task_execution"`).
 *
 * @param error Any thrown value.
 * @returns The category.
 *
 * @example Categorise thrown values
 * ```ts
 * import { categoryOf, TimeoutError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * assert.equal(categoryOf(new TimeoutError("too slow")), "timeout");
 * assert.equal(categoryOf(new Error("boom")), "task_execution");
 * ```
 */
export function categoryOf(error: unknown): ErrorCategory {
  if (!safeInstanceOf(error, CanoError)) return "task_execution";
  try {
    const category: unknown = error.category;
    if (typeof category === "string") return category as ErrorCategory;
  } catch {
    // A subclass with a throwing `category` getter: treat it as any other task failure.
  }
  return "task_execution";
}

/**
 * Invalid configuration: a workflow that cannot run, an unknown initial state, a bad option.
 *
 * @example Catch a configuration error
 * ```ts
 * import { ConfigurationError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const error = new ConfigurationError("Workflow has no exit states defined");
 * assert.equal(error.category, "configuration");
 * ```
 */
export class ConfigurationError extends CanoError {
  /**
   * Creates the error.
   *
   * @param message What is wrong, naming the offending value.
   * @param options The cause, if any.
   */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, category: "configuration" });
    this.name = "ConfigurationError";
  }
}

/**
 * Thrown by a task to fail at once: the retry policy is not consulted (cano's panic semantics).
 *
 * @example Fail without retrying
 * ```ts
 * import { NonRetryableError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const error = new NonRetryableError("Card declined", { cause: new Error("402") });
 * assert.equal(error.category, "task_execution");
 * ```
 */
export class NonRetryableError extends CanoError {
  /**
   * Creates the error.
   *
   * @param message Why the task gives up.
   * @param options The cause, if any.
   */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, category: "task_execution" });
    this.name = "NonRetryableError";
  }
}

/**
 * An attempt (or a compensation) exceeded its time limit. Retryable like any task failure.
 *
 * @example A timeout error
 * ```ts
 * import { TimeoutError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new TimeoutError("Task attempt exceeded 50 ms").category, "timeout");
 * ```
 */
export class TimeoutError extends CanoError {
  /**
   * Creates the error.
   *
   * @param message Which limit was exceeded.
   * @param options The cause, if any.
   */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, category: "timeout" });
    this.name = "TimeoutError";
  }
}

/**
 * Every allowed attempt failed. Only raised when more than one attempt was allowed; `cause` is the
 * last attempt's error.
 *
 * @example Inspect the attempt count
 * ```ts
 * import { RetryExhaustedError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const error = new RetryExhaustedError(4, new Error("flaky"));
 * assert.equal(error.attempts, 4);
 * assert.equal(error.category, "retry_exhausted");
 * ```
 */
export class RetryExhaustedError extends CanoError {
  /** How many attempts ran. */
  readonly attempts: number;

  /**
   * Creates the error.
   *
   * @param attempts How many attempts ran.
   * @param cause The last attempt's error.
   */
  constructor(attempts: number, cause: unknown) {
    super(`Retries exhausted after ${attempts} attempts: ${messageOf(cause)}`, {
      cause,
      category: "retry_exhausted",
    });
    this.name = "RetryExhaustedError";
    this.attempts = attempts;
  }
}

/**
 * The workflow's total time budget (`withTotalTimeout`) ran out.
 *
 * @example Read the budget
 * ```ts
 * import { WorkflowTimeoutError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const error = new WorkflowTimeoutError(1_002, 1_000);
 * assert.equal(error.limit, 1_000);
 * assert.equal(error.category, "workflow_timeout");
 * ```
 */
export class WorkflowTimeoutError extends CanoError {
  /** Milliseconds elapsed when the budget tripped. */
  readonly elapsed: number;
  /** The configured budget in milliseconds. */
  readonly limit: number;

  /**
   * Creates the error.
   *
   * @param elapsed Milliseconds elapsed.
   * @param limit The configured budget in milliseconds.
   */
  constructor(elapsed: number, limit: number) {
    super(`Workflow exceeded its total timeout of ${limit} ms after ${elapsed} ms`, {
      category: "workflow_timeout",
    });
    this.name = "WorkflowTimeoutError";
    this.elapsed = elapsed;
    this.limit = limit;
  }
}

/**
 * The run was cancelled through its `AbortSignal`. `cause` is the signal's reason.
 *
 * @example A cancellation
 * ```ts
 * import { CancelledError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new CancelledError().category, "cancelled");
 * ```
 */
export class CancelledError extends CanoError {
  /**
   * Creates the error.
   *
   * @param message Defaults to "Workflow was cancelled".
   * @param options The abort reason as `cause`.
   */
  constructor(message = "Workflow was cancelled", options: { cause?: unknown } = {}) {
    super(message, { ...options, category: "cancelled" });
    this.name = "CancelledError";
  }
}

/**
 * A circuit breaker rejected the call. Never retried.
 *
 * @example A rejection
 * ```ts
 * import { CircuitOpenError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new CircuitOpenError("Circuit breaker open: rejecting call").category, "circuit_open");
 * ```
 */
export class CircuitOpenError extends CanoError {
  /**
   * Creates the error.
   *
   * @param message Why the call was rejected.
   */
  constructor(message: string) {
    super(message, { category: "circuit_open" });
    this.name = "CircuitOpenError";
  }
}

/**
 * A rate limiter tier rejected the call.
 *
 * @example A rejection with a retry hint
 * ```ts
 * import { RateLimitedError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const error = new RateLimitedError("per-second", 250);
 * assert.equal(error.retryAfter, 250);
 * ```
 */
export class RateLimitedError extends CanoError {
  /** The tier that said no. */
  readonly tier: string;
  /** Milliseconds until the tier could admit the call. */
  readonly retryAfter: number;

  /**
   * Creates the error.
   *
   * @param tier The rejecting tier.
   * @param retryAfter Milliseconds until it could admit the call.
   */
  constructor(tier: string, retryAfter: number) {
    super(`Rate limited by tier "${tier}": retry after ${retryAfter} ms`, {
      category: "rate_limited",
    });
    this.name = "RateLimitedError";
    this.tier = tier;
    this.retryAfter = retryAfter;
  }
}

/**
 * A checkpoint store operation failed (append, load, clear, duplicate sequence, missing id).
 *
 * @example A store failure
 * ```ts
 * import { CheckpointStoreError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new CheckpointStoreError("Append checkpoint: duplicate").category, "checkpoint_store");
 * ```
 */
export class CheckpointStoreError extends CanoError {
  /**
   * Creates the error.
   *
   * @param message What failed.
   * @param options The cause, if any.
   */
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, category: "checkpoint_store" });
    this.name = "CheckpointStoreError";
  }
}

/**
 * A saga rollback did not complete cleanly. `errors[0]` is the wrapped original failure, the rest
 * are compensation failures in drain order.
 *
 * @example Inspect the failures
 * ```ts
 * import { CompensationFailedError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const error = new CompensationFailedError([new Error("charge failed"), new Error("refund failed")]);
 * assert.equal(error.errors.length, 2);
 * ```
 */
export class CompensationFailedError extends CanoError {
  /** The original failure followed by every compensation failure, flattened. */
  readonly errors: readonly unknown[];

  /**
   * Creates the error; nested `CompensationFailedError`s are flattened.
   *
   * @param errors The original failure, then the compensation failures.
   */
  constructor(errors: readonly unknown[]) {
    const flat = errors.flatMap(flattenCompensationErrors);
    const parts = flat.slice(1).map((e, i) => `compensation #${i + 1}: ${messageOf(e)}`);
    super(
      `Compensation failed (${flat.length - 1} error(s)); original: ${messageOf(flat[0])}; ${
        parts.join("; ")
      }`,
      { cause: flat[0], category: "compensation_failed" },
    );
    this.name = "CompensationFailedError";
    this.errors = flat;
  }
}

/**
 * A compensation entry could not be run: no compensator is registered under its task id, or the
 * drain deadline passed. The output is kept for manual recovery.
 *
 * @example An orphaned entry
 * ```ts
 * import { OrphanedCompensationError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const error = new OrphanedCompensationError("charge", { chargeId: "ch_1" });
 * assert.equal(error.taskId, "charge");
 * ```
 */
export class OrphanedCompensationError extends CanoError {
  /** The compensation-stack key of the entry. */
  readonly taskId: string;
  /** The output the forward run recorded. */
  readonly output: unknown;

  /**
   * Creates the error.
   *
   * @param taskId The compensation-stack key.
   * @param output The recorded output.
   */
  constructor(taskId: string, output: unknown) {
    super(`No compensator ran for task "${taskId}"; its output is kept for manual recovery`, {
      category: "orphaned_compensation",
    });
    this.name = "OrphanedCompensationError";
    this.taskId = taskId;
    this.output = output;
  }
}

/**
 * A checkpoint log was written by another workflow version than the one resuming it.
 *
 * @example A version mismatch
 * ```ts
 * import { WorkflowVersionMismatchError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const error = new WorkflowVersionMismatchError(1, 2);
 * assert.equal(error.stored, 1);
 * assert.equal(error.expected, 2);
 * ```
 */
export class WorkflowVersionMismatchError extends CanoError {
  /** The version stamped on the stored rows. */
  readonly stored: number;
  /** The version of the workflow trying to resume. */
  readonly expected: number;

  /**
   * Creates the error.
   *
   * @param stored The stored version.
   * @param expected The resuming workflow's version.
   */
  constructor(stored: number, expected: number) {
    super(
      `Checkpoint log has workflow version ${stored}, but this workflow is version ${expected}`,
      {
        category: "workflow_version_mismatch",
      },
    );
    this.name = "WorkflowVersionMismatchError";
    this.stored = stored;
    this.expected = expected;
  }
}

/**
 * No resource is registered under the requested key.
 *
 * @example A missing resource
 * ```ts
 * import { ResourceNotFoundError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new ResourceNotFoundError("db").key, "db");
 * ```
 */
export class ResourceNotFoundError extends CanoError {
  /** The key that was asked for. */
  readonly key: string;

  /**
   * Creates the error.
   *
   * @param key The missing key.
   */
  constructor(key: string) {
    super(`No resource found for key "${key}"`, { category: "resource_not_found" });
    this.name = "ResourceNotFoundError";
    this.key = key;
  }
}

/**
 * A resource key was registered twice.
 *
 * @example A duplicate key
 * ```ts
 * import { ResourceDuplicateKeyError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new ResourceDuplicateKeyError("db").category, "resource_duplicate_key");
 * ```
 */
export class ResourceDuplicateKeyError extends CanoError {
  /** The duplicated key. */
  readonly key: string;

  /**
   * Creates the error.
   *
   * @param key The duplicated key.
   */
  constructor(key: string) {
    super(`A resource is already registered under key "${key}"`, {
      category: "resource_duplicate_key",
    });
    this.name = "ResourceDuplicateKeyError";
    this.key = key;
  }
}

/**
 * A {@link MemoryStore} operation failed (missing key, type mismatch on append).
 *
 * @example A store error
 * ```ts
 * import { StoreError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new StoreError("Key not found: 'user'").category, "store");
 * ```
 */
export class StoreError extends CanoError {
  /**
   * Creates the error.
   *
   * @param message What failed, naming the key.
   */
  constructor(message: string) {
    super(message, { category: "store" });
    this.name = "StoreError";
  }
}

/**
 * A failure inside a workflow run, with where it happened. Its `category` is the cause's category,
 * so `error.category === "cancelled"` works without unwrapping.
 *
 * @example Read the context
 * ```ts
 * import { StateContextError, TimeoutError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const error = new StateContextError("fetch", 1, ["start", "fetch"], new TimeoutError("slow"));
 * assert.equal(error.category, "timeout");
 * assert.deepEqual(error.path, ["start", "fetch"]);
 * ```
 */
export class StateContextError extends CanoError {
  /** The state whose dispatch failed. */
  readonly state: string;
  /** Attempts the failing dispatch completed (0 for cancel, total timeout and circuit open). */
  readonly attempt: number;
  /** The states entered so far, ending with `state`. */
  readonly path: readonly string[];

  /**
   * Creates the error.
   *
   * @param state The failing state.
   * @param attempt Completed attempts.
   * @param path States entered so far.
   * @param cause The underlying error.
   */
  constructor(state: string, attempt: number, path: readonly string[], cause: unknown) {
    super(
      `state=${state} attempt=${attempt} path=[${path.join(", ")}] caused by: ${messageOf(cause)}`,
      { cause, category: categoryOf(cause) },
    );
    this.name = "StateContextError";
    this.state = state;
    this.attempt = attempt;
    this.path = path;
  }
}

/** The failures a {@link CompensationFailedError} nests, or `[error]` for any other value. */
function flattenCompensationErrors(error: unknown): readonly unknown[] {
  if (!safeInstanceOf(error, CompensationFailedError)) return [error];
  try {
    const nested: unknown = error.errors;
    if (Array.isArray(nested)) return nested;
  } catch {
    // unreadable: keep the error itself
  }
  return [error];
}

/**
 * The message of any thrown value, never throwing: an `Error`'s `message`, else a description of
 * the value (`String()` guarded, with fallbacks such as `[object Object]`), capped at 2,000
 * characters.
 *
 * @param error Any thrown value.
 * @returns The message.
 *
 * @example Messages of hostile values
 * ```ts
 * import { messageOf } from "./errors.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(messageOf(new Error("boom")), "boom");
 * assert.equal(messageOf("plain string"), "plain string");
 * assert.equal(messageOf(Object.create(null)), "[object Object]");
 * assert.equal(messageOf(Symbol("why")), "Symbol(why)");
 * const { proxy, revoke } = Proxy.revocable({}, {});
 * revoke();
 * assert.equal(messageOf(proxy), "[unprintable value]");
 * ```
 */
export function messageOf(error: unknown): string {
  return describeMessage(error);
}
