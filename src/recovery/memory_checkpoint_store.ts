// The in-memory RunStore: the whole contract (run records, leases, fencing, listing) with the
// same limits and codec as the Deno KV store, so what passes here does not fail on KV.

import { MemoryCoordination } from "../coordination/memory_coordination.ts";
import type { Codec } from "./codec.ts";
import {
  type CancelResult,
  type CheckpointRow,
  checkRow,
  type ClaimRequest,
  type ClaimResult,
  conflictError,
  decodeRow,
  type DeliveredEvent,
  encodeRow,
  gapError,
  type ListExpiredQuery,
  type ListRunsQuery,
  noRowsError,
  type ParkRequest,
  type ParkResult,
  type RunEnd,
  type RunInfo,
  type RunLease,
  type RunPage,
  type RunStore,
  type SendEventOptions,
  type SendEventResult,
} from "./checkpoint.ts";
import {
  checkRowSize,
  checkRunId,
  DEFAULT_PREFIX_BYTES,
  limitsFor,
  statusChangeBytes,
  utf8Bytes,
} from "./limits.ts";
import {
  abandonedUnstarted,
  afterExpired,
  cancelNoop,
  cancelRefusal,
  checkCancelReason,
  checkClaimRequest,
  checkClock,
  checkCodec,
  checkExitRow,
  checkExpiredQuery,
  checkLease,
  checkLeaseMs,
  checkNote,
  checkQuery,
  checkTakeover,
  createdRun,
  cursorAfter,
  expiredCursorAfter,
  failedRun,
  infoOf,
  isExpired,
  isForwardRow,
  leaseOf,
  lostError,
  matches,
  noteAllowed,
  notedRun,
  ownedAppendError,
  released,
  renewed,
  rollingBack,
  type StoredRun,
  storeError,
  summarizeRows,
  takenOver,
  toRunInfo,
  withCancel,
} from "./run_record.ts";
import { CheckpointStoreError } from "../errors.ts";
import { readOptions } from "../options.ts";
import { RunExistsError } from "./run_errors.ts";
import {
  checkEventIdKey,
  checkEventName,
  checkParkAfter,
  checkParkedSize,
  checkParkRequest,
  checkSendOptions,
  decideSend,
  decodeEvent,
  encodeEvent,
  encodePayload,
  matchingEvent,
  mayHoldMatch,
  onlyOutsideChanges,
  parkedRun,
} from "./run_events.ts";

/** Options of {@link MemoryCheckpointStore}. */
export interface MemoryCheckpointStoreOptions {
  /**
   * How long a claim lasts without renewal, in milliseconds (10 ms to one day). The engine renews
   * every `leaseMs / 3` while it works on a run.
   *
   * @default {30_000}
   */
  leaseMs?: number | undefined;
  /**
   * How run data, outputs and cursors are encoded. The default refuses values JSON would change
   * (a `Map`, a `Date`, `undefined`, `NaN`, …), naming their path; `typedJsonCodec` keeps them.
   *
   * @default {jsonCodec}
   */
  codec?: Codec | undefined;
  /**
   * The clock for lease times (epoch milliseconds). Inject one to test lease expiry.
   *
   * @default {Date.now}
   */
  now?: (() => number) | undefined;
}

interface Entry {
  run: StoredRun;
  fence: number;
}

/** A run's inbox: its events (JSON text) by seq, and the seq of each `eventId` received. */
interface Inbox {
  readonly events: Map<number, string>;
  readonly ids: Map<string, number>;
}

/**
 * An in-memory {@link RunStore}: run logs and run records with the full contract (claims, leases,
 * fenced appends, listing) and the same limits as `KvCheckpointStore` with its default prefix —
 * a row the KV store would refuse (too large, a `Map` in the run data, an id too long for a KV
 * key) is refused here too. For tests and single-process use.
 *
 * @example Claim a run, append under its lease, list it
 * ```ts
 * import { MemoryCheckpointStore } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryCheckpointStore();
 * const { lease } = await store.claim("order-1", {
 *   mode: "start",
 *   owner: "worker-1",
 *   workflow: "order",
 *   version: 0,
 * });
 * await store.append(
 *   "order-1",
 *   { sequence: 0, state: "charge", taskId: "charge", kind: "state_entry", workflowVersion: 0 },
 *   lease,
 * );
 * const { runs } = await store.listRuns({ status: "running" });
 * assert.deepEqual(runs.map((run) => [run.id, run.owner]), [["order-1", "worker-1"]]);
 * await store.finish(lease, { status: "completed" });
 * assert.deepEqual(await store.loadRun("order-1"), []);
 * ```
 */
export class MemoryCheckpointStore implements RunStore {
  /** How long a claim lasts without renewal, in milliseconds. */
  readonly leaseMs: number;
  /** How run data, outputs and cursors are encoded. */
  readonly codec: Codec;
  readonly #now: () => number;
  readonly #rows = new Map<string, Map<number, string>>();
  readonly #runs = new Map<string, Entry>();
  readonly #inboxes = new Map<string, Inbox>();
  #fences = 0;
  /** The record as each lease's owner last wrote it (to tell a cancel request from a takeover). */
  readonly #issued = new WeakMap<RunLease, StoredRun>();

  /**
   * Creates an empty store.
   *
   * @param options Lease length, codec and clock.
   */
  constructor(given: MemoryCheckpointStoreOptions = {}) {
    const options = readOptions<MemoryCheckpointStoreOptions>(
      given,
      "MemoryCheckpointStore options",
      [
        "leaseMs",
        "codec",
        "now",
      ],
    );
    this.leaseMs = checkLeaseMs("MemoryCheckpointStore", options.leaseMs);
    this.codec = checkCodec(options.codec);
    this.#now = checkClock("MemoryCheckpointStore", options.now);
  }

  /**
   * Appends a row. With `lease`, only while that lease owns the run (else `OwnershipLostError`);
   * without one, only to a log no run record manages (a log seeded by hand or by a tool).
   *
   * @param workflowId The run id.
   * @param row The row.
   * @param lease The owner's lease.
   * @returns When stored.
   * @throws {CheckpointStoreError} On a duplicate or gap, an invalid or too large row, or run data
   * the codec refuses.
   */
  append(workflowId: string, row: CheckpointRow, lease?: RunLease): Promise<void> {
    return settle("append", () => {
      checkRow(workflowId, row);
      const limits = limitsFor(workflowId, DEFAULT_PREFIX_BYTES);
      const text = encodeRow(workflowId, row, this.codec);
      const now = this.#now();
      const entry = lease === undefined ? undefined : this.#fenced(workflowId, lease, now);
      if (lease?.cancel !== undefined && isForwardRow(row.kind)) {
        throw cancelRefusal(workflowId, lease.cancel);
      }
      // A run with a record is the engine's: writing around its lease would leave the owner's
      // view of the log out of date.
      if (lease === undefined && this.#runs.has(workflowId)) throw ownedAppendError(workflowId);
      const next = entry !== undefined && lease !== undefined && row.kind === "rollback"
        ? rollingBack(entry.run, { ...lease, sequence: row.sequence + 1, state: row.state }, now)
        : undefined;
      const extra = next === undefined
        ? 0
        : statusChangeBytes(DEFAULT_PREFIX_BYTES, workflowId, utf8Bytes(JSON.stringify(next)));
      checkRowSize(workflowId, row.sequence, utf8Bytes(text), limits.maxRowBytesWith(extra));
      let rows = this.#rows.get(workflowId);
      if (rows?.has(row.sequence)) throw conflictError(workflowId, row.sequence);
      if (row.sequence > 0 && !rows?.has(row.sequence - 1)) {
        throw gapError(workflowId, row.sequence);
      }
      if (rows === undefined) {
        rows = new Map();
        this.#rows.set(workflowId, rows);
      }
      rows.set(row.sequence, text);
      if (entry === undefined || lease === undefined) return;
      lease.sequence = row.sequence + 1;
      lease.state = row.state;
      if (next !== undefined) this.#write(entry, lease, next);
    });
  }

  /**
   * Loads a run's rows.
   *
   * @param workflowId The run id.
   * @returns The rows, ascending by sequence.
   */
  loadRun(workflowId: string): Promise<CheckpointRow[]> {
    return settle("loadRun", () => {
      checkRunId(workflowId);
      limitsFor(workflowId, DEFAULT_PREFIX_BYTES);
      return this.#load(workflowId);
    });
  }

  /**
   * Removes a run's rows and record, whoever owns it (its owner's next write then fails with
   * `OwnershipLostError`).
   *
   * @param workflowId The run id.
   * @returns When removed.
   */
  clear(workflowId: string): Promise<void> {
    return settle("clear", () => {
      checkRunId(workflowId);
      limitsFor(workflowId, DEFAULT_PREFIX_BYTES);
      this.#rows.delete(workflowId);
      this.#runs.delete(workflowId);
      this.#inboxes.delete(workflowId);
    });
  }

  /**
   * Claims a run (see `RunStore.claim`).
   *
   * @param workflowId The run id.
   * @param request Mode, owner, workflow name and version.
   * @returns The lease, and the rows as of the claim.
   * @throws {RunExistsError} `start` over an unfinished run.
   * @throws {RunOwnedError} `resume` of a run a live process holds.
   * @throws {CheckpointStoreError} `resume` of a run with nothing to resume.
   */
  claim(workflowId: string, request: ClaimRequest): Promise<ClaimResult> {
    return settle("claim", () => {
      checkRunId(workflowId);
      limitsFor(workflowId, DEFAULT_PREFIX_BYTES);
      checkClaimRequest(request);
      const now = this.#now();
      const existing = this.#runs.get(workflowId);
      if (existing === undefined) {
        const hasRows = (this.#rows.get(workflowId)?.size ?? 0) > 0;
        if (request.mode === "start" && hasRows) {
          throw new RunExistsError(workflowId, "a log without a run record");
        }
        if (request.mode === "resume" && !hasRows) throw noRowsError(workflowId);
        const rows = hasRows ? this.#load(workflowId) : [];
        // A new run's first row goes in with the claim, when it can be stored (else the caller's
        // own append meets the refusal).
        const first = hasRows ? undefined : this.#firstRow(workflowId, request.first);
        const run = createdRun(
          workflowId,
          request,
          now,
          this.leaseMs,
          first === undefined
            ? summarizeRows(rows)
            : { count: 1, state: first.state, rolledBack: false },
        );
        const entry: Entry = { run, fence: ++this.#fences };
        this.#runs.set(workflowId, entry);
        if (first !== undefined) this.#rows.set(workflowId, new Map([[0, first.text]]));
        const lease = this.#issue(entry, leaseOf(run, String(entry.fence)));
        return first === undefined
          ? { lease, rows, created: !hasRows }
          : { lease, rows, created: true, firstWritten: true };
      }
      checkTakeover(existing.run, request, now);
      const rows = this.#load(workflowId);
      if (request.mode === "resume" && rows.length === 0) {
        // A record whose run never wrote a row: its starter may still be writing row 0, so the
        // record is left alone — unless its lease has been over for a whole lease more.
        if (abandonedUnstarted(existing.run, now, this.leaseMs)) {
          this.#runs.delete(workflowId);
          this.#inboxes.delete(workflowId);
        }
        throw noRowsError(workflowId);
      }
      existing.run = takenOver(existing.run, request, now, this.leaseMs);
      existing.fence = ++this.#fences;
      // The record's progress is as of its last write; the lease follows the log itself.
      const lease = this.#issue(existing, leaseOf(existing.run, String(existing.fence)));
      const { count, state } = summarizeRows(rows);
      lease.sequence = count;
      lease.state = state;
      const events = this.#events(workflowId);
      return events.length === 0
        ? { lease, rows, created: false }
        : { lease, rows, created: false, events };
    });
  }

  /**
   * Extends the lease by `leaseMs` from now.
   *
   * @param lease The owner's lease (updated in place).
   * @returns When renewed.
   * @throws {OwnershipLostError} When the lease no longer owns the run.
   */
  renew(lease: RunLease): Promise<void> {
    return settle("renew", () => {
      const now = this.#now();
      const entry = this.#fenced(lease?.id, lease, now);
      this.#write(entry, lease, renewed(entry.run, lease, now, this.leaseMs));
    });
  }

  /**
   * Gives the run up without ending it: it is claimable at once.
   *
   * @param lease The owner's lease.
   * @returns When released.
   * @throws {OwnershipLostError} When the lease no longer owns the run.
   */
  release(lease: RunLease): Promise<void> {
    return settle("release", () => {
      const now = this.#now();
      const entry = this.#fenced(lease?.id, lease, now);
      this.#write(entry, lease, released(entry.run, lease, now));
    });
  }

  /**
   * Ends the run: `completed` deletes its rows and record, `failed` keeps the rows and marks the
   * record failed.
   *
   * @param lease The owner's lease.
   * @param end How the run ended.
   * @returns When recorded.
   * @throws {OwnershipLostError} When the lease no longer owns the run.
   */
  finish(lease: RunLease, end: RunEnd): Promise<void> {
    return settle("finish", () => {
      const now = this.#now();
      const entry = this.#fenced(lease?.id, lease, now);
      if (end?.status === "completed") {
        const exit = end.exit;
        if (exit !== undefined) {
          // Checked as its append would be; the log it would join is deleted at once.
          checkExitRow(
            lease.id,
            exit,
            lease,
            this.codec,
            limitsFor(lease.id, DEFAULT_PREFIX_BYTES).maxRowBytes,
          );
        }
        this.#rows.delete(lease.id);
        this.#runs.delete(lease.id);
        this.#inboxes.delete(lease.id);
        return;
      }
      if (end?.status !== "failed" || typeof end.error !== "string") {
        throw new CheckpointStoreError(
          'finish() needs { status: "completed" } or { status: "failed", error: string }',
        );
      }
      this.#write(entry, lease, failedRun(entry.run, lease, now, end.error));
    });
  }

  /**
   * One run's record.
   *
   * @param workflowId The run id.
   * @returns The record, `undefined` when the run has none.
   */
  getRun(workflowId: string): Promise<RunInfo | undefined> {
    return settle("getRun", () => {
      checkRunId(workflowId);
      const entry = this.#runs.get(workflowId);
      return entry === undefined ? undefined : toRunInfo(entry.run, this.#lastRow(workflowId));
    });
  }

  /**
   * A page of run records, ordered by id.
   *
   * @param query Filters, page size and cursor.
   * @returns The page.
   */
  listRuns(query?: ListRunsQuery): Promise<RunPage> {
    return settle("listRuns", () => {
      const checked = checkQuery(query);
      const ids = [...this.#runs.keys()].sort(compareIds);
      const runs: RunInfo[] = [];
      for (const id of ids) {
        if (checked.after !== undefined && compareIds(id, checked.after) <= 0) continue;
        const entry = this.#runs.get(id) as Entry;
        if (!matches(entry.run, checked)) continue;
        if (runs.length === checked.limit) {
          return { runs, cursor: cursorAfter(runs[runs.length - 1]!.id) };
        }
        runs.push(toRunInfo(entry.run, this.#lastRow(id)));
      }
      return { runs, cursor: undefined };
    });
  }

  /**
   * The run's entry while `lease` holds it. A record changed only by a cancel request is taken
   * into the lease (`lease.cancel` set, fence moved on); anything else is lost ownership.
   */
  #fenced(id: string, lease: RunLease, now: number): Entry {
    checkLease(lease, id);
    const entry = this.#runs.get(id);
    if (entry !== undefined && String(entry.fence) !== lease.fence) {
      const known = this.#issued.get(lease);
      if (known === undefined || !onlyOutsideChanges(known, entry.run)) {
        throw lostError(id, entry.run, now);
      }
      lease.fence = String(entry.fence);
      lease.cancel = entry.run.cancel?.reason;
      this.#issued.set(lease, entry.run);
    }
    if (entry === undefined) throw lostError(id, undefined, now);
    return entry;
  }

  /**
   * Requests durably that a run be cancelled (see `RunStore.requestCancel`).
   *
   * @param workflowId The run id.
   * @param reason Why (default `"cancel requested"`).
   * @returns What happened; only `requested` wrote anything.
   */
  requestCancel(workflowId: string, reason?: string): Promise<CancelResult> {
    return settle("requestCancel", () => {
      checkRunId(workflowId);
      const why = checkCancelReason(reason);
      const entry = this.#runs.get(workflowId);
      const noop = cancelNoop(entry?.run);
      if (noop !== undefined || entry === undefined) {
        return { outcome: noop ?? "not_found", run: infoOf(entry?.run) };
      }
      entry.run = withCancel(entry.run, why, this.#now());
      entry.fence = ++this.#fences;
      return { outcome: "requested", run: toRunInfo(entry.run) };
    });
  }

  /**
   * The owner's poll for a cancel request.
   *
   * @param lease The owner's lease.
   * @returns The request's reason, `undefined` when there is none.
   * @throws {OwnershipLostError} When the record is no longer this lease's.
   */
  pollCancel(lease: RunLease): Promise<string | undefined> {
    return settle("pollCancel", () => {
      this.#fenced(lease?.id, lease, this.#now());
      return lease.cancel;
    });
  }

  /**
   * Runs waiting for a claimer (`running` or `rolling_back` with their lease expired, `waiting`
   * and due), oldest expiry first.
   *
   * @param query Page size, expiry bound and cursor.
   * @returns A page of runs.
   */
  listExpired(query?: ListExpiredQuery): Promise<RunPage> {
    return settle("listExpired", () => {
      const checked = checkExpiredQuery(query, this.#now());
      const expired = [...this.#runs.values()]
        .map((entry) => entry.run)
        .filter((run) =>
          isExpired(run, checked.now) && afterExpired(run, checked.after, compareIds)
        )
        .sort((a, b) => a.leaseUntil - b.leaseUntil || compareIds(a.id, b.id));
      const page = expired.slice(0, checked.limit);
      const last = page[page.length - 1];
      return {
        runs: page.map((run) => toRunInfo(run)),
        cursor: expired.length > checked.limit && last !== undefined
          ? expiredCursorAfter(last)
          : undefined,
      };
    });
  }

  /**
   * Notes a problem on a run nobody holds, as its `error`.
   *
   * @param workflowId The run id.
   * @param error The note.
   * @returns Whether it was written.
   */
  noteRun(workflowId: string, error: string): Promise<boolean> {
    return settle("noteRun", () => {
      checkRunId(workflowId);
      const note = checkNote(error);
      const entry = this.#runs.get(workflowId);
      const now = this.#now();
      if (entry === undefined || !noteAllowed(entry.run, now)) return false;
      entry.run = notedRun(entry.run, note, now);
      entry.fence = ++this.#fences;
      return true;
    });
  }

  /**
   * Parks the owner's run in a wait state (see `RunStore.park`): hands back the earliest event
   * the wait takes when the inbox holds one (writing nothing), else makes the run `waiting`,
   * owned by nobody and due at `request.until` (never, without one); the lease is then over.
   *
   * @param lease The owner's lease.
   * @param request The wait state, its events and deadline, and the last consumed event.
   * @returns Whether the run was parked, or the event it takes.
   * @throws {CancelledError} When a cancel request is pending.
   * @throws {OwnershipLostError} When the lease no longer owns the run.
   */
  park(lease: RunLease, request: ParkRequest): Promise<ParkResult> {
    return settle("park", () => {
      checkLease(lease);
      const park = checkParkRequest(request);
      const now = this.#now();
      const entry = this.#fenced(lease.id, lease, now);
      if (lease.cancel !== undefined) throw cancelRefusal(lease.id, lease.cancel);
      checkParkAfter(entry.run, park);
      if (mayHoldMatch(entry.run, park)) {
        const event = matchingEvent(this.#events(lease.id), park);
        if (event !== undefined) return { parked: false, event };
      }
      const next = parkedRun(entry.run, lease, park, now);
      checkParkedSize(lease.id, utf8Bytes(JSON.stringify(next)));
      entry.run = next;
      entry.fence = ++this.#fences;
      // The lease's fence stays behind: its later writes find the record changed, and refuse.
      this.#issued.delete(lease);
      return { parked: true };
    });
  }

  /**
   * Sends an event to a run (see `RunStore.sendEvent`): stored in its inbox; a run waiting for it
   * is made due at once.
   *
   * @param workflowId The run id.
   * @param name The event name.
   * @param payload The payload (encoded by the store's codec; at most 16 KiB).
   * @param options The `eventId` that makes a repeated send a no-op.
   * @returns What happened, and the run's record after it.
   * @throws {EventRefusedError} When the run has no record, failed, or its inbox is full.
   * @throws {CheckpointStoreError} On a bad name or `eventId`, or a payload the codec refuses or
   * that is too large.
   */
  sendEvent(
    workflowId: string,
    name: string,
    payload: unknown,
    options?: SendEventOptions,
  ): Promise<SendEventResult> {
    return settle("sendEvent", () => {
      checkRunId(workflowId);
      limitsFor(workflowId, DEFAULT_PREFIX_BYTES);
      const eventName = checkEventName(name, "sendEvent name");
      const eventId = checkSendOptions(options);
      if (eventId !== undefined) checkEventIdKey(DEFAULT_PREFIX_BYTES, workflowId, eventId);
      const text = encodePayload(workflowId, { name: eventName, payload }, this.codec);
      const entry = this.#runs.get(workflowId);
      const inbox = this.#inboxes.get(workflowId);
      const duplicate = eventId !== undefined && inbox?.ids.has(eventId) === true;
      const now = this.#now();
      const decision = decideSend(workflowId, entry?.run, eventName, eventId, duplicate, now);
      const current = entry as Entry; // decideSend refuses a run without a record
      if (decision.outcome === "duplicate") {
        return { outcome: "duplicate", run: toRunInfo(current.run) };
      }
      const stored = inbox ?? { events: new Map(), ids: new Map() };
      const event = { seq: decision.seq, name: eventName, eventId, at: now };
      stored.events.set(decision.seq, encodeEvent(event, text));
      if (eventId !== undefined) stored.ids.set(eventId, decision.seq);
      this.#inboxes.set(workflowId, stored);
      current.run = decision.next;
      current.fence = ++this.#fences;
      return { outcome: decision.outcome, run: toRunInfo(current.run) };
    });
  }

  /** A run's inbox, decoded, in seq order. */
  #events(id: string): DeliveredEvent[] {
    const inbox = this.#inboxes.get(id);
    if (inbox === undefined) return [];
    return [...inbox.events.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, text]) => decodeEvent(id, text, this.codec));
  }

  #write(entry: Entry, lease: RunLease, run: StoredRun): void {
    entry.run = run;
    entry.fence = ++this.#fences;
    lease.fence = String(entry.fence);
    lease.leaseUntil = run.leaseUntil;
    this.#issued.set(lease, run);
  }

  /** A lease and the record as its owner last wrote it. */
  #issue(entry: Entry, lease: RunLease): RunLease {
    this.#issued.set(lease, entry.run);
    return lease;
  }

  /** A claim's first row as stored text, `undefined` when absent or not storable. */
  #firstRow(
    id: string,
    row: CheckpointRow | undefined,
  ): { state: string; text: string } | undefined {
    if (row === undefined) return undefined;
    try {
      if (row.sequence !== 0) return undefined;
      const text = encodeRow(id, row, this.codec);
      const record = statusChangeBytes(DEFAULT_PREFIX_BYTES, id, 600 + utf8Bytes(row.state));
      checkRowSize(
        id,
        0,
        utf8Bytes(text),
        limitsFor(id, DEFAULT_PREFIX_BYTES).maxRowBytesWith(record),
      );
      return { state: row.state, text };
    } catch {
      return undefined;
    }
  }

  /** The log's last row, `undefined` when it has none. */
  #lastRow(id: string): CheckpointRow | undefined {
    const rows = this.#rows.get(id);
    if (rows === undefined || rows.size === 0) return undefined;
    const last = Math.max(...rows.keys());
    return decodeRow(id, rows.get(last)!, this.codec);
  }

  #load(id: string): CheckpointRow[] {
    const rows = this.#rows.get(id);
    if (rows === undefined) return [];
    return [...rows.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, text]) => decodeRow(id, text, this.codec));
  }

  #coordination: MemoryCoordination | undefined;

  /**
   * The scheduler coordination of this store: schedulers of this process started with the store
   * as `coordination` fire each tick once and share each flow's state.
   *
   * @example Two schedulers sharing a store
   * ```ts
   * import { MemoryCheckpointStore } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryCheckpointStore();
   * assert.equal(await store.coordination.claimTick("sync", 0, "a", Date.now() + 60_000), true);
   * assert.equal(await store.coordination.claimTick("sync", 0, "b", Date.now() + 60_000), false);
   * ```
   */
  get coordination(): MemoryCoordination {
    return this.#coordination ??= new MemoryCoordination();
  }
}

/** Orders ids the way Deno KV orders string key parts: by their UTF-8 bytes. */
function compareIds(a: string, b: string): number {
  // For well-formed strings, comparing code points equals comparing UTF-8 bytes.
  const left = [...a];
  const right = [...b];
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const x = left[i]!.codePointAt(0)!;
    const y = right[i]!.codePointAt(0)!;
    if (x !== y) return x - y;
  }
  return left.length - right.length;
}

/** Runs a synchronous store operation and reports its outcome as a promise. */
function settle<T>(what: string, operation: () => T): Promise<T> {
  try {
    return Promise.resolve(operation());
  } catch (error) {
    return Promise.reject(storeError(`MemoryCheckpointStore.${what}()`, error));
  }
}
