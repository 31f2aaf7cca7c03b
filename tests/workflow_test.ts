import assert from "node:assert/strict";
import {
  CanoError,
  ConfigurationError,
  NonRetryableError,
  RetryExhaustedError,
  RetryMode,
  StateContextError,
  TaskConfig,
  type TaskContext,
  Workflow,
} from "../mod.ts";
import { FakeTime } from "../testing.ts";

type Step = "fetch" | "process" | "done" | "failed";

Deno.test("Workflow.orchestrate() runs states until an exit state and returns the path", async () => {
  const workflow = new Workflow<Step, { log: string[] }>()
    .register("fetch", (ctx) => {
      ctx.data.log.push(`fetch@${ctx.attempt}`);
      return "process";
    })
    .register("process", {
      name: "processor",
      run: async (ctx) => {
        await Promise.resolve();
        ctx.data.log.push(`process:${ctx.state}`);
        return "done";
      },
    })
    .addExitStates("done", "failed")
    .withWorkflowId("wf-1");
  const data = { log: [] as string[] };
  const result = await workflow.orchestrate("fetch", { data });
  assert.equal(result.state, "done");
  assert.equal(result.data, data, "run data is the object passed in, mutated in place");
  assert.deepEqual(data.log, ["fetch@1", "process:process"]);
  assert.deepEqual(result.path, ["fetch", "process", "done"]);
  assert.equal(result.workflowId, "wf-1");
});

Deno.test("Workflow.orchestrate() starts from {} when no data is given", async () => {
  const workflow = new Workflow<"a" | "done">()
    .register("a", (ctx) => {
      ctx.data.touched = true;
      return "done";
    })
    .addExitState("done");
  assert.deepEqual((await workflow.orchestrate("a")).data, { touched: true });
});

Deno.test("Workflow.orchestrate() picks up run data a task replaced", async () => {
  const workflow = new Workflow<"a" | "done", { n: number }>()
    .register("a", (ctx) => {
      ctx.data = { n: ctx.data.n + 1 };
      return "done";
    })
    .addExitState("done");
  assert.deepEqual((await workflow.orchestrate("a", { data: { n: 1 } })).data, { n: 2 });
});

Deno.test("Workflow.orchestrate() gives every task its context", async () => {
  const seen: Array<Omit<TaskContext<string>, "resources" | "data" | "signal">> = [];
  const workflow = new Workflow<"a" | "b" | "done">()
    .register("a", (ctx) => {
      seen.push({
        state: ctx.state,
        attempt: ctx.attempt,
        workflowId: ctx.workflowId,
        runId: ctx.runId,
      });
      assert.ok(ctx.signal instanceof AbortSignal);
      assert.equal(ctx.resources, workflow.resources);
      return "b";
    })
    .register("b", (ctx) => {
      seen.push({
        state: ctx.state,
        attempt: ctx.attempt,
        workflowId: ctx.workflowId,
        runId: ctx.runId,
      });
      return "done";
    })
    .addExitState("done");
  await workflow.orchestrate("a");
  await workflow.orchestrate("a");
  assert.equal(seen.length, 4);
  assert.equal(seen[0]?.state, "a");
  assert.equal(seen[1]?.state, "b");
  assert.equal(seen[0]?.runId, seen[1]?.runId, "one run id per run");
  assert.notEqual(seen[0]?.runId, seen[2]?.runId, "a fresh run id per orchestrate");
  assert.equal(seen[0]?.workflowId, undefined);
});

Deno.test("Workflow.orchestrate() lets an exit state win over its handler", async () => {
  let ran = false;
  const workflow = new Workflow<"a" | "done">()
    .register("a", () => "done")
    .register("done", () => {
      ran = true;
      return "a";
    })
    .addExitState("done");
  assert.equal((await workflow.orchestrate("a")).state, "done");
  assert.equal((await workflow.orchestrate("done")).state, "done");
  assert.equal(ran, false);
});

Deno.test("Workflow.orchestrate() allows self-loops and cycles", async () => {
  const workflow = new Workflow<"ping" | "pong" | "done", { n: number }>()
    .register("ping", (ctx) => ++ctx.data.n >= 5 ? "done" : "pong")
    .register("pong", () => "ping")
    .addExitState("done");
  const result = await workflow.orchestrate("ping", { data: { n: 0 } });
  assert.equal(result.path.length, 10);
  assert.equal(result.path.filter((s) => s === "ping").length, 5);
});

Deno.test("Workflow.orchestrate() fails with a workflow error on an unregistered state", async () => {
  const workflow = new Workflow<string>()
    .register("a", () => "nowhere")
    .addExitState("done");
  await assert.rejects(workflow.orchestrate("a"), (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "workflow");
    assert.equal(error.state, "nowhere");
    assert.deepEqual(error.path, ["a", "nowhere"]);
    assert.match(error.message, /No task registered for state: nowhere/);
    return true;
  });
});

Deno.test("Workflow.orchestrate() wraps task errors in StateContextError with the cause's category", async () => {
  const workflow = new Workflow<Step>()
    .register("fetch", () => "process")
    .register("process", () => {
      throw new NonRetryableError("bad input");
    })
    .addExitState("done");
  await assert.rejects(workflow.orchestrate("fetch"), (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.ok(error instanceof CanoError);
    assert.equal(error.category, "task_execution");
    assert.equal(error.state, "process");
    assert.equal(error.attempt, 1);
    assert.deepEqual(error.path, ["fetch", "process"]);
    assert.ok(error.cause instanceof NonRetryableError);
    assert.match(error.message, /state=process attempt=1 path=\[fetch, process\]/);
    return true;
  });
});

Deno.test("Workflow.orchestrate() retries a failing task per its config", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  let calls = 0;
  const workflow = new Workflow<"flaky" | "done">()
    .register("flaky", {
      config: { retry: RetryMode.fixed(2, 100) },
      run: () => {
        calls += 1;
        if (calls < 3) throw new Error("flaky");
        return "done";
      },
    })
    .addExitState("done");
  const run = workflow.orchestrate("flaky");
  await time.tickAsync(200);
  assert.equal((await run).state, "done");
  assert.equal(calls, 3);
});

Deno.test("Workflow.orchestrate() reports exhausted retries with their attempt count", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const workflow = new Workflow<"flaky" | "done">()
    .register("flaky", () => {
      throw new Error("always");
    }, { config: { retry: RetryMode.exponential(3, { baseDelay: 10, jitter: 0 }) } })
    .addExitState("done");
  const check = assert.rejects(workflow.orchestrate("flaky"), (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "retry_exhausted");
    assert.equal(error.attempt, 4);
    assert.ok(error.cause instanceof RetryExhaustedError);
    return true;
  });
  await time.tickAsync(10 + 20 + 40);
  await check;
});

Deno.test("Workflow.register() uses TaskConfig.default() for function tasks", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  let calls = 0;
  const workflow = new Workflow<"a" | "done">()
    .register("a", () => {
      calls += 1;
      throw new Error("x");
    })
    .addExitState("done");
  const check = assert.rejects(workflow.orchestrate("a"), { category: "retry_exhausted" });
  await time.tickAsync(30_000);
  await check;
  assert.equal(calls, 4);
});

Deno.test("Workflow.register() replaces an earlier handler for the same state", async () => {
  const workflow = new Workflow<"a" | "x" | "y">()
    .register("a", () => "x")
    .register("a", () => "y")
    .addExitStates("x", "y");
  assert.equal((await workflow.orchestrate("a")).state, "y");
  assert.deepEqual(workflow.registeredStates(), ["a"]);
});

Deno.test("Workflow.register() checks declared next states at run time", async () => {
  const workflow = new Workflow<Step>()
    .register("fetch", (() => "failed") as unknown as () => "done", { next: ["done"] })
    .addExitStates("done", "failed");
  await assert.rejects(workflow.orchestrate("fetch"), (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "workflow");
    assert.match(
      error.message,
      /returned "failed", which is not among its declared next states \[done\]/,
    );
    return true;
  });
});

Deno.test("Workflow.register() rejects a task that returns no state", async () => {
  const workflow = new Workflow<"a" | "done">()
    .register("a", (() => undefined) as unknown as () => "done", { config: TaskConfig.minimal() })
    .addExitState("done");
  await assert.rejects(
    workflow.orchestrate("a"),
    /returned undefined; expected the name of the next state/,
  );
});

Deno.test("Workflow.register() narrows the task's return type to the declared next states", () => {
  const workflow = new Workflow<Step>()
    // @ts-expect-error: "failed" is not among the declared next states.
    .register("fetch", () => "failed", { next: ["process"] })
    .register("process", () => "done", { next: ["done"] })
    .addExitStates("done", "failed");
  assert.deepEqual(workflow.registeredStates(), ["fetch", "process"]);
});

Deno.test("Workflow.register() rejects invalid registrations", () => {
  const workflow = new Workflow<string>();
  assert.throws(() => workflow.register("", () => "x"), ConfigurationError);
  assert.throws(
    () => workflow.register("a", {} as unknown as () => string),
    /must be a function or an object with a run\(ctx\) method/,
  );
  assert.throws(() => workflow.register("a", () => "x", { next: [] as string[] }), /empty/);
  assert.throws(() => workflow.register("a", () => "x", { config: { attemptTimeout: -5 } }), {
    category: "configuration",
  });
  assert.throws(() => workflow.register("a", { name: "", run: () => "x" }), /non-empty/);
  assert.throws(() => workflow.withWorkflowId(""), ConfigurationError);
  assert.throws(() => workflow.withTotalTimeout(0), ConfigurationError);
  assert.throws(() => workflow.withTotalTimeout(Number.NaN), ConfigurationError);
});

Deno.test("Workflow.validate() refuses a workflow without handlers", () => {
  assert.throws(
    () => new Workflow<"done">().addExitState("done").validate(),
    { category: "configuration", message: "Workflow has no registered state handlers" },
  );
});

Deno.test("Workflow.validate() refuses a workflow without exit states", () => {
  assert.throws(
    () => new Workflow<"a">().register("a", () => "a").validate(),
    /no exit states defined/,
  );
});

Deno.test("Workflow.validate() refuses a declared next state that is neither registered nor exit", () => {
  const workflow = new Workflow<"a" | "b" | "done">()
    .register("a", () => "b", { next: ["b"] })
    .addExitState("done");
  assert.throws(() => workflow.validate(), /declares next state "b", which is neither registered/);
  workflow.register("b", () => "done");
  workflow.validate();
});

Deno.test("Workflow.orchestrate() throws validation and initial-state errors raw, before setup", async () => {
  let setups = 0;
  const resources = new (await import("../mod.ts")).Resources({
    probe: { setup: () => void setups++ },
  });
  const empty = new Workflow<"a" | "done">({ resources }).addExitState("done");
  await assert.rejects(empty.orchestrate("a"), (error: unknown) => {
    assert.ok(error instanceof ConfigurationError);
    assert.ok(!(error instanceof StateContextError));
    return true;
  });
  const workflow = new Workflow<string>({ resources }).register("a", () => "done").addExitState(
    "done",
  );
  await assert.rejects(
    workflow.orchestrate("zzz"),
    /Initial state "zzz" is neither registered nor an exit state/,
  );
  await assert.rejects(
    workflow.orchestrate("a", { signal: "nope" as unknown as AbortSignal }),
    ConfigurationError,
  );
  assert.equal(setups, 0);
});

Deno.test("Workflow.registeredStates() lists handlers but not exit-only states", () => {
  const workflow = new Workflow<Step>()
    .register("fetch", () => "process")
    .registerRouter("process", () => "done")
    .addExitStates("done", "failed");
  assert.deepEqual(workflow.registeredStates(), ["fetch", "process"]);
});

Deno.test("Workflow.registerRouter() routes like a task", async () => {
  const workflow = new Workflow<Step, { ok: boolean }>()
    .registerRouter("fetch", (ctx) => ctx.data.ok ? "done" : "failed", { next: ["done", "failed"] })
    .addExitStates("done", "failed");
  assert.equal((await workflow.orchestrate("fetch", { data: { ok: true } })).state, "done");
  assert.equal((await workflow.orchestrate("fetch", { data: { ok: false } })).state, "failed");
});

Deno.test("Workflow.toMermaid() draws declared edges and marks exit states", () => {
  const workflow = new Workflow<"fetch" | "check-input" | "done" | "failed">()
    .register("fetch", () => "check-input", { next: ["check-input"] })
    .registerRouter("check-input", () => "done", { next: ["done", "failed"] })
    .addExitStates("done", "failed");
  assert.equal(
    workflow.toMermaid("fetch"),
    [
      "stateDiagram-v2",
      "    [*] --> fetch",
      '    state "check-input" as s1',
      "    fetch --> s1",
      "    s1 --> done",
      "    s1 --> failed",
      "    done --> [*]",
      "    failed --> [*]",
      "    note right of s1 : router",
      "",
    ].join("\n"),
  );
});

Deno.test("Workflow.toMermaid() lists states without declared edges", () => {
  const diagram = new Workflow<"a" | "done">()
    .register("a", () => "done")
    .addExitState("done")
    .toMermaid();
  assert.equal(diagram, "stateDiagram-v2\n    a\n    done --> [*]\n");
});
