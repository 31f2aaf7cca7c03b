import { safeString } from "../describe.ts";
import { ConfigurationError } from "../errors.ts";

/** Options of {@link RetryMode.exponential}. All durations are milliseconds. */
export interface ExponentialOptions {
  /** Delay after the first failure. Default 100. */
  baseDelay?: number;
  /** Growth factor per failure; non-finite or ≤ 0 is treated as 1. Default 2. */
  multiplier?: number;
  /** Cap applied before jitter. Default 30 000. */
  maxDelay?: number;
  /** Relative jitter in [0, 1] (clamped; non-finite → 0). Default 0.1. */
  jitter?: number;
}

/** The parameters of a {@link RetryMode}, by kind. */
export type RetryPolicy =
  | { readonly kind: "none" }
  | { readonly kind: "fixed"; readonly retries: number; readonly delay: number }
  | {
    readonly kind: "exponential";
    readonly retries: number;
    readonly baseDelay: number;
    readonly multiplier: number;
    readonly maxDelay: number;
    readonly jitter: number;
  };

/**
 * How a failing task is retried: not at all, after a fixed delay, or with exponential backoff and
 * jitter. `retries` counts extra attempts, so `maxAttempts()` is `retries + 1`.
 *
 * @example Compute backoff delays
 * ```ts
 * import { RetryMode } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const mode = RetryMode.exponential(3, { baseDelay: 100, jitter: 0 });
 * assert.equal(mode.maxAttempts(), 4);
 * assert.deepEqual([0, 1, 2, 3].map((k) => mode.delayForAttempt(k)), [100, 200, 400, undefined]);
 * ```
 */
export class RetryMode {
  /** The policy's parameters. */
  readonly policy: RetryPolicy;

  private constructor(policy: RetryPolicy) {
    this.policy = policy;
  }

  /**
   * One attempt, no retry.
   *
   * @returns The mode.
   *
   * @example No retries
   * ```ts
   * import { RetryMode } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * assert.equal(RetryMode.none().maxAttempts(), 1);
   * ```
   */
  static none(): RetryMode {
    return new RetryMode({ kind: "none" });
  }

  /**
   * `retries` extra attempts, each after the same delay.
   *
   * @param retries Extra attempts (a non-negative integer).
   * @param delayMs Delay before each retry (≥ 0).
   * @returns The mode.
   *
   * @example Three retries, 50 ms apart
   * ```ts
   * import { RetryMode } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const mode = RetryMode.fixed(3, 50);
   * assert.equal(mode.delayForAttempt(2), 50);
   * assert.equal(mode.delayForAttempt(3), undefined);
   * ```
   */
  static fixed(retries: number, delayMs: number): RetryMode {
    return new RetryMode({
      kind: "fixed",
      retries: checkRetries(retries),
      delay: checkDuration("Fixed retry delay", delayMs),
    });
  }

  /**
   * `maxRetries` extra attempts with exponentially growing, capped, jittered delays (cano's
   * formula: `base × multiplier^k`, capped at `maxDelay`, times `1 + jitter × U[-1, 1]`, at least
   * 1 ms when `baseDelay > 0`).
   *
   * @param maxRetries Extra attempts (a non-negative integer).
   * @param options Base delay, multiplier, cap and jitter.
   * @returns The mode.
   *
   * @example cano's default policy
   * ```ts
   * import { RetryMode } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const mode = RetryMode.exponential(3);
   * assert.equal(mode.maxAttempts(), 4);
   * const first = mode.delayForAttempt(0)!;
   * assert.ok(first >= 90 && first <= 110);
   * ```
   */
  static exponential(maxRetries: number, options: ExponentialOptions = {}): RetryMode {
    const multiplier = options.multiplier ?? 2;
    const jitter = options.jitter ?? 0.1;
    return new RetryMode({
      kind: "exponential",
      retries: checkRetries(maxRetries),
      baseDelay: checkDuration("Exponential retry baseDelay", options.baseDelay ?? 100),
      maxDelay: checkDuration("Exponential retry maxDelay", options.maxDelay ?? 30_000),
      // Sanitised as cano does rather than rejected: a bad factor degrades to a fixed delay.
      multiplier: Number.isFinite(multiplier) && multiplier > 0 ? multiplier : 1,
      jitter: Number.isFinite(jitter) ? Math.min(1, Math.max(0, jitter)) : 0,
    });
  }

  /**
   * The total number of attempts allowed.
   *
   * @returns `retries + 1`.
   *
   * @example Attempts of a fixed policy
   * ```ts
   * import { RetryMode } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * assert.equal(RetryMode.fixed(2, 10).maxAttempts(), 3);
   * ```
   */
  maxAttempts(): number {
    return this.policy.kind === "none" ? 1 : this.policy.retries + 1;
  }

  /**
   * The delay before retrying after the attempt with 0-based index `k` failed, or `undefined`
   * when no retry is left.
   *
   * @param k 0-based index of the attempt that just failed.
   * @param random Source of uniform numbers in [0, 1), for jitter. Defaults to `Math.random`.
   * @returns Milliseconds to wait, or `undefined`.
   *
   * @example Full jitter never yields zero
   * ```ts
   * import { RetryMode } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const mode = RetryMode.exponential(1, { baseDelay: 1, jitter: 1 });
   * assert.equal(mode.delayForAttempt(0, () => 0), 1);
   * ```
   */
  delayForAttempt(k: number, random: () => number = Math.random): number | undefined {
    const p = this.policy;
    if (p.kind === "none" || k >= p.retries) return undefined;
    if (p.kind === "fixed") return p.delay;
    const grown = Math.min(p.baseDelay * p.multiplier ** k, p.maxDelay);
    const jittered = grown * (1 + p.jitter * (random() * 2 - 1));
    const ms = Math.floor(Math.max(0, Math.min(jittered, Number.MAX_SAFE_INTEGER)));
    return p.baseDelay > 0 ? Math.max(1, ms) : ms;
  }
}

function checkRetries(retries: number): number {
  if (!Number.isSafeInteger(retries) || retries < 0) {
    throw new ConfigurationError(
      `Retry count must be a non-negative integer, received ${safeString(retries)}`,
    );
  }
  return retries;
}

/** Validates a millisecond duration option: finite and non-negative. */
export function checkDuration(what: string, ms: number): number {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) {
    throw new ConfigurationError(
      `${what} must be a finite number of milliseconds ≥ 0, received ${safeString(ms)}`,
    );
  }
  return ms;
}
