import assert from "node:assert/strict";
import {
  CancelledError,
  RetryMode,
  StateContextError,
  TaskConfig,
  Workflow,
  WorkflowTimeoutError,
} from "../mod.ts";
import { FakeTime } from "../testing.ts";

type Step = "start" | "slow" | "done";

/** A task that waits for `ms` on the given clock, honouring its signal. */
function sleeper(ms: number): (ctx: { signal: AbortSignal }) => Promise<"done"> {
  return ({ signal }) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve("done"), ms);
      signal.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(signal.reason);
      }, { once: true });
    });
}

Deno.test("Workflow.orchestrate() ends promptly when aborted in the middle of a long task", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const controller = new AbortController();
  let taskSignal: AbortSignal | undefined;
  const workflow = new Workflow<Step>()
    .register("start", () => "slow")
    .register("slow", (ctx) => {
      taskSignal = ctx.signal;
      return sleeper(3_600_000)(ctx);
    })
    .addExitState("done");
  const cancelled: string[] = [];
  workflow.addEventListener("cancelled", (e) => cancelled.push(e.state));
  const run = workflow.orchestrate("start", { signal: controller.signal });
  await time.tickAsync(1_000);
  controller.abort(new Error("user pressed stop"));
  await assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "cancelled");
    assert.equal(error.state, "slow");
    assert.equal(error.attempt, 0);
    assert.ok(error.cause instanceof CancelledError);
    assert.equal((error.cause.cause as Error).message, "user pressed stop");
    return true;
  });
  assert.equal(taskSignal?.aborted, true);
  assert.equal((taskSignal?.reason as Error).message, "user pressed stop");
  assert.deepEqual(cancelled, ["slow"]);
  assert.equal(time.now - Date.UTC(2026, 0, 1), 1_000, "no waiting out the task");
});

Deno.test("Workflow.orchestrate() is not held hostage by a task that ignores its signal", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const controller = new AbortController();
  let finished = false;
  const workflow = new Workflow<Step>()
    .register("slow", async () => {
      await new Promise((resolve) => setTimeout(resolve, 10_000));
      finished = true;
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done");
  const run = workflow.orchestrate("slow", { signal: controller.signal });
  await time.tickAsync(10);
  controller.abort();
  await assert.rejects(run, { category: "cancelled" });
  assert.equal(finished, false);
  await time.tickAsync(10_000); // let the stubborn task finish so no timer leaks
  assert.equal(finished, true);
});

Deno.test("Workflow.orchestrate() with a pre-aborted signal runs no task", async () => {
  let ran = false;
  const workflow = new Workflow<Step>()
    .register("start", () => {
      ran = true;
      return "done";
    })
    .addExitState("done");
  const events: string[] = [];
  workflow.addEventListener("stateenter", (e) => events.push(`enter:${e.state}`));
  workflow.addEventListener("cancelled", (e) => events.push(`cancelled:${e.state}`));
  await assert.rejects(
    workflow.orchestrate("start", { signal: AbortSignal.abort() }),
    (error: unknown) => {
      assert.ok(error instanceof StateContextError);
      assert.equal(error.category, "cancelled");
      assert.deepEqual(error.path, [], "the state is not entered");
      return true;
    },
  );
  assert.equal(ran, false);
  assert.deepEqual(events, ["cancelled:start"]);
});

Deno.test("Workflow.orchestrate() notices a cancel at the next state boundary", async () => {
  const controller = new AbortController();
  const ran: string[] = [];
  const workflow = new Workflow<Step>()
    .register("start", () => {
      ran.push("start");
      return "slow";
    })
    .register("slow", () => {
      ran.push("slow");
      return "done";
    })
    .addExitState("done");
  // Cancel right after the first task succeeded: the next state must not be entered.
  workflow.addEventListener("tasksuccess", () => controller.abort());
  let cancelledEvents = 0;
  workflow.addEventListener("cancelled", () => cancelledEvents++);
  await assert.rejects(
    workflow.orchestrate("start", { signal: controller.signal }),
    (error: unknown) => error instanceof StateContextError && error.state === "slow",
  );
  assert.deepEqual(ran, ["start"]);
  assert.equal(cancelledEvents, 1);
});

Deno.test("Workflow.orchestrate() cancels during a retry backoff sleep", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const controller = new AbortController();
  let calls = 0;
  const workflow = new Workflow<Step>()
    .register("start", () => {
      calls += 1;
      throw new Error("flaky");
    }, { config: { retry: RetryMode.fixed(5, 60_000) } })
    .addExitState("done");
  const failures: unknown[] = [];
  workflow.addEventListener("taskfailure", (e) => failures.push(e.error));
  const run = workflow.orchestrate("start", { signal: controller.signal });
  await time.tickAsync(30_000);
  controller.abort();
  await assert.rejects(run, { category: "cancelled" });
  assert.equal(calls, 1);
  assert.equal(failures.length, 1);
  assert.ok(failures[0] instanceof CancelledError);
});

Deno.test("Workflow.withTotalTimeout() aborts the task in flight with WorkflowTimeoutError", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  let taskSignal: AbortSignal | undefined;
  const workflow = new Workflow<Step>()
    .register("start", () => "slow")
    .register("slow", (ctx) => {
      taskSignal = ctx.signal;
      return sleeper(60_000)(ctx);
    })
    .addExitState("done")
    .withTotalTimeout(5_000);
  const timeouts: Array<[number, number]> = [];
  workflow.addEventListener("workflowtimeout", (e) => timeouts.push([e.elapsed, e.limit]));
  const run = workflow.orchestrate("start");
  const check = assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "workflow_timeout");
    assert.equal(error.attempt, 0);
    assert.ok(error.cause instanceof WorkflowTimeoutError);
    assert.equal(error.cause.limit, 5_000);
    assert.equal(error.cause.elapsed, 5_000);
    return true;
  });
  await time.tickAsync(5_000);
  await check;
  assert.ok(taskSignal?.reason instanceof WorkflowTimeoutError);
  assert.deepEqual(timeouts, [[5_000, 5_000]]);
});

Deno.test("Workflow.withTotalTimeout() lets a run that finishes in time succeed", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const workflow = new Workflow<Step>()
    .register("slow", sleeper(4_000))
    .addExitState("done")
    .withTotalTimeout(5_000);
  const run = workflow.orchestrate("slow");
  await time.tickAsync(4_000);
  assert.equal((await run).state, "done");
  await time.tickAsync(10_000); // no timer left behind to fire later
});

Deno.test("Workflow.withTotalTimeout() gives each orchestrate call a fresh budget", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const workflow = new Workflow<Step>()
    .register("slow", sleeper(3_000))
    .addExitState("done")
    .withTotalTimeout(5_000);
  for (let i = 0; i < 3; i++) {
    const run = workflow.orchestrate("slow");
    await time.tickAsync(3_000);
    assert.equal((await run).state, "done");
  }
});

Deno.test("Workflow.orchestrate() lets cancellation win over an expired total timeout", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const controller = new AbortController();
  const workflow = new Workflow<Step>()
    .register("slow", (ctx) => {
      controller.abort();
      return sleeper(10_000)(ctx);
    })
    .addExitState("done")
    .withTotalTimeout(1);
  const run = workflow.orchestrate("slow", { signal: controller.signal });
  const check = assert.rejects(run, { category: "cancelled" });
  await time.tickAsync(1);
  await check;
});
