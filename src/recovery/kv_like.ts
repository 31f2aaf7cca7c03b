// The slice of a Deno KV handle the KV checkpoint store uses, so that `Deno.Kv`, Node's
// `@deno/kv` and test wrappers (counting, fault injection) all fit.

import { safeInstanceOf, safeString } from "../describe.ts";

/** A key the store reads or writes (a `Deno.KvKey` without symbols). */
export type KvKey = readonly (string | number | bigint | boolean | Uint8Array)[];

/**
 * The part of a Deno KV handle that `KvCheckpointStore` uses: `get(key)`, `atomic()` (with
 * `check`, `set`, `delete`, `commit`) and `list(selector, options)`. A `Deno.Kv` from
 * `Deno.openKv()` satisfies it, and so does the `Kv` of Node's `@deno/kv` package; a wrapper (for
 * instrumentation or fault injection) only needs these members.
 *
 * The store never chains calls on the atomic operation, so the return values of `check`, `set` and
 * `delete` are not used; it reads `versionstamp` from a successful commit (the fence of the run
 * record it just wrote).
 *
 * @example Count the commits a checkpointed append makes
 * ```ts
 * import { KvCheckpointStore, type KvLike } from "@cano/cano/kv";
 * import assert from "node:assert/strict";
 *
 * const kv = await Deno.openKv(":memory:");
 * try {
 *   let commits = 0;
 *   let reads = 0;
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
 *     get: (key) => {
 *       reads += 1;
 *       return kv.get(key);
 *     },
 *     list: (selector, options) => kv.list(selector, options),
 *   };
 *   const store = new KvCheckpointStore(counting);
 *   const { lease } = await store.claim("run-1", { mode: "start", owner: "me", workflow: "", version: 0 });
 *   [commits, reads] = [0, 0];
 *   await store.append("run-1", { sequence: 0, state: "start", taskId: "start", kind: "state_entry", workflowVersion: 0 }, lease);
 *   assert.deepEqual([commits, reads], [1, 0], "one commit, no read per transition");
 * } finally {
 *   kv.close();
 * }
 * ```
 */
export interface KvLike {
  /**
   * Reads one key.
   *
   * @param key The key.
   * @returns Its value and versionstamp (`null` when absent).
   */
  get(key: KvKey): Promise<{ readonly value: unknown; readonly versionstamp: string | null }>;
  /**
   * Starts an atomic operation.
   *
   * @returns The operation: checks and mutations are applied together by `commit`, which resolves
   * `{ ok: false }` when a check fails and `{ ok: true, versionstamp }` when it lands.
   */
  atomic(): {
    check(...checks: { key: KvKey; versionstamp: string | null }[]): unknown;
    set(key: KvKey, value: Uint8Array): unknown;
    delete(key: KvKey): unknown;
    commit(): Promise<{ readonly ok: boolean; readonly versionstamp?: string }>;
  };
  /**
   * Lists the entries under a key prefix, in key order.
   *
   * @param selector The prefix, and optionally the key to start at (inclusive).
   * @param options At most `limit` entries; `reverse` for descending order.
   * @returns The entries.
   */
  list(
    selector: { prefix: KvKey; start?: KvKey },
    options?: { limit?: number; reverse?: boolean },
  ): AsyncIterable<{ readonly key: readonly unknown[]; readonly value: unknown }>;
}

/**
 * Whether `kv` has the members a store needs of a KV handle (`get`, `list`, `atomic`).
 *
 * @param kv The value passed as a handle.
 * @returns `false` too for a value whose members cannot even be read.
 */
export function isKvShaped(kv: unknown): boolean {
  try {
    const candidate = kv as Partial<KvLike> | null;
    return typeof candidate === "object" && candidate !== null &&
      typeof candidate.atomic === "function" && typeof candidate.list === "function" &&
      typeof candidate.get === "function";
  } catch {
    return false;
  }
}

/** Whether `error` is the transient lock error of a KV file shared by processes. */
export function isLocked(error: unknown): boolean {
  try {
    return error instanceof Error && error.message.includes("database is locked");
  } catch {
    return false;
  }
}

/** Whether `part` can be a key part the store writes. */
export function isKeyPart(part: unknown): boolean {
  return typeof part === "string" || typeof part === "bigint" || typeof part === "boolean" ||
    part instanceof Uint8Array || (typeof part === "number" && !Number.isNaN(part));
}

/** A value for an error message. */
export function describeValue(value: unknown): string {
  if (safeInstanceOf(value, Uint8Array)) return `Uint8Array(${value.length})`;
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "object" && value !== null) {
    try {
      return Object.prototype.toString.call(value);
    } catch {
      return safeString(value);
    }
  }
  return typeof value === "string" ? JSON.stringify(value) : safeString(value);
}
