// What the reporter seam (reporter.ts) hands its consumers. Every lifecycle point of a run or a
// scheduler goes to point consumers (`RunObserver`, `FlowObserver`) as a method call with plain
// arguments, and every span-shaped stretch (a run, a state, an attempt, ...) to span consumers
// (`SpanConsumer`). The typed `EventTarget` events are one point consumer (event_consumer.ts);
// OpenTelemetry (`./otel`) and `logTo` are others. None of this is public API: the seam is
// internal, its consumers are what users attach.

import type { FlowSkipReason } from "../coordination/shared_flow.ts";
import { safeString } from "../describe.ts";
import { type CanoError, messageOf } from "../errors.ts";
import type { FlowEndInit, FlowErrorOperation, FlowRunSource } from "../scheduler/events.ts";
import type { FlowInfo, FlowStatus } from "../scheduler/flow_info.ts";

/** The run a point or span belongs to. The engine's per-run state satisfies it as it is. */
export interface RunScope {
  /** Unique per `orchestrate` / `resumeFrom` call. */
  readonly runId: string;
  /** The run's id in its store (`withWorkflowId` / `orchestrate({ id })`), when it has one. */
  readonly workflowId: string | undefined;
  /** The workflow's definition: its `name` (`""` when unnamed). */
  readonly def: { readonly name: string };
}

/** How a run's ownership changed: claimed in the store at its start, or lost mid-run. */
export type OwnershipChange = "claimed" | "lost";

/**
 * A consumer of a workflow's lifecycle points. Every method is optional and called inline, so
 * it must be cheap; a method that throws is reported to `console.error` and never reaches the
 * run. The order of calls is the order of `WorkflowEventMap` events (cano §10.1).
 */
export interface RunObserver {
  /** A run (orchestrate or resume) is starting. */
  runStart?(run: RunScope, initial: string): void;
  /** A run reached an exit state (`state`) or failed (`error`). */
  runEnd?(run: RunScope, state: string | undefined, error: unknown): void;
  /** A run parked in wait state `state` (it ends for now; a later resume goes on). */
  runParked?(run: RunScope, state: string): void;
  /** A state was entered (every state, including routers and the exit state). */
  stateEnter?(run: RunScope, state: string): void;
  /** A task's dispatch is starting (before its retry loop); split branches as `name[index]`. */
  taskStart?(run: RunScope, state: string, taskId: string): void;
  /** A task succeeded (after any retries). */
  taskSuccess?(run: RunScope, state: string, taskId: string): void;
  /** A task failed for good. */
  taskFailure?(run: RunScope, state: string, taskId: string, error: unknown): void;
  /** Attempt `attempt` (1-based) failed; the next follows after `delay` ms. */
  retry?(
    run: RunScope,
    state: string,
    taskId: string,
    attempt: number,
    delay: number,
    error: unknown,
  ): void;
  /** A circuit breaker rejected an attempt. */
  circuitOpen?(run: RunScope, state: string, taskId: string): void;
  /** A checkpoint row was durably appended. */
  checkpoint?(run: RunScope, sequence: number): void;
  /** A run was resumed from its log, whose last row is `sequence`. */
  resume?(run: RunScope, sequence: number): void;
  /** The total timeout tripped. */
  workflowTimeout?(run: RunScope, elapsed: number, limit: number): void;
  /** The run was cancelled in (or before entering) `state`. */
  cancelled?(run: RunScope, state: string): void;
  /** Clearing the log failed (best effort). */
  checkpointClearFailed?(run: RunScope, error: unknown): void;
  /** Resume dropped a row of an unknown state. */
  unknownResumeState?(run: RunScope, sequence: number, state: string): void;
  /** A compensation ran during a rollback. */
  compensate?(run: RunScope, taskId: string, ok: boolean, error: unknown): void;
  /** The run was claimed in its store, or this process lost it. */
  ownership?(run: RunScope, change: OwnershipChange): void;
}

/** How a scheduled run started. */
export type TickSource = FlowRunSource;

/**
 * A consumer of a scheduler's lifecycle points (besides its `cano.tick` spans), with the fields
 * of the matching scheduler events.
 */
export interface FlowObserver {
  /** A run of flow `id` started (`scheduledAt`: when it was due, for a timed start). */
  flowStart?(
    id: string,
    source: FlowRunSource,
    runCount: number,
    scheduledAt: Date | undefined,
  ): void;
  /** A run of flow `id` ended. */
  flowEnd?(id: string, end: FlowEndInit): void;
  /** A tick of flow `id` due at `scheduledAt` was skipped (coordinated scheduling). */
  flowSkip?(id: string, scheduledAt: Date, reason: FlowSkipReason): void;
  /** The coordination store failed for flow `id`. */
  flowError?(id: string, operation: FlowErrorOperation, error: CanoError): void;
  /** A flow's status changed from `previous` (`info` is the flow after the change). */
  flowStatus?(info: FlowInfo, previous: FlowStatus): void;
}

/** What a span is: `cano.run`, `cano.state`, `cano.attempt`, ... */
export type SpanKind = "run" | "state" | "attempt" | "branch" | "compensate" | "tick";

/**
 * What a span is about, fixed at its start. Workflow spans carry the run's fields; `tick` spans
 * the flow's.
 */
export interface SpanInfo {
  /** The kind. */
  readonly kind: SpanKind;
  /** The workflow's name (`""` when unnamed). */
  readonly workflow: string;
  /** The run (every kind but `tick`). */
  readonly runId?: string | undefined;
  /** The run's store id, when it has one. */
  readonly workflowId?: string | undefined;
  /** The state (`state`, `attempt`, `branch`, `compensate`). */
  readonly state?: string | undefined;
  /** The state's kind (`state` spans): single, router, split, compensatable, stepped, ... */
  readonly entryKind?: string | undefined;
  /** The task id (`attempt`, `branch`, `compensate`). */
  readonly taskId?: string | undefined;
  /** 1-based attempt (`attempt` spans). */
  readonly attempt?: number | undefined;
  /** The branch index (`branch` spans; and `attempt` spans inside one). */
  readonly branch?: number | undefined;
  /** The checkpoint sequence of the state's row (`state` spans of a checkpointed run). */
  readonly sequence?: number | undefined;
  /** Whether the run resumes a stored log (`run` spans). */
  readonly resumed?: boolean | undefined;
  /** The flow id (`tick` spans). */
  readonly flow?: string | undefined;
  /** How the tick's run started (`tick` spans). */
  readonly source?: TickSource | undefined;
  /** When the tick was due, epoch ms (`tick` spans). */
  readonly due?: number | undefined;
  /** How late the run started, in ms (`tick` spans). */
  readonly lateness?: number | undefined;
}

/** How a span ended. */
export interface SpanEnd {
  /** Whether the work it covers failed (then `error` says why). */
  readonly failed: boolean;
  /** The error, when it failed. */
  readonly error?: unknown;
  /**
   * What it ended with: a run's `completed` / `failed` / `parked` / `cancelled`, an attempt's
   * `completed` / `failed`, a branch's `ok` / `error` / `cancelled`.
   */
  readonly outcome: string;
  /** The state the run ended in, or the next state a state's task chose. */
  readonly next?: string | undefined;
}

/**
 * A consumer of spans. `start` returns the consumer's own handle (its span), given back to
 * `end` and `within`, and as the `parent` of child spans; `within` runs `fn` with the span as the
 * active context, so that spans the user's code opens (a `fetch`) are its children.
 */
export interface SpanConsumer {
  /** Opens a span; `parent` is this consumer's handle of the enclosing span, if any. */
  start(info: SpanInfo, parent: unknown): unknown;
  /** Closes a span opened by `start`. */
  end(span: unknown, end: SpanEnd): void;
  /** Runs `fn` with `span` as the active span. */
  within<T>(span: unknown, fn: () => T): T;
  /**
   * Whether anything under `span` is worth reporting to this consumer (default: yes). When no
   * consumer wants a run span's children, the run goes on untraced (and keeps its fast paths).
   */
  wantsChildren?(span: unknown): boolean;
}

/** Reports a consumer that threw: a broken consumer must never break a run. */
export function consumerFailed(what: string, error: unknown): void {
  try {
    console.error(
      `cano: an observability consumer threw in ${what}: ${messageOf(error)}`,
    );
  } catch {
    // A console that throws: nothing more can be done here.
  }
}

/** A value for an error message: a string in double quotes, anything else as `safeString`. */
export function shown(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(safeString(value)) : safeString(value);
}
