/**
 * OpenTelemetry for cano: {@link instrument} records spans (`cano.run`, `cano.state`,
 * `cano.attempt`, `cano.branch`, `cano.compensate`, `cano.tick`) and metrics (`cano_runs_total`,
 * `cano_state_duration_seconds`, …) of a workflow or a scheduler through `npm:@opentelemetry/api`
 * only. Run with `OTEL_DENO=true` and Deno's built-in exporter ships them over OTLP, no SDK
 * installed; or pass the tracer and meter of an SDK you set up.
 *
 * @example Trace and measure a workflow
 * ```ts
 * import { Workflow } from "@cano/cano";
 * import { instrument } from "@cano/cano/otel";
 * import assert from "node:assert/strict";
 *
 * const workflow = new Workflow<"charge" | "done">({ name: "checkout" })
 *   .register("charge", () => "done")
 *   .addExitState("done");
 * using _instrumentation = instrument(workflow);
 * assert.equal((await workflow.orchestrate("charge")).state, "done");
 * ```
 *
 * @module
 */

export type { Attachment } from "./src/observe/attachment.ts";
export {
  instrument,
  type Instrumentation,
  INSTRUMENTATION_SCOPE,
  type InstrumentOptions,
  type OtelMeter,
  type OtelTracer,
} from "./src/observe/otel.ts";
