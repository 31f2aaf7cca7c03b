// instrument(): the span tree of a run (retry, split, compensation), nesting under the caller's
// span and of the user's own spans under cano.attempt, the metrics, schedulers' ticks, detaching,
// a broken tracer, and validation. A recording SDK (tests/_otel_sdk.ts) stands in for Deno's.

import assert from "node:assert/strict";
import { context, trace } from "npm:@opentelemetry/api@^1";
import {
  CircuitBreaker,
  MemoryCheckpointStore,
  RateLimiter,
  RetryMode,
  TaskConfig,
  Workflow,
} from "../mod.ts";
import { instrument } from "../otel.ts";
import { type DenoCronFunction, registerDenoCron, Scheduler } from "../scheduler.ts";
import { FakeTime } from "../testing.ts";
import { METRICS } from "../src/observe/otel_metrics.ts";
import { parentOf, RecordingSdk, tree } from "./_otel_sdk.ts";

const START = Date.UTC(2026, 0, 1);
const KEYS = [
  "cano.workflow",
  "cano.state",
  "cano.task",
  "cano.attempt",
  "cano.branch",
  "cano.outcome",
];

type Order = "reserve" | "fan" | "join" | "charge" | "done";

/** reserve (saga) → fan (split: one branch fails once) → join → charge (fails) → rollback. */
function orderWorkflow(): Workflow<Order> {
  let flaky = 0;
  return new Workflow<Order>({ name: "orders" })
    .registerWithCompensation("reserve", {
      name: "reserve",
      config: TaskConfig.minimal(),
      run: () => ({ next: "fan", output: { hold: 1 } }),
      compensate: () => {},
    })
    .registerSplit("fan", [
      { name: "stock", config: TaskConfig.minimal(), run: () => "in stock" },
      {
        name: "price",
        config: { retry: RetryMode.fixed(1, 50) },
        run: () => {
          flaky += 1;
          if (flaky === 1) throw new Error("price service flaked");
          return 42;
        },
      },
    ], { strategy: "all", next: "join" })
    .register("join", () => "charge", { config: TaskConfig.minimal() })
    .register("charge", () => {
      throw new Error("card declined");
    }, { config: TaskConfig.minimal() })
    .addExitState("done");
}

Deno.test("instrument() records the span tree of a run with a retry, a split and a compensation", async () => {
  using sdk = new RecordingSdk();
  using time = new FakeTime(START);
  const workflow = orderWorkflow();
  using _instrumentation = instrument(workflow, { tracer: sdk.tracer, meter: false });
  const run = workflow.orchestrate("reserve");
  const failed = assert.rejects(run, /card declined/);
  await time.tickAsync(50); // the price branch's retry backoff
  await failed;

  assert.deepEqual(tree(sdk.spans(), KEYS), [
    "cano.run! workflow=orders outcome=failed",
    "  cano.state workflow=orders state=reserve outcome=completed",
    "    cano.attempt workflow=orders state=reserve task=reserve attempt=1 outcome=completed",
    "  cano.state workflow=orders state=fan outcome=completed",
    "    cano.branch workflow=orders state=fan task=stock[0] branch=0 outcome=ok",
    "      cano.attempt workflow=orders state=fan task=stock[0] attempt=1 branch=0 outcome=completed",
    "    cano.branch workflow=orders state=fan task=price[1] branch=1 outcome=ok",
    "      cano.attempt! workflow=orders state=fan task=price[1] attempt=1 branch=1 outcome=failed",
    "      cano.attempt workflow=orders state=fan task=price[1] attempt=2 branch=1 outcome=completed",
    "  cano.state workflow=orders state=join outcome=completed",
    "    cano.attempt workflow=orders state=join task=join attempt=1 outcome=completed",
    "  cano.state! workflow=orders state=charge outcome=failed",
    "    cano.attempt! workflow=orders state=charge task=charge attempt=1 outcome=failed",
    "  cano.compensate workflow=orders state=reserve task=reserve outcome=ok",
  ]);

  const spans = sdk.spans();
  const root = spans.find((span) => span.name === "cano.run")!;
  const runId = root.attributes["cano.run_id"];
  assert.equal(typeof runId, "string");
  // Every span of the run is in its trace and carries its run id.
  for (const span of spans) {
    assert.equal(span.spanContext().traceId, root.spanContext().traceId);
    assert.equal(span.attributes["cano.run_id"], runId, span.name);
  }
  assert.equal(root.parentSpanContext, undefined, "a root: no caller span");
  // The failures: error status, an exception event, the category.
  const charge = spans.find((span) =>
    span.name === "cano.attempt" && span.attributes["cano.state"] === "charge"
  )!;
  assert.equal(charge.status.code, 2);
  assert.equal(charge.status.message, "card declined");
  assert.equal(charge.events[0]?.name, "exception");
  assert.equal(charge.events[0]?.attributes?.["exception.message"], "card declined");
  assert.equal(charge.attributes["cano.error_category"], "task_execution");
  assert.match(String(root.status.message), /state=charge attempt=1 .*card declined/);
  const chargeState = spans.find((span) =>
    span.name === "cano.state" && span.attributes["cano.state"] === "charge"
  )!;
  assert.equal(parentOf(chargeState, spans), root);
  assert.equal(chargeState.attributes["cano.state_kind"], "single");
  // The retried attempt started after the backoff.
  const [first, second] = spans.filter((span) => span.attributes["cano.task"] === "price[1]")
    .filter((span) => span.name === "cano.attempt");
  assert.ok(
    second!.startTime[0] * 1e3 + second!.startTime[1] / 1e6 >=
      50 + first!.startTime[0] * 1e3 + first!.startTime[1] / 1e6 - 1,
  );
});

Deno.test("instrument() runs the task inside cano.attempt, so the user's spans nest under it", async () => {
  using sdk = new RecordingSdk();
  const workflow = new Workflow<"fetch" | "done">({ name: "crawl" })
    .register("fetch", async () => {
      await sdk.userTracer.startActiveSpan("GET /page", async (span) => {
        await Promise.resolve();
        span.end();
      });
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done");
  using _instrumentation = instrument(workflow, { tracer: sdk.tracer, meter: false });
  // The caller's active span is the run's parent.
  await sdk.userTracer.startActiveSpan("POST /crawl", async (request) => {
    await workflow.orchestrate("fetch");
    request.end();
  });
  assert.deepEqual(tree(sdk.spans(), ["cano.state", "cano.attempt"]), [
    "POST /crawl",
    "  cano.run",
    "    cano.state state=fetch",
    "      cano.attempt state=fetch attempt=1",
    "        GET /page",
    "    cano.state state=done",
  ]);
});

Deno.test("instrument() closes an attempt's span when its attempt timeout fires, though the task hangs", async () => {
  using sdk = new RecordingSdk();
  using time = new FakeTime(START);
  const workflow = new Workflow<"hang" | "done">()
    .register("hang", () => new Promise<never>(() => {}), {
      config: { ...TaskConfig.minimal(), attemptTimeout: 100 },
    })
    .addExitState("done");
  using _instrumentation = instrument(workflow, { tracer: sdk.tracer, meter: false });
  const failed = assert.rejects(workflow.orchestrate("hang"), /attempt timeout of 100 ms/);
  await time.tickAsync(100);
  await failed;
  const attempt = sdk.spans().find((span) => span.name === "cano.attempt")!;
  assert.equal(attempt.status.code, 2);
  assert.equal(attempt.attributes["cano.error_category"], "timeout");
  assert.deepEqual(sdk.spans().map((span) => span.name), [
    "cano.attempt",
    "cano.state",
    "cano.run",
  ]);
});

Deno.test("instrument() records cano's metrics for a run", async () => {
  using sdk = new RecordingSdk();
  using time = new FakeTime(START);
  const workflow = orderWorkflow();
  using _instrumentation = instrument(workflow, { tracer: false, meter: sdk.meter });
  const failed = assert.rejects(workflow.orchestrate("reserve"), /card declined/);
  await time.tickAsync(50);
  await failed;
  const metrics = await sdk.metrics();
  const values = (name: string): Array<[Record<string, unknown>, number]> =>
    (metrics.get(name) ?? []).map((point) => [point.attributes, point.value]);
  assert.deepEqual(values("cano_runs_total"), [
    [{ workflow: "orders", outcome: "failed", category: "task_execution" }, 1],
  ]);
  assert.deepEqual(values("cano_runs_active"), [[{ workflow: "orders" }, 0]]);
  assert.deepEqual(
    values("cano_state_enters_total").map(([attributes, n]) => [attributes.state, n]),
    [["reserve", 1], ["fan", 1], ["join", 1], ["charge", 1]],
  );
  assert.deepEqual(values("cano_task_attempts_total"), [
    [{ workflow: "orders", state: "reserve", outcome: "completed" }, 1],
    [{ workflow: "orders", state: "fan", outcome: "completed" }, 2],
    [{ workflow: "orders", state: "fan", outcome: "failed" }, 1],
    [{ workflow: "orders", state: "join", outcome: "completed" }, 1],
    [{ workflow: "orders", state: "charge", outcome: "failed" }, 1],
  ]);
  assert.deepEqual(values("cano_task_retries_total"), [
    [{ workflow: "orders", state: "fan", task: "price[1]" }, 1],
  ]);
  assert.deepEqual(values("cano_task_failures_total"), [
    [{ workflow: "orders", state: "charge", task: "charge", category: "task_execution" }, 1],
  ]);
  assert.deepEqual(values("cano_split_branch_results_total"), [
    [{ workflow: "orders", state: "fan", result: "ok" }, 2],
  ]);
  assert.deepEqual(values("cano_compensations_run_total"), [
    [{ workflow: "orders", result: "ok" }, 1],
  ]);
  // Durations come from the (fake) clock: the fan state lasted the 50 ms backoff.
  const fan = metrics.get("cano_state_duration_seconds")!.find((point) =>
    point.attributes.state === "fan"
  )!;
  assert.deepEqual(fan.attributes, {
    workflow: "orders",
    state: "fan",
    kind: "split",
    outcome: "completed",
  });
  assert.equal(fan.count, 1);
  assert.equal(fan.value, 0.05);
  const run = metrics.get("cano_run_duration_seconds")![0]!;
  assert.deepEqual(run.attributes, { workflow: "orders", outcome: "failed" });
  assert.equal(run.value, 0.05);
});

Deno.test("instrument() counts checkpoints, resumes, claims, cancellations and timeouts", async () => {
  using sdk = new RecordingSdk();
  using time = new FakeTime(START);
  const store = new MemoryCheckpointStore();
  let calls = 0;
  const workflow = new Workflow<"work" | "done">({ name: "durable" })
    .withCheckpointStore(store)
    .register("work", () => {
      calls += 1;
      return calls === 1 ? Promise.reject(new Error("crash")) : "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done");
  const slow = new Workflow<"wait" | "done">({ name: "slow" })
    .withTotalTimeout(100)
    .register("wait", () => new Promise<never>(() => {}), { config: TaskConfig.minimal() })
    .addExitState("done");
  using _durable = instrument(workflow, { tracer: false, meter: sdk.meter });
  using _slow = instrument(slow, { tracer: false, meter: sdk.meter });
  await assert.rejects(workflow.orchestrate("work", { id: "run-1" }), /crash/);
  assert.equal((await workflow.resumeFrom("run-1")).state, "done");
  const cancel = new AbortController();
  const cancelled = assert.rejects(slow.orchestrate("wait", { signal: cancel.signal }), {
    category: "cancelled",
  });
  cancel.abort();
  await cancelled;
  const timedOut = assert.rejects(slow.orchestrate("wait"), { category: "workflow_timeout" });
  await time.tickAsync(100);
  await timedOut;
  const metrics = await sdk.metrics();
  const total = (name: string, workflow: string): number =>
    (metrics.get(name) ?? []).filter((point) => point.attributes.workflow === workflow)
      .reduce((sum, point) => sum + point.value, 0);
  assert.ok(total("cano_checkpoints_observed_total", "durable") >= 2);
  assert.equal(total("cano_resumes_total", "durable"), 1);
  assert.deepEqual(
    metrics.get("cano_ownership_changes_total")!.map((point) => [point.attributes, point.value]),
    [[{ workflow: "durable", change: "claimed" }, 2]],
  );
  assert.equal(total("cano_observed_cancellations_total", "slow"), 1);
  assert.equal(total("cano_observed_workflow_timeouts_total", "slow"), 1);
  assert.deepEqual(
    metrics.get("cano_runs_total")!.map((point) => [point.attributes, point.value]),
    [
      [{ workflow: "durable", outcome: "failed", category: "task_execution" }, 1],
      [{ workflow: "durable", outcome: "completed" }, 1],
      [{ workflow: "slow", outcome: "cancelled", category: "cancelled" }, 1],
      [{ workflow: "slow", outcome: "failed", category: "workflow_timeout" }, 1],
    ],
  );
});

Deno.test("instrument() counts circuit breaker transitions and rate limiter waits of the workflow's states", async () => {
  using sdk = new RecordingSdk();
  using time = new FakeTime(START);
  const breaker = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 1_000 });
  const limiter = new RateLimiter({ maxTokens: 1, refillPeriod: 100 });
  const workflow = new Workflow<"call" | "limited" | "done">({ name: "guarded" })
    .register("call", () => Promise.reject(new Error("503")), {
      config: { ...TaskConfig.minimal(), circuitBreaker: breaker },
    })
    .register("limited", () => "done", {
      config: { ...TaskConfig.minimal(), rateLimiter: limiter },
    })
    .addExitState("done");
  const instrumentation = instrument(workflow, { tracer: false, meter: sdk.meter });
  // A second instrumentation on the same meter does not count twice.
  const again = instrument(workflow, { tracer: false, meter: sdk.meter });
  again.detach();
  await assert.rejects(workflow.orchestrate("call"), /503/);
  await assert.rejects(workflow.orchestrate("call"), { category: "circuit_open" });
  await workflow.orchestrate("limited");
  const waiting = workflow.orchestrate("limited");
  await time.tickAsync(100);
  await waiting;
  instrumentation.detach();
  await time.tickAsync(1_000);
  await assert.rejects(workflow.orchestrate("call"), /503/); // half-open → open: not counted
  const metrics = await sdk.metrics();
  assert.deepEqual(
    metrics.get("cano_circuit_transitions_total")!.map((p) => [p.attributes, p.value]),
    [[{ transition: "closed_to_open" }, 1]],
  );
  assert.deepEqual(
    metrics.get("cano_circuit_open_events_total")!.map((p) => [p.attributes, p.value]),
    [[{ workflow: "guarded", task: "call" }, 1]],
  );
  assert.deepEqual(
    metrics.get("cano_rate_limiter_throttled_total")!.map((p) => [p.attributes, p.value]),
    [[{ result: "waited" }, 1]],
  );
  const wait = metrics.get("cano_rate_limiter_wait_seconds")![0]!;
  assert.equal(wait.count, 1);
  assert.equal(wait.value, 0.1);
});

Deno.test("instrument(scheduler) records a cano.tick span per scheduled run, its run nested", async () => {
  using sdk = new RecordingSdk();
  using time = new FakeTime(START);
  const workflow = new Workflow<"sync" | "done">({ name: "sync" })
    .register("sync", () => "done", { config: TaskConfig.minimal() })
    .addExitState("done");
  const scheduler = new Scheduler().every("sync-every-second", workflow, "sync", 1_000)
    .manual("sync-now", workflow, "sync");
  using _instrumentation = instrument(scheduler, { tracer: sdk.tracer, meter: sdk.meter });
  await using running = await scheduler.start();
  const ended = new Promise((resolve) => running.addEventListener("flowend", resolve));
  await time.tickAsync(0);
  await ended;
  await running.trigger("sync-now");
  await time.tickAsync(20);
  assert.deepEqual(tree(sdk.spans(), ["cano.flow", "cano.source", "cano.state", "cano.outcome"]), [
    "cano.tick flow=sync-every-second source=interval outcome=completed",
    "  cano.run outcome=completed",
    "    cano.state state=sync outcome=completed",
    "      cano.attempt state=sync outcome=completed",
    "    cano.state state=done outcome=completed",
    "cano.tick flow=sync-now source=trigger outcome=completed",
    "  cano.run outcome=completed",
    "    cano.state state=sync outcome=completed",
    "      cano.attempt state=sync outcome=completed",
    "    cano.state state=done outcome=completed",
  ]);
  const metrics = await sdk.metrics();
  assert.deepEqual(
    metrics.get("cano_scheduler_ticks_total")!.map((p) => [p.attributes, p.value]),
    [
      [{ flow: "sync-every-second", source: "interval", outcome: "completed" }, 1],
      [{ flow: "sync-now", source: "trigger", outcome: "completed" }, 1],
    ],
  );
  const lateness = metrics.get("cano_scheduler_tick_lateness_seconds")!;
  assert.deepEqual(lateness.map((p) => p.attributes.flow), ["sync-every-second", "sync-now"]);
  assert.ok(lateness.every((p) => p.count === 1 && p.value >= 0));
  assert.equal(
    metrics.get("cano_runs_total")!.reduce((sum, p) => sum + p.value, 0),
    2,
    "the flows' workflow is instrumented too",
  );
});

Deno.test("instrument(scheduler) also records the flows registered after it, until detached", async () => {
  using sdk = new RecordingSdk();
  const late = (name: string) =>
    new Workflow<"sync" | "done">({ name })
      .register("sync", () => "done", { config: TaskConfig.minimal() })
      .addExitState("done");
  const trigger = async (scheduler: Scheduler, flows: string[]): Promise<void> => {
    await using running = await scheduler.start();
    for (const flow of flows) {
      const ended = new Promise((resolve) => running.addEventListener("flowend", resolve));
      await running.trigger(flow);
      await ended;
    }
  };
  // Instrumented first, flows after (two sharing one workflow): their runs are traced, once.
  const workflow = late("late");
  const scheduler = new Scheduler();
  using _instrumentation = instrument(scheduler, { tracer: sdk.tracer, meter: sdk.meter });
  scheduler.manual("late-a", workflow, "sync").manual("late-b", workflow, "sync");
  await trigger(scheduler, ["late-a", "late-b"]);
  const names = () =>
    sdk.spans().filter((span) => span.name === "cano.run").map((span) =>
      span.attributes["cano.workflow"]
    );
  assert.deepEqual(names(), ["late", "late"]);
  const counted = (await sdk.metrics()).get("cano_runs_total")!;
  assert.equal(counted.reduce((sum, p) => sum + p.value, 0), 2, "one attachment per workflow");
  // Detached before a flow is registered: that flow's runs are not traced.
  const untraced = new Scheduler();
  instrument(untraced, { tracer: sdk.tracer, meter: sdk.meter }).detach();
  untraced.manual("after-detach", late("after"), "sync");
  await trigger(untraced, ["after-detach"]);
  assert.deepEqual(names(), ["late", "late"]);
});

Deno.test("instrument(scheduler) records a cano.tick span for each Deno.cron invocation", async () => {
  using sdk = new RecordingSdk();
  const workflow = new Workflow<"sync" | "done">({ name: "nightly-sync" })
    .register("sync", () => "done", { config: TaskConfig.minimal() })
    .addExitState("done");
  const scheduler = new Scheduler().cron("nightly", workflow, "sync", "0 * * * * *");
  using _instrumentation = instrument(scheduler, { tracer: sdk.tracer, meter: sdk.meter });
  const handlers: Array<() => Promise<void>> = [];
  const cron: DenoCronFunction = (_name, _schedule, _options, handler) => {
    handlers.push(handler);
  };
  registerDenoCron(scheduler, { store: new MemoryCheckpointStore(), cron });
  assert.equal(handlers.length, 1);
  await handlers[0]!(); // Deno.cron invokes the job
  await handlers[0]!(); // a second invocation of the same tick is skipped: no span
  assert.deepEqual(tree(sdk.spans(), ["cano.flow", "cano.source", "cano.outcome"]), [
    "cano.tick flow=nightly source=cron outcome=completed",
    "  cano.run outcome=completed",
    "    cano.state outcome=completed",
    "      cano.attempt outcome=completed",
    "    cano.state outcome=completed",
  ]);
});

Deno.test("instrument() stops at detach, and a run already started keeps its whole tree", async () => {
  using sdk = new RecordingSdk();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  let entered!: () => void;
  const inA = new Promise<void>((resolve) => entered = resolve);
  const workflow = new Workflow<"a" | "b" | "done">()
    .register("a", () => {
      entered();
      return gate.then(() => "b" as const);
    }, { config: TaskConfig.minimal() })
    .register("b", () => "done", { config: TaskConfig.minimal() })
    .addExitState("done");
  const instrumentation = instrument(workflow, { tracer: sdk.tracer, meter: false });
  const run = workflow.orchestrate("a");
  await inA;
  instrumentation.detach();
  instrumentation.detach(); // twice: nothing more
  assert.equal(instrumentation.attached, false);
  release();
  await run;
  assert.deepEqual(tree(sdk.spans(), ["cano.state"]), [
    "cano.run",
    "  cano.state state=a",
    "    cano.attempt state=a",
    "  cano.state state=b",
    "    cano.attempt state=b",
    "  cano.state state=done",
  ]);
  await workflow.orchestrate("a");
  assert.equal(sdk.spans().length, 6, "no span after detach");
});

Deno.test("instrument() leaves a workflow's events exactly as they were", async () => {
  const record = async (instrumented: boolean): Promise<string[]> => {
    using sdk = new RecordingSdk();
    using time = new FakeTime(START);
    const workflow = orderWorkflow();
    const seen: string[] = [];
    for (
      const type of [
        "runstart",
        "stateenter",
        "taskstart",
        "tasksuccess",
        "taskfailure",
        "retry",
        "compensate",
        "runend",
      ] as const
    ) {
      workflow.addEventListener(type, (event) => {
        const e = event as unknown as Record<string, unknown>;
        seen.push([type, e.state, e.taskId, e.attempt].filter((x) => x !== undefined).join(" "));
      });
    }
    const instrumentation = instrumented
      ? instrument(workflow, { tracer: sdk.tracer, meter: sdk.meter })
      : undefined;
    const failed = assert.rejects(workflow.orchestrate("reserve"));
    await time.tickAsync(50);
    await failed;
    instrumentation?.detach();
    return seen;
  };
  const plain = await record(false);
  assert.ok(plain.length > 10);
  assert.deepEqual(await record(true), plain);
});

Deno.test("instrument() with a tracer that throws still runs the workflow", async () => {
  const broken = {
    startSpan(): never {
      throw new Error("exporter down");
    },
    startActiveSpan(): never {
      throw new Error("exporter down");
    },
  };
  const errors: string[] = [];
  const original = console.error;
  console.error = (line: string) => errors.push(line);
  try {
    const workflow = new Workflow<"go" | "done">()
      .register("go", () => "done")
      .addExitState("done");
    using _instrumentation = instrument(workflow, { tracer: broken as never, meter: false });
    assert.equal((await workflow.orchestrate("go")).state, "done");
  } finally {
    console.error = original;
  }
  assert.ok(errors.length > 0);
  assert.match(errors[0]!, /observability consumer threw in start: exporter down/);
});

Deno.test("instrument() refuses a bad target or bad options with a ConfigurationError", () => {
  const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
  const refused = (fn: () => unknown, message: RegExp): void => {
    assert.throws(fn, (error: unknown) => {
      assert.equal((error as { category?: string }).category, "configuration");
      assert.match((error as Error).message, message);
      return true;
    });
  };
  refused(
    () => instrument("orders"),
    /needs a Workflow, a Scheduler or a RunningScheduler, received "orders"/,
  );
  refused(() => instrument(workflow, 42 as never), /instrument options must be an object/);
  refused(
    () => instrument(workflow, { tracer: {} as never }),
    /option tracer must be an OpenTelemetry Tracer/,
  );
  refused(
    () => instrument(workflow, { meter: "prometheus" as never }),
    /option meter must be an OpenTelemetry Meter .*"prometheus"/,
  );
  refused(() => instrument(workflow, { tracer: false, meter: false }), /nothing to record/);
  const hostile = {
    get tracer(): never {
      throw new Error("no");
    },
  };
  refused(() => instrument(workflow, hostile), /tracer could not be read/);
  const hostileTracer = {
    get startSpan(): never {
      throw new Error("no");
    },
  };
  refused(() => instrument(workflow, { tracer: hostileTracer as never }), /option tracer must be/);
});

Deno.test("instrument() with no options uses the global providers, a no-op without an SDK", async () => {
  // No provider registered: the API's no-op tracer and meter. Nothing to see, nothing breaks.
  const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
  using _instrumentation = instrument(workflow);
  assert.equal(trace.getActiveSpan(), undefined);
  assert.equal((await workflow.orchestrate("go")).state, "done");
  assert.equal(context.active(), context.active());
});

Deno.test("The README's metric table lists exactly the metrics instrument() records", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const section = readme.slice(readme.indexOf("## Observability"));
  const rows = [...section.matchAll(/^\| `(cano_[a-z_]+)`\s*\| (\w+)\s*\| ([^|]*)\|/gm)].map((
    [, name, kind, attributes],
  ) => [name, kind, attributes!.trim()]);
  assert.deepEqual(
    rows,
    Object.values(METRICS).map((spec) => [
      spec.name,
      spec.kind,
      spec.attributes.map((a) => `\`${a}\``).join(", "),
    ]),
  );
});
