// One timer for many sleepers: the entries grouped by due time (ms since the epoch, as Date.now())
// in buckets, a binary min-heap of the buckets, and a single pending `setTimeout` armed for the
// earliest. Only the global setTimeout, clearTimeout and Date.now are used, so fake clocks drive
// it.
//
// Why buckets: the schedules that load a scheduler share due times — every flow of a per-second
// cron is due on the same second, and 100 000 interval flows put ~100 due times in each ms. A
// bucket holds them in scheduling order, so scheduling an entry is a map lookup and an append
// (a heap insertion only for a new due time), and a timer turn takes whole buckets off the heap:
// a turn with thousands of entries costs a heap operation per due time, not per entry.

import { safeString } from "../describe.ts";

/** The longest single `setTimeout`: longer sleeps are taken in chunks (also resyncs the clock). */
const MAX_CHUNK = 60_000;

/** A scheduled callback; pass it to {@link TimerQueue.cancel} to unschedule it. */
export interface TimerEntry {
  /** When the callback is due, in ms since the epoch. */
  readonly due: number;
}

/** Where an entry is: in no bucket, waiting in one, or in a bucket the current turn runs. */
const IDLE = 0;
const SCHEDULED = 1;
const FIRING = 2;

interface Bucket {
  readonly due: number;
  /** The entries due then, in scheduling order; one cancelled leaves a hole. */
  slots: (Slot | undefined)[];
  /** Entries still in `slots`. */
  live: number;
  /** Position in the heap; -1 once taken by a turn or emptied. */
  index: number;
}

interface Slot extends TimerEntry {
  due: number;
  readonly callback: () => void;
  state: typeof IDLE | typeof SCHEDULED | typeof FIRING;
  bucket: Bucket | undefined;
  /** Position in its bucket's `slots`. */
  pos: number;
}

/**
 * Runs callbacks at (or after) their due time with a single pending `setTimeout`, however many
 * callbacks are scheduled. Entries due at the same time run in scheduling order. With a `gap`, a
 * turn never follows the previous one sooner than that: entries due in between wait for one turn
 * together (each wake of the process has a fixed cost; the gap bounds how many there are). With a
 * `maxGap` too, the gap adapts to the rate at which entries come due: it is the time in which
 * about `batch` entries come due, between `gap` and `maxGap` — long when turns would be small (a
 * wake then costs more than its callbacks), short when they are large (lateness then matters more
 * than the wakes, whose cost the many callbacks share).
 */
export class TimerQueue {
  #heap: Bucket[] = [];
  #buckets = new Map<number, Bucket>();
  /** The bucket the last entry went to (see #add). */
  #last: Bucket | undefined;
  #size = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The time the pending timer was armed for. */
  #armedFor = Infinity;
  #firing = false;
  /** The buckets the current turn took off the heap, in due order (reused from turn to turn). */
  readonly #batch: (Bucket | undefined)[] = [];
  /** The bucket of `#batch` the current turn is at, and how many buckets it holds. */
  #at = 0;
  #count = 0;
  readonly #onError: (error: unknown) => void;
  /** The least gap, the most (equal: a fixed gap) and the turn size the adaptive gap aims at. */
  readonly #minGap: number;
  readonly #maxGap: number;
  readonly #perTurn: number;
  /** The gap in force: `#minGap`…`#maxGap`, from `#rate`. */
  #gap: number;
  /** Entries run per ms, a moving average over the recent turns (adaptive gap only). */
  #rate = 0;
  /** When the last turn ran (ms since the epoch). */
  #lastTurn = -Infinity;
  readonly #onTimeout = (): void => this.#fire();

  /**
   * @param onError Receives anything a callback throws (default: `console.error`).
   * @param options `gap`: the least time between the starts of two timer turns, in ms (default
   * 0: every entry runs at its due time, give or take the timer's own lateness); `maxGap`: the
   * most, for a gap that adapts to the rate entries come due at (default: `gap`, fixed);
   * `batch`: the number of entries an adaptive gap aims to run per turn (default 200).
   */
  constructor(
    onError: (error: unknown) => void = reportError,
    options: { gap?: number; maxGap?: number; batch?: number } = {},
  ) {
    this.#onError = onError;
    this.#minGap = options.gap ?? 0;
    this.#maxGap = Math.max(options.maxGap ?? this.#minGap, this.#minGap);
    this.#perTurn = options.batch ?? 200;
    this.#gap = this.#maxGap;
  }

  /** The least time between two turns now, in ms (for tests and benchmarks). */
  get gap(): number {
    return this.#gap;
  }

  /** How many callbacks are scheduled. */
  get size(): number {
    return this.#size;
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
    const slot: Slot = { due, callback, state: IDLE, bucket: undefined, pos: -1 };
    this.#add(slot, due);
    if (!this.#firing) this.#arm();
    return slot;
  }

  /**
   * Schedules an entry again, at a new due time, reusing it: the way to re-arm a recurring
   * callback (it allocates at most a bucket, for a due time nothing else has). An entry still
   * scheduled is moved (after the others due then).
   *
   * @param entry An entry returned by {@link TimerQueue.schedule}.
   * @param due The new due time in ms since the epoch.
   */
  reschedule(entry: TimerEntry, due: number): void {
    const slot = entry as Slot;
    this.#unlink(slot); // one still due in the current turn no longer runs there
    this.#add(slot, due);
    if (!this.#firing) this.#arm();
  }

  /**
   * Whether an entry is waiting to fire.
   *
   * @param entry An entry returned by {@link TimerQueue.schedule}.
   * @returns `true` until it fires or is cancelled.
   */
  isScheduled(entry: TimerEntry): boolean {
    return (entry as Slot).state === SCHEDULED;
  }

  /**
   * Unschedules an entry, also one already due whose callback has not run yet in the current
   * timer turn.
   *
   * @param entry An entry returned by {@link TimerQueue.schedule}.
   * @returns `true` if it was still scheduled.
   */
  cancel(entry: TimerEntry): boolean {
    const slot = entry as Slot;
    if (slot.state === IDLE) return false;
    this.#unlink(slot);
    if (!this.#firing) this.#arm();
    return true;
  }

  /** Unschedules everything (the rest of the current turn too) and releases the timer. */
  clear(): void {
    for (const bucket of this.#heap) release(bucket);
    for (let i = this.#at; i < this.#count; i++) release(this.#batch[i]!);
    this.#heap = [];
    this.#buckets.clear();
    this.#last = undefined;
    this.#size = 0;
    this.#disarm();
  }

  /** Puts an entry that is in no bucket into the bucket of `due`, after the others there. */
  #add(slot: Slot, due: number): void {
    // Entries re-armed one after another mostly land in the same bucket (runs that end in the
    // same ms, a cron tick): the last bucket is tried before the map.
    let bucket = this.#last;
    if (bucket === undefined || bucket.due !== due || bucket.index < 0) {
      bucket = this.#buckets.get(due);
      if (bucket === undefined) {
        bucket = { due, slots: [], live: 0, index: this.#heap.length };
        this.#buckets.set(due, bucket);
        this.#heap.push(bucket);
        this.#up(bucket.index);
      }
      this.#last = bucket;
    }
    slot.due = due;
    slot.state = SCHEDULED;
    slot.bucket = bucket;
    slot.pos = bucket.slots.length;
    bucket.slots.push(slot);
    bucket.live++;
    this.#size++;
  }

  /** Takes an entry out of its bucket (a bucket left empty leaves the heap). */
  #unlink(slot: Slot): void {
    const bucket = slot.bucket;
    const state = slot.state;
    slot.state = IDLE;
    slot.bucket = undefined;
    if (bucket === undefined) return;
    bucket.slots[slot.pos] = undefined; // a hole: the turn that runs the bucket skips it
    if (state !== SCHEDULED) return; // FIRING: the turn owns the bucket
    this.#size--;
    if (--bucket.live === 0) {
      this.#buckets.delete(bucket.due);
      this.#removeAt(bucket.index);
    } else if (bucket.slots.length > 2 * bucket.live + 16) {
      // Entries moved again and again to the same due time must not grow it for ever.
      const slots = bucket.slots.filter((kept) => kept !== undefined);
      for (const [pos, kept] of slots.entries()) kept.pos = pos;
      bucket.slots = slots;
    }
  }

  #arm(): void {
    const head = this.#heap[0];
    if (head === undefined) {
      this.#disarm();
      return;
    }
    // Never sooner than `gap` after the last turn: entries due in between wait for one turn.
    const at = head.due > this.#lastTurn + this.#gap ? head.due : this.#lastTurn + this.#gap;
    // A timer armed for an earlier time can stay: it fires, finds nothing due and re-arms.
    if (this.#timer !== undefined && this.#armedFor <= at) return;
    this.#disarm();
    const now = Date.now();
    const wait = Math.min(Math.max(at - now, 0), MAX_CHUNK);
    this.#armedFor = wait === MAX_CHUNK ? now + MAX_CHUNK : at;
    this.#timer = setTimeout(this.#onTimeout, wait);
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
    const since = now - this.#lastTurn;
    this.#lastTurn = now;
    // The turn's entries are taken before any callback runs: an entry a callback schedules for
    // now waits for the next turn, so a callback that keeps re-arming itself cannot starve the
    // event loop.
    const batch = this.#batch;
    let count = 0;
    while (this.#heap.length > 0 && this.#heap[0]!.due <= now) {
      const bucket = this.#heap[0]!;
      this.#buckets.delete(bucket.due);
      this.#removeAt(0);
      for (const slot of bucket.slots) if (slot !== undefined) slot.state = FIRING;
      this.#size -= bucket.live;
      batch[count++] = bucket;
    }
    this.#at = 0;
    this.#count = count;
    if (this.#maxGap > this.#minGap) this.#adapt(batch, count, since);
    let pos = 0;
    this.#firing = true;
    try {
      for (; this.#at < this.#count; this.#at++, pos = 0) {
        const slots = batch[this.#at]!.slots;
        while (pos < slots.length) {
          const slot = slots[pos++];
          if (slot === undefined || slot.state !== FIRING) continue; // cancelled or moved
          slot.state = IDLE;
          slot.bucket = undefined;
          try {
            slot.callback();
          } catch (error) {
            this.#onError(error);
          }
        }
        batch[this.#at] = undefined;
      }
    } finally {
      // Only reached with entries left when onError itself threw: they run in the next turn.
      for (; this.#at < this.#count; this.#at++, pos = 0) {
        const slots = batch[this.#at]!.slots;
        for (; pos < slots.length; pos++) {
          const slot = slots[pos];
          if (slot !== undefined && slot.state === FIRING) {
            slot.state = IDLE;
            this.#add(slot, slot.due);
          }
        }
        batch[this.#at] = undefined;
      }
      this.#at = this.#count = 0;
      this.#firing = false;
      this.#arm();
    }
  }

  /**
   * Updates the rate estimate with this turn (its live entries over the time since the last turn)
   * and the gap from it: the time `#perTurn` entries take to come due, within the bounds.
   */
  #adapt(buckets: readonly (Bucket | undefined)[], count: number, since: number): void {
    let entries = 0;
    for (let i = 0; i < count; i++) entries += buckets[i]!.live;
    const sample = since === Infinity ? 0 : entries / Math.max(since, 1);
    this.#rate += 0.25 * (sample - this.#rate);
    const gap = this.#rate > 0 ? this.#perTurn / this.#rate : Infinity;
    this.#gap = gap < this.#minGap ? this.#minGap : gap > this.#maxGap ? this.#maxGap : gap;
  }

  /** Removes the bucket at `index` from the heap. */
  #removeAt(index: number): void {
    const heap = this.#heap;
    const bucket = heap[index]!;
    const last = heap.pop()!;
    bucket.index = -1;
    if (last !== bucket) {
      heap[index] = last;
      last.index = index;
      this.#down(index);
      this.#up(last.index);
    }
  }

  #up(index: number): void {
    const heap = this.#heap;
    const bucket = heap[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex]!;
      if (!(bucket.due < parent.due)) break;
      heap[index] = parent;
      parent.index = index;
      index = parentIndex;
    }
    heap[index] = bucket;
    bucket.index = index;
  }

  #down(index: number): void {
    const heap = this.#heap;
    const length = heap.length;
    const bucket = heap[index]!;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && heap[right]!.due < heap[left]!.due ? right : left;
      if (!(heap[child]!.due < bucket.due)) break;
      heap[index] = heap[child]!;
      heap[index]!.index = index;
      index = child;
    }
    heap[index] = bucket;
    bucket.index = index;
  }
}

/** Marks every entry of a bucket the queue drops as unscheduled. */
function release(bucket: Bucket): void {
  for (const slot of bucket.slots) {
    if (slot !== undefined) {
      slot.state = IDLE;
      slot.bucket = undefined;
    }
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
