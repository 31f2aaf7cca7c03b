// Test helpers for checkpointing, resume, saga and stepped tests: a store that records every call
// (so rows stay visible after the engine clears the log) and a way to seed a log by hand.

import {
  type CheckpointRow,
  type CheckpointStore,
  MemoryCheckpointStore,
  type RunLease,
  type RunStore,
} from "../mod.ts";
import { KvCheckpointStore } from "../kv.ts";

/** One call made to a {@link RecordingStore}. */
export type StoreCall =
  | {
    op: "append";
    workflowId: string;
    /** The row object exactly as the engine handed it over. */
    row: CheckpointRow;
    /** A deep copy of the row taken at the moment of the call. */
    snapshot: CheckpointRow;
    ok: boolean;
  }
  | { op: "loadRun"; workflowId: string; ok: boolean }
  | { op: "clear"; workflowId: string; ok: boolean };

/** Failure switches of a {@link RecordingStore}. */
export interface RecordingStoreOptions {
  /** A shared log to which every call is written as a line (for ordering against tasks). */
  log?: string[];
  /** Rejects the append of a row for which this returns true (the row is not stored). */
  failAppend?: (row: CheckpointRow) => boolean;
  /** Rejects every `clear` (the log is kept). */
  failClear?: boolean;
  /** Rejects every `loadRun`. */
  failLoad?: boolean;
}

/**
 * A {@link CheckpointStore} that delegates to a {@link MemoryCheckpointStore} and records every
 * call, with optional injected failures.
 */
export class RecordingStore implements CheckpointStore {
  readonly inner: MemoryCheckpointStore;
  readonly calls: StoreCall[] = [];
  readonly options: RecordingStoreOptions;

  constructor(options: RecordingStoreOptions = {}, inner = new MemoryCheckpointStore()) {
    this.options = options;
    this.inner = inner;
  }

  async append(workflowId: string, row: CheckpointRow): Promise<void> {
    const snapshot = structuredClone(row);
    const call: StoreCall = { op: "append", workflowId, row, snapshot, ok: false };
    this.calls.push(call);
    this.options.log?.push(`append ${row.sequence} ${row.kind} ${row.state}`);
    if (this.options.failAppend?.(row)) throw new Error(`disk full at row ${row.sequence}`);
    await this.inner.append(workflowId, row);
    call.ok = true;
  }

  async loadRun(workflowId: string): Promise<CheckpointRow[]> {
    const call: StoreCall = { op: "loadRun", workflowId, ok: false };
    this.calls.push(call);
    this.options.log?.push(`loadRun ${workflowId}`);
    if (this.options.failLoad) throw new Error("store offline");
    const rows = await this.inner.loadRun(workflowId);
    call.ok = true;
    return rows;
  }

  async clear(workflowId: string): Promise<void> {
    const call: StoreCall = { op: "clear", workflowId, ok: false };
    this.calls.push(call);
    this.options.log?.push(`clear ${workflowId}`);
    if (this.options.failClear) throw new Error("clear refused");
    await this.inner.clear(workflowId);
    call.ok = true;
  }

  /** Snapshots of every append attempted, in call order. */
  appended(): CheckpointRow[] {
    return this.calls.flatMap((c) => c.op === "append" ? [c.snapshot] : []);
  }

  /** Snapshots of every append that succeeded, in call order. */
  stored(): CheckpointRow[] {
    return this.calls.flatMap((c) => c.op === "append" && c.ok ? [c.snapshot] : []);
  }

  /** How many times `op` was called. */
  count(op: StoreCall["op"]): number {
    return this.calls.filter((c) => c.op === op).length;
  }
}

/** A row with defaults: a `state_entry` of version 0 whose task id is the state. */
export function row(
  sequence: number,
  state: string,
  extra: Partial<CheckpointRow> = {},
): CheckpointRow {
  return {
    sequence,
    state,
    taskId: state,
    kind: "state_entry",
    workflowVersion: 0,
    ...extra,
  };
}

/** Appends `rows` to `store` under `workflowId` (a log written by an earlier, crashed process). */
export async function seed(
  store: CheckpointStore,
  workflowId: string,
  rows: readonly CheckpointRow[],
): Promise<void> {
  for (const r of rows) await store.append(workflowId, r);
}

/** Copies the log of `workflowId` into a fresh store: the durable state a crash would leave. */
export async function crashCopy(
  store: CheckpointStore,
  workflowId: string,
): Promise<MemoryCheckpointStore> {
  const copy = new MemoryCheckpointStore();
  await seed(copy, workflowId, await store.loadRun(workflowId));
  return copy;
}

/** A promise whose resolution is in the test's hands. */
export function gate<T = void>(): { promise: Promise<T>; open(value: T): void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => open = resolve);
  return { promise, open };
}

/** A promise that rejects with the signal's reason when it aborts, and never resolves otherwise. */
export function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

/** Waits `ms` on the (possibly fake) clock; rejects with the signal's reason if it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The outcome of a promise, observed without ever leaving a rejection unhandled. */
export interface Tracked<T> {
  settled: boolean;
  value?: T;
  error?: unknown;
  /** Resolves (never rejects) once the promise settled. */
  done: Promise<void>;
}

/** Starts observing `promise` at once, so a rejection while the test ticks a clock is handled. */
export function track<T>(promise: Promise<T>): Tracked<T> {
  const tracked: Tracked<T> = { settled: false, done: Promise.resolve() };
  tracked.done = promise.then(
    (value) => {
      tracked.settled = true;
      tracked.value = value;
    },
    (error) => {
      tracked.settled = true;
      tracked.error = error;
    },
  );
  return tracked;
}

/** A `state_entry` row named after its sequence (`state-N`, `task-N`), version 1: store tests. */
export function numberedRow(sequence: number, extra: Partial<CheckpointRow> = {}): CheckpointRow {
  return {
    sequence,
    state: `state-${sequence}`,
    taskId: `task-${sequence}`,
    kind: "state_entry",
    workflowVersion: 1,
    ...extra,
  };
}

/**
 * Waits (real time) until the lease on run `id` in the KV file has expired — after a SIGKILL, the
 * dead owner holds the run until then — so another process can claim it.
 */
export async function leaseExpired(kvPath: string, id: string): Promise<void> {
  const kv = await Deno.openKv(kvPath);
  let until: number | undefined;
  try {
    until = (await new KvCheckpointStore(kv).getRun(id))?.leaseUntil.getTime();
  } finally {
    kv.close();
  }
  const wait = until === undefined ? 0 : until - Date.now() + 20;
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

/**
 * A run left by a process that died: claimed by `owner`, `rows` appended under its lease, and
 * never renewed again — another process may claim it once the lease expires.
 */
export async function abandonedRun(
  store: RunStore,
  workflowId: string,
  rows: readonly CheckpointRow[],
  options: { owner?: string; workflow?: string } = {},
): Promise<RunLease> {
  const { lease } = await store.claim(workflowId, {
    mode: "start",
    owner: options.owner ?? "crashed-worker",
    workflow: options.workflow ?? "",
    version: 0,
  });
  for (const r of rows) await store.append(workflowId, r, lease);
  return lease;
}
