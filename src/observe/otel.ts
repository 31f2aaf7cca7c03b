// `instrument()`: OpenTelemetry spans and metrics for a workflow or a scheduler, attached to the
// reporter seam of each of its parts, and to the circuit breakers and rate limiters its states
// use. Detaching takes all of it off again.

import { type Meter, metrics, trace, type Tracer } from "@opentelemetry/api";
import { ConfigurationError } from "../errors.ts";
import { readOptions } from "../options.ts";
import type { CircuitTransitionEvent } from "../resilience/circuit_breaker.ts";
import { type Attachment, attachment } from "./attachment.ts";
import { watchLimiterWaits } from "./limiter_waits.ts";
import { shown } from "./consumer.ts";
import { OtelConsumer } from "./otel_consumer.ts";
import type { Instruments } from "./otel_metrics.ts";
import { attachToParts, resilienceOf, targetParts } from "./targets.ts";

/**
 * The instrumentation scope of cano's spans and metrics: the name `instrument` gets its default
 * tracer and meter by.
 *
 * @example Filter cano's spans in a span processor
 * ```ts
 * import { INSTRUMENTATION_SCOPE } from "@cano/cano/otel";
 * import assert from "node:assert/strict";
 *
 * const fromCano = (scope: { name: string }): boolean => scope.name === INSTRUMENTATION_SCOPE;
 * assert.ok(fromCano({ name: "@cano/cano" }));
 * ```
 */
export const INSTRUMENTATION_SCOPE = "@cano/cano";

/**
 * An OpenTelemetry `Tracer` of `npm:@opentelemetry/api` (`trace.getTracer(name)`, or an SDK
 * provider's), as {@link instrument} takes it: any object whose `startSpan` makes API spans.
 *
 * @example The API's tracer is one
 * ```ts
 * import { trace } from "npm:@opentelemetry/api@^1";
 * import type { OtelTracer } from "@cano/cano/otel";
 *
 * const tracer: OtelTracer = trace.getTracer("checkout");
 * void tracer;
 * ```
 */
export interface OtelTracer {
  /** Starts a span (the API's `Tracer.startSpan(name, options, context)`). */
  startSpan(name: string, options?: unknown, context?: unknown): unknown;
}

/**
 * An OpenTelemetry `Meter` of `npm:@opentelemetry/api` (`metrics.getMeter(name)`, or an SDK
 * provider's), as {@link instrument} takes it.
 *
 * @example The API's meter is one
 * ```ts
 * import { metrics } from "npm:@opentelemetry/api@^1";
 * import type { OtelMeter } from "@cano/cano/otel";
 *
 * const meter: OtelMeter = metrics.getMeter("checkout");
 * void meter;
 * ```
 */
export interface OtelMeter {
  /** Creates a counter (the API's `Meter.createCounter`). */
  createCounter(name: string, options?: unknown): unknown;
  /** Creates a histogram (the API's `Meter.createHistogram`). */
  createHistogram(name: string, options?: unknown): unknown;
  /** Creates an up-down counter (the API's `Meter.createUpDownCounter`). */
  createUpDownCounter(name: string, options?: unknown): unknown;
}

/** Options of {@link instrument}. */
export interface InstrumentOptions {
  /**
   * Where spans go, or `false` for none (metrics only).
   *
   * @default {trace.getTracer("@cano/cano")} the global tracer provider's (Deno's built-in one
   * with `OTEL_DENO=true`)
   */
  tracer?: OtelTracer | false;
  /**
   * Where metrics go, or `false` for none (spans only).
   *
   * @default {metrics.getMeter("@cano/cano")} the global meter provider's (Deno's built-in one
   * with `OTEL_DENO=true`)
   */
  meter?: OtelMeter | false;
}

/**
 * What {@link instrument} returns, an {@link Attachment}: detach it (or let `using` dispose of
 * it) to stop recording.
 * Runs already started keep their spans to the end, so that no trace is left half-built.
 *
 * @example Stop recording on scope exit
 * ```ts
 * import { Workflow } from "@cano/cano";
 * import { instrument } from "@cano/cano/otel";
 * import assert from "node:assert/strict";
 *
 * const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
 * {
 *   using instrumentation = instrument(workflow);
 *   assert.equal(instrumentation.attached, true);
 *   await workflow.orchestrate("go");
 * }
 * ```
 */
export type Instrumentation = Attachment;

/** Per meter: the breakers and limiters watched for it, and by how many instrumentations. */
const watched = new WeakMap<object, Map<object, { count: number; stop: () => void }>>();

/** Watches `resource` for `meter` once, however many instrumentations share the meter. */
function watchOnce(meter: object, resource: object, watch: () => () => void): () => void {
  let forMeter = watched.get(meter);
  if (forMeter === undefined) {
    forMeter = new Map();
    watched.set(meter, forMeter);
  }
  const existing = forMeter.get(resource);
  if (existing !== undefined) existing.count += 1;
  else forMeter.set(resource, { count: 1, stop: watch() });
  let on = true;
  return () => {
    if (!on) return;
    on = false;
    const entry = forMeter.get(resource);
    if (entry === undefined) return;
    entry.count -= 1;
    if (entry.count === 0) {
      forMeter.delete(resource);
      entry.stop();
    }
  };
}

/** The type of `value[key]`, or `"unreadable"` when reading it throws (a hostile getter). */
function typeOfField(value: unknown, key: string): string {
  try {
    return typeof (value as Record<string, unknown> | null | undefined)?.[key];
  } catch {
    return "unreadable";
  }
}

function checkTracer(value: unknown): Tracer | false {
  if (value === false) return false;
  if (typeOfField(value, "startSpan") !== "function") {
    throw new ConfigurationError(
      `instrument option tracer must be an OpenTelemetry Tracer (trace.getTracer(name)) or false, received ${
        shown(value)
      }`,
    );
  }
  return value as Tracer;
}

function checkMeter(value: unknown): Meter | false {
  if (value === false) return false;
  if (
    ["createCounter", "createHistogram", "createUpDownCounter"].some((method) =>
      typeOfField(value, method) !== "function"
    )
  ) {
    throw new ConfigurationError(
      `instrument option meter must be an OpenTelemetry Meter (metrics.getMeter(name)) or false, received ${
        shown(value)
      }`,
    );
  }
  return value as Meter;
}

/**
 * Records OpenTelemetry spans and metrics for every run of `target` — a `Workflow`, a
 * `Scheduler` (its flows' workflows, those registered later included, and its ticks) or a
 * `RunningScheduler` — using `npm:@opentelemetry/api` only: with `OTEL_DENO=true`, Deno's
 * built-in exporter ships them over OTLP with no SDK installed; with an SDK, pass its tracer and
 * meter.
 *
 * Spans: `cano.run` (a root, or a child of the caller's active span), `cano.state` per state
 * entered, `cano.attempt` per attempt — the task runs inside it, so its own spans (a `fetch`)
 * nest under it —, `cano.branch` per split branch, `cano.compensate` per compensation of a
 * rollback, `cano.tick` per scheduled run (its `cano.run` nests under it). Attributes
 * `cano.workflow`, `cano.run_id`, `cano.workflow_id`, `cano.state`, `cano.task`, `cano.attempt`,
 * `cano.sequence`, `cano.outcome`, and on failure the error status, an exception event and
 * `cano.error_category`. Metrics: see the README's "Observability" table (`cano_runs_total`,
 * `cano_state_duration_seconds`, …).
 *
 * @param target A Workflow, a Scheduler or a RunningScheduler.
 * @param options The tracer and the meter.
 * @returns The instrumentation: `detach()` (or `using`) stops it.
 * @throws {ConfigurationError} When `target` is none of those, or an option is not a tracer, a
 * meter or `false` (or both are `false`).
 *
 * @example Instrument a workflow with the global providers
 * ```ts
 * import { Workflow } from "@cano/cano";
 * import { instrument } from "@cano/cano/otel";
 * import assert from "node:assert/strict";
 *
 * const workflow = new Workflow<"fetch" | "done">({ name: "orders" })
 *   .register("fetch", () => "done")
 *   .addExitState("done");
 * // With OTEL_DENO=true, Deno exports these spans and metrics; without, they cost little.
 * const instrumentation = instrument(workflow);
 * assert.equal((await workflow.orchestrate("fetch")).state, "done");
 * instrumentation.detach();
 * assert.equal(instrumentation.attached, false);
 * ```
 *
 * @example Bad options are refused
 * ```ts
 * import { Workflow } from "@cano/cano";
 * import { instrument } from "@cano/cano/otel";
 * import assert from "node:assert/strict";
 *
 * const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
 * assert.throws(() => instrument(workflow, { tracer: false, meter: false }), {
 *   category: "configuration",
 * });
 * assert.throws(() => instrument({} as never), { category: "configuration" });
 * ```
 */
export function instrument(target: unknown, options: InstrumentOptions = {}): Instrumentation {
  const parts = targetParts(target, "instrument");
  const given = readOptions<InstrumentOptions>(options, "instrument options", ["tracer", "meter"]);
  const tracer = given.tracer === undefined
    ? trace.getTracer(INSTRUMENTATION_SCOPE)
    : checkTracer(given.tracer);
  const meter = given.meter === undefined
    ? metrics.getMeter(INSTRUMENTATION_SCOPE)
    : checkMeter(given.meter);
  if (tracer === false && meter === false) {
    throw new ConfigurationError(
      "instrument options tracer and meter are both false: there would be nothing to record",
    );
  }
  const consumer = new OtelConsumer({
    tracer: tracer === false ? undefined : tracer,
    meter: meter === false ? undefined : meter,
  });
  const detachers = [
    attachToParts(parts, {
      // The points only feed metrics: with none (or the API's no-op meter), runs skip them.
      runs: consumer.metrics === undefined ? undefined : consumer,
      runSpans: consumer,
      flows: consumer.metrics === undefined ? undefined : consumer,
      tickSpans: consumer,
    }),
  ];
  const instruments = consumer.metrics;
  if (meter !== false && instruments !== undefined) {
    detachers.push(...watchResilience(meter, instruments, parts.workflows));
    // A flow registered on the scheduler later: its workflow's breakers and limiters too.
    const watched = parts.watch?.((workflow) => {
      detachers.push(...watchResilience(meter, instruments, [workflow]));
    });
    if (watched !== undefined) detachers.push(watched);
  }
  return attachment(() => {
    for (const detach of detachers.splice(0)) detach();
  });
}

/** Breaker transitions and limiter waits of the workflows' states, counted once per meter. */
function watchResilience(
  meter: Meter,
  instruments: Instruments,
  workflows: Parameters<typeof resilienceOf>[0],
): Array<() => void> {
  const { breakers, limiters } = resilienceOf(workflows);
  const detachers: Array<() => void> = [];
  for (const breaker of breakers) {
    detachers.push(watchOnce(meter, breaker, () => {
      const listener = (event: CircuitTransitionEvent): void => {
        instruments.breakerTransitions.add(1, { transition: `${event.from}_to_${event.to}` });
      };
      breaker.addEventListener("circuittransition", listener);
      return () => breaker.removeEventListener("circuittransition", listener);
    }));
  }
  for (const limiter of limiters) {
    detachers.push(
      watchOnce(meter, limiter, () =>
        watchLimiterWaits(limiter, (waitedMs, admitted) => {
          const result = admitted ? "waited" : "aborted";
          instruments.limiterWaits.add(1, { result });
          instruments.limiterWaitDuration.record(waitedMs / 1000, { result });
        })),
    );
  }
  return detachers;
}
