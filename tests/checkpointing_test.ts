import assert from "node:assert/strict";
import {
  CheckpointStoreError,
  ConfigurationError,
  MemoryCheckpointStore,
  Resources,
  RunExistsError,
  StateContextError,
  TaskConfig,
  Workflow,
} from "../mod.ts";
import { RecordingStore, untilAborted } from "./_checkpoint_helpers.ts";

type Step = "fetch" | "route" | "process" | "done";

Deno.test("Workflow.orchestrate() appends a state_entry row before each non-router state's task, exit state included", async () => {
  const log: string[] = [];
  const store = new RecordingStore({ log });
  const workflow = new Workflow<Step>()
    .register("fetch", {
      name: "fetcher",
      run: () => {
        log.push("run fetch");
        return "route";
      },
    })
    .registerRouter("route", () => {
      log.push("run route");
      return "process";
    })
    .register("process", () => {
      log.push("run process");
      return "done";
    })
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("job-1");
  const result = await workflow.orchestrate("fetch");
  assert.equal(result.state, "done");
  assert.deepEqual(result.path, ["fetch", "route", "process", "done"]);
  assert.deepEqual(log, [
    "append 0 state_entry fetch",
    "run fetch",
    "run route", // routers write no row and consume no sequence
    "append 1 state_entry process",
    "run process",
    "append 2 state_entry done",
    "clear job-1",
  ]);
});

Deno.test("Workflow.orchestrate() writes dense sequences from 0, the version stamp and the task id", async () => {
  const store = new RecordingStore();
  const workflow = new Workflow<"a" | "r1" | "b" | "r2" | "c" | "done">()
    .registerRouter("r1", () => "a")
    .register("a", { name: "task-a", run: () => "r2" })
    .registerRouter("r2", () => "b")
    .register("b", () => "c", { name: "task-b" })
    .register("c", () => "done")
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("job-2")
    .withWorkflowVersion(3);
  await workflow.orchestrate("r1");
  const rows = store.appended();
  assert.deepEqual(
    rows.map((r) => [r.sequence, r.kind, r.state, r.taskId, r.workflowVersion]),
    [
      [0, "state_entry", "a", "task-a", 3],
      [1, "state_entry", "b", "task-b", 3],
      [2, "state_entry", "c", "c", 3], // a function task's id is its state
      [3, "state_entry", "done", "", 3], // exit-only state: empty task id
    ],
  );
  assert.ok(store.calls.every((c) => c.workflowId === "job-2"));
});

Deno.test("Workflow.orchestrate() records the handler's name for an exit state that has one, without running it", async () => {
  const store = new RecordingStore();
  let exitRan = false;
  const workflow = new Workflow<"go" | "done">()
    .register("go", () => "done")
    .register("done", {
      name: "never",
      run: () => {
        exitRan = true;
        return "done";
      },
    })
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("job-exit");
  assert.equal((await workflow.orchestrate("go")).state, "done");
  assert.equal(exitRan, false);
  assert.deepEqual(store.appended().map((r) => [r.state, r.taskId]), [["go", "go"], [
    "done",
    "never",
  ]]);
});

Deno.test("Workflow.orchestrate() snapshots the run data into every state_entry row as of state entry", async () => {
  const store = new RecordingStore();
  const seen: unknown[] = [];
  const workflow = new Workflow<"a" | "b" | "c" | "done", { items: string[]; note?: string }>()
    .register("a", (ctx) => {
      ctx.data.items.push("a");
      return "b";
    })
    .register("b", async (ctx) => {
      // Rows already written are not changed by later mutations.
      seen.push(await store.inner.loadRun("job-3"));
      ctx.data.items.push("b");
      return "c";
    })
    .register("c", (ctx) => {
      ctx.data = { items: ["replaced"], note: "new object" };
      return "done";
    })
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("job-3");
  const result = await workflow.orchestrate("a", { data: { items: [] } });
  assert.deepEqual(result.data, { items: ["replaced"], note: "new object" });
  assert.deepEqual(store.appended().map((r) => r.data), [
    { items: [] },
    { items: ["a"] },
    { items: ["a", "b"] },
    { items: ["replaced"], note: "new object" },
  ]);
  assert.deepEqual(
    (seen[0] as { data: unknown }[]).map((r) => r.data),
    [{ items: [] }, { items: ["a"] }],
  );
});

Deno.test("Workflow.orchestrate() hands the store a copy of the run data, not the live object", async () => {
  // A store may keep the row object it is given (a user-written in-memory store, a cache, a
  // batching writer). The row's data must still be the snapshot taken at state entry.
  const store = new RecordingStore();
  const workflow = new Workflow<"a" | "b" | "done", { count: number }>()
    .register("a", (ctx) => {
      ctx.data.count += 1;
      return "b";
    })
    .register("b", (ctx) => {
      ctx.data.count += 1;
      return "done";
    })
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("job-alias");
  const result = await workflow.orchestrate("a", { data: { count: 0 } });
  const handed = store.calls.flatMap((c) => c.op === "append" ? [c.row.data] : []);
  assert.deepEqual(handed, [{ count: 0 }, { count: 1 }, { count: 2 }]);
  for (const data of handed) assert.notEqual(data, result.data, "row data aliases ctx.data");
});

Deno.test("Workflow.orchestrate() emits a checkpoint event for every append", async () => {
  const store = new RecordingStore();
  const workflow = new Workflow<Step>()
    .register("fetch", () => "route")
    .registerRouter("route", () => "process")
    .register("process", () => "done")
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("job-4");
  const events: Array<[string | undefined, number, string]> = [];
  workflow.addEventListener("checkpoint", (e) => events.push([e.workflowId, e.sequence, e.runId]));
  const stateEnters: string[] = [];
  workflow.addEventListener("stateenter", (e) => stateEnters.push(e.runId));
  await workflow.orchestrate("fetch");
  assert.deepEqual(events.map(([id, seq]) => [id, seq]), [["job-4", 0], ["job-4", 1], [
    "job-4",
    2,
  ]]);
  assert.equal(new Set([...events.map((e) => e[2]), ...stateEnters]).size, 1, "one run id");
  assert.equal(store.count("append"), 3);
});

Deno.test("Workflow.orchestrate() clears the checkpoint log at the exit state", async () => {
  const store = new MemoryCheckpointStore();
  const workflow = new Workflow<"a" | "done">()
    .register("a", async () => {
      assert.equal((await store.loadRun("job-5")).length, 1, "the row exists while running");
      return "done";
    })
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("job-5");
  await workflow.orchestrate("a");
  assert.deepEqual(await store.loadRun("job-5"), []);
});

Deno.test("Workflow.orchestrate() still succeeds when clearing the log fails, and reports checkpointclearfailed", async () => {
  const store = new RecordingStore({ failClear: true });
  const workflow = new Workflow<"a" | "done">()
    .register("a", () => "done")
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("job-6");
  const failures: Array<{ workflowId: string | undefined; error: unknown }> = [];
  workflow.addEventListener(
    "checkpointclearfailed",
    (e) => failures.push({ workflowId: e.workflowId, error: e.error }),
  );
  const result = await workflow.orchestrate("a");
  assert.equal(result.state, "done");
  assert.equal(failures.length, 1);
  assert.equal(failures[0]?.workflowId, "job-6");
  const error = failures[0]?.error;
  assert.ok(error instanceof CheckpointStoreError);
  assert.equal(error.category, "checkpoint_store");
  assert.match(error.message, /clear refused/);
  assert.equal((error.cause as Error).message, "clear refused");
  assert.equal((await store.inner.loadRun("job-6")).length, 2, "the log is still there");
});

Deno.test("Workflow.orchestrate() with a store but no run id fails with ConfigurationError before any setup", async () => {
  const store = new RecordingStore();
  let ran = false;
  let setUp = 0;
  const workflow = new Workflow<"a" | "done">({
    resources: new Resources({ db: { setup: () => void setUp++ } }),
  })
    .register("a", () => {
      ran = true;
      return "done";
    })
    .addExitState("done")
    .withCheckpointStore(store);
  workflow.validate(); // a checkpointed workflow may take its ids per run
  await assert.rejects(workflow.orchestrate("a"), (error: unknown) => {
    assert.ok(error instanceof ConfigurationError);
    assert.match(error.message, /needs an id.*orchestrate\(initial, \{ id \}\)/);
    return true;
  });
  assert.equal(ran, false);
  assert.equal(setUp, 0, "no resource was set up");
  assert.equal(store.calls.length, 0, "the store was never called");
  const result = await workflow.orchestrate("a", { id: "job-5b" });
  assert.equal(result.workflowId, "job-5b");
});

Deno.test("Workflow.orchestrate() fails with checkpoint_store when an append fails, without running the task", async () => {
  const store = new RecordingStore({ failAppend: (r) => r.sequence === 1 });
  const ran: string[] = [];
  const workflow = new Workflow<"a" | "b" | "done">()
    .register("a", () => {
      ran.push("a");
      return "b";
    })
    .register("b", () => {
      ran.push("b");
      return "done";
    })
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("job-7");
  const failures: string[] = [];
  workflow.addEventListener("taskfailure", (e) => failures.push(e.taskId));
  await assert.rejects(workflow.orchestrate("a"), (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "checkpoint_store");
    assert.equal(error.state, "b");
    assert.deepEqual(error.path, ["a", "b"]);
    assert.ok(error.cause instanceof CheckpointStoreError);
    assert.match(error.cause.message, /disk full at row 1/);
    assert.equal((error.cause.cause as Error).message, "disk full at row 1");
    return true;
  });
  assert.deepEqual(ran, ["a"]);
  assert.deepEqual(failures, [], "no task was started, so none failed");
  assert.deepEqual((await store.inner.loadRun("job-7")).map((r) => r.state), ["a"]);
  assert.equal(store.count("clear"), 0);
});

Deno.test("Workflow.orchestrate() over an uncleared log with the same id fails and leaves the old log intact", async () => {
  const store = new MemoryCheckpointStore();
  let calls = 0;
  const workflow = new Workflow<"a" | "b" | "done", { n: number }>()
    .register("a", () => {
      calls += 1;
      return "b";
    })
    .register("b", () => {
      throw new Error("b is broken");
    }, { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("job-8");
  await assert.rejects(workflow.orchestrate("a", { data: { n: 1 } }), /b is broken/);
  const before = await store.loadRun("job-8");
  assert.equal(before.length, 2);
  await assert.rejects(workflow.orchestrate("a", { data: { n: 2 } }), (error: unknown) => {
    assert.ok(error instanceof RunExistsError);
    assert.equal(error.category, "conflict");
    assert.equal(error.id, "job-8");
    assert.equal(error.status, "failed");
    assert.match(error.message, /ifExists: "resume"/);
    return true;
  });
  assert.equal(calls, 1, "the second run ran no task");
  assert.deepEqual(await store.loadRun("job-8"), before);
  assert.equal((await store.getRun("job-8"))?.status, "failed");
});

Deno.test("Workflow.orchestrate() over an uncleared log of a rows-only store fails with RunExistsError", async () => {
  const store = new RecordingStore();
  const workflow = new Workflow<"a" | "b" | "done">()
    .register("a", () => "b")
    .register("b", () => {
      throw new Error("b is broken");
    }, { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("job-8b");
  await assert.rejects(workflow.orchestrate("a"), /b is broken/);
  const before = await store.inner.loadRun("job-8b");
  await assert.rejects(workflow.orchestrate("a"), RunExistsError);
  assert.deepEqual(await store.inner.loadRun("job-8b"), before, "the old log is intact");
});

Deno.test("Workflow.orchestrate() keeps the log of a failed run", async () => {
  const store = new RecordingStore();
  const workflow = new Workflow<"a" | "b" | "done">()
    .register("a", () => "b")
    .register("b", () => {
      throw new Error("nope");
    }, { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("job-9");
  await assert.rejects(workflow.orchestrate("a"), { category: "task_execution" });
  assert.equal(store.count("clear"), 0);
  assert.deepEqual((await store.inner.loadRun("job-9")).map((r) => [r.sequence, r.state]), [
    [0, "a"],
    [1, "b"],
  ]);
});

Deno.test("Workflow.orchestrate() keeps the log of a cancelled run", async () => {
  const store = new RecordingStore();
  const controller = new AbortController();
  const workflow = new Workflow<"a" | "b" | "done">()
    .register("a", () => "b")
    .register("b", (ctx) => {
      queueMicrotask(() => controller.abort());
      return untilAborted(ctx.signal);
    })
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("job-10");
  await assert.rejects(workflow.orchestrate("a", { signal: controller.signal }), {
    category: "cancelled",
  });
  assert.equal(store.count("clear"), 0);
  assert.deepEqual((await store.inner.loadRun("job-10")).map((r) => r.state), ["a", "b"]);
});

Deno.test("Workflow.orchestrate() keeps the log of a run cancelled at a state boundary", async () => {
  const store = new RecordingStore();
  const controller = new AbortController();
  let bRan = false;
  const workflow = new Workflow<"a" | "b" | "done">()
    .register("a", () => "b")
    .register("b", () => {
      bRan = true;
      return "done";
    })
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("job-11");
  workflow.addEventListener("tasksuccess", () => controller.abort());
  await assert.rejects(workflow.orchestrate("a", { signal: controller.signal }), {
    category: "cancelled",
  });
  assert.equal(bRan, false);
  assert.equal(store.count("clear"), 0);
  assert.deepEqual((await store.inner.loadRun("job-11")).map((r) => r.state), ["a"]);
});
