// Retrying the one transient error of a KV file shared by processes: a commit that meets another
// process's write lock throws `database is locked` and did not land. Everything else is final.
//
// SQLite itself waits for a plain write lock (Deno KV opens the file with a busy timeout); what
// reaches the caller is the commit whose checks read a snapshot that another process's commit made
// stale before this one got the lock — it fails at once, and retrying it is the only way on. How
// long that takes depends on how many processes write and how (un)fairly SQLite hands the lock
// out, not on a number of attempts: measured on 2 cores (bench/contention_compare.ts), one
// operation needed up to 100 retries, and 200 runs claimed at once by 8 processes kept one waiting
// 2.8 s. So the budget is time, not attempts.

import { delay } from "../async.ts";
import { safeInstanceOf } from "../describe.ts";
import { CanoError, CheckpointStoreError, messageOf } from "../errors.ts";
import { isLocked } from "./kv_like.ts";
import { shortId } from "./run_errors.ts";

/** The default time budget of one operation's lock retries, in milliseconds. */
export const DEFAULT_LOCK_BUDGET_MS = 30_000;
/** The default first-retry delay bound, in milliseconds. */
export const DEFAULT_LOCK_BASE_DELAY = 1;
/** The default longest wait between two lock retries, in milliseconds. */
export const DEFAULT_LOCK_MAX_DELAY = 20;
/** The default passes of a compare-and-set re-read loop (when `retry.attempts` is not set). */
export const DEFAULT_CAS_PASSES = 8;

/** A checked lock-retry policy (see `KvCheckpointStoreOptions.retry`). */
export interface LockRetryPolicy {
  /**
   * How long one operation may go on retrying after its first `database is locked`, in
   * milliseconds (`Infinity`: until it succeeds, the signal aborts, or `attempts` runs out).
   */
  readonly budgetMs: number;
  /** The first retry's delay bound, in milliseconds (0: retry at once, every time). */
  readonly baseDelay: number;
  /** The longest wait between two retries, in milliseconds (≥ `baseDelay`). */
  readonly maxDelay: number;
  /** A cap on attempts in total, including the first; `undefined`: the budget alone decides. */
  readonly attempts: number | undefined;
  /** Aborts a pending retry wait, rejecting with `signal.reason`. */
  readonly signal: AbortSignal | undefined;
}

/** What the lock retries cost, as counted by {@link LockRetry.stats} or {@link lockRetryStats}. */
export interface LockStats {
  /** Operations that met `database is locked` at least once. */
  readonly contended: number;
  /** Retries in total (attempts after the first). */
  readonly retries: number;
  /** The most retries a single operation needed, whether it then succeeded or not. */
  readonly worstRetries: number;
  /** The longest a single operation spent retrying (from its first lock error), in ms. */
  readonly worstRetryMs: number;
  /** Operations that gave up with `database is locked` (budget or attempts used up). */
  readonly exhausted: number;
}

/** Mutable {@link LockStats}. */
interface Counters {
  contended: number;
  retries: number;
  worstRetries: number;
  worstRetryMs: number;
  exhausted: number;
}

function zero(): Counters {
  return { contended: 0, retries: 0, worstRetries: 0, worstRetryMs: 0, exhausted: 0 };
}

/** The counters of every LockRetry of this process (every KvCheckpointStore). */
let processCounters: Counters = zero();

/**
 * The lock-retry statistics of every `KvCheckpointStore` in this process since it started (or
 * since {@link resetLockRetryStats}): a diagnostic, e.g. for a benchmark of several processes.
 *
 * @returns A snapshot of the counters.
 */
export function lockRetryStats(): LockStats {
  return { ...processCounters };
}

/** Zeroes the counters {@link lockRetryStats} reads. */
export function resetLockRetryStats(): void {
  processCounters = zero();
}

function note(counters: Counters, retries: number, ms: number, exhausted: boolean): void {
  counters.contended += 1;
  counters.retries += retries;
  if (retries > counters.worstRetries) counters.worstRetries = retries;
  if (ms > counters.worstRetryMs) counters.worstRetryMs = ms;
  if (exhausted) counters.exhausted += 1;
}

/**
 * A time-budgeted, jittered, signal-aware retry of `database is locked`: decorrelated jitter
 * (each wait drawn uniformly between `baseDelay` and three times the previous one, capped at
 * `maxDelay`), until `budgetMs` has passed since the operation's first lock error (or the
 * operation's own deadline, if sooner), or `attempts` (if set) have been made.
 */
export class LockRetry {
  /**
   * The passes a compare-and-set re-read loop of the store (claim, an append without a lease)
   * makes before it gives up on a record that keeps changing: `retry.attempts`, else
   * {@link DEFAULT_CAS_PASSES}. Unrelated to the lock, which is retried for time.
   */
  readonly attempts: number;
  readonly #policy: LockRetryPolicy;
  readonly #counters: Counters = zero();

  /**
   * Creates the retry.
   *
   * @param policy The checked policy (`checkKvOptions(…).retry`).
   */
  constructor(policy: LockRetryPolicy);
  /**
   * Transitional form: a cap on attempts (`undefined`: none), the first delay bound and the
   * signal; the budget is {@link DEFAULT_LOCK_BUDGET_MS} and the longest wait
   * {@link DEFAULT_LOCK_MAX_DELAY} (or `baseDelay`, if larger).
   *
   * @param attempts The cap on attempts in total, including the first.
   * @param baseDelay The first retry's delay bound, in milliseconds.
   * @param signal Aborts a pending retry wait.
   */
  constructor(
    attempts: number | undefined,
    baseDelay: number,
    signal: AbortSignal | undefined,
  );
  constructor(
    first: LockRetryPolicy | number | undefined,
    baseDelay?: number,
    signal?: AbortSignal,
  ) {
    this.#policy = typeof first === "object" ? first : {
      budgetMs: DEFAULT_LOCK_BUDGET_MS,
      baseDelay: baseDelay ?? DEFAULT_LOCK_BASE_DELAY,
      maxDelay: Math.max(DEFAULT_LOCK_MAX_DELAY, baseDelay ?? 0),
      attempts: first,
      signal,
    };
    this.attempts = this.#policy.attempts ?? DEFAULT_CAS_PASSES;
  }

  /** The policy in force. */
  get policy(): LockRetryPolicy {
    return this.#policy;
  }

  /** What this retry's operations cost in lock retries so far. */
  get stats(): LockStats {
    return { ...this.#counters };
  }

  /**
   * Runs `operation`, retrying `database is locked` (see the class); other errors are wrapped in
   * a `CheckpointStoreError` naming `what` and the run (cano errors pass through as they are).
   * When the signal aborts during a wait, the wait rejects at once with `signal.reason`.
   *
   * @param what The operation, for messages (e.g. "Append checkpoint row 3").
   * @param id The run id, for messages.
   * @param operation One attempt.
   * @param deadline When to stop retrying at the latest (epoch milliseconds, `Date.now()`'s
   * clock), on top of the budget: e.g. a renewal's lease end, past which retrying is pointless.
   * @returns What the first successful attempt returned.
   * @throws {CheckpointStoreError} `database is locked` after the budget, the deadline or the
   * attempts, naming `what`, the attempts and the elapsed time; or another KV failure.
   */
  run<T>(what: string, id: string, operation: () => Promise<T>, deadline?: number): Promise<T> {
    // The first attempt is a plain call: an append costs no extra async frame unless it fails.
    return operation().catch((error: unknown) => this.#retry(what, id, operation, error, deadline));
  }

  async #retry<T>(
    what: string,
    id: string,
    operation: () => Promise<T>,
    first: unknown,
    deadline: number | undefined,
  ): Promise<T> {
    if (safeInstanceOf(first, CanoError)) throw first;
    if (!isLocked(first)) throw failed(what, id, first);
    const { budgetMs, baseDelay, maxDelay, attempts, signal } = this.#policy;
    const started = Date.now();
    // The time this operation may go on retrying: the budget, or less when the deadline is sooner.
    const limit = deadline === undefined || Number.isNaN(deadline)
      ? budgetMs
      : Math.min(budgetMs, deadline - started);
    let error = first;
    let attempt = 1;
    let wait = baseDelay;
    let exhausted = false;
    try {
      for (;;) {
        const elapsed = Date.now() - started;
        const capped = attempts !== undefined && attempt >= attempts;
        if (capped || elapsed >= limit) {
          exhausted = true;
          const why = capped
            ? `retry.attempts is ${attempts}`
            : limit < budgetMs
            ? "its deadline passed"
            : `retry.budgetMs is ${budgetMs}`;
          throw new CheckpointStoreError(
            `${what} for workflow "${shortId(id)}" failed: database is locked after ${attempt} ` +
              `attempt${attempt === 1 ? "" : "s"} in ${elapsed} ms (${why})`,
            { cause: error },
          );
        }
        // Decorrelated jitter: spread the processes that met the lock at the same moment apart.
        wait = Math.min(maxDelay, baseDelay + Math.random() * (wait * 3 - baseDelay));
        await delay(Math.min(wait, limit - elapsed), signal);
        attempt++;
        try {
          return await operation();
        } catch (next) {
          if (safeInstanceOf(next, CanoError)) throw next;
          if (!isLocked(next)) throw failed(what, id, next);
          error = next;
        }
      }
    } finally {
      const ms = Date.now() - started;
      note(this.#counters, attempt - 1, ms, exhausted);
      note(processCounters, attempt - 1, ms, exhausted);
    }
  }
}

function failed(what: string, id: string, error: unknown): CheckpointStoreError {
  return new CheckpointStoreError(
    `${what} for workflow "${shortId(id)}" failed in Deno KV: ${messageOf(error)}`,
    { cause: error },
  );
}
