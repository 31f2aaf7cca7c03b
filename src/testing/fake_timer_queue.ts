// The pending timers of a FakeTime: which one fires next, the delay rules `setTimeout` applies,
// and the handles the fake `setTimeout`/`setInterval` return. Kept apart from fake_time.ts so that
// the clock's install/restore and tick logic reads on its own.

/**
 * The first fake timer id. Deno's own ids are small integers, so starting far above them (as
 * @sinonjs/fake-timers does) lets the fake `clearTimeout` tell a fake timer from a real one that
 * was started before the clock was installed, and hand the real one on to the real `clearTimeout`.
 */
export const FIRST_TIMER_ID = 1e12;

/**
 * The longest delay `setTimeout` honours (2^31 − 1 ms). Deno, like Node, runs a longer one after
 * 1 ms instead; the fake timers do the same so that code under test meets the real behaviour.
 */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

/**
 * The next fake timer id. Shared by every FakeTime (not reset by a new one), so that an id kept
 * from a restored clock can never clear a timer of the clock installed after it.
 */
let nextId = FIRST_TIMER_ID;

/** One pending fake timer: a `setTimeout`, a `setInterval` or an `AbortSignal.timeout`. */
export interface FakeTimer {
  /** The id its handle converts to. */
  readonly id: number;
  /** What runs when it fires. */
  readonly callback: (...args: unknown[]) => unknown;
  /** The extra arguments given to `setTimeout`/`setInterval`, passed to the callback. */
  readonly args: readonly unknown[];
  /** The delay it was armed with, after {@link timerDelay}; `refresh()` re-arms with it. */
  readonly delay: number;
  /** For a `setInterval`, the period (at least 1 ms); `undefined` for a one-shot timer. */
  readonly interval: number | undefined;
  /** When it fires next, on the fake clock. */
  callAt: number;
  /** Breaks ties between timers due at the same time: lower fires first (scheduling order). */
  order: number;
}

/**
 * Normalises a timer delay the way Deno does: a non-number is converted with `Number`, `NaN` and
 * negatives become 0, anything above {@link MAX_TIMER_DELAY} becomes 1 and fractions are dropped.
 * While the clock is advancing, a 0 delay becomes 1 ms, as in @sinonjs/fake-timers: a timer that
 * keeps re-arming itself with `setTimeout(fn, 0)` then moves time on instead of stalling a tick.
 *
 * @param value The delay given by the caller.
 * @param advancing Whether a tick is in progress.
 * @returns The delay in whole milliseconds.
 */
export function timerDelay(value: unknown, advancing: boolean): number {
  const ms = typeof value === "number" ? value : Number(value);
  const clamped = ms > MAX_TIMER_DELAY ? 1 : ms >= 0 ? Math.trunc(ms) : 0;
  return clamped === 0 && advancing ? 1 : clamped;
}

/**
 * The pending fake timers, in firing order: earliest `callAt` first, and among timers due at the
 * same time the one scheduled (or re-armed) first.
 */
export class FakeTimerQueue {
  readonly #timers = new Map<number, FakeTimer>();
  #nextOrder = 0;

  /** How many timers are pending. */
  get size(): number {
    return this.#timers.size;
  }

  /**
   * Adds a timer.
   *
   * @param timer Everything but the id and the order, which the queue assigns.
   * @returns The timer as stored.
   */
  add(timer: Omit<FakeTimer, "id" | "order">): FakeTimer {
    const stored: FakeTimer = { ...timer, id: nextId++, order: this.#nextOrder++ };
    this.#timers.set(stored.id, stored);
    return stored;
  }

  /**
   * The pending timer with this id.
   *
   * @param id A timer id.
   * @returns The timer, or `undefined` when it fired (one-shot) or was cleared.
   */
  get(id: number): FakeTimer | undefined {
    return this.#timers.get(id);
  }

  /**
   * Removes a timer.
   *
   * @param id A timer id.
   * @returns Whether it was pending.
   */
  delete(id: number): boolean {
    return this.#timers.delete(id);
  }

  /**
   * Moves a timer to `callAt`, behind every timer already due then, and makes it pending again if
   * it was not (an interval about to fire, or a `refresh()` after the timer fired).
   *
   * @param timer The timer.
   * @param callAt When it fires next.
   */
  reschedule(timer: FakeTimer, callAt: number): void {
    timer.callAt = callAt;
    timer.order = this.#nextOrder++;
    this.#timers.set(timer.id, timer);
  }

  /**
   * The timer that fires first among those due at or before `upTo`. A linear scan: tests keep few
   * timers pending, and a scan needs no index to keep in step with clears and re-arms.
   *
   * @param upTo The latest due time considered.
   * @returns The timer, or `undefined` when none is due by then.
   */
  first(upTo: number = Infinity): FakeTimer | undefined {
    let first: FakeTimer | undefined;
    for (const timer of this.#timers.values()) {
      if (timer.callAt > upTo) continue;
      if (
        first === undefined || timer.callAt < first.callAt ||
        (timer.callAt === first.callAt && timer.order < first.order)
      ) {
        first = timer;
      }
    }
    return first;
  }

  /** Drops every pending timer: they will never fire. */
  clear(): void {
    this.#timers.clear();
  }
}

/** What a {@link FakeTimerHandle} asks of the clock that made it. */
export interface FakeTimerOwner {
  /** Cancels the timer. */
  clear(id: number): void;
  /** Re-arms the timer from the current fake time, even when it already fired. */
  refresh(timer: FakeTimer): void;
}

/**
 * What the fake `setTimeout`/`setInterval` return. Deno's own timers return a Node-style `Timeout`
 * object (with `ref`, `unref`, `hasRef`, `refresh`, `close`, `Symbol.dispose` and a numeric
 * primitive value), so the fake ones return the same shape: code that stores
 * `ReturnType<typeof setTimeout>` and calls those methods, or converts the handle to a number,
 * behaves the same under the fake clock.
 */
export class FakeTimerHandle {
  // The timer itself rather than its id: `refresh()` can re-arm a one-shot timer that fired and
  // left the queue, without the queue keeping every fired timer around.
  readonly #timer: FakeTimer;
  readonly #owner: FakeTimerOwner;
  #refed = true;

  /**
   * Creates a handle.
   *
   * @param timer The timer.
   * @param owner The clock that made it.
   */
  constructor(timer: FakeTimer, owner: FakeTimerOwner) {
    this.#timer = timer;
    this.#owner = owner;
  }

  /** The timer id. */
  get id(): number {
    return this.#timer.id;
  }

  /**
   * Marks the timer as keeping the process alive. A fake timer never does; the flag is only kept
   * for `hasRef()`.
   *
   * @returns This handle.
   */
  ref(): this {
    this.#refed = true;
    return this;
  }

  /**
   * Marks the timer as not keeping the process alive (see {@link FakeTimerHandle.ref}).
   *
   * @returns This handle.
   */
  unref(): this {
    this.#refed = false;
    return this;
  }

  /**
   * Whether `ref()` was called last (the default), rather than `unref()`.
   *
   * @returns The flag.
   */
  hasRef(): boolean {
    return this.#refed;
  }

  /**
   * Re-arms the timer with its delay from the current fake time, even when it already fired.
   *
   * @returns This handle.
   */
  refresh(): this {
    this.#owner.refresh(this.#timer);
    return this;
  }

  /**
   * Cancels the timer, as `clearTimeout(handle)` does.
   *
   * @returns This handle.
   */
  close(): this {
    this.#owner.clear(this.#timer.id);
    return this;
  }

  /** Cancels the timer. */
  [Symbol.dispose](): void {
    this.#owner.clear(this.#timer.id);
  }

  /**
   * The timer id, so that `+handle` and `clearTimeout(Number(handle))` work.
   *
   * @returns The id.
   */
  [Symbol.toPrimitive](): number {
    return this.#timer.id;
  }
}
