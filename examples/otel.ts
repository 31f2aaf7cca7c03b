// OpenTelemetry with no SDK: Deno's built-in exporter ships cano's spans and metrics.
//
//   OTEL_DENO=true deno run --allow-env --allow-net examples/otel.ts
//   (deno task example:otel; sends OTLP/HTTP to http://localhost:4318 unless
//   OTEL_EXPORTER_OTLP_ENDPOINT says otherwise)
//
// Two checkout runs: the first with a flaky price quote (a retried split branch) that completes,
// the second with a declined card that rolls the stock reservation back — then one scheduled run
// of a nightly report (a `cano.tick`). Each run is one trace: cano.run → cano.state →
// cano.attempt, the quote's branches as cano.branch, the rollback as cano.compensate; the
// "inventory lookup" span the task opens itself nests under its attempt. Without OTEL_DENO the
// same program runs with no-op providers.

import { trace } from "@opentelemetry/api";
import { RetryMode, TaskConfig, Workflow } from "../mod.ts";
import { instrument } from "../otel.ts";
import { Scheduler } from "../scheduler.ts";

type Step = "reserve" | "quote" | "charge" | "done";

interface Order {
  id: string;
  card: "ok" | "declined";
  total?: number;
}

const shop = trace.getTracer("shop");
let quoteCalls = 0;

const checkout = new Workflow<Step, Order>({ name: "checkout" })
  .registerWithCompensation("reserve", {
    name: "reserve",
    config: TaskConfig.minimal(),
    run: async (ctx) => {
      // The task's own span: a child of this attempt's cano.attempt.
      await shop.startActiveSpan("inventory lookup", async (span) => {
        span.setAttribute("order.id", ctx.data.id);
        await new Promise((resolve) => setTimeout(resolve, 5));
        span.end();
      });
      return { next: "quote", output: { hold: `hold-${ctx.data.id}` } };
    },
    compensate: (_ctx, output) => {
      console.log(`  released ${output.hold}`);
    },
  })
  .registerSplit("quote", [
    { name: "base", config: TaskConfig.minimal(), run: () => 40 },
    {
      name: "shipping",
      config: { retry: RetryMode.fixed(2, 20) },
      run: () => {
        quoteCalls += 1;
        if (quoteCalls === 1) throw new Error("shipping rates timed out");
        return 5;
      },
    },
  ], { strategy: "all", next: "charge" })
  .register("charge", (ctx) => {
    ctx.data.total = (ctx.split?.values as number[]).reduce((a, b) => a + b, 0);
    if (ctx.data.card === "declined") throw new Error("card declined");
    return "done";
  }, { config: TaskConfig.minimal() })
  .addExitState("done");

const report = new Workflow<"render" | "sent">({ name: "nightly-report" })
  .register("render", () => "sent", { config: TaskConfig.minimal() })
  .addExitState("sent");
const scheduler = new Scheduler().manual("nightly-report", report, "render");

// One call per target; `using` detaches at the end of the scope.
using _checkout = instrument(checkout);
using _scheduler = instrument(scheduler);

for (const order of [{ id: "A-1", card: "ok" }, { id: "A-2", card: "declined" }] as const) {
  try {
    const result = await checkout.orchestrate("reserve", { data: { ...order } });
    console.log(`order ${order.id}: ${result.state}, total ${result.data.total}`);
  } catch (error) {
    console.log(`order ${order.id}: failed (${(error as Error).message}), rolled back`);
  }
}

await using running = await scheduler.start();
const ended = new Promise((resolve) => running.addEventListener("flowend", resolve));
await running.trigger("nightly-report");
await ended;
console.log("nightly report: sent");
// Deno flushes the telemetry when the program exits.
