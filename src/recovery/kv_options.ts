// The options of the Deno KV checkpoint store, and the one place they are checked.

import { safeString } from "../describe.ts";
import { ConfigurationError } from "../errors.ts";
import { readOptions } from "../options.ts";
import type { Codec } from "./codec.ts";
import { describeValue, isKeyPart, type KvLike } from "./kv_like.ts";
import { type KeyPart, limitsFor, MAX_KEY_BYTES, prefixBytes } from "./limits.ts";
import { checkClock, checkCodec, checkLeaseMs } from "./run_record.ts";

/** Options of {@link KvCheckpointStore}. */
export interface KvCheckpointStoreOptions {
  /**
   * The key prefix under which everything is stored (a `Deno.KvKey`); stores with different
   * prefixes share a database without seeing each other.
   *
   * @default {["cano", "checkpoints"]}
   */
  prefix?: readonly (string | number | bigint | boolean | Uint8Array)[] | undefined;
  /**
   * How long a claim lasts without renewal, in milliseconds (10 ms to one day). The engine renews
   * every `leaseMs / 3` while it works on a run; a process that dies holds its runs until then.
   *
   * @default {30_000}
   */
  leaseMs?: number | undefined;
  /**
   * How run data, outputs and cursors are encoded. The default refuses values JSON would change
   * (a `Map`, a `Date`, `undefined`, `NaN`, …), naming their path; `typedJsonCodec` keeps them.
   * Keep one codec for the lifetime of a database.
   *
   * @default {jsonCodec}
   */
  codec?: Codec | undefined;
  /**
   * The clock for lease times (epoch milliseconds). Processes sharing a database compare lease
   * times, so their clocks must agree to well within `leaseMs`.
   *
   * @default {Date.now}
   */
  now?: (() => number) | undefined;
  /**
   * Retries of the transient `database is locked` error that Deno KV throws when several processes
   * write one database file at once. Each retry waits `baseDelay × 2^(n-1)` milliseconds (capped at
   * one second) with ±50 % jitter. Other errors are never retried.
   */
  retry?: {
    /**
     * Attempts in total, including the first (an integer ≥ 1).
     *
     * @default {8}
     */
    attempts?: number | undefined;
    /**
     * The first retry's delay in milliseconds (≥ 0).
     *
     * @default {10}
     */
    baseDelay?: number | undefined;
  } | undefined;
  /**
   * Aborts the waits between lock retries: a pending retry rejects with `signal.reason` as soon as
   * the signal aborts. Operations that do not hit the lock are unaffected.
   */
  signal?: AbortSignal | undefined;
}

/** {@link KvCheckpointStoreOptions}, checked, with every default applied. */
export interface CheckedKvOptions {
  readonly prefix: readonly KeyPart[];
  readonly prefixBytes: number;
  readonly leaseMs: number;
  readonly codec: Codec;
  readonly now: () => number;
  readonly attempts: number;
  readonly baseDelay: number;
  readonly signal: AbortSignal | undefined;
}

/**
 * Checks a KV handle and the store's options, naming the first bad value.
 *
 * @param kv The handle.
 * @param options The options.
 * @returns The options with their defaults.
 * @throws {ConfigurationError} When `kv` is not KV-shaped, or an option is invalid.
 */
export function checkKvOptions(kv: KvLike, given: KvCheckpointStoreOptions): CheckedKvOptions {
  if (!isKvShaped(kv)) {
    throw new ConfigurationError(
      "KvCheckpointStore needs a Deno KV handle (an object with get(), atomic() and list())",
    );
  }
  const options = readOptions<KvCheckpointStoreOptions>(given, "KvCheckpointStore options", [
    "prefix",
    "leaseMs",
    "codec",
    "now",
    "retry",
    "signal",
  ]);
  const retry = readOptions<NonNullable<KvCheckpointStoreOptions["retry"]>>(
    options.retry,
    "KvCheckpointStore retry",
    ["attempts", "baseDelay"],
  );
  const prefix = options.prefix ?? ["cano", "checkpoints"];
  if (!Array.isArray(prefix)) {
    throw new ConfigurationError(
      `KvCheckpointStore prefix must be an array of key parts, received ${safeString(prefix)}`,
    );
  }
  for (const part of prefix as readonly unknown[]) {
    if (!isKeyPart(part)) {
      throw new ConfigurationError(
        `KvCheckpointStore prefix parts must be strings, numbers, bigints, booleans or ` +
          `Uint8Arrays, received ${describeValue(part)}`,
      );
    }
    if (typeof part === "string" && !part.isWellFormed()) {
      throw new ConfigurationError(
        "KvCheckpointStore prefix strings must be well-formed (no lone surrogates)",
      );
    }
  }
  const frozen = Object.freeze(
    prefix.map((part) => part instanceof Uint8Array ? part.slice() : part),
  );
  const bytes = prefixBytes(frozen);
  // The longest key holds a one-character id: it must fit, or no id can be stored at all.
  try {
    limitsFor("x", bytes);
  } catch {
    throw new ConfigurationError(
      `KvCheckpointStore prefix is too long: it encodes to ${bytes} bytes, leaving ` +
        `no room for workflow ids under Deno KV's ${MAX_KEY_BYTES}-byte key limit`,
    );
  }
  const attempts = retry.attempts ?? 8;
  if (!Number.isSafeInteger(attempts) || attempts < 1) {
    throw new ConfigurationError(
      `KvCheckpointStore retry.attempts must be an integer of at least 1, received ${attempts}`,
    );
  }
  const baseDelay = retry.baseDelay ?? 10;
  if (!Number.isFinite(baseDelay) || baseDelay < 0) {
    throw new ConfigurationError(
      `KvCheckpointStore retry.baseDelay must be a finite number of milliseconds ≥ 0, received ${baseDelay}`,
    );
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new ConfigurationError("KvCheckpointStore signal must be an AbortSignal");
  }
  return {
    prefix: frozen,
    prefixBytes: bytes,
    leaseMs: checkLeaseMs("KvCheckpointStore", options.leaseMs),
    codec: checkCodec(options.codec),
    now: checkClock("KvCheckpointStore", options.now),
    attempts,
    baseDelay,
    signal: options.signal,
  };
}

function isKvShaped(kv: unknown): boolean {
  try {
    const candidate = kv as Partial<KvLike> | null;
    return typeof candidate === "object" && candidate !== null &&
      typeof candidate.atomic === "function" && typeof candidate.list === "function" &&
      typeof candidate.get === "function";
  } catch {
    return false; // a handle whose members cannot even be read is not one
  }
}
