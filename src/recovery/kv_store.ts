import { delay } from "../async.ts";
import { CanoError, CheckpointStoreError, ConfigurationError, messageOf } from "../errors.ts";
import {
  type CheckpointRow,
  type CheckpointStore,
  checkWorkflowId,
  conflictError,
  decodeRow,
  encodeRow,
  gapError,
} from "./checkpoint.ts";

// Deno KV limits (deno ext/kv/lib.rs, verified against Deno 2.9):
// - a written key encodes to at most 2,048 bytes;
// - a value is at most 65,536 bytes (a Uint8Array is stored as raw bytes);
// - an atomic commit has at most 1,000 mutations, and its "total mutation size" is at most
//   819,200 bytes, counted as: every check key + every mutation key, plus, for each `set`, the value
//   and the key again (so a `set` key counts twice, a `check` or `delete` key once);
// - the keys of the `set`s of one commit total at most 81,920 bytes.
const MAX_KEY_BYTES = 2_048;
const MAX_VALUE_BYTES = 65_536;
const MAX_MUTATIONS = 1_000;
const MAX_COMMIT_BYTES = 819_200;
const MAX_SET_KEY_BYTES = 81_920;
/** The encoded size of a number key part (tag byte + IEEE 754 double). */
const NUMBER_PART_BYTES = 9;
/** Deletes per `clear` commit, and the byte budget of one such commit (headroom under the limit). */
const CLEAR_BATCH_MUTATIONS = 500;
const CLEAR_BATCH_BYTES = 700_000;
/** The longest wait between two lock retries, in milliseconds. */
const MAX_RETRY_DELAY = 1_000;
/** How a chunked row's head value starts; a plain row's JSON always starts with `{"sequence":`. */
const CHUNK_HEADER_START = '{"canoChunks":';
/** Largest chunked head value: `{"canoChunks":NN,"bytes":NNNNNN}` is 32 bytes; keep headroom. */
const CHUNK_HEADER_MAX_BYTES = 48;

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder("utf-8", { fatal: true });

/** A key part the store writes (the `Deno.KvKeyPart` types, minus `symbol`). */
type KeyPart = string | number | bigint | boolean | Uint8Array;

/**
 * The part of a Deno KV handle that {@link KvCheckpointStore} uses: `get(key)`, `atomic()` (with
 * `check`, `set`, `delete`, `commit`) and `list({ prefix })`. A `Deno.Kv` from `Deno.openKv()`
 * satisfies it, and so does the `Kv` of Node's `@deno/kv` package; a wrapper (for instrumentation
 * or fault injection) only needs these members.
 *
 * The store never chains calls on the atomic operation, so the return values of `check`, `set` and
 * `delete` are not used.
 *
 * @example Wrap a Deno KV handle
 * ```ts
 * import { KvCheckpointStore, type KvLike } from "@cano/cano/kv";
 * import assert from "node:assert/strict";
 *
 * const kv = await Deno.openKv(":memory:");
 * try {
 *   let commits = 0;
 *   const counting: KvLike = {
 *     atomic() {
 *       const op = kv.atomic();
 *       return {
 *         check: (...checks) => op.check(...checks),
 *         set: (key, value) => op.set(key, value),
 *         delete: (key) => op.delete(key),
 *         commit: () => {
 *           commits += 1;
 *           return op.commit();
 *         },
 *       };
 *     },
 *     get: (key) => kv.get(key),
 *     list: (selector) => kv.list(selector),
 *   };
 *   const store = new KvCheckpointStore(counting);
 *   await store.append("run-1", { sequence: 0, state: "start", taskId: "start", kind: "state_entry", workflowVersion: 0 });
 *   assert.equal(commits, 1);
 * } finally {
 *   kv.close();
 * }
 * ```
 */
export interface KvLike {
  /**
   * Reads one key (the store only uses the versionstamp, to check that the previous row exists).
   *
   * @param key The key.
   * @returns Its versionstamp, `null` when the key is absent.
   */
  get(
    key: readonly (string | number | bigint | boolean | Uint8Array)[],
  ): Promise<{ readonly versionstamp: string | null }>;
  /**
   * Starts an atomic operation.
   *
   * @returns The operation: checks and mutations are applied together by `commit`, which resolves
   * `{ ok: false }` when a check fails.
   */
  atomic(): {
    check(
      ...checks: {
        key: readonly (string | number | bigint | boolean | Uint8Array)[];
        versionstamp: string | null;
      }[]
    ): unknown;
    set(
      key: readonly (string | number | bigint | boolean | Uint8Array)[],
      value: Uint8Array,
    ): unknown;
    delete(key: readonly (string | number | bigint | boolean | Uint8Array)[]): unknown;
    commit(): Promise<{ readonly ok: boolean }>;
  };
  /**
   * Lists the entries under a key prefix, in key order.
   *
   * @param selector The prefix.
   * @returns The entries.
   */
  list(
    selector: { prefix: readonly (string | number | bigint | boolean | Uint8Array)[] },
  ): AsyncIterable<{ readonly key: readonly unknown[]; readonly value: unknown }>;
}

/** Options of {@link KvCheckpointStore}. */
export interface KvCheckpointStoreOptions {
  /**
   * The key prefix under which every row is stored (a `Deno.KvKey`); stores with different
   * prefixes share a database without seeing each other. Default `["cano", "checkpoints"]`.
   */
  prefix?: readonly (string | number | bigint | boolean | Uint8Array)[] | undefined;
  /**
   * Retries of the transient `database is locked` error that Deno KV throws when several processes
   * write one database file at once. Each retry waits `baseDelay × 2^(n-1)` milliseconds (capped at
   * one second) with ±50 % jitter. Other errors are never retried.
   */
  retry?: {
    /** Attempts in total, including the first (an integer ≥ 1). Default 8. */
    attempts?: number | undefined;
    /** The first retry's delay in milliseconds (≥ 0). Default 10. */
    baseDelay?: number | undefined;
  } | undefined;
  /**
   * Aborts the waits between lock retries: a pending retry rejects with `signal.reason` as soon as
   * the signal aborts. Operations that do not hit the lock are unaffected.
   */
  signal?: AbortSignal | undefined;
}

/** Key sizes for one workflow id. */
interface IdKeys {
  readonly rows: readonly KeyPart[];
  readonly chunks: readonly KeyPart[];
  /** Encoded size of a head key `[...prefix, "rows", id, sequence]`. */
  readonly headKeyBytes: number;
  /** Encoded size of a chunk key `[...prefix, "chunks", id, sequence, index]`. */
  readonly chunkKeyBytes: number;
}

/**
 * A durable {@link CheckpointStore} on Deno KV (`Deno.openKv`): crash recovery that survives a
 * restart, with no server. Implements the full contract: a duplicate sequence is rejected with a
 * `CheckpointStoreError` (never overwritten), so is a gap (row `n > 0` while row `n - 1` is absent,
 * e.g. because another process finished and cleared the run), `loadRun` returns rows ascending by
 * sequence, and `clear` removes one id's rows only.
 *
 * **Storage layout.** Under `prefix` (default `["cano", "checkpoints"]`), row `n` of workflow `id`
 * is stored at `[...prefix, "rows", id, n]` as UTF-8 JSON bytes (a `Uint8Array`, not a V8-serialised
 * object, so Node's `@deno/kv` can read files written by Deno). The id is a single key part, so no
 * id (with `/`, unicode, or being a prefix of another id) can reach another id's rows. A row whose
 * JSON exceeds 64 KiB (Deno KV's value limit) is split into 64 KiB chunks at
 * `[...prefix, "chunks", id, n, i]`, written in the same atomic commit, and its head value is
 * `{"canoChunks":<count>,"bytes":<total>}` instead of the row.
 *
 * **Limits.** One append is one atomic commit, which Deno KV caps at 800 KiB including keys: rows
 * whose JSON would not fit (about 798 KiB with short ids) are refused before anything is written.
 * Keys are capped at 2 KiB, so ids longer than about 2,000 UTF-8 bytes (less with a long prefix) are
 * refused.
 *
 * **Several processes.** Deno KV files may be shared by processes; a commit that meets another
 * process's write lock throws `database is locked` and did not land. The store retries that error
 * (and only that one) with bounded, jittered exponential backoff; see
 * {@link KvCheckpointStoreOptions.retry}.
 *
 * The store does not own the KV handle: close it yourself when done.
 *
 * @example Append, reject a duplicate, load and clear
 * ```ts
 * import { KvCheckpointStore } from "@cano/cano/kv";
 * import assert from "node:assert/strict";
 *
 * const kv = await Deno.openKv(":memory:");
 * try {
 *   const store = new KvCheckpointStore(kv);
 *   await store.append("order-1", { sequence: 0, state: "charge", taskId: "charge", kind: "state_entry", workflowVersion: 1 });
 *   await store.append("order-1", { sequence: 1, state: "ship", taskId: "ship", kind: "state_entry", workflowVersion: 1 });
 *   await assert.rejects(
 *     store.append("order-1", { sequence: 1, state: "other", taskId: "other", kind: "state_entry", workflowVersion: 1 }),
 *     { category: "checkpoint_store" },
 *   );
 *   const rows = await store.loadRun("order-1");
 *   assert.deepEqual(rows.map((row) => row.state), ["charge", "ship"]);
 *   await store.clear("order-1");
 *   assert.deepEqual(await store.loadRun("order-1"), []);
 * } finally {
 *   kv.close();
 * }
 * ```
 */
export class KvCheckpointStore implements CheckpointStore {
  readonly #kv: KvLike;
  readonly #prefix: readonly KeyPart[];
  readonly #prefixBytes: number;
  readonly #attempts: number;
  readonly #baseDelay: number;
  readonly #signal: AbortSignal | undefined;

  /**
   * Creates a store on a KV handle.
   *
   * @param kv The handle, e.g. `await Deno.openKv(path)`.
   * @param options Prefix, lock-retry policy and abort signal.
   * @throws {ConfigurationError} When `kv` is not KV-shaped, or an option is invalid.
   */
  constructor(kv: KvLike, options: KvCheckpointStoreOptions = {}) {
    if (
      typeof kv !== "object" || kv === null || typeof kv.atomic !== "function" ||
      typeof kv.list !== "function"
    ) {
      throw new ConfigurationError(
        "KvCheckpointStore needs a Deno KV handle (an object with atomic() and list())",
      );
    }
    const prefix = options.prefix ?? ["cano", "checkpoints"];
    if (!Array.isArray(prefix)) {
      throw new ConfigurationError(
        `KvCheckpointStore prefix must be an array of key parts, received ${String(prefix)}`,
      );
    }
    for (const part of prefix as readonly unknown[]) {
      if (!isKeyPart(part)) {
        throw new ConfigurationError(
          `KvCheckpointStore prefix parts must be strings, numbers, bigints, booleans or ` +
            `Uint8Arrays, received ${describe(part)}`,
        );
      }
    }
    this.#prefix = Object.freeze(
      prefix.map((part) => part instanceof Uint8Array ? part.slice() : part),
    );
    this.#prefixBytes = this.#prefix.reduce((sum: number, part) => sum + keyPartBytes(part), 0);
    // The longest key holds a one-character id: it must fit, or no id can be stored at all.
    if (this.#keysFor("x").chunkKeyBytes > MAX_KEY_BYTES) {
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
    this.#kv = kv;
    this.#attempts = attempts;
    this.#baseDelay = baseDelay;
    this.#signal = options.signal;
  }

  /**
   * Appends a row in one atomic commit that fails if the sequence already exists or (for a
   * sequence above 0) if the previous row is missing or was replaced since it was read.
   *
   * @param workflowId The workflow id.
   * @param row The row.
   * @returns When the row is durable.
   * @throws {CheckpointStoreError} On a duplicate sequence, a gap, an invalid or too large row, an
   * id too long for a KV key, a KV failure, or `database is locked` after every attempt.
   */
  append(workflowId: string, row: CheckpointRow): Promise<void> {
    try {
      const keys = this.#checkId(workflowId);
      const bytes = ENCODER.encode(encodeRow(workflowId, row));
      const { sequence } = row;
      const limit = maxRowBytes(keys);
      if (bytes.length > limit) {
        throw new CheckpointStoreError(
          `Checkpoint row ${sequence} of workflow "${shortId(workflowId)}" is ${bytes.length} ` +
            `bytes as JSON; a Deno KV atomic commit holds at most 800 KiB (819,200 bytes) ` +
            `including keys, so rows above ${limit} bytes cannot be stored for this id`,
        );
      }
      const head: readonly KeyPart[] = [...keys.rows, sequence];
      const chunks: { key: readonly KeyPart[]; value: Uint8Array }[] = [];
      let headValue = bytes;
      if (bytes.length > MAX_VALUE_BYTES) {
        const count = Math.ceil(bytes.length / MAX_VALUE_BYTES);
        for (let index = 0; index < count; index++) {
          chunks.push({
            key: [...keys.chunks, sequence, index],
            value: bytes.slice(index * MAX_VALUE_BYTES, (index + 1) * MAX_VALUE_BYTES),
          });
        }
        headValue = ENCODER.encode(
          `${CHUNK_HEADER_START}${count},"bytes":${bytes.length}}`,
        );
      }
      const previous: readonly KeyPart[] | undefined = sequence > 0
        ? [...keys.rows, sequence - 1]
        : undefined;
      return this.#withRetry(`Append checkpoint row ${sequence}`, workflowId, async () => {
        // Bounded: each pass ends in success, an error, or a previous row that changed between
        // the read and the commit (deleted and written again by another run), which is re-read.
        for (let pass = 1;; pass++) {
          let previousStamp: string | null = null;
          if (previous !== undefined) {
            previousStamp = (await this.#kv.get(previous)).versionstamp;
            if (previousStamp === null) {
              if ((await this.#kv.get(head)).versionstamp !== null) {
                throw conflictError(workflowId, sequence);
              }
              throw gapError(workflowId, sequence);
            }
          }
          // A fresh operation per attempt: a commit that threw did not land.
          const op = this.#kv.atomic();
          op.check({ key: head, versionstamp: null });
          if (previous !== undefined) op.check({ key: previous, versionstamp: previousStamp });
          op.set(head, headValue);
          for (const chunk of chunks) op.set(chunk.key, chunk.value);
          const result = await op.commit();
          if (result.ok) return;
          if (previous === undefined || (await this.#kv.get(head)).versionstamp !== null) {
            throw conflictError(workflowId, sequence);
          }
          if (pass >= this.#attempts) {
            throw new CheckpointStoreError(
              `Append checkpoint row ${sequence} for workflow "${shortId(workflowId)}" failed: ` +
                `row ${sequence - 1} changed during each of ${pass} attempts`,
            );
          }
        }
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Loads every row of a run, ascending by sequence, reassembling chunked rows.
   *
   * @param workflowId The workflow id.
   * @returns The rows (empty for an unknown id).
   * @throws {CheckpointStoreError} On a corrupt row (naming the id and sequence), an id too long
   * for a KV key, a KV failure, or `database is locked` after every attempt.
   */
  loadRun(workflowId: string): Promise<CheckpointRow[]> {
    try {
      const keys = this.#checkId(workflowId);
      return this.#withRetry("Load checkpoint log", workflowId, async () => {
        const heads: { sequence: number; value: unknown }[] = [];
        for await (const entry of this.#kv.list({ prefix: keys.rows })) {
          const sequence = entry.key[entry.key.length - 1];
          if (typeof sequence !== "number" || !Number.isSafeInteger(sequence) || sequence < 0) {
            throw new CheckpointStoreError(
              `Corrupt checkpoint log for workflow "${shortId(workflowId)}": unexpected key part ` +
                describe(sequence),
            );
          }
          heads.push({ sequence, value: entry.value });
        }
        heads.sort((a, b) => a.sequence - b.sequence);
        const rows: CheckpointRow[] = [];
        for (const { sequence, value } of heads) {
          rows.push(await this.#decodeHead(workflowId, keys, sequence, value));
        }
        return rows;
      });
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Removes every row (and chunk) of one workflow id, in atomic batches of at most 500 deletes.
   * Other ids are untouched; an unknown id is a no-op. Heads are deleted before chunks, so an
   * interrupted clear never leaves a row whose chunks are missing.
   *
   * @param workflowId The workflow id.
   * @returns When the rows are gone.
   * @throws {CheckpointStoreError} On an id too long for a KV key, a KV failure, or
   * `database is locked` after every attempt.
   */
  clear(workflowId: string): Promise<void> {
    try {
      const keys = this.#checkId(workflowId);
      return (async () => {
        await this.#deleteAll(workflowId, keys.rows, 1, keys.headKeyBytes);
        await this.#deleteAll(workflowId, keys.chunks, 2, keys.chunkKeyBytes);
      })();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Validates an id (non-empty, keys within the KV key limit) and returns its key prefixes. */
  #checkId(workflowId: string): IdKeys {
    checkWorkflowId(workflowId);
    const keys = this.#keysFor(workflowId);
    if (keys.chunkKeyBytes > MAX_KEY_BYTES) {
      const idBytes = ENCODER.encode(workflowId).length;
      const room = idBytes - (keys.chunkKeyBytes - MAX_KEY_BYTES);
      throw new CheckpointStoreError(
        `Workflow id "${shortId(workflowId)}" is too long for Deno KV: it is ${idBytes} bytes of ` +
          `UTF-8 and its checkpoint keys would take ${keys.chunkKeyBytes} bytes, over the ` +
          `${MAX_KEY_BYTES}-byte key limit (ids of at most about ${Math.max(0, room)} bytes fit ` +
          "with this prefix)",
      );
    }
    return keys;
  }

  #keysFor(workflowId: string): IdKeys {
    const idBytes = keyPartBytes(workflowId);
    return {
      rows: [...this.#prefix, "rows", workflowId],
      chunks: [...this.#prefix, "chunks", workflowId],
      headKeyBytes: this.#prefixBytes + keyPartBytes("rows") + idBytes + NUMBER_PART_BYTES,
      chunkKeyBytes: this.#prefixBytes + keyPartBytes("chunks") + idBytes +
        2 * NUMBER_PART_BYTES,
    };
  }

  async #decodeHead(
    workflowId: string,
    keys: IdKeys,
    sequence: number,
    value: unknown,
  ): Promise<CheckpointRow> {
    const corrupt = (detail: string, cause?: unknown): CheckpointStoreError =>
      new CheckpointStoreError(
        `Corrupt checkpoint row ${sequence} of workflow "${shortId(workflowId)}": ${detail}`,
        cause === undefined ? {} : { cause },
      );
    if (!(value instanceof Uint8Array)) {
      throw corrupt(`expected JSON bytes (a Uint8Array), found ${describe(value)}`);
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
      const parts = new Map<number, Uint8Array>();
      for await (const entry of this.#kv.list({ prefix: [...keys.chunks, sequence] })) {
        const index = entry.key[entry.key.length - 1];
        if (typeof index === "number" && entry.value instanceof Uint8Array) {
          parts.set(index, entry.value);
        }
      }
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
      row = decodeRow(workflowId, text);
    } catch (error) {
      throw corrupt(messageOf(error), error);
    }
    if (row.sequence !== sequence) throw corrupt(`the row says sequence ${row.sequence}`);
    return row;
  }

  /** Deletes every key under `prefix` (keys are `[...prefix, ...tail]`, `tailLength` numbers). */
  async #deleteAll(
    workflowId: string,
    prefix: readonly KeyPart[],
    tailLength: number,
    keyBytes: number,
  ): Promise<void> {
    const tails = await this.#withRetry("List checkpoint rows to clear", workflowId, async () => {
      const found: number[][] = [];
      for await (const entry of this.#kv.list({ prefix })) {
        const tail = entry.key.slice(entry.key.length - tailLength);
        if (tail.length === tailLength && tail.every((part) => typeof part === "number")) {
          found.push(tail as number[]);
        }
      }
      return found;
    });
    const perBatch = Math.max(
      1,
      Math.min(CLEAR_BATCH_MUTATIONS, Math.floor(CLEAR_BATCH_BYTES / keyBytes)),
    );
    for (let start = 0; start < tails.length; start += perBatch) {
      const batch = tails.slice(start, start + perBatch);
      await this.#withRetry("Clear checkpoint rows", workflowId, async () => {
        const op = this.#kv.atomic();
        for (const tail of batch) op.delete([...prefix, ...tail]);
        await op.commit();
      });
    }
  }

  /**
   * Runs `operation`, retrying the transient `database is locked` error with jittered exponential
   * backoff; other errors are wrapped in a `CheckpointStoreError` (cano errors pass through).
   */
  async #withRetry<T>(what: string, workflowId: string, operation: () => Promise<T>): Promise<T> {
    for (let attempt = 1;; attempt++) {
      try {
        return await operation();
      } catch (error) {
        if (error instanceof CanoError) throw error;
        if (!isLocked(error)) {
          throw new CheckpointStoreError(
            `${what} for workflow "${shortId(workflowId)}" failed in Deno KV: ${messageOf(error)}`,
            { cause: error },
          );
        }
        if (attempt >= this.#attempts) {
          throw new CheckpointStoreError(
            `${what} for workflow "${shortId(workflowId)}" failed: database is locked after ` +
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

/** The largest row JSON (in bytes) one atomic commit can hold for an id with these keys. */
function maxRowBytes(keys: IdKeys): number {
  const { headKeyBytes: head, chunkKeyBytes: chunk } = keys;
  // Two checks (the head, and the previous row's key, as long as a head key), then the head key
  // of the set twice (once as a mutation key, once with its value).
  const fixed = 4 * head;
  let best = Math.min(MAX_VALUE_BYTES, MAX_COMMIT_BYTES - fixed);
  for (let count = 2; count < MAX_MUTATIONS; count++) {
    if (head + count * chunk > MAX_SET_KEY_BYTES) break;
    const room = MAX_COMMIT_BYTES - fixed - CHUNK_HEADER_MAX_BYTES - 2 * count * chunk;
    if (room <= (count - 1) * MAX_VALUE_BYTES) break;
    best = Math.min(room, count * MAX_VALUE_BYTES);
  }
  return best;
}

/** The encoded size of a key part (Deno KV's FoundationDB-tuple-style encoding), never less. */
function keyPartBytes(part: KeyPart): number {
  if (typeof part === "string") return escapedBytes(ENCODER.encode(part));
  if (part instanceof Uint8Array) return escapedBytes(part);
  if (typeof part === "number") return NUMBER_PART_BYTES;
  if (typeof part === "boolean") return 1;
  const magnitude = part < 0n ? -part : part;
  return 3 + Math.ceil(magnitude.toString(16).length / 2);
}

/** Tag byte + bytes (each 0x00 escaped to two bytes) + terminator. */
function escapedBytes(bytes: Uint8Array): number {
  let size = 2 + bytes.length;
  for (const byte of bytes) if (byte === 0) size++;
  return size;
}

function isKeyPart(part: unknown): part is KeyPart {
  return typeof part === "string" || typeof part === "bigint" || typeof part === "boolean" ||
    part instanceof Uint8Array || (typeof part === "number" && !Number.isNaN(part));
}

function isLocked(error: unknown): boolean {
  return error instanceof Error && error.message.includes("database is locked");
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

/** An id for an error message, cut to 80 characters. */
function shortId(workflowId: string): string {
  return workflowId.length <= 80 ? workflowId : `${workflowId.slice(0, 80)}…`;
}

function describe(value: unknown): string {
  if (value instanceof Uint8Array) return `Uint8Array(${value.length})`;
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "symbol") return value.toString();
  if (typeof value === "object" && value !== null) {
    return Object.prototype.toString.call(value);
  }
  return JSON.stringify(value) ?? String(value);
}
