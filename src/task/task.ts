import { abortable, deadline, delay, NEVER_ABORTED } from "../async.ts";
import { safeInstanceOf, safeString } from "../describe.ts";
import {
  CircuitOpenError,
  ConfigurationError,
  NonRetryableError,
  RetryExhaustedError,
  TimeoutError,
} from "../errors.ts";
import type { Resources } from "../resources.ts";
import type { CircuitBreaker, CircuitPermit } from "../resilience/circuit_breaker.ts";
import type { Limiter } from "../resilience/rate_limiter.ts";
import type { SplitOutcome } from "../workflow/join.ts";
import type { WaitEvent } from "./wait.ts";
import { checkDuration, RetryMode } from "./retry.ts";

/** The resource map type of a workflow: resource key → resource value. */
export type ResourceMap = Record<string, unknown>;

/**
 * What a task receives: where it is, the run data, the resources and its abort signal.
 *
 * @typeParam S The workflow's state union.
 * @typeParam D The run data type.
 * @typeParam R The resource map.
 * @typeParam Ev The events that can wake the state before this one (see `registerWait`'s
 * `payloads`): `ctx.event` is typed by them. The builder fills it in; leave it out by hand.
 */
export interface TaskContext<
  S extends string = string,
  D = unknown,
  R extends ResourceMap = ResourceMap,
  Ev extends WaitEvent = WaitEvent,
> {
  /** The state being executed. */
  readonly state: S;
  /** Run data: mutate it in place; it is the object passed to `orchestrate`. */
  data: D;
  /** The workflow's resources, typed by key. */
  readonly resources: Resources<R>;
  /** Aborts on cancellation, total timeout and attempt timeout, with the reason. */
  readonly signal: AbortSignal;
  /** 1-based attempt number within this dispatch. */
  readonly attempt: number;
  /** The workflow id, when one is set. */
  readonly workflowId?: string | undefined;
  /** Unique per `orchestrate`/`resumeFrom` call. */
  readonly runId: string;
  /** In the state right after a split: every branch's outcome. `undefined` elsewhere. */
  readonly split?: SplitOutcome | undefined;
  /**
   * In the state right after a wait state: the event that woke it (`undefined` when its deadline
   * fired instead, and in every other state).
   */
  readonly event?: Ev | undefined;
}

/**
 * A task written as a function: it returns (or resolves to) the next state.
 *
 * @typeParam N The states it may return.
 * @typeParam Ev The events `ctx.event` may hold (see {@link TaskContext}).
 */
export type TaskFn<
  N extends string = string,
  S extends string = string,
  D = unknown,
  R extends ResourceMap = ResourceMap,
  Ev extends WaitEvent = WaitEvent,
> = (ctx: TaskContext<S, D, R, Ev>) => N | Promise<N>;

/**
 * A task written as an object, with an optional name (default: the state) and configuration
 * (default: {@link TaskConfig.default}).
 *
 * @typeParam N The states it may return.
 */
export interface Task<
  N extends string = string,
  S extends string = string,
  D = unknown,
  R extends ResourceMap = ResourceMap,
  Ev extends WaitEvent = WaitEvent,
> {
  /** Used in events and checkpoint rows; defaults to the registered state. */
  name?: string;
  /** Retry and timeout policy; fields left out take {@link TaskConfig.default}'s values. */
  config?: TaskConfig;
  /** Runs the task and returns the next state. */
  run(ctx: TaskContext<S, D, R, Ev>): N | Promise<N>;
}

/**
 * How one dispatch of a task is attempted. Every field is optional: a missing `retry` means
 * cano's default (exponential, 3 retries), a missing `attemptTimeout` means no limit.
 */
export interface TaskConfig {
  /** The retry policy. */
  retry?: RetryMode;
  /** Milliseconds per attempt; on expiry the attempt's signal aborts and a `TimeoutError` is retried. */
  attemptTimeout?: number;
  /**
   * Retry only the errors this returns `true` for; others fail at once. It receives whatever the
   * attempt threw, which may be any value (not only an `Error`). If `retryIf` itself throws, the
   * dispatch fails at once with what it threw (no retry, no `RetryExhaustedError` wrapping).
   */
  retryIf?: (error: unknown) => boolean;
  /**
   * Checked before each attempt: an open breaker fails the dispatch at once with
   * `CircuitOpenError` (no retry consumed); every attempt's outcome is recorded on it, a timeout
   * counting as a failure.
   */
  circuitBreaker?: CircuitBreaker;
  /** Acquired (cost 1) before each attempt, abortable by the run's signal (beyond cano). */
  rateLimiter?: Limiter;
  /** Whether waiting for the rate limiter counts toward `attemptTimeout`. Default `false`. */
  rateLimitCountsTowardTimeout?: boolean;
}

/**
 * Ready-made task configurations.
 *
 * @example Pick a configuration
 * ```ts
 * import { RetryMode, TaskConfig } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * assert.equal(TaskConfig.default().retry?.maxAttempts(), 4);
 * assert.equal(TaskConfig.minimal().retry?.maxAttempts(), 1);
 * const custom: TaskConfig = { retry: RetryMode.fixed(2, 10), attemptTimeout: 500 };
 * assert.equal(custom.attemptTimeout, 500);
 * ```
 */
export const TaskConfig: {
  /** Exponential backoff with 3 retries (100 ms, ×2, 30 s cap, jitter 0.1), no attempt timeout. */
  default(): TaskConfig;
  /** One attempt, no timeout. */
  minimal(): TaskConfig;
} = {
  default: () => ({ retry: RetryMode.exponential(3) }),
  minimal: () => ({ retry: RetryMode.none() }),
};

/** A {@link TaskConfig} with its defaults applied and checked once, at registration. */
export interface ResolvedTaskConfig {
  /** The retry policy. */
  readonly retry: RetryMode;
  /** Attempt limit in milliseconds, if any. */
  readonly attemptTimeout: number | undefined;
  /** The retry filter, if any. */
  readonly retryIf: ((error: unknown) => boolean) | undefined;
  /** The circuit breaker, if any. */
  readonly circuitBreaker?: CircuitBreaker | undefined;
  /** The rate limiter, if any. */
  readonly rateLimiter?: Limiter | undefined;
  /** Whether rate-limit waits count toward the attempt timeout. */
  readonly rateLimitCountsTowardTimeout?: boolean | undefined;
}

const DEFAULT_RETRY = RetryMode.exponential(3);

/**
 * Applies defaults to a task configuration and rejects invalid values.
 *
 * @param config The configuration, or `undefined` for the default.
 * @param fallback The policy for a missing `retry` field.
 * @returns The resolved configuration.
 *
 * @example Resolve a partial configuration
 * ```ts
 * import { resolveTaskConfig } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const config = resolveTaskConfig({ attemptTimeout: 100 });
 * assert.equal(config.retry.maxAttempts(), 4);
 * assert.throws(() => resolveTaskConfig({ attemptTimeout: -1 }), { category: "configuration" });
 * ```
 */
export function resolveTaskConfig(
  config: TaskConfig | undefined,
  fallback: RetryMode = DEFAULT_RETRY,
): ResolvedTaskConfig {
  if (config === undefined) {
    return { retry: fallback, attemptTimeout: undefined, retryIf: undefined };
  }
  if (typeof config !== "object" || config === null) {
    throw new ConfigurationError(`Task config must be an object, received ${safeString(config)}`);
  }
  if (config.retry !== undefined && !(config.retry instanceof RetryMode)) {
    throw new ConfigurationError(
      "Task config retry must be a RetryMode (RetryMode.none/fixed/exponential)",
    );
  }
  if (config.retryIf !== undefined && typeof config.retryIf !== "function") {
    throw new ConfigurationError(
      `Task config retryIf must be a function (error) => boolean, received ${
        safeString(config.retryIf)
      }`,
    );
  }
  const timeout = config.attemptTimeout;
  if (timeout !== undefined && (checkDuration("attemptTimeout", timeout) === 0)) {
    throw new ConfigurationError(
      "attemptTimeout must be greater than 0 ms, received 0: leave it out for no limit",
    );
  }
  if (
    config.circuitBreaker !== undefined &&
    typeof (config.circuitBreaker as Partial<CircuitBreaker>).tryAcquire !== "function"
  ) {
    throw new ConfigurationError(
      `Task config circuitBreaker must be a CircuitBreaker (new CircuitBreaker(policy)), received ${
        safeString(config.circuitBreaker)
      }`,
    );
  }
  if (
    config.rateLimiter !== undefined &&
    typeof (config.rateLimiter as Partial<Limiter>).acquire !== "function"
  ) {
    throw new ConfigurationError(
      "Task config rateLimiter must have an acquire(cost, options) method",
    );
  }
  return {
    retry: config.retry ?? fallback,
    attemptTimeout: timeout,
    retryIf: config.retryIf,
    circuitBreaker: config.circuitBreaker,
    rateLimiter: config.rateLimiter,
    rateLimitCountsTowardTimeout: config.rateLimitCountsTowardTimeout === true,
  };
}

/** Options of {@link runWithRetries}. */
export interface RunWithRetriesOptions {
  /** Aborts the attempt in flight and any backoff sleep, rejecting with `signal.reason`. */
  signal?: AbortSignal | undefined;
  /** Called before each backoff sleep with the failed attempt (1-based), the delay and the error. */
  onRetry?: ((attempt: number, delay: number, error: unknown) => void) | undefined;
  /** Source of uniform numbers in [0, 1) for jitter; defaults to `Math.random`. */
  random?: () => number;
  /** Called when the circuit breaker rejects an attempt (before the `CircuitOpenError`). */
  onCircuitOpen?: (() => void) | undefined;
}

/** What each attempt of {@link runWithRetries} receives. */
export interface AttemptInfo {
  /** 1-based attempt number. */
  readonly attempt: number;
  /** Aborts when the caller's signal aborts or the attempt times out. */
  readonly signal: AbortSignal;
}

/**
 * Runs `attempt` under a task configuration: per-attempt timeout through the attempt's signal,
 * retries with backoff, `NonRetryableError` and `retryIf` failing at once, and
 * `RetryExhaustedError` when more than one attempt was allowed and all failed.
 *
 * @param config The task configuration.
 * @param attempt Runs one attempt.
 * @param options The caller's signal and a retry hook.
 * @returns What the successful attempt returned.
 *
 * @example Retry a flaky call
 * ```ts
 * import { RetryMode, runWithRetries } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * let calls = 0;
 * const value = await runWithRetries({ retry: RetryMode.fixed(2, 1) }, () => {
 *   calls += 1;
 *   if (calls < 3) throw new Error("flaky");
 *   return "ok";
 * });
 * assert.equal(value, "ok");
 * assert.equal(calls, 3);
 * ```
 */
export async function runWithRetries<T>(
  config: TaskConfig,
  attempt: (info: AttemptInfo) => T | Promise<T>,
  options: RunWithRetriesOptions = {},
): Promise<T> {
  return await runResolved(resolveTaskConfig(config), attempt, options);
}

/**
 * {@link runWithRetries} for a configuration already resolved at registration, from attempt
 * `first` on (1 unless a fast path ran the earlier attempts itself: see {@link retryAfter}).
 */
export async function runResolved<T>(
  config: ResolvedTaskConfig,
  attempt: (info: AttemptInfo) => T | Promise<T>,
  options: RunWithRetriesOptions,
  first = 1,
): Promise<T> {
  const { signal } = options;
  const maxAttempts = config.retry.maxAttempts();
  for (let n = first;; n++) {
    if (signal?.aborted) throw signal.reason;
    const permit = acquirePermit(config, options);
    let value: T;
    try {
      value = config.rateLimiter !== undefined
        ? await runLimitedAttempt(config, config.rateLimiter, attempt, n, signal)
        : config.attemptTimeout === undefined && signal === undefined
        // Hot path (nothing can abort or time out the attempt): call it directly.
        ? await attempt({ attempt: n, signal: NEVER_ABORTED })
        : await runAttempt(config.attemptTimeout, attempt, n, signal);
    } catch (error) {
      // `error` may be any value at all: it is only compared, instanceof-tested through
      // safeInstanceOf and handed on, never stringified here.
      permit?.recordFailure(); // a timeout, a cancel or a rate-limit failure all count
      await backOff(config, options, n, maxAttempts, error);
      continue;
    }
    // Outside the try: a breaker that throws while recording a success must not turn the
    // successful attempt into a failure (and run it again).
    permit?.recordSuccess();
    return value;
  }
}

/**
 * What follows failed attempt `n` (1-based): throws what ends the dispatch (the abort reason,
 * the error itself, or `RetryExhaustedError`), else reports the retry and returns the backoff
 * sleep, which rejects with the abort reason as soon as the signal aborts.
 */
function backOff(
  config: ResolvedTaskConfig,
  options: RunWithRetriesOptions,
  n: number,
  maxAttempts: number,
  error: unknown,
): Promise<void> {
  const { signal } = options;
  if (signal?.aborted) throw signal.reason; // cancelled, not failed: never retried
  if (safeInstanceOf(error, NonRetryable)) throw error.error;
  // A retryIf that throws ends the dispatch with what it threw (documented on TaskConfig).
  if (!isRetryable(config, error)) throw error;
  if (n >= maxAttempts) throw maxAttempts > 1 ? new RetryExhaustedError(n, error) : error;
  const wait = config.retry.delayForAttempt(n - 1, options.random) ?? 0;
  options.onRetry?.(n, wait, error);
  return delay(wait, signal);
}

/**
 * Whether the first attempt of `config` may be called directly by a fast path, outside
 * {@link runResolved}: no attempt timeout, circuit breaker or rate limiter, whose bookkeeping
 * lives in the loop. Retries need none of it until an attempt fails (see {@link retryAfter}).
 */
export function callsDirectly(config: ResolvedTaskConfig): boolean {
  return config.attemptTimeout === undefined && config.circuitBreaker === undefined &&
    config.rateLimiter === undefined;
}

/**
 * Continues a dispatch whose first attempt a fast path called itself (see {@link callsDirectly})
 * and saw fail with `error`: the same decision as inside the loop (abort, `NonRetryableError`,
 * `retryIf`, exhaustion), the same `onRetry` report and backoff sleep, then attempts 2, 3, … in
 * {@link runResolved}. The success path thus allocates no timer, closure or signal listener.
 *
 * @param config The resolved configuration.
 * @param attempt Runs one attempt (from attempt 2 on).
 * @param options The signal and hooks, as for {@link runResolved}.
 * @param error What the first attempt threw or rejected with.
 * @returns What a later successful attempt returned.
 */
export async function retryAfter<T>(
  config: ResolvedTaskConfig,
  attempt: (info: AttemptInfo) => T | Promise<T>,
  options: RunWithRetriesOptions,
  error: unknown,
): Promise<T> {
  await backOff(config, options, 1, config.retry.maxAttempts(), error);
  return await runResolved(config, attempt, options, 2);
}

/** The breaker's permit for one attempt; a rejection ends the dispatch without a retry. */
function acquirePermit(
  config: ResolvedTaskConfig,
  options: RunWithRetriesOptions,
): CircuitPermit | undefined {
  if (config.circuitBreaker === undefined) return undefined;
  try {
    return config.circuitBreaker.tryAcquire();
  } catch (error) {
    // Raw, never wrapped in RetryExhaustedError, even when earlier attempts failed (cano §2.5).
    if (safeInstanceOf(error, CircuitOpenError)) options.onCircuitOpen?.();
    throw error;
  }
}

/**
 * An attempt behind a rate limiter. The wait is abortable by the run's signal and, unless the
 * config says otherwise, does not eat into the attempt timeout. A limiter that refuses outright
 * (e.g. a cost above its capacity) fails the dispatch without retries.
 */
async function runLimitedAttempt<T>(
  config: ResolvedTaskConfig,
  limiter: Limiter,
  attempt: (info: AttemptInfo) => T | Promise<T>,
  n: number,
  signal: AbortSignal | undefined,
): Promise<T> {
  const acquire = async (waitSignal: AbortSignal | undefined): Promise<void> => {
    try {
      await limiter.acquire(1, waitSignal === undefined ? {} : { signal: waitSignal });
    } catch (error) {
      throw waitSignal?.aborted ? error : new NonRetryable(error);
    }
  };
  if (!config.rateLimitCountsTowardTimeout || config.attemptTimeout === undefined) {
    await acquire(signal);
    return await runAttempt(config.attemptTimeout, attempt, n, signal);
  }
  return await runAttempt(
    config.attemptTimeout,
    async (info) => {
      await acquire(info.signal);
      return await attempt(info);
    },
    n,
    signal,
  );
}

/** Carries an error that must end the retry loop as-is (unwrapped before it leaves). */
class NonRetryable {
  constructor(readonly error: unknown) {}
}

function isRetryable(config: ResolvedTaskConfig, error: unknown): boolean {
  if (safeInstanceOf(error, NonRetryableError)) return false;
  return config.retryIf === undefined || config.retryIf(error);
}

function runAttempt<T>(
  timeout: number | undefined,
  attempt: (info: AttemptInfo) => T | Promise<T>,
  n: number,
  signal: AbortSignal | undefined,
): Promise<T> {
  if (timeout === undefined) {
    // Fast path: no timer, and no race unless someone can abort the run.
    return abortable(invoke(attempt, { attempt: n, signal: signal ?? NEVER_ABORTED }), signal);
  }
  const limit = deadline(
    timeout,
    () => new TimeoutError(`Task attempt exceeded its attempt timeout of ${timeout} ms`),
    signal,
  );
  return abortable(invoke(attempt, { attempt: n, signal: limit.signal }), limit.signal)
    .finally(limit.clear);
}

/** Calls `fn`, turning a synchronous throw into a rejection. */
export async function invoke<A, T>(fn: (arg: A) => T | Promise<T>, arg: A): Promise<T> {
  return await fn(arg);
}
