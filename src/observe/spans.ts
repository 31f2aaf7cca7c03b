// The span side of the reporter seam. A run takes a snapshot of its workflow's span consumers
// when it starts (`Spans`), so that a consumer attached or detached mid-run never sees half a
// tree; with no span consumer the snapshot is `undefined` and the engine skips every span call
// (and keeps its fast paths). Parents are explicit — a span's handle is passed to its children —
// so the tree is right whatever context manager is (or is not) installed.

import { safeInstanceOf } from "../describe.ts";
import { consumerFailed, type SpanConsumer, type SpanEnd, type SpanInfo } from "./consumer.ts";

/** An open span: one handle per consumer of the snapshot, in order. */
export type Span = readonly unknown[];

const COMPLETED: SpanEnd = Object.freeze({ failed: false, outcome: "completed" });

/** The span consumers of one run, fixed at its start. */
export class Spans {
  readonly #consumers: readonly SpanConsumer[];

  /** @param consumers The consumers, in attach order (at least one). */
  constructor(consumers: readonly SpanConsumer[]) {
    this.#consumers = consumers;
  }

  /** Opens a span under `parent` (a run span has none). */
  start(info: SpanInfo, parent: Span | undefined): Span {
    const consumers = this.#consumers;
    const handles = new Array<unknown>(consumers.length);
    for (let i = 0; i < consumers.length; i++) {
      try {
        handles[i] = consumers[i]!.start(info, parent?.[i]);
      } catch (error) {
        consumerFailed("start", error);
      }
    }
    return handles;
  }

  /** Whether any consumer wants the children of `span` (see `SpanConsumer.wantsChildren`). */
  wantsChildren(span: Span): boolean {
    const consumers = this.#consumers;
    for (let i = 0; i < consumers.length; i++) {
      const consumer = consumers[i]!;
      try {
        if (consumer.wantsChildren === undefined || consumer.wantsChildren(span[i])) return true;
      } catch (error) {
        consumerFailed("wantsChildren", error);
        return true;
      }
    }
    return false;
  }

  /** Closes `span` (nothing for `undefined`). */
  end(span: Span | undefined, end: SpanEnd = COMPLETED): void {
    if (span === undefined) return;
    const consumers = this.#consumers;
    for (let i = 0; i < consumers.length; i++) {
      try {
        consumers[i]!.end(span[i], end);
      } catch (error) {
        consumerFailed("end", error);
      }
    }
  }

  /** Runs `fn` with `span` active in every consumer (the user's own spans nest under it). */
  within<T>(span: Span, fn: () => T): T {
    const consumers = this.#consumers;
    if (consumers.length === 1) {
      // The common case, without the chain of closures below.
      let called = false;
      try {
        return consumers[0]!.within(span[0], () => {
          called = true;
          return fn();
        });
      } catch (error) {
        if (called) throw error;
        consumerFailed("within", error);
        return fn();
      }
    }
    let run = fn;
    // Innermost first: the first consumer's context is the outermost.
    for (let i = this.#consumers.length - 1; i >= 0; i--) {
      const consumer = this.#consumers[i]!;
      const inner = run;
      run = () => {
        let called = false;
        try {
          return consumer.within(span[i], () => {
            called = true;
            return inner();
          });
        } catch (error) {
          // What `fn` threw is the caller's; a consumer that failed before calling it is not.
          if (called) throw error;
          consumerFailed("within", error);
          return inner();
        }
      };
    }
    return run();
  }

  /**
   * Runs `fn` inside a new span under `parent`, active while it runs, and closes the span when
   * `fn` returns, throws, or settles (a promise is returned as it is: the caller awaits the very
   * promise `fn` returned). With `signal`, the span also closes, failed with its reason, when
   * the signal aborts first (an attempt timed out or cancelled while its task runs on).
   */
  around<T>(
    info: SpanInfo,
    parent: Span | undefined,
    fn: (span: Span) => T,
    signal?: AbortSignal,
  ): T {
    const span = this.start(info, parent);
    let open = true;
    const close = (end: SpanEnd): void => {
      if (!open) return;
      open = false;
      signal?.removeEventListener("abort", onAbort);
      this.end(span, end);
    };
    const onAbort = (): void => close({ failed: true, error: signal?.reason, outcome: "failed" });
    let result: T;
    try {
      result = this.within(span, () => fn(span));
    } catch (error) {
      close({ failed: true, error, outcome: "failed" });
      throw error;
    }
    if (!safeInstanceOf(result, Promise)) {
      close(COMPLETED);
      return result;
    }
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
    // The native `then`: a promise's own could be overridden.
    Promise.prototype.then.call(
      result,
      () => close(COMPLETED),
      (error) => close({ failed: true, error, outcome: "failed" }),
    );
    return result;
  }
}
