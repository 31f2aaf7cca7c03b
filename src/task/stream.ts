import type { ResourceMap, TaskConfig, TaskContext } from "./task.ts";

/**
 * When a stream task flushes its buffered outputs: after `count` successful items, or every
 * `duration` milliseconds (tumbling; empty windows are skipped).
 */
export type StreamWindow = { count: number } | { duration: number };

/**
 * What happens when `processItem` fails (or exceeds the attempt timeout): fail the run at once,
 * drop the item and go on, or tolerate up to `retryOnError` consecutive failures (failed items
 * are dropped, never re-read).
 */
export type StreamErrorPolicy = "failFast" | "skipAndContinue" | { retryOnError: number };

/** What `flushWindow` decides: keep reading, or stop and move to a state. */
export type WindowSignal<N extends string> = "continue" | { stop: N };

/** Why a stream was closed: its source ran out, or the run was cancelled (or timed out). */
export type CloseReason = "exhausted" | "cancelled";

/** One processed item: its output, and the cursor to resume after it. */
export interface StreamItemResult<O, C> {
  /** Buffered until the window flushes. */
  output: O;
  /** Committed (checkpointed) when the item's window is flushed. */
  cursor: C;
}

/**
 * An engine-driven stream: `open` returns any `AsyncIterable` starting after `cursor`, each item
 * goes through `processItem`, outputs are flushed per window by `flushWindow`, and the cursor of a
 * flushed window's last item is checkpointed, so a resumed run re-opens the source there.
 *
 * Cancellation (and the total timeout) is checked between items, as in cano: the item in flight
 * finishes, the partial window is flushed and its cursor committed, then `onClose("cancelled")`
 * runs (its result is ignored) and the run ends cancelled (or timed out) — a resume starts right
 * after that item, so nothing is processed twice. The item's `ctx.signal` aborts at the cancel: an
 * item may use it to end early, and an item that then throws (or exceeds `attemptTimeout`, which
 * still bounds it) is dropped uncommitted and processed again on resume. An item that ignores its
 * signal and never settles holds the run until it does: bound it with `attemptTimeout`. A cancel
 * while `open()` is pending ends the run at once without `onClose` (nothing was opened). If the
 * drain's `flushWindow` or `onClose` throws, the run fails with that error instead (after a failed
 * flush `onClose` still runs, and the window stays uncommitted). A durable cancel request
 * (`requestCancel`) drains the same way but commits no cursor: such a run never runs forward again.
 *
 * Delivery is at least once: a crash replays the window that was not committed, so `open`,
 * `processItem` and `flushWindow` must be idempotent.
 *
 * @typeParam I Item type. @typeParam O Output type. @typeParam C Cursor type (JSON-serialisable).
 * @typeParam N The states it may move to.
 */
export interface StreamTask<
  I = unknown,
  O = unknown,
  C = unknown,
  N extends string = string,
  S extends string = string,
  D = unknown,
  R extends ResourceMap = ResourceMap,
> {
  /** Task id for events and checkpoint rows; defaults to the registered state. */
  name?: string;
  /** Only `attemptTimeout` applies, to each `processItem` call (default: `TaskConfig.minimal()`). */
  config?: TaskConfig;
  /** When to flush (default `{ count: 1 }`). */
  window?: StreamWindow;
  /** What to do with failing items (default `"failFast"`). */
  onItemError?: StreamErrorPolicy;
  /** Opens the source after `cursor` (`undefined` on a fresh start). */
  open(
    ctx: TaskContext<S, D, R>,
    cursor: C | undefined,
  ): AsyncIterable<I> | Promise<AsyncIterable<I>>;
  /**
   * Processes one item. Never interrupted by a cancel or the total timeout (its `ctx.signal`
   * aborts, for an item that can stop early); bounded by `config.attemptTimeout`.
   */
  processItem(
    ctx: TaskContext<S, D, R>,
    item: I,
  ): StreamItemResult<O, C> | Promise<StreamItemResult<O, C>>;
  /** Handles a window of outputs; may stop the stream. */
  flushWindow(ctx: TaskContext<S, D, R>, outputs: O[]): WindowSignal<N> | Promise<WindowSignal<N>>;
  /**
   * Called when the source is exhausted (returns the next state) or, after the drain's flush, when
   * the run is cancelled or times out (the result is ignored; a throw becomes the run's error).
   * Not called for a source whose `open()` was still pending.
   */
  onClose(ctx: TaskContext<S, D, R>, reason: CloseReason): N | Promise<N>;
}
