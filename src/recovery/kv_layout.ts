// Where one run lies in Deno KV, and how its pieces are read and written: the run record and the
// two indexes that follow it (by status, by lease expiry), the log's rows and chunks, and the
// inbox (events and their eventIds). The store (kv_store.ts) decides what to write and when; this
// file knows the keys.

import { CheckpointStoreError } from "../errors.ts";
import type { CheckpointRow, DeliveredEvent, RunStatus } from "./checkpoint.ts";
import type { Codec } from "./codec.ts";
import { describeValue, type KvKey, type KvLike } from "./kv_like.ts";
import { chunkCount, chunkKeys, unpackRow } from "./kv_rows.ts";
import { type IdLimits, type KeyPart, limitsFor } from "./limits.ts";
import { shortId } from "./run_errors.ts";
import { decodeEvent } from "./run_events.ts";
import { isActive, parseRun, type StoredRun } from "./run_record.ts";

const DECODER = new TextDecoder();
const EMPTY = new Uint8Array(0);
/** The first batch of an expiry listing (see `KvLayout.expired`). */
const FIRST_EXPIRY_BATCH = 8;

/** The keys of one run id. */
export interface RunKeys {
  readonly rows: readonly KeyPart[];
  readonly chunks: readonly KeyPart[];
  readonly record: readonly KeyPart[];
  /** `[…, "events", id]`: event `seq` of the inbox at `[…, "events", id, seq]`. */
  readonly events: readonly KeyPart[];
  /** `[…, "eventids", id]`: the seq of each `eventId` received at `[…, "eventids", id, eventId]`. */
  readonly eventIds: readonly KeyPart[];
  readonly limits: IdLimits;
}

/** An atomic operation of a {@link KvLike}. */
export type KvAtomic = ReturnType<KvLike["atomic"]>;

/** The key layout of one store (one prefix) over one KV handle. */
export class KvLayout {
  readonly #kv: KvLike;
  readonly #prefix: readonly KeyPart[];
  readonly #prefixBytes: number;
  readonly #codec: Codec;

  constructor(kv: KvLike, prefix: readonly KeyPart[], prefixBytes: number, codec: Codec) {
    this.#kv = kv;
    this.#prefix = prefix;
    this.#prefixBytes = prefixBytes;
    this.#codec = codec;
  }

  /** The keys of `id` (throws for an id too long for KV keys). */
  keys(id: string): RunKeys {
    return {
      rows: [...this.#prefix, "rows", id],
      chunks: [...this.#prefix, "chunks", id],
      record: [...this.#prefix, "runs", id],
      events: [...this.#prefix, "events", id],
      eventIds: [...this.#prefix, "eventids", id],
      limits: limitsFor(id, this.#prefixBytes),
    };
  }

  /** Where `listRuns` reads: the records, or one status's index. */
  listPrefix(status: RunStatus | undefined): KvKey {
    return status === undefined ? [...this.#prefix, "runs"] : [...this.#prefix, "status", status];
  }

  /** The run's record and its versionstamp (the fence), `undefined` when it has none. */
  async readRecord(
    id: string,
    keys: RunKeys,
  ): Promise<{ run: StoredRun; versionstamp: string } | undefined> {
    const entry = await this.#kv.get(keys.record);
    if (entry.versionstamp === null) return undefined;
    return { run: parseRun(id, decodeValue(id, entry.value)), versionstamp: entry.versionstamp };
  }

  /** Sets the record in `op` and keeps both indexes in step with it. */
  writeRecord(
    op: KvAtomic,
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

  /** Deletes the record and its index entries in `op`. */
  deleteRecord(op: KvAtomic, keys: RunKeys, run: StoredRun): void {
    op.delete(keys.record);
    op.delete(this.#statusKey(run.status, run.id));
    if (isActive(run)) op.delete(this.#expiryKey(run.leaseUntil, run.id));
  }

  /** Every row of the log, ascending, with the chunk count of each chunked row. */
  async loadRows(
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
      rows.push(await this.#unpack(id, keys, sequence, value));
      if (value instanceof Uint8Array) {
        const count = chunkCount(value);
        if (count > 0) chunks.set(sequence, count);
      }
    }
    return { rows, chunks };
  }

  /** The log's last row (one reverse read of one key), `undefined` when it has none. */
  async lastRow(id: string, keys: RunKeys): Promise<CheckpointRow | undefined> {
    for await (const entry of this.#kv.list({ prefix: keys.rows }, { limit: 1, reverse: true })) {
      const sequence = entry.key[entry.key.length - 1];
      if (typeof sequence !== "number") return undefined;
      return await this.#unpack(id, keys, sequence, entry.value);
    }
    return undefined;
  }

  /** Every row and chunk key of a run, heads in ascending order. */
  async listLogKeys(keys: RunKeys): Promise<KvKey[]> {
    const found: KvKey[] = [];
    for await (const entry of this.#kv.list({ prefix: keys.rows })) found.push(entry.key as KvKey);
    for await (const entry of this.#kv.list({ prefix: keys.chunks })) {
      found.push(entry.key as KvKey);
    }
    return found;
  }

  /**
   * The inbox's events with `seq > after`, in seq order (one list). Only events up to the
   * record's `inbox.last` count: the record is the inbox's authority.
   */
  async listEvents(
    id: string,
    keys: RunKeys,
    after: number,
    run: StoredRun,
  ): Promise<DeliveredEvent[]> {
    const last = run.inbox?.last ?? 0;
    const events: DeliveredEvent[] = [];
    if (last <= after) return events;
    const selector = after === 0
      ? { prefix: keys.events }
      : { prefix: keys.events, start: [...keys.events, after + 1] };
    for await (const entry of this.#kv.list(selector)) {
      const seq = entry.key[entry.key.length - 1];
      if (typeof seq !== "number" || seq <= after || seq > last) continue;
      const event = decodeEvent(id, decodeValue(id, entry.value, "event"), this.#codec);
      if (event.seq !== seq) {
        throw new CheckpointStoreError(
          `Corrupt event ${seq} in the inbox of run "${shortId(id)}": it says seq ${event.seq}`,
        );
      }
      events.push(event);
    }
    return events;
  }

  /**
   * The inbox keys of a run as its record counts them: events `1..inbox.last` and, when some
   * carry an `eventId`, the eventId keys (one list).
   */
  async inboxKeys(keys: RunKeys, run: StoredRun): Promise<KvKey[]> {
    const found: KvKey[] = [];
    const inbox = run.inbox;
    if (inbox === undefined) return found;
    for (let seq = 1; seq <= inbox.last; seq++) found.push([...keys.events, seq]);
    if (inbox.ids > 0) {
      for await (const entry of this.#kv.list({ prefix: keys.eventIds })) {
        found.push(entry.key as KvKey);
      }
    }
    return found;
  }

  /** Every inbox key of a run, whatever its record says (for `clear`). */
  async listInboxKeys(keys: RunKeys): Promise<KvKey[]> {
    const found: KvKey[] = [];
    for (const prefix of [keys.events, keys.eventIds]) {
      for await (const entry of this.#kv.list({ prefix })) found.push(entry.key as KvKey);
    }
    return found;
  }

  #unpack(id: string, keys: RunKeys, sequence: number, value: unknown): Promise<CheckpointRow> {
    return unpackRow(id, sequence, value, () => this.#chunksOf(keys, sequence), this.#codec);
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

  /**
   * The index entries of active runs whose lease expired before `now`, oldest expiry first,
   * after the position `after` (exclusive).
   */
  async expired(
    now: number,
    limit: number,
    after: { leaseUntil: number; id: string } | undefined,
  ): Promise<{ leaseUntil: number; id: string }[]> {
    const prefix: KvKey = [...this.#prefix, "expiry"];
    // Keys sort by (leaseUntil, id): the listing stops at the first lease still running, and a
    // cursor resumes at its own key (skipped) — exactly after it. KV reads a list in batches of
    // up to its limit, so the batches start small and double: reading past the expired runs
    // costs a few entries, not a hundred, however many healthy runs follow.
    const found: { leaseUntil: number; id: string }[] = [];
    let start: KvKey | undefined = after === undefined
      ? undefined
      : [...prefix, after.leaseUntil, after.id];
    let skip = after;
    for (let batch = FIRST_EXPIRY_BATCH;; batch = Math.min(batch * 2, limit + 1)) {
      let seen = 0;
      let last: KvKey | undefined;
      const selector = start === undefined ? { prefix } : { prefix, start };
      for await (const entry of this.#kv.list(selector, { limit: batch })) {
        seen += 1;
        last = entry.key as KvKey;
        const leaseUntil = entry.key[entry.key.length - 2];
        const id = entry.key[entry.key.length - 1];
        if (typeof id !== "string" || typeof leaseUntil !== "number") continue;
        if (skip !== undefined && leaseUntil === skip.leaseUntil && id === skip.id) continue;
        if (leaseUntil > now) return found;
        found.push({ leaseUntil, id });
        if (found.length > limit) return found;
      }
      if (seen < batch || last === undefined) return found;
      // The next batch starts at the last key read (inclusive), which is then skipped.
      start = last;
      const leaseUntil = last[last.length - 2];
      const id = last[last.length - 1];
      skip = typeof leaseUntil === "number" && typeof id === "string"
        ? { leaseUntil, id }
        : undefined;
    }
  }

  #statusKey(status: RunStatus, id: string): KvKey {
    return [...this.#prefix, "status", status, id];
  }

  #expiryKey(leaseUntil: number, id: string): KvKey {
    return [...this.#prefix, "expiry", leaseUntil, id];
  }
}

/** The log keys of a run whose layout the store knows: rows 0..count-1 and their chunks. */
export function knownLogKeys(
  keys: RunKeys,
  count: number,
  chunks: ReadonlyMap<number, number>,
): KvKey[] {
  const found: KvKey[] = [];
  for (let sequence = 0; sequence < count; sequence++) {
    found.push([...keys.rows, sequence]);
    const parts = chunks.get(sequence);
    if (parts !== undefined) found.push(...chunkKeys(keys.chunks, sequence, parts));
  }
  return found;
}

/** Whether rows are numbered 0..n-1 with no gap (then their keys are known without a listing). */
export function dense(rows: readonly CheckpointRow[]): boolean {
  return rows.every((row, index) => row.sequence === index);
}

/** A stored record's (or event's) JSON text. */
export function decodeValue(id: string, value: unknown, what = "run record"): string {
  if (!(value instanceof Uint8Array)) {
    throw new CheckpointStoreError(
      `Corrupt ${what} for workflow "${shortId(id)}": expected JSON bytes, found ${
        describeValue(value)
      }`,
    );
  }
  return DECODER.decode(value);
}
