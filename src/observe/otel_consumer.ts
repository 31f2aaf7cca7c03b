// The OpenTelemetry consumer of the reporter seam: spans through a `Tracer`, metrics through a
// `Meter`, both from `npm:@opentelemetry/api` only — so Deno's built-in exporter
// (`OTEL_DENO=true`) ships them with no SDK installed. One consumer takes the spans (and records
// the durations they measure) and the points (and counts them).

import {
  type Attributes,
  context,
  createNoopMeter,
  isSpanContextValid,
  type Meter,
  type Span as OtelSpan,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import { safeInstanceOf } from "../describe.ts";
import { categoryOf, messageOf } from "../errors.ts";
import type { FlowSkipReason } from "../coordination/shared_flow.ts";
import type { FlowInfo, FlowStatus } from "../scheduler/flow_info.ts";
import type {
  FlowObserver,
  OwnershipChange,
  RunObserver,
  RunScope,
  SpanConsumer,
  SpanEnd,
  SpanInfo,
} from "./consumer.ts";
import { createInstruments, type Instruments } from "./otel_metrics.ts";

/** The consumer's handle of one span. */
interface Handle {
  readonly info: SpanInfo;
  /** The OpenTelemetry span (none without a tracer). */
  readonly span: OtelSpan | undefined;
  /** Whether the span records nothing and carries no trace (a no-op tracer's, or no tracer). */
  readonly dead: boolean;
  /** `performance.now()` at the start. */
  readonly started: number;
}

/** The span attributes of `info` (`cano.*`). */
function spanAttributes(info: SpanInfo): Attributes {
  const attributes: Attributes = { "cano.workflow": info.workflow };
  if (info.runId !== undefined) attributes["cano.run_id"] = info.runId;
  if (info.workflowId !== undefined) attributes["cano.workflow_id"] = info.workflowId;
  if (info.state !== undefined) attributes["cano.state"] = info.state;
  if (info.entryKind !== undefined) attributes["cano.state_kind"] = info.entryKind;
  if (info.taskId !== undefined) attributes["cano.task"] = info.taskId;
  if (info.attempt !== undefined) attributes["cano.attempt"] = info.attempt;
  if (info.branch !== undefined) attributes["cano.branch"] = info.branch;
  if (info.sequence !== undefined) attributes["cano.sequence"] = info.sequence;
  if (info.resumed !== undefined) attributes["cano.resumed"] = info.resumed;
  if (info.flow !== undefined) attributes["cano.flow"] = info.flow;
  if (info.source !== undefined) attributes["cano.source"] = info.source;
  if (info.due !== undefined && Number.isFinite(info.due)) {
    attributes["cano.due"] = new Date(info.due).toISOString();
  }
  if (info.lateness !== undefined && Number.isFinite(info.lateness)) {
    attributes["cano.lateness_ms"] = info.lateness;
  }
  return attributes;
}

/** Records a failure on a span: an exception event and the error status. */
function recordFailure(span: OtelSpan, error: unknown): void {
  const message = messageOf(error);
  if (safeInstanceOf(error, Error)) span.recordException(error);
  else span.recordException({ name: "Error", message });
  span.setAttribute("cano.error_category", categoryOf(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

const NOOP = createNoopMeter();
const NOOP_KINDS = new Set<unknown>([
  NOOP.createCounter("noop").constructor,
  NOOP.createHistogram("noop").constructor,
  NOOP.createUpDownCounter("noop").constructor,
]);

/** Whether every instrument is one of the API's no-op instruments. */
function isNoop(instruments: Instruments): boolean {
  return Object.values(instruments).every((instrument) => NOOP_KINDS.has(instrument.constructor));
}

/** What {@link OtelConsumer} records with. */
export interface OtelConsumerOptions {
  /** Where spans go; `undefined`: no spans (metrics only). */
  readonly tracer: Tracer | undefined;
  /** Where metrics go; `undefined`: no metrics (spans only). */
  readonly meter: Meter | undefined;
}

/** Spans and metrics of the runs and ticks it is attached to. */
export class OtelConsumer implements SpanConsumer, RunObserver, FlowObserver {
  readonly #tracer: Tracer | undefined;
  /** The instruments (none without a meter). */
  readonly metrics: Instruments | undefined;

  /** @param options The tracer and the meter. */
  constructor(options: OtelConsumerOptions) {
    this.#tracer = options.tracer;
    const metrics = options.meter === undefined ? undefined : createInstruments(options.meter);
    // The API's no-op meter (no SDK, no OTEL_DENO): not even the attribute objects are made.
    this.metrics = metrics === undefined || isNoop(metrics) ? undefined : metrics;
  }

  // ── spans ───────────────────────────────────────────────────────────────────────────────

  start(info: SpanInfo, parent: unknown): Handle {
    const tracer = this.#tracer;
    const above = parent as Handle | undefined;
    let span: OtelSpan | undefined;
    // No tracer: no span, ever (what is left are the durations, when there are metrics).
    let dead = tracer === undefined;
    if (above?.dead === true) {
      // Under a span that records nothing and carries no trace (a no-op tracer's), every child
      // is that same nothing: no need to make it.
      span = above.span;
      dead = true;
    } else if (tracer !== undefined) {
      // A run (or tick) with no parent of ours nests under the caller's active span, if any.
      const parentContext = above?.span === undefined
        ? context.active()
        : trace.setSpan(context.active(), above.span);
      span = tracer.startSpan(
        `cano.${info.kind}`,
        { kind: SpanKind.INTERNAL, attributes: spanAttributes(info) },
        parentContext,
      );
      dead = !span.isRecording() && !isSpanContextValid(span.spanContext());
    }
    if (info.kind === "run") this.metrics?.activeRuns.add(1, { workflow: info.workflow });
    // The clock is read only for the durations the metrics record.
    return { info, span, dead, started: this.metrics === undefined ? 0 : performance.now() };
  }

  end(handle: unknown, end: SpanEnd): void {
    const { info, span, started } = handle as Handle;
    if (this.metrics !== undefined) this.#measure(info, end, (performance.now() - started) / 1000);
    if (span === undefined || !span.isRecording()) return;
    span.setAttribute("cano.outcome", end.outcome);
    if (end.next !== undefined) {
      span.setAttribute(info.kind === "state" ? "cano.next_state" : "cano.end_state", end.next);
    }
    if (end.failed) recordFailure(span, end.error);
    span.end();
  }

  wantsChildren(handle: unknown): boolean {
    // Durations are measured on every span; without metrics, a dead span's children are dead.
    return this.metrics !== undefined || !(handle as Handle).dead;
  }

  within<T>(handle: unknown, fn: () => T): T {
    const { span, dead } = handle as Handle;
    // A dead span has nothing to hand to the spans made inside: the active context stays.
    return span === undefined || dead
      ? fn()
      : context.with(trace.setSpan(context.active(), span), fn);
  }

  /** The metrics a span ending measures. */
  #measure(info: SpanInfo, end: SpanEnd, seconds: number): void {
    const metrics = this.metrics;
    if (metrics === undefined) return;
    const workflow = info.workflow;
    switch (info.kind) {
      case "run": {
        metrics.activeRuns.add(-1, { workflow });
        metrics.runs.add(
          1,
          end.failed
            ? { workflow, outcome: end.outcome, category: categoryOf(end.error) }
            : { workflow, outcome: end.outcome },
        );
        metrics.runDuration.record(seconds, { workflow, outcome: end.outcome });
        break;
      }
      case "state":
        metrics.stateDuration.record(seconds, {
          workflow,
          state: info.state ?? "",
          kind: info.entryKind ?? "",
          outcome: end.outcome,
        });
        break;
      case "attempt": {
        const attributes = { workflow, state: info.state ?? "", outcome: end.outcome };
        metrics.attempts.add(1, attributes);
        metrics.attemptDuration.record(seconds, attributes);
        break;
      }
      case "branch":
        metrics.branches.add(1, { workflow, state: info.state ?? "", result: end.outcome });
        break;
      case "compensate":
        metrics.compensations.add(1, { workflow, result: end.outcome });
        break;
      case "tick": {
        const flow = info.flow ?? "";
        metrics.ticks.add(1, { flow, source: info.source ?? "", outcome: end.outcome });
        metrics.tickDuration.record(seconds, { flow, outcome: end.outcome });
        metrics.tickLateness.record((info.lateness ?? 0) / 1000, {
          flow,
          source: info.source ?? "",
        });
        break;
      }
    }
  }

  // ── workflow points ─────────────────────────────────────────────────────────────────────

  stateEnter(run: RunScope, state: string): void {
    this.metrics?.stateEnters.add(1, { workflow: run.def.name, state });
  }

  taskFailure(run: RunScope, state: string, taskId: string, error: unknown): void {
    this.metrics?.failures.add(1, {
      workflow: run.def.name,
      state,
      task: taskId,
      category: categoryOf(error),
    });
  }

  retry(run: RunScope, state: string, taskId: string): void {
    this.metrics?.retries.add(1, { workflow: run.def.name, state, task: taskId });
  }

  circuitOpen(run: RunScope, _state: string, taskId: string): void {
    this.metrics?.circuitOpen.add(1, { workflow: run.def.name, task: taskId });
  }

  checkpoint(run: RunScope): void {
    this.metrics?.checkpoints.add(1, { workflow: run.def.name });
  }

  resume(run: RunScope): void {
    this.metrics?.resumes.add(1, { workflow: run.def.name });
  }

  workflowTimeout(run: RunScope): void {
    this.metrics?.timeouts.add(1, { workflow: run.def.name });
  }

  cancelled(run: RunScope): void {
    this.metrics?.cancellations.add(1, { workflow: run.def.name });
  }

  checkpointClearFailed(run: RunScope): void {
    this.metrics?.clearFailures.add(1, { workflow: run.def.name, result: "err" });
  }

  unknownResumeState(run: RunScope): void {
    this.metrics?.unknownStates.add(1, { workflow: run.def.name });
  }

  ownership(run: RunScope, change: OwnershipChange): void {
    this.metrics?.ownership.add(1, { workflow: run.def.name, change });
  }

  // ── scheduler points ────────────────────────────────────────────────────────────────────

  flowSkip(id: string, _scheduledAt: Date, reason: FlowSkipReason): void {
    this.metrics?.skips.add(1, { flow: id, reason });
  }

  flowStatus(info: FlowInfo, previous: FlowStatus): void {
    if (info.status === "tripped" && previous !== "tripped") {
      this.metrics?.tripped.add(1, { flow: info.id });
    } else if (info.status === "backoff" && previous !== "backoff") {
      this.metrics?.backoffs.add(1, { flow: info.id });
    }
  }
}
