import assert from "node:assert/strict";
import {
  type ListenerErrorEvent,
  RetryMode,
  SafeEventTarget,
  TaskConfig,
  Workflow,
} from "../mod.ts";
import { FakeTime } from "../testing.ts";

/** Silences console.error for the test's scope and records what was logged. */
function captureConsoleError(): string[] & Disposable {
  const original = console.error;
  const lines = [] as unknown as string[] & Disposable;
  console.error = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
  lines[Symbol.dispose] = () => console.error = original;
  return lines;
}

Deno.test("Workflow events fire in cano's order for a task that retries", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  let calls = 0;
  const workflow = new Workflow<"a" | "b" | "done">()
    .register("a", {
      name: "fetcher",
      config: { retry: RetryMode.fixed(1, 10) },
      run: () => {
        if (++calls === 1) throw new Error("flaky");
        return "b";
      },
    })
    .registerRouter("b", () => "done", { config: TaskConfig.minimal() })
    .addExitState("done")
    .withWorkflowId("wf-events");
  const log: string[] = [];
  const runIds = new Set<string>();
  for (
    const type of [
      "runstart",
      "stateenter",
      "taskstart",
      "retry",
      "tasksuccess",
      "taskfailure",
      "runend",
    ] as const
  ) {
    workflow.addEventListener(type, (event) => {
      runIds.add(event.runId);
      assert.equal(event.workflowId, "wf-events");
      const detail = "state" in event ? event.state : "";
      const task = "taskId" in event ? `/${event.taskId}` : "";
      const attempt = "attempt" in event ? `#${event.attempt}+${event.delay}` : "";
      log.push(`${type}:${detail}${task}${attempt}`);
    });
  }
  const run = workflow.orchestrate("a");
  await time.tickAsync(10);
  await run;
  assert.deepEqual(log, [
    "runstart:",
    "stateenter:a",
    "taskstart:a/fetcher",
    "retry:a/fetcher#1+10",
    "tasksuccess:a/fetcher",
    "stateenter:b",
    "taskstart:b/b",
    "tasksuccess:b/b",
    "stateenter:done",
    "runend:done",
  ]);
  assert.equal(runIds.size, 1);
});

Deno.test("Workflow events report a failure with taskfailure and runend", async () => {
  const workflow = new Workflow<"a" | "done">()
    .register("a", () => {
      throw new Error("nope");
    }, { config: TaskConfig.minimal() })
    .addExitState("done");
  const failures: unknown[] = [];
  const ends: unknown[] = [];
  workflow.addEventListener("taskfailure", (e) => failures.push(e.error));
  workflow.addEventListener("runend", (e) => ends.push(e.error));
  await assert.rejects(workflow.orchestrate("a"));
  assert.equal((failures[0] as Error).message, "nope");
  assert.equal(ends.length, 1);
  assert.equal((ends[0] as Error).name, "StateContextError");
});

Deno.test("SafeEventTarget isolates a throwing listener from the run and the process", async () => {
  using logged = captureConsoleError();
  const workflow = new Workflow<"a" | "done">()
    .register("a", () => "done")
    .addExitState("done");
  const reported: ListenerErrorEvent[] = [];
  const after: string[] = [];
  workflow.addEventListener("stateenter", () => {
    throw new Error("listener bug");
  });
  workflow.addEventListener("stateenter", (e) => after.push(e.state));
  workflow.addEventListener("listenererror", (e) => reported.push(e));
  const result = await workflow.orchestrate("a");
  assert.equal(result.state, "done", "the run's result is unchanged");
  assert.deepEqual(after, ["a", "done"], "later listeners still run");
  assert.equal(reported.length, 2);
  assert.equal(reported[0]?.eventType, "stateenter");
  assert.equal((reported[0]?.error as Error).message, "listener bug");
  assert.equal(logged.length, 2);
  assert.match(logged[0] ?? "", /"stateenter" event listener threw: listener bug/);
});

Deno.test("SafeEventTarget isolates an async listener whose promise rejects", async () => {
  using logged = captureConsoleError();
  const target = new SafeEventTarget<{ ping: Event }>();
  const reported = Promise.withResolvers<unknown>();
  target.addEventListener("listenererror", (e) => reported.resolve(e.error));
  target.addEventListener("ping", async () => {
    await Promise.resolve();
    throw new Error("async bug");
  });
  target.dispatchEvent(new Event("ping"));
  assert.equal(((await reported.promise) as Error).message, "async bug");
  assert.equal(logged.length, 1);
});

Deno.test("SafeEventTarget only logs a throwing listenererror listener", () => {
  using logged = captureConsoleError();
  const target = new SafeEventTarget<{ ping: Event }>();
  target.addEventListener("listenererror", () => {
    throw new Error("second-order bug");
  });
  target.addEventListener("ping", () => {
    throw new Error("first bug");
  });
  target.dispatchEvent(new Event("ping"));
  assert.equal(logged.length, 2);
  assert.match(logged[1] ?? "", /second-order bug/);
});

Deno.test("SafeEventTarget supports handleEvent objects, removal, once and signal", () => {
  const target = new SafeEventTarget<{ ping: Event }>();
  const seen: string[] = [];
  const object = { handleEvent: () => void seen.push("object") };
  const fn = () => void seen.push("fn");
  const controller = new AbortController();
  target.addEventListener("ping", object);
  target.addEventListener("ping", fn);
  target.addEventListener("ping", fn); // duplicate ignored, as on EventTarget
  target.addEventListener("ping", () => void seen.push("once"), { once: true });
  target.addEventListener("ping", () => void seen.push("signal"), { signal: controller.signal });
  target.dispatchEvent(new Event("ping"));
  assert.deepEqual(seen, ["object", "fn", "once", "signal"]);
  seen.length = 0;
  controller.abort();
  target.removeEventListener("ping", object);
  target.dispatchEvent(new Event("ping"));
  assert.deepEqual(seen, ["fn"]);
  assert.equal(target.hasListener("ping"), true);
  target.removeEventListener("ping", fn);
  assert.equal(target.hasListener("ping"), false);
  target.dispatchEvent(new Event("ping"));
  assert.deepEqual(seen, ["fn"]);
});

Deno.test("SafeEventTarget.hasListener() distinguishes capture registrations", () => {
  const target = new SafeEventTarget<{ ping: Event }>();
  const fn = () => {};
  target.addEventListener("ping", fn, true);
  target.addEventListener("ping", fn, false);
  target.removeEventListener("ping", fn, { capture: true });
  assert.equal(target.hasListener("ping"), true);
  target.removeEventListener("ping", fn);
  assert.equal(target.hasListener("ping"), false);
  target.addEventListener("ping", fn, { signal: AbortSignal.abort() });
  assert.equal(target.hasListener("ping"), false, "an aborted signal adds nothing");
});

Deno.test("Workflow events put a task's taskfailure before the run's cancelled and workflowtimeout", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const order: string[] = [];
  const make = () => {
    const workflow = new Workflow<"wait" | "done">()
      .register("wait", (ctx) =>
        new Promise<"done">((_, reject) => {
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true });
        }), { config: TaskConfig.minimal() })
      .addExitState("done");
    for (const type of ["taskfailure", "cancelled", "workflowtimeout", "runend"] as const) {
      workflow.addEventListener(type, () => order.push(type));
    }
    return workflow;
  };
  const controller = new AbortController();
  const cancelled = make().orchestrate("wait", { signal: controller.signal }).catch((e) => e);
  await time.tickAsync(10);
  controller.abort();
  await cancelled;
  assert.deepEqual(order, ["taskfailure", "cancelled", "runend"]);
  order.length = 0;
  const timedOut = make().withTotalTimeout(100).orchestrate("wait").catch((e) => e);
  await time.tickAsync(100);
  await timedOut;
  assert.deepEqual(order, ["taskfailure", "workflowtimeout", "runend"]);
});
