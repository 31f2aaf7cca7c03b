// The owner's side of a KvCheckpointStore: the leases it issued and what it knows of each (the
// record as its owner last wrote it, the log's chunk layout), taking in what others may add to a
// record the owner holds (a cancel request, events), and the fenced batches that delete a run.

import { CheckpointStoreError } from "../errors.ts";
import type { RunLease } from "./checkpoint.ts";
import type { KvKey, KvLike } from "./kv_like.ts";
import type { KvLayout, RunKeys } from "./kv_layout.ts";
import type { LockRetry } from "./kv_retry.ts";
import { MAX_KEY_BYTES } from "./limits.ts";
import { MAX_INBOX, onlyOutsideChanges } from "./run_events.ts";
import { cancelRefusal, checkLease, leaseOf, lostError, type StoredRun } from "./run_record.ts";

/**
 * Deletes per commit when a log is removed (Deno KV allows 1,000 mutations; the last batch also
 * deletes the record and its two index entries), and the byte budget of one such commit.
 */
const DELETE_BATCH_MUTATIONS = 990;
const DELETE_BATCH_BYTES = 700_000;

/** What the store remembers about a lease it issued: the record as last written, and the log. */
export interface LeaseState {
  run: StoredRun;
  /** The run's keys, computed once per claim. */
  keys: RunKeys | undefined;
  /** Chunk counts of the log's chunked rows; `undefined` when the layout is not known. */
  chunks: Map<number, number> | undefined;
}

/** The leases of one store, and its fenced deletes. */
export class KvFences {
  readonly #kv: KvLike;
  readonly #layout: KvLayout;
  readonly #lock: LockRetry;
  readonly #now: () => number;
  readonly #leases = new WeakMap<RunLease, LeaseState>();

  constructor(kv: KvLike, layout: KvLayout, lock: LockRetry, now: () => number) {
    this.#kv = kv;
    this.#layout = layout;
    this.#lock = lock;
    this.#now = now;
  }

  /** Forgets a lease whose run ended or was parked: its later writes adopt, and are refused. */
  forget(lease: RunLease): void {
    this.#leases.delete(lease);
  }

  /** Tells the state of a claimed lease the chunk counts of its log (`undefined`: not known). */
  setChunks(lease: RunLease, chunks: Map<number, number> | undefined): void {
    const state = this.#leases.get(lease);
    if (state !== undefined) state.chunks = chunks;
  }

  /**
   * Deletes per commit for a run's keys (their size bounds a commit's bytes; an eventId key may
   * be as long as any key).
   */
  perBatch(keys: RunKeys | undefined, run?: StoredRun): number {
    const keyBytes = keys === undefined || (run?.inbox?.ids ?? 0) > 0
      ? MAX_KEY_BYTES
      : keys.limits.chunkKeyBytes;
    return Math.max(1, Math.min(DELETE_BATCH_MUTATIONS, Math.floor(DELETE_BATCH_BYTES / keyBytes)));
  }

  /**
   * Deletes log keys in fenced batches; with `fence`, the last batch also deletes the record, and
   * the keys of events sent while the batches went on join the delete.
   */
  async deleteKeys(
    id: string,
    logKeys: KvKey[],
    fence: { lease: RunLease; keys: RunKeys; state: LeaseState; forward?: boolean } | undefined,
  ): Promise<void> {
    const inboxOf = (): string => JSON.stringify(fence?.state.run.inbox ?? null);
    let inbox = inboxOf();
    for (let start = 0; start < logKeys.length || (fence !== undefined && start === 0);) {
      const perBatch = this.perBatch(fence?.keys, fence?.state.run);
      const batch = logKeys.slice(start, start + perBatch);
      const last = start + perBatch >= logKeys.length;
      const landed = await this.#lock.run("Delete checkpoint rows", id, async () => {
        for (let pass = 1;; pass++) {
          const op = this.#kv.atomic();
          if (fence !== undefined) {
            op.check({ key: fence.keys.record, versionstamp: fence.lease.fence });
          }
          for (const key of batch) op.delete(key);
          if (fence !== undefined && last) {
            this.#layout.deleteRecord(op, fence.keys, fence.state.run);
          }
          const result = await op.commit();
          if (result.ok || fence === undefined) return true;
          await this.refused(id, fence.keys, fence.lease, fence.state, pass);
          // A cancel request came in before the end with the exit row (a forward row) landed.
          if (fence.forward && fence.lease.cancel !== undefined) {
            throw cancelRefusal(id, fence.lease.cancel);
          }
          if (inboxOf() !== inbox) return false; // events came in: their keys join the delete
        }
      });
      if (!landed && fence !== undefined) {
        inbox = inboxOf();
        // Keys already deleted may have been written again (an eventId sent once more): only the
        // keys still to delete count as scheduled.
        const tail = (key: KvKey): string => JSON.stringify(key.slice(-3));
        const scheduled = new Set(logKeys.slice(start).map(tail));
        for (const key of await this.inboxKeys(id, fence.keys, fence.state.run)) {
          if (!scheduled.has(tail(key))) logKeys.push(key);
        }
        continue;
      }
      start += perBatch;
      if (last) break;
    }
    if (fence !== undefined) this.#leases.delete(fence.lease);
  }

  /** The inbox keys of a run as its record counts them (no read for a run without events). */
  inboxKeys(id: string, keys: RunKeys, run: StoredRun): Promise<KvKey[]> {
    if (run.inbox === undefined) return Promise.resolve([]);
    return this.#lock.run("List events", id, () => this.#layout.inboxKeys(keys, run));
  }

  /** The state of a lease issued by another store object: read from the record under its fence. */
  async adopt(id: string, keys: RunKeys, lease: RunLease): Promise<LeaseState> {
    const current = await this.#layout.readRecord(id, keys);
    if (current === undefined || current.versionstamp !== lease.fence) {
      throw lostError(id, current?.run, this.#now());
    }
    const state: LeaseState = { run: current.run, chunks: undefined, keys };
    this.#leases.set(lease, state);
    return state;
  }

  /**
   * After a fenced commit was refused: a record that is the owner's with only a cancel request or
   * events added is taken into the lease (the caller retries; after a cancel request a forward row
   * is refused), anything else is lost ownership.
   */
  async refused(
    id: string,
    keys: RunKeys,
    lease: RunLease,
    known: LeaseState,
    pass: number,
  ): Promise<void> {
    this.take(id, lease, known, await this.#layout.readRecord(id, keys), pass);
  }

  /**
   * Takes `current` (read after the fence no longer matched) into the lease when only a cancel
   * request or events were added to the owner's record; anything else is lost ownership.
   */
  take(
    id: string,
    lease: RunLease,
    known: LeaseState,
    current: { run: StoredRun; versionstamp: string } | undefined,
    pass: number,
  ): void {
    if (
      current === undefined || pass > MAX_INBOX + 2 || !onlyOutsideChanges(known.run, current.run)
    ) {
      throw lostError(id, current?.run, this.#now());
    }
    known.run = current.run;
    lease.fence = current.versionstamp;
    lease.cancel = current.run.cancel?.reason;
  }

  /** Issues the lease of a record just committed by a claim. */
  issue(
    run: StoredRun,
    versionstamp: string | undefined,
    chunks: Map<number, number> | undefined,
  ): RunLease {
    const lease = leaseOf(run, stampOf(versionstamp));
    this.#leases.set(lease, { run, chunks, keys: this.#layout.keys(run.id) });
    return lease;
  }

  /** Records a fenced write that landed: the record as now written, and its new fence. */
  adopted(
    lease: RunLease,
    state: LeaseState,
    run: StoredRun,
    versionstamp: string | undefined,
  ): void {
    state.run = run;
    lease.fence = stampOf(versionstamp);
    lease.leaseUntil = run.leaseUntil;
  }

  /** What the store knows of a lease it issued, `undefined` for another store object's lease. */
  state(lease: RunLease): LeaseState | undefined {
    checkLease(lease);
    return this.#leases.get(lease);
  }
}

/** A successful commit's versionstamp (the new fence), refusing a KV handle that gave none. */
export function stampOf(versionstamp: string | undefined): string {
  if (typeof versionstamp !== "string") {
    throw new CheckpointStoreError(
      "The KV handle's commit() returned no versionstamp; KvCheckpointStore needs " +
        "{ ok: true, versionstamp } from a successful commit (as Deno.Kv and @deno/kv return)",
    );
  }
  return versionstamp;
}
