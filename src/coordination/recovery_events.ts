// The events of a recovery sweeper: a run taken over, a run's end, a run no definition matches,
// and a sweep that failed. Plain Event subclasses with plain fields, like the workflow events.

/**
 * How a recovered run ended: it reached an exit state, it failed (its record says why), it was
 * cancelled (a durable cancel request; its compensations ran), it was not this sweeper's to run
 * (`skipped`: another process claimed it first, finished it meanwhile, or it has not written its
 * first row yet), this process lost it mid-run (`lost`; its new owner carries on), or it woke
 * from a wait state and parked again in a later one (`waiting`).
 */
export type RecoveryOutcome =
  | "completed"
  | "failed"
  | "cancelled"
  | "skipped"
  | "lost"
  | "waiting";

/**
 * Dispatched (as `"recover"`) when a sweep resumes a run whose lease expired.
 *
 * @example Log takeovers
 * ```ts
 * import { RecoverEvent } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const event = new RecoverEvent("order-1", "order", 2);
 * assert.equal(`${event.workflow} v${event.version}: ${event.runId}`, "order v2: order-1");
 * ```
 */
export class RecoverEvent extends Event {
  /** The run id. */
  readonly runId: string;
  /** The run's workflow name. */
  readonly workflow: string;
  /** The run's workflow version. */
  readonly version: number;

  /**
   * Creates the event.
   *
   * @param runId The run id.
   * @param workflow The workflow name.
   * @param version The workflow version.
   */
  constructor(runId: string, workflow: string, version: number) {
    super("recover");
    this.runId = runId;
    this.workflow = workflow;
    this.version = version;
  }
}

/**
 * Dispatched (as `"recovered"`) when a run a sweep resumed ends.
 *
 * @example Count failures
 * ```ts
 * import { RecoveredEvent } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const event = new RecoveredEvent("order-1", "order", "failed", new Error("card declined"));
 * assert.equal(event.outcome, "failed");
 * ```
 */
export class RecoveredEvent extends Event {
  /** The run id. */
  readonly runId: string;
  /** The run's workflow name. */
  readonly workflow: string;
  /** How it ended. */
  readonly outcome: RecoveryOutcome;
  /** What it ended with, unless it completed. */
  readonly error: unknown;

  /**
   * Creates the event.
   *
   * @param runId The run id.
   * @param workflow The workflow name.
   * @param outcome How it ended.
   * @param error What it ended with.
   */
  constructor(runId: string, workflow: string, outcome: RecoveryOutcome, error?: unknown) {
    super("recovered");
    this.runId = runId;
    this.workflow = workflow;
    this.outcome = outcome;
    this.error = error;
  }
}

/**
 * Dispatched (as `"unknownworkflow"`) once per run (per process) when an expired run's workflow
 * name or version matches none of the sweeper's definitions. The run is left alone, never
 * guessed; the same message is noted on its record as `RunInfo.error`.
 *
 * @example Alert on a missing definition
 * ```ts
 * import { UnknownWorkflowEvent } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const event = new UnknownWorkflowEvent("order-1", "order", 3, "no definition of version 3");
 * assert.match(event.reason, /version 3/);
 * ```
 */
export class UnknownWorkflowEvent extends Event {
  /** The run id. */
  readonly runId: string;
  /** The run's workflow name (`""` when unnamed). */
  readonly workflow: string;
  /** The run's workflow version. */
  readonly version: number;
  /** What is missing. */
  readonly reason: string;

  /**
   * Creates the event.
   *
   * @param runId The run id.
   * @param workflow The workflow name.
   * @param version The workflow version.
   * @param reason What is missing.
   */
  constructor(runId: string, workflow: string, version: number, reason: string) {
    super("unknownworkflow");
    this.runId = runId;
    this.workflow = workflow;
    this.version = version;
    this.reason = reason;
  }
}

/**
 * Dispatched (as `"sweeperror"`) when a sweep could not list or note runs (a store failure). The
 * next sweep tries again.
 *
 * @example Report store trouble
 * ```ts
 * import { SweepErrorEvent } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new SweepErrorEvent(new Error("database is locked")).type, "sweeperror");
 * ```
 */
export class SweepErrorEvent extends Event {
  /** What failed. */
  readonly error: unknown;

  /**
   * Creates the event.
   *
   * @param error What failed.
   */
  constructor(error: unknown) {
    super("sweeperror");
    this.error = error;
  }
}

/** The events of a `Recovery` handle (from `startRecovery`), by type. */
export interface RecoveryEventMap {
  /** A sweep resumes a run. */
  recover: RecoverEvent;
  /** A resumed run ended. */
  recovered: RecoveredEvent;
  /** An expired run matches no definition. */
  unknownworkflow: UnknownWorkflowEvent;
  /** A sweep failed. */
  sweeperror: SweepErrorEvent;
}
