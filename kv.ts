/**
 * # cano for Deno: Deno KV checkpoint store
 *
 * {@link KvCheckpointStore} is a durable checkpoint store on Deno KV (`Deno.openKv`), so a workflow
 * can resume after a crash or restart. It needs no server: point it at a file (or at `":memory:"`
 * in tests) and pass it to a workflow as its checkpoint store.
 *
 * Rows are stored as JSON bytes under `[...prefix, "rows", workflowId, sequence]` (rows above
 * 64 KiB are split into chunks in the same atomic commit), a duplicate sequence is rejected instead
 * of overwritten, so is a gap in the sequence (how a process learns that another one finished and
 * cleared the run it is resuming), and the transient `database is locked` error raised when several processes share
 * one file is retried with bounded, jittered backoff. Deno KV is unstable: run with
 * `--unstable-kv` (or `"unstable": ["kv"]` in `deno.json`).
 *
 * @example Open a KV file, store rows, close it
 * ```ts
 * import { KvCheckpointStore } from "@cano/cano/kv";
 * import assert from "node:assert/strict";
 *
 * const path = await Deno.makeTempFile({ suffix: ".sqlite" });
 * try {
 *   const kv = await Deno.openKv(path);
 *   try {
 *     const store = new KvCheckpointStore(kv);
 *     await store.append("nightly-import", {
 *       sequence: 0,
 *       state: "fetch",
 *       taskId: "fetch",
 *       kind: "state_entry",
 *       data: { page: 1 },
 *       workflowVersion: 1,
 *     });
 *   } finally {
 *     kv.close();
 *   }
 *
 *   // A later process opens the same file and finds the log.
 *   const reopened = await Deno.openKv(path);
 *   try {
 *     const rows = await new KvCheckpointStore(reopened).loadRun("nightly-import");
 *     assert.deepEqual(rows[0]?.data, { page: 1 });
 *   } finally {
 *     reopened.close();
 *   }
 * } finally {
 *   await Deno.remove(path);
 * }
 * ```
 *
 * @module
 */

export { KvCheckpointStore, type KvCheckpointStoreOptions } from "./src/recovery/kv_store.ts";
export { KvCoordination, type KvCoordinationOptions } from "./src/coordination/kv_coordination.ts";
export type {
  Coordination,
  FlowCancelRequest,
  FlowRecord,
  FlowRecordRead,
  FlowRunMarker,
} from "./src/coordination/coordination.ts";
export type { KvKey, KvLike } from "./src/recovery/kv_like.ts";
// Re-exported so this entrypoint documents the types its store works with (also exported by ".").
export type {
  CheckpointRow,
  CheckpointStore,
  ClaimMode,
  ClaimRequest,
  ClaimResult,
  DeliveredEvent,
  ListRunsQuery,
  ParkRequest,
  ParkResult,
  RowKind,
  RunEnd,
  RunInfo,
  RunLease,
  RunPage,
  RunStatus,
  RunStore,
  SendEventOptions,
  SendEventOutcome,
  SendEventResult,
  WaitInfo,
} from "./src/recovery/checkpoint.ts";
export type { Codec } from "./src/recovery/codec.ts";
