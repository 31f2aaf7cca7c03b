// The engine's side of owning a run: every write to the run's log goes through here (serialised,
// fenced by the lease), a heartbeat renews the lease well inside its length, and the moment
// ownership is lost — a fenced write refused, or the lease running out unrenewed — the run's
// signal aborts with OwnershipLostError and no further write is attempted. Between renewals the
// same timer polls the record for a durable cancel request, which aborts `cancelled`.

import { safeInstanceOf } from "../describe.ts";
import { CancelledError, CanoError, messageOf } from "../errors.ts";
import type {
  CheckpointRow,
  ParkRequest,
  ParkResult,
  RunEnd,
  RunLease,
  RunStore,
} from "./checkpoint.ts";
import { OwnershipLostError } from "./run_errors.ts";

/** The heartbeat renews this many times per lease length. */
const BEATS_PER_LEASE = 3;
/** The shortest wait before retrying a renewal that failed for another reason than ownership. */
const MIN_RETRY_MS = 10;
/**
 * A run whose lease could not be renewed is given up this long before the lease expires (at most
 * a second, a tenth of the lease), so its task is stopped before anyone else may claim the run.
 */
const MAX_MARGIN_MS = 1_000;
/** How often the record is read for a cancel request between renewals (at most). */
const CANCEL_POLL_MS = 1_000;

/** One process's ownership of one run, from its claim until the run ends. */
export class RunOwnership {
  /** The store the run lives in. */
  readonly store: RunStore;
  /** The claim; the store updates it on every fenced write. */
  readonly lease: RunLease;
  readonly #controller = new AbortController();
  readonly #cancel = new AbortController();
  readonly #interval: number;
  readonly #poll: number;
  #nextRenew: number;
  readonly #margin: number;
  #chain: Promise<unknown> = Promise.resolve();
  #busy = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Gives the run up at `leaseUntil − margin` unless a renewal lands first. */
  #deadline: ReturnType<typeof setTimeout> | undefined;
  #deadlineAt = NaN;
  /** Why the last renewal failed, until one succeeds (for the loss's message). */
  #renewError: unknown;
  #stopped = false;
  #lost: OwnershipLostError | undefined;

  /**
   * Starts owning a claimed run: the heartbeat begins at once.
   *
   * @param store The store.
   * @param lease The claim.
   */
  constructor(store: RunStore, lease: RunLease) {
    this.store = store;
    this.lease = lease;
    this.#interval = Math.max(1, Math.floor(store.leaseMs / BEATS_PER_LEASE));
    this.#margin = Math.min(MAX_MARGIN_MS, Math.floor(store.leaseMs / 10));
    this.#poll = Math.min(CANCEL_POLL_MS, this.#interval);
    this.#nextRenew = Date.now() + this.#interval;
    this.#noticeCancel();
    this.#schedule(this.#poll);
    this.#armDeadline();
  }

  /**
   * Aborts with a `CancelledError` once a durable cancel request is seen (at the claim, by the
   * poll, or when a fenced write shows it). The run then rolls back, still under the lease.
   */
  get cancelled(): AbortSignal {
    return this.#cancel.signal;
  }

  /** Aborts with an `OwnershipLostError` when ownership is lost. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** The loss, once ownership is lost. */
  get lost(): OwnershipLostError | undefined {
    return this.#lost;
  }

  /**
   * Appends a row under the lease.
   *
   * @param row The row.
   * @returns When durable.
   */
  append(row: CheckpointRow): Promise<void> {
    return this.#serial(() => this.store.append(this.lease.id, row, this.lease));
  }

  /**
   * Ends the run (and stops the heartbeat).
   *
   * @param end How it ended.
   * @returns When recorded.
   */
  finish(end: RunEnd): Promise<void> {
    this.stop();
    return this.#serial(() => this.store.finish(this.lease, end)).catch((error: unknown) => {
      // A cancel request refused the exit row: the run is not over, it rolls back under the
      // lease, which must go on being renewed.
      if (safeInstanceOf(error, CancelledError) && this.#lost === undefined) this.#restart();
      throw error;
    });
  }

  /** Starts the heartbeat and the deadline again after a `finish` that did not end the run. */
  #restart(): void {
    this.#stopped = false;
    this.#nextRenew = Date.now();
    this.#schedule(0);
    this.#armDeadline();
  }

  /**
   * Gives the run up without ending it (and stops the heartbeat).
   *
   * @returns When released.
   */
  release(): Promise<void> {
    this.stop();
    return this.#serial(() => this.store.release(this.lease));
  }

  /**
   * Parks the run in a wait state (and stops the heartbeat): once parked, the lease is over and
   * the run waits ownerless in the store. When the store hands back an event that already arrived
   * instead, the run goes on under the lease, whose heartbeat starts again.
   *
   * @param request The wait state, its events, its deadline and the events consumed so far.
   * @returns Whether the run parked, or the event to go on with.
   */
  async park(request: ParkRequest): Promise<ParkResult> {
    const store = this.store;
    if (typeof store.park !== "function") {
      throw new CanoError("The checkpoint store cannot park runs (it has no park method)", {
        category: "configuration",
      });
    }
    this.stop();
    let result: ParkResult;
    try {
      result = await this.#serial(() => store.park!(this.lease, request));
    } catch (error) {
      if (this.#lost === undefined) this.#restart();
      throw error;
    }
    if (!result.parked) this.#restart();
    return result;
  }

  /**
   * Makes sure the lease is still held before work with side effects starts (a task, a step, a
   * compensation). Free while the lease is fresh: `undefined`, nothing to await. When the process
   * stalled past the renewal window (a long synchronous task, a GC pause, a frozen VM), the
   * heartbeat may not have run yet: the lease is renewed first, fenced, and a refusal stops the
   * run dead instead of letting it start work another process may already be doing.
   *
   * @returns `undefined` when the lease is fresh, else a promise that rejects with
   * `OwnershipLostError` if the run is lost.
   */
  confirm(): Promise<void> | undefined {
    if (this.#lost !== undefined) return Promise.reject(this.#lost);
    if (Date.now() < this.lease.leaseUntil - this.#margin) return undefined;
    return this.#serial(() => this.store.renew(this.lease)).then(
      () => {
        // Renewed, but too late: the deadline gave the run up while the renewal was under way.
        if (this.#lost !== undefined) throw this.#lost;
      },
      (error: unknown) => {
        if (this.#lost !== undefined) throw this.#lost;
        if (Date.now() < this.lease.leaseUntil - this.#margin) return; // not renewed, still held
        this.#lose(
          new OwnershipLostError(
            this.lease.id,
            `its lease expired while the process stalled and could not be renewed (${
              messageOf(error)
            })`,
          ),
        );
        throw this.#lost;
      },
    );
  }

  /** Stops the heartbeat; idempotent. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#deadline !== undefined) clearTimeout(this.#deadline);
    this.#deadline = undefined;
  }

  /**
   * Arms (or moves) the give-up timer to `leaseUntil − margin`. The heartbeat alone cannot keep
   * that promise: a renewal stuck behind a slow commit (SQLite's lock under contention) or a
   * store that does not answer would leave the run going after its lease ran out and another
   * process claimed it. The timer stops the run dead at the deadline whatever is in flight.
   */
  #armDeadline(): void {
    if (this.#stopped || this.#lost !== undefined) return;
    // Before the first row lands no task has started, and no resume claim takes over a run
    // without rows: a slow first commit is waited out (confirm() checks the lease before the task).
    if (this.lease.sequence === 0) return;
    const at = this.lease.leaseUntil - this.#margin;
    if (at === this.#deadlineAt && this.#deadline !== undefined) return;
    if (this.#deadline !== undefined) clearTimeout(this.#deadline);
    this.#deadlineAt = at;
    this.#deadline = setTimeout(() => {
      this.#deadline = undefined;
      if (this.#stopped || this.#lost !== undefined) return;
      const now = Date.now();
      if (now < this.lease.leaseUntil - this.#margin) return this.#armDeadline();
      const why = this.#renewError !== undefined
        ? `its lease could not be renewed before it expired (${messageOf(this.#renewError)})`
        : now >= this.lease.leaseUntil
        ? `its lease expired ${now - this.lease.leaseUntil} ms ago while the process was ` +
          "stalled or the store did not answer"
        : "its lease ran out before a renewal landed (the store did not answer in time)";
      this.#lose(new OwnershipLostError(this.lease.id, why));
    }, Math.max(0, at - Date.now()));
  }

  /**
   * Runs store writes one at a time, and never once ownership is lost. When nothing is in flight
   * the write starts synchronously: the store encodes the row's data before the caller goes on
   * (a snapshot as of the call), and a transition costs no extra turn of the microtask queue.
   */
  #serial<T>(operation: () => Promise<T>): Promise<T> {
    const start = (): Promise<T> => {
      if (this.#lost !== undefined) throw this.#lost;
      return operation();
    };
    // The next write waits for this one whatever its outcome: `then(start, start)`.
    const run = this.#busy === 0 ? invoke(start) : this.#chain.then(start, start);
    this.#busy += 1;
    const next = run.then(
      (value) => {
        this.#busy -= 1;
        this.#noticeCancel();
        this.#armDeadline();
        return value;
      },
      (error: unknown) => {
        this.#busy -= 1;
        if (safeInstanceOf(error, OwnershipLostError)) this.#lose(error);
        else this.#noticeCancel();
        throw error;
      },
    );
    this.#chain = next;
    return next;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#beat();
    }, ms);
  }

  /** One tick of the timer: a renewal when due, else (until a request is seen) a cancel poll. */
  async #beat(): Promise<void> {
    if (Date.now() < this.#nextRenew) {
      if (!this.#cancel.signal.aborted) {
        try {
          await this.#serial(() => this.store.pollCancel(this.lease));
        } catch {
          // Lost ownership is handled by #serial; anything else waits for the next poll.
          if (this.#lost !== undefined || this.#stopped) return;
        }
      }
      this.#schedule(this.#untilNextBeat());
      return;
    }
    try {
      await this.#serial(() => this.store.renew(this.lease));
      this.#renewError = undefined;
      this.#nextRenew = Date.now() + this.#interval;
      this.#schedule(this.#untilNextBeat());
    } catch (error) {
      if (this.#lost !== undefined || this.#stopped) return;
      this.#renewError = error;
      const left = this.lease.leaseUntil - this.#margin - Date.now();
      if (left <= 0) {
        this.#lose(
          new OwnershipLostError(
            this.lease.id,
            `its lease could not be renewed before it expired (${messageOf(error)})`,
          ),
        );
        return;
      }
      // A transient failure: try again well before the lease runs out, and at the latest when
      // it is time to give the run up.
      this.#schedule(Math.min(this.#interval, Math.max(MIN_RETRY_MS, Math.floor(left / 2)), left));
    }
  }

  #untilNextBeat(): number {
    const renewIn = Math.max(1, this.#nextRenew - Date.now());
    return this.#cancel.signal.aborted ? renewIn : Math.min(this.#poll, renewIn);
  }

  /** Aborts `cancelled` once the store has put a cancel request on the lease. */
  #noticeCancel(): void {
    const reason = this.lease.cancel;
    if (reason === undefined || this.#cancel.signal.aborted) return;
    this.#cancel.abort(
      new CancelledError(`Run "${this.lease.id}" was cancelled: ${reason}`, { cause: reason }),
    );
  }

  #lose(error: OwnershipLostError): void {
    if (this.#lost !== undefined) return;
    this.#lost = error;
    this.stop();
    this.#controller.abort(error);
  }
}

/** Calls `fn`, turning a synchronous throw into a rejection. */
function invoke<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (error) {
    return Promise.reject(error);
  }
}
