// The size limits of a checkpoint log, computed the way Deno KV counts them. Both built-in stores
// apply them, so a row or id the KV store refuses is refused by the memory store too (a test that
// passes on memory does not fail in production on KV).

import { safeString } from "../describe.ts";
import { CheckpointStoreError } from "../errors.ts";
import { shortId } from "./run_errors.ts";

// Deno KV limits (deno ext/kv/lib.rs, verified against Deno 2.9):
// - a written key encodes to at most 2,048 bytes;
// - a value is at most 65,536 bytes (a Uint8Array is stored as raw bytes);
// - an atomic commit has at most 1,000 mutations, and its "total mutation size" is at most
//   819,200 bytes, counted as: every check key + every mutation key, plus, for each `set`, the value
//   and the key again (so a `set` key counts twice, a `check` or `delete` key once);
// - the keys of the `set`s of one commit total at most 81,920 bytes.
/** The longest key Deno KV writes, in encoded bytes. */
export const MAX_KEY_BYTES = 2_048;
/** The largest value, in bytes. */
export const MAX_VALUE_BYTES = 65_536;
/** Mutations per atomic commit. */
const MAX_MUTATIONS = 1_000;
/** The "total mutation size" of one atomic commit. */
const MAX_COMMIT_BYTES = 819_200;
/** The total size of the keys set by one commit. */
const MAX_SET_KEY_BYTES = 81_920;
/** The encoded size of a number key part (tag byte + IEEE 754 double). */
const NUMBER_PART_BYTES = 9;
/** Largest chunked head value: `{"canoChunks":NN,"bytes":NNNNNN}` is 32 bytes; keep headroom. */
const CHUNK_HEADER_MAX_BYTES = 48;
/** The prefix a `KvCheckpointStore` uses unless told otherwise (the memory store's limits too). */
export const DEFAULT_PREFIX: readonly KeyPart[] = Object.freeze(["cano", "checkpoints"]);

/** A key part the stores write (the `Deno.KvKeyPart` types, minus `symbol`). */
export type KeyPart = string | number | bigint | boolean | Uint8Array;

const ENCODER = new TextEncoder();

/** The key-size facts of one run id under one prefix. */
export interface IdLimits {
  /** Encoded bytes of a row head key `[...prefix, "rows", id, sequence]`. */
  readonly headKeyBytes: number;
  /** Encoded bytes of a chunk key `[...prefix, "chunks", id, sequence, index]` (the longest key). */
  readonly chunkKeyBytes: number;
  /** The largest row JSON (in UTF-8 bytes) one append can store for this id. */
  readonly maxRowBytes: number;
  /**
   * The largest row JSON when the same commit also writes `extra` bytes of other mutations (the
   * run record, on the rows that change the run's status).
   */
  maxRowBytesWith(extra: number): number;
}

/**
 * The limits for `id` under a prefix of `prefixBytes` encoded bytes, or a `CheckpointStoreError`
 * when the id's keys would not fit in Deno KV.
 *
 * @param id A well-formed id (see {@link checkRunId}).
 * @param prefixBytes The encoded size of the store's key prefix.
 * @returns The limits.
 */
export function limitsFor(id: string, prefixBytes: number): IdLimits {
  const idBytes = keyPartBytes(id);
  const recordKeyBytes = prefixBytes + keyPartBytes("runs") + idBytes;
  const headKeyBytes = prefixBytes + keyPartBytes("rows") + idBytes + NUMBER_PART_BYTES;
  const chunkKeyBytes = prefixBytes + keyPartBytes("chunks") + idBytes + 2 * NUMBER_PART_BYTES;
  if (chunkKeyBytes > MAX_KEY_BYTES) {
    const utf8 = ENCODER.encode(id).length;
    const room = utf8 - (chunkKeyBytes - MAX_KEY_BYTES);
    throw new CheckpointStoreError(
      `Workflow id "${shortId(id)}" is too long for Deno KV: it is ${utf8} bytes of UTF-8 and ` +
        `its checkpoint keys would take ${chunkKeyBytes} bytes, over the ${MAX_KEY_BYTES}-byte ` +
        `key limit (ids of at most about ${Math.max(0, room)} bytes fit with this prefix)`,
    );
  }
  return {
    headKeyBytes,
    chunkKeyBytes,
    maxRowBytes: maxRowBytes(headKeyBytes, chunkKeyBytes, recordKeyBytes),
    maxRowBytesWith: (extra) => maxRowBytes(headKeyBytes, chunkKeyBytes, recordKeyBytes + extra),
  };
}

/** The encoded size of the default prefix. */
export const DEFAULT_PREFIX_BYTES: number = prefixBytes(DEFAULT_PREFIX);

/**
 * The encoded size of a key prefix.
 *
 * @param prefix The key parts.
 * @returns Their encoded size in bytes.
 */
export function prefixBytes(prefix: readonly KeyPart[]): number {
  return prefix.reduce((sum: number, part) => sum + keyPartBytes(part), 0);
}

/**
 * Refuses a row whose JSON is larger than one append can hold.
 *
 * @param id The run id.
 * @param sequence The row's sequence.
 * @param bytes The row's size in UTF-8 bytes.
 * @param limit The largest size allowed (from {@link IdLimits}).
 * @throws {CheckpointStoreError} When the row is too large.
 */
export function checkRowSize(
  id: string,
  sequence: number,
  bytes: number,
  limit: number,
): void {
  if (bytes <= limit) return;
  throw new CheckpointStoreError(
    `Checkpoint row ${sequence} of workflow "${shortId(id)}" is ${bytes} bytes as JSON; a Deno ` +
      `KV atomic commit holds at most 800 KiB (819,200 bytes) including keys, so rows above ` +
      `${limit} bytes cannot be stored for this id (keep large blobs elsewhere and ` +
      "put their key in the run data)",
  );
}

/**
 * The largest row JSON one atomic commit can hold: the row's head and chunk keys, plus the
 * append's checks (the row head, the run record, and for an append without a lease the previous
 * row — at most a head key long), the head key set twice, and `extra` (the run record's key, and
 * any other mutation the append carries).
 */
function maxRowBytes(head: number, chunk: number, extra: number): number {
  const fixed = 4 * head + extra;
  let best = Math.min(MAX_VALUE_BYTES, MAX_COMMIT_BYTES - fixed);
  for (let count = 2; count < MAX_MUTATIONS; count++) {
    if (head + count * chunk > MAX_SET_KEY_BYTES) break;
    const room = MAX_COMMIT_BYTES - fixed - CHUNK_HEADER_MAX_BYTES - 2 * count * chunk;
    if (room <= (count - 1) * MAX_VALUE_BYTES) break;
    best = Math.min(room, count * MAX_VALUE_BYTES);
  }
  return best;
}

/**
 * The encoded size of a key part (Deno KV's FoundationDB-tuple-style encoding), never less.
 *
 * @param part The key part.
 * @returns Its size in bytes.
 */
function keyPartBytes(part: KeyPart): number {
  if (typeof part === "string") return stringPartBytes(part);
  if (part instanceof Uint8Array) return escapedBytes(part);
  if (typeof part === "number") return NUMBER_PART_BYTES;
  if (typeof part === "boolean") return 1;
  const magnitude = part < 0n ? -part : part;
  return 3 + Math.ceil(magnitude.toString(16).length / 2);
}

/**
 * A string part's size without encoding it (this runs on every append): tag byte, UTF-8 bytes
 * with each U+0000 escaped to two, terminator.
 */
function stringPartBytes(part: string): number {
  let size = 2 + utf8Bytes(part);
  for (let index = part.indexOf("\0"); index !== -1; index = part.indexOf("\0", index + 1)) size++;
  return size;
}

/** Tag byte + bytes (each 0x00 escaped to two bytes) + terminator. */
function escapedBytes(bytes: Uint8Array): number {
  let size = 2 + bytes.length;
  for (const byte of bytes) if (byte === 0) size++;
  return size;
}

/**
 * Refuses run ids no store can key: anything but a non-empty, well-formed string. Lone
 * surrogates are refused because KV encodes keys as UTF-8, where every lone surrogate becomes
 * U+FFFD — two different ids would share one log.
 *
 * @param id The id.
 * @param what What the id is called in the message.
 * @throws {CheckpointStoreError} When invalid.
 */
export function checkRunId(id: unknown, what = "Workflow id"): asserts id is string {
  if (typeof id !== "string" || id.length === 0) {
    throw new CheckpointStoreError(
      `${what} must be a non-empty string, received ${describeId(id)}`,
    );
  }
  if (!id.isWellFormed()) {
    throw new CheckpointStoreError(
      `${what} ${JSON.stringify(shortId(id))} is not a well-formed string (it has a lone ` +
        "surrogate, which a store would turn into U+FFFD, so two ids could share one log)",
    );
  }
}

function describeId(id: unknown): string {
  if (typeof id === "string") return JSON.stringify(id);
  if (typeof id === "symbol" || typeof id === "bigint" || typeof id === "function") {
    return `a ${typeof id}`;
  }
  if (id === null || id === undefined || typeof id !== "object") return safeString(id);
  return "an object";
}

/**
 * The bytes a status change adds to a commit: the run record set (key twice + value), its status
 * index entry set (key twice + a copy of the value) and the old index entry deleted.
 *
 * @param prefixBytes The encoded size of the store's key prefix.
 * @param id The run id.
 * @param recordBytes The record's JSON size.
 * @returns The bytes.
 */
export function statusChangeBytes(prefixBytes: number, id: string, recordBytes: number): number {
  const idBytes = keyPartBytes(id);
  const recordKey = prefixBytes + keyPartBytes("runs") + idBytes;
  const statusKey = prefixBytes + keyPartBytes("status") + keyPartBytes("rolling_back") + idBytes;
  return 2 * recordKey + recordBytes + 3 * statusKey + recordBytes;
}

/**
 * The UTF-8 size of a string, without encoding it.
 *
 * @param text The text (well-formed: lone surrogates count as the 3 bytes of U+FFFD).
 * @returns Its size in bytes.
 */
export function utf8Bytes(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) bytes += 1;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 2; // a pair: 2 UTF-16 units, 4 bytes
        i++;
      } else bytes += 2;
    } else bytes += 2;
  }
  return bytes;
}
