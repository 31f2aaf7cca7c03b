import { safeString } from "../describe.ts";
import { ConfigurationError } from "../errors.ts";
import {
  type AcquireOptions,
  checkCost,
  type Limiter,
  type Meter,
  MeterReservation,
  type MeterStatus,
  type Reservation,
  waitForDebit,
} from "./rate_limiter.ts";

/** Options of a {@link WindowedRateLimiter}. */
export interface WindowPolicy {
  /** Units admitted per window. A positive integer. */
  limit: number;
  /** The window's length in milliseconds. Positive. */
  window: number;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * A fixed-window counter (cano §7.2): admits up to `limit` units per window. The first window
 * starts at construction; a window that has elapsed resets lazily on the next call, and the new
 * window starts at that call (no wall-clock alignment). Every reset starts a new generation, and
 * a reservation refunded after its window reset is discarded, so it cannot inflate the new
 * window. Time is read from `Date.now()`; a cost above `limit` is never admitted (`tryAcquire`
 * returns `false`, `acquire` rejects with a {@link ConfigurationError}).
 *
 * @example A daily quota
 * ```ts
 * import { WindowedRateLimiter } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const quota = WindowedRateLimiter.perDays(1_000, 1);
 * assert.equal(quota.tryAcquire(999), true);
 * assert.equal(quota.remaining, 1);
 * assert.equal(quota.tryAcquire(2), false);
 * assert.ok(quota.resetsAt.getTime() > Date.now());
 * ```
 */
export class WindowedRateLimiter implements Meter, Limiter {
  readonly #limit: number;
  readonly #window: number;
  #start: number;
  #used = 0;
  #generation = 0;

  /**
   * Creates a limiter whose first window starts now.
   *
   * @param policy The limit and the window length.
   * @throws {ConfigurationError} When a field is out of range.
   */
  constructor(policy: WindowPolicy) {
    const { limit, window } = policy;
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new ConfigurationError(
        `Windowed rate limiter limit must be a positive integer, got ${safeString(limit)}`,
      );
    }
    if (typeof window !== "number" || !Number.isFinite(window) || window <= 0) {
      throw new ConfigurationError(
        `Windowed rate limiter window must be a positive number of milliseconds, got ${
          safeString(window)
        }`,
      );
    }
    this.#limit = limit;
    this.#window = window;
    this.#start = Date.now();
  }

  /**
   * `limit` units per `hours` hours.
   *
   * @param limit A positive integer.
   * @param hours A positive number of hours.
   * @returns The limiter.
   *
   * @example 100 calls an hour
   * ```ts
   * import { WindowedRateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * assert.deepEqual(WindowedRateLimiter.perHours(100, 1).policy, { limit: 100, window: 3_600_000 });
   * ```
   */
  static perHours(limit: number, hours: number): WindowedRateLimiter {
    return new WindowedRateLimiter({ limit, window: hours * HOUR });
  }

  /**
   * `limit` units per `days` days.
   *
   * @param limit A positive integer.
   * @param days A positive number of days.
   * @returns The limiter.
   *
   * @example 10 000 calls a day
   * ```ts
   * import { WindowedRateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * assert.equal(WindowedRateLimiter.perDays(10_000, 1).policy.window, 86_400_000);
   * ```
   */
  static perDays(limit: number, days: number): WindowedRateLimiter {
    return new WindowedRateLimiter({ limit, window: days * DAY });
  }

  /**
   * The policy in force.
   *
   * @example Read the policy
   * ```ts
   * import { WindowedRateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const limiter = new WindowedRateLimiter({ limit: 5, window: 1_000 });
   * assert.deepEqual(limiter.policy, { limit: 5, window: 1_000 });
   * ```
   */
  get policy(): { readonly limit: number; readonly window: number } {
    return { limit: this.#limit, window: this.#window };
  }

  /**
   * Units used in the current window (0 once it has elapsed, even before the lazy reset).
   *
   * @example Count usage
   * ```ts
   * import { WindowedRateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const limiter = new WindowedRateLimiter({ limit: 5, window: 60_000 });
   * limiter.tryAcquire(3);
   * assert.equal(limiter.used, 3);
   * ```
   */
  get used(): number {
    return this.#elapsed(Date.now()) ? 0 : this.#used;
  }

  /**
   * Units still admissible in the current window.
   *
   * @example What is left
   * ```ts
   * import { WindowedRateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const limiter = new WindowedRateLimiter({ limit: 5, window: 60_000 });
   * limiter.tryAcquire(3);
   * assert.equal(limiter.remaining, 2);
   * ```
   */
  get remaining(): number {
    return this.#limit - this.used;
  }

  /**
   * When the current window ends. Once it has elapsed, the window a call would start now.
   *
   * @example The end of the window
   * ```ts
   * import { WindowedRateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const before = Date.now();
   * const limiter = new WindowedRateLimiter({ limit: 5, window: 60_000 });
   * assert.ok(limiter.resetsAt.getTime() >= before + 60_000);
   * ```
   */
  get resetsAt(): Date {
    const now = Date.now();
    return new Date(this.#elapsed(now) ? now + this.#window : this.#start + this.#window);
  }

  /**
   * Counts `cost` units if the window has room for them.
   *
   * @param cost A non-negative integer; default 1. 0 always succeeds.
   * @returns Whether the units were counted; always `false` when `cost` exceeds `limit`.
   * @throws {ConfigurationError} When `cost` is not a non-negative integer.
   *
   * @example Fill the window
   * ```ts
   * import { WindowedRateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const limiter = new WindowedRateLimiter({ limit: 2, window: 60_000 });
   * assert.equal(limiter.tryAcquire(2), true);
   * assert.equal(limiter.tryAcquire(), false);
   * ```
   */
  tryAcquire(cost = 1): boolean {
    return this.tryDebit(cost) !== undefined;
  }

  /**
   * Waits until the window has room for `cost` units (sleeping until it resets) and counts them.
   *
   * @param cost A non-negative integer; default 1.
   * @param options The abort signal.
   * @returns Resolves once the units are counted.
   * @throws {ConfigurationError} (as a rejection) When `cost` is invalid or exceeds `limit`.
   *
   * @example Wait for the next window
   * ```ts
   * import { WindowedRateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const limiter = new WindowedRateLimiter({ limit: 1, window: 20 });
   * await limiter.acquire();
   * const resetsAt = limiter.resetsAt.getTime();
   * await limiter.acquire(); // the window was full: waits for the reset
   * assert.ok(Date.now() >= resetsAt);
   * ```
   */
  async acquire(cost = 1, options: AcquireOptions = {}): Promise<void> {
    checkCost(cost);
    if (cost > this.#limit) {
      throw new ConfigurationError(
        `Windowed rate limiter cost ${cost} exceeds its limit of ${this.#limit} per window and can never be admitted`,
      );
    }
    await waitForDebit(this, cost, options.signal);
  }

  /**
   * Counts `cost` units now and gives them back unless the reservation is committed. A refund
   * after the window has reset is discarded.
   *
   * @param cost A non-negative integer; default 1.
   * @returns The reservation, or `undefined` when the window has no room.
   * @throws {ConfigurationError} When `cost` is not a non-negative integer.
   *
   * @example Refund within the window
   * ```ts
   * import { WindowedRateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const limiter = new WindowedRateLimiter({ limit: 3, window: 60_000 });
   * const reservation = limiter.tryReserve(2)!;
   * assert.equal(limiter.used, 2);
   * assert.equal(reservation.refund(), true);
   * assert.equal(limiter.used, 0);
   * ```
   */
  tryReserve(cost = 1): Reservation | undefined {
    const generation = this.tryDebit(cost);
    return generation === undefined ? undefined : new MeterReservation(this, cost, generation);
  }

  /**
   * Milliseconds until `cost` units fit: 0 when they do now, the time to the window's reset when
   * they do not, `Infinity` when `cost` exceeds `limit`.
   *
   * @param cost A non-negative integer; default 1.
   * @returns The wait in milliseconds.
   * @throws {ConfigurationError} When `cost` is not a non-negative integer.
   *
   * @example Time to the reset
   * ```ts
   * import { WindowedRateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const limiter = new WindowedRateLimiter({ limit: 1, window: 60_000 });
   * assert.equal(limiter.timeUntil(1), 0);
   * limiter.tryAcquire();
   * assert.ok(limiter.timeUntil(1) > 59_000);
   * assert.equal(limiter.timeUntil(2), Infinity);
   * ```
   */
  timeUntil(cost = 1): number {
    checkCost(cost);
    if (cost === 0) return 0;
    if (cost > this.#limit) return Infinity;
    const now = Date.now();
    if (this.#elapsed(now) || this.#used + cost <= this.#limit) return 0;
    return Math.max(1, Math.ceil(this.#start + this.#window - now));
  }

  /**
   * {@link Meter.tryDebit}: counts `cost` units if the window has room.
   *
   * @param cost A non-negative integer.
   * @returns The window's generation, or `undefined` when refused.
   * @throws {ConfigurationError} When `cost` is not a non-negative integer.
   *
   * @example Debit through the meter view
   * ```ts
   * import { WindowedRateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const limiter = new WindowedRateLimiter({ limit: 1, window: 60_000 });
   * assert.equal(limiter.tryDebit(1), 0);
   * assert.equal(limiter.tryDebit(1), undefined);
   * ```
   */
  tryDebit(cost: number): number | undefined {
    if (cost !== 1) checkCost(cost);
    this.#roll(Date.now());
    if (this.#used + cost > this.#limit) return undefined;
    this.#used += cost;
    return this.#generation;
  }

  /**
   * {@link Meter.credit}: gives `cost` units back to the window of `generation`; discarded when
   * that window has reset since.
   *
   * @param cost The units to give back.
   * @param generation What `tryDebit` returned.
   * @returns Whether the units were given back.
   *
   * @example A refund into the same window
   * ```ts
   * import { WindowedRateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const limiter = new WindowedRateLimiter({ limit: 1, window: 60_000 });
   * const generation = limiter.tryDebit(1)!;
   * assert.equal(limiter.credit(1, generation), true);
   * assert.equal(limiter.credit(1, generation + 1), false);
   * ```
   */
  credit(cost: number, generation: number): boolean {
    checkCost(cost);
    this.#roll(Date.now());
    if (generation !== this.#generation) return false;
    this.#used = Math.max(0, this.#used - cost);
    return true;
  }

  /**
   * {@link Meter.snapshot}: the window's usage, the wait for one more unit and the reset time.
   *
   * @returns The status.
   *
   * @example Usage of a window
   * ```ts
   * import { WindowedRateLimiter } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const limiter = new WindowedRateLimiter({ limit: 2, window: 60_000 });
   * limiter.tryAcquire();
   * const status = limiter.snapshot();
   * assert.equal(status.used, 1);
   * assert.equal(status.limit, 2);
   * assert.equal(status.availableIn, 0);
   * assert.ok(status.resetsAt instanceof Date);
   * ```
   */
  snapshot(): MeterStatus {
    return {
      used: this.used,
      limit: this.#limit,
      availableIn: this.timeUntil(1),
      resetsAt: this.resetsAt,
    };
  }

  #elapsed(now: number): boolean {
    return now - this.#start >= this.#window;
  }

  #roll(now: number): void {
    if (this.#elapsed(now)) {
      this.#start = now;
      this.#used = 0;
      this.#generation += 1;
    } else if (now < this.#start) {
      // The clock stepped back: re-anchor the window instead of stalling for the step.
      this.#start = now;
    }
  }
}
