import assert from "node:assert/strict";
import {
  CanoError,
  MemoryCheckpointStore,
  NonRetryableError,
  RetryExhaustedError,
  RetryMode,
  StateContextError,
  type StepOutcome,
  type SteppedTask,
  TaskConfig,
  TimeoutError,
  Workflow,
} from "../mod.ts";
import { FakeTime } from "../testing.ts";
import { RecordingStore, row, seed, sleep, track, untilAborted } from "./_checkpoint_helpers.ts";

type Step = "crunch" | "after" | "done";
type Data = { pages: number[] };

/** Pages 0..last, one per step; logs every call as `step <cursor>`. */
function pager(
  log: string[],
  last: number,
  options: { next?: Step; config?: TaskConfig; name?: string } = {},
): SteppedTask<number, Step, Step, Data> {
  const task: SteppedTask<number, Step, Step, Data> = {
    config: options.config ?? TaskConfig.minimal(),
    step: (ctx, cursor) => {
      log.push(`step ${cursor}`);
      const page = cursor ?? 0;
      ctx.data.pages.push(page);
      return page < last ? { more: page + 1 } : { done: options.next ?? "done" };
    },
  };
  if (options.name !== undefined) task.name = options.name;
  return task;
}

Deno.test("Workflow.registerStepped() runs steps until one is done", async () => {
  const log: string[] = [];
  const workflow = new Workflow<Step, Data>()
    .registerStepped("crunch", pager(log, 3))
    .addExitState("done");
  const events: string[] = [];
  workflow.addEventListener("taskstart", (e) => events.push(`start ${e.taskId}`));
  workflow.addEventListener("tasksuccess", (e) => events.push(`success ${e.taskId}`));
  const result = await workflow.orchestrate("crunch", { data: { pages: [] } });
  assert.equal(result.state, "done");
  assert.deepEqual(result.path, ["crunch", "done"]);
  assert.deepEqual(log, ["step undefined", "step 1", "step 2", "step 3"]);
  assert.deepEqual(result.data.pages, [0, 1, 2, 3]);
  assert.deepEqual(events, ["start crunch", "success crunch"], "one dispatch for all steps");
});

Deno.test("Workflow.registerStepped() appends a step_cursor row with a data snapshot after each more", async () => {
  const log: string[] = [];
  const store = new RecordingStore({ log });
  const workflow = new Workflow<Step, Data>()
    .registerStepped("crunch", pager(log, 2, { name: "pager" }))
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("pages-1")
    .withWorkflowVersion(4);
  const checkpoints: number[] = [];
  workflow.addEventListener("checkpoint", (e) => checkpoints.push(e.sequence));
  await workflow.orchestrate("crunch", { data: { pages: [] } });
  assert.deepEqual(log, [
    "append 0 state_entry crunch",
    "step undefined",
    "append 1 step_cursor crunch",
    "step 1",
    "append 2 step_cursor crunch",
    "step 2",
    "append 3 state_entry done",
    "clear pages-1",
  ]);
  assert.deepEqual(
    store.appended().map((
      r,
    ) => [r.sequence, r.kind, r.taskId, r.output, r.data, r.workflowVersion]),
    [
      [0, "state_entry", "pager", undefined, { pages: [] }, 4],
      [1, "step_cursor", "pager", 1, { pages: [0] }, 4],
      [2, "step_cursor", "pager", 2, { pages: [0, 1] }, 4],
      [3, "state_entry", "", undefined, { pages: [0, 1, 2] }, 4],
    ],
  );
  assert.deepEqual(checkpoints, [0, 1, 2, 3]);
});

Deno.test("Workflow.registerStepped() retries a failing step with the same cursor without redoing earlier steps", async () => {
  const log: string[] = [];
  let failures = 0;
  const workflow = new Workflow<Step, Data>()
    .registerStepped("crunch", {
      config: { retry: RetryMode.fixed(2, 0) },
      step: (_ctx, cursor: number | undefined) => {
        log.push(`step ${cursor}`);
        if (cursor === 1 && failures++ < 2) throw new Error("flaky page");
        const page = cursor ?? 0;
        return page < 2 ? { more: page + 1 } : { done: "done" };
      },
    })
    .addExitState("done");
  const retries: number[] = [];
  workflow.addEventListener("retry", (e) => retries.push(e.attempt));
  const result = await workflow.orchestrate("crunch", { data: { pages: [] } });
  assert.equal(result.state, "done");
  assert.deepEqual(log, ["step undefined", "step 1", "step 1", "step 1", "step 2"]);
  assert.deepEqual(retries, [1, 2], "the retry budget is per step");
});

Deno.test("Workflow.registerStepped() gives every step a fresh retry budget", async () => {
  const log: string[] = [];
  const failed = new Set<number>();
  const workflow = new Workflow<Step, Data>()
    .registerStepped("crunch", {
      config: { retry: RetryMode.fixed(1, 0) },
      step: (_ctx, cursor: number | undefined) => {
        const page = cursor ?? 0;
        log.push(`step ${page}`);
        // Every page fails once: a budget shared by the whole loop (1 retry) would run out.
        if (!failed.has(page)) {
          failed.add(page);
          throw new Error(`page ${page} flaked`);
        }
        return page < 3 ? { more: page + 1 } : { done: "done" };
      },
    })
    .addExitState("done");
  assert.equal((await workflow.orchestrate("crunch", { data: { pages: [] } })).state, "done");
  assert.deepEqual(log, [
    "step 0",
    "step 0",
    "step 1",
    "step 1",
    "step 2",
    "step 2",
    "step 3",
    "step 3",
  ]);
});

Deno.test("Workflow.registerStepped() fails with RetryExhaustedError when one step runs out of retries, keeping its cursors", async () => {
  const store = new MemoryCheckpointStore();
  const workflow = new Workflow<Step, Data>()
    .registerStepped("crunch", {
      config: { retry: RetryMode.fixed(1, 0) },
      step: (_ctx, cursor: number | undefined) => {
        if (cursor === 2) throw new Error("page 2 is corrupt");
        return { more: (cursor ?? 0) + 1 };
      },
    })
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("pages-x");
  await assert.rejects(
    workflow.orchestrate("crunch", { data: { pages: [] } }),
    (error: unknown) => {
      assert.ok(error instanceof StateContextError);
      assert.equal(error.category, "retry_exhausted");
      assert.equal(error.attempt, 2);
      assert.ok(error.cause instanceof RetryExhaustedError);
      return true;
    },
  );
  const rows = await store.loadRun("pages-x");
  assert.deepEqual(rows.map((r) => [r.kind, r.output]), [
    ["state_entry", undefined],
    ["step_cursor", 1],
    ["step_cursor", 2],
  ]);
});

Deno.test("Workflow.registerStepped() bounds each step by attemptTimeout", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log: string[] = [];
  const workflow = new Workflow<Step, Data>()
    .registerStepped("crunch", {
      config: { retry: RetryMode.none(), attemptTimeout: 1_000 },
      step: async (ctx, cursor: number | undefined) => {
        const page = cursor ?? 0;
        log.push(`step ${page}`);
        // Each step takes 800 ms: the whole loop exceeds 1 s, no single step does, until page 3.
        await sleep(page === 3 ? 5_000 : 800, ctx.signal);
        return page < 3 ? { more: page + 1 } : { done: "done" };
      },
    })
    .addExitState("done");
  const run = track(workflow.orchestrate("crunch", { data: { pages: [] } }));
  await time.tickAsync(3 * 800 + 1_000);
  await run.done;
  assert.deepEqual(log, ["step 0", "step 1", "step 2", "step 3"]);
  assert.ok(run.error instanceof StateContextError);
  assert.equal(run.error.category, "timeout");
  assert.ok(run.error.cause instanceof TimeoutError);
});

Deno.test("Workflow.resumeFrom() hands the last cursor to the first step of the resumed state", async () => {
  const store = new MemoryCheckpointStore();
  const log: string[] = [];
  let broken = true;
  const workflow = new Workflow<Step, Data>()
    .registerStepped("crunch", {
      config: TaskConfig.minimal(),
      step: (ctx, cursor: number | undefined) => {
        log.push(`step ${cursor}`);
        const page = cursor ?? 0;
        if (page === 2 && broken) throw new NonRetryableError("crashed on page 2");
        ctx.data.pages.push(page);
        return page < 3 ? { more: page + 1 } : { done: "done" };
      },
    })
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("pages-2");
  await assert.rejects(workflow.orchestrate("crunch", { data: { pages: [] } }), /page 2/);
  assert.deepEqual(log, ["step undefined", "step 1", "step 2"]);
  log.length = 0;
  broken = false;
  const result = await workflow.resumeFrom("pages-2");
  assert.deepEqual(log, ["step 2", "step 3"], "steps before the cursor are not redone");
  assert.deepEqual(result.data.pages, [0, 1, 2, 3], "run data restored from the cursor row");
  assert.deepEqual(result.path, ["crunch", "done"]);
  assert.deepEqual(await store.loadRun("pages-2"), []);
});

Deno.test("Workflow.resumeFrom() consumes the cursor once: a later visit of the state starts from undefined", async () => {
  const store = new MemoryCheckpointStore();
  await seed(store, "pages-3", [
    row(0, "crunch", { data: { pages: [], visits: 0 } }),
    row(1, "crunch", { kind: "step_cursor", output: 5, data: { pages: [0], visits: 0 } }),
  ]);
  const log: string[] = [];
  const workflow = new Workflow<Step, Data & { visits: number }>()
    .registerStepped("crunch", {
      config: TaskConfig.minimal(),
      step: (ctx, cursor: number | undefined) => {
        log.push(`step ${cursor}`);
        if (ctx.data.visits === 0) {
          return cursor !== undefined && cursor < 6 ? { more: cursor + 1 } : { done: "after" };
        }
        return cursor === undefined ? { more: 1 } : { done: "after" };
      },
    })
    .register("after", (ctx) => {
      ctx.data.visits += 1;
      return ctx.data.visits < 2 ? "crunch" : "done";
    })
    .addExitState("done")
    .withCheckpointStore(store);
  const result = await workflow.resumeFrom("pages-3");
  assert.equal(result.state, "done");
  assert.deepEqual(log, [
    "step 5", // resumed visit: from the stored cursor
    "step 6",
    "step undefined", // second visit: starts over
    "step 1",
  ]);
  assert.deepEqual(result.path, ["crunch", "after", "crunch", "after", "done"]);
});

Deno.test("Workflow.registerStepped() starts every visit of a state from undefined within one run", async () => {
  const log: string[] = [];
  let visits = 0;
  const workflow = new Workflow<Step, Data>()
    .registerStepped("crunch", {
      config: TaskConfig.minimal(),
      step: (_ctx, cursor: number | undefined) => {
        log.push(`step ${cursor}`);
        return cursor === undefined ? { more: 1 } : { done: "after" };
      },
    })
    .register("after", () => ++visits < 2 ? "crunch" : "done")
    .addExitState("done")
    .withCheckpointStore(new MemoryCheckpointStore())
    .withWorkflowId("pages-4");
  await workflow.orchestrate("crunch", { data: { pages: [] } });
  assert.deepEqual(log, ["step undefined", "step 1", "step undefined", "step 1"]);
});

Deno.test("Workflow.resumeFrom() ignores cursors of an earlier visit of the resumed state", async () => {
  const store = new MemoryCheckpointStore();
  await seed(store, "pages-5", [
    row(0, "crunch", { data: { pages: [] } }),
    row(1, "crunch", { kind: "step_cursor", output: 7, data: { pages: [] } }),
    row(2, "after", { data: { pages: [] } }),
    row(3, "crunch", { data: { pages: [] } }), // second visit, crashed before its first cursor
  ]);
  const log: string[] = [];
  const workflow = new Workflow<Step, Data>()
    .registerStepped("crunch", {
      config: TaskConfig.minimal(),
      step: (_ctx, cursor: number | undefined) => {
        log.push(`step ${cursor}`);
        return { done: "done" };
      },
    })
    .register("after", () => "crunch")
    .addExitState("done")
    .withCheckpointStore(store);
  const result = await workflow.resumeFrom("pages-5");
  assert.deepEqual(log, ["step undefined"]);
  assert.deepEqual(result.path, ["crunch", "after", "crunch", "done"]);
});

Deno.test("Workflow.resumeFrom() of a later state does not hand an old cursor to a revisited stepped state", async () => {
  const store = new MemoryCheckpointStore();
  await seed(store, "pages-6", [
    row(0, "crunch", { data: { pages: [] } }),
    row(1, "crunch", { kind: "step_cursor", output: 7, data: { pages: [] } }),
    row(2, "after", { data: { pages: [] } }),
  ]);
  const log: string[] = [];
  let visits = 0;
  const workflow = new Workflow<Step, Data>()
    .registerStepped("crunch", {
      config: TaskConfig.minimal(),
      step: (_ctx, cursor: number | undefined) => {
        log.push(`step ${cursor}`);
        return { done: "after" };
      },
    })
    .register("after", () => ++visits < 2 ? "crunch" : "done")
    .addExitState("done")
    .withCheckpointStore(store);
  await workflow.resumeFrom("pages-6");
  assert.deepEqual(log, ["step undefined"]);
});

for (
  const [label, outcome] of [
    ["a bare string", "done"],
    ["an empty object", {}],
    ["null", null],
    ["undefined", undefined],
  ] as const
) {
  Deno.test(`Workflow.registerStepped() fails with a workflow error when a step returns ${label}`, async () => {
    const workflow = new Workflow<Step, Data>()
      .registerStepped("crunch", {
        config: TaskConfig.minimal(),
        step: () => outcome as unknown as StepOutcome<number, Step>,
      })
      .addExitState("done");
    await assert.rejects(
      workflow.orchestrate("crunch", { data: { pages: [] } }),
      (error: unknown) => {
        assert.ok(error instanceof StateContextError);
        assert.equal(error.category, "workflow");
        assert.ok(error.cause instanceof CanoError);
        assert.match(error.cause.message, /more|done/);
        return true;
      },
    );
  });
}

Deno.test("Workflow.registerStepped() fails with a workflow error when done names an undeclared state", async () => {
  const workflow = new Workflow<Step, Data>()
    .registerStepped("crunch", {
      config: TaskConfig.minimal(),
      step: () => ({ done: "after" as "done" }),
    }, { next: ["done"] })
    .register("after", () => "done")
    .addExitState("done");
  await assert.rejects(workflow.orchestrate("crunch", { data: { pages: [] } }), {
    category: "workflow",
  });
});

Deno.test("Workflow.registerStepped() is cancelled between steps, keeping the committed cursor for resume", async () => {
  const store = new RecordingStore();
  const controller = new AbortController();
  const log: string[] = [];
  const workflow = new Workflow<Step, Data>()
    .registerStepped("crunch", pager(log, 4))
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("pages-7");
  // Cancel right after the cursor of page 1 is durable: no further step may start.
  const onCheckpoint = (e: { sequence: number }): void => {
    if (e.sequence === 2) controller.abort();
  };
  workflow.addEventListener("checkpoint", onCheckpoint);
  let cancelled = 0;
  workflow.addEventListener("cancelled", () => cancelled++);
  await assert.rejects(
    workflow.orchestrate("crunch", { data: { pages: [] }, signal: controller.signal }),
    (error: unknown) => {
      assert.ok(error instanceof StateContextError);
      assert.equal(error.category, "cancelled");
      assert.equal(error.state, "crunch");
      return true;
    },
  );
  assert.equal(cancelled, 1);
  assert.deepEqual(log, ["step undefined", "step 1"]);
  assert.deepEqual(
    (await store.inner.loadRun("pages-7")).map((r) => [r.kind, r.output]),
    [["state_entry", undefined], ["step_cursor", 1], ["step_cursor", 2]],
  );
  workflow.removeEventListener("checkpoint", onCheckpoint);
  log.length = 0;
  const result = await workflow.resumeFrom("pages-7");
  assert.deepEqual(log, ["step 2", "step 3", "step 4"]);
  assert.deepEqual(result.data.pages, [0, 1, 2, 3, 4]);
});

Deno.test("Workflow.registerStepped() is cancelled in the middle of a step, which re-runs on resume", async () => {
  const store = new MemoryCheckpointStore();
  const controller = new AbortController();
  const log: string[] = [];
  let hang = true;
  let stepSignal: AbortSignal | undefined;
  const workflow = new Workflow<Step, Data>()
    .registerStepped("crunch", {
      config: TaskConfig.minimal(),
      step: async (ctx, cursor: number | undefined) => {
        const page = cursor ?? 0;
        log.push(`step ${page}`);
        if (page === 1 && hang) {
          stepSignal = ctx.signal;
          queueMicrotask(() => controller.abort(new Error("operator stop")));
          await untilAborted(ctx.signal);
        }
        ctx.data.pages.push(page);
        return page < 2 ? { more: page + 1 } : { done: "done" };
      },
    })
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("pages-8");
  const failures: unknown[] = [];
  workflow.addEventListener("taskfailure", (e) => failures.push(e.error));
  await assert.rejects(
    workflow.orchestrate("crunch", { data: { pages: [] }, signal: controller.signal }),
    { category: "cancelled" },
  );
  assert.equal(stepSignal?.aborted, true);
  assert.equal((stepSignal?.reason as Error).message, "operator stop");
  assert.equal(failures.length, 1);
  assert.equal((failures[0] as CanoError).category, "cancelled");
  hang = false;
  log.length = 0;
  const result = await workflow.resumeFrom("pages-8");
  assert.deepEqual(log, ["step 1", "step 2"]);
  assert.deepEqual(result.data.pages, [0, 1, 2]);
});

Deno.test("Workflow.registerStepped() fails with checkpoint_store when a cursor cannot be appended", async () => {
  const log: string[] = [];
  const store = new RecordingStore({
    failAppend: (r) => r.kind === "step_cursor" && r.output === 2,
  });
  const workflow = new Workflow<Step, Data>()
    .registerStepped("crunch", pager(log, 4))
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("pages-9");
  await assert.rejects(
    workflow.orchestrate("crunch", { data: { pages: [] } }),
    (error: unknown) => {
      assert.ok(error instanceof StateContextError);
      assert.equal(error.category, "checkpoint_store");
      return true;
    },
  );
  assert.deepEqual(log, ["step undefined", "step 1"], "no step runs past an unrecorded cursor");
});
