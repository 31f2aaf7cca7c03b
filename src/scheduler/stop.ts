// The stop side of the running scheduler: its options, checked, what a stop waits for (the runs in
// flight and the coordination store's calls), and the teardown of every workflow's resources once
// the last run has ended.

import { safeString } from "../describe.ts";
import { CanoError, ConfigurationError } from "../errors.ts";
import type { Resources } from "../resources.ts";

/** Options of {@link RunningScheduler.stop}. */
export interface StopOptions {
  /**
   * How long `stop()` waits for the runs in flight to end after they were aborted, in ms, before
   * it rejects. Default 30 000; `0` gives them only until the next turn of the event loop;
   * `Infinity` waits for ever. It bounds the wait, not the teardown: resources are torn down only
   * once every run has ended, however long that takes.
   */
  timeout?: number;
}

/** The longest `setTimeout` delay; a longer stop timeout would fire at once. */
const MAX_TIMEOUT = 2_147_483_647;

/** Checks the stop timeout (default 30 000 ms). */
export function checkTimeout(options: StopOptions): number {
  if (typeof options !== "object" || options === null) {
    throw new ConfigurationError(`Stop options must be an object, received ${safeString(options)}`);
  }
  const timeout = options.timeout ?? 30_000;
  if (
    typeof timeout !== "number" || Number.isNaN(timeout) || timeout < 0 ||
    (timeout > MAX_TIMEOUT && timeout !== Infinity)
  ) {
    throw new ConfigurationError(
      `Stop timeout must be a number of ms between 0 and ${MAX_TIMEOUT}, or Infinity, received ${
        safeString(timeout)
      }`,
    );
  }
  return timeout;
}

/** Throws a stop's error, if any. */
export function raise(error: CanoError | undefined): void {
  if (error !== undefined) throw error;
}

/** Tears every workflow's resources down, in reverse registration order. Never rejects. */
export async function teardown(all: readonly Resources[]): Promise<void> {
  for (const resources of [...all].reverse()) {
    try {
      await resources.teardownAll(); // reports its own failures and carries on
    } catch (error) {
      console.error(`cano: tearing the scheduler's resources down failed: ${safeString(error)}`);
    }
  }
}

/**
 * What a stop waits for: the runs in flight on this instance, and the work pending against the
 * coordination store (claims, reads, writes). Runs are counted, not collected: a set that every
 * dispatch adds to and removes from churns its hash table (a few % of the CPU at 100 000
 * dispatches a second); the rare callers that need the runs themselves (a stop) get them from
 * `all`, filtered by each run's own `inFlight` flag.
 */
export class InFlight<T extends { readonly id: string; readonly inFlight: boolean }> {
  readonly #all: () => readonly T[];
  #runs = 0;
  #pending = 0;
  /** While a stop waits: resolves the promise of {@link settled}. */
  #drained: (() => void) | undefined;

  /** @param all Every run that may be in flight (those whose `inFlight` is set are). */
  constructor(all: () => readonly T[]) {
    this.#all = all;
  }

  /** How many runs are in flight. */
  get size(): number {
    return this.#runs;
  }

  /** Whether neither a run nor store work is in flight. */
  get idle(): boolean {
    return this.#runs === 0 && this.#pending === 0;
  }

  /** The runs in flight, as of now, in the order `all` gives them. */
  runs(): T[] {
    return this.#all().filter((run) => run.inFlight);
  }

  /** Counts a run that has just been launched (its `inFlight` is set). */
  add(): void {
    this.#runs++;
  }

  /** Forgets an ended run; the stop hears of it at the next {@link check}. */
  delete(): void {
    this.#runs--;
  }

  /** Counts `work` in flight until it settles. */
  track<W>(work: Promise<W>): Promise<W> {
    this.#pending++;
    const done = (): void => {
      this.#pending--;
      this.check();
    };
    work.then(done, done);
    return work;
  }

  /** Ends the wait of a stop once nothing is in flight. */
  check(): void {
    if (this.idle) this.#drained?.();
  }

  /** Resolves once nothing is in flight (at once when nothing is); only while stopping. */
  settled(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => {
      this.#drained = () => {
        this.#drained = undefined;
        resolve();
      };
    });
  }

  /** Resolves `true` when `settled` settles within `timeout` ms, else `false` at the timeout. */
  within(settled: Promise<void>, timeout: number): Promise<boolean> {
    if (this.idle) return Promise.resolve(true);
    if (timeout === Infinity) return settled.then(() => true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeout);
      settled.then(() => {
        clearTimeout(timer); // a no-op once it fired: resolve(false) already won
        resolve(true);
      });
    });
  }

  /** The error of a stop that timed out, naming the flows still in flight. */
  timeoutError(timeout: number): CanoError {
    const ids = this.runs().map((run) => `"${run.id}"`).join(", ") || "coordination store calls";
    return new CanoError(
      `Timeout waiting for workflows to complete: ${ids} still running after ${timeout} ms`,
      { category: "workflow" },
    );
  }
}
