// The typed `EventTarget` events as one consumer of the reporter seam: each lifecycle point
// becomes the workflow (or scheduler) event of the same name, dispatched on the workflow (the
// running scheduler) — built only when a listener for its type is attached, which the reporter
// asks first (`listening`).

import type { SafeEventTarget } from "../events.ts";
import {
  FlowEndEvent,
  type FlowEndInit,
  FlowErrorEvent,
  type FlowErrorOperation,
  type FlowRunSource,
  FlowSkipEvent,
  FlowStartEvent,
  FlowStatusEvent,
  type RunningSchedulerEventMap,
} from "../scheduler/events.ts";
import type { FlowSkipReason } from "../coordination/shared_flow.ts";
import type { FlowInfo, FlowStatus } from "../scheduler/flow_info.ts";
import type { CanoError } from "../errors.ts";
import {
  CancelledEvent,
  CheckpointClearFailedEvent,
  CheckpointEvent,
  CircuitOpenEvent,
  CompensateEvent,
  ResumeEvent,
  RetryEvent,
  RunEndEvent,
  RunStartEvent,
  StateEnterEvent,
  TaskFailureEvent,
  TaskStartEvent,
  TaskSuccessEvent,
  UnknownResumeStateEvent,
  type WorkflowEventMap,
  WorkflowTimeoutEvent,
} from "../workflow/events.ts";
import type { FlowObserver, RunObserver, RunScope } from "./consumer.ts";

/** A workflow's events: the point consumer every workflow has. */
export class WorkflowEvents implements RunObserver {
  readonly #target: SafeEventTarget<WorkflowEventMap>;

  /** @param target The workflow. */
  constructor(target: SafeEventTarget<WorkflowEventMap>) {
    this.#target = target;
  }

  /** Whether a listener for `type` is attached (events nobody listens to are never built). */
  listening(type: keyof WorkflowEventMap): boolean {
    return this.#target.hasListener(type);
  }

  runStart(run: RunScope, initial: string): void {
    this.#target.dispatchEvent(
      new RunStartEvent({ runId: run.runId, workflowId: run.workflowId, initial }),
    );
  }

  runEnd(run: RunScope, state: string | undefined, error: unknown): void {
    this.#target.dispatchEvent(
      new RunEndEvent(
        state === undefined
          ? { runId: run.runId, workflowId: run.workflowId, state, error }
          : { runId: run.runId, workflowId: run.workflowId, state },
      ),
    );
  }

  stateEnter(run: RunScope, state: string): void {
    this.#target.dispatchEvent(
      new StateEnterEvent({ runId: run.runId, workflowId: run.workflowId, state }),
    );
  }

  taskStart(run: RunScope, state: string, taskId: string): void {
    this.#target.dispatchEvent(
      new TaskStartEvent({ runId: run.runId, workflowId: run.workflowId, state, taskId }),
    );
  }

  taskSuccess(run: RunScope, state: string, taskId: string): void {
    this.#target.dispatchEvent(
      new TaskSuccessEvent({ runId: run.runId, workflowId: run.workflowId, state, taskId }),
    );
  }

  taskFailure(run: RunScope, state: string, taskId: string, error: unknown): void {
    this.#target.dispatchEvent(
      new TaskFailureEvent({ runId: run.runId, workflowId: run.workflowId, state, taskId, error }),
    );
  }

  retry(
    run: RunScope,
    state: string,
    taskId: string,
    attempt: number,
    delay: number,
    error: unknown,
  ): void {
    this.#target.dispatchEvent(
      new RetryEvent({
        runId: run.runId,
        workflowId: run.workflowId,
        state,
        taskId,
        attempt,
        delay,
        error,
      }),
    );
  }

  circuitOpen(run: RunScope, state: string, taskId: string): void {
    this.#target.dispatchEvent(
      new CircuitOpenEvent({ runId: run.runId, workflowId: run.workflowId, state, taskId }),
    );
  }

  checkpoint(run: RunScope, sequence: number): void {
    this.#target.dispatchEvent(
      new CheckpointEvent({ runId: run.runId, workflowId: run.workflowId, sequence }),
    );
  }

  resume(run: RunScope, sequence: number): void {
    this.#target.dispatchEvent(
      new ResumeEvent({ runId: run.runId, workflowId: run.workflowId, sequence }),
    );
  }

  workflowTimeout(run: RunScope, elapsed: number, limit: number): void {
    this.#target.dispatchEvent(
      new WorkflowTimeoutEvent({ runId: run.runId, workflowId: run.workflowId, elapsed, limit }),
    );
  }

  cancelled(run: RunScope, state: string): void {
    this.#target.dispatchEvent(
      new CancelledEvent({ runId: run.runId, workflowId: run.workflowId, state }),
    );
  }

  checkpointClearFailed(run: RunScope, error: unknown): void {
    this.#target.dispatchEvent(
      new CheckpointClearFailedEvent({ runId: run.runId, workflowId: run.workflowId, error }),
    );
  }

  unknownResumeState(run: RunScope, sequence: number, state: string): void {
    this.#target.dispatchEvent(
      new UnknownResumeStateEvent({
        runId: run.runId,
        workflowId: run.workflowId,
        sequence,
        state,
      }),
    );
  }

  compensate(run: RunScope, taskId: string, ok: boolean, error: unknown): void {
    this.#target.dispatchEvent(
      new CompensateEvent({ runId: run.runId, workflowId: run.workflowId, taskId, ok, error }),
    );
  }
}

/** A running scheduler's events. */
export class SchedulerEvents implements FlowObserver {
  readonly #target: SafeEventTarget<RunningSchedulerEventMap>;

  /** @param target The running scheduler. */
  constructor(target: SafeEventTarget<RunningSchedulerEventMap>) {
    this.#target = target;
  }

  /** Whether a listener for `type` is attached. */
  listening(type: keyof RunningSchedulerEventMap): boolean {
    return this.#target.hasListener(type);
  }

  flowStart(
    id: string,
    source: FlowRunSource,
    runCount: number,
    scheduledAt: Date | undefined,
  ): void {
    this.#target.dispatchEvent(new FlowStartEvent(id, source, runCount, scheduledAt));
  }

  flowEnd(id: string, end: FlowEndInit): void {
    this.#target.dispatchEvent(new FlowEndEvent(id, end));
  }

  flowSkip(id: string, scheduledAt: Date, reason: FlowSkipReason): void {
    this.#target.dispatchEvent(new FlowSkipEvent(id, scheduledAt, reason));
  }

  flowError(id: string, operation: FlowErrorOperation, error: CanoError): void {
    this.#target.dispatchEvent(new FlowErrorEvent(id, operation, error));
  }

  flowStatus(info: FlowInfo, previous: FlowStatus): void {
    this.#target.dispatchEvent(new FlowStatusEvent(info, previous));
  }
}
