// `deno task bench:observe`: what observing a run costs. The two-state engine loop of
// engine_compare.ts (100,000 no-op transitions, `TaskConfig.minimal()`) with each consumer of the
// reporter seam attached — none, one `stateenter` listener (the events consumer), `logTo` at
// level "error" (an observer that writes nothing for a successful run), `instrument()` on the
// OpenTelemetry API's no-op tracer and meter (what a program without an SDK or `OTEL_DENO` pays),
// and `instrument()` on a recording SDK tracer and meter (every span and data point built, none
// exported) — timed in interleaved rounds, as ratios to the floor (a Map of async functions) of
// the same round. Budgets: no consumer ≤ 10× and one listener ≤ 12× (issue 15's); the others
// have none, they are measured.
//
// Options: as engine_compare.ts (--runs, --warmup, --transitions, --verbose).

import { metrics, trace } from "npm:@opentelemetry/api@^1";
import { BasicTracerProvider } from "npm:@opentelemetry/sdk-trace-base@^2";
import { MeterProvider, MetricReader } from "npm:@opentelemetry/sdk-metrics@^2";
import { logTo } from "../mod.ts";
import { instrument } from "../otel.ts";
import { measure, report } from "./engine_compare.ts";
import { runOptions } from "./_run_options.ts";
import { floorVariant, loopWorkflow, TRANSITIONS, type Variant } from "./variants.ts";

/** A metric reader that is never collected: the SDK aggregates, nothing leaves. */
class IdleReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** How the loop's workflow is observed. */
type Observation = "none" | "listener" | "logTo" | "otel-noop" | "otel-recording";

const NAMES: Record<Observation, string> = {
  "none": "cano, no consumer",
  "listener": "cano, 1 stateenter listener",
  "logTo": 'cano, logTo(level: "error")',
  "otel-noop": "cano, instrument(), no-op tracer+meter",
  "otel-recording": "cano, instrument(), SDK tracer+meter",
};

const BUDGETS: Record<Observation, number | undefined> = {
  "none": 10,
  "listener": 12,
  "logTo": undefined,
  "otel-noop": undefined,
  "otel-recording": undefined,
};

function expect(label: string, what: string, actual: unknown, expected: unknown): void {
  if (actual !== expected) {
    throw new Error(`${label}: expected ${what} ${String(expected)}, got ${String(actual)}`);
  }
}

/** The engine loop with one way of observing it. */
function observed(observation: Observation, transitions: number): Variant {
  const name = NAMES[observation];
  const workflow = loopWorkflow(transitions, true, "loop");
  let entered = 0;
  if (observation === "listener") workflow.addEventListener("stateenter", () => void entered++);
  if (observation === "logTo") {
    const quiet = (): void => {};
    logTo(workflow, { debug: quiet, info: quiet, warn: quiet, error: quiet }, { level: "error" });
  }
  if (observation === "otel-noop") {
    // No provider registered: the API hands out its no-op tracer and meter.
    instrument(workflow, { tracer: trace.getTracer("bench"), meter: metrics.getMeter("bench") });
  }
  if (observation === "otel-recording") {
    // Spans are built and recorded (sampled) but not processed; metrics aggregated, not read.
    const tracer = new BasicTracerProvider().getTracer("bench");
    const meter = new MeterProvider({ readers: [new IdleReader()] }).getMeter("bench");
    instrument(workflow, { tracer, meter });
  }
  return {
    name,
    budget: BUDGETS[observation],
    async run(): Promise<void> {
      entered = 0;
      const result = await workflow.orchestrate("a", { data: { n: 0 } });
      expect(name, "final state", result.state, "done");
      expect(name, "transitions", result.data.n, transitions);
      expect(name, "path length", result.path.length, transitions + 1);
      if (observation === "listener") expect(name, "stateenter events", entered, transitions + 1);
    },
  };
}

if (import.meta.main) {
  const { runs, warmup, transitions, verbose } = runOptions({
    runs: 9,
    warmup: 2,
    transitions: TRANSITIONS,
  });
  console.log(
    `cano engine loop, observed: ${transitions} no-op transitions per run, median of ${runs} ` +
      `interleaved rounds (ratios: median of the per-round ratios to the floor) (deno ${Deno.version.deno}, ` +
      `v8 ${Deno.version.v8}, ${navigator.hardwareConcurrency} CPUs, ${Deno.build.target})\n`,
  );
  const started = performance.now();
  const variants = [
    floorVariant(transitions),
    ...(["none", "listener", "logTo", "otel-noop", "otel-recording"] as const).map((o) =>
      observed(o, transitions)
    ),
  ];
  const results = await measure(variants, runs, warmup);
  const { table, ok } = report(results, transitions);
  console.log(table);
  if (verbose) {
    for (const { variant, runs } of results) {
      console.log(`${variant.name}: ${runs.map((ms) => ms.toFixed(1)).join(", ")} ms`);
    }
  }
  console.log(
    `\n${ok ? "PASS: every budget holds" : "FAIL: over budget (the exit code stays 0)"} — took ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s`,
  );
}
