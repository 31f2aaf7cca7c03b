// The Deno KV Coordination: a fire-once key per (flow, tick) and one record per flow, under the
// checkpoint store's prefix. Values are UTF-8 JSON bytes (readable from Node's `@deno/kv`); every
// commit has at most one check; `database is locked` (another process holds SQLite's write lock)
// is retried with jittered exponential backoff.

import { delay } from "../async.ts";
import { safeInstanceOf, safeString } from "../describe.ts";
import { CanoError, CheckpointStoreError, ConfigurationError, messageOf } from "../errors.ts";
import { readOptions } from "../options.ts";
import {
  describeValue,
  isKeyPart,
  isKvShaped,
  isLocked,
  type KvKey,
  type KvLike,
} from "../recovery/kv_like.ts";
import {
  checkRecord,
  type Coordination,
  type FlowRecord,
  type FlowRecordRead,
} from "./coordination.ts";

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();
/** The longest wait between two lock retries, in milliseconds. */
const MAX_RETRY_DELAY = 1_000;
/** Deno KV's own expiry is lazy and coarse: keys are dropped some time after `expireIn`. */
const MIN_EXPIRE_IN = 1_000;

/** Options of {@link KvCoordination}. */
export interface KvCoordinationOptions {
  /**
   * The key prefix; keys live under `[...prefix, "sched"]`. Give it the prefix of the
   * `KvCheckpointStore` on the same database to keep everything of cano together.
   *
   * @default {["cano", "checkpoints"]}
   */
  prefix?: readonly (string | number | bigint | boolean | Uint8Array)[] | undefined;
  /** Retries of `database is locked` (as `KvCheckpointStoreOptions.retry`). */
  retry?: {
    /** Attempts in total, including the first. @default {8} */
    attempts?: number | undefined;
    /** The first retry's delay in ms. @default {10} */
    baseDelay?: number | undefined;
  } | undefined;
}

/** The atomic operation of a Deno KV handle, with `set`'s `expireIn` option. */
interface ExpiringAtomic {
  check(...checks: { key: KvKey; versionstamp: string | null }[]): unknown;
  set(key: KvKey, value: Uint8Array, options?: { expireIn?: number }): unknown;
  commit(): Promise<{ readonly ok: boolean; readonly versionstamp?: string }>;
}

/**
 * A {@link Coordination} on Deno KV, so that schedulers in several processes (or Deno Deploy
 * isolates) on one database fire each tick once and share each flow's state. Layout, under
 * `[...prefix, "sched"]`:
 *
 * - `["tick", flowId, tick]` → `{"owner","expiresAt"}`: the fire-once key, written with a
 *   create-if-absent check and `expireIn`; since Deno KV drops expired keys lazily, a key whose
 *   stored `expiresAt` has passed counts as absent;
 * - `["flow", flowId]` → the {@link FlowRecord}, written with a check of its versionstamp.
 *
 * `KvCheckpointStore` provides one (with its prefix and retry policy) as its `coordination`
 * property. The coordination does not own the KV handle.
 *
 * @example Claim a tick once
 * ```ts
 * import { KvCoordination } from "@cano/cano/scheduler";
 * import assert from "node:assert/strict";
 *
 * const kv = await Deno.openKv(":memory:");
 * try {
 *   const coordination = new KvCoordination(kv);
 *   const tick = Date.UTC(2026, 0, 1);
 *   assert.equal(await coordination.claimTick("sync", tick, "a", Date.now() + 60_000), true);
 *   assert.equal(await coordination.claimTick("sync", tick, "b", Date.now() + 60_000), false);
 * } finally {
 *   kv.close();
 * }
 * ```
 */
export class KvCoordination implements Coordination {
  readonly #kv: KvLike;
  readonly #prefix: KvKey;
  readonly #attempts: number;
  readonly #baseDelay: number;

  /**
   * Creates a coordination on a KV handle.
   *
   * @param kv The handle, e.g. `await Deno.openKv(path)`.
   * @param options The key prefix and the lock-retry policy.
   * @throws {ConfigurationError} When `kv` is not KV-shaped or an option is invalid.
   */
  constructor(kv: KvLike, options: KvCoordinationOptions = {}) {
    if (!isKvShaped(kv)) {
      throw new ConfigurationError(
        `KvCoordination needs a Deno KV handle (an object with get(), atomic() and list()), ` +
          `received ${safeString(kv)}`,
      );
    }
    const given = readOptions<KvCoordinationOptions>(options, "KvCoordination options", [
      "prefix",
      "retry",
    ]);
    const retry = readOptions<NonNullable<KvCoordinationOptions["retry"]>>(
      given.retry,
      "KvCoordination retry",
      ["attempts", "baseDelay"],
    );
    const prefix = given.prefix ?? ["cano", "checkpoints"];
    if (!Array.isArray(prefix) || !prefix.every((part) => isKeyPart(part))) {
      throw new ConfigurationError(
        `KvCoordination prefix must be an array of key parts, received ${describeValue(prefix)}`,
      );
    }
    const attempts = retry.attempts ?? 8;
    if (!Number.isSafeInteger(attempts) || attempts < 1) {
      throw new ConfigurationError(
        `KvCoordination retry.attempts must be an integer of at least 1, received ${
          safeString(attempts)
        }`,
      );
    }
    const baseDelay = retry.baseDelay ?? 10;
    if (typeof baseDelay !== "number" || !Number.isFinite(baseDelay) || baseDelay < 0) {
      throw new ConfigurationError(
        `KvCoordination retry.baseDelay must be a finite number of ms ≥ 0, received ${
          safeString(baseDelay)
        }`,
      );
    }
    this.#kv = kv;
    this.#prefix = Object.freeze([...prefix, "sched"]);
    this.#attempts = attempts;
    this.#baseDelay = baseDelay;
  }

  /**
   * Claims a tick: one commit that creates the key if absent; an expired claim is replaced.
   *
   * @param flowId The flow.
   * @param tick The tick, epoch ms.
   * @param owner The claiming instance.
   * @param expiresAt When the claim may be forgotten.
   * @returns `true` for the one caller that claimed it.
   * @throws {CheckpointStoreError} On a KV failure.
   */
  claimTick(flowId: string, tick: number, owner: string, expiresAt: number): Promise<boolean> {
    const key: KvKey = [...this.#prefix, "tick", flowId, tick];
    const value = ENCODER.encode(JSON.stringify({ owner, expiresAt }));
    return this.#retry("claim a tick", flowId, async () => {
      const expireIn = Math.max(MIN_EXPIRE_IN, Math.round(expiresAt - Date.now()));
      if (await this.#setIf(key, null, value, expireIn)) return true;
      const current = await this.#kv.get(key);
      if (current.versionstamp === null) {
        // Expired and dropped between the two calls: one more create-if-absent decides.
        return await this.#setIf(key, null, value, expireIn);
      }
      if (!(claimExpiry(current.value) <= Date.now())) return false;
      return await this.#setIf(key, current.versionstamp, value, expireIn);
    });
  }

  /**
   * Reads a flow's record.
   *
   * @param flowId The flow.
   * @returns The record and its versionstamp.
   * @throws {CheckpointStoreError} On a KV failure or a corrupt record.
   */
  readFlow(flowId: string): Promise<FlowRecordRead> {
    const key: KvKey = [...this.#prefix, "flow", flowId];
    return this.#retry("read the shared state", flowId, async () => {
      const entry = await this.#kv.get(key);
      if (entry.versionstamp === null) return { record: undefined, stamp: null };
      if (!(entry.value instanceof Uint8Array)) {
        throw new CheckpointStoreError(
          `Corrupt shared state of flow "${flowId}": expected JSON bytes, found ${
            describeValue(entry.value)
          }`,
        );
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(DECODER.decode(entry.value));
      } catch (error) {
        throw new CheckpointStoreError(
          `Corrupt shared state of flow "${flowId}": ${messageOf(error)}`,
          { cause: error },
        );
      }
      return { record: checkRecord(flowId, parsed), stamp: entry.versionstamp };
    });
  }

  /**
   * Writes a flow's record if its versionstamp is still `stamp`: one commit with one check.
   *
   * @param flowId The flow.
   * @param next The record.
   * @param stamp The versionstamp read (`null`: none).
   * @returns Whether it was written.
   * @throws {CheckpointStoreError} On a KV failure.
   */
  writeFlow(flowId: string, next: FlowRecord, stamp: string | null): Promise<boolean> {
    const key: KvKey = [...this.#prefix, "flow", flowId];
    return this.#retry("write the shared state", flowId, () => {
      const value = ENCODER.encode(JSON.stringify(next));
      return this.#setIf(key, stamp, value, undefined);
    });
  }

  async #setIf(
    key: KvKey,
    versionstamp: string | null,
    value: Uint8Array,
    expireIn: number | undefined,
  ): Promise<boolean> {
    const op = this.#kv.atomic() as unknown as ExpiringAtomic;
    op.check({ key, versionstamp });
    if (expireIn === undefined) op.set(key, value);
    else op.set(key, value, { expireIn });
    return (await op.commit()).ok;
  }

  /** Runs `operation`, retrying `database is locked`; other failures become typed errors. */
  async #retry<T>(what: string, flowId: string, operation: () => Promise<T>): Promise<T> {
    for (let attempt = 1;; attempt++) {
      try {
        return await operation();
      } catch (error) {
        if (safeInstanceOf(error, CanoError)) throw error;
        if (!isLocked(error)) {
          throw new CheckpointStoreError(
            `Coordination store failed to ${what} of flow "${flowId}" in Deno KV: ${
              messageOf(error)
            }`,
            { cause: error },
          );
        }
        if (attempt >= this.#attempts) {
          throw new CheckpointStoreError(
            `Coordination store failed to ${what} of flow "${flowId}": database is locked ` +
              `after ${attempt} attempts`,
            { cause: error },
          );
        }
        const backoff = Math.min(this.#baseDelay * 2 ** (attempt - 1), MAX_RETRY_DELAY);
        await delay(backoff * (0.5 + Math.random()));
      }
    }
  }
}

/** The `expiresAt` of a stored claim; `NaN` (never expired) when unreadable. */
function claimExpiry(value: unknown): number {
  if (!(value instanceof Uint8Array)) return NaN;
  try {
    const parsed = JSON.parse(DECODER.decode(value)) as { expiresAt?: unknown };
    return typeof parsed?.expiresAt === "number" ? parsed.expiresAt : NaN;
  } catch {
    return NaN;
  }
}
