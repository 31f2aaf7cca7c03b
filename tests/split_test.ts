import assert from "node:assert/strict";
import {
  type JoinConfig,
  MemoryCheckpointStore,
  RetryMode,
  type SplitOutcome,
  StateContextError,
  TaskConfig,
  type TaskContext,
  Workflow,
} from "../mod.ts";
import { FakeTime } from "../testing.ts";

type Step = "scatter" | "gather" | "done";

/** A branch that resolves with `value` after `ms` (or fails with `fail`), honouring its signal. */
function branch(
  ms: number,
  value: unknown,
  log?: { aborted: number[]; index: number },
  fail?: string,
): { config: TaskConfig; run(ctx: TaskContext<Step>): Promise<unknown> } {
  return {
    config: TaskConfig.minimal(),
    run: ({ signal }) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => fail ? reject(new Error(fail)) : resolve(value), ms);
        signal.addEventListener("abort", () => {
          clearTimeout(timer);
          log?.aborted.push(log.index);
          reject(signal.reason);
        }, { once: true });
      }),
  };
}

/** A workflow whose join state records `ctx.split`. */
function splitWorkflow(
  branches: ReturnType<typeof branch>[],
  join: Omit<JoinConfig<Step>, "next">,
): { workflow: Workflow<Step>; seen: SplitOutcome[] } {
  const seen: SplitOutcome[] = [];
  const workflow = new Workflow<Step>()
    .registerSplit("scatter", branches, { ...join, next: "gather" })
    .register("gather", (ctx) => {
      if (ctx.split !== undefined) seen.push(ctx.split);
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done");
  return { workflow, seen };
}

function aborts(): { aborted: number[]; at(index: number): { aborted: number[]; index: number } } {
  const aborted: number[] = [];
  return { aborted, at: (index) => ({ aborted, index }) };
}

Deno.test("Workflow.registerSplit() with all waits for every branch and hands ctx.split on", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow, seen } = splitWorkflow(
    [branch(30, "a"), branch(10, "b"), branch(20, "c")],
    { strategy: "all" },
  );
  const run = workflow.orchestrate("scatter");
  await time.tickAsync(30);
  assert.equal((await run).state, "done");
  assert.deepEqual(seen[0], {
    results: [
      { index: 0, status: "ok", value: "a" },
      { index: 1, status: "ok", value: "b" },
      { index: 2, status: "ok", value: "c" },
    ],
    values: ["a", "b", "c"],
    successes: 3,
    failures: 0,
    cancelled: 0,
  });
});

Deno.test("Workflow.registerSplit() with all fails with a summary listing at most three errors", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow } = splitWorkflow(
    [
      branch(5, 1, undefined, "e0"),
      branch(5, 1),
      branch(5, 1, undefined, "e2"),
      branch(5, 1, undefined, "e3"),
      branch(5, 1, undefined, "e4"),
      branch(5, 1, undefined, "e5"),
    ],
    { strategy: "all" },
  );
  const check = assert.rejects(workflow.orchestrate("scatter"), (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "workflow");
    assert.equal(error.state, "scatter");
    assert.match(
      error.message,
      /Join condition not met: 1 of 6 tasks completed successfully, strategy: all; errors: task 0: e0, task 2: e2, task 3: e3, \.\.\. and 2 more error\(s\)/,
    );
    return true;
  });
  await time.tickAsync(5);
  await check;
});

Deno.test("Workflow.registerSplit() with all and failFast aborts the others on the first failure", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log = aborts();
  const { workflow } = splitWorkflow(
    [branch(100, 1, log.at(0)), branch(10, 1, log.at(1), "boom"), branch(100, 1, log.at(2))],
    { strategy: "all", failFast: true },
  );
  const check = assert.rejects(workflow.orchestrate("scatter"), /Join condition not met: 0 of 3/);
  await time.tickAsync(10);
  await check;
  assert.deepEqual(log.aborted.sort(), [0, 2]);
});

Deno.test("Workflow.registerSplit() with any stops at the first success and aborts the losers", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log = aborts();
  const { workflow, seen } = splitWorkflow(
    [branch(50, "slow", log.at(0)), branch(10, "fast", log.at(1)), branch(5, 0, log.at(2), "x")],
    { strategy: "any" },
  );
  const run = workflow.orchestrate("scatter");
  await time.tickAsync(10);
  assert.equal((await run).state, "done");
  assert.deepEqual(log.aborted, [0], "the slow loser's signal fired");
  assert.deepEqual(seen[0]?.results.map((r) => r.status), ["cancelled", "ok", "error"]);
  assert.equal(seen[0]?.cancelled, 1);
});

Deno.test("Workflow.registerSplit() with any fails when every branch fails", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow } = splitWorkflow(
    [branch(5, 0, undefined, "a"), branch(6, 0, undefined, "b")],
    { strategy: "any" },
  );
  const check = assert.rejects(workflow.orchestrate("scatter"), /0 of 2 tasks.*strategy: any/);
  await time.tickAsync(6);
  await check;
});

Deno.test("Workflow.registerSplit() with quorum waits for all, then counts successes", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const ok = splitWorkflow(
    [branch(5, 1), branch(50, 1), branch(5, 0, undefined, "no")],
    { strategy: { quorum: 2 } },
  );
  const run = ok.workflow.orchestrate("scatter");
  await time.tickAsync(5);
  assert.equal(ok.seen.length, 0, "quorum does not exit early");
  await time.tickAsync(45);
  assert.equal((await run).state, "done");
  const tooMany = splitWorkflow([branch(1, 1)], { strategy: { quorum: 2 } });
  const check = assert.rejects(tooMany.workflow.orchestrate("scatter"), /strategy: \{"quorum":2\}/);
  await time.tickAsync(1);
  await check;
});

Deno.test("Workflow.registerSplit() with percentage needs ceil(total × p) successes", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const met = splitWorkflow(
    [branch(1, 1), branch(1, 1), branch(1, 0, undefined, "x")],
    { strategy: { percentage: 0.5 } },
  );
  const run = met.workflow.orchestrate("scatter");
  await time.tickAsync(1);
  assert.equal((await run).state, "done");
  const unmet = splitWorkflow(
    [branch(1, 1), branch(1, 0, undefined, "x"), branch(1, 0, undefined, "y")],
    { strategy: { percentage: 0.5 } },
  );
  const check = assert.rejects(unmet.workflow.orchestrate("scatter"), /1 of 3 tasks/);
  await time.tickAsync(1);
  await check;
});

Deno.test("Workflow.registerSplit() with partialResults stops once enough branches succeeded", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log = aborts();
  const { workflow, seen } = splitWorkflow(
    [branch(10, 1, log.at(0)), branch(20, 2, log.at(1)), branch(90, 3, log.at(2))],
    { strategy: { partialResults: 2 } },
  );
  const run = workflow.orchestrate("scatter");
  await time.tickAsync(20);
  assert.equal((await run).state, "done");
  assert.deepEqual(log.aborted, [2]);
  assert.equal(seen[0]?.successes, 2);
  const unmet = splitWorkflow(
    [branch(1, 1), branch(1, 0, undefined, "x")],
    { strategy: { partialResults: 2 } },
  );
  const check = assert.rejects(
    unmet.workflow.orchestrate("scatter"),
    /Partial results condition not met: 1 completed successfully, 2 required; errors: task 1: x/,
  );
  await time.tickAsync(1);
  await check;
});

Deno.test("Workflow.registerSplit() with partialTimeout keeps what finished before the deadline", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log = aborts();
  const { workflow, seen } = splitWorkflow(
    [branch(10, "a", log.at(0)), branch(50, "b", log.at(1)), branch(5, 0, log.at(2), "x")],
    { strategy: "partialTimeout", timeout: 20 },
  );
  const run = workflow.orchestrate("scatter");
  await time.tickAsync(20);
  assert.equal((await run).state, "done");
  assert.deepEqual(log.aborted, [1]);
  assert.deepEqual(seen[0]?.results.map((r) => r.status), ["ok", "cancelled", "error"]);
});

Deno.test("Workflow.registerSplit() with partialTimeout fails when nothing finished in time", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow } = splitWorkflow([branch(50, 1), branch(60, 1)], {
    strategy: "partialTimeout",
    timeout: 20,
  });
  const check = assert.rejects(
    workflow.orchestrate("scatter"),
    /PartialTimeout: No tasks completed before timeout/,
  );
  await time.tickAsync(20);
  await check;
});

Deno.test("Workflow.registerSplit() treats a join timeout as an error for other strategies", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log = aborts();
  const { workflow } = splitWorkflow([branch(5, 1, log.at(0)), branch(500, 1, log.at(1))], {
    strategy: "any",
    timeout: 1,
  });
  const quick = splitWorkflow([branch(5, 1), branch(500, 1, log.at(1))], {
    strategy: { quorum: 1 },
    timeout: 100,
  });
  const check = assert.rejects(
    quick.workflow.orchestrate("scatter"),
    /Split task timeout exceeded/,
  );
  await time.tickAsync(100);
  await check;
  assert.deepEqual(log.aborted, [1]);
  const early = assert.rejects(workflow.orchestrate("scatter"), /Split task timeout exceeded/);
  await time.tickAsync(1);
  await early;
});

Deno.test("Workflow.registerSplit() never runs more branches at once than the bulkhead", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  let running = 0;
  let peak = 0;
  const tasks = Array.from({ length: 10 }, (_, i) => ({
    config: TaskConfig.minimal(),
    run: async () => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 10 + i));
      running -= 1;
      return i;
    },
  }));
  const workflow = new Workflow<Step>()
    .registerSplit("scatter", tasks, { strategy: "all", next: "done", bulkhead: 3 })
    .addExitState("done");
  const run = workflow.orchestrate("scatter");
  await time.tickAsync(1_000);
  assert.equal((await run).state, "done");
  assert.equal(peak, 3);
});

Deno.test("Workflow.registerSplit() retries each branch with its own config and names it name[index]", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  let flaky = 0;
  const workflow = new Workflow<Step>()
    .registerSplit("scatter", [
      { name: "fetch", config: TaskConfig.minimal(), run: () => "a" },
      {
        name: "fetch",
        config: { retry: RetryMode.fixed(2, 10) },
        run: () => {
          if (++flaky < 3) throw new Error("flaky");
          return "b";
        },
      },
      () => "c",
    ], { strategy: "all", next: "done" })
    .addExitState("done");
  const events: string[] = [];
  for (const type of ["taskstart", "retry", "tasksuccess"] as const) {
    workflow.addEventListener(type, (e) => events.push(`${type}:${e.taskId}`));
  }
  const run = workflow.orchestrate("scatter");
  await time.tickAsync(20);
  await run;
  assert.deepEqual(events, [
    "taskstart:fetch[0]",
    "taskstart:fetch[1]",
    "taskstart:scatter[2]",
    "retry:fetch[1]",
    "retry:fetch[1]",
    "tasksuccess:fetch[0]",
    "tasksuccess:fetch[1]",
    "tasksuccess:scatter[2]",
  ]);
});

Deno.test("Workflow.registerSplit() aborts every branch on cancel and reports a failure per branch", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log = aborts();
  const controller = new AbortController();
  const { workflow } = splitWorkflow([branch(100, 1, log.at(0)), branch(100, 1, log.at(1))], {
    strategy: "all",
  });
  const failures: string[] = [];
  workflow.addEventListener("taskfailure", (e) => failures.push(`${e.taskId}:${String(e.error)}`));
  let cancelled = 0;
  workflow.addEventListener("cancelled", () => cancelled++);
  const run = workflow.orchestrate("scatter", { signal: controller.signal });
  await time.tickAsync(10);
  controller.abort();
  await assert.rejects(run, { category: "cancelled" });
  assert.deepEqual(log.aborted.sort(), [0, 1]);
  assert.equal(failures.length, 2);
  assert.match(failures[0] ?? "", /^scatter\[0\]:CancelledError/);
  assert.equal(cancelled, 1);
});

Deno.test("Workflow.registerSplit() aborts every branch when the total timeout trips", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log = aborts();
  const { workflow } = splitWorkflow([branch(100, 1, log.at(0)), branch(100, 1, log.at(1))], {
    strategy: "all",
  });
  workflow.withTotalTimeout(30);
  const check = assert.rejects(workflow.orchestrate("scatter"), { category: "workflow_timeout" });
  await time.tickAsync(30);
  await check;
  assert.deepEqual(log.aborted.sort(), [0, 1]);
});

Deno.test("Workflow.registerSplit() of no branches joins at once", async () => {
  const { workflow, seen } = splitWorkflow([], { strategy: "all" });
  assert.equal((await workflow.orchestrate("scatter")).state, "done");
  assert.deepEqual(seen[0]?.results, []);
});

Deno.test("Workflow.registerSplit() writes one checkpoint row and restores ctx.split on resume", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new MemoryCheckpointStore();
  let gatherRuns = 0;
  const build = () =>
    new Workflow<Step>()
      .registerSplit("scatter", [branch(1, "x"), branch(2, 0, undefined, "bad")], {
        strategy: { quorum: 1 },
        next: "gather",
      })
      .register("gather", (ctx) => {
        gatherRuns += 1;
        if (gatherRuns === 1) throw new Error("crash in gather");
        assert.equal(ctx.split?.successes, 1);
        assert.deepEqual(ctx.split?.results[0], { index: 0, status: "ok", value: "x" });
        assert.equal(
          (ctx.split?.results[1] as { error: { message: string } }).error.message,
          "bad",
        );
        return "done";
      }, { config: TaskConfig.minimal() })
      .addExitState("done")
      .withCheckpointStore(store)
      .withWorkflowId("split-1");
  const first = assert.rejects(build().orchestrate("scatter"), /crash in gather/);
  await time.tickAsync(2);
  await first;
  const rows = await store.loadRun("split-1");
  assert.deepEqual(rows.map((r) => [r.state, r.taskId]), [["scatter", ""], ["gather", "gather"]]);
  const resumed = await build().resumeFrom("split-1");
  assert.equal(resumed.state, "done");
  assert.equal(gatherRuns, 2);
});

Deno.test("Workflow.registerSplit() validates its join config", () => {
  const none = [] as ReturnType<typeof branch>[];
  const make = (join: JoinConfig<Step>) => () =>
    new Workflow<Step>().registerSplit("scatter", none, join).addExitState("done").validate();
  assert.throws(make({ strategy: "partialTimeout", next: "done" }), /requires a timeout/);
  assert.throws(
    make({ strategy: { percentage: 0 }, next: "done" }),
    /percentage must be in \(0, 1\]/,
  );
  assert.throws(make({ strategy: { percentage: 1.5 }, next: "done" }), /percentage/);
  assert.throws(make({ strategy: { percentage: Number.NaN }, next: "done" }), /percentage/);
  assert.throws(make({ strategy: "all", next: "done", bulkhead: 0 }), /bulkhead must be/);
  assert.throws(make({ strategy: { quorum: -1 }, next: "done" }), /quorum/);
  assert.throws(make({ strategy: "any", next: "done", failFast: true }), /failFast/);
  assert.throws(make({ strategy: "most" as "all", next: "done" }), /unknown join strategy/);
  assert.throws(make({ strategy: "all", next: "done", timeout: -5 }), /timeout must be/);
  assert.throws(make({ strategy: "all", next: "gather" }), /declares next state "gather"/);
  make({ strategy: { percentage: 1 }, next: "done", bulkhead: 1 })();
});
