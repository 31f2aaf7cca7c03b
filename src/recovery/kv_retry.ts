// Retrying the one transient error of a KV file shared by processes: a commit that meets another
// process's write lock throws `database is locked` and did not land. Everything else is final.

import { delay } from "../async.ts";
import { safeInstanceOf } from "../describe.ts";
import { CanoError, CheckpointStoreError, messageOf } from "../errors.ts";
import { isLocked } from "./kv_like.ts";
import { shortId } from "./run_errors.ts";

/** The longest wait between two lock retries, in milliseconds. */
const MAX_RETRY_DELAY = 1_000;

/** A bounded, jittered, signal-aware retry of `database is locked`. */
export class LockRetry {
  /** Attempts in total, including the first. */
  readonly attempts: number;
  readonly #baseDelay: number;
  readonly #signal: AbortSignal | undefined;

  constructor(attempts: number, baseDelay: number, signal: AbortSignal | undefined) {
    this.attempts = attempts;
    this.#baseDelay = baseDelay;
    this.#signal = signal;
  }

  /**
   * Runs `operation`, retrying `database is locked` with exponential backoff (±50 % jitter, at
   * most a second); other errors are wrapped in a `CheckpointStoreError` naming `what` and the
   * run (cano errors pass through as they are).
   */
  run<T>(what: string, id: string, operation: () => Promise<T>): Promise<T> {
    // The first attempt is a plain call: an append costs no extra async frame unless it fails.
    return operation().catch((error: unknown) => this.#retry(what, id, operation, error));
  }

  async #retry<T>(
    what: string,
    id: string,
    operation: () => Promise<T>,
    first: unknown,
  ): Promise<T> {
    let error = first;
    for (let attempt = 1;; attempt++) {
      this.#giveUpUnlessLocked(what, id, error, attempt);
      const backoff = Math.min(this.#baseDelay * 2 ** (attempt - 1), MAX_RETRY_DELAY);
      await delay(backoff * (0.5 + Math.random()), this.#signal);
      try {
        return await operation();
      } catch (next) {
        error = next;
      }
    }
  }

  /** Throws the operation's final error, unless it is the lock and attempts are left. */
  #giveUpUnlessLocked(what: string, id: string, error: unknown, attempt: number): void {
    if (safeInstanceOf(error, CanoError)) throw error;
    if (!isLocked(error)) {
      throw new CheckpointStoreError(
        `${what} for workflow "${shortId(id)}" failed in Deno KV: ${messageOf(error)}`,
        { cause: error },
      );
    }
    if (attempt >= this.attempts) {
      throw new CheckpointStoreError(
        `${what} for workflow "${shortId(id)}" failed: database is locked after ${attempt} ` +
          "attempts",
        { cause: error },
      );
    }
  }
}
