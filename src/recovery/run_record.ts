// The run record both built-in stores keep, and the rules that change it: who may claim a run,
// what a takeover, a renewal, a rollback, a release or a failure writes. The stores differ only in
// how they commit a record atomically with their checks; the decisions live here, once.

import { safeInstanceOf, safeString } from "../describe.ts";
import { CanoError, CheckpointStoreError, ConfigurationError, messageOf } from "../errors.ts";
import {
  type CheckpointRow,
  checkRow,
  type ClaimRequest,
  conflictError,
  encodeRow,
  gapError,
  type ListExpiredQuery,
  type ListRunsQuery,
  type RunInfo,
  type RunLease,
  type RunStatus,
} from "./checkpoint.ts";
import { checkRowSize, utf8Bytes } from "./limits.ts";
import { type Codec, jsonCodec } from "./codec.ts";
import { OwnershipLostError, RunExistsError, RunOwnedError, shortId } from "./run_errors.ts";
import {
  cancelRefusal,
  clip,
  isForwardRow,
  type StoredInbox,
  type StoredWait,
  validWaitFields,
  waitInfoOf,
} from "./run_events.ts";

// The cancel rules live with the other writes of outsiders (run_events.ts); re-exported here for
// the files that import every rule from this one.
export {
  cancelNoop,
  cancelRefusal,
  checkCancelReason,
  isForwardRow,
  withCancel,
} from "./run_events.ts";

/** The record as stored (JSON), one per unfinished run. */
export interface StoredRun {
  readonly id: string;
  readonly workflow: string;
  readonly version: number;
  readonly status: RunStatus;
  readonly state: string;
  readonly sequence: number;
  /** `null` when no process holds the run. */
  readonly owner: string | null;
  /** Epoch milliseconds; in the past when released. */
  readonly leaseUntil: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly error?: string;
  /** Whether the log holds a `rollback` row: a claimer resumes the rollback, never forward. */
  readonly rolledBack: boolean;
  /** A durable cancel request: its reason and when it was made (epoch ms). */
  readonly cancel?: { readonly reason: string; readonly at: number };
  /** What a `waiting` run waits for (absent on any other status). */
  readonly wait?: StoredWait;
  /** The inbox's counters, once an event was sent to the run (see `run_events.ts`). */
  readonly inbox?: StoredInbox;
}

/** The default lease, in milliseconds. */
export const DEFAULT_LEASE_MS = 30_000;
const MIN_LEASE_MS = 10;
const MAX_LEASE_MS = 86_400_000;
const MAX_PAGE = 1_000;
const DEFAULT_PAGE = 100;
const STATUSES: ReadonlySet<string> = new Set(["running", "rolling_back", "failed", "waiting"]);

/**
 * Validates a store's `leaseMs` option.
 *
 * @param store The store's name, for the message.
 * @param leaseMs The option.
 * @returns The lease in milliseconds.
 */
export function checkLeaseMs(store: string, leaseMs: unknown): number {
  if (leaseMs === undefined) return DEFAULT_LEASE_MS;
  if (
    typeof leaseMs !== "number" || !Number.isFinite(leaseMs) || leaseMs < MIN_LEASE_MS ||
    leaseMs > MAX_LEASE_MS
  ) {
    throw new ConfigurationError(
      `${store} leaseMs must be a number of milliseconds from ${MIN_LEASE_MS} to ${MAX_LEASE_MS} ` +
        `(one day), received ${safeString(leaseMs)}`,
    );
  }
  return leaseMs;
}

/**
 * Validates a store's `now` option (its clock).
 *
 * @param store The store's name, for the message.
 * @param now The option.
 * @returns The clock.
 */
export function checkClock(store: string, now: unknown): () => number {
  // Looked up on every call, so a fake clock installed later (tests) drives the store too.
  if (now === undefined) return () => Date.now();
  if (typeof now !== "function") {
    throw new ConfigurationError(`${store} now must be a function returning epoch milliseconds`);
  }
  return () => {
    const value = (now as () => unknown)();
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new CheckpointStoreError(
        `The store's clock returned ${safeString(value)}; now() must return epoch milliseconds`,
      );
    }
    return value;
  };
}

/** Whether a live process holds the run. */
function isOwned(run: StoredRun, now: number): boolean {
  return run.owner !== null && run.leaseUntil > now;
}

/**
 * Whether the run is in the lease-expiry index (someone should be working on it, or it is parked
 * and becomes due at its lease's end).
 */
export function isActive(run: StoredRun): boolean {
  return run.status !== "failed";
}

/**
 * Decides whether `request` may take an existing run, throwing the refusal when not.
 *
 * @param existing The run's record.
 * @param request The claim.
 * @param now The store's clock.
 */
export function checkTakeover(existing: StoredRun, request: ClaimRequest, now: number): void {
  if (request.mode === "start") throw new RunExistsError(existing.id, existing.status);
  if (isOwned(existing, now)) {
    throw new RunOwnedError(existing.id, existing.owner as string, new Date(existing.leaseUntil));
  }
  if (
    existing.workflow !== "" && request.workflow !== "" && existing.workflow !== request.workflow
  ) {
    throw new CanoError(
      `Run "${
        shortId(existing.id)
      }" belongs to workflow "${existing.workflow}", not "${request.workflow}"`,
      { category: "workflow" },
    );
  }
}

/**
 * Whether a record that never saw a row is abandoned: its lease has been over for one more whole
 * lease (and at least a minute), so its starter has long stopped, and a `resume` claim may delete
 * it. Until then the starter may still be committing row 0.
 *
 * @param run The record.
 * @param now The store's clock.
 * @param leaseMs The store's lease length.
 * @returns Whether to delete it.
 */
export function abandonedUnstarted(run: StoredRun, now: number, leaseMs: number): boolean {
  return run.leaseUntil + Math.max(leaseMs, MIN_UNSTARTED_GRACE_MS) <= now;
}

/** A starter's first commit may be slow under contention: a record without rows waits this long. */
const MIN_UNSTARTED_GRACE_MS = 60_000;

/** A new record for a run claimed by `request`, with `rows` rows already in its log. */
export function createdRun(
  id: string,
  request: ClaimRequest,
  now: number,
  leaseMs: number,
  rows: { count: number; state: string; rolledBack: boolean },
): StoredRun {
  return {
    id,
    workflow: request.workflow,
    version: request.version,
    status: rows.rolledBack ? "rolling_back" : "running",
    state: rows.state,
    sequence: rows.count,
    owner: request.owner,
    leaseUntil: now + leaseMs,
    createdAt: now,
    updatedAt: now,
    rolledBack: rows.rolledBack,
  };
}

/**
 * The record after `request` took over `existing` (whose lease expired or was released, or which
 * was parked: its wait ends, its inbox stays).
 */
export function takenOver(
  existing: StoredRun,
  request: ClaimRequest,
  now: number,
  leaseMs: number,
): StoredRun {
  const { error: _error, wait: _wait, ...rest } = existing;
  return {
    ...rest,
    workflow: existing.workflow === "" ? request.workflow : existing.workflow,
    version: request.version,
    status: existing.rolledBack ? "rolling_back" : "running",
    owner: request.owner,
    leaseUntil: now + leaseMs,
    updatedAt: now,
  };
}

/** The record after the owner renewed its lease (carrying the log's progress). */
export function renewed(run: StoredRun, lease: RunLease, now: number, leaseMs: number): StoredRun {
  if (run.owner !== lease.owner) {
    // Released (or a lease of another owner): renewing would hold a run nobody works on.
    throw new OwnershipLostError(run.id, "it was released; claim it again to work on it");
  }
  return {
    ...run,
    state: lease.state,
    sequence: lease.sequence,
    leaseUntil: now + leaseMs,
    updatedAt: now,
  };
}

/** The record after a `rollback` row was appended. */
export function rollingBack(run: StoredRun, lease: RunLease, now: number): StoredRun {
  return {
    ...run,
    status: "rolling_back",
    rolledBack: true,
    state: lease.state,
    sequence: lease.sequence,
    updatedAt: now,
  };
}

/** The record after the owner released the run (claimable at once). */
export function released(run: StoredRun, lease: RunLease, now: number): StoredRun {
  return {
    ...run,
    state: lease.state,
    sequence: lease.sequence,
    owner: null,
    leaseUntil: now,
    updatedAt: now,
  };
}

/** The record of a run that ended failed: log kept, lease released, error recorded. */
export function failedRun(run: StoredRun, lease: RunLease, now: number, error: string): StoredRun {
  return {
    ...released(run, lease, now),
    status: "failed",
    error: clip(error),
  };
}

/** The lease a claim hands out for `run`. */
export function leaseOf(run: StoredRun, fence: string): RunLease {
  const lease: RunLease = {
    id: run.id,
    owner: run.owner as string,
    leaseUntil: run.leaseUntil,
    fence,
    sequence: run.sequence,
    state: run.state,
  };
  if (run.cancel !== undefined) lease.cancel = run.cancel.reason;
  return lease;
}

/**
 * The public view of a record. `progress` is the log's own last row, when read: the record only
 * learns the log's progress when it is written (claim, heartbeat, status change), and a process
 * that died before its first heartbeat would otherwise show the state it was claimed in.
 */
export function toRunInfo(
  run: StoredRun,
  progress?: { readonly sequence: number; readonly state: string },
): RunInfo {
  const info: RunInfo = {
    id: run.id,
    workflow: run.workflow,
    version: run.version,
    status: run.status,
    state: progress?.state ?? run.state,
    sequence: progress === undefined ? run.sequence : progress.sequence + 1,
    owner: run.owner ?? undefined,
    leaseUntil: new Date(run.leaseUntil),
    createdAt: new Date(run.createdAt),
    updatedAt: new Date(run.updatedAt),
  };
  if (run.error !== undefined) info.error = run.error;
  if (run.cancel !== undefined) {
    info.cancel = { reason: run.cancel.reason, requestedAt: new Date(run.cancel.at) };
  }
  if (run.wait !== undefined) info.wait = waitInfoOf(run.wait);
  return info;
}

/** The public view of a record, `undefined` for none. */
export function infoOf(run: StoredRun | undefined): RunInfo | undefined {
  return run === undefined ? undefined : toRunInfo(run);
}

/**
 * Parses a stored record, refusing anything that is not one.
 *
 * @param id The run id (for messages).
 * @param text The JSON text.
 * @returns The record.
 */
export function parseRun(id: string, text: string): StoredRun {
  let value: Partial<StoredRun> | null;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CheckpointStoreError(`Corrupt run record for workflow "${shortId(id)}"`, {
      cause: error,
    });
  }
  if (
    value === null || typeof value !== "object" || value.id !== id ||
    typeof value.workflow !== "string" || !STATUSES.has(value.status ?? "") ||
    typeof value.leaseUntil !== "number" || typeof value.sequence !== "number" ||
    (value.owner !== null && typeof value.owner !== "string") || !validWaitFields(value)
  ) {
    throw new CheckpointStoreError(
      `Corrupt run record for workflow "${shortId(id)}": ${text.slice(0, 200)}`,
    );
  }
  return value as StoredRun;
}

/** A checked {@link ListRunsQuery}: limit resolved, cursor decoded to the id to start after. */
export interface RunQuery {
  readonly status: RunStatus | undefined;
  readonly workflow: string | undefined;
  readonly limit: number;
  readonly after: string | undefined;
}

/**
 * Validates a listing query.
 *
 * @param query The query.
 * @returns The checked query.
 */
export function checkQuery(query: ListRunsQuery | undefined): RunQuery {
  if (query === undefined) {
    return { status: undefined, workflow: undefined, limit: DEFAULT_PAGE, after: undefined };
  }
  if (typeof query !== "object" || query === null) {
    throw new CheckpointStoreError(
      `listRuns query must be an object, received ${safeString(query)}`,
    );
  }
  const { status, workflow, limit = DEFAULT_PAGE, cursor } = query;
  if (status !== undefined && !STATUSES.has(status)) {
    throw new CheckpointStoreError(
      `listRuns status must be "running", "rolling_back", "failed" or "waiting", received ${
        safeString(status)
      }`,
    );
  }
  if (workflow !== undefined && typeof workflow !== "string") {
    throw new CheckpointStoreError(`listRuns workflow must be a string`);
  }
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new CheckpointStoreError(
      `listRuns limit must be an integer from 1 to ${MAX_PAGE}, received ${safeString(limit)}`,
    );
  }
  return {
    status,
    workflow,
    limit,
    after: cursor === undefined ? undefined : decodeCursor(cursor),
  };
}

/**
 * The cursor that continues a listing after `id`.
 *
 * @param id The last id of a page.
 * @returns The cursor.
 */
export function cursorAfter(id: string): string {
  return `after:${encodeURIComponent(id)}`;
}

function decodeCursor(cursor: unknown): string {
  if (typeof cursor === "string" && cursor.startsWith("after:")) {
    try {
      return decodeURIComponent(cursor.slice(6));
    } catch {
      // falls through to the refusal
    }
  }
  throw new CheckpointStoreError(
    `listRuns cursor ${JSON.stringify(String(cursor)).slice(0, 100)} is not a cursor this store ` +
      "returned; pass the cursor of the previous page, or none for the first page",
  );
}

/** Whether a record matches a query's filters. */
export function matches(run: StoredRun, query: RunQuery): boolean {
  return (query.status === undefined || run.status === query.status) &&
    (query.workflow === undefined || run.workflow === query.workflow);
}

/** What a log's rows say about the run, for a record created over existing rows. */
export function summarizeRows(
  rows: readonly { kind: string; state: string; sequence: number }[],
): { count: number; state: string; rolledBack: boolean } {
  const last = rows[rows.length - 1];
  return {
    count: last === undefined ? 0 : last.sequence + 1,
    state: last?.state ?? "",
    rolledBack: rows.some((row) => row.kind === "rollback"),
  };
}

const MODES: ReadonlySet<string> = new Set(["start", "resume", "startOrResume"]);

/**
 * Validates a claim request.
 *
 * @param request The request.
 */
export function checkClaimRequest(request: ClaimRequest): void {
  if (typeof request !== "object" || request === null) {
    throw new CheckpointStoreError(
      `Claim request must be an object, received ${safeString(request)}`,
    );
  }
  if (!MODES.has(request.mode)) {
    throw new CheckpointStoreError(
      `Claim mode must be "start", "resume" or "startOrResume", received ${
        safeString(request.mode)
      }`,
    );
  }
  if (typeof request.owner !== "string" || request.owner.length === 0) {
    throw new CheckpointStoreError("Claim owner must be a non-empty string");
  }
  if (typeof request.workflow !== "string") {
    throw new CheckpointStoreError('Claim workflow must be a string ("" when unnamed)');
  }
  if (!Number.isSafeInteger(request.version) || request.version < 0) {
    throw new CheckpointStoreError(
      `Claim version must be a non-negative integer, received ${safeString(request.version)}`,
    );
  }
}

/**
 * The error for a write whose lease no longer matches the run's record.
 *
 * @param id The run id.
 * @param current The record now stored, if any.
 * @param now The store's clock.
 * @returns The error.
 */
export function lostError(
  id: string,
  current: StoredRun | undefined,
  now: number,
): OwnershipLostError {
  if (current === undefined) {
    return new OwnershipLostError(id, "its record is gone (the run was finished or cleared)");
  }
  if (current.owner !== null && current.leaseUntil > now) {
    return new OwnershipLostError(id, `${current.owner} claimed it`);
  }
  if (current.status === "waiting") {
    return new OwnershipLostError(
      id,
      `it was parked in wait state "${current.wait?.state ?? current.state}" (owned by nobody); ` +
        "claim it to work on it",
    );
  }
  return new OwnershipLostError(id, `its record changed (now ${current.status}, owned by nobody)`);
}

/**
 * Validates a store's `codec` option.
 *
 * @param codec The option.
 * @returns The codec.
 */
export function checkCodec(codec: unknown): Codec {
  if (codec === undefined) return jsonCodec;
  const candidate = codec as Partial<Codec> | null;
  if (
    typeof candidate !== "object" || candidate === null ||
    typeof candidate.stringify !== "function" || typeof candidate.parse !== "function"
  ) {
    throw new ConfigurationError(
      "A store's codec must have stringify(value, path) and parse(text) methods",
    );
  }
  return candidate as Codec;
}

/**
 * The error for an append without a lease to a run that has a run record.
 *
 * @param id The run id.
 * @returns The error.
 */
export function ownedAppendError(id: string): CheckpointStoreError {
  return new CheckpointStoreError(
    `Run "${shortId(id)}" has a run record: appends to it must carry its lease (claim the run ` +
      "first); appends without a lease are for logs no run record manages",
  );
}

/**
 * What a store method rejects with: cano errors as they are, anything else (a hostile argument
 * whose property read threw, say) as a `CheckpointStoreError`, so no untyped value escapes.
 *
 * @param what The operation, for the message.
 * @param error What was thrown.
 * @returns The error to reject with.
 */
export function storeError(what: string, error: unknown): unknown {
  if (safeInstanceOf(error, CanoError)) return error;
  return new CheckpointStoreError(`${what} failed: ${messageOf(error)}`, { cause: error });
}

/**
 * Refuses anything but a lease a claim returned — and, with `id`, a lease of another run.
 *
 * @param lease The lease passed to a store method.
 * @param id The run the call is about, when it names one.
 */
export function checkLease(lease: RunLease, id?: string): void {
  if (
    typeof lease !== "object" || lease === null || typeof lease.id !== "string" ||
    typeof lease.fence !== "string"
  ) {
    throw new CheckpointStoreError("A lease must be the object a claim returned");
  }
  if (id !== undefined && lease.id !== id) {
    throw new CheckpointStoreError(
      `The lease is for run "${shortId(lease.id)}", not "${shortId(id)}"`,
    );
  }
}

/** The record with a note (recovery's report) as its error. */
export function notedRun(run: StoredRun, error: string, now: number): StoredRun {
  return { ...run, error: clip(error), updatedAt: now };
}

/**
 * Whether a note may be written on a run: it exists and no live process holds it.
 *
 * @param run The record.
 * @param now The store's clock.
 * @returns Whether to write.
 */
export function noteAllowed(run: StoredRun | undefined, now: number): run is StoredRun {
  return run !== undefined && isActive(run) && !isOwned(run, now);
}

/**
 * Validates a `noteRun` message.
 *
 * @param error The message.
 * @returns The message.
 */
export function checkNote(error: unknown): string {
  if (typeof error !== "string" || !error.isWellFormed()) {
    throw new CheckpointStoreError(
      `noteRun error must be a well-formed string, received ${safeString(error)}`,
    );
  }
  return clip(error);
}

/** A checked {@link ListExpiredQuery}: the bound, and where the previous page ended. */
export interface ExpiredQuery {
  readonly limit: number;
  readonly now: number;
  readonly after: { readonly leaseUntil: number; readonly id: string } | undefined;
}

/**
 * Validates a {@link ListExpiredQuery}.
 *
 * @param query The query.
 * @param now The store's clock.
 * @returns The checked query.
 */
export function checkExpiredQuery(query: ListExpiredQuery | undefined, now: number): ExpiredQuery {
  if (query === undefined) return { limit: DEFAULT_PAGE, now, after: undefined };
  if (typeof query !== "object" || query === null) {
    throw new CheckpointStoreError(
      `listExpired query must be an object, received ${safeString(query)}`,
    );
  }
  const { limit = DEFAULT_PAGE, now: bound = now, cursor } = query;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new CheckpointStoreError(
      `listExpired limit must be an integer from 1 to ${MAX_PAGE}, received ${safeString(limit)}`,
    );
  }
  if (typeof bound !== "number" || !Number.isFinite(bound)) {
    throw new CheckpointStoreError(
      `listExpired now must be epoch milliseconds, received ${safeString(bound)}`,
    );
  }
  return {
    limit,
    now: bound,
    after: cursor === undefined ? undefined : decodeExpiredCursor(cursor),
  };
}

/**
 * The cursor that continues an expiry listing after `run`.
 *
 * @param run The last run of a page.
 * @returns The cursor.
 */
export function expiredCursorAfter(run: { leaseUntil: number; id: string }): string {
  return `expired:${run.leaseUntil}:${encodeURIComponent(run.id)}`;
}

function decodeExpiredCursor(cursor: unknown): { leaseUntil: number; id: string } {
  const match = typeof cursor === "string" ? /^expired:([^:]+):(.*)$/s.exec(cursor) : null;
  if (match !== null) {
    try {
      const leaseUntil = Number(match[1]);
      if (Number.isFinite(leaseUntil)) return { leaseUntil, id: decodeURIComponent(match[2]!) };
    } catch {
      // falls through to the refusal
    }
  }
  throw new CheckpointStoreError(
    `listExpired cursor ${JSON.stringify(String(cursor)).slice(0, 100)} is not a cursor this ` +
      "store returned; pass the cursor of the previous page, or none for the first page",
  );
}

/** Whether `run` comes after the cursor position in expiry order (lease expiry, then id). */
export function afterExpired(
  run: { leaseUntil: number; id: string },
  after: { leaseUntil: number; id: string } | undefined,
  compare: (a: string, b: string) => number,
): boolean {
  if (after === undefined) return true;
  return run.leaseUntil > after.leaseUntil ||
    (run.leaseUntil === after.leaseUntil && compare(run.id, after.id) > 0);
}

/**
 * Whether a run is waiting for a claimer: active, and its lease over by `now` (a lease ending at
 * `now` is claimable, so it is listed; a released run is listed at once; a parked run once it is
 * due).
 */
export function isExpired(run: StoredRun, now: number): boolean {
  return isActive(run) && run.leaseUntil <= now;
}

/**
 * Checks an end's exit row as its append would be checked — the next row of the log, not a
 * forward row once a cancel request is seen, storable within `maxRowBytes` — so that an end whose
 * row is never written refuses what the append would have refused.
 *
 * @param id The run id.
 * @param exit The exit row.
 * @param lease The owner's lease.
 * @param codec The store's codec.
 * @param maxRowBytes The store's row limit for this id.
 */
export function checkExitRow(
  id: string,
  exit: CheckpointRow,
  lease: RunLease,
  codec: Codec,
  maxRowBytes: number,
): void {
  checkRow(id, exit);
  if (exit.sequence !== lease.sequence) {
    throw exit.sequence > lease.sequence
      ? gapError(id, exit.sequence)
      : conflictError(id, exit.sequence);
  }
  if (lease.cancel !== undefined && isForwardRow(exit.kind)) throw cancelRefusal(id, lease.cancel);
  checkRowSize(id, exit.sequence, utf8Bytes(encodeRow(id, exit, codec)), maxRowBytes);
}
