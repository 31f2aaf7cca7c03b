import assert from "node:assert/strict";
import {
  CircuitBreaker,
  ConfigurationError,
  MemoryCheckpointStore,
  NonRetryableError,
  RetryMode,
  StateContextError,
  TaskConfig,
  Workflow,
} from "../mod.ts";
import {
  assertCompensationRan,
  failOnAttempts,
  FakeTime,
  flaky,
  InMemoryCheckpointStore,
  type RecordedEvent,
  RecordingObserver,
} from "../testing.ts";

type Step = "a" | "b" | "c" | "done" | "failed";

function linear(): Workflow<Step> {
  return new Workflow<Step>()
    .register("a", () => "b")
    .register("b", () => "done")
    .addExitStates("done", "failed");
}

Deno.test("RecordingObserver records state and task events of a successful run", async () => {
  const workflow = linear();
  using observer = new RecordingObserver(workflow);
  await workflow.orchestrate("a");
  assert.deepEqual(
    observer.events(),
    [
      { type: "stateenter", state: "a" },
      { type: "taskstart", taskId: "a", state: "a" },
      { type: "tasksuccess", taskId: "a", state: "a" },
      { type: "stateenter", state: "b" },
      { type: "taskstart", taskId: "b", state: "b" },
      { type: "tasksuccess", taskId: "b", state: "b" },
      { type: "stateenter", state: "done" },
    ] satisfies RecordedEvent[],
  );
  assert.deepEqual(observer.statesEntered(), ["a", "b", "done"]);
});

Deno.test("RecordingObserver.events() returns a copy", async () => {
  const workflow = linear();
  using observer = new RecordingObserver(workflow);
  await workflow.orchestrate("a");
  observer.events().length = 0;
  assert.equal(observer.events().length, 7);
});

Deno.test("RecordingObserver records retries and the final failure with its message", async () => {
  const workflow = new Workflow<Step>()
    .register("a", () => {
      throw new Error("flaky");
    }, { config: { retry: RetryMode.fixed(2, 0) } })
    .addExitState("done");
  using observer = new RecordingObserver(workflow);
  await assert.rejects(workflow.orchestrate("a"), StateContextError);
  const events = observer.events();
  assert.deepEqual(events.filter((e) => e.type === "retry"), [
    { type: "retry", taskId: "a", state: "a", attempt: 1 },
    { type: "retry", taskId: "a", state: "a", attempt: 2 },
  ]);
  const failure = events.find((e) => e.type === "taskfailure");
  assert.equal(failure?.type, "taskfailure");
  assert.match(failure.error, /flaky/);
  assert.equal(failure.taskId, "a");
});

Deno.test("RecordingObserver records circuitopen", async () => {
  const breaker = new CircuitBreaker({ failureThreshold: 1 });
  const workflow = new Workflow<Step>()
    .register("a", () => {
      throw new Error("down");
    }, { config: { retry: RetryMode.none(), circuitBreaker: breaker } })
    .addExitState("done");
  using observer = new RecordingObserver(workflow);
  await assert.rejects(workflow.orchestrate("a"));
  await assert.rejects(workflow.orchestrate("a"));
  assert.deepEqual(observer.events().filter((e) => e.type === "circuitopen"), [
    { type: "circuitopen", taskId: "a", state: "a" },
  ]);
});

Deno.test("RecordingObserver records checkpoint and resume events", async () => {
  const store = new InMemoryCheckpointStore();
  const flaky = failOnAttempts(1, "done");
  const workflow = new Workflow<Step>()
    .register("a", () => "b")
    .register("b", flaky)
    .addExitState("done")
    .withWorkflowId("order-1")
    .withCheckpointStore(store);
  using observer = new RecordingObserver(workflow);
  await assert.rejects(workflow.orchestrate("a"));
  const checkpoints = observer.take().filter((e) => e.type === "checkpoint");
  assert.deepEqual(checkpoints, [
    { type: "checkpoint", workflowId: "order-1", sequence: 0 },
    { type: "checkpoint", workflowId: "order-1", sequence: 1 },
  ]);
  const result = await workflow.resumeFrom("order-1");
  assert.equal(result.state, "done");
  assert.deepEqual(observer.events().filter((e) => e.type === "resume"), [
    { type: "resume", workflowId: "order-1", sequence: 1 },
  ]);
  observer.assertCompletedWith("done");
});

Deno.test("RecordingObserver records cancelled", async () => {
  const controller = new AbortController();
  const workflow = new Workflow<Step>()
    .register("a", () => {
      controller.abort();
      return "b";
    })
    .register("b", () => "done")
    .addExitState("done");
  using observer = new RecordingObserver(workflow);
  await assert.rejects(workflow.orchestrate("a", { signal: controller.signal }));
  const cancelled = observer.events().filter((e) => e.type === "cancelled");
  assert.equal(cancelled.length, 1);
  assert.equal(cancelled[0]?.type, "cancelled");
});

Deno.test("RecordingObserver records compensate events", async () => {
  const step = (name: string, next: Step) => ({
    name,
    run: () => ({ next, output: name }),
    compensate: () => {
      if (name === "a") throw new Error("undo failed");
    },
  });
  const workflow = new Workflow<Step>()
    .registerWithCompensation("a", step("a", "b"))
    .registerWithCompensation("b", step("b", "c"))
    .register("c", failOnAttempts(1, "done"))
    .addExitState("done");
  using observer = new RecordingObserver(workflow);
  await assert.rejects(workflow.orchestrate("a"));
  assert.deepEqual(observer.events().filter((e) => e.type === "compensate"), [
    { type: "compensate", taskId: "b", ok: true },
    { type: "compensate", taskId: "a", ok: false },
  ]);
});

Deno.test("RecordingObserver records workflowtimeout", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const workflow = new Workflow<Step>()
    .register("a", (ctx) =>
      new Promise<Step>((_resolve, reject) => {
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true });
      }))
    .addExitState("done")
    .withTotalTimeout(1_000);
  using observer = new RecordingObserver(workflow);
  const run = assert.rejects(workflow.orchestrate("a"));
  await time.tickAsync(1_000);
  await run;
  assert.deepEqual(observer.events().filter((e) => e.type === "workflowtimeout"), [
    { type: "workflowtimeout", elapsed: 1_000, limit: 1_000 },
  ]);
});

Deno.test("RecordingObserver.attach() observes several workflows; detach() stops all", async () => {
  const first = linear();
  const second = new Workflow<"x" | "end">().register("x", () => "end").addExitState("end");
  const observer = new RecordingObserver();
  assert.equal(observer.attach(first).attach(second), observer);
  await first.orchestrate("a");
  await second.orchestrate("x");
  assert.deepEqual(observer.statesEntered(), ["a", "b", "done", "x", "end"]);
  observer.detach();
  observer.clear();
  await first.orchestrate("a");
  assert.deepEqual(observer.events(), []);
  observer.attach(first); // re-attach after detach works
  await first.orchestrate("a");
  assert.deepEqual(observer.statesEntered(), ["a", "b", "done"]);
  observer.detach();
});

Deno.test("RecordingObserver is Disposable: leaving `using` detaches", async () => {
  const workflow = linear();
  let observer: RecordingObserver;
  {
    using scoped = new RecordingObserver(workflow);
    observer = scoped;
  }
  await workflow.orchestrate("a");
  assert.deepEqual(observer.events(), []);
});

Deno.test("RecordingObserver.clear() and take()", async () => {
  const workflow = linear();
  using observer = new RecordingObserver(workflow);
  await workflow.orchestrate("a");
  const taken = observer.take();
  assert.equal(taken.length, 7);
  assert.deepEqual(observer.events(), []);
  await workflow.orchestrate("a");
  observer.clear();
  assert.deepEqual(observer.take(), []);
  assert.deepEqual(observer.statesEntered(), []);
});

Deno.test("RecordingObserver.assertCompletedWith() passes or throws a clear AssertionError", async () => {
  const workflow = linear();
  using observer = new RecordingObserver(workflow);
  assert.throws(() => observer.assertCompletedWith("done"), {
    name: "AssertionError",
    message: /"done", but no state was entered/,
  });
  await workflow.orchestrate("a");
  observer.assertCompletedWith("done");
  assert.throws(() => observer.assertCompletedWith("failed"), {
    name: "AssertionError",
    message: 'RecordingObserver: expected the last entered state to be "failed", but it was ' +
      '"done" (path: ["a","b","done"])',
  });
  assert.throws(() => observer.assertCompletedWith(1 as unknown as string), ConfigurationError);
});

Deno.test("RecordingObserver.assertPath() compares the whole path", async () => {
  const workflow = linear();
  using observer = new RecordingObserver(workflow);
  await workflow.orchestrate("a");
  observer.assertPath(["a", "b", "done"]);
  assert.throws(() => observer.assertPath(["a", "c", "done"]), {
    name: "AssertionError",
    message:
      /path differs at index 1\n {2}expected: \["a","c","done"\]\n {2}actual: {3}\["a","b","done"\]/,
  });
  assert.throws(() => observer.assertPath(["a", "b"]), /index 2/);
  assert.throws(() => observer.assertPath(["a", "b", "done", "x"]), /index 3/);
  assert.throws(() => observer.assertPath("a" as unknown as string[]), ConfigurationError);
});

Deno.test("RecordingObserver.assertAllStatesEntered() returns the missing states, deduped, in input order", async () => {
  const workflow = linear();
  using observer = new RecordingObserver(workflow);
  await workflow.orchestrate("a");
  assert.deepEqual(observer.assertAllStatesEntered(["a", "done"]), []);
  assert.deepEqual(observer.assertAllStatesEntered([]), []);
  assert.deepEqual(observer.assertAllStatesEntered(["failed", "c", "a", "failed", "c"]), [
    "failed",
    "c",
  ]);
  assert.throws(
    () => observer.assertAllStatesEntered([1] as unknown as string[]),
    ConfigurationError,
  );
});

Deno.test("RecordingObserver.assertRegisteredStatesEntered() finds dead states, not exit-only ones", async () => {
  const workflow = new Workflow<Step>()
    .register("a", () => "b")
    .register("b", () => "done")
    .register("c", () => "done")
    .addExitStates("done", "failed");
  using observer = new RecordingObserver(workflow);
  await workflow.orchestrate("a");
  assert.deepEqual(observer.assertRegisteredStatesEntered(workflow), ["c"]);
  await workflow.orchestrate("c");
  assert.deepEqual(observer.assertRegisteredStatesEntered(workflow), []);
  assert.throws(
    () => observer.assertRegisteredStatesEntered({} as unknown as Workflow<Step>),
    ConfigurationError,
  );
});

Deno.test("RecordingObserver.assertStateCoverage() passes once every registered state was entered", async () => {
  const workflow = new Workflow<Step>()
    .register("a", (ctx) => ctx.data.to === "c" ? "c" : "b")
    .register("b", () => "done")
    .register("c", () => "failed")
    .addExitStates("done", "failed");
  using observer = new RecordingObserver(workflow);
  await workflow.orchestrate("a");
  await workflow.orchestrate("a", { data: { to: "c" } });
  observer.assertStateCoverage(workflow);
  observer.assertStateCoverage(workflow, { includeExits: true });
  observer.assertStateCoverage(["a", "c", "failed", "a"]);
  observer.assertStateCoverage([]);
});

Deno.test("RecordingObserver.assertStateCoverage() throws an AssertionError listing the states never entered", async () => {
  const workflow = new Workflow<Step>()
    .register("a", () => "b")
    .register("b", () => "done")
    .register("c", () => "done")
    .register("done", () => "done") // an exit state with a handler is counted once
    .addExitStates("done", "failed");
  using observer = new RecordingObserver(workflow);
  await workflow.orchestrate("a");
  await workflow.orchestrate("a");
  assert.throws(() => observer.assertStateCoverage(workflow), {
    name: "AssertionError",
    message: 'RecordingObserver: 1 of 4 registered states never entered: ["c"]\n' +
      '  entered: ["a","b","done"]',
  });
  assert.throws(() => observer.assertStateCoverage(workflow, { includeExits: true }), {
    name: "AssertionError",
    message:
      /^RecordingObserver: 2 of 5 registered and exit states never entered: \["c","failed"\]/,
  });
  assert.throws(() => observer.assertStateCoverage(["failed", "a", "failed"]), {
    name: "AssertionError",
    message: /^RecordingObserver: 1 of 2 states never entered: \["failed"\]/,
  });
  observer.clear();
  assert.throws(() => observer.assertStateCoverage(["a"]), /entered: \[\]$/);
});

Deno.test("RecordingObserver.assertStateCoverage() rejects bad input with ConfigurationError", () => {
  const workflow = linear();
  using observer = new RecordingObserver(workflow);
  const cast = <T>(value: unknown) => value as T;
  for (const value of [null, 42, "a", {}]) {
    assert.throws(
      () => observer.assertStateCoverage(cast<Workflow<Step>>(value)),
      /assertStateCoverage needs a workflow or an array of state names/,
    );
  }
  assert.throws(() => observer.assertStateCoverage([1] as unknown as string[]), ConfigurationError);
  assert.throws(
    () => observer.assertStateCoverage(["a"], { includeExits: true }),
    /includeExits needs a workflow; list the exit states instead/,
  );
  assert.throws(
    () => observer.assertStateCoverage({ registeredStates: () => [] }, { includeExits: true }),
    /assertStateCoverage with includeExits needs a Workflow/,
  );
  assert.throws(
    () => observer.assertStateCoverage(workflow, cast({ includeExits: "yes" })),
    /includeExits must be a boolean/,
  );
  assert.throws(
    () => observer.assertStateCoverage(workflow, cast(5)),
    /assertStateCoverage options must be an object/,
  );
});

Deno.test("RecordingObserver rejects a non-workflow with ConfigurationError", () => {
  assert.throws(() => new RecordingObserver({} as unknown as Workflow<Step>), ConfigurationError);
  assert.throws(
    () => new RecordingObserver().attach(null as unknown as Workflow<Step>),
    ConfigurationError,
  );
});

Deno.test("failOnAttempts() fails its first n attempts with NonRetryableError, then returns next", () => {
  const task = failOnAttempts(2, "done");
  assert.equal(task.name, "FailOnAttempts");
  assert.deepEqual(task.config, TaskConfig.minimal());
  assert.equal(task.attempts, 0);
  assert.throws(() => task.run(), NonRetryableError);
  assert.throws(() => task.run(), /attempt 2 of 2/);
  assert.equal(task.run(), "done");
  assert.equal(task.attempts, 3);
});

Deno.test("failOnAttempts() is never retried, even with a retrying config", async () => {
  const task = failOnAttempts(1, "done", {
    name: "boom",
    config: { retry: RetryMode.fixed(5, 0) },
  });
  assert.equal(task.name, "boom");
  const workflow = new Workflow<Step>().register("a", task).addExitState("done");
  using observer = new RecordingObserver(workflow);
  await assert.rejects(workflow.orchestrate("a"), (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.ok(error.cause instanceof NonRetryableError);
    return true;
  });
  assert.equal(task.attempts, 1);
  assert.deepEqual(observer.events().filter((e) => e.type === "retry"), []);
  assert.equal((await workflow.orchestrate("a")).state, "done");
  assert.equal(task.attempts, 2);
});

Deno.test("failOnAttempts(0) always succeeds", () => {
  const task = failOnAttempts(0, "next");
  assert.equal(task.run(), "next");
  assert.equal(task.attempts, 1);
});

Deno.test("failOnAttempts() rejects bad input with ConfigurationError", () => {
  for (const n of [-1, 1.5, Number.NaN, "2" as unknown as number]) {
    assert.throws(() => failOnAttempts(n, "done"), ConfigurationError);
  }
  assert.throws(() => failOnAttempts(1, ""), ConfigurationError);
  assert.throws(() => failOnAttempts(1, "done", { name: "" }), ConfigurationError);
});

Deno.test("assertCompensationRan() passes on equal lists and shows a diff otherwise", () => {
  assertCompensationRan([], []);
  assertCompensationRan(["b", "a"], ["b", "a"]);
  assert.throws(() => assertCompensationRan(["a", "b"], ["b", "a"]), {
    name: "AssertionError",
    message: 'Compensation order differs at index 0: expected "b", got "a"\n' +
      '  - expected: ["b","a"]\n  + actual:   ["a","b"]',
  });
  assert.throws(() => assertCompensationRan(["b"], ["b", "a"]), /expected "a", got nothing/);
  assert.throws(() => assertCompensationRan(["b", "a"], ["b"]), /expected nothing, got "a"/);
  assert.throws(() => assertCompensationRan("b" as unknown as string[], []), ConfigurationError);
  assert.throws(() => assertCompensationRan([], [1] as unknown as string[]), ConfigurationError);
});

Deno.test("InMemoryCheckpointStore is MemoryCheckpointStore", async () => {
  assert.equal(InMemoryCheckpointStore, MemoryCheckpointStore);
  const store = new InMemoryCheckpointStore();
  await store.append("w", {
    sequence: 0,
    state: "a",
    taskId: "a",
    kind: "state_entry",
    workflowVersion: 0,
  });
  assert.equal((await store.loadRun("w")).length, 1);
});

Deno.test("flaky() fails retryably n times, then returns its next state; the retry delays run on the clock", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const task = flaky(2, "done", { config: { retry: RetryMode.fixed(3, 1_000) } });
  const workflow = new Workflow<"work" | "done">().register("work", task).addExitState("done");
  using observer = new RecordingObserver(workflow);
  const run = workflow.orchestrate("work");
  await time.tickAsync(0);
  assert.equal(task.attempts, 1);
  await time.tickAsync(1_000);
  assert.equal(task.attempts, 2, "the first retry waited its 1 s");
  await time.tickAsync(1_000);
  assert.equal((await run).state, "done");
  assert.equal(task.attempts, 3);
  const retries = observer.events().filter((e) => e.type === "retry").length;
  assert.equal(retries, 2);
  assert.equal(task.name, "Flaky");
});

Deno.test("flaky() with more failures than retries ends in RetryExhaustedError; bad input is refused", async () => {
  const task = flaky(5, "done", { name: "Unreliable" });
  const workflow = new Workflow<"work" | "done">().register("work", task).addExitState("done");
  const error = await workflow.orchestrate("work").then(
    () => assert.fail("the run should fail"),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof StateContextError);
  assert.equal((error.cause as Error).name, "RetryExhaustedError");
  assert.equal(task.attempts, 4, "the default: 3 retries");
  assert.match(String((error.cause as Error & { cause?: unknown }).cause), /Unreliable: failing/);
  assert.throws(() => flaky(-1, "done"), ConfigurationError);
  assert.throws(() => flaky(1, "" as "done"), {
    name: "ConfigurationError",
    message: /flaky needs/,
  });
});
