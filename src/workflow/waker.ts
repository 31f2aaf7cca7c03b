// Wakes the parked runs this process is waiting for (an `orchestrate` call whose run parked in a
// wait state), without a recovery sweep: one timer per store, once a second, reads the runs that
// are due (`listExpired`: an event arrived, the deadline passed, a cancel was requested) and
// resumes those it waits for. The cost follows the runs that are due, not the runs that wait: a
// parked run holds no timer, no lease and no heartbeat of its own.

import { safeInstanceOf, safeString } from "../describe.ts";
import { ConfigurationError } from "../errors.ts";
import type { RunStore } from "../recovery/checkpoint.ts";
import { RunOwnedError } from "../recovery/run_errors.ts";
import type { WorkflowResult } from "./engine.ts";
import { RunContinuedElsewhereError, type WaitingResult } from "./parked.ts";

/** How often the due runs are read, in milliseconds. */
export const WAKE_POLL_MS = 1_000;
/** Runs per listing page, and pages read per tick at most. */
const PAGE = 1_000;
const MAX_PAGES = 10;
/** Waiters whose record is read per tick, to notice a run another process continued. */
const CHECKS_PER_TICK = 10;

type Outcome = WorkflowResult<string, unknown> | WaitingResult<string, unknown>;

interface Waiter {
  readonly resume: () => Promise<Outcome>;
  readonly resolve: (result: WorkflowResult<string, unknown>) => void;
  readonly reject: (error: unknown) => void;
  /** A resume is under way. */
  busy: boolean;
}

const wakers = new WeakMap<RunStore, Waker>();

/**
 * Waits until the parked run `id` ends, resuming it whenever it is due.
 *
 * @param store The store it is parked in.
 * @param id The run id.
 * @param resume Resumes the run once (claim, engine): its result, or a parked result again.
 * @param signal Cancels the run: a durable cancel request, then the rollback is waited for.
 * @returns The run's result once it reached an exit state.
 */
export function waitForRun(
  store: RunStore,
  id: string,
  resume: () => Promise<Outcome>,
  signal?: AbortSignal,
): Promise<WorkflowResult<string, unknown>> {
  let waker = wakers.get(store);
  if (waker === undefined) {
    waker = new Waker(store);
    wakers.set(store, waker);
  }
  return waker.wait(id, resume, signal);
}

class Waker {
  readonly #store: RunStore;
  readonly #waiters = new Map<string, Waiter>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #ticking = false;
  /** Where the next round of record checks starts. */
  #checked = 0;

  constructor(store: RunStore) {
    this.#store = store;
  }

  wait(
    id: string,
    resume: () => Promise<Outcome>,
    signal: AbortSignal | undefined,
  ): Promise<WorkflowResult<string, unknown>> {
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        // The run is parked, so nobody holds it: a durable cancel request makes it due, and the
        // next tick resumes it into its rollback, whose outcome this call then reports.
        this.#store.requestCancel(id, "the orchestrate signal aborted").catch(() => {});
      };
      const settle = <T>(fn: (value: T) => void) => (value: T): void => {
        signal?.removeEventListener("abort", onAbort);
        this.#waiters.delete(id);
        fn(value);
      };
      this.#waiters.set(id, {
        resume,
        resolve: settle(resolve),
        reject: settle(reject),
        busy: false,
      });
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#ticking || this.#waiters.size === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#tick();
    }, WAKE_POLL_MS);
  }

  async #tick(): Promise<void> {
    this.#ticking = true;
    try {
      for (const id of await this.#due()) {
        const waiter = this.#waiters.get(id);
        if (waiter !== undefined && !waiter.busy) void this.#resume(waiter);
      }
      await this.#checkSome();
    } catch {
      // A store failure: the runs stay parked and durable; the next tick reads them again.
    } finally {
      this.#ticking = false;
      this.#schedule();
    }
  }

  /** The ids of due runs this process waits for. */
  async #due(): Promise<string[]> {
    const due: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const result = await this.#store.listExpired({ limit: PAGE, cursor });
      for (const run of result.runs) if (this.#waiters.has(run.id)) due.push(run.id);
      cursor = result.cursor;
      if (cursor === undefined) break;
    }
    return due;
  }

  async #resume(waiter: Waiter): Promise<void> {
    waiter.busy = true;
    try {
      const outcome = await waiter.resume();
      if ((outcome as { status?: unknown }).status === "waiting") waiter.busy = false;
      else waiter.resolve(outcome as WorkflowResult<string, unknown>);
    } catch (error) {
      // Another process claimed it first: keep waiting; #checkSome notices when it is over.
      if (safeInstanceOf(error, RunOwnedError)) waiter.busy = false;
      else waiter.reject(error);
    }
  }

  /**
   * Reads the records of a few waiters per tick (round robin): a run another process continued
   * and finished or failed would otherwise keep this call waiting for ever.
   */
  async #checkSome(): Promise<void> {
    const ids = [...this.#waiters.keys()];
    if (ids.length === 0) return;
    const count = Math.min(CHECKS_PER_TICK, ids.length);
    for (let i = 0; i < count; i++) {
      const id = ids[(this.#checked + i) % ids.length]!;
      const waiter = this.#waiters.get(id);
      if (waiter === undefined || waiter.busy) continue;
      const info = await this.#store.getRun(id);
      if (waiter.busy || !this.#waiters.has(id)) continue;
      if (info === undefined) waiter.reject(new RunContinuedElsewhereError(id, undefined));
      else if (info.status === "failed") {
        waiter.reject(new RunContinuedElsewhereError(id, "failed", info.error));
      }
    }
    this.#checked = (this.#checked + count) % Math.max(1, ids.length);
  }
}

/** The error for `onWait` values other than "wait" and "return". */
export function onWaitError(value: unknown): ConfigurationError {
  return new ConfigurationError(
    `Option onWait must be "wait" (the default: settle when the run ends) or "return" (settle ` +
      `when it parks), received ${safeString(value)}`,
  );
}
