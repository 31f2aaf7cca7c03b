import { safeInstanceOf } from "./describe.ts";
import { messageOf } from "./errors.ts";

/** A listener for events of type `E`: a function or an object with `handleEvent`. */
export type TypedListener<E extends Event> =
  | ((event: E) => unknown)
  | { handleEvent(event: E): unknown };

/** Where a {@link SafeEvent} is in a delivery on {@link SafeEventTarget}'s own path. */
interface Delivery {
  readonly target: EventTarget;
  /** The target while its listeners run; `null` once they have. */
  current: EventTarget | null;
  /** Set by `stopImmediatePropagation()` while the listeners run. */
  stopped: boolean;
}

// The delivery in progress (or last made) of a SafeEvent, kept on the event itself under a
// symbol only this module knows, set at its first delivery (a constructor field would cost every
// event built, listened to or not, a store, and measurably more to construct).
const DELIVERY: unique symbol = Symbol("cano.delivery");

/** The event's delivery, if SafeEventTarget's own path ever delivered it. */
function deliveryOf(event: Event): Delivery | undefined {
  return (event as { [DELIVERY]?: Delivery })[DELIVERY];
}

const NO_INIT: EventInit = Object.freeze({});

/** Whether `value` is a {@link SafeEvent}; `false` for a value `instanceof` throws on. */
function isSafeEvent(value: unknown): value is SafeEvent {
  try {
    return value instanceof SafeEvent; // inline rather than safeInstanceOf: on every dispatch
  } catch {
    return false;
  }
}

function nativeGetter(name: string): (this: Event) => unknown {
  const getter = Object.getOwnPropertyDescriptor(Event.prototype, name)?.get;
  if (getter === undefined) throw new TypeError(`Event.prototype.${name} is not an accessor`);
  return getter;
}

/**
 * An `Event` that a {@link SafeEventTarget} delivers to its listeners itself instead of through
 * the native dispatch, which costs several times more in Deno (event path, branding checks) and
 * which a workflow pays on every transition an observer watches. Listeners see what the native
 * dispatch shows them: `target`, `currentTarget` and `eventPhase` (`AT_TARGET`) while they run,
 * `composedPath()`, registration order, `once`, listeners removed or added during the dispatch,
 * `stopImmediatePropagation()`, and an `InvalidStateError` for an event dispatched again from
 * one of its own listeners. Every workflow event is one; any other event takes the native path.
 *
 * @example Delivered with the native dispatch's view
 * ```ts
 * import { SafeEvent, SafeEventTarget } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const target = new SafeEventTarget<{ ping: SafeEvent }>();
 * const seen: unknown[] = [];
 * target.addEventListener("ping", (e) => seen.push(e.target === target, e.eventPhase));
 * const event = new SafeEvent("ping");
 * target.dispatchEvent(event);
 * assert.deepEqual(seen, [true, Event.AT_TARGET]);
 * assert.equal(event.currentTarget, null);
 * ```
 */
export class SafeEvent extends Event {
  /**
   * Creates the event.
   *
   * @param type The event type.
   * @param init As for `Event`.
   */
  constructor(type: string, init?: EventInit) {
    // A shared empty init spares the native constructor the one it allocates when given none.
    super(type, init ?? NO_INIT);
  }

  static {
    // Declared as data properties in TypeScript's lib, so overridden here rather than with
    // accessors in the class body. A native dispatch (to a plain EventTarget) still wins.
    const target = nativeGetter("target");
    const currentTarget = nativeGetter("currentTarget");
    const eventPhase = nativeGetter("eventPhase");
    Object.defineProperties(SafeEvent.prototype, {
      target: {
        configurable: true,
        enumerable: true,
        get(this: SafeEvent): unknown {
          return target.call(this) ?? deliveryOf(this)?.target ?? null;
        },
      },
      currentTarget: {
        configurable: true,
        enumerable: true,
        get(this: SafeEvent): unknown {
          return currentTarget.call(this) ?? deliveryOf(this)?.current ?? null;
        },
      },
      eventPhase: {
        configurable: true,
        enumerable: true,
        get(this: SafeEvent): unknown {
          const phase = eventPhase.call(this);
          if (phase !== Event.NONE) return phase;
          return deliveryOf(this)?.current == null ? Event.NONE : Event.AT_TARGET;
        },
      },
    });
  }

  /** Stops the listeners after the current one, as `Event.stopImmediatePropagation` does. */
  override stopImmediatePropagation(): void {
    const delivery = deliveryOf(this);
    if (delivery !== undefined && delivery.current !== null) delivery.stopped = true;
    else super.stopImmediatePropagation();
  }

  /**
   * The event's path: its target while its listeners run, else as `Event.composedPath`.
   *
   * @returns The path.
   */
  override composedPath(): EventTarget[] {
    const current = deliveryOf(this)?.current;
    return current === undefined || current === null ? super.composedPath() : [current];
  }
}

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
export class ListenerErrorEvent extends SafeEvent {
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

/** One listener added to a {@link SafeEventTarget}. */
interface Registration {
  readonly listener: TypedListener<Event>;
  readonly capture: boolean;
  readonly once: boolean;
  /** What is registered with the native target, so that a native dispatch reaches it too. */
  readonly wrapper: (event: Event) => void;
  removed: boolean;
}

/**
 * An `EventTarget` whose listeners cannot hurt the dispatcher: a listener that throws, or returns a
 * promise that rejects, is reported to `console.error` and as a `listenererror` event instead of
 * crashing the process (which is what a throwing listener on a plain `EventTarget` does in Deno).
 * `addEventListener` is typed by the event map `M`, as the DOM does. A {@link SafeEvent} (every
 * workflow event) is delivered to the listeners without the native dispatch, which costs several
 * times more; any other event is dispatched natively.
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
  // type → its listeners in the order they were added: the order of a native dispatch at the
  // target, whatever their capture flag.
  #listeners = new Map<string, Registration[]>();
  #total = 0;

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
    let list = this.#listeners.get(type);
    if (list === undefined) {
      list = [];
      this.#listeners.set(type, list);
    }
    // The native target ignores a duplicate (same listener, same capture flag) too.
    if (list.some((added) => added.listener === listener && added.capture === capture)) return;
    const registration: Registration = {
      listener,
      capture,
      once,
      removed: false,
      wrapper: (event) => {
        if (once) this.#drop(type, registration);
        this.#invoke(listener, event);
      },
    };
    list.push(registration);
    this.#total += 1;
    super.addEventListener(type, registration.wrapper, { capture, once });
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
    const registration = this.#listeners.get(type)?.find((added) =>
      added.listener === listener && added.capture === capture
    );
    if (registration !== undefined) this.#drop(type, registration);
  }

  /**
   * Dispatches `event`: a {@link SafeEvent} is delivered to the listeners for its type directly,
   * in the order they were added, with the native dispatch's semantics (see {@link SafeEvent});
   * any other event is dispatched natively.
   *
   * @param event The event.
   * @returns `false` if the event is cancelable and a listener called `preventDefault()`.
   */
  override dispatchEvent(event: Event): boolean {
    if (!isSafeEvent(event)) return super.dispatchEvent(event);
    if (deliveryOf(event)?.current != null) {
      throw new DOMException("Invalid event state", "InvalidStateError"); // as natively
    }
    const delivery: Delivery = { target: this, current: this, stopped: false };
    (event as { [DELIVERY]?: Delivery })[DELIVERY] = delivery;
    const list = this.#listeners.get(event.type);
    if (list !== undefined && list.length === 1) {
      this.#deliver(list[0]!, event); // the common case: no snapshot to copy
    } else if (list !== undefined && list.length > 1) {
      // A snapshot, as natively: listeners added meanwhile wait for the next dispatch, and
      // removed ones are skipped (`removed`).
      for (const registration of list.slice()) {
        this.#deliver(registration, event);
        if (delivery.stopped) break;
      }
    }
    delivery.current = null;
    return !event.defaultPrevented;
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
    return this.#total > 0 && (this.#listeners.get(type)?.length ?? 0) > 0;
  }

  /** Forgets a listener, here and on the native target (where a `once` one is gone already). */
  #drop(type: string, registration: Registration): void {
    if (registration.removed) return;
    registration.removed = true;
    const list = this.#listeners.get(type);
    const index = list?.indexOf(registration) ?? -1;
    if (index >= 0) list?.splice(index, 1);
    this.#total -= 1;
    super.removeEventListener(type, registration.wrapper, registration.capture);
  }

  #deliver(registration: Registration, event: Event): void {
    if (registration.removed) return;
    if (registration.once) this.#drop(event.type, registration);
    this.#invoke(registration.listener, event);
  }

  #invoke(listener: TypedListener<Event>, event: Event): void {
    const type = event.type;
    try {
      const result = typeof listener === "function"
        ? listener.call(this, event)
        : listener.handleEvent(event);
      // An async listener's rejection would otherwise be an unhandled rejection (fatal in Deno).
      // `then` is taken from Promise.prototype: the returned promise's own could be overridden.
      // (Only objects are tested: most listeners return undefined, on every event.)
      if (typeof result === "object" && result !== null && safeInstanceOf(result, Promise)) {
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
