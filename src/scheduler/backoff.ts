import { safeString } from "../describe.ts";
import { ConfigurationError } from "../errors.ts";

/**
 * How a scheduled flow backs off after failed runs, and when it trips. Every field is optional;
 * missing fields take cano's defaults (1 s, ×2, 300 s cap, jitter 0.1, never trip). Durations are
 * milliseconds.
 *
 * The delay after the `n`-th consecutive failure is `initial × multiplier^(n−1)`, capped at
 * `maxDelay`, times `1 + jitter × U[−1, 1]`, clamped to `[0, maxDelay]`. When `streakLimit` is
 * set, the flow trips once the failure streak reaches it and dispatches nothing until
 * `RunningScheduler.resetFlow` is called (`0` trips on the first failure).
 *
 * @example Back off from 500 ms, trip after five failures in a row
 * ```ts
 * import { type BackoffPolicy, Scheduler } from "@cano/cano/scheduler";
 * import { Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const policy: BackoffPolicy = { initial: 500, multiplier: 2, maxDelay: 60_000, streakLimit: 5 };
 * const workflow = new Workflow<"sync" | "done">().register("sync", () => "done").addExitState("done");
 * const scheduler = new Scheduler()
 *   .manual("sync", workflow, "sync")
 *   .setBackoff("sync", policy);
 * assert.equal(scheduler.size, 1);
 * ```
 */
export interface BackoffPolicy {
  /** Delay after the first failure, in ms. Default 1 000. */
  readonly initial?: number;
  /** Growth factor per further failure (≥ 1). Default 2. */
  readonly multiplier?: number;
  /** Upper bound of any delay, in ms (≥ `initial`). Default 300 000. */
  readonly maxDelay?: number;
  /** Relative jitter in [0, 1]. Default 0.1. */
  readonly jitter?: number;
  /** Trip once the failure streak reaches this many (a non-negative integer). Default: never. */
  readonly streakLimit?: number | undefined;
}

/** A {@link BackoffPolicy} with every field filled in and checked. */
export interface ResolvedBackoffPolicy {
  /** Delay after the first failure, in ms. */
  readonly initial: number;
  /** Growth factor per further failure. */
  readonly multiplier: number;
  /** Upper bound of any delay, in ms. */
  readonly maxDelay: number;
  /** Relative jitter in [0, 1]. */
  readonly jitter: number;
  /** Trip once the failure streak reaches this many; `undefined`: never trip. */
  readonly streakLimit: number | undefined;
}

const DEFAULTS: ResolvedBackoffPolicy = Object.freeze({
  initial: 1_000,
  multiplier: 2,
  maxDelay: 300_000,
  jitter: 0.1,
  streakLimit: undefined,
});

/**
 * Helpers for {@link BackoffPolicy} values: the defaults, validation and the delay formula.
 *
 * @example The delay progression of a policy
 * ```ts
 * import { BackoffPolicy } from "@cano/cano/scheduler";
 * import assert from "node:assert/strict";
 *
 * const policy = { initial: 1_000, multiplier: 2, maxDelay: 5_000, jitter: 0 };
 * assert.deepEqual(
 *   [1, 2, 3, 4].map((streak) => BackoffPolicy.computeDelay(policy, streak)),
 *   [1_000, 2_000, 4_000, 5_000],
 * );
 * assert.equal(BackoffPolicy.isTripped(BackoffPolicy.withTrip(3), 3), true);
 * ```
 */
export const BackoffPolicy: {
  /**
   * cano's default policy: 1 s, ×2, 300 s cap, jitter 0.1, never trips.
   *
   * @returns A new resolved policy.
   */
  default(): ResolvedBackoffPolicy;
  /**
   * The default policy, tripping once the failure streak reaches `streakLimit`.
   *
   * @param streakLimit A non-negative integer (`0` trips on the first failure).
   * @returns A new resolved policy.
   */
  withTrip(streakLimit: number): ResolvedBackoffPolicy;
  /**
   * Fills in the defaults and checks every field.
   *
   * @param policy A partial policy.
   * @returns The resolved policy.
   * @throws {ConfigurationError} When a field is out of range.
   */
  resolve(policy?: BackoffPolicy): ResolvedBackoffPolicy;
  /**
   * The backoff delay after `streak` consecutive failures (a streak below 1 counts as 1).
   *
   * @param policy The policy (resolved or partial).
   * @param streak The failure streak.
   * @param random A source of uniform numbers in [0, 1), for the jitter. Default `Math.random`.
   * @returns The delay in ms.
   */
  computeDelay(policy: BackoffPolicy, streak: number, random?: () => number): number;
  /**
   * Whether `streak` consecutive failures trip a flow under `policy`.
   *
   * @param policy The policy.
   * @param streak The failure streak.
   * @returns `true` when the policy has a streak limit and `streak` reached it.
   */
  isTripped(policy: BackoffPolicy, streak: number): boolean;
} = {
  default: () => ({ ...DEFAULTS }),
  withTrip: (streakLimit) => resolveBackoff({ streakLimit }),
  resolve: (policy) => resolveBackoff(policy),
  computeDelay: (policy, streak, random = Math.random) =>
    backoffDelay(resolveBackoff(policy), streak, random),
  isTripped: (policy, streak) => {
    const limit = resolveBackoff(policy).streakLimit;
    return limit !== undefined && streak >= limit;
  },
};

/** Fills in and checks a policy (see {@link BackoffPolicy.resolve}). */
export function resolveBackoff(policy: BackoffPolicy | undefined): ResolvedBackoffPolicy {
  if (policy === undefined) return DEFAULTS;
  if (typeof policy !== "object" || policy === null) {
    throw new ConfigurationError(
      `Backoff policy must be an object, received ${safeString(policy)}`,
    );
  }
  const initial = policy.initial ?? DEFAULTS.initial;
  const multiplier = policy.multiplier ?? DEFAULTS.multiplier;
  const maxDelay = policy.maxDelay ?? Math.max(DEFAULTS.maxDelay, initial);
  const jitter = policy.jitter ?? DEFAULTS.jitter;
  const streakLimit = policy.streakLimit;
  if (typeof initial !== "number" || !Number.isFinite(initial) || initial < 0) {
    throw new ConfigurationError(
      `Backoff initial delay must be a finite number of ms ≥ 0, received ${safeString(initial)}`,
    );
  }
  if (typeof multiplier !== "number" || !Number.isFinite(multiplier) || multiplier < 1) {
    throw new ConfigurationError(
      `Backoff multiplier must be a finite number ≥ 1, received ${safeString(multiplier)}`,
    );
  }
  if (typeof maxDelay !== "number" || !Number.isFinite(maxDelay) || maxDelay < initial) {
    throw new ConfigurationError(
      `Backoff maxDelay must be a finite number of ms ≥ initial (${initial}), received ${
        safeString(maxDelay)
      }`,
    );
  }
  if (typeof jitter !== "number" || !(jitter >= 0 && jitter <= 1)) {
    throw new ConfigurationError(
      `Backoff jitter must be a number in [0, 1], received ${safeString(jitter)}`,
    );
  }
  if (
    streakLimit !== undefined && (!Number.isSafeInteger(streakLimit) || streakLimit < 0)
  ) {
    throw new ConfigurationError(
      `Backoff streakLimit must be a non-negative integer, received ${safeString(streakLimit)}`,
    );
  }
  return Object.freeze({ initial, multiplier, maxDelay, jitter, streakLimit });
}

/** cano's `compute_delay` on a resolved policy. */
export function backoffDelay(
  policy: ResolvedBackoffPolicy,
  streak: number,
  random: () => number = Math.random,
): number {
  if (policy.initial === 0) return 0;
  const exponent = Math.max(streak, 1) - 1;
  const base = policy.initial * policy.multiplier ** exponent;
  // `!(base < max)` also catches an Infinity from a long streak.
  const capped = base < policy.maxDelay ? base : policy.maxDelay;
  const jittered = policy.jitter > 0 ? capped * (1 + policy.jitter * (random() * 2 - 1)) : capped;
  return Math.round(Math.min(Math.max(jittered, 0), policy.maxDelay));
}

/** Whether `streak` trips a flow under a resolved policy. */
export function tripped(policy: ResolvedBackoffPolicy, streak: number): boolean {
  return policy.streakLimit !== undefined && streak >= policy.streakLimit;
}
