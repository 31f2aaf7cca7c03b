// Claiming a run on Deno KV: the compare-and-set that creates a record (with the run's first row
// in the same commit) or takes an expired or released one over, and the claim of a log that has
// no record yet. The store (kv_store.ts) keeps the leases these claims issue.

import {
  type CheckpointRow,
  type ClaimRequest,
  type ClaimResult,
  encodeRow,
  noRowsError,
  type RunLease,
} from "./checkpoint.ts";
import type { Codec } from "./codec.ts";
import type { KvLike } from "./kv_like.ts";
import { dense, type KvLayout, type RunKeys } from "./kv_layout.ts";
import { packRow } from "./kv_rows.ts";
import { checkRowSize, statusChangeBytes } from "./limits.ts";
import { RunExistsError } from "./run_errors.ts";
import {
  abandonedUnstarted,
  checkTakeover,
  createdRun,
  type StoredRun,
  summarizeRows,
  takenOver,
} from "./run_record.ts";

const ENCODER = new TextEncoder();

/** What a claim needs of its store. */
export interface ClaimContext {
  readonly kv: KvLike;
  readonly layout: KvLayout;
  readonly leaseMs: number;
  readonly codec: Codec;
  readonly prefixBytes: number;
  now(): number;
  /** Issues the lease of a record just committed (with the log's chunk counts, when known). */
  issue(
    run: StoredRun,
    versionstamp: string | undefined,
    chunks: Map<number, number> | undefined,
  ): RunLease;
  /** Tells the store the chunk counts of a claimed log (`undefined`: not known). */
  setChunks(lease: RunLease, chunks: Map<number, number> | undefined): void;
}

/** One claim attempt: the claim, or `undefined` when the record changed under it. */
export async function tryClaim(
  ctx: ClaimContext,
  id: string,
  keys: RunKeys,
  request: ClaimRequest,
): Promise<ClaimResult | undefined> {
  // A start needs no read: the create commit's checks (no record, no row 0) are the read.
  const current = request.mode === "start" ? undefined : await ctx.layout.readRecord(id, keys);
  const now = ctx.now();
  if (current === undefined) {
    if (request.mode === "resume") return await claimLog(ctx, id, keys, request);
    const created = (first: CheckpointRow | undefined): StoredRun =>
      createdRun(id, request, now, ctx.leaseMs, {
        count: first === undefined ? 0 : 1,
        state: first?.state ?? "",
        rolledBack: false,
      });
    let run = created(request.first);
    let recordBytes = ENCODER.encode(JSON.stringify(run));
    const first = firstRow(ctx, id, keys, request.first, recordBytes.length);
    if (first === undefined && request.first !== undefined) {
      run = created(undefined);
      recordBytes = ENCODER.encode(JSON.stringify(run));
    }
    const op = ctx.kv.atomic();
    op.check({ key: keys.record, versionstamp: null }, {
      key: [...keys.rows, 0],
      versionstamp: null,
    });
    ctx.layout.writeRecord(op, keys, undefined, run, recordBytes);
    if (first !== undefined) {
      op.set([...keys.rows, 0], first.head);
      first.chunks.forEach((value, index) => op.set([...keys.chunks, 0, index], value));
    }
    const result = await op.commit();
    if (result.ok) {
      const chunks = new Map<number, number>();
      if (first !== undefined && first.chunks.length > 0) chunks.set(0, first.chunks.length);
      const lease = ctx.issue(run, result.versionstamp, chunks);
      return first === undefined
        ? { lease, rows: [], created: true }
        : { lease, rows: [], created: true, firstWritten: true };
    }
    const existing = await ctx.layout.readRecord(id, keys);
    if (existing !== undefined) {
      if (request.mode === "start") throw new RunExistsError(id, existing.run.status);
      return undefined; // raced: read it again
    }
    // A log without a record: written without leases (or by an older version of this store).
    if (request.mode === "start") throw new RunExistsError(id, "a log without a run record");
    return await claimLog(ctx, id, keys, request);
  }
  checkTakeover(current.run, request, now);
  if (request.mode === "resume" && current.run.sequence === 0) {
    // The record has never seen a row: its starter may still be committing row 0 (slow under
    // contention). Taking the record over now would fence that commit out and leave a run
    // nobody executes; look at the log first and write nothing while it is empty.
    const { rows } = await ctx.layout.loadRows(id, keys);
    if (rows.length === 0) {
      if (abandonedUnstarted(current.run, now, ctx.leaseMs)) {
        const inbox = await ctx.layout.inboxKeys(keys, current.run);
        const op = ctx.kv.atomic();
        op.check({ key: keys.record, versionstamp: current.versionstamp }, {
          key: [...keys.rows, 0],
          versionstamp: null,
        });
        ctx.layout.deleteRecord(op, keys, current.run);
        for (const key of inbox) op.delete(key);
        await op.commit();
      }
      throw noRowsError(id);
    }
  }
  const next = takenOver(current.run, request, now, ctx.leaseMs);
  const op = ctx.kv.atomic();
  op.check({ key: keys.record, versionstamp: current.versionstamp });
  ctx.layout.writeRecord(op, keys, current.run, next, ENCODER.encode(JSON.stringify(next)));
  const result = await op.commit();
  if (!result.ok) return undefined;
  const lease = ctx.issue(next, result.versionstamp, undefined);
  const { rows, chunks } = await ctx.layout.loadRows(id, keys);
  ctx.setChunks(lease, dense(rows) ? chunks : undefined);
  follow(lease, rows);
  if (request.mode === "resume" && rows.length === 0) {
    // The rows vanished between the look above and the takeover (the run finished elsewhere).
    const inbox = await ctx.layout.inboxKeys(keys, next);
    const op = ctx.kv.atomic();
    op.check({ key: keys.record, versionstamp: lease.fence });
    ctx.layout.deleteRecord(op, keys, next);
    for (const key of inbox) op.delete(key);
    await op.commit();
    throw noRowsError(id);
  }
  // The inbox as of the claim (read after it took effect, like the rows): one list, when the
  // record says it holds events.
  const events = await ctx.layout.listEvents(id, keys, 0, next);
  return events.length === 0
    ? { lease, rows, created: false }
    : { lease, rows, created: false, events };
}

/**
 * A claim's first row, packed for the create commit — or `undefined` when there is none, or it
 * cannot be stored (bad row, data the codec refuses, too large beside the record): the run is
 * then claimed without it, and the engine's own append reports the refusal.
 */
function firstRow(
  ctx: ClaimContext,
  id: string,
  keys: RunKeys,
  row: CheckpointRow | undefined,
  recordBytes: number,
): { head: Uint8Array; chunks: readonly Uint8Array[] } | undefined {
  if (row === undefined) return undefined;
  try {
    if (row.sequence !== 0) return undefined;
    const bytes = ENCODER.encode(encodeRow(id, row, ctx.codec));
    const extra = statusChangeBytes(ctx.prefixBytes, id, recordBytes);
    checkRowSize(id, 0, bytes.length, keys.limits.maxRowBytesWith(extra));
    const packed = packRow(bytes);
    return { head: packed.head, chunks: packed.chunks };
  } catch {
    return undefined;
  }
}

/** Claims a log that has no record yet: a record is created over the rows found. */
async function claimLog(
  ctx: ClaimContext,
  id: string,
  keys: RunKeys,
  request: ClaimRequest,
): Promise<ClaimResult | undefined> {
  const { rows: before } = await ctx.layout.loadRows(id, keys);
  if (before.length === 0) {
    if (request.mode === "resume") throw noRowsError(id);
    return undefined; // the rows vanished: start over
  }
  const run = createdRun(id, request, ctx.now(), ctx.leaseMs, summarizeRows(before));
  const op = ctx.kv.atomic();
  op.check({ key: keys.record, versionstamp: null });
  ctx.layout.writeRecord(op, keys, undefined, run, ENCODER.encode(JSON.stringify(run)));
  const result = await op.commit();
  if (!result.ok) return undefined;
  const lease = ctx.issue(run, result.versionstamp, undefined);
  const { rows, chunks } = await ctx.layout.loadRows(id, keys);
  ctx.setChunks(lease, dense(rows) ? chunks : undefined);
  follow(lease, rows);
  return { lease, rows, created: false };
}

/** Points a fresh lease at the end of the log it claimed (the record's progress may lag). */
function follow(lease: RunLease, rows: readonly CheckpointRow[]): void {
  const summary = summarizeRows(rows);
  lease.sequence = summary.count;
  lease.state = summary.state;
}
