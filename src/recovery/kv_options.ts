// The options of the Deno KV checkpoint store, and the one place they are checked.

import { safeString } from "../describe.ts";
import { ConfigurationError } from "../errors.ts";
import { readOptions } from "../options.ts";
import type { Codec } from "./codec.ts";
import { describeValue, isKeyPart, isKvShaped, type KvLike } from "./kv_like.ts";
import { type KeyPart, limitsFor, MAX_KEY_BYTES, prefixBytes } from "./limits.ts";
import {
  DEFAULT_LOCK_BASE_DELAY,
  DEFAULT_LOCK_BUDGET_MS,
  DEFAULT_LOCK_MAX_DELAY,
  type LockRetryPolicy,
} from "./kv_retry.ts";
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
   * write one database file at once (a commit whose checks read a snapshot another process's
   * commit made stale). The budget is time, not attempts: how many retries an operation needs
   * depends on how many processes write and how SQLite hands the lock out. Each wait is drawn
   * between `baseDelay` and three times the previous wait (decorrelated jitter), capped at
   * `maxDelay`; the operation gives up with a `CheckpointStoreError` naming it and the elapsed time
   * once `budgetMs` has passed since its first lock error (or after `attempts`, if set). Other
   * errors are never retried.
   */
  retry?: {
    /**
     * How long one operation may go on retrying after its first `database is locked`, in
     * milliseconds (≥ 0; `Infinity` retries until the signal aborts). Generous on purpose: with 8
     * processes claiming 200 runs at once on 2 cores, one operation waited 2.8 s, and giving up
     * fails the run. A lease renewal needs no shorter budget here: retrying it past the end of its
     * lease is pointless (another process may claim the run by then), so the store stops its
     * retries at the lease's end whatever the budget.
     *
     * @default {30_000}
     */
    budgetMs?: number | undefined;
    /**
     * A cap on attempts in total, including the first (an integer ≥ 1), on top of the budget. It
     * also bounds the store's compare-and-set re-reads (a record another process keeps changing
     * during a claim), which default to 8 passes.
     *
     * @default {undefined}
     */
    attempts?: number | undefined;
    /**
     * The first retry's delay bound in milliseconds (≥ 0; 0 retries at once, every time).
     *
     * @default {1}
     */
    baseDelay?: number | undefined;
    /**
     * The longest wait between two retries, in milliseconds (≥ `baseDelay`). Short waits keep a
     * retrying process in the race for the lock against processes that commit back to back: with
     * 4–8 processes on one file, a 20 ms cap kept the longest wait of one operation near 0.5 s, a
     * 100 ms cap let it reach 1.5 s, and a 1 s cap let a process starve for seconds.
     *
     * @default {20}
     */
    maxDelay?: number | undefined;
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
  /** The lock-retry policy, every default applied (for `new LockRetry(retry)`). */
  readonly retry: LockRetryPolicy;
  /** `retry.attempts`: a cap on attempts, `undefined` for none (transitional, see `retry`). */
  readonly attempts: number | undefined;
  /** `retry.baseDelay` (transitional, see `retry`). */
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
    ["budgetMs", "attempts", "baseDelay", "maxDelay"],
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
  const leaseMs = checkLeaseMs("KvCheckpointStore", options.leaseMs);
  const checkedRetry = checkRetry(retry);
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new ConfigurationError(
      `KvCheckpointStore option signal must be an AbortSignal, received ${
        safeString(options.signal)
      }`,
    );
  }
  return {
    prefix: frozen,
    prefixBytes: bytes,
    leaseMs,
    codec: checkCodec(options.codec),
    now: checkClock("KvCheckpointStore", options.now),
    retry: { ...checkedRetry, signal: options.signal },
    attempts: checkedRetry.attempts,
    baseDelay: checkedRetry.baseDelay,
    signal: options.signal,
  };
}

/** Checks `retry` (naming the bad value) and applies its defaults; the signal is added later. */
function checkRetry(
  retry: Partial<NonNullable<KvCheckpointStoreOptions["retry"]>>,
): Omit<LockRetryPolicy, "signal"> {
  const budgetMs = retry.budgetMs ?? DEFAULT_LOCK_BUDGET_MS;
  if (typeof budgetMs !== "number" || Number.isNaN(budgetMs) || budgetMs < 0) {
    throw new ConfigurationError(
      "KvCheckpointStore retry.budgetMs must be a number of milliseconds ≥ 0 (or Infinity), " +
        `received ${safeString(budgetMs)}`,
    );
  }
  const attempts = retry.attempts;
  if (attempts !== undefined && (!Number.isSafeInteger(attempts) || attempts < 1)) {
    throw new ConfigurationError(
      "KvCheckpointStore retry.attempts must be an integer of at least 1, received " +
        safeString(attempts),
    );
  }
  const baseDelay = retry.baseDelay ?? DEFAULT_LOCK_BASE_DELAY;
  if (typeof baseDelay !== "number" || !Number.isFinite(baseDelay) || baseDelay < 0) {
    throw new ConfigurationError(
      "KvCheckpointStore retry.baseDelay must be a finite number of milliseconds ≥ 0, " +
        `received ${safeString(baseDelay)}`,
    );
  }
  const maxDelay = retry.maxDelay ?? Math.max(DEFAULT_LOCK_MAX_DELAY, baseDelay);
  if (typeof maxDelay !== "number" || !Number.isFinite(maxDelay) || maxDelay < baseDelay) {
    throw new ConfigurationError(
      `KvCheckpointStore retry.maxDelay must be a finite number of milliseconds ≥ baseDelay ` +
        `(${baseDelay}), received ${safeString(maxDelay)}`,
    );
  }
  return { budgetMs, attempts, baseDelay, maxDelay };
}
