// Recovery sweeps: every process that may resume runs periodically lists the runs whose lease
// expired (an index by lease expiry, never the healthy runs) and resumes each with the definition
// of the same name and version. The claim inside `resumeFrom` is the arbiter: of several sweepers
// finding one run, exactly one gets it; the others are refused with RunOwnedError and move on.

import { safeInstanceOf, safeString } from "../describe.ts";
import {
  CanoError,
  categoryOf,
  CheckpointStoreError,
  ConfigurationError,
  messageOf,
} from "../errors.ts";
import { SafeEventTarget } from "../events.ts";
import { readOptions } from "../options.ts";
import {
  type CheckpointStore,
  NothingToResumeError,
  type RunInfo,
  type RunStore,
} from "../recovery/checkpoint.ts";
import { runStoreFor } from "../recovery/local_leases.ts";
import { OwnershipLostError, RunOwnedError } from "../recovery/run_errors.ts";
import type { ResourceMap } from "../task/task.ts";
import type { Resources } from "../resources.ts";
import {
  resumeWithExternalResources,
  type Workflow,
  workflowIdentity,
} from "../workflow/workflow.ts";
import {
  RecoveredEvent,
  RecoverEvent,
  type RecoveryEventMap,
  type RecoveryOutcome,
  SweepErrorEvent,
  UnknownWorkflowEvent,
} from "./recovery_events.ts";

/** Any workflow, whatever its states, data and resources. */
// deno-lint-ignore no-explicit-any
export type AnyWorkflow = Workflow<any, any, any>;

/** Options of {@link startRecovery}. */
export interface RecoveryOptions {
  /** The store the runs live in: the same store object the workflows were given. */
  store: CheckpointStore;
  /**
   * The definitions this process can resume runs with, matched by name and version (each a named
   * workflow with `store` as its checkpoint store; one definition per name and version).
   */
  workflows: readonly AnyWorkflow[];
  /**
   * Milliseconds between sweeps (10 ms to one day). A sweep also starts at once, and again as
   * soon as a run ends while more expired runs were waiting.
   *
   * @default {5_000}
   */
  every?: number | undefined;
  /**
   * How many recovered runs this process runs at once (1 to 1,000). Expired runs beyond it wait
   * for a later sweep, here or in another process.
   *
   * @default {4}
   */
  concurrency?: number | undefined;
  /**
   * Stops the sweeps when aborted (like {@link Recovery.stop}, without waiting for the runs in
   * flight).
   *
   * @default {undefined}
   */
  signal?: AbortSignal | undefined;
}

/** What one sweep did. */
export interface SweepResult {
  /** Runs resumed by this sweep. */
  resumed: number;
  /** Expired runs no definition matches (reported, left alone). */
  unknown: number;
  /** Expired runs left for later because `concurrency` runs were already in flight. */
  deferred: number;
}

const MIN_EVERY = 10;
const MAX_EVERY = 86_400_000;
/** Expired runs read per store call, and pages read per sweep at most. */
const PAGE = 100;
const MAX_PAGES = 10;

/**
 * A running recovery sweeper (see {@link startRecovery}). An event target of `recover`,
 * `recovered`, `unknownworkflow` and `sweeperror` ({@link RecoveryEventMap}).
 *
 * A workflow's resources are set up once, before the first run resumed with them, and torn down
 * by `stop()` (as the scheduler does), so runs resumed at the same time share them.
 *
 * `stop()` (and `await using`) ends the sweeps, waits for the runs this sweeper resumed to end,
 * then tears the resources down: a recovered run is never cancelled by shutting recovery down
 * (that would roll back work another process could finish). A process that exits anyway just
 * leaves them to the next sweeper, once their lease expires.
 */
export class Recovery extends SafeEventTarget<RecoveryEventMap> implements AsyncDisposable {
  readonly #store: RunStore;
  readonly #byName: Map<string, Map<number, AnyWorkflow>>;
  readonly #every: number;
  readonly #concurrency: number;
  readonly #signal: AbortSignal | undefined;
  readonly #inFlight = new Map<string, Promise<void>>();
  /** The resources set up for resumed runs (each once), in the order they were set up. */
  readonly #resources = new Map<Resources, Promise<void>>();
  /** Runs already reported as unknown (by id and lease expiry), so each is reported once. */
  readonly #reported = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #sweeping: Promise<SweepResult> | undefined;
  #backlog = false;
  #stopped = false;
  readonly #onAbort = (): void => this.#halt();

  /** @internal Use {@link startRecovery}. */
  constructor(options: RecoveryOptions) {
    super();
    const checked = checkedOrTyped(options);
    this.#store = checked.store;
    this.#byName = checked.byName;
    this.#every = checked.every;
    this.#concurrency = checked.concurrency;
    this.#signal = checked.signal;
    if (this.#signal?.aborted) {
      this.#stopped = true;
      return;
    }
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    this.#schedule(0);
  }

  /** How many recovered runs are in flight in this process. */
  get active(): number {
    return this.#inFlight.size;
  }

  /** Whether the sweeps have stopped. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * Sweeps now (the timer's sweeps do the same): lists the expired runs, resumes what this
   * process can (up to `concurrency` at once; the runs go on in the background), and reports the
   * runs no definition matches. A sweep already under way is joined, not doubled.
   *
   * @returns What the sweep did.
   */
  sweep(): Promise<SweepResult> {
    if (this.#sweeping !== undefined) return this.#sweeping;
    const sweeping = this.#sweep().finally(() => this.#sweeping = undefined);
    this.#sweeping = sweeping;
    return sweeping;
  }

  /**
   * Stops sweeping and waits for the runs this sweeper resumed to end. Idempotent.
   *
   * @returns When no recovered run is in flight.
   */
  async stop(): Promise<void> {
    this.#halt();
    await this.#sweeping?.catch(() => {});
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight.values());
    // Resources were set up once for all the runs resumed with them: torn down once, last first.
    const setUp = [...this.#resources.entries()].reverse();
    this.#resources.clear();
    for (const [resources, ready] of setUp) {
      if (await ready.then(() => true, () => false)) await resources.teardownAll();
    }
  }

  /**
   * Sets a workflow's resources up for the first run resumed with them (the scheduler's rule:
   * once, not per run, so that concurrent runs never see a resource torn down under them). A
   * failed setup is retried by the next run.
   */
  #setUp(resources: Resources): Promise<void> {
    let ready = this.#resources.get(resources);
    if (ready === undefined) {
      ready = resources.setupAll();
      this.#resources.set(resources, ready);
      ready.catch(() => {
        if (this.#resources.get(resources) === ready) this.#resources.delete(resources);
      });
    }
    return ready;
  }

  /** Same as {@link Recovery.stop}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  #halt(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#signal?.removeEventListener("abort", this.#onAbort);
  }

  /** Whether runs were deferred for want of a slot and a slot is free now. */
  #slotFreed(): boolean {
    return this.#backlog && !this.#stopped && this.#inFlight.size < this.#concurrency;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const next = (): void => this.#schedule(this.#slotFreed() ? 0 : this.#every);
      this.sweep().then(next, next);
    }, ms);
  }

  async #sweep(): Promise<SweepResult> {
    const result: SweepResult = { resumed: 0, unknown: 0, deferred: 0 };
    let cursor: string | undefined;
    try {
      for (let page = 0; page < MAX_PAGES && !this.#stopped; page++) {
        const listed = await this.#store.listExpired({ limit: PAGE, cursor });
        for (const run of listed.runs) await this.#consider(run, result);
        cursor = listed.cursor;
        if (cursor === undefined || this.#inFlight.size >= this.#concurrency) break;
      }
    } catch (error) {
      this.dispatchEvent(new SweepErrorEvent(error));
    }
    this.#backlog = result.deferred > 0;
    return result;
  }

  async #consider(run: RunInfo, result: SweepResult): Promise<void> {
    if (this.#stopped || this.#inFlight.has(run.id)) return;
    const workflow = this.#byName.get(run.workflow)?.get(run.version);
    if (workflow === undefined) {
      result.unknown += 1;
      await this.#reportUnknown(run);
      return;
    }
    if (this.#inFlight.size >= this.#concurrency) {
      result.deferred += 1;
      return;
    }
    result.resumed += 1;
    this.dispatchEvent(new RecoverEvent(run.id, run.workflow, run.version));
    const done = this.#resume(workflow, run).finally(() => {
      this.#inFlight.delete(run.id);
      // Expired runs were left waiting for a free slot: look again now rather than at the timer
      // (or, while a sweep is under way, right after it).
      if (this.#slotFreed() && this.#sweeping === undefined) this.#schedule(0);
    });
    this.#inFlight.set(run.id, done);
  }

  async #resume(workflow: AnyWorkflow, run: RunInfo): Promise<void> {
    let outcome: RecoveryOutcome = "completed";
    let error: unknown;
    try {
      await this.#setUp(workflow.resources);
      const result = await resumeWithExternalResources(
        workflow as Workflow<string, never, ResourceMap>,
        run.id,
      );
      // Woken (an event, its deadline) and parked again in a later wait state.
      if ((result as { status?: unknown }).status === "waiting") outcome = "waiting";
    } catch (caught) {
      error = caught;
      outcome = outcomeOf(caught);
      if (outcome === "failed" && await this.#settledElsewhere(run.id, caught)) {
        outcome = "skipped";
      }
    }
    this.dispatchEvent(new RecoveredEvent(run.id, run.workflow, outcome, error));
  }

  /**
   * Whether a claim refused with a store error was about a run that is not this sweeper's to
   * resume after all: it finished elsewhere between the listing and the claim (no record), or it
   * never wrote a row (its starter may still be writing it; nothing to resume).
   */
  async #settledElsewhere(id: string, error: unknown): Promise<boolean> {
    if (safeInstanceOf(error, NothingToResumeError)) return true;
    if (!safeInstanceOf(error, CheckpointStoreError)) return false;
    try {
      const now = await this.#store.getRun(id);
      return now === undefined || now.sequence === 0;
    } catch {
      return false;
    }
  }

  async #reportUnknown(run: RunInfo): Promise<void> {
    const key = `${run.leaseUntil.getTime()}\u0000${run.id}`;
    if (this.#reported.has(key)) return;
    this.#reported.add(key);
    const reason = this.#missing(run);
    this.dispatchEvent(new UnknownWorkflowEvent(run.id, run.workflow, run.version, reason));
    try {
      await this.#store.noteRun(run.id, `Recovery: ${reason}`);
    } catch (error) {
      this.dispatchEvent(new SweepErrorEvent(error));
    }
  }

  #missing(run: RunInfo): string {
    if (run.workflow === "") {
      return "the run has no workflow name, so no definition can be matched to it; resume it " +
        "with resumeFrom, or give its workflow a name";
    }
    const versions = this.#byName.get(run.workflow);
    if (versions === undefined) {
      return `no workflow named "${run.workflow}" is given to this process's startRecovery`;
    }
    return `no definition of workflow "${run.workflow}" version ${run.version} (this process ` +
      `has version${versions.size === 1 ? "" : "s"} ${[...versions.keys()].join(", ")})`;
  }
}

/**
 * Starts recovery sweeps in this process: at once, then every `every` ms, the runs whose lease
 * expired (their process died, stalled, or released them) are claimed and resumed with the
 * definition of the same name and version — forward from their last checkpoint, or finishing
 * their rollback, or (with a durable cancel request on them) rolling back. Of several processes
 * sweeping one store, exactly one claims each run. An expired run no definition matches is
 * reported (an `unknownworkflow` event and `RunInfo.error`) and left alone, never guessed.
 *
 * @param options The store, the definitions, the interval, the concurrency and a signal.
 * @returns The sweeper; `await using` stops it.
 * @throws {ConfigurationError} On an invalid option, a workflow without a name or with another
 * store, or two definitions of one name and version.
 *
 * @example Finish a run whose process died
 * ```ts
 * import { MemoryCheckpointStore, startRecovery, Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * let now = 0;
 * const store = new MemoryCheckpointStore({ leaseMs: 1_000, now: () => now });
 * const order = new Workflow<"charge" | "ship" | "done">({ name: "order" })
 *   .register("charge", () => "ship")
 *   .register("ship", () => "done")
 *   .addExitState("done")
 *   .withCheckpointStore(store);
 *
 * // A process claimed "order-1", wrote its first row and died.
 * const { lease } = await store.claim("order-1", {
 *   mode: "start",
 *   owner: "dead-process",
 *   workflow: "order",
 *   version: 0,
 * });
 * await store.append("order-1", {
 *   sequence: 0,
 *   state: "ship",
 *   taskId: "ship",
 *   kind: "state_entry",
 *   data: {},
 *   workflowVersion: 0,
 * }, lease);
 * now += 1_001; // its lease runs out
 *
 * await using recovery = startRecovery({ store, workflows: [order], every: 60_000 });
 * const ended = new Promise((resolve) => recovery.addEventListener("recovered", resolve));
 * await recovery.sweep();
 * assert.equal(((await ended) as { outcome: string }).outcome, "completed");
 * assert.equal(await store.getRun("order-1"), undefined); // finished: nothing left
 * ```
 */
export function startRecovery(options: RecoveryOptions): Recovery {
  return new Recovery(options);
}

/** How a recovered run's rejection reads as an outcome. */
function outcomeOf(error: unknown): RecoveryOutcome {
  if (safeInstanceOf(error, RunOwnedError)) return "skipped";
  if (safeInstanceOf(error, OwnershipLostError)) return "lost";
  return causedByCancel(error) ? "cancelled" : "failed";
}

/** Whether a run's error is (or wraps) a cancellation. */
function causedByCancel(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== undefined; depth++) {
    if (categoryOf(current) === "cancelled") return true;
    current = safeInstanceOf(current, CanoError) ? causeOf(current) : undefined;
  }
  return false;
}

function causeOf(error: CanoError): unknown {
  try {
    return error.cause;
  } catch {
    return undefined;
  }
}

interface CheckedRecovery {
  store: RunStore;
  byName: Map<string, Map<number, AnyWorkflow>>;
  every: number;
  concurrency: number;
  signal: AbortSignal | undefined;
}

/** Validates the options; whatever a hostile value throws comes out as a ConfigurationError. */
function checkedOrTyped(given: RecoveryOptions): CheckedRecovery {
  try {
    return checkRecoveryOptions(given);
  } catch (error) {
    if (safeInstanceOf(error, CanoError)) throw error;
    throw new ConfigurationError(`startRecovery options could not be read: ${messageOf(error)}`, {
      cause: error,
    });
  }
}

function checkRecoveryOptions(given: RecoveryOptions): CheckedRecovery {
  const options = readOptions<RecoveryOptions>(given, "startRecovery options", [
    "store",
    "workflows",
    "every",
    "concurrency",
    "signal",
  ]);
  const { store: raw, workflows, every = 5_000, concurrency = 4, signal } = options;
  if (typeof raw !== "object" || raw === null || typeof raw.append !== "function") {
    throw new ConfigurationError(
      `startRecovery store must be a checkpoint store, received ${safeString(raw)}`,
    );
  }
  const store = runStoreFor(raw);
  if (!Array.isArray(workflows) || workflows.length === 0) {
    throw new ConfigurationError(
      `startRecovery workflows must be a non-empty array of workflows, received ${
        safeString(workflows)
      }`,
    );
  }
  const byName = new Map<string, Map<number, AnyWorkflow>>();
  for (const workflow of workflows) {
    const { name, version, store: own } = identify(workflow);
    if (name === "") {
      throw new ConfigurationError(
        'startRecovery needs named workflows: create each with new Workflow({ name: "…" })',
      );
    }
    if (own !== store) {
      throw new ConfigurationError(
        `Workflow "${name}" does not checkpoint to the store given to startRecovery; call ` +
          "withCheckpointStore(store) with that same store object",
      );
    }
    const versions = byName.get(name) ?? new Map<number, AnyWorkflow>();
    if (versions.has(version)) {
      throw new ConfigurationError(
        `startRecovery was given two definitions of workflow "${name}" version ${version}`,
      );
    }
    versions.set(version, workflow);
    byName.set(name, versions);
  }
  if (typeof every !== "number" || !(every >= MIN_EVERY && every <= MAX_EVERY)) {
    throw new ConfigurationError(
      `startRecovery every must be a number of milliseconds from ${MIN_EVERY} to ${MAX_EVERY}, ` +
        `received ${safeString(every)}`,
    );
  }
  if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > 1_000) {
    throw new ConfigurationError(
      `startRecovery concurrency must be an integer from 1 to 1000, received ${
        safeString(concurrency)
      }`,
    );
  }
  if (signal !== undefined && !safeInstanceOf(signal, AbortSignal)) {
    throw new ConfigurationError(
      `startRecovery signal must be an AbortSignal, received ${safeString(signal)}`,
    );
  }
  return { store, byName, every, concurrency, signal };
}

function identify(workflow: unknown): ReturnType<typeof workflowIdentity> {
  try {
    return workflowIdentity(workflow as Workflow<string, never, ResourceMap>);
  } catch (error) {
    throw new ConfigurationError(
      `startRecovery workflows must be Workflow instances, received ${safeString(workflow)} (${
        messageOf(error)
      })`,
    );
  }
}
