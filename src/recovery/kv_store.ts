import { delay } from "../async.ts";
import { safeInstanceOf, safeString } from "../describe.ts";
import { CanoError, CheckpointStoreError, ConfigurationError, messageOf } from "../errors.ts";
import {
  type CheckpointRow,
  checkRow,
  type ClaimRequest,
  type ClaimResult,
  conflictError,
  encodeRow,
  gapError,
  type ListRunsQuery,
  noRowsError,
  type RunEnd,
  type RunInfo,
  type RunLease,
  type RunPage,
  type RunStatus,
  type RunStore,
} from "./checkpoint.ts";
import type { Codec } from "./codec.ts";
import { describeValue, isKeyPart, isLocked, type KvKey, type KvLike } from "./kv_like.ts";
import { chunkCount, chunkKeys, packRow, unpackRow } from "./kv_rows.ts";
import {
  checkRowSize,
  checkRunId,
  type IdLimits,
  type KeyPart,
  limitsFor,
  MAX_KEY_BYTES,
  prefixBytes,
  statusChangeBytes,
} from "./limits.ts";
import { checkCodec, ownedAppendError } from "./memory_checkpoint_store.ts";
import { RunExistsError, shortId } from "./run_errors.ts";
import {
  checkClaimRequest,
  checkClock,
  checkLeaseMs,
  checkQuery,
  checkTakeover,
  createdRun,
  cursorAfter,
  failedRun,
  isActive,
  leaseOf,
  lostError,
  matches,
  parseRun,
  released,
  renewed,
  rollingBack,
  type RunQuery,
  type StoredRun,
  summarizeRows,
  takenOver,
  toRunInfo,
} from "./run_record.ts";

export type { KvLike } from "./kv_like.ts";

/** Deletes per commit when a log is removed, and the byte budget of one such commit. */
const DELETE_BATCH_MUTATIONS = 500;
const DELETE_BATCH_BYTES = 700_000;
/** The longest wait between two lock retries, in milliseconds. */
const MAX_RETRY_DELAY = 1_000;
const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();
const EMPTY = new Uint8Array(0);

/** Options of {@link KvCheckpointStore}. */
export interface KvCheckpointStoreOptions {
  /**
   * The key prefix under which everything is stored (a `Deno.KvKey`); stores with different
   * prefixes share a database without seeing each other.
   *
   * @default {["cano", "checkpoints"]}
   */
  prefix?: readonly (string | number | bigint | boolean | Uint8Array)[] | undefined;
  /**
   * How long a claim lasts without renewal, in milliseconds (10 ms to one day). The engine renews
   * every `leaseMs / 3` while it works on a run; a process that dies holds its runs until then.
   *
   * @default {30_000}
   */
  leaseMs?: number | undefined;
  /**
   * How run data, outputs and cursors are encoded. The default refuses values JSON would change
   * (a `Map`, a `Date`, `undefined`, `NaN`, …), naming their path; `typedJsonCodec` keeps them.
   * Keep one codec for the lifetime of a database.
   *
   * @default {jsonCodec}
   */
  codec?: Codec | undefined;
  /**
   * The clock for lease times (epoch milliseconds). Processes sharing a database compare lease
   * times, so their clocks must agree to well within `leaseMs`.
   *
   * @default {Date.now}
   */
  now?: (() => number) | undefined;
  /**
   * Retries of the transient `database is locked` error that Deno KV throws when several processes
   * write one database file at once. Each retry waits `baseDelay × 2^(n-1)` milliseconds (capped at
   * one second) with ±50 % jitter. Other errors are never retried.
   */
  retry?: {
    /**
     * Attempts in total, including the first (an integer ≥ 1).
     *
     * @default {8}
     */
    attempts?: number | undefined;
    /**
     * The first retry's delay in milliseconds (≥ 0).
     *
     * @default {10}
     */
    baseDelay?: number | undefined;
  } | undefined;
  /**
   * Aborts the waits between lock retries: a pending retry rejects with `signal.reason` as soon as
   * the signal aborts. Operations that do not hit the lock are unaffected.
   */
  signal?: AbortSignal | undefined;
}

/** The keys of one run id. */
interface RunKeys {
  readonly rows: readonly KeyPart[];
  readonly chunks: readonly KeyPart[];
  readonly record: readonly KeyPart[];
  readonly limits: IdLimits;
}

/** What the store remembers about a lease it issued: the record as last written, and the log. */
interface LeaseState {
  run: StoredRun;
  /** Chunk counts of the log's chunked rows; `undefined` when the layout is not known. */
  chunks: Map<number, number> | undefined;
}

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
 * - `[…, "expiry", leaseUntil, id]` — the running and rolling-back runs by lease expiry, so a
 *   recovery sweep finds expired ones without reading healthy ones.
 *
 * **One commit per transition.** A fenced append is one `atomic()`: it checks the record's
 * versionstamp (the owner's fence) and the row key's absence, and sets the row — no read.
 *
 * **Limits.** One append is one atomic commit, which Deno KV caps at 800 KiB including keys: rows
 * whose JSON would not fit (about 798 KiB with short ids) are refused before anything is written.
 * Keys are capped at 2 KiB, so ids longer than about 2,000 UTF-8 bytes (less with a long prefix)
 * are refused. At most 3 checks per commit (KV Connect allows 10).
 *
 * **Several processes.** A commit that meets another process's write lock throws
 * `database is locked` and did not land; the store retries that error (and only that one) with
 * bounded, jittered exponential backoff (see {@link KvCheckpointStoreOptions.retry}).
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
  readonly #prefix: readonly KeyPart[];
  readonly #prefixBytes: number;
  readonly #attempts: number;
  readonly #baseDelay: number;
  readonly #signal: AbortSignal | undefined;
  readonly #now: () => number;
  readonly #leases = new WeakMap<RunLease, LeaseState>();

  /**
   * Creates a store on a KV handle.
   *
   * @param kv The handle, e.g. `await Deno.openKv(path)`.
   * @param options Prefix, lease length, codec, clock, lock-retry policy and abort signal.
   * @throws {ConfigurationError} When `kv` is not KV-shaped, or an option is invalid.
   */
  constructor(kv: KvLike, options: KvCheckpointStoreOptions = {}) {
    if (
      typeof kv !== "object" || kv === null || typeof kv.atomic !== "function" ||
      typeof kv.list !== "function" || typeof kv.get !== "function"
    ) {
      throw new ConfigurationError(
        "KvCheckpointStore needs a Deno KV handle (an object with get(), atomic() and list())",
      );
    }
    if (typeof options !== "object" || options === null) {
      throw new ConfigurationError("KvCheckpointStore options must be an object");
    }
    const prefix = options.prefix ?? ["cano", "checkpoints"];
    if (!Array.isArray(prefix)) {
      throw new ConfigurationError(
        `KvCheckpointStore prefix must be an array of key parts, received ${safeString(prefix)}`,
      );
    }
    for (const part of prefix as readonly unknown[]) {
      if (!isKeyPart(part)) {
        throw new ConfigurationError(
          `KvCheckpointStore prefix parts must be strings, numbers, bigints, booleans or ` +
            `Uint8Arrays, received ${describeValue(part)}`,
        );
      }
      if (typeof part === "string" && !part.isWellFormed()) {
        throw new ConfigurationError(
          "KvCheckpointStore prefix strings must be well-formed (no lone surrogates)",
        );
      }
    }
    this.#prefix = Object.freeze(
      prefix.map((part) => part instanceof Uint8Array ? part.slice() : part),
    );
    this.#prefixBytes = prefixBytes(this.#prefix);
    // The longest key holds a one-character id: it must fit, or no id can be stored at all.
    try {
      limitsFor("x", this.#prefixBytes);
    } catch {
      throw new ConfigurationError(
        `KvCheckpointStore prefix is too long: it encodes to ${this.#prefixBytes} bytes, leaving ` +
          `no room for workflow ids under Deno KV's ${MAX_KEY_BYTES}-byte key limit`,
      );
    }
    const attempts = options.retry?.attempts ?? 8;
    if (!Number.isSafeInteger(attempts) || attempts < 1) {
      throw new ConfigurationError(
        `KvCheckpointStore retry.attempts must be an integer of at least 1, received ${attempts}`,
      );
    }
    const baseDelay = options.retry?.baseDelay ?? 10;
    if (!Number.isFinite(baseDelay) || baseDelay < 0) {
      throw new ConfigurationError(
        `KvCheckpointStore retry.baseDelay must be a finite number of milliseconds ≥ 0, received ${baseDelay}`,
      );
    }
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
      throw new ConfigurationError("KvCheckpointStore signal must be an AbortSignal");
    }
    this.leaseMs = checkLeaseMs("KvCheckpointStore", options.leaseMs);
    this.codec = wrapConfig(() => checkCodec(options.codec));
    this.#now = checkClock("KvCheckpointStore", options.now);
    this.#kv = kv;
    this.#attempts = attempts;
    this.#baseDelay = baseDelay;
    this.#signal = options.signal;
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
      const keys = this.#keys(workflowId);
      const bytes = ENCODER.encode(encodeRow(workflowId, row, this.codec));
      const packed = packRow(bytes);
      const head: KvKey = [...keys.rows, row.sequence];
      const chunks = packed.chunks.map((value, index) => ({
        key: [...keys.chunks, row.sequence, index] as KvKey,
        value,
      }));
      if (lease === undefined) {
        checkRowSize(workflowId, row.sequence, bytes.length, keys.limits.maxRowBytes);
        return this.#appendUnfenced(workflowId, keys, row.sequence, head, packed.head, chunks);
      }
      const state = this.#leaseState(lease);
      // The owner knows its log's length: a row past it would leave a gap (no read needed).
      if (row.sequence > lease.sequence) throw gapError(workflowId, row.sequence);
      return this.#retry(`Append checkpoint row ${row.sequence}`, workflowId, async () => {
        const known = state ?? await this.#adopt(workflowId, keys, lease);
        const now = this.#now();
        const next = row.kind === "rollback"
          ? rollingBack(known.run, { ...lease, sequence: row.sequence + 1, state: row.state }, now)
          : undefined;
        const recordBytes = next === undefined ? undefined : ENCODER.encode(JSON.stringify(next));
        const extra = recordBytes === undefined
          ? 0
          : statusChangeBytes(this.#prefixBytes, workflowId, recordBytes.length);
        checkRowSize(workflowId, row.sequence, bytes.length, keys.limits.maxRowBytesWith(extra));
        const op = this.#kv.atomic();
        op.check({ key: keys.record, versionstamp: lease.fence }, {
          key: head,
          versionstamp: null,
        });
        op.set(head, packed.head);
        for (const chunk of chunks) op.set(chunk.key, chunk.value);
        if (next !== undefined && recordBytes !== undefined) {
          this.#writeRecord(op, keys, known.run, next, recordBytes);
        }
        const result = await op.commit();
        if (!result.ok) {
          const current = await this.#readRecord(workflowId, keys);
          if (current?.versionstamp !== lease.fence) {
            throw lostError(workflowId, current?.run, this.#now());
          }
          throw conflictError(workflowId, row.sequence);
        }
        lease.sequence = row.sequence + 1;
        lease.state = row.state;
        if (chunks.length > 0) known.chunks?.set(row.sequence, chunks.length);
        if (next !== undefined) this.#adopted(lease, known, next, result.versionstamp);
      });
    } catch (error) {
      return Promise.reject(error);
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
      const keys = this.#keys(workflowId);
      return this.#retry("Load checkpoint log", workflowId, () => this.#loadRows(workflowId, keys));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Removes every row (and chunk) of one run, and its record and index entries, in atomic batches
   * of at most 500 deletes — whoever owns the run (its owner's next write then fails with
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
      const keys = this.#keys(workflowId);
      return (async () => {
        // The record goes first: once it is gone no owner can write, and what is left is rows.
        const current = await this.#retry(
          "Read run record",
          workflowId,
          () => this.#readRecord(workflowId, keys),
        );
        if (current !== undefined) {
          await this.#retry("Clear run record", workflowId, async () => {
            const op = this.#kv.atomic();
            this.#deleteRecord(op, keys, current.run);
            await op.commit();
          });
        }
        const listed = await this.#retry(
          "List checkpoint rows to clear",
          workflowId,
          () => this.#listLogKeys(keys),
        );
        await this.#deleteKeys(workflowId, listed, undefined);
      })();
    } catch (error) {
      return Promise.reject(error);
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
      const keys = this.#keys(workflowId);
      checkClaimRequest(request);
      return this.#retry("Claim run", workflowId, async () => {
        // Bounded: each pass ends in a claim, a refusal, or a record another process changed
        // between the read and the commit, which is read again.
        for (let pass = 1;; pass++) {
          const claimed = await this.#tryClaim(workflowId, keys, request);
          if (claimed !== undefined) return claimed;
          if (pass >= this.#attempts) {
            throw new CheckpointStoreError(
              `Claim run "${shortId(workflowId)}" failed: its record changed during each of ` +
                `${pass} attempts`,
            );
          }
        }
      });
    } catch (error) {
      return Promise.reject(error);
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
    if (end?.status === "failed" && typeof end.error === "string") {
      const error = end.error;
      return this.#rewrite(
        lease,
        "Mark run failed",
        (run, now) => failedRun(run, lease, now, error),
      );
    }
    if (end?.status !== "completed") {
      return Promise.reject(
        new CheckpointStoreError(
          'finish() needs { status: "completed" } or { status: "failed", error: string }',
        ),
      );
    }
    try {
      const id = lease.id;
      checkRunId(id);
      const keys = this.#keys(id);
      return (async () => {
        const state = this.#leaseState(lease) ??
          await this.#retry("Read run record", id, () => this.#adopt(id, keys, lease));
        const logKeys = state.chunks === undefined || lease.sequence === 0
          ? await this.#retry("List checkpoint rows", id, () => this.#listLogKeys(keys))
          : knownLogKeys(keys, lease.sequence, state.chunks);
        await this.#deleteKeys(id, logKeys, { lease, keys, run: state.run });
      })();
    } catch (error) {
      return Promise.reject(error);
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
      const keys = this.#keys(workflowId);
      return this.#retry("Read run record", workflowId, async () => {
        const current = await this.#readRecord(workflowId, keys);
        if (current === undefined) return undefined;
        return toRunInfo(current.run, await this.#lastRow(workflowId, keys));
      });
    } catch (error) {
      return Promise.reject(error);
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
      const checked = checkQuery(query);
      return this.#retry("List runs", "*", () => this.#list(checked));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async #list(query: RunQuery): Promise<RunPage> {
    const prefix: KvKey = query.status === undefined
      ? [...this.#prefix, "runs"]
      : [...this.#prefix, "status", query.status];
    const selector = query.after === undefined
      ? { prefix }
      : { prefix, start: [...prefix, query.after] };
    const runs: RunInfo[] = [];
    for await (const entry of this.#kv.list(selector)) {
      const id = entry.key[entry.key.length - 1];
      if (typeof id !== "string" || id === query.after) continue;
      const run = parseRun(id, decodeValue(id, entry.value));
      if (!matches(run, query)) continue;
      if (runs.length === query.limit) {
        return { runs, cursor: cursorAfter(runs[runs.length - 1]!.id) };
      }
      runs.push(toRunInfo(run, await this.#lastRow(id, this.#keys(id))));
    }
    return { runs, cursor: undefined };
  }

  /** One claim attempt: the claim, or `undefined` when the record changed under it. */
  async #tryClaim(
    id: string,
    keys: RunKeys,
    request: ClaimRequest,
  ): Promise<ClaimResult | undefined> {
    const current = await this.#readRecord(id, keys);
    const now = this.#now();
    if (current === undefined) {
      if (request.mode === "resume") return await this.#claimLog(id, keys, request);
      const run = createdRun(id, request, now, this.leaseMs, {
        count: 0,
        state: "",
        rolledBack: false,
      });
      const op = this.#kv.atomic();
      op.check({ key: keys.record, versionstamp: null }, {
        key: [...keys.rows, 0],
        versionstamp: null,
      });
      this.#writeRecord(op, keys, undefined, run, ENCODER.encode(JSON.stringify(run)));
      const result = await op.commit();
      if (result.ok) {
        return { lease: this.#issue(run, result.versionstamp, new Map()), rows: [], created: true };
      }
      if ((await this.#kv.get(keys.record)).versionstamp !== null) return undefined; // raced
      // A log without a record: written without leases (or by an older version of this store).
      if (request.mode === "start") throw new RunExistsError(id, "a log without a run record");
      return await this.#claimLog(id, keys, request);
    }
    checkTakeover(current.run, request, now);
    const next = takenOver(current.run, request, now, this.leaseMs);
    const op = this.#kv.atomic();
    op.check({ key: keys.record, versionstamp: current.versionstamp });
    this.#writeRecord(op, keys, current.run, next, ENCODER.encode(JSON.stringify(next)));
    const result = await op.commit();
    if (!result.ok) return undefined;
    const lease = this.#issue(next, result.versionstamp, undefined);
    const { rows, chunks } = await this.#loadRowsWithLayout(id, keys);
    this.#leases.get(lease)!.chunks = dense(rows) ? chunks : undefined;
    follow(lease, rows);
    if (request.mode === "resume" && rows.length === 0) {
      // A record whose run never wrote a row (its first claim died): nothing to resume.
      const op = this.#kv.atomic();
      op.check({ key: keys.record, versionstamp: lease.fence });
      this.#deleteRecord(op, keys, next);
      await op.commit();
      throw noRowsError(id);
    }
    return { lease, rows, created: false };
  }

  /** Claims a log that has no record yet: a record is created over the rows found. */
  async #claimLog(
    id: string,
    keys: RunKeys,
    request: ClaimRequest,
  ): Promise<ClaimResult | undefined> {
    const before = await this.#loadRows(id, keys);
    if (before.length === 0) {
      if (request.mode === "resume") throw noRowsError(id);
      return undefined; // the rows vanished: start over
    }
    const run = createdRun(id, request, this.#now(), this.leaseMs, summarizeRows(before));
    const op = this.#kv.atomic();
    op.check({ key: keys.record, versionstamp: null });
    this.#writeRecord(op, keys, undefined, run, ENCODER.encode(JSON.stringify(run)));
    const result = await op.commit();
    if (!result.ok) return undefined;
    const lease = this.#issue(run, result.versionstamp, undefined);
    const { rows, chunks } = await this.#loadRowsWithLayout(id, keys);
    this.#leases.get(lease)!.chunks = dense(rows) ? chunks : undefined;
    follow(lease, rows);
    return { lease, rows, created: false };
  }

  /** Rewrites the record under the lease's fence (renew, release, failure). */
  #rewrite(
    lease: RunLease,
    what: string,
    change: (run: StoredRun, now: number) => StoredRun,
  ): Promise<void> {
    try {
      const id = lease?.id;
      checkRunId(id);
      const keys = this.#keys(id);
      const state = this.#leaseState(lease);
      return this.#retry(what, id, async () => {
        const known = state ?? await this.#adopt(id, keys, lease);
        const next = change(known.run, this.#now());
        const op = this.#kv.atomic();
        op.check({ key: keys.record, versionstamp: lease.fence });
        this.#writeRecord(op, keys, known.run, next, ENCODER.encode(JSON.stringify(next)));
        const result = await op.commit();
        if (!result.ok) {
          const current = await this.#readRecord(id, keys);
          throw lostError(id, current?.run, this.#now());
        }
        this.#adopted(lease, known, next, result.versionstamp);
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Sets the record and keeps both indexes in step with it. */
  #writeRecord(
    op: ReturnType<KvLike["atomic"]>,
    keys: RunKeys,
    previous: StoredRun | undefined,
    next: StoredRun,
    bytes: Uint8Array,
  ): void {
    op.set(keys.record, bytes);
    if (previous !== undefined && previous.status !== next.status) {
      op.delete(this.#statusKey(previous.status, next.id));
    }
    op.set(this.#statusKey(next.status, next.id), bytes);
    const before = previous !== undefined && isActive(previous) ? previous.leaseUntil : undefined;
    const after = isActive(next) ? next.leaseUntil : undefined;
    if (before !== after) {
      if (before !== undefined) op.delete(this.#expiryKey(before, next.id));
      if (after !== undefined) op.set(this.#expiryKey(after, next.id), EMPTY);
    }
  }

  #deleteRecord(op: ReturnType<KvLike["atomic"]>, keys: RunKeys, run: StoredRun): void {
    op.delete(keys.record);
    op.delete(this.#statusKey(run.status, run.id));
    if (isActive(run)) op.delete(this.#expiryKey(run.leaseUntil, run.id));
  }

  #statusKey(status: RunStatus, id: string): KvKey {
    return [...this.#prefix, "status", status, id];
  }

  #expiryKey(leaseUntil: number, id: string): KvKey {
    return [...this.#prefix, "expiry", leaseUntil, id];
  }

  /** Deletes log keys in fenced batches; with `fence`, the last batch also deletes the record. */
  async #deleteKeys(
    id: string,
    logKeys: KvKey[],
    fence: { lease: RunLease; keys: RunKeys; run: StoredRun } | undefined,
  ): Promise<void> {
    const keyBytes = fence?.keys.limits.chunkKeyBytes ?? MAX_KEY_BYTES;
    const perBatch = Math.max(
      1,
      Math.min(DELETE_BATCH_MUTATIONS, Math.floor(DELETE_BATCH_BYTES / keyBytes)),
    );
    for (let start = 0; start < logKeys.length || (fence !== undefined && start === 0);) {
      const batch = logKeys.slice(start, start + perBatch);
      start += perBatch;
      const last = start >= logKeys.length;
      await this.#retry("Delete checkpoint rows", id, async () => {
        const op = this.#kv.atomic();
        if (fence !== undefined) {
          op.check({ key: fence.keys.record, versionstamp: fence.lease.fence });
        }
        for (const key of batch) op.delete(key);
        if (fence !== undefined && last) this.#deleteRecord(op, fence.keys, fence.run);
        const result = await op.commit();
        if (!result.ok && fence !== undefined) {
          const current = await this.#readRecord(id, fence.keys);
          throw lostError(id, current?.run, this.#now());
        }
      });
      if (last) break;
    }
    if (fence !== undefined) this.#leases.delete(fence.lease);
  }

  /** Every row and chunk key of a run, heads in ascending order, each row's chunks after it. */
  async #listLogKeys(keys: RunKeys): Promise<KvKey[]> {
    const found: KvKey[] = [];
    for await (const entry of this.#kv.list({ prefix: keys.rows })) found.push(entry.key as KvKey);
    for await (const entry of this.#kv.list({ prefix: keys.chunks })) {
      found.push(entry.key as KvKey);
    }
    return found;
  }

  async #appendUnfenced(
    id: string,
    keys: RunKeys,
    sequence: number,
    head: KvKey,
    headValue: Uint8Array,
    chunks: { key: KvKey; value: Uint8Array }[],
  ): Promise<void> {
    const previous: KvKey | undefined = sequence > 0 ? [...keys.rows, sequence - 1] : undefined;
    await this.#retry(`Append checkpoint row ${sequence}`, id, async () => {
      // Bounded: each pass ends in success, an error, or a previous row or record that changed
      // between the read and the commit, which is re-read.
      for (let pass = 1;; pass++) {
        // A run with a record is the engine's: writing around its lease would leave the owner's
        // view of the log (and its delete at the end) out of date.
        if (await this.#readRecord(id, keys) !== undefined) throw ownedAppendError(id);
        let previousStamp: string | null = null;
        if (previous !== undefined) {
          previousStamp = (await this.#kv.get(previous)).versionstamp;
          if (previousStamp === null) {
            if ((await this.#kv.get(head)).versionstamp !== null) throw conflictError(id, sequence);
            throw gapError(id, sequence);
          }
        }
        const op = this.#kv.atomic();
        op.check({ key: head, versionstamp: null }, { key: keys.record, versionstamp: null });
        if (previous !== undefined) op.check({ key: previous, versionstamp: previousStamp });
        op.set(head, headValue);
        for (const chunk of chunks) op.set(chunk.key, chunk.value);
        const result = await op.commit();
        if (result.ok) return;
        if ((await this.#kv.get(head)).versionstamp !== null) throw conflictError(id, sequence);
        if (pass >= this.#attempts) {
          throw new CheckpointStoreError(
            `Append checkpoint row ${sequence} for workflow "${shortId(id)}" failed: the log ` +
              `changed during each of ${pass} attempts`,
          );
        }
      }
    });
  }

  /** The log's last row (one reverse read of one key), `undefined` when it has none. */
  async #lastRow(id: string, keys: RunKeys): Promise<CheckpointRow | undefined> {
    for await (const entry of this.#kv.list({ prefix: keys.rows }, { limit: 1, reverse: true })) {
      const sequence = entry.key[entry.key.length - 1];
      if (typeof sequence !== "number") return undefined;
      return await unpackRow(
        id,
        sequence,
        entry.value,
        () => this.#chunksOf(keys, sequence),
        this.codec,
      );
    }
    return undefined;
  }

  async #chunksOf(keys: RunKeys, sequence: number): Promise<Map<number, Uint8Array>> {
    const parts = new Map<number, Uint8Array>();
    for await (const entry of this.#kv.list({ prefix: [...keys.chunks, sequence] })) {
      const index = entry.key[entry.key.length - 1];
      if (typeof index === "number" && entry.value instanceof Uint8Array) {
        parts.set(index, entry.value);
      }
    }
    return parts;
  }

  async #loadRows(id: string, keys: RunKeys): Promise<CheckpointRow[]> {
    return (await this.#loadRowsWithLayout(id, keys)).rows;
  }

  async #loadRowsWithLayout(
    id: string,
    keys: RunKeys,
  ): Promise<{ rows: CheckpointRow[]; chunks: Map<number, number> }> {
    const heads: { sequence: number; value: unknown }[] = [];
    for await (const entry of this.#kv.list({ prefix: keys.rows })) {
      const sequence = entry.key[entry.key.length - 1];
      if (typeof sequence !== "number" || !Number.isSafeInteger(sequence) || sequence < 0) {
        throw new CheckpointStoreError(
          `Corrupt checkpoint log for workflow "${shortId(id)}": unexpected key part ` +
            describeValue(sequence),
        );
      }
      heads.push({ sequence, value: entry.value });
    }
    heads.sort((a, b) => a.sequence - b.sequence);
    const rows: CheckpointRow[] = [];
    const chunks = new Map<number, number>();
    for (const { sequence, value } of heads) {
      const readChunks = () => this.#chunksOf(keys, sequence);
      rows.push(await unpackRow(id, sequence, value, readChunks, this.codec));
      if (value instanceof Uint8Array) {
        const count = chunkCount(value);
        if (count > 0) chunks.set(sequence, count);
      }
    }
    return { rows, chunks };
  }

  async #readRecord(
    id: string,
    keys: RunKeys,
  ): Promise<{ run: StoredRun; versionstamp: string } | undefined> {
    const entry = await this.#kv.get(keys.record);
    if (entry.versionstamp === null) return undefined;
    return { run: parseRun(id, decodeValue(id, entry.value)), versionstamp: entry.versionstamp };
  }

  /** The state of a lease issued by another store object: read from the record under its fence. */
  async #adopt(id: string, keys: RunKeys, lease: RunLease): Promise<LeaseState> {
    const current = await this.#readRecord(id, keys);
    if (current === undefined || current.versionstamp !== lease.fence) {
      throw lostError(id, current?.run, this.#now());
    }
    const state: LeaseState = { run: current.run, chunks: undefined };
    this.#leases.set(lease, state);
    return state;
  }

  #issue(
    run: StoredRun,
    versionstamp: string | undefined,
    chunks: Map<number, number> | undefined,
  ): RunLease {
    const lease = leaseOf(run, stampOf(versionstamp));
    this.#leases.set(lease, { run, chunks });
    return lease;
  }

  #adopted(
    lease: RunLease,
    state: LeaseState,
    run: StoredRun,
    versionstamp: string | undefined,
  ): void {
    state.run = run;
    lease.fence = stampOf(versionstamp);
    lease.leaseUntil = run.leaseUntil;
  }

  #leaseState(lease: RunLease): LeaseState | undefined {
    if (typeof lease !== "object" || lease === null || typeof lease.fence !== "string") {
      throw new CheckpointStoreError("A lease must be the object a claim returned");
    }
    return this.#leases.get(lease);
  }

  #keys(id: string): RunKeys {
    return {
      rows: [...this.#prefix, "rows", id],
      chunks: [...this.#prefix, "chunks", id],
      record: [...this.#prefix, "runs", id],
      limits: limitsFor(id, this.#prefixBytes),
    };
  }

  /**
   * Runs `operation`, retrying the transient `database is locked` error with jittered exponential
   * backoff; other errors are wrapped in a `CheckpointStoreError` (cano errors pass through).
   */
  async #retry<T>(what: string, id: string, operation: () => Promise<T>): Promise<T> {
    for (let attempt = 1;; attempt++) {
      try {
        return await operation();
      } catch (error) {
        if (safeInstanceOf(error, CanoError)) throw error;
        if (!isLocked(error)) {
          throw new CheckpointStoreError(
            `${what} for workflow "${shortId(id)}" failed in Deno KV: ${messageOf(error)}`,
            { cause: error },
          );
        }
        if (attempt >= this.#attempts) {
          throw new CheckpointStoreError(
            `${what} for workflow "${shortId(id)}" failed: database is locked after ` +
              `${attempt} attempts`,
            { cause: error },
          );
        }
        const backoff = Math.min(this.#baseDelay * 2 ** (attempt - 1), MAX_RETRY_DELAY);
        await delay(backoff * (0.5 + Math.random()), this.#signal);
      }
    }
  }
}

/** The log keys of a run whose layout the store knows: rows 0..count-1 and their chunks. */
function knownLogKeys(keys: RunKeys, count: number, chunks: Map<number, number>): KvKey[] {
  const found: KvKey[] = [];
  for (let sequence = 0; sequence < count; sequence++) {
    found.push([...keys.rows, sequence]);
    const parts = chunks.get(sequence);
    if (parts !== undefined) found.push(...chunkKeys(keys.chunks, sequence, parts));
  }
  return found;
}

/** Points a fresh lease at the end of the log it claimed (the record's progress may lag). */
function follow(lease: RunLease, rows: readonly CheckpointRow[]): void {
  const summary = summarizeRows(rows);
  lease.sequence = summary.count;
  lease.state = summary.state;
}

/** Whether rows are numbered 0..n-1 with no gap (then their keys are known without a listing). */
function dense(rows: readonly CheckpointRow[]): boolean {
  return rows.every((row, index) => row.sequence === index);
}

function stampOf(versionstamp: string | undefined): string {
  if (typeof versionstamp !== "string") {
    throw new CheckpointStoreError(
      "The KV handle's commit() returned no versionstamp; KvCheckpointStore needs " +
        "{ ok: true, versionstamp } from a successful commit (as Deno.Kv and @deno/kv return)",
    );
  }
  return versionstamp;
}

function decodeValue(id: string, value: unknown): string {
  if (!(value instanceof Uint8Array)) {
    throw new CheckpointStoreError(
      `Corrupt run record for workflow "${shortId(id)}": expected JSON bytes, found ${
        describeValue(value)
      }`,
    );
  }
  return DECODER.decode(value);
}

function wrapConfig<T>(make: () => T): T {
  try {
    return make();
  } catch (error) {
    throw new ConfigurationError(messageOf(error), { cause: error });
  }
}
