// Workflow event classes. Each is an `Event` subclass whose fields are ordinary properties,
// carrying the run id (and the workflow id when one is set) so listeners can correlate runs. They
// are `SafeEvent`s: a workflow delivers them without Deno's native dispatch (see SafeEvent).

import { SafeEvent } from "../events.ts";

/** Fields every workflow event carries. */
export interface WorkflowEventInit {
  /** Unique per `orchestrate`/`resumeFrom` call. */
  runId: string;
  /** The workflow id, when one is set. */
  workflowId?: string | undefined;
}

/**
 * The base of every workflow event.
 *
 * @example Listen to any workflow event
 * ```ts
 * import { WorkflowEvent } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const event = new WorkflowEvent("custom", { runId: "r1", workflowId: "order-1" });
 * assert.equal(event.runId, "r1");
 * assert.equal(event.workflowId, "order-1");
 * ```
 */
export class WorkflowEvent extends SafeEvent {
  /** Unique per `orchestrate`/`resumeFrom` call. */
  readonly runId: string;
  /** The workflow id, when one is set. */
  readonly workflowId: string | undefined;

  /**
   * Creates the event.
   *
   * @param type The event type.
   * @param init The run and workflow ids.
   */
  constructor(type: string, init: WorkflowEventInit) {
    super(type);
    this.runId = init.runId;
    this.workflowId = init.workflowId;
  }
}

/** The fields of a {@link StateEnterEvent}. */
export interface StateEnterEventInit<S extends string = string> extends WorkflowEventInit {
  /** The state entered. */
  state: S;
}

/**
 * `stateenter`: A state was entered (every state, including routers and the exit state).
 *
 * @example Build and read the event
 * ```ts
 * import { StateEnterEvent } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const event = new StateEnterEvent({ runId: "r1", state: "fetch" });
 * assert.equal(event.type, "stateenter");
 * assert.equal(event.state, "fetch");
 * ```
 */
export class StateEnterEvent<S extends string = string> extends WorkflowEvent {
  /** The state entered. */
  readonly state: S;

  /**
   * Creates the event.
   *
   * @param init The event's fields.
   */
  constructor(init: StateEnterEventInit<S>) {
    super("stateenter", init);
    this.state = init.state;
  }
}

/** The fields of a {@link TaskStartEvent}. */
export interface TaskStartEventInit<S extends string = string> extends WorkflowEventInit {
  /** The state being executed. */
  state: S;
  /** The task id (its name; `name[index]` for split branches). */
  taskId: string;
}

/**
 * `taskstart`: A task's dispatch is starting (before its retry loop).
 *
 * @example Build and read the event
 * ```ts
 * import { TaskStartEvent } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const event = new TaskStartEvent({ runId: "r1", state: "fetch", taskId: "fetch" });
 * assert.equal(event.type, "taskstart");
 * assert.equal(event.state, "fetch");
 * ```
 */
export class TaskStartEvent<S extends string = string> extends WorkflowEvent {
  /** The state being executed. */
  readonly state: S;
  /** The task id (its name; `name[index]` for split branches). */
  readonly taskId: string;

  /**
   * Creates the event.
   *
   * @param init The event's fields.
   */
  constructor(init: TaskStartEventInit<S>) {
    super("taskstart", init);
    this.state = init.state;
    this.taskId = init.taskId;
  }
}

/** The fields of a {@link TaskSuccessEvent}. */
export interface TaskSuccessEventInit<S extends string = string> extends WorkflowEventInit {
  /** The state being executed. */
  state: S;
  /** The task id. */
  taskId: string;
}

/**
 * `tasksuccess`: A task succeeded (after any retries).
 *
 * @example Build and read the event
 * ```ts
 * import { TaskSuccessEvent } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const event = new TaskSuccessEvent({ runId: "r1", state: "fetch", taskId: "fetch" });
 * assert.equal(event.type, "tasksuccess");
 * assert.equal(event.state, "fetch");
 * ```
 */
export class TaskSuccessEvent<S extends string = string> extends WorkflowEvent {
  /** The state being executed. */
  readonly state: S;
  /** The task id. */
  readonly taskId: string;

  /**
   * Creates the event.
   *
   * @param init The event's fields.
   */
  constructor(init: TaskSuccessEventInit<S>) {
    super("tasksuccess", init);
    this.state = init.state;
    this.taskId = init.taskId;
  }
}

/** The fields of a {@link TaskFailureEvent}. */
export interface TaskFailureEventInit<S extends string = string> extends WorkflowEventInit {
  /** The state being executed. */
  state: S;
  /** The task id. */
  taskId: string;
  /** The final error. */
  error?: unknown;
}

/**
 * `taskfailure`: A task failed for good (retries exhausted, timeout, cancel, total timeout, ...).
 *
 * @example Build and read the event
 * ```ts
 * import { TaskFailureEvent } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const event = new TaskFailureEvent({ runId: "r1", state: "fetch", taskId: "fetch", error: new Error("boom") });
 * assert.equal(event.type, "taskfailure");
 * assert.equal(event.state, "fetch");
 * ```
 */
export class TaskFailureEvent<S extends string = string> extends WorkflowEvent {
  /** The state being executed. */
  readonly state: S;
  /** The task id. */
  readonly taskId: string;
  /** The final error. */
  readonly error: unknown;

  /**
   * Creates the event.
   *
   * @param init The event's fields.
   */
  constructor(init: TaskFailureEventInit<S>) {
    super("taskfailure", init);
    this.state = init.state;
    this.taskId = init.taskId;
    this.error = init.error;
  }
}

/** The fields of a {@link RetryEvent}. */
export interface RetryEventInit<S extends string = string> extends WorkflowEventInit {
  /** The state being executed. */
  state: S;
  /** The task id. */
  taskId: string;
  /** The 1-based number of the attempt that just failed. */
  attempt: number;
  /** Milliseconds until the next attempt. */
  delay: number;
  /** The attempt's error. */
  error?: unknown;
}

/**
 * `retry`: An attempt failed and another one follows after `delay` ms.
 *
 * @example Build and read the event
 * ```ts
 * import { RetryEvent } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const event = new RetryEvent({ runId: "r1", state: "fetch", taskId: "fetch", attempt: 1, delay: 100, error: new Error("flaky") });
 * assert.equal(event.type, "retry");
 * assert.equal(event.state, "fetch");
 * ```
 */
export class RetryEvent<S extends string = string> extends WorkflowEvent {
  /** The state being executed. */
  readonly state: S;
  /** The task id. */
  readonly taskId: string;
  /** The 1-based number of the attempt that just failed. */
  readonly attempt: number;
  /** Milliseconds until the next attempt. */
  readonly delay: number;
  /** The attempt's error. */
  readonly error: unknown;

  /**
   * Creates the event.
   *
   * @param init The event's fields.
   */
  constructor(init: RetryEventInit<S>) {
    super("retry", init);
    this.state = init.state;
    this.taskId = init.taskId;
    this.attempt = init.attempt;
    this.delay = init.delay;
    this.error = init.error;
  }
}

/** The fields of a {@link CircuitOpenEvent}. */
export interface CircuitOpenEventInit<S extends string = string> extends WorkflowEventInit {
  /** The state being executed. */
  state: S;
  /** The task id. */
  taskId: string;
}

/**
 * `circuitopen`: A circuit breaker rejected an attempt.
 *
 * @example Build and read the event
 * ```ts
 * import { CircuitOpenEvent } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const event = new CircuitOpenEvent({ runId: "r1", state: "fetch", taskId: "fetch" });
 * assert.equal(event.type, "circuitopen");
 * assert.equal(event.state, "fetch");
 * ```
 */
export class CircuitOpenEvent<S extends string = string> extends WorkflowEvent {
  /** The state being executed. */
  readonly state: S;
  /** The task id. */
  readonly taskId: string;

  /**
   * Creates the event.
   *
   * @param init The event's fields.
   */
  constructor(init: CircuitOpenEventInit<S>) {
    super("circuitopen", init);
    this.state = init.state;
    this.taskId = init.taskId;
  }
}

/** The fields of a {@link CheckpointEvent}. */
export interface CheckpointEventInit extends WorkflowEventInit {
  /** The row's sequence number. */
  sequence: number;
}

/**
 * `checkpoint`: A checkpoint row was durably appended.
 *
 * @example Build and read the event
 * ```ts
 * import { CheckpointEvent } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const event = new CheckpointEvent({ runId: "r1", sequence: 0 });
 * assert.equal(event.type, "checkpoint");
 * assert.equal(event.sequence, 0);
 * ```
 */
export class CheckpointEvent extends WorkflowEvent {
  /** The row's sequence number. */
  readonly sequence: number;

  /**
   * Creates the event.
   *
   * @param init The event's fields.
   */
  constructor(init: CheckpointEventInit) {
    super("checkpoint", init);
    this.sequence = init.sequence;
  }
}

/** The fields of a {@link ResumeEvent}. */
export interface ResumeEventInit extends WorkflowEventInit {
  /** The sequence of the last stored row. */
  sequence: number;
}

/**
 * `resume`: A run was resumed from its checkpoint log.
 *
 * @example Build and read the event
 * ```ts
 * import { ResumeEvent } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const event = new ResumeEvent({ runId: "r1", sequence: 3 });
 * assert.equal(event.type, "resume");
 * assert.equal(event.sequence, 3);
 * ```
 */
export class ResumeEvent extends WorkflowEvent {
  /** The sequence of the last stored row. */
  readonly sequence: number;

  /**
   * Creates the event.
   *
   * @param init The event's fields.
   */
  constructor(init: ResumeEventInit) {
    super("resume", init);
    this.sequence = init.sequence;
  }
}

/** The fields of a {@link WorkflowTimeoutEvent}. */
export interface WorkflowTimeoutEventInit extends WorkflowEventInit {
  /** Milliseconds elapsed. */
  elapsed: number;
  /** The configured budget in milliseconds. */
  limit: number;
}

/**
 * `workflowtimeout`: The total timeout tripped (once per run, before any rollback).
 *
 * @example Build and read the event
 * ```ts
 * import { WorkflowTimeoutEvent } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const event = new WorkflowTimeoutEvent({ runId: "r1", elapsed: 1001, limit: 1000 });
 * assert.equal(event.type, "workflowtimeout");
 * assert.equal(event.elapsed, 1001);
 * ```
 */
export class WorkflowTimeoutEvent extends WorkflowEvent {
  /** Milliseconds elapsed. */
  readonly elapsed: number;
  /** The configured budget in milliseconds. */
  readonly limit: number;

  /**
   * Creates the event.
   *
   * @param init The event's fields.
   */
  constructor(init: WorkflowTimeoutEventInit) {
    super("workflowtimeout", init);
    this.elapsed = init.elapsed;
    this.limit = init.limit;
  }
}

/** The fields of a {@link CancelledEvent}. */
export interface CancelledEventInit<S extends string = string> extends WorkflowEventInit {
  /** The state being executed or about to be entered. */
  state: S;
}

/**
 * `cancelled`: The run was cancelled (exactly once per run, before any rollback).
 *
 * @example Build and read the event
 * ```ts
 * import { CancelledEvent } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const event = new CancelledEvent({ runId: "r1", state: "fetch" });
 * assert.equal(event.type, "cancelled");
 * assert.equal(event.state, "fetch");
 * ```
 */
export class CancelledEvent<S extends string = string> extends WorkflowEvent {
  /** The state being executed or about to be entered. */
  readonly state: S;

  /**
   * Creates the event.
   *
   * @param init The event's fields.
   */
  constructor(init: CancelledEventInit<S>) {
    super("cancelled", init);
    this.state = init.state;
  }
}

/** The fields of a {@link CheckpointClearFailedEvent}. */
export interface CheckpointClearFailedEventInit extends WorkflowEventInit {
  /** The store's error. */
  error?: unknown;
}

/**
 * `checkpointclearfailed`: Clearing the checkpoint log failed (best effort: the run's result is unchanged).
 *
 * @example Build and read the event
 * ```ts
 * import { CheckpointClearFailedEvent } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const event = new CheckpointClearFailedEvent({ runId: "r1", error: new Error("disk full") });
 * assert.equal(event.type, "checkpointclearfailed");
 * assert.ok(event.error instanceof Error);
 * ```
 */
export class CheckpointClearFailedEvent extends WorkflowEvent {
  /** The store's error. */
  readonly error: unknown;

  /**
   * Creates the event.
   *
   * @param init The event's fields.
   */
  constructor(init: CheckpointClearFailedEventInit) {
    super("checkpointclearfailed", init);
    this.error = init.error;
  }
}

/** The fields of a {@link UnknownResumeStateEvent}. */
export interface UnknownResumeStateEventInit extends WorkflowEventInit {
  /** The row's sequence number. */
  sequence: number;
  /** The unknown state label. */
  state: string;
}

/**
 * `unknownresumestate`: Resume found a row whose state is no longer registered and dropped it from the path.
 *
 * @example Build and read the event
 * ```ts
 * import { UnknownResumeStateEvent } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const event = new UnknownResumeStateEvent({ runId: "r1", sequence: 1, state: "legacy" });
 * assert.equal(event.type, "unknownresumestate");
 * assert.equal(event.sequence, 1);
 * ```
 */
export class UnknownResumeStateEvent extends WorkflowEvent {
  /** The row's sequence number. */
  readonly sequence: number;
  /** The unknown state label. */
  readonly state: string;

  /**
   * Creates the event.
   *
   * @param init The event's fields.
   */
  constructor(init: UnknownResumeStateEventInit) {
    super("unknownresumestate", init);
    this.sequence = init.sequence;
    this.state = init.state;
  }
}

/** The fields of a {@link RunStartEvent}. */
export interface RunStartEventInit<S extends string = string> extends WorkflowEventInit {
  /** The state the run starts in. */
  initial: S;
}

/**
 * `runstart`: A run (orchestrate or resume) is starting, after validation and resource setup.
 *
 * @example Build and read the event
 * ```ts
 * import { RunStartEvent } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const event = new RunStartEvent({ runId: "r1", initial: "fetch" });
 * assert.equal(event.type, "runstart");
 * assert.equal(event.initial, "fetch");
 * ```
 */
export class RunStartEvent<S extends string = string> extends WorkflowEvent {
  /** The state the run starts in. */
  readonly initial: S;

  /**
   * Creates the event.
   *
   * @param init The event's fields.
   */
  constructor(init: RunStartEventInit<S>) {
    super("runstart", init);
    this.initial = init.initial;
  }
}

/** The fields of a {@link RunEndEvent}. */
export interface RunEndEventInit<S extends string = string> extends WorkflowEventInit {
  /** The exit state reached, on success. */
  state?: S | undefined;
  /** The error thrown, on failure. */
  error?: unknown;
}

/**
 * `runend`: A run ended: `state` is set on success, `error` on failure.
 *
 * @example Build and read the event
 * ```ts
 * import { RunEndEvent } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const event = new RunEndEvent({ runId: "r1", state: "done", error: undefined });
 * assert.equal(event.type, "runend");
 * assert.equal(event.state, "done");
 * ```
 */
export class RunEndEvent<S extends string = string> extends WorkflowEvent {
  /** The exit state reached, on success. */
  readonly state: S | undefined;
  /** The error thrown, on failure. */
  readonly error: unknown;

  /**
   * Creates the event.
   *
   * @param init The event's fields.
   */
  constructor(init: RunEndEventInit<S>) {
    super("runend", init);
    this.state = init.state;
    this.error = init.error;
  }
}

/** The fields of a {@link CompensateEvent}. */
export interface CompensateEventInit extends WorkflowEventInit {
  /** The compensation-stack key. */
  taskId: string;
  /** Whether it succeeded. */
  ok: boolean;
  /** Its error, when it failed. */
  error?: unknown;
}

/**
 * `compensate`: A compensation ran during a saga rollback.
 *
 * @example Build and read the event
 * ```ts
 * import { CompensateEvent } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const event = new CompensateEvent({ runId: "r1", taskId: "charge", ok: true, error: undefined });
 * assert.equal(event.type, "compensate");
 * assert.equal(event.taskId, "charge");
 * ```
 */
export class CompensateEvent extends WorkflowEvent {
  /** The compensation-stack key. */
  readonly taskId: string;
  /** Whether it succeeded. */
  readonly ok: boolean;
  /** Its error, when it failed. */
  readonly error: unknown;

  /**
   * Creates the event.
   *
   * @param init The event's fields.
   */
  constructor(init: CompensateEventInit) {
    super("compensate", init);
    this.taskId = init.taskId;
    this.ok = init.ok;
    this.error = init.error;
  }
}

/** Workflow event type → event class, for typed `addEventListener`. */
export interface WorkflowEventMap<S extends string = string> {
  /** A state was entered (every state, including routers and the exit state). */
  stateenter: StateEnterEvent<S>;
  /** A task's dispatch is starting (before its retry loop). */
  taskstart: TaskStartEvent<S>;
  /** A task succeeded (after any retries). */
  tasksuccess: TaskSuccessEvent<S>;
  /** A task failed for good (retries exhausted, timeout, cancel, total timeout, ...). */
  taskfailure: TaskFailureEvent<S>;
  /** An attempt failed and another one follows after `delay` ms. */
  retry: RetryEvent<S>;
  /** A circuit breaker rejected an attempt. */
  circuitopen: CircuitOpenEvent<S>;
  /** A checkpoint row was durably appended. */
  checkpoint: CheckpointEvent;
  /** A run was resumed from its checkpoint log. */
  resume: ResumeEvent;
  /** The total timeout tripped (once per run, before any rollback). */
  workflowtimeout: WorkflowTimeoutEvent;
  /** The run was cancelled (exactly once per run, before any rollback). */
  cancelled: CancelledEvent<S>;
  /** Clearing the checkpoint log failed (best effort: the run's result is unchanged). */
  checkpointclearfailed: CheckpointClearFailedEvent;
  /** Resume found a row whose state is no longer registered and dropped it from the path. */
  unknownresumestate: UnknownResumeStateEvent;
  /** A run (orchestrate or resume) is starting, after validation and resource setup. */
  runstart: RunStartEvent<S>;
  /** A run ended: `state` is set on success, `error` on failure. */
  runend: RunEndEvent<S>;
  /** A compensation ran during a saga rollback. */
  compensate: CompensateEvent;
}
