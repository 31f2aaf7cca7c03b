// The options of a wait state (`Workflow.registerWait`) and the event a state after it receives.
// A wait state parks its run durably until an outside event arrives (`store.sendEvent`) or its
// deadline passes; the run then goes on in the state the event (or the deadline) names.

import { safeString } from "../describe.ts";
import { ConfigurationError, messageOf } from "../errors.ts";
import { readOptions } from "../options.ts";
import { checkDuration } from "./retry.ts";

/**
 * What a wait state waits for: each event name leads to a state, and an optional deadline leads to
 * another.
 *
 * @typeParam N The states it may lead to.
 * @typeParam M The event map (event name → next state), inferred from `events`.
 * @typeParam P The payload types by event name, declared through `payloads` (types only).
 */
export interface WaitOptions<
  N extends string,
  M extends Readonly<Record<string, N>> = Readonly<Record<string, N>>,
  P = unknown,
> {
  /** Event name → the state the run goes on in when that event arrives first. */
  events: M;
  /**
   * Where to go when no event arrived `after` milliseconds after the state was entered. The
   * deadline is checkpointed: it survives restarts, and an overdue one fires at once.
   *
   * @default {undefined} (wait for ever)
   */
  timeout?: { readonly after: number; readonly next: N };
  /**
   * The payload type of each event, for the type checker only: write
   * `payloads: {} as { approved: { by: string } }` and the states the events lead to see
   * `ctx.event` typed by name (narrow on `ctx.event?.name`). Nothing is checked at run time: an
   * event's payload is whatever its sender passed, JSON-checked. Keys must be event names of
   * `events`.
   *
   * @default {undefined} (payloads typed `unknown`)
   */
  payloads?: P;
}

/**
 * The event that woke a wait state, as the state after it sees it in `ctx.event` (`undefined`
 * there when the deadline fired instead).
 *
 * @typeParam P The payload type.
 * @typeParam N The event's name.
 */
export interface WaitEvent<P = unknown, N extends string = string> {
  /** The event's name. */
  readonly name: N;
  /** Its payload, as sent (JSON-checked like run data). */
  readonly payload: P;
  /** The idempotency key it was sent with, if any. */
  readonly eventId: string | undefined;
  /** When the store received it. */
  readonly at: Date;
  /** Its position among the events the run received (1-based). */
  readonly seq: number;
}

/** The longest event name, in UTF-16 code units (the store's limit too). */
const MAX_EVENT_NAME = 200;
/** The longest deadline: 10 years, far beyond any approval, well inside a Date. */
const MAX_WAIT_MS = 10 * 365 * 86_400_000;

/** A checked wait configuration: event name → next state, and the deadline. */
export interface CheckedWait {
  readonly events: ReadonlyMap<string, string>;
  readonly timeout: { readonly after: number; readonly next: string } | undefined;
}

/**
 * Validates `registerWait` options, naming the bad value and the fix.
 *
 * @param state The wait state, for messages.
 * @param options The options.
 * @param isState Whether a name is a possible state (non-empty string).
 * @returns The checked configuration.
 */
export function checkWaitOptions(
  state: string,
  options: unknown,
  isState: (next: unknown) => void,
): CheckedWait {
  const where = `Wait state "${state}"`;
  if (typeof options !== "object" || options === null) {
    throw new ConfigurationError(
      `${where} needs options { events: { name: "next" }, timeout? }, received ${
        safeString(options)
      }`,
    );
  }
  const { events, timeout, payloads } = readOptions<WaitOptions<string>>(options, where, [
    "events",
    "timeout",
    "payloads",
  ]);
  if (typeof events !== "object" || events === null || Array.isArray(events)) {
    throw new ConfigurationError(
      `${where}: events must map event names to next states, e.g. { approved: "ship" }, ` +
        `received ${safeString(events)}`,
    );
  }
  const checked = new Map<string, string>();
  for (const [name, next] of entriesOf(events, `${where}: events`)) {
    checkEventName(name, `${where}: event name`);
    isState(next);
    checked.set(name, next as string);
  }
  if (checked.size === 0) {
    throw new ConfigurationError(`${where}: events must name at least one event`);
  }
  checkPayloads(where, payloads, checked);
  if (timeout === undefined) return { events: checked, timeout: undefined };
  if (typeof timeout !== "object" || timeout === null) {
    throw new ConfigurationError(
      `${where}: timeout must be { after: ms, next: state }, received ${safeString(timeout)}`,
    );
  }
  const { after, next } = timeout as { after?: unknown; next?: unknown };
  const ms = checkDuration(`${where}: timeout.after`, after as number);
  if (ms <= 0 || ms > MAX_WAIT_MS) {
    throw new ConfigurationError(
      `${where}: timeout.after must be from 1 ms to ${MAX_WAIT_MS} ms (10 years), received ${
        safeString(after)
      }`,
    );
  }
  isState(next);
  return { events: checked, timeout: { after: ms, next: next as string } };
}

/**
 * The own enumerable entries of an options object, a throwing getter or proxy trap becoming a
 * `ConfigurationError`.
 */
function entriesOf(value: object, what: string): [string, unknown][] {
  try {
    return Object.entries(value);
  } catch (error) {
    throw new ConfigurationError(`${what} could not be read (${messageOf(error)})`, {
      cause: error,
    });
  }
}

/**
 * Checks the type-only `payloads` declaration: an object (usually `{} as { … }`, so with no keys at
 * run time) whose keys, if any, are declared event names, so a typo is caught where it can be.
 */
function checkPayloads(
  where: string,
  payloads: unknown,
  events: ReadonlyMap<string, string>,
): void {
  if (payloads === undefined) return;
  if (typeof payloads !== "object" || payloads === null || Array.isArray(payloads)) {
    throw new ConfigurationError(
      `${where}: payloads declares payload types, as payloads: {} as { approved: { by: string } }; ` +
        `received ${safeString(payloads)}`,
    );
  }
  for (const [name] of entriesOf(payloads, `${where}: payloads`)) {
    if (!events.has(name)) {
      throw new ConfigurationError(
        `${where}: payloads names "${safeString(name)}", which is not one of its events (${
          [...events.keys()].map((event) => `"${event}"`).join(", ")
        })`,
      );
    }
  }
}

/**
 * Validates an event name: a non-empty, well-formed string of at most 200 characters.
 *
 * @param name The name.
 * @param what What it is called in the message.
 */
export function checkEventName(name: unknown, what: string): void {
  if (
    typeof name !== "string" || name.length === 0 || name.length > MAX_EVENT_NAME ||
    !name.isWellFormed()
  ) {
    throw new ConfigurationError(
      `${what} must be a non-empty, well-formed string of at most ${MAX_EVENT_NAME} characters, ` +
        `received ${safeString(name)}`,
    );
  }
}
