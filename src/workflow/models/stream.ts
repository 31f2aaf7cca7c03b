// Driving a stream state: pull items, process them (each bounded by the attempt timeout), flush
// per window, checkpoint the cursor of each flushed window, and drain cooperatively on cancel or
// total timeout (flush and commit the partial window, then `onClose("cancelled")`).
//
// Cancellation (and the total timeout, which aborts the same run signal) is checked *between*
// items, as in cano (§3.6): the item in flight is never raced against the run's signal, so it
// finishes and lands in the drained window — a resume starts after it and every item is processed
// once. Its `ctx.signal` does abort, so a cooperative item may end early; an item that then throws
// (or runs over its attempt timeout, which still bounds it) is abandoned: not buffered, its cursor
// not committed, so a resume processes it again. An item that ignores its signal and never
// settles holds the drain (cano waits too): bound `processItem` with `config.attemptTimeout`.
// Only `open()` and the wait for the next item are raced (a hung source stays cancellable), and
// lost ownership stops everything at once (the new owner redoes the item).

import { safeInstanceOf, safeString } from "../../describe.ts";
import { abortable, deadline, NEVER_ABORTED } from "../../async.ts";
import { CancelledError, CanoError, CheckpointStoreError, TimeoutError } from "../../errors.ts";
import type { WindowSignal } from "../../task/stream.ts";
import { invoke, type ResourceMap, type TaskContext } from "../../task/task.ts";
import { appendRow } from "../journal.ts";
import { contextFor, type Run, type StreamEntry } from "../run.ts";
import type { ProcessingModel } from "../model.ts";

const WINDOW_DUE = Symbol("window due");

/** Runs a stream state and returns the next state. */
export async function runStream<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  entry: StreamEntry,
): Promise<string> {
  const cursor = run.cursors.get(state);
  run.cursors.delete(state); // consumed once: a later visit reads from the start
  const stream = new StreamRun(run, state, entry);
  return await stream.drive(cursor);
}

class StreamRun<R extends ResourceMap> {
  readonly #run: Run<R>;
  readonly #state: string;
  readonly #entry: StreamEntry;
  #outputs: unknown[] = [];
  #cursor: unknown = undefined;
  #hasCursor = false;
  #errors = 0; // consecutive item errors

  constructor(run: Run<R>, state: string, entry: StreamEntry) {
    this.#run = run;
    this.#state = state;
    this.#entry = entry;
  }

  get #signal(): AbortSignal | undefined {
    return this.#run.signal;
  }

  #ctx(signal: AbortSignal = this.#signal ?? NEVER_ABORTED): TaskContext<string, unknown, R> {
    return contextFor(this.#run, this.#state, signal, 1);
  }

  async drive(startCursor: unknown): Promise<string> {
    const { task } = this.#entry;
    const opening = invoke((c) => task.open(c, startCursor), this.#ctx());
    let source: unknown;
    try {
      source = await abortable(opening, this.#signal);
    } catch (error) {
      // A hung open() is cancellable. The source never opened: nothing to flush and no onClose
      // (cano §3.6); should it open after all, it is closed at once.
      if (this.#signal?.aborted) void opening.then(closeLate, () => {});
      throw error;
    }
    const iterator = iteratorOf(this.#state, source);
    try {
      return await this.#loop(iterator);
    } finally {
      // Close the source whatever happened (a pending next() is left to settle on its own).
      void Promise.resolve().then(() => iterator.return?.()).catch(() => {});
    }
  }

  async #loop(iterator: AsyncIterator<unknown>): Promise<string> {
    const window = this.#entry.window;
    let pending: Promise<IteratorResult<unknown>> | undefined;
    let due = "duration" in window ? Date.now() + window.duration : undefined;
    for (;;) {
      if (this.#signal?.aborted) return await this.#cancelled();
      pending ??= iterator.next();
      let next: IteratorResult<unknown> | typeof WINDOW_DUE;
      try {
        next = await this.#nextOrDue(pending, due);
      } catch (error) {
        if (this.#signal?.aborted) return await this.#cancelled();
        throw error;
      }
      if (next === WINDOW_DUE) {
        // A tumbling window elapsed: flush what it holds (empty windows are skipped).
        due = Date.now() + (window as { duration: number }).duration;
        const stop = await this.#flush(false);
        if (stop !== undefined) return stop;
        continue;
      }
      pending = undefined;
      if (next.done) return await this.#exhausted();
      const held = this.#run.ownership?.confirm(); // each item is work: still ours?
      if (held !== undefined) await held;
      let buffered: boolean;
      try {
        buffered = await this.#process(next.value);
      } catch (error) {
        if (this.#signal?.aborted) return await this.#cancelled();
        throw error;
      }
      if (!buffered) continue;
      if ("count" in window && this.#outputs.length >= window.count) {
        const stop = await this.#flush(false);
        if (stop !== undefined) return stop;
      }
    }
  }

  /** The next item, or WINDOW_DUE when a duration window elapses first; aborts with the run. */
  #nextOrDue(
    pending: Promise<IteratorResult<unknown>>,
    due: number | undefined,
  ): Promise<IteratorResult<unknown> | typeof WINDOW_DUE> {
    if (due === undefined) return abortable(pending, this.#signal);
    const timer = deadline(Math.max(0, due - Date.now()), () => WINDOW_DUE, this.#signal);
    return abortable(pending, timer.signal)
      .catch((reason) => {
        if (reason === WINDOW_DUE && !this.#signal?.aborted) return WINDOW_DUE;
        throw reason;
      })
      .finally(timer.clear) as Promise<IteratorResult<unknown> | typeof WINDOW_DUE>;
  }

  /**
   * Processes one item under the item policy; returns whether it was buffered. The item is raced
   * only against its attempt timeout and lost ownership, never against a cancel or the total
   * timeout: those are honoured between items (see the top of this file).
   */
  async #process(item: unknown): Promise<boolean> {
    const { task, config, policy } = this.#entry;
    const limit = config.attemptTimeout;
    const lost = this.#run.ownership?.signal;
    const guard = limit === undefined ? undefined : deadline(
      limit,
      () => new TimeoutError(`Stream item exceeded its attempt timeout of ${limit} ms`),
      lost,
    );
    const race = guard?.signal ?? lost;
    try {
      const result = await abortable(
        invoke((c) => task.processItem(c, item), this.#ctx(itemSignal(race, this.#signal))),
        race,
      );
      const { output, cursor } = checkItemResult(this.#state, result);
      this.#outputs.push(output);
      this.#cursor = cursor;
      this.#hasCursor = true;
      this.#errors = 0;
      return true;
    } catch (error) {
      // Ended (or timed out) after the run was cancelled: abandoned, the loop drains.
      if (this.#signal?.aborted) throw error;
      if (policy === "failFast") throw error;
      if (policy === "skipAndContinue") return false;
      this.#errors += 1;
      if (this.#errors > policy.retryOnError) throw error;
      return false;
    } finally {
      guard?.clear();
    }
  }

  /**
   * Flushes the buffered outputs and commits the cursor of the window's last item. Returns the
   * state to stop in when `flushWindow` says so (ignored while draining).
   */
  async #flush(draining: boolean): Promise<string | undefined> {
    if (this.#outputs.length === 0) return undefined;
    const outputs = this.#outputs;
    this.#outputs = [];
    const signal: WindowSignal<string> = await invoke(
      (c) => this.#entry.task.flushWindow(c, outputs),
      this.#ctx(draining ? NEVER_ABORTED : undefined),
    );
    await this.#commit();
    if (draining || signal === "continue") return undefined;
    if (typeof signal === "object" && signal !== null && typeof signal.stop === "string") {
      return signal.stop;
    }
    throw new CanoError(
      `Stream task for state "${this.#state}" flushWindow must return "continue" or { stop: state }, received ${
        safeString(signal)
      }`,
      { category: "workflow" },
    );
  }

  async #commit(): Promise<void> {
    if (!this.#hasCursor) return;
    this.#hasCursor = false;
    // A stream given to plain `register` runs in memory (cano's companion): no cursor rows.
    if (!this.#entry.persist) return;
    // A durable cancel request (`requestCancel`) ends the run for good — whoever claims it next
    // rolls it back, never runs it forward — so its cursor has no reader, and the store refuses
    // it (a forward row) anyway: the drained window is flushed, its cursor not written.
    if (this.#run.ownership?.cancelled.aborted) return;
    try {
      await appendRow(
        this.#run,
        {
          kind: "step_cursor",
          state: this.#state,
          taskId: this.#entry.name,
          output: this.#cursor,
          data: this.#run.data,
        },
        "Append stream cursor checkpoint",
      );
    } catch (error) {
      // The same, when the request is first seen by this very write: the run is cancelled now
      // (the refusal aborted its signal), and the loop drains.
      if (refusedByCancelRequest(error)) return;
      throw error;
    }
  }

  async #exhausted(): Promise<string> {
    const stop = await this.#flush(false);
    if (stop !== undefined) return stop;
    return await invoke((c) => this.#entry.task.onClose(c, "exhausted"), this.#ctx());
  }

  /** The cooperative drain, then the run's abort reason (cancel or total timeout) is rethrown. */
  async #cancelled(): Promise<never> {
    await this.#drain();
    throw this.#signal?.reason;
  }

  /**
   * Flushes and commits the partial window, then `onClose("cancelled")` (its result ignored). A
   * failure of either ends the run with that error instead of as cancelled (cano §3.6): a failed
   * flush leaves the window uncommitted (it replays on resume) and still lets onClose run, best
   * effort — the flush error wins over a close error.
   */
  async #drain(): Promise<void> {
    // A run this process lost is not drained: flushing or closing is the new owner's to do.
    const lost = this.#run.ownership?.lost;
    if (lost !== undefined) throw lost;
    const close = (): Promise<unknown> =>
      invoke((c) => this.#entry.task.onClose(c, "cancelled"), this.#ctx(NEVER_ABORTED));
    try {
      await this.#flush(true);
    } catch (error) {
      await close().catch(() => {});
      throw new DrainFailure(error);
    }
    try {
      await close();
    } catch (error) {
      throw new DrainFailure(error);
    }
  }
}

/** A failure of the cooperative drain: the run ends with `error`, not as cancelled. */
export class DrainFailure {
  constructor(readonly error: unknown) {}
}

/**
 * The signal an item's context carries: it aborts with the run (cancel, total timeout, lost
 * ownership) or when the item's own race (attempt timeout) is lost.
 */
function itemSignal(race: AbortSignal | undefined, run: AbortSignal | undefined): AbortSignal {
  if (race === undefined || race === run) return run ?? NEVER_ABORTED;
  if (run === undefined) return race;
  return AbortSignal.any([race, run]);
}

/** Whether a cursor append was refused because a durable cancel request is on the run. */
function refusedByCancelRequest(error: unknown): boolean {
  return safeInstanceOf(error, CheckpointStoreError) &&
    safeInstanceOf((error as { cause?: unknown }).cause, CancelledError);
}

/** Closes a source that opened after the run stopped waiting for it (best effort). */
function closeLate(source: unknown): void {
  try {
    const iterable = source as Partial<AsyncIterable<unknown>> | null;
    const iterator = iterable?.[Symbol.asyncIterator]?.();
    void Promise.resolve(iterator?.return?.()).catch(() => {});
  } catch {
    // not an AsyncIterable, or a hostile one: nothing to close
  }
}

function iteratorOf(state: string, source: unknown): AsyncIterator<unknown> {
  const iterable = source as Partial<AsyncIterable<unknown>> | null;
  if (typeof iterable?.[Symbol.asyncIterator] !== "function") {
    throw new CanoError(`Stream task for state "${state}" open() must return an AsyncIterable`, {
      category: "workflow",
    });
  }
  return iterable[Symbol.asyncIterator]!();
}

function checkItemResult(state: string, result: unknown): { output: unknown; cursor: unknown } {
  if (typeof result !== "object" || result === null || !("output" in result)) {
    throw new CanoError(
      `Stream task for state "${state}" processItem must return { output, cursor }`,
      { category: "workflow" },
    );
  }
  return result as { output: unknown; cursor: unknown };
}

/** `registerStream`. */
export const streamModel: ProcessingModel<StreamEntry> = {
  journaled: true,
  framed: true,
  run: runStream,
};
