// Crash injection for tests: a RunStore wrapper that lets a run commit k checkpoint rows and then
// "dies" the way a SIGKILLed process does — every later call from that process is refused, so the
// engine stops dead (no task, compensation, clear, release or renewal) while the lease stays held
// in the underlying store — and that can then come back as a fresh process to resume the run.

import { safeInstanceOf, safeString } from "../describe.ts";
import { ConfigurationError } from "../errors.ts";
import { readOptions } from "../options.ts";
import {
  type CancelResult,
  type CheckpointRow,
  type ClaimRequest,
  type ClaimResult,
  hasWaitMethods,
  type ListExpiredQuery,
  type ListRunsQuery,
  type ParkRequest,
  type ParkResult,
  type RowKind,
  type RunEnd,
  type RunInfo,
  type RunLease,
  type RunPage,
  type RunStore,
  type SendEventOptions,
  type SendEventResult,
} from "../recovery/checkpoint.ts";
import type { Codec } from "../recovery/codec.ts";
import { OwnershipLostError } from "../recovery/run_errors.ts";
import { checkFilter, checkK, checkRunStore } from "./crash_checks.ts";

/** A checkpoint row a {@link CrashingStore} counted: committed to the underlying store. */
export interface CommittedRow {
  /** The run id. */
  readonly id: string;
  /** The row's sequence in the run's log. */
  readonly sequence: number;
  /** What the row records. */
  readonly kind: RowKind;
  /** The state it belongs to. */
  readonly state: string;
}

/** Where a simulated crash happened. */
export interface CrashPoint {
  /** `checkpoint`: the k-th counted row was committed; `crash`: {@link CrashingStore.crash} was called. */
  readonly cause: "checkpoint" | "crash";
  /** How many rows had been counted in that process life when it died. */
  readonly checkpoints: number;
  /** The last counted row, `undefined` when none was committed. */
  readonly last: CommittedRow | undefined;
}

/** Which committed rows count towards the crash point. */
export interface CrashFilter {
  /** Count only rows of these kinds (others are committed without counting). Default: every kind. */
  kinds?: readonly RowKind[] | undefined;
  /** Count only rows of this run id. Default: rows of every run through the store. */
  id?: string | undefined;
}

/** Options of {@link CrashingStore}. */
export interface CrashingStoreOptions extends CrashFilter {
  /** Crash right after the `after`-th counted row is committed (a positive integer). Default: only {@link CrashingStore.crash} crashes. */
  after?: number | undefined;
  /**
   * Called synchronously at the moment of the crash, before the committing call is refused (the
   * subprocess harness prints its marker and blocks here). What it throws is ignored: nothing a
   * dead process does may reach the run.
   */
  onCrash?: ((point: CrashPoint) => void) | undefined;
}

/** Options of {@link CrashingStore.restart}. */
export interface RestartOptions {
  /**
   * Leave the dead process's leases held, as after a real SIGKILL: resuming then fails with
   * `RunOwnedError` until `leaseMs` has passed on the store's clock (tick a fake clock past it).
   * Default `false`: the leases are released at once, standing for their expiry.
   */
  keepLeases?: boolean | undefined;
  /** Arm the new process life to crash after this many more counted rows. Default: never. */
  crashAfter?: number | undefined;
}

/**
 * The refusal a {@link CrashingStore} answers every call of a dead process with. It is an
 * `OwnershipLostError` (category `"ownership_lost"`), so the engine does exactly what it does for
 * a process that lost its run — stops dead: no further task, compensation, log clear, release or
 * renewal — and the run's promise rejects with it. Test `instanceof SimulatedCrashError` (or
 * `name`) to tell the simulated crash from a real failure.
 *
 * @example Tell a simulated crash from a real loss
 * ```ts
 * import { SimulatedCrashError } from "@cano/cano/testing";
 * import { OwnershipLostError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const error = new SimulatedCrashError("order-1", { cause: "crash", checkpoints: 0, last: undefined });
 * assert.ok(error instanceof OwnershipLostError);
 * assert.equal(error.category, "ownership_lost");
 * assert.equal(error.name, "SimulatedCrashError");
 * ```
 */
export class SimulatedCrashError extends OwnershipLostError {
  /** Where the process died. */
  readonly point: CrashPoint;

  /**
   * Creates the error.
   *
   * @param id The run id of the refused call (`""` for a call about no run).
   * @param point Where the process died.
   */
  constructor(id: string, point: CrashPoint) {
    super(
      id,
      `the process was crashed on purpose ${describePoint(point)} (a test's simulated SIGKILL)`,
    );
    this.name = "SimulatedCrashError";
    this.point = point;
  }
}

/** One life of the simulated process: from construction or a restart until its crash. */
interface Life {
  after: number | undefined;
  count: number;
  last: CommittedRow | undefined;
  point: CrashPoint | undefined;
  /** Leases claimed in this life and not yet ended or released: the runs it holds. */
  readonly live: Set<RunLease>;
}

/**
 * A {@link RunStore} wrapper that simulates a process crash: after the `after`-th checkpoint row
 * the run commits (or when {@link CrashingStore.crash} is called), the process "dies". The call
 * that committed row k still committed it, but rejects with {@link SimulatedCrashError} — the
 * process never hears of the row, like a process killed between the commit and its
 * acknowledgement — and so does every later call of that process life, including calls already
 * in flight. The engine therefore stops dead, and the underlying store is left exactly as a
 * SIGKILL leaves it: the rows up to k, the run record, the lease held.
 *
 * **What counts as a checkpoint row**: every row committed to a run's log through this store, in
 * commit order and whatever its kind — `state_entry` (including row 0, which a new run's claim
 * writes in its own commit), `step_cursor`, `compensation_completion`, `rollback` and
 * `compensated`; narrow it with `kinds` and `id`. The exit state's row is never counted: the run's
 * end records it in the commit that deletes the log, so nothing would be left to crash after.
 *
 * Then {@link CrashingStore.restart} brings the store back as a fresh process on the same
 * underlying store, and `resumeFrom` continues the run in the same test. Leases of the dead life
 * stay refused, so a task that was in flight at the crash and resolves later writes nothing.
 * Works over any `RunStore` (`InMemoryCheckpointStore`, `KvCheckpointStore`, your own): every
 * method is the underlying store's, refused once the process life making the call is dead.
 *
 * What an in-process crash cannot do: stop JavaScript that is running. A task in flight goes on
 * (its signal aborts at the engine's next refused heartbeat, its result is never recorded), and
 * the dead run's promise settles, with `runend` and the workflow's resource teardown, as for any
 * lost run. For a true SIGKILL, see `haltAfterCheckpoint` and `runAndKill`.
 *
 * @example Crash mid-run, prove the rollback did not run, resume
 * ```ts
 * import { CrashingStore, InMemoryCheckpointStore, SimulatedCrashError } from "@cano/cano/testing";
 * import { TaskConfig, Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const effects: string[] = [];
 * const store = new InMemoryCheckpointStore();
 * const crashing = new CrashingStore(store, { after: 3 }); // rows: charge, its completion, ship
 * const workflow = new Workflow<"charge" | "ship" | "done">()
 *   .registerWithCompensation("charge", {
 *     name: "charge",
 *     run: () => (effects.push("charge"), { next: "ship", output: "ch-1" }),
 *     compensate: () => void effects.push("refund"),
 *   })
 *   .register("ship", () => (effects.push("ship"), "done"), { config: TaskConfig.minimal() })
 *   .addExitState("done")
 *   .withCheckpointStore(crashing);
 *
 * await assert.rejects(workflow.orchestrate("charge", { id: "order-1" }), SimulatedCrashError);
 * assert.deepEqual(effects, ["charge"]); // no refund: a crash is not a failure
 * assert.equal((await store.getRun("order-1"))?.sequence, 3); // log kept, lease held
 *
 * await crashing.restart(); // a fresh process: the dead lease is given up
 * assert.equal((await workflow.resumeFrom("order-1")).state, "done");
 * assert.deepEqual(effects, ["charge", "ship"]);
 * ```
 */
export class CrashingStore implements RunStore {
  /** The store the rows really go to; read it to see what the crash left behind. */
  readonly inner: RunStore;
  readonly #filter: { kinds: ReadonlySet<RowKind> | undefined; id: string | undefined };
  readonly #onCrash: ((point: CrashPoint) => void) | undefined;
  readonly #lives = new WeakMap<RunLease, Life>();
  readonly #crashes: CrashPoint[] = [];
  #life: Life;

  /**
   * Wraps a store.
   *
   * @param store The underlying `RunStore`.
   * @param options When to crash and which rows count.
   * @throws {ConfigurationError} When `store` is not a `RunStore` or an option is invalid.
   */
  constructor(store: RunStore, options: CrashingStoreOptions = {}) {
    const read = readOptions<CrashingStoreOptions>(options, "CrashingStore options", [
      "after",
      "kinds",
      "id",
      "onCrash",
    ]);
    this.inner = checkRunStore(store, "CrashingStore");
    this.#filter = checkFilter(read, "CrashingStore");
    if (read.onCrash !== undefined && typeof read.onCrash !== "function") {
      throw new ConfigurationError(
        `CrashingStore needs onCrash as a function, received ${safeString(read.onCrash)}`,
      );
    }
    this.#onCrash = read.onCrash;
    this.#life = newLife(checkK(read.after, "CrashingStore after"));
    // Wait states need park and sendEvent: offered exactly when the wrapped store has them, so a
    // workflow's validation sees the same store it would without the harness.
    const inner = this.inner;
    if (hasWaitMethods(inner)) {
      const park = inner.park.bind(inner);
      const send = inner.sendEvent.bind(inner);
      // Parking ends the lease like a release: a dead process parks nothing.
      this.park = (lease, request) =>
        this.#call(lease?.id, lease, () => park(lease, request), (life, result) => {
          if (result.parked) life.live.delete(lease);
        });
      this.sendEvent = (id, name, payload, options) =>
        this.#call(id, undefined, () => send(id, name, payload, options));
    }
  }

  /** Parks a run in a wait state (`RunStore.park`), when the wrapped store can. */
  readonly park?: (lease: RunLease, request: ParkRequest) => Promise<ParkResult>;

  /** Sends an event to a run (`RunStore.sendEvent`), when the wrapped store can. */
  readonly sendEvent?: (
    workflowId: string,
    name: string,
    payload: unknown,
    options?: SendEventOptions,
  ) => Promise<SendEventResult>;

  /** How long a claim lasts without renewal (the underlying store's). */
  get leaseMs(): number {
    return this.inner.leaseMs;
  }

  /** How run data, outputs and cursors are encoded (the underlying store's). */
  get codec(): Codec {
    return this.inner.codec;
  }

  /** Whether the current process life has crashed (until {@link CrashingStore.restart}). */
  get crashed(): boolean {
    return this.#life.point !== undefined;
  }

  /** The rows counted in the current process life. */
  get checkpoints(): number {
    return this.#life.count;
  }

  /** Every crash so far, oldest first. */
  get crashes(): readonly CrashPoint[] {
    return [...this.#crashes];
  }

  /**
   * Crashes the current process life now — for a crash while a task runs (call it from the
   * task). Nothing is written from then on; the task's own result is never recorded. Idempotent.
   *
   * @returns Where the process died.
   */
  crash(): CrashPoint {
    return this.#life.point ?? this.#die(this.#life, "crash");
  }

  /**
   * Comes back as a fresh process on the same underlying store, after a crash: calls pass through
   * again, except those carrying a lease of a dead life (the old process stays dead). By default
   * the dead life's leases are released, standing for their expiry, so `resumeFrom` works at once.
   *
   * @param options Whether to keep the dead leases, and when the new life crashes.
   * @returns When the new life has begun.
   * @throws {ConfigurationError} When the store has not crashed, or an option is invalid.
   */
  async restart(options: RestartOptions = {}): Promise<void> {
    const read = readOptions<RestartOptions>(options, "restart options", [
      "keepLeases",
      "crashAfter",
    ]);
    const dead = this.#life;
    if (dead.point === undefined) {
      throw new ConfigurationError(
        `CrashingStore.restart() needs a crashed store, but the process is alive (${dead.count} ` +
          `of ${dead.after ?? "no"} rows counted); check k against the rows the run writes, or ` +
          "call crash() first",
      );
    }
    if (read.keepLeases !== undefined && typeof read.keepLeases !== "boolean") {
      throw new ConfigurationError(
        `restart() needs keepLeases as a boolean, received ${safeString(read.keepLeases)}`,
      );
    }
    this.#life = newLife(checkK(read.crashAfter, "restart() crashAfter"));
    if (read.keepLeases === true) return;
    for (const lease of dead.live) {
      try {
        await this.inner.release(lease);
      } catch (error) {
        // Finished, cleared or taken over meanwhile: nothing of the dead process to give up.
        if (!safeInstanceOf(error, OwnershipLostError)) throw error;
      }
    }
    dead.live.clear();
  }

  /**
   * Appends a row (see `CheckpointStore.append`); the row may be the one the process dies after.
   *
   * @param workflowId The run id.
   * @param row The row.
   * @param lease The owner's lease.
   * @returns When durable.
   */
  append(workflowId: string, row: CheckpointRow, lease?: RunLease): Promise<void> {
    return this.#call(
      workflowId,
      lease,
      () => this.inner.append(workflowId, row, lease),
      (life) => this.#committed(life, { id: workflowId, ...rowFacts(row) }),
    );
  }

  /** The run's rows (`RunStore.loadRun`). */
  loadRun(workflowId: string): Promise<CheckpointRow[]> {
    return this.#call(workflowId, undefined, () => this.inner.loadRun(workflowId));
  }

  /** Removes a run's rows and record (`RunStore.clear`). */
  clear(workflowId: string): Promise<void> {
    return this.#call(workflowId, undefined, () => this.inner.clear(workflowId));
  }

  /**
   * Claims a run; a new run's row 0, written with the claim, counts as a checkpoint row.
   *
   * @param workflowId The run id.
   * @param request The claim.
   * @returns The lease and rows.
   */
  claim(workflowId: string, request: ClaimRequest): Promise<ClaimResult> {
    return this.#call(
      workflowId,
      undefined,
      () => this.inner.claim(workflowId, request),
      (life, result) => {
        this.#lives.set(result.lease, life);
        life.live.add(result.lease);
        const first = request?.first;
        if (result.firstWritten === true && first !== undefined) {
          this.#committed(life, { id: workflowId, ...rowFacts(first) });
        }
      },
    );
  }

  /** Extends the lease (`RunStore.renew`): a dead process renews nothing. */
  renew(lease: RunLease): Promise<void> {
    return this.#call(lease?.id, lease, () => this.inner.renew(lease));
  }

  /** Gives the run up (`RunStore.release`). */
  release(lease: RunLease): Promise<void> {
    return this.#call(lease?.id, lease, () => this.inner.release(lease), (life) => {
      life.live.delete(lease);
    });
  }

  /** Ends the run (`RunStore.finish`); its exit row is not counted, the end deletes the log. */
  finish(lease: RunLease, end: RunEnd): Promise<void> {
    return this.#call(lease?.id, lease, () => this.inner.finish(lease, end), (life) => {
      life.live.delete(lease);
    });
  }

  /** One run's record (`RunStore.getRun`). */
  getRun(workflowId: string): Promise<RunInfo | undefined> {
    return this.#call(workflowId, undefined, () => this.inner.getRun(workflowId));
  }

  /** A page of run records (`RunStore.listRuns`). */
  listRuns(query?: ListRunsQuery): Promise<RunPage> {
    return this.#call("", undefined, () => this.inner.listRuns(query));
  }

  /** Requests that a run be cancelled (`RunStore.requestCancel`). */
  requestCancel(workflowId: string, reason?: string): Promise<CancelResult> {
    return this.#call(workflowId, undefined, () => this.inner.requestCancel(workflowId, reason));
  }

  /** The owner's poll for a cancel request (`RunStore.pollCancel`). */
  pollCancel(lease: RunLease): Promise<string | undefined> {
    return this.#call(lease?.id, lease, () => this.inner.pollCancel(lease));
  }

  /** Runs whose lease is over (`RunStore.listExpired`). */
  listExpired(query?: ListExpiredQuery): Promise<RunPage> {
    return this.#call("", undefined, () => this.inner.listExpired(query));
  }

  /** Notes a problem on a run nobody holds (`RunStore.noteRun`). */
  noteRun(workflowId: string, error: string): Promise<boolean> {
    return this.#call(workflowId, undefined, () => this.inner.noteRun(workflowId, error));
  }

  /**
   * One call of the simulated process. Refused when its life is dead before the call, or died
   * while the call was under way (a dead process sees no answer). Not `await`ed before `operation`
   * starts: the underlying store still encodes the row synchronously, as the engine expects.
   */
  async #call<T>(
    id: string,
    lease: RunLease | undefined,
    operation: () => Promise<T>,
    done?: (life: Life, value: T) => void,
  ): Promise<T> {
    const life = (lease === undefined ? undefined : this.#lives.get(lease)) ?? this.#life;
    if (life.point !== undefined) throw new SimulatedCrashError(String(id ?? ""), life.point);
    const value = await operation();
    if (life.point !== undefined) throw new SimulatedCrashError(String(id ?? ""), life.point);
    done?.(life, value);
    // `done` may have crashed the process on this very row: the caller never hears of it.
    if (life.point !== undefined) throw new SimulatedCrashError(String(id ?? ""), life.point);
    return value;
  }

  /** A row is durable in the underlying store: count it, and die at the armed count. */
  #committed(life: Life, row: CommittedRow): void {
    const { kinds, id } = this.#filter;
    if (kinds !== undefined && !kinds.has(row.kind)) return;
    if (id !== undefined && row.id !== id) return;
    life.count += 1;
    life.last = row;
    if (life.after !== undefined && life.count >= life.after) this.#die(life, "checkpoint");
  }

  #die(life: Life, cause: CrashPoint["cause"]): CrashPoint {
    const point: CrashPoint = { cause, checkpoints: life.count, last: life.last };
    life.point = point;
    this.#crashes.push(point);
    try {
      this.#onCrash?.(point);
    } catch {
      // Ignored on purpose: a dead process cannot report anything to the run.
    }
    return point;
  }
}

/**
 * A {@link CrashingStore} that crashes right after the `k`-th checkpoint row is committed: the
 * run rejects with {@link SimulatedCrashError} without starting the next task, compensating,
 * clearing, releasing or renewing, and `restart()` then lets the same test resume it. See
 * {@link CrashingStore} for which rows count.
 *
 * @param store The underlying `RunStore` (`InMemoryCheckpointStore`, `KvCheckpointStore`, …).
 * @param k How many checkpoint rows to commit before the crash (a positive integer).
 * @param options Which rows count (`kinds`, `id`) and an `onCrash` hook.
 * @returns The crashing store: pass it to `withCheckpointStore`.
 * @throws {ConfigurationError} When `store` is not a `RunStore`, `k` is not a positive integer, or
 * an option is invalid.
 *
 * @example Crash after every row in turn, resume, count the side effects
 * ```ts
 * import { crashAfterCheckpoint, InMemoryCheckpointStore, SimulatedCrashError } from "@cano/cano/testing";
 * import { Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * for (const k of [1, 2]) {
 *   const runs = { a: 0, b: 0 };
 *   const store = crashAfterCheckpoint(new InMemoryCheckpointStore(), k);
 *   const workflow = new Workflow<"a" | "b" | "done">()
 *     .register("a", () => (runs.a++, "b"))
 *     .register("b", () => (runs.b++, "done"))
 *     .addExitState("done")
 *     .withCheckpointStore(store);
 *   await assert.rejects(workflow.orchestrate("a", { id: `run-${k}` }), SimulatedCrashError);
 *   await store.restart();
 *   await workflow.resumeFrom(`run-${k}`);
 *   assert.deepEqual(runs, { a: 1, b: 1 }); // the crash came between tasks: nothing ran twice
 * }
 * ```
 */
export function crashAfterCheckpoint(
  store: RunStore,
  k: number,
  options: CrashFilter & Pick<CrashingStoreOptions, "onCrash"> = {},
): CrashingStore {
  const read = readOptions<CrashingStoreOptions>(options, "crashAfterCheckpoint options", [
    "kinds",
    "id",
    "onCrash",
  ]);
  checkRunStore(store, "crashAfterCheckpoint");
  if (k === undefined) {
    throw new ConfigurationError(
      "crashAfterCheckpoint needs k, the number of checkpoint rows to commit before the crash " +
        "(a positive integer, e.g. 1 to crash right after the first row)",
    );
  }
  return new CrashingStore(store, { ...read, after: checkK(k, "crashAfterCheckpoint k") });
}

function newLife(after: number | undefined): Life {
  return { after, count: 0, last: undefined, point: undefined, live: new Set() };
}

function rowFacts(row: CheckpointRow): Omit<CommittedRow, "id"> {
  return { sequence: row.sequence, kind: row.kind, state: row.state };
}

function describePoint(point: CrashPoint): string {
  const last = point.last === undefined
    ? "no row"
    : `row ${point.last.sequence}: ${point.last.kind} of state "${point.last.state}"`;
  return point.cause === "checkpoint"
    ? `after checkpoint ${point.checkpoints} (${last})`
    : `by crash() after ${point.checkpoints} checkpoint(s) (last: ${last})`;
}
