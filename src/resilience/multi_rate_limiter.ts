import { safeString } from "../describe.ts";
import { limiterWaited } from "../observe/limiter_waits.ts";
import { ConfigurationError, RateLimitedError } from "../errors.ts";
import {
  type AcquireOptions,
  checkCost,
  type Limiter,
  type Meter,
  sleepFor,
} from "./rate_limiter.ts";

/** One tier of a {@link MultiRateLimiter}. */
export interface RateLimitTier {
  /** The tier's name, reported in {@link RateLimitedError.tier}. */
  readonly name: string;
  /** The limiter the tier debits. */
  readonly meter: Meter;
  /** Units debited per call (times the call's cost); 0 makes the tier inert. */
  readonly cost: number;
}

/** Options of {@link MultiRateLimiter.tryAcquire}. */
export interface MultiAcquireOptions {
  /**
   * Enforce only the tiers with these names. Omitted or empty: every tier. Names that match no
   * tier enforce nothing.
   */
  only?: readonly string[] | undefined;
}

/** Options of {@link MultiRateLimiter.acquire}. */
export interface MultiWaitOptions extends MultiAcquireOptions, AcquireOptions {}

/** Why an attempt was refused: the first tier that said no. */
interface Refusal {
  tier: RateLimitTier;
  retryAfter: number;
}

/**
 * Several limits at once (cano §7.2), such as 10 calls a second *and* 1 000 a day: each named
 * tier debits its {@link Meter} by its weight. A call is admitted only if every tier admits it;
 * the tiers are tried in registration order, and when one refuses, the units already taken from
 * earlier tiers are given back, so a refused call spends nothing. The same meter registered in two
 * tiers is debited twice.
 *
 * @example A per-second and a per-day limit
 * ```ts
 * import { MultiRateLimiter, RateLimitedError, RateLimiter, WindowedRateLimiter } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const daily = WindowedRateLimiter.perDays(1_000, 1);
 * const limiter = new MultiRateLimiter()
 *   .withTier("per-second", RateLimiter.perSecond(2))
 *   .withTier("per-day", daily);
 *
 * limiter.tryAcquire();
 * limiter.tryAcquire();
 * assert.throws(() => limiter.tryAcquire(), (error) => {
 *   assert.ok(error instanceof RateLimitedError);
 *   assert.equal(error.tier, "per-second");
 *   assert.ok(error.retryAfter >= 1);
 *   return true;
 * });
 * assert.equal(daily.used, 2); // the refused call was refunded
 * ```
 */
export class MultiRateLimiter implements Limiter {
  #tiers: readonly RateLimitTier[] = [];

  /**
   * Adds a tier after the existing ones.
   *
   * @param name A non-empty name, unique within this limiter.
   * @param meter The limiter the tier debits.
   * @param cost Units per call; a non-negative integer, default 1. 0 makes the tier inert.
   * @returns This limiter.
   * @throws {ConfigurationError} When the name is empty or taken, or the cost is invalid.
   *
   * @example A weighted tier
   * ```ts
   * import { MultiRateLimiter, RateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const tokens = new RateLimiter({ maxTokens: 100, refillPeriod: 60_000 });
   * const limiter = new MultiRateLimiter().withTier("tokens", tokens, 40);
   * limiter.tryAcquire();
   * assert.equal(tokens.tokensAvailable, 60);
   * ```
   */
  withTier(name: string, meter: Meter, cost = 1): this {
    if (typeof name !== "string" || name === "") {
      throw new ConfigurationError(
        `Rate limiter tier name must be a non-empty string, got ${JSON.stringify(name)}`,
      );
    }
    if (this.#tiers.some((tier) => tier.name === name)) {
      throw new ConfigurationError(`Rate limiter tier "${name}" is already registered`);
    }
    if (!Number.isSafeInteger(cost) || cost < 0) {
      throw new ConfigurationError(
        `Rate limiter tier "${name}" cost must be a non-negative integer, got ${safeString(cost)}`,
      );
    }
    this.#tiers = Object.freeze([...this.#tiers, Object.freeze({ name, meter, cost })]);
    return this;
  }

  /**
   * The tiers, in registration order.
   *
   * @example List the tiers
   * ```ts
   * import { MultiRateLimiter, RateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const limiter = new MultiRateLimiter().withTier("a", RateLimiter.perSecond(1));
   * assert.deepEqual(limiter.tiers.map((t) => [t.name, t.cost]), [["a", 1]]);
   * ```
   */
  get tiers(): readonly RateLimitTier[] {
    return this.#tiers;
  }

  /**
   * Admits one call now or throws.
   *
   * @param options Which tiers to enforce.
   * @throws {RateLimitedError} Naming the first refusing tier, with `retryAfter` (≥ 1 ms).
   * @throws {ConfigurationError} When a tier's cost exceeds its meter's capacity.
   *
   * @example Enforce a subset of the tiers
   * ```ts
   * import { MultiRateLimiter, RateLimitedError, RateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const limiter = new MultiRateLimiter()
   *   .withTier("reads", RateLimiter.perSecond(1))
   *   .withTier("writes", RateLimiter.perSecond(1));
   * limiter.tryAcquire({ only: ["reads"] });
   * limiter.tryAcquire({ only: ["writes"] });
   * assert.throws(() => limiter.tryAcquire({ only: ["reads"] }), RateLimitedError);
   * ```
   */
  tryAcquire(options?: MultiAcquireOptions): void;
  /**
   * Admits one call of `cost` (each tier debits `cost ×` its weight) now or throws.
   *
   * @param cost A non-negative integer multiplier; default 1.
   * @param options Which tiers to enforce.
   * @throws {RateLimitedError} Naming the first refusing tier, with `retryAfter` (≥ 1 ms).
   * @throws {ConfigurationError} When `cost` is invalid or a tier's cost exceeds its meter's
   * capacity.
   */
  tryAcquire(cost?: number, options?: MultiAcquireOptions): void;
  tryAcquire(
    costOrOptions?: number | MultiAcquireOptions,
    options?: MultiAcquireOptions,
  ): void {
    const [cost, only] = parseArgs(costOrOptions, options);
    const refusal = this.#attempt(cost, only);
    if (refusal !== undefined) {
      throw new RateLimitedError(refusal.tier.name, refusal.retryAfter);
    }
  }

  /**
   * Waits until every enforced tier admits one call, sleeping for the refusing tier's
   * `retryAfter` between tries.
   *
   * @param options Which tiers to enforce, and the abort signal.
   * @returns Resolves once the call is admitted.
   * @throws {ConfigurationError} (as a rejection) When a tier's cost exceeds its meter's capacity.
   *
   * @example Wait for the binding tier
   * ```ts
   * import { MultiRateLimiter, RateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const bucket = new RateLimiter({ maxTokens: 1, refillPeriod: 20 });
   * const limiter = new MultiRateLimiter().withTier("burst", bucket);
   * await limiter.acquire();
   * const refilled = Date.now() + bucket.timeUntil(1);
   * await limiter.acquire(); // waits for the bucket to refill
   * assert.ok(Date.now() >= refilled);
   * ```
   */
  acquire(options?: MultiWaitOptions): Promise<void>;
  /**
   * Waits until every enforced tier admits one call of `cost` (each tier debits `cost ×` its
   * weight).
   *
   * @param cost A non-negative integer multiplier; default 1.
   * @param options Which tiers to enforce, and the abort signal.
   * @returns Resolves once the call is admitted.
   * @throws {ConfigurationError} (as a rejection) When `cost` is invalid or a tier's cost exceeds
   * its meter's capacity.
   */
  acquire(cost?: number, options?: MultiWaitOptions): Promise<void>;
  async acquire(
    costOrOptions?: number | MultiWaitOptions,
    options?: MultiWaitOptions,
  ): Promise<void> {
    const [cost, only, signal] = parseArgs(costOrOptions, options);
    // When the first try was refused: a wait that ends is reported (observe/limiter_waits.ts).
    let waitingSince: number | undefined;
    try {
      for (;;) {
        if (signal?.aborted) throw signal.reason;
        const refusal = this.#attempt(cost, only);
        if (refusal === undefined) {
          if (waitingSince !== undefined) limiterWaited(this, Date.now() - waitingSince, true);
          return;
        }
        waitingSince ??= Date.now();
        await sleepFor(refusal.retryAfter, signal);
      }
    } catch (error) {
      if (waitingSince !== undefined) limiterWaited(this, Date.now() - waitingSince, false);
      throw error;
    }
  }

  /** Debits every enforced tier, or none: returns the first refusal after refunding. */
  #attempt(cost: number, only: readonly string[] | undefined): Refusal | undefined {
    const tiers = this.#tiers;
    const filter = only !== undefined && only.length > 0 ? only : undefined;
    let taken: number[] | undefined; // generation per tier index, for refunds
    for (let i = 0; i < tiers.length; i++) {
      const tier = tiers[i] as RateLimitTier;
      const units = tier.cost * cost;
      if (units === 0 || (filter !== undefined && !filter.includes(tier.name))) continue;
      let generation: number | undefined;
      try {
        generation = tier.meter.tryDebit(units);
      } catch (error) {
        this.#refund(taken, cost);
        throw error;
      }
      if (generation !== undefined) {
        (taken ??= [])[i] = generation;
        continue;
      }
      this.#refund(taken, cost);
      const wait = tier.meter.timeUntil(units);
      if (wait === Infinity) {
        throw new ConfigurationError(
          `Rate limiter tier "${tier.name}" needs ${units} units per call, more than its meter can ever admit`,
        );
      }
      return { tier, retryAfter: Math.max(1, Math.ceil(wait)) };
    }
    return undefined;
  }

  #refund(taken: number[] | undefined, cost: number): void {
    if (taken === undefined) return;
    for (let j = 0; j < taken.length; j++) {
      const generation = taken[j];
      if (generation === undefined) continue;
      const tier = this.#tiers[j] as RateLimitTier;
      tier.meter.credit(tier.cost * cost, generation);
    }
  }
}

function parseArgs(
  costOrOptions: number | MultiWaitOptions | undefined,
  options: MultiWaitOptions | undefined,
): [number, readonly string[] | undefined, AbortSignal | undefined] {
  let cost = 1;
  let opts = options;
  if (typeof costOrOptions === "number") {
    checkCost(costOrOptions);
    cost = costOrOptions;
  } else if (costOrOptions !== undefined) {
    opts = costOrOptions;
  }
  return [cost, opts?.only, opts?.signal];
}
