// The reporter seam (src/observe/): what it asks before any work, isolation of consumers, the
// span helper's closing rules, limiter waits — and `logTo`, its log-line consumer.

import assert from "node:assert/strict";
import {
  type LogSink,
  logTo,
  MemoryCheckpointStore,
  RateLimiter,
  RetryMode,
  TaskConfig,
  Workflow,
} from "../mod.ts";
import { Scheduler } from "../scheduler.ts";
import { FakeTime } from "../testing.ts";
import type { RunObserver, SpanConsumer, SpanEnd, SpanInfo } from "../src/observe/consumer.ts";
import { limiterWaited, watchLimiterWaits } from "../src/observe/limiter_waits.ts";
import { workflowReporter } from "../src/observe/reporter.ts";
import { Spans } from "../src/observe/spans.ts";

const START = Date.UTC(2026, 0, 1);

/** A sink that keeps its lines as `level line`. */
function memorySink(): LogSink & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    debug: (line) => lines.push(line),
    info: (line) => lines.push(line),
    warn: (line) => lines.push(line),
    error: (line) => lines.push(line),
  };
}

/** `level event` of each line. */
function events(lines: readonly string[]): string[] {
  return lines.map((line) => {
    const level = /level=(\w+)/.exec(line)?.[1];
    const event = /event=(\w+)/.exec(line)?.[1];
    return `${level} ${event}`;
  });
}

type Step = "reserve" | "charge" | "done";

function saga(): Workflow<Step> {
  let calls = 0;
  return new Workflow<Step>({ name: "checkout" })
    .registerWithCompensation("reserve", {
      name: "reserve",
      config: TaskConfig.minimal(),
      run: () => ({ next: "charge", output: 1 }),
      compensate: () => {},
    })
    .register("charge", () => {
      calls += 1;
      throw new Error(calls === 1 ? "503" : "card declined");
    }, { config: { retry: RetryMode.fixed(1, 100) } })
    .addExitState("done");
}

// ── logTo ────────────────────────────────────────────────────────────────────────────────────

Deno.test("logTo() writes one line per lifecycle point, at cano's levels", async () => {
  using time = new FakeTime(START);
  const sink = memorySink();
  const workflow = saga();
  using _log = logTo(workflow, sink);
  const failed = assert.rejects(workflow.orchestrate("reserve"), /card declined/);
  await time.tickAsync(100);
  await failed;
  assert.deepEqual(events(sink.lines), [
    "info run_start",
    "debug state_enter",
    "debug task_start",
    "info task_success",
    "debug state_enter",
    "debug task_start",
    "warn retry",
    "error task_failure",
    "info compensate",
    "error run_end",
  ]);
  const retry = sink.lines[6]!;
  assert.match(
    retry,
    /^cano level=warn event=retry workflow=checkout run_id=[0-9a-f-]{36} state=charge task=charge attempt=1 delay_ms=100 error=503 category=task_execution$/,
  );
  assert.match(sink.lines[7]!, /error=RetryExhausted|error="[^"]*card declined/);
  assert.match(sink.lines[9]!, /event=run_end .*error="state=charge attempt=2 /);
});

Deno.test("logTo() filters by level and writes JSON lines", async () => {
  const sink = memorySink();
  const store = new MemoryCheckpointStore();
  const workflow = new Workflow<"go" | "done">({ name: "durable" })
    .withCheckpointStore(store)
    .register("go", () => "done", { config: TaskConfig.minimal() })
    .addExitState("done");
  const log = logTo(workflow, sink, { level: "info", format: "json" });
  await workflow.orchestrate("go", { id: "order 7" });
  log.detach();
  const lines = sink.lines.map((line) => JSON.parse(line));
  assert.deepEqual(lines.map((line) => `${line.level} ${line.event}`), [
    "info run_start",
    "info task_success",
    "info run_end",
  ]);
  assert.deepEqual(Object.keys(lines[1]), [
    "logger",
    "level",
    "event",
    "workflow",
    "run_id",
    "workflow_id",
    "state",
    "task",
  ]);
  assert.equal(lines[1].workflow_id, "order 7");
  assert.equal(lines[1].logger, "cano");
  // Detached: nothing more.
  await workflow.orchestrate("go", { id: "order 8" });
  assert.equal(sink.lines.length, 3);
});

Deno.test("logTo() quotes logfmt values that need it", async () => {
  const sink = memorySink();
  const workflow = new Workflow<"go" | "done">({ name: 'my "shop"' })
    .register("go", () => "done")
    .addExitState("done");
  using _log = logTo(workflow, sink, { level: "info" });
  await workflow.orchestrate("go", { id: "a b=c" });
  assert.match(sink.lines[0]!, / workflow="my \\"shop\\"" /);
  assert.match(sink.lines[0]!, / workflow_id="a b=c" /);
});

Deno.test("logTo(scheduler) writes the flows' lines and their runs' lines", async () => {
  const sink = memorySink();
  const workflow = new Workflow<"sync" | "done">({ name: "sync" })
    .register("sync", () => "done", { config: TaskConfig.minimal() })
    .addExitState("done");
  const scheduler = new Scheduler().manual("sync-now", workflow, "sync");
  using _log = logTo(scheduler, sink, { level: "info" });
  await using running = await scheduler.start();
  const ended = new Promise((resolve) => running.addEventListener("flowend", resolve));
  await running.trigger("sync-now");
  await ended;
  assert.deepEqual(events(sink.lines), [
    "info flow_start",
    "info run_start",
    "info task_success",
    "info run_end",
    "info flow_end",
  ]);
  assert.match(sink.lines[0]!, /flow=sync-now source=trigger run_count=1/);
  assert.match(sink.lines[4]!, /flow=sync-now outcome=completed duration_ms=\d+ state=done/);
});

Deno.test("logTo(runningScheduler) attaches to a scheduler already started", async () => {
  const sink = memorySink();
  const workflow = new Workflow<"sync" | "done">({ name: "sync" })
    .register("sync", () => "done", { config: TaskConfig.minimal() })
    .addExitState("done");
  await using running = await new Scheduler().manual("sync-now", workflow, "sync").start();
  const log = logTo(running, sink, { level: "info" });
  const ended = new Promise((resolve) => running.addEventListener("flowend", resolve));
  await running.trigger("sync-now");
  await ended;
  log.detach();
  assert.deepEqual(events(sink.lines), [
    "info flow_start",
    "info run_start",
    "info task_success",
    "info run_end",
    "info flow_end",
  ]);
});

Deno.test("logTo() with a sink that throws reports it and the run goes on", async () => {
  const errors: string[] = [];
  const original = console.error;
  console.error = (line: string) => errors.push(line);
  try {
    const boom = (): never => {
      throw new Error("disk full");
    };
    const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState(
      "done",
    );
    using _log = logTo(workflow, { debug: boom, info: boom, warn: boom, error: boom });
    assert.equal((await workflow.orchestrate("go")).state, "done");
  } finally {
    console.error = original;
  }
  assert.ok(errors.length >= 3);
  assert.match(errors[0]!, /observability consumer threw in runStart: disk full/);
});

Deno.test("logTo() refuses a bad target, sink or option with a ConfigurationError", () => {
  const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
  const refused = (fn: () => unknown, message: RegExp): void => {
    assert.throws(fn, (error: unknown) => {
      assert.equal((error as { category?: string }).category, "configuration");
      assert.match((error as Error).message, message);
      return true;
    });
  };
  refused(() => logTo(undefined), /logTo needs a Workflow, a Scheduler or a RunningScheduler/);
  refused(
    () => logTo(workflow, { info() {} } as never),
    /sink must have debug, info, warn and error/,
  );
  refused(
    () => logTo(workflow, console, { level: "trace" as never }),
    /level must be .* received "trace"/,
  );
  refused(
    () => logTo(workflow, console, { format: "xml" as never }),
    /format must be .* received "xml"/,
  );
  refused(() => logTo(workflow, console, "loud" as never), /logTo options must be an object/);
  // Nothing was attached by the refused calls.
  assert.equal(workflowReporter(workflow).listens("stateenter"), false);
});

// ── The seam ─────────────────────────────────────────────────────────────────────────────────

Deno.test("WorkflowReporter.listens() is false for every point until someone listens", () => {
  const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
  const reporter = workflowReporter(workflow);
  const points = [
    "runstart",
    "stateenter",
    "retry",
    "checkpoint",
    "resume",
    "compensate",
  ] as const;
  assert.deepEqual(points.map((p) => reporter.listens(p)), points.map(() => false));
  assert.equal(reporter.observed(), false, "nobody takes the points without an event");
  assert.equal(reporter.spans(), undefined);
  // An event listener makes its own point (only) observed.
  const listener = (): void => {};
  workflow.addEventListener("retry", listener);
  assert.deepEqual(points.map((p) => reporter.listens(p)), [
    false,
    false,
    true,
    false,
    false,
    false,
  ]);
  assert.equal(reporter.observed(), false);
  workflow.removeEventListener("retry", listener);
  // An observer takes every point; a span consumer makes runs take spans.
  const detach = reporter.attach({
    observer: {},
    spans: { start() {}, end() {}, within: (_s, fn) => fn() },
  });
  assert.deepEqual(points.map((p) => reporter.listens(p)), points.map(() => true));
  assert.equal(reporter.observed(), true);
  assert.ok(reporter.spans() !== undefined);
  detach();
  detach();
  assert.deepEqual(points.map((p) => reporter.listens(p)), points.map(() => false));
  assert.equal(reporter.observed(), false);
  assert.equal(reporter.spans(), undefined);
});

Deno.test("WorkflowReporter delivers to every observer, in order, though one throws", async () => {
  const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
  const reporter = workflowReporter(workflow);
  const seen: string[] = [];
  const errors: string[] = [];
  const original = console.error;
  console.error = (line: string) => errors.push(line);
  const throwing: RunObserver = {
    stateEnter() {
      throw new Error("bad observer");
    },
  };
  const counting: RunObserver = {
    stateEnter: (_run, state) => void seen.push(`observer ${state}`),
  };
  workflow.addEventListener("stateenter", (e) => void seen.push(`event ${e.state}`));
  const detachers = [
    reporter.attach({ observer: throwing }),
    reporter.attach({ observer: counting }),
  ];
  try {
    await workflow.orchestrate("go");
  } finally {
    console.error = original;
    for (const detach of detachers) detach();
  }
  // The events consumer first, then the observers in attach order.
  assert.deepEqual(seen, ["event go", "observer go", "event done", "observer done"]);
  assert.equal(errors.length, 2);
});

/** A span consumer that records starts and ends as strings. */
function recordingSpans(): SpanConsumer & { log: string[] } {
  const log: string[] = [];
  let next = 0;
  return {
    log,
    start(info: SpanInfo, parent: unknown): unknown {
      const id = `${info.kind}#${next++}`;
      log.push(`start ${id}${parent === undefined ? "" : ` in ${String(parent)}`}`);
      return id;
    },
    end(span: unknown, end: SpanEnd): void {
      log.push(`end ${String(span)} ${end.outcome}${end.failed ? ` ${String(end.error)}` : ""}`);
    },
    within<T>(span: unknown, fn: () => T): T {
      log.push(`within ${String(span)}`);
      return fn();
    },
  };
}

Deno.test("Spans.around() closes a span once: on return, throw, settle or abort", async () => {
  const consumer = recordingSpans();
  const spans = new Spans([consumer]);
  const info: SpanInfo = { kind: "attempt", workflow: "w" };
  assert.equal(spans.around(info, undefined, () => 1), 1);
  assert.throws(() =>
    spans.around(info, undefined, () => {
      throw new Error("sync");
    }), /sync/);
  await assert.rejects(spans.around(info, ["state#9"], () => Promise.reject(new Error("async"))));
  const controller = new AbortController();
  let resolve!: (value: string) => void;
  const hanging = spans.around(
    info,
    undefined,
    () => new Promise<string>((r) => resolve = r),
    controller.signal,
  );
  controller.abort(new Error("timed out"));
  resolve("late");
  assert.equal(await hanging, "late", "the caller still gets the task's own promise");
  assert.deepEqual(consumer.log, [
    "start attempt#0",
    "within attempt#0",
    "end attempt#0 completed",
    "start attempt#1",
    "within attempt#1",
    "end attempt#1 failed Error: sync",
    "start attempt#2 in state#9",
    "within attempt#2",
    "end attempt#2 failed Error: async",
    "start attempt#3",
    "within attempt#3",
    "end attempt#3 failed Error: timed out",
  ]);
});

Deno.test("Spans tolerates a consumer that throws: the others and the work go on", () => {
  const good = recordingSpans();
  const errors: string[] = [];
  const original = console.error;
  console.error = (line: string) => errors.push(line);
  try {
    const bad: SpanConsumer = {
      start(): never {
        throw new Error("start");
      },
      end(): never {
        throw new Error("end");
      },
      within(): never {
        throw new Error("within");
      },
    };
    const spans = new Spans([bad, good]);
    assert.equal(spans.around({ kind: "run", workflow: "w" }, undefined, () => "ok"), "ok");
  } finally {
    console.error = original;
  }
  assert.deepEqual(good.log, ["start run#0", "within run#0", "end run#0 completed"]);
  assert.equal(errors.length, 3);
});

Deno.test("A rate limiter reports each wait that ended to its watchers, admitted or aborted", async () => {
  using time = new FakeTime(START);
  const limiter = new RateLimiter({ maxTokens: 1, refillPeriod: 100 });
  const waits: Array<[number, boolean]> = [];
  const stop = watchLimiterWaits(limiter, (ms, admitted) => void waits.push([ms, admitted]));
  await limiter.acquire(); // no wait: not reported
  const admitted = limiter.acquire();
  await time.tickAsync(100);
  await admitted;
  const controller = new AbortController();
  const aborted = assert.rejects(limiter.acquire(1, { signal: controller.signal }), /gave up/);
  await time.tickAsync(30);
  controller.abort(new Error("gave up"));
  await aborted;
  stop();
  stop();
  limiterWaited(limiter, 5, true); // nobody watches any more
  assert.deepEqual(waits, [[100, true], [30, false]]);
});
