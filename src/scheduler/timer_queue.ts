// One timer for many sleepers: a binary min-heap of due times (ms since the epoch, as Date.now())
// with a single pending `setTimeout` armed for the earliest. Only the global setTimeout,
// clearTimeout and Date.now are used, so fake clocks drive it.

import { safeString } from "../describe.ts";
/** The longest single `setTimeout`: longer sleeps are taken in chunks (also resyncs the clock). */
const MAX_CHUNK = 60_000;

/** A scheduled callback; pass it to {@link TimerQueue.cancel} to unschedule it. */
export interface TimerEntry {
  /** When the callback is due, in ms since the epoch. */
  readonly due: number;
}

interface Slot extends TimerEntry {
  due: number;
  seq: number;
  readonly callback: () => void;
  /** Position in the heap; -1 once popped or cancelled. */
  index: number;
}

/**
 * Runs callbacks at (or after) their due time with a single pending `setTimeout`, however many
 * callbacks are scheduled. Entries due at the same time run in scheduling order.
 */
export class TimerQueue {
  #heap: Slot[] = [];
  #seq = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The due time the pending timer was armed for. */
  #armedFor = Infinity;
  #firing = false;
  readonly #onError: (error: unknown) => void;

  /** @param onError Receives anything a callback throws (default: `console.error`). */
  constructor(onError: (error: unknown) => void = reportError) {
    this.#onError = onError;
  }

  /** How many callbacks are scheduled. */
  get size(): number {
    return this.#heap.length;
  }

  /** The earliest due time, or `undefined` when nothing is scheduled. */
  get nextDue(): number | undefined {
    return this.#heap[0]?.due;
  }

  /** Whether a `setTimeout` is pending (for tests: at most one ever is). */
  get armed(): boolean {
    return this.#timer !== undefined;
  }

  /**
   * Schedules `callback` to run once `Date.now() >= due`.
   *
   * @param due The due time in ms since the epoch.
   * @param callback The callback; what it throws goes to `onError`.
   * @returns The entry, for {@link TimerQueue.cancel}.
   */
  schedule(due: number, callback: () => void): TimerEntry {
    const slot: Slot = { due, seq: this.#seq++, callback, index: this.#heap.length };
    this.#heap.push(slot);
    this.#up(slot.index);
    if (!this.#firing) this.#arm();
    return slot;
  }

  /**
   * Schedules an entry again, at a new due time, reusing it (no allocation): the way to re-arm a
   * recurring callback. An entry still scheduled is moved.
   *
   * @param entry An entry returned by {@link TimerQueue.schedule}.
   * @param due The new due time in ms since the epoch.
   */
  reschedule(entry: TimerEntry, due: number): void {
    const slot = entry as Slot;
    if (slot.index >= 0 && this.#heap[slot.index] === slot) this.#remove(slot);
    slot.due = due;
    slot.seq = this.#seq++;
    slot.index = this.#heap.length;
    this.#heap.push(slot);
    this.#up(slot.index);
    if (!this.#firing) this.#arm();
  }

  /**
   * Whether an entry is waiting to fire.
   *
   * @param entry An entry returned by {@link TimerQueue.schedule}.
   * @returns `true` until it fires or is cancelled.
   */
  isScheduled(entry: TimerEntry): boolean {
    const slot = entry as Slot;
    return slot.index >= 0 && this.#heap[slot.index] === slot;
  }

  /**
   * Unschedules an entry.
   *
   * @param entry An entry returned by {@link TimerQueue.schedule}.
   * @returns `true` if it was still scheduled.
   */
  cancel(entry: TimerEntry): boolean {
    if (!this.isScheduled(entry)) return false;
    this.#remove(entry as Slot);
    if (!this.#firing) this.#arm();
    return true;
  }

  /** Unschedules everything and releases the timer. */
  clear(): void {
    for (const slot of this.#heap) slot.index = -1;
    this.#heap = [];
    this.#disarm();
  }

  #arm(): void {
    const head = this.#heap[0];
    if (head === undefined) {
      this.#disarm();
      return;
    }
    // A timer armed for an earlier time can stay: it fires, finds nothing due and re-arms.
    if (this.#timer !== undefined && this.#armedFor <= head.due) return;
    this.#disarm();
    const wait = Math.min(Math.max(head.due - Date.now(), 0), MAX_CHUNK);
    this.#armedFor = wait === MAX_CHUNK ? Date.now() + MAX_CHUNK : head.due;
    this.#timer = setTimeout(() => this.#fire(), wait);
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedFor = Infinity;
    const now = Date.now();
    const due: Slot[] = [];
    while (this.#heap.length > 0 && this.#heap[0]!.due <= now) due.push(this.#pop());
    this.#firing = true;
    try {
      for (const slot of due) {
        try {
          slot.callback();
        } catch (error) {
          this.#onError(error);
        }
      }
    } finally {
      this.#firing = false;
      this.#arm();
    }
  }

  #remove(slot: Slot): void {
    const index = slot.index;
    const last = this.#heap.pop()!;
    slot.index = -1;
    if (last !== slot) {
      this.#heap[index] = last;
      last.index = index;
      this.#down(index);
      this.#up(last.index);
    }
  }

  #pop(): Slot {
    const top = this.#heap[0]!;
    const last = this.#heap.pop()!;
    top.index = -1;
    if (last !== top) {
      this.#heap[0] = last;
      last.index = 0;
      this.#down(0);
    }
    return top;
  }

  #less(a: Slot, b: Slot): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  #up(index: number): void {
    const heap = this.#heap;
    const slot = heap[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex]!;
      if (!this.#less(slot, parent)) break;
      heap[index] = parent;
      parent.index = index;
      index = parentIndex;
    }
    heap[index] = slot;
    slot.index = index;
  }

  #down(index: number): void {
    const heap = this.#heap;
    const length = heap.length;
    const slot = heap[index]!;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && this.#less(heap[right]!, heap[left]!) ? right : left;
      if (!this.#less(heap[child]!, slot)) break;
      heap[index] = heap[child]!;
      heap[index]!.index = index;
      index = child;
    }
    heap[index] = slot;
    slot.index = index;
  }
}

/** The default error report: never throws, whatever was thrown (a console may fail to inspect). */
function reportError(error: unknown): void {
  try {
    console.error(error);
  } catch {
    console.error(`cano: a timer callback threw: ${safeString(error)}`);
  }
}
