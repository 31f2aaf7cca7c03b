// The checkpoint store contract: the rows of a run's log (v1: append, load, clear) and the run
// record that makes a run an owned, fenced object (v2: claim, renew, release, finish, listing).

import { safeString } from "../describe.ts";
import { CheckpointStoreError, messageOf } from "../errors.ts";
import type { Codec } from "./codec.ts";
import { checkRunId } from "./limits.ts";
import { shortId } from "./run_errors.ts";

/**
 * What a checkpoint row records.
 *
 * - `state_entry`: the run entered `state` (written before the state's task runs).
 * - `compensation_completion`: the saga step `taskId` succeeded; `output` is what its compensation
 *   needs.
 * - `step_cursor`: a stepped or stream state made progress; `output` is the cursor.
 * - `rollback`: the run failed and its saga rollback began; `output` holds the cause and the
 *   compensations to run. A log with this row is never run forward again.
 * - `compensated`: one compensation of the rollback finished; `output.index` is its place in the
 *   rollback row's list.
 */
export type RowKind =
  | "state_entry"
  | "compensation_completion"
  | "step_cursor"
  | "rollback"
  | "compensated";

/**
 * One entry of a run's checkpoint log. Rows are appended with dense sequence numbers from 0; the
 * last row tells `resumeFrom` where the run stopped.
 */
export interface CheckpointRow {
  /** Position in the log, dense from 0. */
  sequence: number;
  /** The state the row belongs to. */
  state: string;
  /** The task id (`""` for exit-only states, splits and rollback rows). */
  taskId: string;
  /** What the row records. */
  kind: RowKind;
  /** Compensation output, cursor, rollback plan or split outcome (encoded by the store's codec). */
  output?: unknown;
  /** Run data snapshot, on `state_entry` and `step_cursor` rows (encoded by the store's codec). */
  data?: unknown;
  /** The workflow version that wrote the row. */
  workflowVersion: number;
  /**
   * `true` on the `state_entry` row a resumed run writes when it re-enters the state it stopped
   * in: the same visit of that state continues, it is not a new one (the path does not repeat it).
   */
  resumed?: boolean;
}

/**
 * The rows of run logs, one log per run id — the part of the store every version of the contract
 * has. A store with only these three methods still works: the engine then keeps run ownership in
 * the process (two runs of one id in one process are kept apart, two processes are not). Implement
 * {@link RunStore} for ownership that holds across processes.
 *
 * Contract: `append` is durable when it resolves and **rejects a duplicate sequence** for the same
 * id with a `CheckpointStoreError` (never overwrites). It should also reject a gap — a sequence
 * above 0 whose predecessor is absent. `loadRun` returns every row ascending by sequence (empty
 * for an unknown id); `clear` removes one id's rows and nothing else (an unknown id is a no-op).
 * `append` must not keep a reference to `row.data` or `row.output` after it returns or resolves
 * (encode or copy them). Concurrent calls must be safe.
 */
export interface CheckpointStore {
  /**
   * Appends a row; rejects a duplicate `(workflowId, sequence)`. With `lease` (a {@link RunStore}),
   * the append is fenced: it commits only while that lease still owns the run.
   */
  append(workflowId: string, row: CheckpointRow, lease?: RunLease): Promise<void>;
  /** All rows of `workflowId`, ascending by sequence. */
  loadRun(workflowId: string): Promise<CheckpointRow[]>;
  /** Removes all rows of `workflowId` (and, in a {@link RunStore}, its run record). */
  clear(workflowId: string): Promise<void>;
}

/**
 * Where an unfinished run stands, as its record says: `running`, `rolling_back` (a saga rollback
 * began), `failed` (its log is kept) or `waiting` (parked in a wait state by
 * {@link RunStore.park}: nobody holds it until an event, its deadline or a cancel request makes
 * it due).
 */
export type RunStatus = "running" | "rolling_back" | "failed" | "waiting";

/**
 * What a parked run waits for ({@link RunInfo.wait}, set while its status is `waiting`).
 *
 * @example Read what a parked run waits for
 * ```ts
 * import { MemoryCheckpointStore } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryCheckpointStore();
 * const { lease } = await store.claim("order-1", {
 *   mode: "start",
 *   owner: "worker-1",
 *   workflow: "order",
 *   version: 1,
 * });
 * await store.append(
 *   "order-1",
 *   { sequence: 0, state: "approval", taskId: "", kind: "state_entry", workflowVersion: 1 },
 *   lease,
 * );
 * const until = Date.now() + 60_000;
 * await store.park(lease, { state: "approval", events: ["approved"], until, after: 0 });
 * const wait = (await store.getRun("order-1"))?.wait;
 * assert.deepEqual(wait?.events, ["approved"]);
 * assert.equal(wait?.until?.getTime(), until);
 * ```
 */
export interface WaitInfo {
  /** The wait state the run is parked in. */
  state: string;
  /** The event names it waits for. */
  events: string[];
  /** Its deadline, `undefined` when it waits without one. */
  until: Date | undefined;
  /** When it was parked (the store's clock). */
  since: Date;
}

/**
 * An event sent to a run ({@link RunStore.sendEvent}), as a claim or a park hands it to the
 * engine.
 */
export interface DeliveredEvent {
  /** Its place in the run's inbox, dense from 1 in the order the store received the events. */
  seq: number;
  /** The event name. */
  name: string;
  /** The payload, decoded by the store's codec (`undefined` when it was sent without one). */
  payload: unknown;
  /** The idempotency key it was sent with, if any. */
  eventId: string | undefined;
  /** When the store received it (the store's clock). */
  at: Date;
}

/**
 * What {@link RunStore.park} is asked: the wait state the owner parks its run in.
 *
 * @example Park a run until an event or a deadline
 * ```ts
 * import { MemoryCheckpointStore, type ParkRequest } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryCheckpointStore();
 * const { lease } = await store.claim("order-1", {
 *   mode: "start",
 *   owner: "worker-1",
 *   workflow: "order",
 *   version: 1,
 * });
 * const request: ParkRequest = { state: "approval", events: ["approved", "rejected"], after: 0 };
 * assert.deepEqual(await store.park(lease, request), { parked: true });
 * assert.equal((await store.getRun("order-1"))?.status, "waiting");
 * ```
 */
export interface ParkRequest {
  /** The wait state. */
  state: string;
  /** Event names it waits for (non-empty; at most 64, each a non-empty string of ≤ 200 chars). */
  events: readonly string[];
  /** Its deadline (epoch ms, store clock), when it has one. */
  until?: number | undefined;
  /** Events with `seq <= after` were consumed already (0: none). */
  after: number;
}

/**
 * What {@link RunStore.park} did: parked the run (the lease is over), or found an event the wait
 * takes in the inbox already and wrote nothing (the lease still holds).
 */
export type ParkResult = { parked: true } | { parked: false; event: DeliveredEvent };

/** Options of {@link RunStore.sendEvent}. */
export interface SendEventOptions {
  /**
   * Idempotency key (a non-empty string of ≤ 200 chars): a repeated delivery with it is a no-op,
   * whether the first one was consumed yet or not.
   */
  eventId?: string | undefined;
}

/**
 * What {@link RunStore.sendEvent} did.
 *
 * - `delivered`: the run waits for this event; it is due at once (recovery claims and wakes it).
 * - `queued`: stored in the run's inbox for a later wait (the run is running, waits for other
 *   events, or already has the event that wakes it). Events sent before a run reaches its wait
 *   state are queued, and that wait takes them.
 * - `duplicate`: an event with this `eventId` was received already; nothing was written.
 */
export type SendEventOutcome = "delivered" | "queued" | "duplicate";

/** The result of {@link RunStore.sendEvent}. */
export interface SendEventResult {
  /** What happened. */
  outcome: SendEventOutcome;
  /** The run's record after the call. */
  run: RunInfo;
}

/**
 * The record of an unfinished run (finished runs have none: a completed or cleanly rolled-back
 * run's log and record are deleted).
 */
export interface RunInfo {
  /** The run id. */
  id: string;
  /** The name of the workflow that started it (`""` for an unnamed workflow). */
  workflow: string;
  /** The workflow version of its last owner. */
  version: number;
  /**
   * `running`, `rolling_back` (a saga rollback began), `failed` (its log is kept) or `waiting`
   * (parked in a wait state).
   */
  status: RunStatus;
  /** The state of the log's last row (`""` for a run with no row yet). */
  state: string;
  /** Rows in the log: the next row's sequence. */
  sequence: number;
  /** The process holding the lease, `undefined` when none does. */
  owner: string | undefined;
  /**
   * When the lease expires; in the past when nobody holds the run. For a `waiting` run: when it
   * is due (its deadline, or the latest `Date` when it has none; `now` once an event it waits for
   * or a cancel request arrived).
   */
  leaseUntil: Date;
  /** When the run was first claimed. */
  createdAt: Date;
  /** When the record was last written. */
  updatedAt: Date;
  /** The error a failed run ended with. */
  error?: string;
  /** A durable cancel request ({@link RunStore.requestCancel}), once one was made. */
  cancel?: CancelRequest;
  /** What the run waits for, while its status is `waiting`. */
  wait?: WaitInfo;
}

/** A durable cancel request on a run's record. */
export interface CancelRequest {
  /** Why (as given to `requestCancel`). */
  reason: string;
  /** When it was requested (the store's clock). */
  requestedAt: Date;
}

/**
 * What {@link RunStore.requestCancel} did. Only `requested` wrote anything; the others are no-ops.
 *
 * - `requested`: the request is on the record; the owner aborts the run (its compensations run),
 *   or, with no live owner, whoever claims the run next cancels it.
 * - `already_requested`: an earlier request is pending; it stands (with its reason).
 * - `rolling_back`: the run is already rolling back, which is what a cancel would do.
 * - `failed`: the run ended failed; nothing runs to cancel.
 * - `not_found`: no record: the run completed (a finished run leaves nothing behind) or never was.
 */
export type CancelOutcome =
  | "requested"
  | "already_requested"
  | "rolling_back"
  | "failed"
  | "not_found";

/** The result of {@link RunStore.requestCancel}. */
export interface CancelResult {
  /** What happened. */
  outcome: CancelOutcome;
  /** The run's record after the call, `undefined` for `not_found`. */
  run: RunInfo | undefined;
}

/**
 * A claim on a run, issued by {@link RunStore.claim}. The store updates it in place (`fence`,
 * `leaseUntil`, `sequence`, `state`) on every fenced write; treat it as opaque.
 */
export interface RunLease {
  /** The run id. */
  readonly id: string;
  /** Who holds it. */
  readonly owner: string;
  /** When the lease expires unless renewed (epoch milliseconds, the store's clock). */
  leaseUntil: number;
  /** The store's token for "the record as this owner last wrote it". */
  fence: string;
  /** Rows in the log. */
  sequence: number;
  /** The state of the last row (`""` when none). */
  state: string;
  /**
   * The reason of a durable cancel request, once the store has seen one on the record (at a
   * claim, a poll, or a fenced write the request made fail).
   */
  cancel?: string | undefined;
}

/**
 * How a claim treats an existing run: `start` refuses any unfinished run (`RunExistsError`),
 * `resume` requires one (rows, or a record), `startOrResume` takes either.
 */
export type ClaimMode = "start" | "resume" | "startOrResume";

/** What {@link RunStore.claim} is asked. */
export interface ClaimRequest {
  /** How to treat an existing run. */
  mode: ClaimMode;
  /** The claiming process (shown as `RunInfo.owner`). */
  owner: string;
  /** The workflow's name (`""` when unnamed); a run of another named workflow is refused. */
  workflow: string;
  /** The workflow's version. */
  version: number;
  /**
   * A new run's first row (sequence 0), written in the claim's own commit when the claim creates
   * the run: a record then never exists without a row, and a start costs one commit less. Ignored
   * when the claim finds an existing run; left out (the claim goes ahead, `firstWritten` unset)
   * when the row cannot be stored — the caller then appends it and meets the refusal there.
   */
  first?: CheckpointRow | undefined;
}

/** A granted claim. */
export interface ClaimResult {
  /** The lease to fence every later write with. */
  lease: RunLease;
  /** The run's log as it was when the claim took effect (empty for a new run). */
  rows: CheckpointRow[];
  /** Whether the claim created the run (no record and no rows existed). */
  created: boolean;
  /** Whether the request's `first` row was written with the claim (the lease is past it). */
  firstWritten?: boolean;
  /**
   * The run's inbox at claim time ({@link RunStore.sendEvent}), in `seq` order, consumed events
   * included; absent or empty when it has none.
   */
  events?: DeliveredEvent[];
}

/**
 * How a run ends: `completed` deletes its log and record (also after a clean rollback); `failed`
 * keeps the log, marks the record failed with the error and releases the lease.
 */
export type RunEnd =
  | {
    status: "completed";
    /**
     * The exit state's row. The store checks it like an append (a forward row: refused while a
     * cancel request is pending) and records it with the end: an end that takes a single commit
     * deletes the log with no commit for the row; a longer one appends the row first, so an
     * interrupted delete leaves a log that ends in the exit state.
     */
    exit?: CheckpointRow | undefined;
  }
  | { status: "failed"; error: string };

/** A query of {@link RunStore.listRuns}. */
export interface ListRunsQuery {
  /** Only runs with this status. */
  status?: RunStatus | undefined;
  /** Only runs of this workflow name. */
  workflow?: string | undefined;
  /** At most this many runs (an integer from 1 to 1,000). Default 100. */
  limit?: number | undefined;
  /** Where the previous page ended (its `cursor`). */
  cursor?: string | undefined;
}

/** A page of {@link RunStore.listRuns}, ordered by run id. */
export interface RunPage {
  /** The runs. */
  runs: RunInfo[];
  /** Pass it as `cursor` for the next page; `undefined` on the last page. */
  cursor: string | undefined;
}

/**
 * A checkpoint store that also keeps one **run record** per unfinished run, so that a run is
 * owned by one process at a time (version 2 of the store contract; both built-in stores implement
 * it, and `checkpointStoreContract()` in `@cano/cano/testing` checks an implementation).
 *
 * - `claim` takes a run with compare-and-set on its record: free, or its lease expired. `start`
 *   creates the record (refusing an unfinished run with `RunExistsError`), `resume` takes over an
 *   existing one (refusing a live owner with `RunOwnedError`) and returns its rows, read after the
 *   claim took effect.
 * - Every write that carries the lease (`append`, `renew`, `release`, `finish`) is **fenced**: it
 *   commits only if the record is still the one this owner last wrote, and otherwise rejects with
 *   `OwnershipLostError` without writing. Appending a `rollback` row also sets the status to
 *   `rolling_back` in the same commit.
 * - `renew` extends the lease by `leaseMs`; `release` gives it up (the run is claimable at once);
 *   `finish` ends the run (see {@link RunEnd}).
 * - `listRuns` pages through records (an index, not a scan of rows); `getRun` reads one.
 * - Rows and run data go through `codec` (strict JSON unless configured), and a row Deno KV could
 *   not store is refused.
 */
export interface RunStore extends CheckpointStore {
  /** How long a claim lasts without renewal, in milliseconds. */
  readonly leaseMs: number;
  /** How run data, outputs and cursors are encoded. */
  readonly codec: Codec;
  /** Claims a run (see {@link ClaimMode}). */
  claim(workflowId: string, request: ClaimRequest): Promise<ClaimResult>;
  /** Extends the lease by `leaseMs` from now. */
  renew(lease: RunLease): Promise<void>;
  /** Gives the run up without ending it. */
  release(lease: RunLease): Promise<void>;
  /** Ends the run. */
  finish(lease: RunLease, end: RunEnd): Promise<void>;
  /** One run's record, `undefined` when the run has none. */
  getRun(workflowId: string): Promise<RunInfo | undefined>;
  /** A page of run records. */
  listRuns(query?: ListRunsQuery): Promise<RunPage>;
  /**
   * Requests, durably and from any process, that a run be cancelled (see {@link CancelOutcome}).
   * The record changes, so the owner's next fenced write fails and shows the request: a forward
   * row (`state_entry`, `step_cursor`) is then refused with `CancelledError`; the rows and record
   * writes of the rollback, and renewals, go on under the same lease.
   */
  requestCancel(workflowId: string, reason?: string): Promise<CancelResult>;
  /**
   * The owner's poll (one record read): the pending cancel reason, `undefined` when none. Sets
   * `lease.cancel` and takes the request into the lease's fence when there is one.
   *
   * @throws {OwnershipLostError} When the record is no longer this lease's.
   */
  pollCancel(lease: RunLease): Promise<string | undefined>;
  /**
   * A page of the runs (`running` or `rolling_back`) whose lease is over by `now` (released runs
   * at once) and the `waiting` runs that are due (an event they wait for arrived, their deadline
   * passed, or a cancel was requested), oldest expiry first — from an index by lease expiry, so
   * the cost does not grow with healthy runs or with parked runs that are not due.
   */
  listExpired(query?: ListExpiredQuery): Promise<RunPage>;
  /**
   * Notes a problem on a run nobody holds (a recovery sweep that has no definition for it) as
   * `RunInfo.error`, without claiming it. `false` (nothing written) when a live owner holds it, it
   * failed (its error stays), or it has no record.
   */
  noteRun(workflowId: string, error: string): Promise<boolean>;
  /**
   * Parks the owner's run in a wait state (optional: a workflow with wait states requires it and
   * {@link RunStore.sendEvent}). Fenced like `release`. When the inbox holds an event with
   * `seq > request.after` whose name the wait takes, resolves `{ parked: false, event }` (the
   * earliest such) and writes nothing: the lease still holds. Otherwise the record becomes
   * `waiting`, owned by nobody, due at `request.until` (never, without one), and the lease is
   * over: later writes with it fail with `OwnershipLostError`. A claim takes the run back.
   *
   * @throws {CancelledError} When a cancel request is pending (the run rolls back instead).
   * @throws {OwnershipLostError} When the record is no longer this lease's.
   * @throws {CheckpointStoreError} On a bad request (no events, a bad event name or deadline, an
   * `after` past the inbox's last event).
   */
  park?(lease: RunLease, request: ParkRequest): Promise<ParkResult>;
  /**
   * Sends an event to a run, durably and from any process (optional, see
   * {@link RunStore.park}): stored in the run's inbox (at most 64 events; a payload of at most
   * 16 KiB as the codec encodes it), and a `waiting` run that waits for it is made due at once.
   *
   * @throws {EventRefusedError} When the run has no record, failed, or its inbox is full.
   * @throws {CheckpointStoreError} On a bad name or `eventId`, or a payload the codec refuses or
   * that is too large.
   */
  sendEvent?(
    workflowId: string,
    name: string,
    payload: unknown,
    options?: SendEventOptions,
  ): Promise<SendEventResult>;
}

/**
 * Whether `store` implements durable waits ({@link RunStore.park} and {@link RunStore.sendEvent}).
 *
 * @param store A run store.
 * @returns `true` when both methods are present.
 */
export function hasWaitMethods(
  store: RunStore,
): store is RunStore & Required<Pick<RunStore, "park" | "sendEvent">> {
  const candidate = store as unknown as Partial<Record<string, unknown>>;
  return typeof candidate.park === "function" && typeof candidate.sendEvent === "function";
}

/** A query of {@link RunStore.listExpired}. */
export interface ListExpiredQuery {
  /** At most this many runs (1 to 1,000). Default 100. */
  limit?: number | undefined;
  /** Leases over by this time (epoch ms, the store's clock). Default: now. */
  now?: number | undefined;
  /** Where the previous page ended (its `cursor`). */
  cursor?: string | undefined;
}

const RUN_STORE_METHODS = [
  "claim",
  "renew",
  "release",
  "finish",
  "getRun",
  "listRuns",
  "requestCancel",
  "pollCancel",
  "listExpired",
  "noteRun",
] as const;

/**
 * Whether `store` implements the whole {@link RunStore} contract (not just the rows).
 *
 * @param store A checkpoint store.
 * @returns `true` when every run-record method is present.
 */
export function isRunStore(store: CheckpointStore): store is RunStore {
  const candidate = store as unknown as Partial<Record<string, unknown>>;
  return RUN_STORE_METHODS.every((method) => typeof candidate[method] === "function");
}

/**
 * The run-record methods `store` has, when it has some but not all (a half-implemented
 * {@link RunStore} would silently lose cross-process safety).
 *
 * @param store A checkpoint store.
 * @returns The missing method names, empty when complete or when none is present.
 */
export function missingRunStoreMethods(store: CheckpointStore): string[] {
  const candidate = store as unknown as Partial<Record<string, unknown>>;
  const missing = RUN_STORE_METHODS.filter((method) => typeof candidate[method] !== "function");
  return missing.length === RUN_STORE_METHODS.length ? [] : missing;
}

const KINDS: ReadonlySet<string> = new Set([
  "state_entry",
  "compensation_completion",
  "step_cursor",
  "rollback",
  "compensated",
]);

/**
 * Checks a row's fields (not its payloads) before it is stored.
 *
 * @param workflowId The run id.
 * @param row The row.
 * @throws {CheckpointStoreError} Naming what is invalid.
 */
export function checkRow(workflowId: string, row: CheckpointRow): void {
  checkRunId(workflowId);
  if (typeof row !== "object" || row === null) {
    throw new CheckpointStoreError(`Checkpoint row must be an object, received ${safeString(row)}`);
  }
  if (!Number.isSafeInteger(row.sequence) || row.sequence < 0) {
    throw new CheckpointStoreError(
      `Checkpoint row sequence must be a non-negative integer, received ${
        safeString(row.sequence)
      }`,
    );
  }
  if (typeof row.state !== "string" || typeof row.taskId !== "string") {
    throw new CheckpointStoreError("Checkpoint row state and taskId must be strings");
  }
  if (!KINDS.has(row.kind)) {
    throw new CheckpointStoreError(`Checkpoint row kind is invalid: ${safeString(row.kind)}`);
  }
  if (!Number.isSafeInteger(row.workflowVersion) || row.workflowVersion < 0) {
    throw new CheckpointStoreError(
      `Checkpoint row workflowVersion must be a non-negative integer, received ${
        safeString(row.workflowVersion)
      }`,
    );
  }
}

/**
 * Checks a row and returns it as JSON text, its payloads (`data`, `output`) encoded by `codec`
 * (which refuses a value that would not come back equal, naming its path).
 *
 * @param workflowId The run id.
 * @param row The row.
 * @param codec The payload codec.
 * @returns The row's JSON text.
 * @throws {CheckpointStoreError} Naming what is invalid.
 */
export function encodeRow(workflowId: string, row: CheckpointRow, codec: Codec): string {
  checkRow(workflowId, row);
  const { sequence, state, taskId, kind, output, data, workflowVersion } = row;
  let text = `{"sequence":${sequence},"state":${JSON.stringify(state)},"taskId":${
    JSON.stringify(taskId)
  },"kind":"${kind}","workflowVersion":${workflowVersion}`;
  if (row.resumed === true) text += `,"resumed":true`;
  try {
    if (output !== undefined) text += `,"output":${codec.stringify(output, "output")}`;
    if (data !== undefined) text += `,"data":${codec.stringify(data, "data")}`;
  } catch (error) {
    throw new CheckpointStoreError(
      `Checkpoint row ${sequence} (${kind} of state "${state}") of workflow "${
        shortId(workflowId)
      }" cannot be stored: ${messageOf(error)}`,
      { cause: error },
    );
  }
  return `${text}}`;
}

/**
 * Parses a row stored by {@link encodeRow}.
 *
 * @param workflowId The run id (for error messages).
 * @param text The JSON text.
 * @param codec The payload codec the row was written with.
 * @returns The row.
 * @throws {CheckpointStoreError} When the text is not a row.
 */
export function decodeRow(workflowId: string, text: string, codec: Codec): CheckpointRow {
  let parsed: unknown;
  try {
    parsed = codec.parse(text);
  } catch (error) {
    throw new CheckpointStoreError(`Corrupt checkpoint row for workflow "${shortId(workflowId)}"`, {
      cause: error,
    });
  }
  const row = parsed as Partial<CheckpointRow> | null;
  if (
    row === null || typeof row !== "object" || !Number.isSafeInteger(row.sequence) ||
    typeof row.state !== "string" || typeof row.taskId !== "string" || !KINDS.has(row.kind ?? "")
  ) {
    throw new CheckpointStoreError(
      `Corrupt checkpoint row for workflow "${shortId(workflowId)}": ${text.slice(0, 200)}`,
    );
  }
  const decoded: CheckpointRow = {
    sequence: row.sequence as number,
    state: row.state,
    taskId: row.taskId,
    kind: row.kind as RowKind,
    workflowVersion: Number.isSafeInteger(row.workflowVersion) ? row.workflowVersion as number : 0,
  };
  if (row.resumed === true) decoded.resumed = true;
  if ("output" in row && row.output !== undefined) decoded.output = row.output;
  if ("data" in row && row.data !== undefined) decoded.data = row.data;
  return decoded;
}

/**
 * The error for a duplicate sequence.
 *
 * @param workflowId The run id.
 * @param sequence The duplicate sequence.
 * @returns The error.
 */
export function conflictError(workflowId: string, sequence: number): CheckpointStoreError {
  return new CheckpointStoreError(
    `Checkpoint conflict: workflow "${
      shortId(workflowId)
    }" already has a row with sequence ${sequence}; ` +
      "resume the existing run or clear its log",
  );
}

/**
 * The error for an append whose predecessor row is missing.
 *
 * @param workflowId The run id.
 * @param sequence The sequence that would leave a gap.
 * @returns The error.
 */
export function gapError(workflowId: string, sequence: number): CheckpointStoreError {
  return new CheckpointStoreError(
    `Checkpoint gap: workflow "${shortId(workflowId)}" has no row ${
      sequence - 1
    }, so row ${sequence} ` +
      "cannot be appended; the run was finished or cleared by another process",
  );
}

/**
 * The error for a run that has nothing to resume.
 *
 * @param workflowId The run id.
 * @returns The error.
 */
export function noRowsError(workflowId: string): CheckpointStoreError {
  return new NothingToResumeError(`No checkpoint rows for workflow id "${shortId(workflowId)}"`);
}

/**
 * The refusal of a `resume` claim of a run with no rows (finished meanwhile, or not started yet).
 * Internal: recovery tells it from store failures; users see a `CheckpointStoreError`.
 */
export class NothingToResumeError extends CheckpointStoreError {}
