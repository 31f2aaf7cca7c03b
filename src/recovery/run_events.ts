// What others than a run's owner do to it, and durable waits — the rules both built-in stores
// share: a cancel request, what a park writes, what an event sent to a run does to its record
// (queued, delivered, refused), how events are encoded, and when an owner may take a record
// changed by someone else (an event, a cancel request) into its fence. The stores differ only in
// where they keep the inbox and how they commit it with the record.

import { safeString } from "../describe.ts";
import { CancelledError, CheckpointStoreError, messageOf } from "../errors.ts";
import type {
  CancelOutcome,
  DeliveredEvent,
  ParkRequest,
  RowKind,
  RunLease,
  SendEventOptions,
  SendEventOutcome,
  WaitInfo,
} from "./checkpoint.ts";
import type { Codec } from "./codec.ts";
import { MAX_KEY_BYTES, MAX_VALUE_BYTES, utf8Bytes } from "./limits.ts";
import { EventRefusedError, shortId } from "./run_errors.ts";
import type { StoredRun } from "./run_record.ts";

/** The latest `Date` (epoch ms): the due time of a run parked without a deadline. */
export const FOREVER = 8_640_000_000_000_000;
/** The most events a run's inbox keeps (until the run ends). */
export const MAX_INBOX = 64;
/** The longest event name or `eventId`, in UTF-16 code units. */
export const MAX_EVENT_NAME = 200;
/** The largest event payload, in UTF-8 bytes as the codec encodes it. */
export const MAX_PAYLOAD_BYTES = 16_384;
/** The most event names one wait takes. */
export const MAX_WAIT_EVENTS = 64;

/** Errors and reasons recorded on a run are cut to this many characters. */
const MAX_ERROR_LENGTH = 2_000;

/**
 * A text cut to the length errors are kept to.
 *
 * @param text The text.
 * @returns The text, at most 2,000 characters and an ellipsis.
 */
export function clip(text: string): string {
  return text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH)}…` : text;
}

/** The reason recorded when `requestCancel` is given none. */
const DEFAULT_CANCEL_REASON = "cancel requested";

/**
 * Validates the reason of a cancel request.
 *
 * @param reason The reason passed to `requestCancel`.
 * @returns The reason, cut to the length errors are kept to.
 */
export function checkCancelReason(reason: unknown): string {
  if (reason === undefined) return DEFAULT_CANCEL_REASON;
  if (typeof reason !== "string" || !reason.isWellFormed()) {
    throw new CheckpointStoreError(
      `requestCancel reason must be a well-formed string, received ${safeString(reason)}`,
    );
  }
  return clip(reason);
}

/**
 * What a cancel request does to a run with this record: `undefined` when it is to be written,
 * else the no-op outcome.
 *
 * @param run The record, if any.
 * @returns The no-op outcome, or `undefined`.
 */
export function cancelNoop(run: StoredRun | undefined): CancelOutcome | undefined {
  if (run === undefined) return "not_found";
  if (run.status === "failed") return "failed";
  // A parked rollback is still a rollback.
  if (run.status === "rolling_back" || run.rolledBack) return "rolling_back";
  if (run.cancel !== undefined) return "already_requested";
  return undefined;
}

/**
 * The record with a cancel request on it. Nothing else changes (so its owner can adopt it), but a
 * `waiting` run, which nobody holds, is made due at once: recovery claims it and rolls it back.
 */
export function withCancel(run: StoredRun, reason: string, now: number): StoredRun {
  return dueOnCancel({ ...run, cancel: { reason, at: now } }, now);
}

/** Whether a row moves the run forward (refused once a cancel request is seen). */
export function isForwardRow(kind: RowKind): boolean {
  return kind === "state_entry" || kind === "step_cursor";
}

/**
 * The refusal of a forward row once a cancel request is seen.
 *
 * @param id The run id.
 * @param reason The request's reason.
 * @returns The error.
 */
export function cancelRefusal(id: string, reason: string): CancelledError {
  return new CancelledError(`Run "${shortId(id)}" was cancelled: ${reason}`, { cause: reason });
}

/** What a parked run's record says it waits for. */
export interface StoredWait {
  readonly state: string;
  readonly events: readonly string[];
  /** The deadline (epoch ms), absent without one. */
  readonly until?: number;
  /** When it was parked (epoch ms). */
  readonly since: number;
  /** Events with `seq <= after` were consumed before the park. */
  readonly after: number;
  /** The seq of the event that made the run due, once one arrived. */
  readonly event?: number;
}

/** The inbox's counters on the record (the events themselves are stored beside it). */
export interface StoredInbox {
  /** The seq of the last event received (events are `1..last`). */
  readonly last: number;
  /** How many of them carry an `eventId` (each has a key of its own in Deno KV). */
  readonly ids: number;
}

/** A checked {@link ParkRequest}. */
export interface CheckedPark {
  readonly state: string;
  readonly events: readonly string[];
  readonly until: number | undefined;
  readonly after: number;
}

/**
 * Validates an event name or an `eventId`.
 *
 * @param value The value.
 * @param what How the message names it.
 * @returns The value.
 */
export function checkEventName(value: unknown, what: string): string {
  if (
    typeof value !== "string" || value.length === 0 || value.length > MAX_EVENT_NAME ||
    !value.isWellFormed()
  ) {
    throw new CheckpointStoreError(
      `${what} must be a non-empty, well-formed string of at most ${MAX_EVENT_NAME} characters, ` +
        `received ${describeName(value)}`,
    );
  }
  return value;
}

function describeName(value: unknown): string {
  if (typeof value !== "string") return safeString(value);
  if (value.length > MAX_EVENT_NAME) return `a string of ${value.length} characters`;
  return value === "" ? '""' : `${JSON.stringify(value.slice(0, 80))} (not well-formed)`;
}

/**
 * Validates `sendEvent` options.
 *
 * @param options The options.
 * @returns The `eventId`, if any.
 */
export function checkSendOptions(options: SendEventOptions | undefined): string | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== "object" || options === null) {
    throw new CheckpointStoreError(
      `sendEvent options must be an object, received ${safeString(options)}`,
    );
  }
  const eventId = options.eventId;
  return eventId === undefined ? undefined : checkEventName(eventId, "sendEvent eventId");
}

/**
 * The encoded size of a string key part (tag, UTF-8 bytes with each U+0000 escaped, terminator).
 */
function stringPartBytes(part: string): number {
  let size = 2 + utf8Bytes(part);
  for (let i = part.indexOf("\0"); i !== -1; i = part.indexOf("\0", i + 1)) size++;
  return size;
}

/**
 * Refuses an `eventId` whose dedup key `[...prefix, "eventids", id, eventId]` would exceed Deno
 * KV's key limit (both stores apply it, so the memory store refuses what KV would).
 *
 * @param prefixBytes The encoded size of the store's key prefix.
 * @param id The run id.
 * @param eventId The idempotency key.
 */
export function checkEventIdKey(prefixBytes: number, id: string, eventId: string): void {
  const fixed = prefixBytes + stringPartBytes("eventids") + stringPartBytes(id);
  const bytes = fixed + stringPartBytes(eventId);
  if (bytes <= MAX_KEY_BYTES) return;
  throw new CheckpointStoreError(
    `sendEvent eventId ${JSON.stringify(shortId(eventId))} is too long for run ` +
      `"${shortId(id)}": its key would take ${bytes} bytes, over Deno KV's ${MAX_KEY_BYTES}-byte ` +
      `key limit; use an eventId of at most ${Math.max(0, MAX_KEY_BYTES - fixed - 2)} UTF-8 bytes`,
  );
}

/**
 * An event as stored (JSON text), around its payload as {@link encodePayload} encoded it.
 *
 * @param event The event's fields.
 * @param payload The payload's JSON text, `undefined` for none.
 * @returns The JSON text.
 */
export function encodeEvent(
  event: { seq: number; name: string; eventId: string | undefined; at: number },
  payload: string | undefined,
): string {
  let text = `{"seq":${event.seq},"name":${JSON.stringify(event.name)},"at":${event.at}`;
  if (event.eventId !== undefined) text += `,"eventId":${JSON.stringify(event.eventId)}`;
  if (payload !== undefined) text += `,"payload":${payload}`;
  return `${text}}`;
}

/**
 * Encodes a payload with the codec, refusing what it refuses and what is too large.
 *
 * @param id The run id.
 * @param event The event's name and payload.
 * @param codec The store's codec.
 * @returns The payload's JSON text, `undefined` for an event without one.
 * @throws {CheckpointStoreError} When the codec refuses the payload, or it is too large.
 */
export function encodePayload(
  id: string,
  event: { name: string; payload: unknown },
  codec: Codec,
): string | undefined {
  if (event.payload === undefined) return undefined;
  let payload: string;
  try {
    payload = codec.stringify(event.payload, "payload");
  } catch (error) {
    throw new CheckpointStoreError(
      `Event "${shortId(event.name)}" for run "${shortId(id)}" cannot be stored: ${
        messageOf(error)
      }`,
      { cause: error },
    );
  }
  if (typeof payload !== "string") {
    throw new CheckpointStoreError(
      `Event "${shortId(event.name)}" for run "${shortId(id)}" cannot be stored: the codec ` +
        `"${codec.name}" returned no text for its payload`,
    );
  }
  const bytes = utf8Bytes(payload);
  if (bytes > MAX_PAYLOAD_BYTES) {
    throw new CheckpointStoreError(
      `Event "${shortId(event.name)}" for run "${shortId(id)}" has a payload of ${bytes} bytes ` +
        `as JSON; an event holds at most ${MAX_PAYLOAD_BYTES} bytes (16 KiB): keep large data ` +
        "elsewhere and send its key",
    );
  }
  return payload;
}

/**
 * Parses an event stored by {@link encodeEvent}.
 *
 * @param id The run id (for messages).
 * @param text The JSON text.
 * @param codec The store's codec.
 * @returns The event.
 * @throws {CheckpointStoreError} When the text is not an event.
 */
export function decodeEvent(id: string, text: string, codec: Codec): DeliveredEvent {
  let parsed: unknown;
  try {
    parsed = codec.parse(text);
  } catch (error) {
    throw new CheckpointStoreError(`Corrupt event in the inbox of run "${shortId(id)}"`, {
      cause: error,
    });
  }
  const value = parsed as Partial<Record<"seq" | "name" | "at" | "eventId" | "payload", unknown>>;
  if (
    value === null || typeof value !== "object" || !Number.isSafeInteger(value.seq) ||
    (value.seq as number) < 1 || typeof value.name !== "string" ||
    typeof value.at !== "number" || !Number.isFinite(value.at) ||
    (value.eventId !== undefined && typeof value.eventId !== "string")
  ) {
    throw new CheckpointStoreError(
      `Corrupt event in the inbox of run "${shortId(id)}": ${text.slice(0, 200)}`,
    );
  }
  return {
    seq: value.seq as number,
    name: value.name,
    payload: value.payload,
    eventId: value.eventId as string | undefined,
    at: new Date(value.at),
  };
}

/**
 * Validates a {@link ParkRequest}.
 *
 * @param request The request.
 * @returns The checked request (event names without repeats).
 */
export function checkParkRequest(request: ParkRequest): CheckedPark {
  if (typeof request !== "object" || request === null) {
    throw new CheckpointStoreError(
      `park() needs a request object, received ${safeString(request)}`,
    );
  }
  const { state, events, until, after } = request;
  if (typeof state !== "string" || !state.isWellFormed()) {
    throw new CheckpointStoreError(
      `park() state must be a well-formed string, received ${safeString(state)}`,
    );
  }
  if (!Array.isArray(events) || events.length === 0 || events.length > MAX_WAIT_EVENTS) {
    throw new CheckpointStoreError(
      `park() events must be a non-empty array of at most ${MAX_WAIT_EVENTS} event names, ` +
        `received ${Array.isArray(events) ? `${events.length} names` : safeString(events)}`,
    );
  }
  const names = [...new Set(events.map((name) => checkEventName(name, "park() event name")))];
  if (
    until !== undefined &&
    (typeof until !== "number" || !Number.isFinite(until) || Math.abs(until) > FOREVER)
  ) {
    throw new CheckpointStoreError(
      `park() until must be epoch milliseconds (the store's clock) or undefined, received ${
        safeString(until)
      }`,
    );
  }
  if (!Number.isSafeInteger(after) || after < 0) {
    throw new CheckpointStoreError(
      `park() after must be a non-negative integer (the seq of the last consumed event, 0 for ` +
        `none), received ${safeString(after)}`,
    );
  }
  return { state, events: names, until, after };
}

/**
 * Refuses a park whose `after` is past the run's last event (it cannot have consumed events the
 * run never received).
 *
 * @param run The record.
 * @param park The checked request.
 */
export function checkParkAfter(run: StoredRun, park: CheckedPark): void {
  const last = run.inbox?.last ?? 0;
  if (park.after <= last) return;
  throw new CheckpointStoreError(
    `park() after ${park.after} is past the last event of run "${shortId(run.id)}" (${last}); ` +
      "pass the seq of the last event the run consumed",
  );
}

/** Whether the inbox may hold an event the park takes (events after `after` exist). */
export function mayHoldMatch(run: StoredRun, park: CheckedPark): boolean {
  return (run.inbox?.last ?? 0) > park.after;
}

/**
 * The earliest event a park takes: `seq > after` and a name it waits for.
 *
 * @param events The inbox (any order).
 * @param park The checked request.
 * @returns The event, `undefined` when none.
 */
export function matchingEvent(
  events: readonly DeliveredEvent[],
  park: CheckedPark,
): DeliveredEvent | undefined {
  let found: DeliveredEvent | undefined;
  for (const event of events) {
    if (event.seq <= park.after || !park.events.includes(event.name)) continue;
    if (found === undefined || event.seq < found.seq) found = event;
  }
  return found;
}

/**
 * The record of a parked run: waiting, owned by nobody, due at its deadline (or never).
 *
 * @param run The record as the owner last wrote it.
 * @param lease The owner's lease (the log's progress).
 * @param park The checked request.
 * @param now The store's clock.
 * @returns The record.
 */
export function parkedRun(
  run: StoredRun,
  lease: RunLease,
  park: CheckedPark,
  now: number,
): StoredRun {
  const wait: StoredWait = park.until === undefined
    ? { state: park.state, events: park.events, since: now, after: park.after }
    : { state: park.state, events: park.events, until: park.until, since: now, after: park.after };
  return {
    ...run,
    status: "waiting",
    state: lease.state,
    sequence: lease.sequence,
    owner: null,
    leaseUntil: park.until ?? FOREVER,
    updatedAt: now,
    wait,
  };
}

/**
 * Refuses a record a park would make larger than Deno KV keeps in one value.
 *
 * @param id The run id.
 * @param bytes The record's JSON size.
 */
export function checkParkedSize(id: string, bytes: number): void {
  if (bytes <= MAX_VALUE_BYTES) return;
  throw new CheckpointStoreError(
    `park() of run "${shortId(id)}" would make its record ${bytes} bytes as JSON, over Deno KV's ` +
      `${MAX_VALUE_BYTES}-byte value limit; wait for fewer or shorter event names`,
  );
}

/** What an event sent to a run does: nothing (a duplicate), or the record to write. */
export type SendDecision =
  | { readonly outcome: "duplicate" }
  | {
    readonly outcome: Exclude<SendEventOutcome, "duplicate">;
    readonly next: StoredRun;
    readonly seq: number;
  };

/**
 * Decides what an event does to a run's record, throwing the refusal when it is refused.
 *
 * @param id The run id.
 * @param run The record, if any.
 * @param name The event name.
 * @param eventId Its idempotency key, if any.
 * @param duplicate Whether an event with this `eventId` was received already.
 * @param now The store's clock.
 * @returns The decision.
 * @throws {EventRefusedError} No record, a failed run, or a full inbox.
 */
export function decideSend(
  id: string,
  run: StoredRun | undefined,
  name: string,
  eventId: string | undefined,
  duplicate: boolean,
  now: number,
): SendDecision {
  if (run === undefined) throw new EventRefusedError(id, "not_found", name);
  // A repeated delivery is a no-op whatever happened since: it says what the first one did.
  if (duplicate) return { outcome: "duplicate" };
  if (run.status === "failed") throw new EventRefusedError(id, "failed", name);
  const last = run.inbox?.last ?? 0;
  if (last >= MAX_INBOX) throw new EventRefusedError(id, "inbox_full", name, MAX_INBOX);
  const seq = last + 1;
  const inbox: StoredInbox = {
    last: seq,
    ids: (run.inbox?.ids ?? 0) + (eventId === undefined ? 0 : 1),
  };
  const wait = run.wait;
  const wakes = run.status === "waiting" && wait !== undefined && wait.event === undefined &&
    run.cancel === undefined && wait.events.includes(name) && seq > wait.after;
  if (!wakes) return { outcome: "queued", next: { ...run, inbox }, seq };
  return {
    outcome: "delivered",
    next: {
      ...run,
      inbox,
      wait: { ...wait, event: seq },
      leaseUntil: Math.min(run.leaseUntil, now),
      updatedAt: now,
    },
    seq,
  };
}

/**
 * The record with a cancel request on a waiting run made due at once (so recovery claims it and
 * rolls it back); any other record as it is.
 *
 * @param run The record with the request on it.
 * @param now The store's clock.
 * @returns The record to write.
 */
export function dueOnCancel(run: StoredRun, now: number): StoredRun {
  if (run.status !== "waiting") return run;
  return { ...run, leaseUntil: Math.min(run.leaseUntil, now) };
}

/**
 * Whether `current` is `known` (the record as its owner last wrote it) with only what others may
 * add while the owner holds the run: a cancel request and events. The owner then still holds the
 * run and may take `current` into its fence.
 *
 * @param known The owner's view of the record.
 * @param current The record now stored.
 * @returns Whether the owner may adopt `current`.
 */
export function onlyOutsideChanges(known: StoredRun, current: StoredRun): boolean {
  if (known.cancel !== undefined && canonical(known.cancel) !== canonical(current.cancel)) {
    return false;
  }
  const cancelAdded = known.cancel === undefined && current.cancel !== undefined;
  const before = known.inbox ?? { last: 0, ids: 0 };
  const after = current.inbox ?? { last: 0, ids: 0 };
  if (after.last < before.last || after.ids < before.ids) return false;
  if (after.last === before.last && after.ids !== before.ids) return false;
  const eventsAdded = after.last > before.last;
  if (!cancelAdded && !eventsAdded) return false;
  const { cancel: _c, inbox: _i, ...rest } = current;
  const { cancel: _kc, inbox: _ki, ...was } = known;
  return canonical(rest) === canonical(was);
}

/** JSON text with object keys sorted, so records built in another key order compare equal. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (inner === null || typeof inner !== "object" || Array.isArray(inner)) return inner;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(inner).sort()) {
      sorted[key] = (inner as Record<string, unknown>)[key];
    }
    return sorted;
  }) ?? "undefined";
}

/**
 * The public view of what a run waits for.
 *
 * @param wait The stored wait.
 * @returns The view.
 */
export function waitInfoOf(wait: StoredWait): WaitInfo {
  return {
    state: wait.state,
    events: [...wait.events],
    until: wait.until === undefined ? undefined : new Date(wait.until),
    since: new Date(wait.since),
  };
}

/**
 * Whether a parsed record's wait and inbox fields are well-formed (a `waiting` record has a wait,
 * any other none).
 *
 * @param value The parsed record.
 * @returns Whether to accept it.
 */
export function validWaitFields(
  value: { status?: unknown; wait?: unknown; inbox?: unknown },
): boolean {
  const inbox = value.inbox as Partial<StoredInbox> | undefined;
  if (
    inbox !== undefined &&
    (inbox === null || typeof inbox !== "object" || !count(inbox.last) || !count(inbox.ids) ||
      inbox.ids > inbox.last)
  ) {
    return false;
  }
  if (value.status !== "waiting") return value.wait === undefined;
  const wait = value.wait as Partial<StoredWait> | undefined;
  return wait !== undefined && wait !== null && typeof wait === "object" &&
    typeof wait.state === "string" && Array.isArray(wait.events) && wait.events.length > 0 &&
    wait.events.every((name) => typeof name === "string") &&
    (wait.until === undefined || Number.isFinite(wait.until)) &&
    Number.isFinite(wait.since) && count(wait.after) &&
    (wait.event === undefined || count(wait.event));
}

function count(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
