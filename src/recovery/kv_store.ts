// The Deno KV RunStore: run records, leases, fenced appends and listing on any Deno.Kv-shaped
// handle. What lies where is kv_layout.ts; lock retries kv_retry.ts; options kv_options.ts.

import { KvCoordination } from "../coordination/kv_coordination.ts";
import { CheckpointStoreError } from "../errors.ts";
import {
  type CancelResult,
  type CheckpointRow,
  checkRow,
  type ClaimRequest,
  type ClaimResult,
  conflictError,
  encodeRow,
  gapError,
  type ListExpiredQuery,
  type ListRunsQuery,
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
import type { Codec } from "./codec.ts";
import type { KvKey, KvLike } from "./kv_like.ts";
import { knownLogKeys, KvLayout, type RunKeys } from "./kv_layout.ts";
import { LockRetry } from "./kv_retry.ts";
import { KvRunRecords } from "./kv_run_records.ts";
import { KvFences } from "./kv_fences.ts";
import { type ClaimContext, tryClaim } from "./kv_claims.ts";
import { checkKvOptions, type KvCheckpointStoreOptions } from "./kv_options.ts";
import { packRow } from "./kv_rows.ts";
import { checkRowSize, checkRunId, statusChangeBytes } from "./limits.ts";
import { shortId } from "./run_errors.ts";
import {
  checkEventIdKey,
  checkEventName,
  checkParkAfter,
  checkParkedSize,
  checkParkRequest,
  checkSendOptions,
  encodePayload,
  matchingEvent,
  MAX_INBOX,
  mayHoldMatch,
  parkedRun,
} from "./run_events.ts";
import {
  cancelRefusal,
  checkCancelReason,
  checkClaimRequest,
  checkExitRow,
  checkExpiredQuery,
  checkLease,
  checkNote,
  checkQuery,
  failedRun,
  isForwardRow,
  lostError,
  released,
  renewed,
  rollingBack,
  type StoredRun,
  storeError,
} from "./run_record.ts";

export type { KvLike } from "./kv_like.ts";
export type { KvCheckpointStoreOptions } from "./kv_options.ts";

const ENCODER = new TextEncoder();

/**
 * A durable {@link RunStore} on Deno KV (`Deno.openKv`): run logs and run records that survive a
 * restart and are shared by every process on the same database, with no server.
 *
 * **Storage layout** (under `prefix`, default `["cano", "checkpoints"]`; values are UTF-8 JSON
 * bytes, so Node's `@deno/kv` reads them too):
 * - `[…, "rows", id, n]` — row `n` of run `id`; a row above 64 KiB is split into chunks at
 *   `[…, "chunks", id, n, i]`, written in the same commit, and its head is
 *   `{"canoChunks":<count>,"bytes":<total>}`;
 * - `[…, "runs", id]` — the run record (owner, lease, status); its versionstamp is the fence;
 * - `[…, "status", status, id]` — a copy of the record, the index `listRuns` reads by status;
 * - `[…, "expiry", leaseUntil, id]` — the running, rolling-back and waiting runs by lease expiry
 *   (a parked run by its due time: its deadline, the latest `Date` without one, or the moment an
 *   event it waits for or a cancel request came in), so a recovery sweep finds expired and due
 *   ones without reading healthy or parked ones;
 * - `[…, "events", id, seq]` — event `seq` of the run's inbox (`{"seq","name","at","eventId",
 *   "payload"}`, at most 64 a run, payloads up to 16 KiB) and `[…, "eventids", id, eventId]` — the
 *   seq of each `eventId` received; both are written in the commit that moves the record's inbox
 *   counter (checked by its versionstamp), and deleted with the record.
 *
 * **One commit per transition.** A fenced append is one `atomic()` of one check and one set: it
 * checks the record's versionstamp (the owner's fence) and sets the row — no read. The fence makes
 * a check of the row key unneeded: while it holds, no other writer can have touched the log (the
 * owner refuses a duplicate or a gap itself, from the log length it tracks).
 *
 * **Limits.** One append is one atomic commit, which Deno KV caps at 800 KiB including keys: rows
 * whose JSON would not fit (about 798 KiB with short ids) are refused before anything is written.
 * Keys are capped at 2 KiB, so ids longer than about 2,000 UTF-8 bytes (less with a long prefix)
 * are refused. At most 3 checks per commit (KV Connect allows 10).
 *
 * **Several processes.** A commit that meets another process's write lock throws
 * `database is locked` and did not land; the store retries that error (and only that one) with
 * time-budgeted, jittered backoff (see {@link KvCheckpointStoreOptions.retry}).
 *
 * The store does not own the KV handle: close it yourself when done.
 *
 * @example Claim, append under the lease, finish
 * ```ts
 * import { KvCheckpointStore } from "@cano/cano/kv";
 * import assert from "node:assert/strict";
 *
 * const kv = await Deno.openKv(":memory:");
 * try {
 *   const store = new KvCheckpointStore(kv, { leaseMs: 10_000 });
 *   const request = { owner: "worker-1", workflow: "order", version: 1 } as const;
 *   const { lease } = await store.claim("order-1", { ...request, mode: "start" });
 *   await store.append("order-1", { sequence: 0, state: "charge", taskId: "charge", kind: "state_entry", workflowVersion: 1 }, lease);
 *   await assert.rejects(
 *     store.claim("order-1", { ...request, owner: "worker-2", mode: "resume" }),
 *     { name: "RunOwnedError" },
 *   );
 *   assert.equal((await store.getRun("order-1"))?.owner, "worker-1");
 *   await store.finish(lease, { status: "completed" });
 *   assert.deepEqual(await store.loadRun("order-1"), []);
 * } finally {
 *   kv.close();
 * }
 * ```
 */
export class KvCheckpointStore implements RunStore {
  /** How long a claim lasts without renewal, in milliseconds. */
  readonly leaseMs: number;
  /** How run data, outputs and cursors are encoded. */
  readonly codec: Codec;
  readonly #kv: KvLike;
  readonly #prefixBytes: number;
  readonly #layout: KvLayout;
  readonly #lock: LockRetry;
  readonly #now: () => number;
  readonly #fences: KvFences;
  readonly #records: KvRunRecords;
  readonly #claims: ClaimContext;

  /**
   * Creates a store on a KV handle.
   *
   * @param kv The handle, e.g. `await Deno.openKv(path)`.
   * @param options Prefix, lease length, codec, clock, lock-retry policy and abort signal.
   * @throws {ConfigurationError} When `kv` is not KV-shaped, or an option is invalid.
   */
  constructor(kv: KvLike, options: KvCheckpointStoreOptions = {}) {
    const checked = checkKvOptions(kv, options);
    this.leaseMs = checked.leaseMs;
    this.codec = checked.codec;
    this.#now = checked.now;
    this.#kv = kv;
    this.#prefixBytes = checked.prefixBytes;
    this.#layout = new KvLayout(kv, checked.prefix, checked.prefixBytes, this.codec);
    this.#lock = new LockRetry(checked.retry);
    this.#records = new KvRunRecords(kv, this.#layout, this.#lock, this.#now);
    this.#fences = new KvFences(kv, this.#layout, this.#lock, this.#now);
    this.#claims = {
      kv,
      layout: this.#layout,
      leaseMs: this.leaseMs,
      codec: this.codec,
      prefixBytes: this.#prefixBytes,
      now: this.#now,
      issue: (run, versionstamp, chunks) => this.#fences.issue(run, versionstamp, chunks),
      setChunks: (lease, chunks) => this.#fences.setChunks(lease, chunks),
    };
  }

  /**
   * Appends a row in one atomic commit. With `lease` (the engine's way), the commit also checks
   * that the run record is still the one this owner last wrote — the fence — and fails with
   * `OwnershipLostError` otherwise; a `rollback` row also marks the record `rolling_back`. Without
   * a lease, the commit checks the previous row instead (a gap is refused), and only a log that
   * no run record manages is accepted (a log seeded by hand or by a tool).
   *
   * @param workflowId The run id.
   * @param row The row.
   * @param lease The owner's lease.
   * @returns When the row is durable.
   * @throws {CheckpointStoreError} On a duplicate sequence, a gap, an invalid or too large row, run
   * data the codec refuses, an id too long for a KV key, a KV failure, or `database is locked`
   * after every attempt.
   * @throws {OwnershipLostError} When the lease no longer owns the run.
   */
  append(workflowId: string, row: CheckpointRow, lease?: RunLease): Promise<void> {
    try {
      checkRow(workflowId, row);
      const state = lease === undefined ? undefined : this.#fences.state(lease);
      const keys = state?.keys ?? this.#layout.keys(workflowId);
      const bytes = ENCODER.encode(encodeRow(workflowId, row, this.codec));
      const packed = packRow(bytes);
      const head: KvKey = [...keys.rows, row.sequence];
      const chunks = packed.chunks.map((value, index) => ({
        key: [...keys.chunks, row.sequence, index] as KvKey,
        value,
      }));
      if (lease === undefined) {
        checkRowSize(workflowId, row.sequence, bytes.length, keys.limits.maxRowBytes);
        return this.#records.appendUnfenced(
          workflowId,
          keys,
          row.sequence,
          head,
          packed.head,
          chunks,
        );
      }
      checkLease(lease, workflowId);
      // While the fence holds nobody else can have written under this id (appends without a
      // lease refuse runs that have a record), so the next row of the log the owner tracks needs
      // no check of its key. Any other sequence is a caller's mistake: it is refused — as lost
      // ownership when the fence no longer holds, else as the gap or duplicate it is.
      const inOrder = row.sequence === lease.sequence;
      return this.#lock.run(`Append checkpoint row ${row.sequence}`, workflowId, async () => {
        const known = state ?? await this.#fences.adopt(workflowId, keys, lease);
        if (!inOrder) {
          const current = await this.#layout.readRecord(workflowId, keys);
          if (current?.versionstamp !== lease.fence) {
            throw lostError(workflowId, current?.run, this.#now());
          }
          if (row.sequence > lease.sequence) throw gapError(workflowId, row.sequence);
          throw conflictError(workflowId, row.sequence);
        }
        if (lease.cancel !== undefined && isForwardRow(row.kind)) {
          throw cancelRefusal(workflowId, lease.cancel);
        }
        // Bounded: a refused commit is either lost ownership (thrown) or a cancel request or an
        // event the owner takes into its fence, which happens at most once per event (the inbox
        // is capped) and once for the cancel.
        for (let pass = 1;; pass++) {
          const now = this.#now();
          const next = row.kind === "rollback"
            ? rollingBack(
              known.run,
              { ...lease, sequence: row.sequence + 1, state: row.state },
              now,
            )
            : undefined;
          const recordBytes = next === undefined ? undefined : ENCODER.encode(JSON.stringify(next));
          const extra = recordBytes === undefined
            ? 0
            : statusChangeBytes(this.#prefixBytes, workflowId, recordBytes.length);
          checkRowSize(workflowId, row.sequence, bytes.length, keys.limits.maxRowBytesWith(extra));
          const op = this.#kv.atomic();
          op.check({ key: keys.record, versionstamp: lease.fence });
          op.set(head, packed.head);
          for (const chunk of chunks) op.set(chunk.key, chunk.value);
          if (next !== undefined && recordBytes !== undefined) {
            this.#layout.writeRecord(op, keys, known.run, next, recordBytes);
          }
          const result = await op.commit();
          if (result.ok) {
            lease.sequence = row.sequence + 1;
            lease.state = row.state;
            if (chunks.length > 0) known.chunks?.set(row.sequence, chunks.length);
            if (next !== undefined) this.#fences.adopted(lease, known, next, result.versionstamp);
            return;
          }
          await this.#fences.refused(workflowId, keys, lease, known, pass);
          if (isForwardRow(row.kind) && lease.cancel !== undefined) {
            throw cancelRefusal(workflowId, lease.cancel);
          }
        }
      });
    } catch (error) {
      return Promise.reject(storeError("KvCheckpointStore.append()", error));
    }
  }

  /**
   * Loads every row of a run, ascending by sequence, reassembling chunked rows.
   *
   * @param workflowId The run id.
   * @returns The rows (empty for an unknown id).
   * @throws {CheckpointStoreError} On a corrupt row (naming the id and sequence), an id too long
   * for a KV key, a KV failure, or `database is locked` after every attempt.
   */
  loadRun(workflowId: string): Promise<CheckpointRow[]> {
    try {
      checkRunId(workflowId);
      const keys = this.#layout.keys(workflowId);
      return this.#lock.run(
        "Load checkpoint log",
        workflowId,
        async () => (await this.#layout.loadRows(workflowId, keys)).rows,
      );
    } catch (error) {
      return Promise.reject(storeError("KvCheckpointStore.loadRun()", error));
    }
  }

  /**
   * Removes every row (and chunk) of one run, and its record and index entries, in atomic batches
   * of at most 990 deletes — whoever owns the run (its owner's next write then fails with
   * `OwnershipLostError`). Other ids are untouched; an unknown id is a no-op.
   *
   * @param workflowId The run id.
   * @returns When everything is gone.
   * @throws {CheckpointStoreError} On an id too long for a KV key, a KV failure, or
   * `database is locked` after every attempt.
   */
  clear(workflowId: string): Promise<void> {
    try {
      checkRunId(workflowId);
      const keys = this.#layout.keys(workflowId);
      return (async () => {
        // The record goes first: once it is gone no owner can write, and what is left is rows.
        const current = await this.#lock.run(
          "Read run record",
          workflowId,
          () => this.#layout.readRecord(workflowId, keys),
        );
        if (current !== undefined) {
          await this.#lock.run("Clear run record", workflowId, async () => {
            const op = this.#kv.atomic();
            this.#layout.deleteRecord(op, keys, current.run);
            await op.commit();
          });
        }
        // The inbox before the rows: a clear cut short leaves rows (which refuse a new start
        // until cleared), never events a new run of the id would inherit.
        const inbox = await this.#lock.run(
          "List events to clear",
          workflowId,
          () => this.#layout.listInboxKeys(keys),
        );
        const listed = await this.#lock.run(
          "List checkpoint rows to clear",
          workflowId,
          () => this.#layout.listLogKeys(keys),
        );
        await this.#fences.deleteKeys(workflowId, [...inbox, ...listed], undefined);
      })();
    } catch (error) {
      return Promise.reject(storeError("KvCheckpointStore.clear()", error));
    }
  }

  /**
   * Claims a run (see `RunStore.claim`): a compare-and-set on its record, then (for a run that
   * has one) its rows, read after the claim took effect.
   *
   * @param workflowId The run id.
   * @param request Mode, owner, workflow name and version.
   * @returns The lease, and the rows as of the claim.
   * @throws {RunExistsError} `start` over an unfinished run.
   * @throws {RunOwnedError} `resume` of a run a live process holds.
   * @throws {CheckpointStoreError} `resume` of a run with nothing to resume, or a KV failure.
   */
  claim(workflowId: string, request: ClaimRequest): Promise<ClaimResult> {
    try {
      checkRunId(workflowId);
      const keys = this.#layout.keys(workflowId);
      checkClaimRequest(request);
      return this.#lock.run("Claim run", workflowId, async () => {
        // Bounded: each pass ends in a claim, a refusal, or a record another process changed
        // between the read and the commit, which is read again.
        for (let pass = 1;; pass++) {
          const claimed = await tryClaim(this.#claims, workflowId, keys, request);
          if (claimed !== undefined) return claimed;
          if (pass >= this.#lock.attempts) {
            throw new CheckpointStoreError(
              `Claim run "${shortId(workflowId)}" failed: its record changed during each of ` +
                `${pass} attempts`,
            );
          }
        }
      });
    } catch (error) {
      return Promise.reject(storeError("KvCheckpointStore.claim()", error));
    }
  }

  /**
   * Extends the lease by `leaseMs` from now (and records the log's progress on the run record).
   *
   * @param lease The owner's lease (updated in place).
   * @returns When renewed.
   * @throws {OwnershipLostError} When the lease no longer owns the run.
   */
  renew(lease: RunLease): Promise<void> {
    return this.#rewrite(
      lease,
      "Renew lease",
      (run, now) => renewed(run, lease, now, this.leaseMs),
      true,
    );
  }

  /**
   * Gives the run up without ending it: it is claimable at once.
   *
   * @param lease The owner's lease.
   * @returns When released.
   * @throws {OwnershipLostError} When the lease no longer owns the run.
   */
  release(lease: RunLease): Promise<void> {
    return this.#rewrite(lease, "Release run", (run, now) => released(run, lease, now));
  }

  /**
   * Ends the run: `completed` deletes its rows, record and index entries (fenced batches, rows
   * first in ascending order, the record last, so an interrupted delete leaves a log that resumes
   * to the same end); `failed` keeps the rows and marks the record failed.
   *
   * @param lease The owner's lease.
   * @param end How the run ended.
   * @returns When recorded.
   * @throws {OwnershipLostError} When the lease no longer owns the run.
   */
  finish(lease: RunLease, end: RunEnd): Promise<void> {
    try {
      const status = end?.status;
      if (status === "failed" && typeof end.error === "string") {
        const error = end.error;
        return this.#rewrite(
          lease,
          "Mark run failed",
          (run, now) => failedRun(run, lease, now, error),
        );
      }
      if (status !== "completed") {
        throw new CheckpointStoreError(
          'finish() needs { status: "completed" } or { status: "failed", error: string }',
        );
      }
    } catch (error) {
      return Promise.reject(storeError("KvCheckpointStore.finish()", error));
    }
    try {
      checkLease(lease);
      const id = lease.id;
      checkRunId(id);
      const keys = this.#layout.keys(id);
      const exit = end.exit;
      if (exit !== undefined) this.#checkExit(id, keys, exit, lease);
      return (async () => {
        const state = this.#fences.state(lease) ??
          await this.#lock.run("Read run record", id, () => this.#fences.adopt(id, keys, lease));
        // The rows first, in order, then the inbox; the record goes with the last batch.
        const listed = async (): Promise<KvKey[]> => [
          ...(state.chunks === undefined || lease.sequence === 0
            ? await this.#lock.run("List checkpoint rows", id, () => this.#layout.listLogKeys(keys))
            : knownLogKeys(keys, lease.sequence, state.chunks)),
          ...await this.#fences.inboxKeys(id, keys, state.run),
        ];
        let logKeys = await listed();
        let folded = exit !== undefined;
        if (exit !== undefined && logKeys.length >= this.#fences.perBatch(keys, state.run)) {
          folded = false;
          // A delete in several commits: the exit row first, so that a delete cut short leaves a
          // log that ends in the exit state (a resume finishes it at once).
          await this.append(id, exit, lease);
          logKeys = await listed();
        }
        await this.#fences.deleteKeys(id, logKeys, { lease, keys, state, forward: folded });
      })();
    } catch (error) {
      return Promise.reject(storeError("KvCheckpointStore.finish()", error));
    }
  }

  /**
   * One run's record.
   *
   * @param workflowId The run id.
   * @returns The record, `undefined` when the run has none.
   */
  getRun(workflowId: string): Promise<RunInfo | undefined> {
    try {
      checkRunId(workflowId);
      return this.#records.get(workflowId);
    } catch (error) {
      return Promise.reject(storeError("KvCheckpointStore.getRun()", error));
    }
  }

  /**
   * A page of run records, ordered by id. With a `status`, only that status's index is read;
   * otherwise the records themselves (one per unfinished run; never the rows).
   *
   * @param query Filters, page size and cursor.
   * @returns The page.
   */
  listRuns(query?: ListRunsQuery): Promise<RunPage> {
    try {
      return this.#records.list(checkQuery(query));
    } catch (error) {
      return Promise.reject(storeError("KvCheckpointStore.listRuns()", error));
    }
  }

  /**
   * Requests durably that a run be cancelled, from any process: a compare-and-set that adds the
   * request to the run's record. Its owner sees it within a second (it polls) and for certain at
   * its next fenced write; a run nobody holds is cancelled by whoever claims it next.
   *
   * @param workflowId The run id.
   * @param reason Why (default `"cancel requested"`).
   * @returns What happened; only `requested` wrote anything.
   */
  requestCancel(workflowId: string, reason?: string): Promise<CancelResult> {
    try {
      checkRunId(workflowId);
      return this.#records.requestCancel(workflowId, checkCancelReason(reason));
    } catch (error) {
      return Promise.reject(storeError("KvCheckpointStore.requestCancel()", error));
    }
  }

  /**
   * The owner's poll for a cancel request: one read of the run's record.
   *
   * @param lease The owner's lease.
   * @returns The request's reason, `undefined` when there is none.
   * @throws {OwnershipLostError} When the record is no longer this lease's.
   */
  pollCancel(lease: RunLease): Promise<string | undefined> {
    try {
      checkLease(lease);
      const id = lease.id;
      checkRunId(id);
      const keys = this.#layout.keys(id);
      const state = this.#fences.state(lease);
      return this.#lock.run("Poll for a cancel request", id, async () => {
        const known = state ?? await this.#fences.adopt(id, keys, lease);
        const current = await this.#layout.readRecord(id, keys);
        if (current?.versionstamp === lease.fence) return lease.cancel;
        await this.#fences.refused(id, keys, lease, known, 1);
        return lease.cancel;
      });
    } catch (error) {
      return Promise.reject(storeError("KvCheckpointStore.pollCancel()", error));
    }
  }

  /**
   * Runs waiting for a claimer: `running` or `rolling_back`, lease expired. Reads the lease-expiry
   * index up to `now` and the records it names, never a healthy run's. `state` and `sequence`
   * are as of the record's last write.
   *
   * @param query Page size, expiry bound and cursor.
   * @returns A page of runs, oldest expiry first.
   */
  listExpired(query?: ListExpiredQuery): Promise<RunPage> {
    try {
      return this.#records.listExpired(checkExpiredQuery(query, this.#now()));
    } catch (error) {
      return Promise.reject(storeError("KvCheckpointStore.listExpired()", error));
    }
  }

  /**
   * Notes a problem on a run nobody holds, as its `error` (compare-and-set on the record).
   *
   * @param workflowId The run id.
   * @param error The note.
   * @returns Whether it was written (`false` when a live owner holds the run or it has no record).
   */
  noteRun(workflowId: string, error: string): Promise<boolean> {
    try {
      checkRunId(workflowId);
      return this.#records.note(workflowId, checkNote(error));
    } catch (error) {
      return Promise.reject(storeError("KvCheckpointStore.noteRun()", error));
    }
  }

  /**
   * Parks the owner's run in a wait state (see `RunStore.park`): one read of the record (the
   * fence), one list of the inbox when it holds events after `request.after`, and one fenced
   * commit that makes the run `waiting`, owned by nobody, and files it in the lease-expiry index
   * at its deadline (at the latest `Date` without one, past every listing's bound).
   *
   * @param lease The owner's lease.
   * @param request The wait state, its events and deadline, and the last consumed event.
   * @returns Whether the run was parked, or the earliest event the wait takes.
   * @throws {CancelledError} When a cancel request is pending.
   * @throws {OwnershipLostError} When the lease no longer owns the run.
   */
  park(lease: RunLease, request: ParkRequest): Promise<ParkResult> {
    try {
      checkLease(lease);
      const id = lease.id;
      checkRunId(id);
      const keys = this.#layout.keys(id);
      const park = checkParkRequest(request);
      const state = this.#fences.state(lease);
      return this.#lock.run("Park run", id, async () => {
        const known = state ?? await this.#fences.adopt(id, keys, lease);
        // Bounded: each refused commit is a record change the next read takes in or refuses.
        for (let pass = 1;; pass++) {
          const current = await this.#layout.readRecord(id, keys);
          if (current?.versionstamp !== lease.fence) {
            this.#fences.take(id, lease, known, current, pass);
          }
          if (lease.cancel !== undefined) throw cancelRefusal(id, lease.cancel);
          checkParkAfter(known.run, park);
          if (mayHoldMatch(known.run, park)) {
            const events = await this.#layout.listEvents(id, keys, park.after, known.run);
            const event = matchingEvent(events, park);
            if (event !== undefined) return { parked: false, event };
          }
          const next = parkedRun(known.run, lease, park, this.#now());
          const bytes = ENCODER.encode(JSON.stringify(next));
          checkParkedSize(id, bytes.length);
          const op = this.#kv.atomic();
          op.check({ key: keys.record, versionstamp: lease.fence });
          this.#layout.writeRecord(op, keys, known.run, next, bytes);
          if ((await op.commit()).ok) {
            // The lease's fence stays behind: its later writes find the record changed.
            this.#fences.forget(lease);
            return { parked: true };
          }
          if (pass > MAX_INBOX + 2) {
            throw new CheckpointStoreError(
              `Park run "${
                shortId(id)
              }" failed: its record changed during each of ${pass} attempts`,
            );
          }
        }
      });
    } catch (error) {
      return Promise.reject(storeError("KvCheckpointStore.park()", error));
    }
  }

  /**
   * Sends an event to a run, from any process (see `RunStore.sendEvent`): a compare-and-set of the
   * record that stores the event at `[…, "events", id, seq]` (and its `eventId` at
   * `[…, "eventids", id, eventId]`) in the same commit.
   *
   * @param workflowId The run id.
   * @param name The event name.
   * @param payload The payload (encoded by the store's codec; at most 16 KiB).
   * @param options The `eventId` that makes a repeated send a no-op.
   * @returns What happened, and the run's record after it.
   * @throws {EventRefusedError} When the run has no record, failed, or its inbox is full.
   * @throws {CheckpointStoreError} On a bad name or `eventId`, a payload the codec refuses or
   * that is too large, or a KV failure.
   */
  sendEvent(
    workflowId: string,
    name: string,
    payload: unknown,
    options?: SendEventOptions,
  ): Promise<SendEventResult> {
    try {
      checkRunId(workflowId);
      const keys = this.#layout.keys(workflowId);
      const eventName = checkEventName(name, "sendEvent name");
      const eventId = checkSendOptions(options);
      if (eventId !== undefined) checkEventIdKey(this.#prefixBytes, workflowId, eventId);
      const text = encodePayload(workflowId, { name: eventName, payload }, this.codec);
      return this.#records.sendEvent(workflowId, keys, eventName, eventId, text);
    } catch (error) {
      return Promise.reject(storeError("KvCheckpointStore.sendEvent()", error));
    }
  }

  /** Rewrites the record under the lease's fence (renew, release, failure). */
  #rewrite(
    lease: RunLease,
    what: string,
    change: (run: StoredRun, now: number) => StoredRun,
    untilLeaseEnd = false,
  ): Promise<void> {
    try {
      const id = lease?.id;
      checkRunId(id);
      const keys = this.#layout.keys(id);
      const state = this.#fences.state(lease);
      // A renewal retries the lock only until shortly before the lease ends (the heartbeat's
      // margin, on Date.now()'s clock): past it another process may claim the run, and the
      // heartbeat must learn of the failure in time to stop the run's work.
      const deadline = untilLeaseEnd
        ? Date.now() + (lease.leaseUntil - this.#now()) -
          Math.min(1_000, Math.floor(this.leaseMs / 10))
        : undefined;
      return this.#lock.run(what, id, async () => {
        const known = state ?? await this.#fences.adopt(id, keys, lease);
        for (let pass = 1;; pass++) {
          const next = change(known.run, this.#now());
          const op = this.#kv.atomic();
          op.check({ key: keys.record, versionstamp: lease.fence });
          this.#layout.writeRecord(op, keys, known.run, next, ENCODER.encode(JSON.stringify(next)));
          const result = await op.commit();
          if (result.ok) return this.#fences.adopted(lease, known, next, result.versionstamp);
          await this.#fences.refused(id, keys, lease, known, pass);
        }
      }, deadline);
    } catch (error) {
      return Promise.reject(storeError(`KvCheckpointStore: ${what}`, error));
    }
  }

  /**
   * Checks an end's exit row as its append would be checked — the next row of the log, storable,
   * and not a forward row once a cancel request is seen — so that an end whose row is never
   * written refuses what the append would have refused.
   */
  #checkExit(id: string, keys: RunKeys, exit: CheckpointRow, lease: RunLease): void {
    checkLease(lease, id);
    checkExitRow(id, exit, lease, this.codec, keys.limits.maxRowBytes);
  }

  #coordination: KvCoordination | undefined;

  /**
   * The scheduler coordination on this store's database, under its prefix (`[...prefix,
   * "sched"]`) and with its lock-retry attempts: pass the store as `coordination` to
   * `Scheduler.start` (or as `store` to `registerDenoCron`) to share flows between processes.
   *
   * @example One store for runs and schedules
   * ```ts
   * import { KvCheckpointStore } from "@cano/cano/kv";
   * import assert from "node:assert/strict";
   *
   * const kv = await Deno.openKv(":memory:");
   * try {
   *   const store = new KvCheckpointStore(kv);
   *   assert.equal(store.coordination, store.coordination);
   *   assert.equal(await store.coordination.claimTick("sync", 0, "me", Date.now() + 60_000), true);
   * } finally {
   *   kv.close();
   * }
   * ```
   */
  get coordination(): KvCoordination {
    return this.#coordination ??= new KvCoordination(this.#kv, {
      prefix: this.#layout.listPrefix(undefined).slice(0, -1),
      retry: { attempts: this.#lock.attempts },
    });
  }
}
