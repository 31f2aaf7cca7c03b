// Ownership for stores that only keep rows (the v1 contract: append, loadRun, clear). The run
// records live in this process, so two runs of one id in one process are kept apart and every
// append is fenced against this process's own claims; across processes such a store still has
// only its duplicate and gap checks. Stores implementing RunStore are used as they are.

import { CheckpointStoreError } from "../errors.ts";
import {
  type CancelResult,
  type CheckpointRow,
  type CheckpointStore,
  type ClaimRequest,
  type ClaimResult,
  decodeRow,
  encodeRow,
  isRunStore,
  noRowsError,
  type RunEnd,
  type RunInfo,
  type RunLease,
  type RunPage,
  type RunStore,
} from "./checkpoint.ts";
import { type Codec, jsonCodec } from "./codec.ts";
import { checkRunId } from "./limits.ts";
import { OwnershipLostError, RunExistsError, RunOwnedError } from "./run_errors.ts";
import {
  cancelNoop,
  cancelRefusal,
  checkCancelReason,
  checkClaimRequest,
  DEFAULT_LEASE_MS,
  infoOf,
  isForwardRow,
  type StoredRun,
  toRunInfo,
  withCancel,
} from "./run_record.ts";

const adapters = new WeakMap<CheckpointStore, RunStore>();

/**
 * The {@link RunStore} view of a store: the store itself when it implements the contract, else
 * one process-wide adapter per store object (so workflows sharing a store share its claims).
 *
 * @param store A checkpoint store.
 * @returns The run store.
 */
export function runStoreFor(store: CheckpointStore): RunStore {
  if (isRunStore(store)) return store;
  let adapter = adapters.get(store);
  if (adapter === undefined) {
    adapter = new LocalLeaseStore(store);
    adapters.set(store, adapter);
  }
  return adapter;
}

interface LocalRun {
  run: StoredRun;
  fence: number;
  /** A fresh start: its first append also tells whether an old log was already there. */
  fresh: boolean;
}

class LocalLeaseStore implements RunStore {
  readonly leaseMs = DEFAULT_LEASE_MS;
  readonly codec: Codec = jsonCodec;
  readonly #inner: CheckpointStore;
  readonly #runs = new Map<string, LocalRun>();
  #fences = 0;

  constructor(inner: CheckpointStore) {
    this.#inner = inner;
  }

  async append(id: string, row: CheckpointRow, lease?: RunLease): Promise<void> {
    const local = lease === undefined ? undefined : this.#fenced(id, lease);
    if (lease?.cancel !== undefined && isForwardRow(row.kind)) {
      throw cancelRefusal(id, lease.cancel);
    }
    // What a durable store would keep: checked by the codec, and a copy (never the live data).
    const copy = decodeRow(id, encodeRow(id, row, this.codec), this.codec);
    try {
      await this.#inner.append(id, copy);
    } catch (error) {
      if (local?.fresh === true && row.sequence === 0) await this.#explainFirstAppend(id, error);
      throw error;
    }
    if (local === undefined || lease === undefined) return;
    local.fresh = false;
    lease.sequence = row.sequence + 1;
    lease.state = row.state;
  }

  loadRun(id: string): Promise<CheckpointRow[]> {
    return this.#inner.loadRun(id);
  }

  async clear(id: string): Promise<void> {
    this.#runs.delete(id);
    await this.#inner.clear(id);
  }

  async claim(id: string, request: ClaimRequest): Promise<ClaimResult> {
    checkRunId(id);
    checkClaimRequest(request);
    const now = Date.now();
    const existing = this.#runs.get(id);
    if (existing !== undefined && existing.run.leaseUntil > now) {
      if (request.mode === "start") throw new RunExistsError(id, existing.run.status);
      throw new RunOwnedError(id, existing.run.owner ?? "", new Date(existing.run.leaseUntil));
    }
    // Reserved before any await, so a concurrent claim in this process sees it.
    const local: LocalRun = {
      run: {
        id,
        workflow: request.workflow,
        version: request.version,
        status: "running",
        state: "",
        sequence: 0,
        owner: request.owner,
        leaseUntil: now + this.leaseMs,
        createdAt: now,
        updatedAt: now,
        rolledBack: false,
      },
      fence: ++this.#fences,
      fresh: request.mode === "start",
    };
    this.#runs.set(id, local);
    const lease = this.#lease(local);
    if (request.mode === "start") return { lease, rows: [], created: true };
    let rows: CheckpointRow[];
    try {
      rows = await this.#inner.loadRun(id);
    } catch (error) {
      this.#drop(id, local);
      throw error;
    }
    if (rows.length === 0) {
      if (request.mode === "resume") {
        this.#drop(id, local);
        throw noRowsError(id);
      }
      local.fresh = true;
      return { lease, rows, created: true };
    }
    const last = [...rows].sort((a, b) => a.sequence - b.sequence).at(-1)!;
    lease.sequence = last.sequence + 1;
    lease.state = last.state;
    return { lease, rows, created: false };
  }

  renew(lease: RunLease): Promise<void> {
    try {
      const local = this.#fenced(lease.id, lease);
      const now = Date.now();
      local.run = { ...local.run, leaseUntil: now + this.leaseMs, updatedAt: now };
      local.fence = ++this.#fences;
      lease.fence = String(local.fence);
      lease.leaseUntil = local.run.leaseUntil;
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  release(lease: RunLease): Promise<void> {
    try {
      this.#drop(lease.id, this.#fenced(lease.id, lease));
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async finish(lease: RunLease, end: RunEnd): Promise<void> {
    this.#fenced(lease.id, lease);
    // A rows-only store has no end to fold the exit row into: it is appended, then the log
    // cleared (so a failed clear leaves a log that ends in the exit state).
    if (end.status === "completed" && end.exit !== undefined) {
      await this.append(lease.id, end.exit, lease);
    }
    this.#drop(lease.id, this.#fenced(lease.id, lease));
    if (end.status === "completed") await this.#inner.clear(lease.id);
  }

  getRun(id: string): Promise<RunInfo | undefined> {
    const local = this.#runs.get(id);
    return Promise.resolve(local === undefined ? undefined : toRunInfo(local.run));
  }

  listRuns(): Promise<RunPage> {
    return Promise.reject(
      new CheckpointStoreError(
        "listRuns needs a store that keeps run records (a RunStore, such as " +
          "MemoryCheckpointStore or KvCheckpointStore); this store only implements " +
          "append, loadRun and clear",
      ),
    );
  }

  requestCancel(id: string, reason?: string): Promise<CancelResult> {
    try {
      checkRunId(id);
      const why = checkCancelReason(reason);
      const local = this.#runs.get(id);
      const noop = cancelNoop(local?.run);
      if (noop !== undefined || local === undefined) {
        return Promise.resolve({ outcome: noop ?? "not_found", run: infoOf(local?.run) });
      }
      // In-process claims only: the owner's poll sees it; no fence to move.
      local.run = withCancel(local.run, why, Date.now());
      return Promise.resolve({ outcome: "requested", run: toRunInfo(local.run) });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  pollCancel(lease: RunLease): Promise<string | undefined> {
    try {
      const local = this.#fenced(lease.id, lease);
      lease.cancel = local.run.cancel?.reason;
      return Promise.resolve(lease.cancel);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  listExpired(): Promise<RunPage> {
    // The claims live in this process and end with it: none is ever waiting for a claimer.
    return Promise.resolve({ runs: [], cursor: undefined });
  }

  noteRun(): Promise<boolean> {
    return Promise.resolve(false);
  }

  #fenced(id: string, lease: RunLease): LocalRun {
    const local = this.#runs.get(id);
    if (local === undefined || String(local.fence) !== lease.fence) {
      throw new OwnershipLostError(
        id,
        local === undefined
          ? "its claim is gone (the run was finished or cleared)"
          : `${local.run.owner ?? "another run"} claimed it`,
      );
    }
    return local;
  }

  #lease(local: LocalRun): RunLease {
    return {
      id: local.run.id,
      owner: local.run.owner ?? "",
      leaseUntil: local.run.leaseUntil,
      fence: String(local.fence),
      sequence: 0,
      state: "",
    };
  }

  #drop(id: string, local: LocalRun): void {
    if (this.#runs.get(id) === local) this.#runs.delete(id);
  }

  /** A fresh start's first append failed: an old log under the id means the id is taken. */
  async #explainFirstAppend(id: string, error: unknown): Promise<void> {
    let rows: CheckpointRow[];
    try {
      rows = await this.#inner.loadRun(id);
    } catch {
      return; // the append's own error says enough
    }
    if (rows.length > 0) {
      const taken = new RunExistsError(id, "a log is already stored under this id");
      Object.defineProperty(taken, "cause", { value: error, configurable: true, writable: true });
      throw taken;
    }
  }
}
