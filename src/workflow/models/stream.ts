// Driving a stream state: pull items, process them (each bounded by the attempt timeout), flush
// per window, checkpoint the cursor of each flushed window, and drain cooperatively on cancel or
// total timeout (flush and commit the partial window, then `onClose("cancelled")`).

import { safeString } from "../../describe.ts";
import { abortable, deadline, NEVER_ABORTED } from "../../async.ts";
import { CanoError, TimeoutError } from "../../errors.ts";
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
    let iterator: AsyncIterator<unknown>;
    try {
      const source = await abortable(
        invoke((c) => task.open(c, startCursor), this.#ctx()),
        this.#signal,
      );
      iterator = iteratorOf(this.#state, source);
    } catch (error) {
      if (this.#signal?.aborted) await this.#drain();
      throw error;
    }
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

  /** Processes one item under the item policy; returns whether it was buffered. */
  async #process(item: unknown): Promise<boolean> {
    const { task, config, policy } = this.#entry;
    const limit = config.attemptTimeout;
    const guard = limit === undefined ? undefined : deadline(
      limit,
      () => new TimeoutError(`Stream item exceeded its attempt timeout of ${limit} ms`),
      this.#signal,
    );
    const signal = guard?.signal ?? this.#signal;
    try {
      const result = await abortable(
        invoke((c) => task.processItem(c, item), this.#ctx(signal ?? NEVER_ABORTED)),
        signal,
      );
      const { output, cursor } = checkItemResult(this.#state, result);
      this.#outputs.push(output);
      this.#cursor = cursor;
      this.#hasCursor = true;
      this.#errors = 0;
      return true;
    } catch (error) {
      if (this.#signal?.aborted) throw error; // the loop drains on its next turn
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

  async #drain(): Promise<void> {
    // A run this process lost is not drained: flushing or closing is the new owner's to do.
    const lost = this.#run.ownership?.lost;
    if (lost !== undefined) throw lost;
    const close = (): Promise<unknown> =>
      invoke((c) => this.#entry.task.onClose(c, "cancelled"), this.#ctx(NEVER_ABORTED));
    try {
      await this.#flush(true);
    } catch (error) {
      // The window stays uncommitted (it replays on resume); onClose still gets its chance, and
      // the run fails with the flush error rather than as cancelled (cano §3.6).
      await close().catch(() => {});
      throw new DrainFailure(error);
    }
    await close();
  }
}

/** A failure of the cooperative drain: the run ends with `error`, not as cancelled. */
export class DrainFailure {
  constructor(readonly error: unknown) {}
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
