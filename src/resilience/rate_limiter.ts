import { delay, MAX_TIMER_DELAY } from "../async.ts";
import { safeString } from "../describe.ts";
import { limiterWaited } from "../observe/limiter_waits.ts";
import { ConfigurationError } from "../errors.ts";

/** Options of a limiter's `acquire`. */
export interface AcquireOptions {
  /** Aborts the wait, rejecting with `signal.reason`. */
  signal?: AbortSignal | undefined;
}

/**
 * Anything that can make a caller wait for admission: {@link RateLimiter},
 * {@link WindowedRateLimiter} and {@link MultiRateLimiter} all satisfy it, and so may your own
 * limiter. `acquire` resolves once `cost` is admitted and rejects with the signal's reason when
 * the wait is aborted.
 *
 * @example Accept any limiter
 * ```ts
 * import { type Limiter, RateLimiter, WindowedRateLimiter } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * async function guarded(limiter: Limiter, call: () => string): Promise<string> {
 *   await limiter.acquire(1);
 *   return call();
 * }
 * assert.equal(await guarded(RateLimiter.perSecond(5), () => "a"), "a");
 * assert.equal(await guarded(new WindowedRateLimiter({ limit: 1, window: 1_000 }), () => "b"), "b");
 * ```
 */
export interface Limiter {
  /**
   * Resolves once `cost` (default 1) is admitted.
   *
   * @param cost The cost of the call.
   * @param options The abort signal.
   */
  acquire(cost?: number, options?: AcquireOptions): Promise<unknown>;
}

/** What {@link Meter.snapshot} reports. */
export interface MeterStatus {
  /** Units in use: debited and not yet refilled or reset. */
  readonly used: number;
  /** The most the meter can admit at once. */
  readonly limit: number;
  /** Milliseconds until one more unit can be admitted (0 when it can be now). */
  readonly availableIn: number;
  /** When the current window resets; `undefined` for meters without windows (token buckets). */
  readonly resetsAt: Date | undefined;
}

/**
 * A synchronous, debit/credit view of a limiter, used by {@link MultiRateLimiter} tiers and by
 * {@link Reservation}s. {@link RateLimiter} and {@link WindowedRateLimiter} implement it.
 *
 * @example Debit and credit a bucket directly
 * ```ts
 * import { type Meter, RateLimiter } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const meter: Meter = new RateLimiter({ maxTokens: 2, refillPeriod: 1_000 });
 * const generation = meter.tryDebit(2);
 * assert.notEqual(generation, undefined);
 * assert.equal(meter.tryDebit(1), undefined);
 * assert.equal(meter.credit(2, generation!), true);
 * assert.equal(meter.snapshot().used, 0);
 * ```
 */
export interface Meter {
  /**
   * Debits `cost` now if it fits.
   *
   * @param cost A non-negative integer; 0 always fits and debits nothing.
   * @returns The generation the debit belongs to (pass it to `credit`), or `undefined`.
   */
  tryDebit(cost: number): number | undefined;
  /**
   * Gives back `cost` debited in `generation`. A refund for a generation that has ended (a window
   * that has since reset) is discarded.
   *
   * @param cost The cost debited.
   * @param generation What `tryDebit` returned.
   * @returns Whether the refund was applied.
   */
  credit(cost: number, generation: number): boolean;
  /**
   * Milliseconds until `cost` could be debited: 0 when it can be now, `Infinity` when it never
   * can (the cost exceeds the meter's capacity).
   *
   * @param cost A non-negative integer.
   */
  timeUntil(cost: number): number;
  /** The meter's current usage. */
  snapshot(): MeterStatus;
}

/** Where a {@link Reservation} stands. */
export type ReservationState = "pending" | "committed" | "refunded";

/**
 * Units debited ahead of a call by `tryReserve`. `commit()` keeps them spent; `refund()` — or
 * disposing the reservation (`using`) before it was committed — gives them back.
 */
export interface Reservation extends Disposable {
  /** The units reserved. */
  readonly cost: number;
  /** Whether the reservation is still open, kept, or given back. */
  readonly state: ReservationState;
  /** Keeps the units spent. No-op unless pending. */
  commit(): void;
  /**
   * Gives the units back. No-op unless pending.
   *
   * @returns Whether the meter took them back (`false` when its window has reset since).
   */
  refund(): boolean;
}

/**
 * The {@link Reservation} of a {@link Meter}. Exported for the limiters of this package; use
 * their `tryReserve` rather than constructing one.
 */
export class MeterReservation implements Reservation {
  readonly #meter: Meter;
  readonly #generation: number;
  #state: ReservationState = "pending";
  /** The units reserved. */
  readonly cost: number;

  /**
   * Wraps a debit that has already happened.
   *
   * @param meter The meter debited.
   * @param cost The units debited.
   * @param generation What `meter.tryDebit` returned.
   */
  constructor(meter: Meter, cost: number, generation: number) {
    this.#meter = meter;
    this.cost = cost;
    this.#generation = generation;
  }

  /** Whether the reservation is still open, kept, or given back. */
  get state(): ReservationState {
    return this.#state;
  }

  /** Keeps the units spent. No-op unless pending. */
  commit(): void {
    if (this.#state === "pending") this.#state = "committed";
  }

  /**
   * Gives the units back. No-op unless pending.
   *
   * @returns Whether the meter took them back.
   */
  refund(): boolean {
    if (this.#state !== "pending") return false;
    this.#state = "refunded";
    return this.#meter.credit(this.cost, this.#generation);
  }

  /** Refunds unless committed. */
  [Symbol.dispose](): void {
    this.refund();
  }
}

/**
 * Throws a {@link ConfigurationError} unless `cost` is a non-negative safe integer.
 *
 * @param cost The value to check.
 */
export function checkCost(cost: number): void {
  if (!Number.isSafeInteger(cost) || cost < 0) {
    throw new ConfigurationError(
      `Rate limiter cost must be a non-negative integer, got ${safeString(cost)}`,
    );
  }
}

/**
 * Debits `cost` from `meter` as soon as it fits, sleeping the meter's `timeUntil` between tries.
 * The caller has checked that the cost can fit at all.
 */
export async function waitForDebit(
  meter: Meter,
  cost: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  // When the first try failed: a wait that ends is reported (observe/limiter_waits.ts).
  let waitingSince: number | undefined;
  try {
    for (;;) {
      if (signal?.aborted) throw signal.reason;
      if (meter.tryDebit(cost) !== undefined) {
        if (waitingSince !== undefined) limiterWaited(meter, Date.now() - waitingSince, true);
        return;
      }
      waitingSince ??= Date.now();
      await sleepFor(meter.timeUntil(cost), signal);
    }
  } catch (error) {
    if (waitingSince !== undefined) limiterWaited(meter, Date.now() - waitingSince, false);
    throw error;
  }
}

/**
 * Sleeps `ms` (at least 1), abortably. Capped at the largest single timer delay: `delay` could
 * wait longer, but the callers loop and re-ask their meter, so a very long (or `Infinity`) wait
 * is re-evaluated about every 24.8 days instead of trusted blindly.
 */
export function sleepFor(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return delay(Math.min(Math.max(Math.ceil(ms), 1), MAX_TIMER_DELAY), signal);
}

/** Options of a {@link RateLimiter}. */
export interface RateLimiterPolicy {
  /** Tokens the bucket holds, before `burst`. A positive integer. */
  maxTokens: number;
  /** Tokens added per `refillPeriod`; a positive integer, default `maxTokens`. */
  tokensPerPeriod?: number | undefined;
  /** Milliseconds over which `tokensPerPeriod` tokens are added. Positive. */
  refillPeriod: number;
  /** Extra capacity on top of `maxTokens`; a non-negative integer, default 0. */
  burst?: number | undefined;
}

/**
 * A token bucket (cano §7.2): holds `maxTokens + burst` tokens, starts full, and refills
 * continuously at `tokensPerPeriod / refillPeriod` tokens per millisecond (fractional tokens
 * accrue). Refill is computed lazily from `Date.now()` on each call; nothing runs in the
 * background. A call costing 0 is always admitted; a cost larger than the capacity is never
 * admitted — `tryAcquire` returns `false` and `acquire` rejects with a {@link ConfigurationError}
 * instead of waiting forever.
 *
 * @example Ten calls per second
 * ```ts
 * import { RateLimiter } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const limiter = RateLimiter.perSecond(10);
 * assert.equal(limiter.tryAcquire(10), true); // the bucket starts full
 * assert.equal(limiter.tryAcquire(), false);
 * assert.ok(limiter.timeUntil(1) <= 100); // one token every 100 ms
 * await limiter.acquire(); // waits for it
 * ```
 */
export class RateLimiter implements Meter, Limiter {
  readonly #maxTokens: number;
  readonly #perPeriod: number;
  readonly #period: number;
  readonly #burst: number;
  readonly #capacity: number;
  // The level is kept in tokens × refillPeriod, so that with integer inputs the refill
  // (elapsed ms × tokensPerPeriod) and every comparison are exact integer arithmetic.
  readonly #capacityUnits: number;
  #level: number;
  #last: number;

  /**
   * Creates a full bucket.
   *
   * @param policy Size and refill rate.
   * @throws {ConfigurationError} When a field is out of range.
   */
  constructor(policy: RateLimiterPolicy) {
    const { maxTokens, refillPeriod, burst = 0 } = policy;
    const tokensPerPeriod = policy.tokensPerPeriod ?? maxTokens;
    positiveInteger("maxTokens", maxTokens);
    positiveInteger("tokensPerPeriod", tokensPerPeriod);
    if (typeof refillPeriod !== "number" || !Number.isFinite(refillPeriod) || refillPeriod <= 0) {
      throw new ConfigurationError(
        `Rate limiter refillPeriod must be a positive number of milliseconds, got ${
          safeString(refillPeriod)
        }`,
      );
    }
    if (!Number.isSafeInteger(burst) || burst < 0) {
      throw new ConfigurationError(
        `Rate limiter burst must be a non-negative integer, got ${safeString(burst)}`,
      );
    }
    this.#maxTokens = maxTokens;
    this.#perPeriod = tokensPerPeriod;
    this.#period = refillPeriod;
    this.#burst = burst;
    this.#capacity = maxTokens + burst;
    this.#capacityUnits = this.#capacity * refillPeriod;
    this.#level = this.#capacityUnits;
    this.#last = Date.now();
  }

  /**
   * A bucket of `n` tokens refilled at `n` per second.
   *
   * @param n Calls per second; a positive integer.
   * @param options Extra `burst` capacity.
   * @returns The limiter.
   *
   * @example Five per second with a burst of two
   * ```ts
   * import { RateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const limiter = RateLimiter.perSecond(5, { burst: 2 });
   * assert.equal(limiter.capacity, 7);
   * assert.equal(limiter.tokensAvailable, 7);
   * ```
   */
  static perSecond(n: number, options: { burst?: number | undefined } = {}): RateLimiter {
    return new RateLimiter({ maxTokens: n, refillPeriod: 1_000, burst: options.burst });
  }

  /**
   * The policy in force, defaults filled in.
   *
   * @example Read the policy
   * ```ts
   * import { RateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * assert.deepEqual(new RateLimiter({ maxTokens: 3, refillPeriod: 500 }).policy, {
   *   maxTokens: 3,
   *   tokensPerPeriod: 3,
   *   refillPeriod: 500,
   *   burst: 0,
   * });
   * ```
   */
  get policy(): {
    readonly maxTokens: number;
    readonly tokensPerPeriod: number;
    readonly refillPeriod: number;
    readonly burst: number;
  } {
    return {
      maxTokens: this.#maxTokens,
      tokensPerPeriod: this.#perPeriod,
      refillPeriod: this.#period,
      burst: this.#burst,
    };
  }

  /**
   * The most tokens the bucket holds: `maxTokens + burst`.
   *
   * @example Capacity includes the burst
   * ```ts
   * import { RateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new RateLimiter({ maxTokens: 4, refillPeriod: 1_000, burst: 1 }).capacity, 5);
   * ```
   */
  get capacity(): number {
    return this.#capacity;
  }

  /**
   * Whole tokens available now.
   *
   * @example Spend and count
   * ```ts
   * import { RateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const limiter = RateLimiter.perSecond(3);
   * limiter.tryAcquire(2);
   * assert.equal(limiter.tokensAvailable, 1);
   * ```
   */
  get tokensAvailable(): number {
    this.#refill(Date.now());
    return Math.floor(this.#level / this.#period);
  }

  /**
   * Takes `cost` tokens if the bucket has them.
   *
   * @param cost A non-negative integer; default 1. 0 always succeeds.
   * @returns Whether the tokens were taken; always `false` when `cost` exceeds the capacity.
   * @throws {ConfigurationError} When `cost` is not a non-negative integer.
   *
   * @example Admit or refuse
   * ```ts
   * import { RateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const limiter = RateLimiter.perSecond(2);
   * assert.equal(limiter.tryAcquire(), true);
   * assert.equal(limiter.tryAcquire(2), false);
   * assert.equal(limiter.tryAcquire(0), true);
   * ```
   */
  tryAcquire(cost = 1): boolean {
    return this.tryDebit(cost) !== undefined;
  }

  /**
   * Waits until `cost` tokens are available and takes them. Waiters are woken best-effort, not
   * in FIFO order.
   *
   * @param cost A non-negative integer; default 1.
   * @param options The abort signal.
   * @returns Resolves once the tokens are taken.
   * @throws {ConfigurationError} (as a rejection) When `cost` is invalid or exceeds the capacity.
   *
   * @example Abort a wait
   * ```ts
   * import { RateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const limiter = new RateLimiter({ maxTokens: 1, refillPeriod: 60_000 });
   * await limiter.acquire();
   * const controller = new AbortController();
   * const waiting = limiter.acquire(1, { signal: controller.signal });
   * controller.abort(new Error("shutting down"));
   * await assert.rejects(waiting, /shutting down/);
   * ```
   */
  async acquire(cost = 1, options: AcquireOptions = {}): Promise<void> {
    checkCost(cost);
    if (cost > this.#capacity) {
      throw new ConfigurationError(
        `Rate limiter cost ${cost} exceeds its capacity of ${this.#capacity} tokens and can never be admitted`,
      );
    }
    await waitForDebit(this, cost, options.signal);
  }

  /**
   * Takes `cost` tokens now and returns them unless the reservation is committed: use it when a
   * call may turn out not to happen.
   *
   * @param cost A non-negative integer; default 1.
   * @returns The reservation, or `undefined` when the tokens are not available.
   * @throws {ConfigurationError} When `cost` is not a non-negative integer.
   *
   * @example Refund on early exit
   * ```ts
   * import { RateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const limiter = new RateLimiter({ maxTokens: 3, refillPeriod: 60_000 });
   * {
   *   using reservation = limiter.tryReserve(2)!;
   *   assert.equal(limiter.tokensAvailable, 1);
   *   assert.equal(reservation.state, "pending");
   * } // not committed: refunded
   * assert.equal(limiter.tokensAvailable, 3);
   * limiter.tryReserve(1)!.commit();
   * assert.equal(limiter.tokensAvailable, 2);
   * ```
   */
  tryReserve(cost = 1): Reservation | undefined {
    const generation = this.tryDebit(cost);
    return generation === undefined ? undefined : new MeterReservation(this, cost, generation);
  }

  /**
   * Milliseconds until `cost` tokens will be available: 0 when they are now, `Infinity` when
   * `cost` exceeds the capacity.
   *
   * @param cost A non-negative integer; default 1.
   * @returns The wait in whole milliseconds.
   * @throws {ConfigurationError} When `cost` is not a non-negative integer.
   *
   * @example The refill deficit
   * ```ts
   * import { RateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const limiter = new RateLimiter({ maxTokens: 4, tokensPerPeriod: 1, refillPeriod: 250 });
   * assert.equal(limiter.timeUntil(4), 0);
   * assert.equal(limiter.timeUntil(5), Infinity);
   * ```
   */
  timeUntil(cost = 1): number {
    checkCost(cost);
    if (cost === 0) return 0;
    if (cost > this.#capacity) return Infinity;
    this.#refill(Date.now());
    const deficit = cost * this.#period - this.#level;
    return deficit <= 0 ? 0 : Math.ceil(deficit / this.#perPeriod);
  }

  /**
   * {@link Meter.tryDebit}: takes `cost` tokens if available.
   *
   * @param cost A non-negative integer.
   * @returns 0 (buckets have a single generation), or `undefined` when refused.
   * @throws {ConfigurationError} When `cost` is not a non-negative integer.
   *
   * @example Debit through the meter view
   * ```ts
   * import { RateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const limiter = RateLimiter.perSecond(1);
   * assert.equal(limiter.tryDebit(1), 0);
   * assert.equal(limiter.tryDebit(1), undefined);
   * ```
   */
  tryDebit(cost: number): number | undefined {
    if (cost !== 1) {
      checkCost(cost);
      if (cost === 0) return 0;
    }
    this.#refill(Date.now());
    const units = cost * this.#period;
    if (this.#level < units) return undefined;
    this.#level -= units;
    return 0;
  }

  /**
   * {@link Meter.credit}: gives `cost` tokens back, up to the capacity.
   *
   * @param cost The tokens to give back.
   * @param _generation Ignored: buckets have a single generation.
   * @returns `true`.
   *
   * @example Give tokens back
   * ```ts
   * import { RateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const limiter = RateLimiter.perSecond(2);
   * limiter.tryAcquire(2);
   * limiter.credit(5, 0); // capped at the capacity
   * assert.equal(limiter.tokensAvailable, 2);
   * ```
   */
  credit(cost: number, _generation: number): boolean {
    checkCost(cost);
    this.#refill(Date.now());
    this.#level = Math.min(this.#capacityUnits, this.#level + cost * this.#period);
    return true;
  }

  /**
   * {@link Meter.snapshot}: `used` is the capacity minus the whole tokens available; buckets
   * have no `resetsAt`.
   *
   * @returns The status.
   *
   * @example Usage of a bucket
   * ```ts
   * import { RateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const limiter = new RateLimiter({ maxTokens: 5, refillPeriod: 60_000 });
   * limiter.tryAcquire(5);
   * const status = limiter.snapshot();
   * assert.equal(status.used, 5);
   * assert.equal(status.limit, 5);
   * assert.ok(status.availableIn > 11_000 && status.availableIn <= 12_000); // one token per 12 s
   * assert.equal(status.resetsAt, undefined);
   * ```
   */
  snapshot(): MeterStatus {
    const available = this.tokensAvailable;
    return {
      used: this.#capacity - available,
      limit: this.#capacity,
      availableIn: this.timeUntil(1),
      resetsAt: undefined,
    };
  }

  #refill(now: number): void {
    const elapsed = now - this.#last;
    if (elapsed > 0 && this.#level < this.#capacityUnits) {
      const level = this.#level + elapsed * this.#perPeriod;
      this.#level = level < this.#capacityUnits ? level : this.#capacityUnits;
    }
    // A clock that stepped back re-anchors here rather than stalling the refill.
    this.#last = now;
  }
}

function positiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ConfigurationError(
      `Rate limiter ${name} must be a positive integer, got ${safeString(value)}`,
    );
  }
}
