// The metrics `instrument()` records, in one table (the README's table is checked against it by
// tests/otel_test.ts). Names follow cano's (`metrics.rs`, spec §10.4) where the meaning is the
// same, DESIGN §3.10's (`cano_runs_total`, `cano_state_duration_seconds`) where it names one.
// Attributes are low-cardinality by design: workflow and state names, flow ids, outcomes.

import type { Counter, Histogram, Meter, UpDownCounter } from "@opentelemetry/api";

/** One metric: its name, instrument kind, unit, attributes and what it counts. */
export interface MetricSpec {
  /** The metric's name. */
  readonly name: string;
  /** The OpenTelemetry instrument. */
  readonly kind: "counter" | "histogram" | "updowncounter";
  /** The unit (`s` for durations, `1` for counts). */
  readonly unit: string;
  /** The attributes it is recorded with. */
  readonly attributes: readonly string[];
  /** What it measures. */
  readonly description: string;
}

/** Every metric, by key. */
export const METRICS = {
  runs: {
    name: "cano_runs_total",
    kind: "counter",
    unit: "1",
    attributes: ["workflow", "outcome", "category"],
    description:
      "Runs ended (orchestrate/resume), by outcome: completed, failed, cancelled, parked; category of a failure",
  },
  runDuration: {
    name: "cano_run_duration_seconds",
    kind: "histogram",
    unit: "s",
    attributes: ["workflow", "outcome"],
    description: "Duration of a run (one orchestrate/resume call), by outcome",
  },
  activeRuns: {
    name: "cano_runs_active",
    kind: "updowncounter",
    unit: "1",
    attributes: ["workflow"],
    description: "Runs in progress in this process",
  },
  stateEnters: {
    name: "cano_state_enters_total",
    kind: "counter",
    unit: "1",
    attributes: ["workflow", "state"],
    description: "States entered (routers and exit states included)",
  },
  stateDuration: {
    name: "cano_state_duration_seconds",
    kind: "histogram",
    unit: "s",
    attributes: ["workflow", "state", "kind", "outcome"],
    description:
      "Time in a state, entry to next state (kind: single, router, split, compensatable, stepped, stream, wait, exit)",
  },
  attempts: {
    name: "cano_task_attempts_total",
    kind: "counter",
    unit: "1",
    attributes: ["workflow", "state", "outcome"],
    description: "Task attempts (split branches' included), by outcome: completed, failed",
  },
  attemptDuration: {
    name: "cano_attempt_duration_seconds",
    kind: "histogram",
    unit: "s",
    attributes: ["workflow", "state", "outcome"],
    description: "Duration of one task attempt",
  },
  retries: {
    name: "cano_task_retries_total",
    kind: "counter",
    unit: "1",
    attributes: ["workflow", "state", "task"],
    description: "Retries scheduled after a failed attempt",
  },
  failures: {
    name: "cano_task_failures_total",
    kind: "counter",
    unit: "1",
    attributes: ["workflow", "state", "task", "category"],
    description:
      "Tasks failed for good, by error category (retry_exhausted, timeout, cancelled, circuit_open, ...)",
  },
  circuitOpen: {
    name: "cano_circuit_open_events_total",
    kind: "counter",
    unit: "1",
    attributes: ["workflow", "task"],
    description: "Attempts a circuit breaker rejected",
  },
  branches: {
    name: "cano_split_branch_results_total",
    kind: "counter",
    unit: "1",
    attributes: ["workflow", "state", "result"],
    description: "Split branches ended, by result: ok, error, cancelled",
  },
  compensations: {
    name: "cano_compensations_run_total",
    kind: "counter",
    unit: "1",
    attributes: ["workflow", "result"],
    description: "Compensations run during a saga rollback, by result: ok, err",
  },
  checkpoints: {
    name: "cano_checkpoints_observed_total",
    kind: "counter",
    unit: "1",
    attributes: ["workflow"],
    description: "Checkpoint rows durably appended",
  },
  resumes: {
    name: "cano_resumes_total",
    kind: "counter",
    unit: "1",
    attributes: ["workflow"],
    description: "Runs resumed from their checkpoint log",
  },
  timeouts: {
    name: "cano_observed_workflow_timeouts_total",
    kind: "counter",
    unit: "1",
    attributes: ["workflow"],
    description: "Total timeouts tripped",
  },
  cancellations: {
    name: "cano_observed_cancellations_total",
    kind: "counter",
    unit: "1",
    attributes: ["workflow"],
    description: "Runs cancelled",
  },
  clearFailures: {
    name: "cano_checkpoint_clears_total",
    kind: "counter",
    unit: "1",
    attributes: ["workflow", "result"],
    description: "Failed clears of a finished run's log (result: err)",
  },
  unknownStates: {
    name: "cano_observed_unknown_resume_states_total",
    kind: "counter",
    unit: "1",
    attributes: ["workflow"],
    description: "Log rows of states no longer registered, dropped on resume",
  },
  ownership: {
    name: "cano_ownership_changes_total",
    kind: "counter",
    unit: "1",
    attributes: ["workflow", "change"],
    description: "Checkpointed runs claimed by this process, or lost by it (change: claimed, lost)",
  },
  breakerTransitions: {
    name: "cano_circuit_transitions_total",
    kind: "counter",
    unit: "1",
    attributes: ["transition"],
    description: "Circuit breaker state changes, e.g. transition=closed_to_open",
  },
  limiterWaits: {
    name: "cano_rate_limiter_throttled_total",
    kind: "counter",
    unit: "1",
    attributes: ["result"],
    description: "Callers a rate limiter made wait, by result: waited (then admitted), aborted",
  },
  limiterWaitDuration: {
    name: "cano_rate_limiter_wait_seconds",
    kind: "histogram",
    unit: "s",
    attributes: ["result"],
    description: "How long a caller waited at a rate limiter",
  },
  ticks: {
    name: "cano_scheduler_ticks_total",
    kind: "counter",
    unit: "1",
    attributes: ["flow", "source", "outcome"],
    description: "Scheduled runs (ticks) ended, by source (interval, cron, trigger) and outcome",
  },
  tickDuration: {
    name: "cano_scheduler_flow_duration_seconds",
    kind: "histogram",
    unit: "s",
    attributes: ["flow", "outcome"],
    description: "Duration of a scheduled run",
  },
  tickLateness: {
    name: "cano_scheduler_tick_lateness_seconds",
    kind: "histogram",
    unit: "s",
    attributes: ["flow", "source"],
    description: "How long after its due time a scheduled run started",
  },
  skips: {
    name: "cano_scheduler_flow_skips_total",
    kind: "counter",
    unit: "1",
    attributes: ["flow", "reason"],
    description: "Ticks skipped under coordination (claimed, running, backoff, tripped, stale)",
  },
  tripped: {
    name: "cano_scheduler_flow_tripped_total",
    kind: "counter",
    unit: "1",
    attributes: ["flow"],
    description: "Flows tripped after too many failures in a row",
  },
  backoffs: {
    name: "cano_scheduler_flow_backoff_total",
    kind: "counter",
    unit: "1",
    attributes: ["flow"],
    description: "Flows entering a backoff window after a failed run",
  },
} as const satisfies Record<string, MetricSpec>;

/** The key of a metric in {@link METRICS}. */
export type MetricKey = keyof typeof METRICS;

/** The created instruments, by key. */
export type Instruments = {
  [K in MetricKey]: (typeof METRICS)[K]["kind"] extends "histogram" ? Histogram
    : (typeof METRICS)[K]["kind"] extends "updowncounter" ? UpDownCounter
    : Counter;
};

/** Bucket boundaries for durations in seconds (the SDK's default ones are for milliseconds). */
const SECONDS = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  300,
  900,
  3600,
];

/** Creates every instrument of {@link METRICS} on `meter`. */
export function createInstruments(meter: Meter): Instruments {
  const made: Record<string, Counter | Histogram | UpDownCounter> = {};
  for (const [key, spec] of Object.entries(METRICS) as [MetricKey, MetricSpec][]) {
    const options = { description: spec.description, unit: spec.unit };
    made[key] = spec.kind === "histogram"
      ? meter.createHistogram(spec.name, {
        ...options,
        advice: { explicitBucketBoundaries: SECONDS },
      })
      : spec.kind === "updowncounter"
      ? meter.createUpDownCounter(spec.name, options)
      : meter.createCounter(spec.name, options);
  }
  return made as Instruments;
}
