import { safeInstanceOf } from "./describe.ts";
import { messageOf } from "./errors.ts";

/** A listener for events of type `E`: a function or an object with `handleEvent`. */
export type TypedListener<E extends Event> =
  | ((event: E) => unknown)
  | { handleEvent(event: E): unknown };

/**
 * Dispatched on a {@link SafeEventTarget} when one of its listeners throws (or its returned promise
 * rejects). The run that dispatched the original event is not affected.
 *
 * @example Observe listener failures
 * ```ts
 * import { ListenerErrorEvent } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const event = new ListenerErrorEvent(new Error("bad listener"), "stateenter");
 * assert.equal(event.eventType, "stateenter");
 * ```
 */
export class ListenerErrorEvent extends Event {
  /** What the listener threw. */
  readonly error: unknown;
  /** The type of the event the listener was handling. */
  readonly eventType: string;

  /**
   * Creates the event.
   *
   * @param error What the listener threw.
   * @param eventType The type of the event being handled.
   */
  constructor(error: unknown, eventType: string) {
    super("listenererror");
    this.error = error;
    this.eventType = eventType;
  }
}

/** The events every {@link SafeEventTarget} may dispatch, whatever its own map. */
export interface SafeEventTargetEventMap {
  /** A listener threw. */
  listenererror: ListenerErrorEvent;
}

type Wrapped = (event: Event) => void;

/**
 * An `EventTarget` whose listeners cannot hurt the dispatcher: a listener that throws, or returns a
 * promise that rejects, is reported to `console.error` and as a `listenererror` event instead of
 * crashing the process (which is what a throwing listener on a plain `EventTarget` does in Deno).
 * `addEventListener` is typed by the event map `M`, as the DOM does.
 *
 * @typeParam M Event type name → event class.
 *
 * @example A throwing listener is isolated
 * ```ts
 * import { SafeEventTarget } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const target = new SafeEventTarget<{ ping: Event }>();
 * const seen: string[] = [];
 * target.addEventListener("listenererror", (e) => seen.push(String(e.error)));
 * target.addEventListener("ping", () => {
 *   throw new Error("boom");
 * });
 * const originalError = console.error;
 * console.error = () => {}; // keep the doc test quiet
 * target.dispatchEvent(new Event("ping"));
 * console.error = originalError;
 * assert.deepEqual(seen, ["Error: boom"]);
 * ```
 */
export class SafeEventTarget<M extends object = Record<never, never>> extends EventTarget {
  // type → capture flag → original listener → wrapper registered with the native target.
  #wrappers = new Map<string, Map<unknown, Wrapped>>();
  #counts = new Map<string, number>();

  /**
   * Adds a listener, typed by the event map.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options As for `EventTarget.addEventListener`.
   */
  override addEventListener<K extends keyof (M & SafeEventTargetEventMap) & string>(
    type: K,
    listener: TypedListener<Extract<(M & SafeEventTargetEventMap)[K], Event>> | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  /**
   * Adds a listener for an event type outside the map.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options As for `EventTarget.addEventListener`.
   */
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: TypedListener<Event> | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    if (listener === null) return;
    const capture = typeof options === "boolean" ? options : options?.capture ?? false;
    const once = typeof options === "object" && options.once === true;
    const signal = typeof options === "object" ? options.signal : undefined;
    if (signal?.aborted) return;
    const slot = this.#slot(type, capture);
    if (slot.has(listener)) return; // the native target ignores duplicates too
    const wrapper: Wrapped = (event) => {
      if (once) this.#forget(type, capture, listener);
      this.#invoke(listener, event);
    };
    slot.set(listener, wrapper);
    this.#counts.set(type, (this.#counts.get(type) ?? 0) + 1);
    super.addEventListener(type, wrapper, { capture, once });
    // The signal is handled here rather than passed on, so the bookkeeping and the native
    // registration are always removed together.
    signal?.addEventListener("abort", () => this.removeEventListener(type, listener, capture), {
      once: true,
    });
  }

  /**
   * Removes a listener added with {@link SafeEventTarget.addEventListener}.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options As for `EventTarget.removeEventListener`.
   */
  override removeEventListener<K extends keyof (M & SafeEventTargetEventMap) & string>(
    type: K,
    listener: TypedListener<Extract<(M & SafeEventTargetEventMap)[K], Event>> | null,
    options?: boolean | EventListenerOptions,
  ): void;
  /**
   * Removes a listener for an event type outside the map.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options As for `EventTarget.removeEventListener`.
   */
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener: TypedListener<Event> | null,
    options?: boolean | EventListenerOptions,
  ): void {
    if (listener === null) return;
    const capture = typeof options === "boolean" ? options : options?.capture ?? false;
    const wrapper = this.#forget(type, capture, listener);
    if (wrapper !== undefined) super.removeEventListener(type, wrapper, options);
  }

  /**
   * Whether any listener is attached for `type`. Dispatchers check it first so that an event
   * nobody listens to costs nothing to build.
   *
   * @param type The event type.
   * @returns `true` when at least one listener is attached.
   *
   * @example Skip building unobserved events
   * ```ts
   * import { SafeEventTarget } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const target = new SafeEventTarget<{ tick: Event }>();
   * assert.equal(target.hasListener("tick"), false);
   * target.addEventListener("tick", () => {});
   * assert.equal(target.hasListener("tick"), true);
   * ```
   */
  hasListener(type: string): boolean {
    return (this.#counts.get(type) ?? 0) > 0;
  }

  #slot(type: string, capture: boolean): Map<unknown, Wrapped> {
    const key = capture ? `${type}\u0000capture` : type;
    let slot = this.#wrappers.get(key);
    if (slot === undefined) {
      slot = new Map();
      this.#wrappers.set(key, slot);
    }
    return slot;
  }

  #forget(type: string, capture: boolean, listener: unknown): Wrapped | undefined {
    const slot = this.#slot(type, capture);
    const wrapper = slot.get(listener);
    if (wrapper === undefined) return undefined;
    slot.delete(listener);
    this.#counts.set(type, (this.#counts.get(type) ?? 1) - 1);
    return wrapper;
  }

  #invoke(listener: TypedListener<Event>, event: Event): void {
    const type = event.type;
    try {
      const result = typeof listener === "function"
        ? listener.call(this, event)
        : listener.handleEvent(event);
      // An async listener's rejection would otherwise be an unhandled rejection (fatal in Deno).
      // `then` is taken from Promise.prototype: the returned promise's own could be overridden.
      if (safeInstanceOf(result, Promise)) {
        Promise.prototype.then.call(result, undefined, (error) => this.#report(error, type));
      }
    } catch (error) {
      this.#report(error, type);
    }
  }

  /** Never throws: it runs inside the native dispatch, where a throw would end the process. */
  #report(error: unknown, eventType: string): void {
    try {
      console.error(`cano: a "${eventType}" event listener threw: ${messageOf(error)}`);
    } catch {
      // A replaced console.error that throws: nothing more can be done about it here.
    }
    // A failing listenererror listener is only logged: reporting it again could loop forever.
    if (eventType !== "listenererror" && this.hasListener("listenererror")) {
      try {
        this.dispatchEvent(new ListenerErrorEvent(error, eventType));
      } catch {
        // Listeners are wrapped, so this cannot happen short of a broken subclass.
      }
    }
  }
}
