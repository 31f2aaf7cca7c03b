import { safeInstanceOf, safeString } from "../describe.ts";
import { CircuitOpenError, ConfigurationError } from "../errors.ts";
import { SafeEventTarget } from "../events.ts";

/** Options of a {@link CircuitBreaker}. Every field is optional; the defaults are cano's. */
export interface CircuitPolicy {
  /** Consecutive failures, while closed, that trip the breaker open. A positive integer; default 5. */
  failureThreshold?: number | undefined;
  /** Milliseconds the breaker stays open before it admits trial calls. At least 0; default 30 000. */
  resetTimeout?: number | undefined;
  /**
   * Trial calls admitted at once while half-open, and the successes that close the breaker again.
   * A positive integer up to 2³¹ − 1; default 1.
   */
  halfOpenMaxCalls?: number | undefined;
}

/**
 * The state of a {@link CircuitBreaker}: `"closed"` admits every call, `"open"` rejects every call
 * until its reset timeout has passed, `"half_open"` admits a few trial calls.
 */
export type CircuitState = "closed" | "open" | "half_open";

/** The fields of a {@link CircuitTransitionEvent}. */
export interface CircuitTransitionEventInit {
  /** The state left. */
  from: CircuitState;
  /** The state entered. */
  to: CircuitState;
  /** When the breaker will admit trial calls again; set only when `to` is `"open"`. */
  openUntil?: Date | undefined;
}

/**
 * `circuittransition`: A {@link CircuitBreaker} changed state.
 *
 * @example Build and read the event
 * ```ts
 * import { CircuitTransitionEvent } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const event = new CircuitTransitionEvent({ from: "half_open", to: "closed" });
 * assert.equal(event.type, "circuittransition");
 * assert.equal(event.to, "closed");
 * assert.equal(event.openUntil, undefined);
 * ```
 */
export class CircuitTransitionEvent extends Event {
  /** The state left. */
  readonly from: CircuitState;
  /** The state entered. */
  readonly to: CircuitState;
  /** When the breaker will admit trial calls again; set only when `to` is `"open"`. */
  readonly openUntil: Date | undefined;

  /**
   * Creates the event.
   *
   * @param init The event's fields.
   */
  constructor(init: CircuitTransitionEventInit) {
    super("circuittransition");
    this.from = init.from;
    this.to = init.to;
    this.openUntil = init.openUntil;
  }
}

/** The events a {@link CircuitBreaker} dispatches. */
export interface CircuitBreakerEventMap {
  /** The breaker changed state. */
  circuittransition: CircuitTransitionEvent;
}

/**
 * Permission for one call, issued by {@link CircuitBreaker.tryAcquire}. Report the call's outcome
 * with `recordSuccess()` or `recordFailure()`; only the first outcome counts. A permit disposed
 * (`using`) or passed to `[Symbol.dispose]()` without an outcome counts as a failure, so an early
 * return or a throw cannot leak a half-open trial slot.
 */
export interface CircuitPermit extends Disposable {
  /** Whether an outcome has been recorded (or the permit disposed). */
  readonly settled: boolean;
  /** Records that the call succeeded. */
  recordSuccess(): void;
  /** Records that the call failed. */
  recordFailure(): void;
}

const CLOSED = 0;
const OPEN = 1;
const HALF_OPEN = 2;
type StateCode = typeof CLOSED | typeof OPEN | typeof HALF_OPEN;
const STATE_NAMES: readonly CircuitState[] = ["closed", "open", "half_open"];

/** Upper bound on `halfOpenMaxCalls`, as in cano (`u32::MAX / 2`, rounded to an int32). */
const MAX_HALF_OPEN_CALLS = 2_147_483_647;

/** The permit implementation; its fields are read by the breaker that issued it. */
class Permit implements CircuitPermit {
  readonly breaker: CircuitBreaker;
  readonly epoch: number;
  readonly halfOpen: boolean;
  settled = false;

  constructor(breaker: CircuitBreaker, epoch: number, halfOpen: boolean) {
    this.breaker = breaker;
    this.epoch = epoch;
    this.halfOpen = halfOpen;
  }

  recordSuccess(): void {
    this.breaker.recordSuccess(this);
  }

  recordFailure(): void {
    this.breaker.recordFailure(this);
  }

  [Symbol.dispose](): void {
    if (!this.settled) this.breaker.recordFailure(this);
  }
}

/**
 * A circuit breaker (cano §7.1): after `failureThreshold` consecutive failures it opens and
 * rejects calls with {@link CircuitOpenError} for `resetTimeout` ms; the first
 * {@link CircuitBreaker.tryAcquire} after that moves it to half-open, where up to
 * `halfOpenMaxCalls` trial calls run at once. That many successes close it again; one failure
 * re-opens it with a fresh timeout. Every transition starts a new epoch, and outcomes of calls
 * admitted in an earlier epoch are ignored, so a slow call that straddled a transition cannot
 * close or trip the next session.
 *
 * Time is read from `Date.now()`; nothing runs in the background. Share one breaker among every
 * caller of the same dependency. Transitions are dispatched as `circuittransition` events.
 *
 * @example Trip, wait, recover
 * ```ts
 * import { CircuitBreaker, CircuitOpenError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const breaker = new CircuitBreaker({ failureThreshold: 2, resetTimeout: 10 });
 * const seen: string[] = [];
 * breaker.addEventListener("circuittransition", (e) => seen.push(`${e.from}->${e.to}`));
 *
 * breaker.tryAcquire().recordFailure();
 * breaker.tryAcquire().recordFailure();
 * assert.equal(breaker.state, "open");
 * assert.throws(() => breaker.tryAcquire(), CircuitOpenError);
 *
 * await new Promise((resolve) => setTimeout(resolve, 15));
 * const trial = breaker.tryAcquire(); // lazily half-open
 * trial.recordSuccess();
 * assert.equal(breaker.state, "closed");
 * assert.deepEqual(seen, ["closed->open", "open->half_open", "half_open->closed"]);
 * ```
 */
export class CircuitBreaker extends SafeEventTarget<CircuitBreakerEventMap> {
  readonly #threshold: number;
  readonly #resetTimeout: number;
  readonly #maxCalls: number;
  #state: StateCode = CLOSED;
  #until = 0;
  #epoch = 0;
  #failures = 0;
  #inFlight = 0;
  #successes = 0;

  /**
   * Creates a closed breaker.
   *
   * @param policy Thresholds and timeout; omitted fields take cano's defaults (5 / 30 s / 1).
   * @throws {ConfigurationError} When a field is out of range.
   */
  constructor(policy: CircuitPolicy = {}) {
    super();
    const { failureThreshold = 5, resetTimeout = 30_000, halfOpenMaxCalls = 1 } = policy;
    if (!Number.isSafeInteger(failureThreshold) || failureThreshold < 1) {
      throw new ConfigurationError(
        `Circuit breaker failureThreshold must be a positive integer, got ${
          safeString(failureThreshold)
        }`,
      );
    }
    if (!Number.isFinite(resetTimeout) || resetTimeout < 0) {
      throw new ConfigurationError(
        `Circuit breaker resetTimeout must be a finite number of milliseconds >= 0, got ${
          safeString(resetTimeout)
        }`,
      );
    }
    if (
      !Number.isSafeInteger(halfOpenMaxCalls) || halfOpenMaxCalls < 1 ||
      halfOpenMaxCalls > MAX_HALF_OPEN_CALLS
    ) {
      throw new ConfigurationError(
        `Circuit breaker halfOpenMaxCalls must be an integer from 1 to ${MAX_HALF_OPEN_CALLS}, got ${
          safeString(halfOpenMaxCalls)
        }`,
      );
    }
    this.#threshold = failureThreshold;
    this.#resetTimeout = resetTimeout;
    this.#maxCalls = halfOpenMaxCalls;
  }

  /**
   * The policy in force, defaults filled in.
   *
   * @example Read the defaults
   * ```ts
   * import { CircuitBreaker } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * assert.deepEqual(new CircuitBreaker().policy, {
   *   failureThreshold: 5,
   *   resetTimeout: 30_000,
   *   halfOpenMaxCalls: 1,
   * });
   * ```
   */
  get policy(): {
    readonly failureThreshold: number;
    readonly resetTimeout: number;
    readonly halfOpenMaxCalls: number;
  } {
    return {
      failureThreshold: this.#threshold,
      resetTimeout: this.#resetTimeout,
      halfOpenMaxCalls: this.#maxCalls,
    };
  }

  /**
   * The current state. Reading it never moves the breaker: an open breaker whose timeout has
   * passed still reports `"open"` until the next {@link CircuitBreaker.tryAcquire}.
   *
   * @example A new breaker is closed
   * ```ts
   * import { CircuitBreaker } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new CircuitBreaker().state, "closed");
   * ```
   */
  get state(): CircuitState {
    return STATE_NAMES[this.#state] as CircuitState;
  }

  /**
   * When an open breaker will admit trial calls again; `undefined` unless the state is `"open"`.
   *
   * @example Open until the reset timeout has passed
   * ```ts
   * import { CircuitBreaker } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const breaker = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 60_000 });
   * assert.equal(breaker.openUntil, undefined);
   * const before = Date.now();
   * breaker.tryAcquire().recordFailure();
   * assert.ok(breaker.openUntil!.getTime() >= before + 60_000);
   * ```
   */
  get openUntil(): Date | undefined {
    return this.#state === OPEN ? new Date(this.#until) : undefined;
  }

  /**
   * Asks permission for one call. An open breaker whose reset timeout has passed moves to
   * half-open here. Report the outcome on the returned permit.
   *
   * @returns The permit for the call.
   * @throws {CircuitOpenError} When open ("Circuit breaker open: rejecting call") or when every
   * half-open trial slot is taken ("Circuit breaker half-open: trial slot exhausted").
   *
   * @example Guard a call with `using`
   * ```ts
   * import { CircuitBreaker } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const breaker = new CircuitBreaker({ failureThreshold: 1 });
   * {
   *   using permit = breaker.tryAcquire();
   *   // ... the call throws or returns early: no outcome is recorded ...
   *   assert.equal(permit.settled, false);
   * } // disposed without an outcome: a failure
   * assert.equal(breaker.state, "open");
   * ```
   */
  tryAcquire(): CircuitPermit {
    if (this.#state === CLOSED) return new Permit(this, this.#epoch, false);
    if (this.#state === OPEN) {
      if (Date.now() < this.#until) {
        throw new CircuitOpenError("Circuit breaker open: rejecting call");
      }
      this.#transition(HALF_OPEN);
    }
    if (this.#inFlight >= this.#maxCalls) {
      throw new CircuitOpenError("Circuit breaker half-open: trial slot exhausted");
    }
    this.#inFlight += 1;
    return new Permit(this, this.#epoch, true);
  }

  /**
   * Records that the call behind `permit` succeeded: closed → the failure count resets;
   * half-open → one more success, and the breaker closes once `halfOpenMaxCalls` trials
   * succeeded. Ignored when the permit already has an outcome or belongs to an earlier epoch.
   *
   * @param permit A permit this breaker issued.
   * @throws {ConfigurationError} When another breaker issued the permit.
   *
   * @example Record on the breaker
   * ```ts
   * import { CircuitBreaker } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const breaker = new CircuitBreaker();
   * const permit = breaker.tryAcquire();
   * breaker.recordSuccess(permit);
   * assert.equal(permit.settled, true);
   * ```
   */
  recordSuccess(permit: CircuitPermit): void {
    const own = this.#own(permit);
    if (own.settled) return;
    own.settled = true;
    if (own.epoch !== this.#epoch) return; // stale: a transition already wiped its session
    if (own.halfOpen && this.#inFlight > 0) this.#inFlight -= 1;
    if (this.#state === CLOSED) {
      this.#failures = 0;
    } else if (this.#state === HALF_OPEN) {
      this.#successes += 1;
      if (this.#successes >= this.#maxCalls) this.#transition(CLOSED);
    }
  }

  /**
   * Records that the call behind `permit` failed: closed → one more consecutive failure, and the
   * breaker opens at `failureThreshold`; half-open → the breaker re-opens at once with a fresh
   * timeout. Ignored when the permit already has an outcome or belongs to an earlier epoch.
   *
   * @param permit A permit this breaker issued.
   * @throws {ConfigurationError} When another breaker issued the permit.
   *
   * @example One failure trips a threshold of 1
   * ```ts
   * import { CircuitBreaker } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const breaker = new CircuitBreaker({ failureThreshold: 1 });
   * breaker.recordFailure(breaker.tryAcquire());
   * assert.equal(breaker.state, "open");
   * ```
   */
  recordFailure(permit: CircuitPermit): void {
    const own = this.#own(permit);
    if (own.settled) return;
    own.settled = true;
    if (own.epoch !== this.#epoch) return;
    if (own.halfOpen && this.#inFlight > 0) this.#inFlight -= 1;
    if (this.#state === CLOSED) {
      this.#failures += 1;
      if (this.#failures >= this.#threshold) this.#transition(OPEN);
    } else if (this.#state === HALF_OPEN) {
      this.#transition(OPEN);
    }
  }

  /**
   * Runs `fn` under a permit: resolves with its value and records a success, or rejects with its
   * error and records a failure. Rejects with {@link CircuitOpenError} without calling `fn` when
   * the breaker does not admit the call.
   *
   * @typeParam T What `fn` returns.
   * @param fn The guarded call.
   * @returns What `fn` returned.
   *
   * @example Guard an async call
   * ```ts
   * import { CircuitBreaker, CircuitOpenError } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const breaker = new CircuitBreaker({ failureThreshold: 1 });
   * assert.equal(await breaker.call(() => Promise.resolve(42)), 42);
   * await assert.rejects(breaker.call(() => Promise.reject(new Error("503"))), /503/);
   * await assert.rejects(breaker.call(() => 1), CircuitOpenError);
   * ```
   */
  async call<T>(fn: () => T | Promise<T>): Promise<T> {
    const permit = this.tryAcquire();
    let value: T;
    try {
      value = await fn();
    } catch (error) {
      this.recordFailure(permit);
      throw error;
    }
    this.recordSuccess(permit);
    return value;
  }

  #own(permit: CircuitPermit): Permit {
    if (safeInstanceOf(permit, Permit) && permit.breaker === this) return permit;
    throw new ConfigurationError(
      "Circuit permit was not issued by this circuit breaker: settle a permit on the breaker " +
        "that issued it",
    );
  }

  /** Enters `to`, resetting every per-session counter and starting a new epoch. */
  #transition(to: StateCode): void {
    const from = this.#state;
    this.#state = to;
    this.#until = to === OPEN ? Date.now() + this.#resetTimeout : 0;
    this.#epoch += 1;
    this.#failures = 0;
    this.#inFlight = 0;
    this.#successes = 0;
    if (this.hasListener("circuittransition")) {
      this.dispatchEvent(
        new CircuitTransitionEvent({
          from: STATE_NAMES[from] as CircuitState,
          to: STATE_NAMES[to] as CircuitState,
          openUntil: to === OPEN ? new Date(this.#until) : undefined,
        }),
      );
    }
  }
}
