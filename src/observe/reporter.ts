// The reporter seam: one object per workflow (and one per scheduler) through which every
// lifecycle point and span of its runs goes. Its consumers are the workflow's typed events
// (always there, see event_consumer.ts) and whatever is attached — OpenTelemetry (`./otel`),
// `logTo`. The engine asks it cheap questions first (`listens(type)`: is anyone listening for
// this point; `spans()`: does anyone take spans), so that a run nobody observes builds no event,
// no span and no argument object, and keeps its fast paths.

import type { CanoError } from "../errors.ts";
import type { SafeEventTarget } from "../events.ts";
import type { FlowSkipReason } from "../coordination/shared_flow.ts";
import type {
  FlowEndInit,
  FlowErrorOperation,
  FlowRunSource,
  RunningSchedulerEventMap,
} from "../scheduler/events.ts";
import type { FlowInfo, FlowStatus } from "../scheduler/flow_info.ts";
import type { WorkflowEventMap } from "../workflow/events.ts";
import {
  consumerFailed,
  type FlowObserver,
  type OwnershipChange,
  type RunObserver,
  type RunScope,
  type SpanConsumer,
} from "./consumer.ts";
import { SchedulerEvents, WorkflowEvents } from "./event_consumer.ts";
import { Spans } from "./spans.ts";

/** What can be attached to a reporter: point consumers, span consumers, or both. */
export interface Consumer<O> {
  /** Gets every lifecycle point. */
  readonly observer?: O | undefined;
  /** Gets every span. */
  readonly spans?: SpanConsumer | undefined;
}

const NONE: readonly never[] = Object.freeze([]);

/** What both reporters share: the attached consumers, copied on write. */
class Attachments<O> {
  /** The attached point consumers (a new array on every change: safe to iterate mid-change). */
  observers: readonly O[] = NONE;
  readonly #changed: () => void;

  /** @param changed Called after every attach and detach. */
  constructor(changed: () => void = () => {}) {
    this.#changed = changed;
  }
  #spanConsumers: readonly SpanConsumer[] = NONE;
  /** The span snapshot runs take, rebuilt on change; `undefined` with no span consumer. */
  #spans: Spans | undefined = undefined;

  /** The span consumers as of now, or `undefined` when there are none. */
  spans(): Spans | undefined {
    return this.#spans;
  }

  /** Attaches `consumer`; the function returned detaches it (once; later calls do nothing). */
  attach(consumer: Consumer<O>): () => void {
    const { observer, spans } = consumer;
    if (observer !== undefined) this.observers = [...this.observers, observer];
    if (spans !== undefined) this.#setSpans([...this.#spanConsumers, spans]);
    this.#changed();
    let attached = true;
    return () => {
      if (!attached) return;
      attached = false;
      if (observer !== undefined) this.observers = without(this.observers, observer);
      if (spans !== undefined) this.#setSpans(without(this.#spanConsumers, spans));
      this.#changed();
    };
  }

  #setSpans(consumers: readonly SpanConsumer[]): void {
    this.#spanConsumers = consumers;
    this.#spans = consumers.length === 0 ? undefined : new Spans(consumers);
  }
}

function without<T>(list: readonly T[], item: T): readonly T[] {
  const index = list.indexOf(item);
  return index < 0 ? list : [...list.slice(0, index), ...list.slice(index + 1)];
}

/** Calls `method` of every observer that has it, isolating each one's failure. */
function fan<O, K extends keyof O>(
  observers: readonly O[],
  method: K,
  args: unknown[],
): void {
  for (const observer of observers) {
    const fn = observer[method];
    if (typeof fn !== "function") continue;
    try {
      fn.apply(observer, args);
    } catch (error) {
      consumerFailed(String(method), error);
    }
  }
}

/**
 * A workflow's reporter. Every method is a lifecycle point; it goes to the workflow's events
 * when a listener for its type is attached, then to every attached observer. A point method is
 * called only right after {@link WorkflowReporter.listens} said yes for its type (so that an
 * unobserved point builds not even its arguments).
 */
export class WorkflowReporter {
  /** The typed events, the consumer every workflow has. */
  readonly events: WorkflowEvents;
  readonly #attached = new Attachments<RunObserver>(() => {
    this.#observers = this.#attached.observers;
  });
  /** The attached observers (a copy of the attachments', read on every point). */
  #observers: readonly RunObserver[] = NONE;

  /** The workflow, whose listeners the events consumer serves (read here on every point). */
  readonly #target: SafeEventTarget<WorkflowEventMap>;

  /** @param target The workflow. */
  constructor(target: SafeEventTarget<WorkflowEventMap>) {
    this.#target = target;
    this.events = new WorkflowEvents(target);
  }

  /** Whether any consumer takes point `type` (one with an event) now. */
  listens(type: keyof WorkflowEventMap): boolean {
    return this.#observers.length !== 0 || this.#target.hasListener(type);
  }

  /** Whether any observer is attached: the points without an event (`runParked`, `ownership`). */
  observed(): boolean {
    return this.#observers.length !== 0;
  }

  /** The span consumers a run starting now reports to, or `undefined` when there are none. */
  spans(): Spans | undefined {
    return this.#attached.spans();
  }

  /** Attaches point and span consumers; returns the function that detaches them. */
  attach(consumer: Consumer<RunObserver>): () => void {
    return this.#attached.attach(consumer);
  }

  runStart(run: RunScope, initial: string): void {
    const observers = this.#observers;
    // Called after `listens("runstart")`: with no observer, the events are who listens.
    if (observers.length === 0) return this.events.runStart(run, initial);
    if (this.events.listening("runstart")) this.events.runStart(run, initial);
    fan(observers, "runStart", [run, initial]);
  }

  runEnd(run: RunScope, state: string | undefined, error: unknown): void {
    const observers = this.#observers;
    // Called after `listens("runend")`: with no observer, the events are who listens.
    if (observers.length === 0) return this.events.runEnd(run, state, error);
    if (this.events.listening("runend")) this.events.runEnd(run, state, error);
    fan(observers, "runEnd", [run, state, error]);
  }

  stateEnter(run: RunScope, state: string): void {
    const observers = this.#observers;
    // Called after `listens("stateenter")`: with no observer, the events are who listens.
    if (observers.length === 0) return this.events.stateEnter(run, state);
    if (this.events.listening("stateenter")) this.events.stateEnter(run, state);
    fan(observers, "stateEnter", [run, state]);
  }

  taskStart(run: RunScope, state: string, taskId: string): void {
    const observers = this.#observers;
    // Called after `listens("taskstart")`: with no observer, the events are who listens.
    if (observers.length === 0) return this.events.taskStart(run, state, taskId);
    if (this.events.listening("taskstart")) this.events.taskStart(run, state, taskId);
    fan(observers, "taskStart", [run, state, taskId]);
  }

  taskSuccess(run: RunScope, state: string, taskId: string): void {
    const observers = this.#observers;
    // Called after `listens("tasksuccess")`: with no observer, the events are who listens.
    if (observers.length === 0) return this.events.taskSuccess(run, state, taskId);
    if (this.events.listening("tasksuccess")) this.events.taskSuccess(run, state, taskId);
    fan(observers, "taskSuccess", [run, state, taskId]);
  }

  taskFailure(run: RunScope, state: string, taskId: string, error: unknown): void {
    const observers = this.#observers;
    // Called after `listens("taskfailure")`: with no observer, the events are who listens.
    if (observers.length === 0) return this.events.taskFailure(run, state, taskId, error);
    if (this.events.listening("taskfailure")) this.events.taskFailure(run, state, taskId, error);
    fan(observers, "taskFailure", [run, state, taskId, error]);
  }

  retry(
    run: RunScope,
    state: string,
    taskId: string,
    attempt: number,
    delay: number,
    error: unknown,
  ): void {
    const observers = this.#observers;
    // Called after `listens("retry")`: with no observer, the events are who listens.
    if (observers.length === 0) return this.events.retry(run, state, taskId, attempt, delay, error);
    if (this.events.listening("retry")) {
      this.events.retry(run, state, taskId, attempt, delay, error);
    }
    fan(observers, "retry", [run, state, taskId, attempt, delay, error]);
  }

  circuitOpen(run: RunScope, state: string, taskId: string): void {
    const observers = this.#observers;
    // Called after `listens("circuitopen")`: with no observer, the events are who listens.
    if (observers.length === 0) return this.events.circuitOpen(run, state, taskId);
    if (this.events.listening("circuitopen")) this.events.circuitOpen(run, state, taskId);
    fan(observers, "circuitOpen", [run, state, taskId]);
  }

  checkpoint(run: RunScope, sequence: number): void {
    const observers = this.#observers;
    // Called after `listens("checkpoint")`: with no observer, the events are who listens.
    if (observers.length === 0) return this.events.checkpoint(run, sequence);
    if (this.events.listening("checkpoint")) this.events.checkpoint(run, sequence);
    fan(observers, "checkpoint", [run, sequence]);
  }

  resume(run: RunScope, sequence: number): void {
    const observers = this.#observers;
    // Called after `listens("resume")`: with no observer, the events are who listens.
    if (observers.length === 0) return this.events.resume(run, sequence);
    if (this.events.listening("resume")) this.events.resume(run, sequence);
    fan(observers, "resume", [run, sequence]);
  }

  workflowTimeout(run: RunScope, elapsed: number, limit: number): void {
    const observers = this.#observers;
    // Called after `listens("workflowtimeout")`: with no observer, the events are who listens.
    if (observers.length === 0) return this.events.workflowTimeout(run, elapsed, limit);
    if (this.events.listening("workflowtimeout")) this.events.workflowTimeout(run, elapsed, limit);
    fan(observers, "workflowTimeout", [run, elapsed, limit]);
  }

  cancelled(run: RunScope, state: string): void {
    const observers = this.#observers;
    // Called after `listens("cancelled")`: with no observer, the events are who listens.
    if (observers.length === 0) return this.events.cancelled(run, state);
    if (this.events.listening("cancelled")) this.events.cancelled(run, state);
    fan(observers, "cancelled", [run, state]);
  }

  checkpointClearFailed(run: RunScope, error: unknown): void {
    const observers = this.#observers;
    // Called after `listens("checkpointclearfailed")`: with no observer, the events are who listens.
    if (observers.length === 0) return this.events.checkpointClearFailed(run, error);
    if (this.events.listening("checkpointclearfailed")) {
      this.events.checkpointClearFailed(run, error);
    }
    fan(observers, "checkpointClearFailed", [run, error]);
  }

  unknownResumeState(run: RunScope, sequence: number, state: string): void {
    const observers = this.#observers;
    // Called after `listens("unknownresumestate")`: with no observer, the events are who listens.
    if (observers.length === 0) return this.events.unknownResumeState(run, sequence, state);
    if (this.events.listening("unknownresumestate")) {
      this.events.unknownResumeState(run, sequence, state);
    }
    fan(observers, "unknownResumeState", [run, sequence, state]);
  }

  compensate(run: RunScope, taskId: string, ok: boolean, error: unknown): void {
    const observers = this.#observers;
    // Called after `listens("compensate")`: with no observer, the events are who listens.
    if (observers.length === 0) return this.events.compensate(run, taskId, ok, error);
    if (this.events.listening("compensate")) this.events.compensate(run, taskId, ok, error);
    fan(observers, "compensate", [run, taskId, ok, error]);
  }

  runParked(run: RunScope, state: string): void {
    const observers = this.#observers;
    if (observers.length !== 0) fan(observers, "runParked", [run, state]);
  }

  ownership(run: RunScope, change: OwnershipChange): void {
    const observers = this.#observers;
    if (observers.length !== 0) fan(observers, "ownership", [run, change]);
  }
}

/** A scheduler's reporter: flow points and `tick` spans. */
export class SchedulerReporter {
  #events: SchedulerEvents | undefined = undefined;
  readonly #attached = new Attachments<FlowObserver>();

  /** Connects the running scheduler's events (a builder has none until it starts). */
  connect(target: SafeEventTarget<RunningSchedulerEventMap>): void {
    this.#events = new SchedulerEvents(target);
  }

  /** Whether any consumer takes point `type` now. */
  listens(type: keyof RunningSchedulerEventMap): boolean {
    return this.#attached.observers.length !== 0 || this.#events?.listening(type) === true;
  }

  /** The span consumers a tick starting now reports to, or `undefined`. */
  spans(): Spans | undefined {
    return this.#attached.spans();
  }

  /** Attaches point and span consumers; returns the function that detaches them. */
  attach(consumer: Consumer<FlowObserver>): () => void {
    return this.#attached.attach(consumer);
  }

  flowStart(
    id: string,
    source: FlowRunSource,
    runCount: number,
    scheduledAt: Date | undefined,
  ): void {
    const events = this.#events;
    if (events?.listening("flowstart")) events.flowStart(id, source, runCount, scheduledAt);
    const observers = this.#attached.observers;
    if (observers.length !== 0) fan(observers, "flowStart", [id, source, runCount, scheduledAt]);
  }

  flowEnd(id: string, end: FlowEndInit): void {
    const events = this.#events;
    if (events?.listening("flowend")) events.flowEnd(id, end);
    const observers = this.#attached.observers;
    if (observers.length !== 0) fan(observers, "flowEnd", [id, end]);
  }

  flowSkip(id: string, scheduledAt: Date, reason: FlowSkipReason): void {
    const events = this.#events;
    if (events?.listening("flowskip")) events.flowSkip(id, scheduledAt, reason);
    const observers = this.#attached.observers;
    if (observers.length !== 0) fan(observers, "flowSkip", [id, scheduledAt, reason]);
  }

  flowError(id: string, operation: FlowErrorOperation, error: CanoError): void {
    const events = this.#events;
    if (events?.listening("flowerror")) events.flowError(id, operation, error);
    const observers = this.#attached.observers;
    if (observers.length !== 0) fan(observers, "flowError", [id, operation, error]);
  }

  flowStatus(info: FlowInfo, previous: FlowStatus): void {
    const events = this.#events;
    if (events?.listening("flowstatus")) events.flowStatus(info, previous);
    const observers = this.#attached.observers;
    if (observers.length !== 0) fan(observers, "flowStatus", [info, previous]);
  }
}

// Reporters by workflow (and by scheduler): made on first use, kept as long as their target.
const workflowReporters = new WeakMap<object, WorkflowReporter>();
const schedulerReporters = new WeakMap<object, SchedulerReporter>();

/** The reporter of a workflow (made on first use). */
export function workflowReporter(target: SafeEventTarget<WorkflowEventMap>): WorkflowReporter {
  let reporter = workflowReporters.get(target);
  if (reporter === undefined) {
    reporter = new WorkflowReporter(target);
    workflowReporters.set(target, reporter);
  }
  return reporter;
}

/**
 * The reporter of a scheduler (made on first use). A `Scheduler` builder and the
 * `RunningScheduler` it starts share one (see {@link shareSchedulerReporter}).
 */
export function schedulerReporter(target: object): SchedulerReporter {
  let reporter = schedulerReporters.get(target);
  if (reporter === undefined) {
    reporter = new SchedulerReporter();
    schedulerReporters.set(target, reporter);
  }
  return reporter;
}

/** Makes `running` report through the reporter of the builder that started it. */
export function shareSchedulerReporter(
  builder: object,
  running: SafeEventTarget<RunningSchedulerEventMap>,
): SchedulerReporter {
  const reporter = schedulerReporter(builder);
  schedulerReporters.set(running, reporter);
  reporter.connect(running);
  return reporter;
}
