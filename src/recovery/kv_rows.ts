// How a checkpoint row lies in Deno KV: one head value of JSON bytes, or, above KV's 64 KiB value
// limit, a small head naming the chunk count and the chunks beside it (written in one commit).

import { CheckpointStoreError, messageOf } from "../errors.ts";
import type { Codec } from "./codec.ts";
import { type CheckpointRow, decodeRow } from "./checkpoint.ts";
import { describeValue } from "./kv_like.ts";
import { type KeyPart, MAX_VALUE_BYTES } from "./limits.ts";
import { shortId } from "./run_errors.ts";

/** How a chunked row's head value starts; a plain row's JSON always starts with `{"sequence":`. */
const CHUNK_HEADER_START = '{"canoChunks":';
const ENCODER = new TextEncoder();
const DECODER = new TextDecoder("utf-8", { fatal: true });

/** A row ready to be set: its head value and its chunks (empty for rows up to 64 KiB). */
export interface PackedRow {
  readonly head: Uint8Array;
  readonly chunks: readonly Uint8Array[];
}

/**
 * Splits a row's JSON bytes into a head value and chunks.
 *
 * @param bytes The row's UTF-8 JSON.
 * @returns The pieces.
 */
export function packRow(bytes: Uint8Array): PackedRow {
  if (bytes.length <= MAX_VALUE_BYTES) return { head: bytes, chunks: [] };
  const count = Math.ceil(bytes.length / MAX_VALUE_BYTES);
  const chunks: Uint8Array[] = [];
  for (let index = 0; index < count; index++) {
    chunks.push(bytes.subarray(index * MAX_VALUE_BYTES, (index + 1) * MAX_VALUE_BYTES));
  }
  return {
    head: ENCODER.encode(`${CHUNK_HEADER_START}${count},"bytes":${bytes.length}}`),
    chunks,
  };
}

/** The chunk count a head announces (0 for a plain row). */
export function chunkCount(head: Uint8Array): number {
  if (head.length > 64 || head[0] !== 0x7b || head[2] !== 0x63) return 0; // `{"c`
  const text = DECODER.decode(head);
  if (!text.startsWith(CHUNK_HEADER_START)) return 0;
  const count = Number.parseInt(text.slice(CHUNK_HEADER_START.length), 10);
  return Number.isSafeInteger(count) && count > 0 ? count : 0;
}

/**
 * Turns a stored head (and, for a chunked row, its chunks) back into a row.
 *
 * @param id The run id (for messages).
 * @param sequence The row's sequence (from its key).
 * @param value The head value.
 * @param readChunks Reads the chunks of this row, by index.
 * @param codec The payload codec.
 * @returns The row.
 * @throws {CheckpointStoreError} Naming the id and sequence when the row is corrupt.
 */
export async function unpackRow(
  id: string,
  sequence: number,
  value: unknown,
  readChunks: () => Promise<Map<number, Uint8Array>>,
  codec: Codec,
): Promise<CheckpointRow> {
  const corrupt = (detail: string, cause?: unknown): CheckpointStoreError =>
    new CheckpointStoreError(
      `Corrupt checkpoint row ${sequence} of workflow "${shortId(id)}": ${detail}`,
      cause === undefined ? {} : { cause },
    );
  if (!(value instanceof Uint8Array)) {
    throw corrupt(`expected JSON bytes (a Uint8Array), found ${describeValue(value)}`);
  }
  let text = decodeUtf8(value, corrupt);
  if (text.startsWith(CHUNK_HEADER_START)) {
    let header: { canoChunks?: unknown; bytes?: unknown };
    try {
      header = JSON.parse(text);
    } catch (error) {
      throw corrupt("unreadable chunk header", error);
    }
    const { canoChunks: count, bytes: total } = header;
    if (
      typeof count !== "number" || !Number.isSafeInteger(count) || count < 1 ||
      typeof total !== "number" || !Number.isSafeInteger(total) || total < 0
    ) {
      throw corrupt(`invalid chunk header ${text.slice(0, 100)}`);
    }
    const parts = await readChunks();
    const joined = new Uint8Array(total);
    let offset = 0;
    for (let index = 0; index < count; index++) {
      const part = parts.get(index);
      if (part === undefined) throw corrupt(`chunk ${index} of ${count} is missing`);
      if (offset + part.length > total) throw corrupt(`chunks exceed ${total} bytes`);
      joined.set(part, offset);
      offset += part.length;
    }
    if (offset !== total) throw corrupt(`chunks hold ${offset} bytes, expected ${total}`);
    text = decodeUtf8(joined, corrupt);
  }
  let row: CheckpointRow;
  try {
    row = decodeRow(id, text, codec);
  } catch (error) {
    throw corrupt(messageOf(error), error);
  }
  if (row.sequence !== sequence) throw corrupt(`the row says sequence ${row.sequence}`);
  return row;
}

/** A row's chunk keys. */
export function chunkKeys(
  chunksPrefix: readonly KeyPart[],
  sequence: number,
  count: number,
): KeyPart[][] {
  return Array.from({ length: count }, (_, index) => [...chunksPrefix, sequence, index]);
}

function decodeUtf8(
  bytes: Uint8Array,
  corrupt: (detail: string, cause?: unknown) => CheckpointStoreError,
): string {
  try {
    return DECODER.decode(bytes);
  } catch (error) {
    throw corrupt("value is not UTF-8", error);
  }
}
