import assert from "node:assert/strict";
import {
  CanoError,
  CheckpointStoreError,
  ConfigurationError,
  MemoryCheckpointStore,
  Resources,
  RunOwnedError,
  StateContextError,
  TaskConfig,
  Workflow,
  WorkflowVersionMismatchError,
} from "../mod.ts";
import { RecordingStore, row, seed, untilAborted } from "./_checkpoint_helpers.ts";

type Step = "fetch" | "transform" | "store" | "done";
type Data = { rows?: number; transformed?: boolean; stored?: number };

/** A resource that writes its lifecycle into `log`. */
function tracked(log: string[]): { setup(): void; teardown(): void } {
  return {
    setup: () => void log.push("setup"),
    teardown: () => void log.push("teardown"),
  };
}

/** fetch → transform → store → done; `store` fails while `broken.value` is true. */
function pipeline(
  store: MemoryCheckpointStore | RecordingStore,
  ran: string[],
  broken: { value: boolean },
  resources?: Resources<{ r: { setup(): void; teardown(): void } }>,
) {
  return new Workflow<Step, Data, { r: { setup(): void; teardown(): void } }>(
    resources === undefined ? {} : { resources },
  )
    .register("fetch", (ctx) => {
      ran.push("fetch");
      ctx.data.rows = 3;
      return "transform";
    })
    .register("transform", (ctx) => {
      ran.push("transform");
      ctx.data.transformed = true;
      return "store";
    })
    .register("store", (ctx) => {
      ran.push("store");
      if (broken.value) throw new Error("disk full");
      ctx.data.stored = ctx.data.rows ?? 0;
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("import-1");
}

Deno.test("Workflow.resumeFrom() without a checkpoint store throws ConfigurationError raw, before setup", async () => {
  const log: string[] = [];
  const workflow = new Workflow<"a" | "done", Record<string, unknown>, { r: unknown }>({
    resources: new Resources({ r: tracked(log) }),
  })
    .register("a", () => "done")
    .addExitState("done");
  await assert.rejects(workflow.resumeFrom("x"), (error: unknown) => {
    assert.ok(error instanceof ConfigurationError);
    assert.ok(!(error instanceof StateContextError));
    assert.equal(error.category, "configuration");
    return true;
  });
  assert.deepEqual(log, []);
});

Deno.test("Workflow.resumeFrom() of an unknown workflow id fails with checkpoint_store", async () => {
  const log: string[] = [];
  const store = new RecordingStore({ log });
  const workflow = new Workflow<"a" | "done", Record<string, unknown>, { r: unknown }>({
    resources: new Resources({ r: tracked(log) }),
  })
    .register("a", () => "done")
    .addExitState("done")
    .withCheckpointStore(store);
  await assert.rejects(workflow.resumeFrom("nobody"), (error: unknown) => {
    assert.ok(error instanceof CheckpointStoreError);
    assert.equal(error.category, "checkpoint_store");
    assert.match(error.message, /nobody/);
    return true;
  });
  assert.deepEqual(log, ["setup", "loadRun nobody", "teardown"]);
});

Deno.test("Workflow.resumeFrom() fails with checkpoint_store when the log cannot be loaded", async () => {
  const log: string[] = [];
  const store = new RecordingStore({ log, failLoad: true });
  const workflow = new Workflow<"a" | "done", Record<string, unknown>, { r: unknown }>({
    resources: new Resources({ r: tracked(log) }),
  })
    .register("a", () => "done")
    .addExitState("done")
    .withCheckpointStore(store);
  await assert.rejects(workflow.resumeFrom("job"), (error: unknown) => {
    assert.ok(error instanceof CheckpointStoreError);
    assert.equal((error.cause as Error).message, "store offline");
    return true;
  });
  assert.deepEqual(log, ["setup", "loadRun job", "teardown"]);
});

Deno.test("Workflow.resumeFrom() refuses a log whose last row has another workflow version", async () => {
  const log: string[] = [];
  const store = new RecordingStore({ log });
  await seed(store.inner, "v-job", [
    row(0, "a", { workflowVersion: 1 }),
    row(1, "b", { workflowVersion: 1 }),
  ]);
  const ran: string[] = [];
  const workflow = new Workflow<"a" | "b" | "done", Record<string, unknown>, { r: unknown }>({
    resources: new Resources({ r: tracked(log) }),
  })
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
    .withWorkflowVersion(2);
  await assert.rejects(workflow.resumeFrom("v-job"), (error: unknown) => {
    assert.ok(error instanceof WorkflowVersionMismatchError);
    assert.equal(error.category, "workflow_version_mismatch");
    assert.equal(error.stored, 1);
    assert.equal(error.expected, 2);
    return true;
  });
  assert.deepEqual(ran, []);
  assert.deepEqual(log, ["setup", "loadRun v-job", "teardown"], "resources torn down");
  assert.equal((await store.inner.loadRun("v-job")).length, 2, "the log is untouched");
});

Deno.test("Workflow.resumeFrom() accepts older rows of another version when the last row matches", async () => {
  const store = new MemoryCheckpointStore();
  await seed(store, "mixed", [
    row(0, "a", { workflowVersion: 1, data: { from: "v1" } }),
    row(1, "b", { workflowVersion: 2, data: { from: "v2" } }),
  ]);
  const workflow = new Workflow<"a" | "b" | "done", { from?: string }>()
    .register("a", () => "b")
    .register("b", () => "done")
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowVersion(2);
  const result = await workflow.resumeFrom("mixed");
  assert.equal(result.state, "done");
  assert.deepEqual(result.data, { from: "v2" });
});

Deno.test("Workflow.resumeFrom() fails with a workflow error when the last row's state is unknown", async () => {
  const log: string[] = [];
  const store = new MemoryCheckpointStore();
  await seed(store, "renamed", [row(0, "a"), row(1, "legacy")]);
  let ran = false;
  const workflow = new Workflow<"a" | "b" | "done", Record<string, unknown>, { r: unknown }>({
    resources: new Resources({ r: tracked(log) }),
  })
    .register("a", () => {
      ran = true;
      return "b";
    })
    .register("b", () => "done")
    .addExitState("done")
    .withCheckpointStore(store);
  await assert.rejects(workflow.resumeFrom("renamed"), (error: unknown) => {
    assert.ok(error instanceof CanoError);
    assert.equal(error.category, "workflow");
    assert.match(error.message, /legacy/);
    return true;
  });
  assert.equal(ran, false);
  assert.deepEqual(log, ["setup", "teardown"]);
  assert.equal((await store.loadRun("renamed")).length, 2, "the log is untouched");
});

Deno.test("Workflow.resumeFrom() drops an earlier unknown state from the path and reports it", async () => {
  const store = new MemoryCheckpointStore();
  await seed(store, "old-run", [row(0, "a"), row(1, "legacy"), row(2, "b")]);
  const workflow = new Workflow<"a" | "b" | "done">()
    .register("a", () => "b")
    .register("b", () => "done")
    .addExitState("done")
    .withCheckpointStore(store);
  const unknown: Array<[string | undefined, number, string]> = [];
  workflow.addEventListener(
    "unknownresumestate",
    (e) => unknown.push([e.workflowId, e.sequence, e.state]),
  );
  const result = await workflow.resumeFrom("old-run");
  assert.equal(result.state, "done");
  assert.deepEqual(result.path, ["a", "b", "done"]);
  assert.deepEqual(unknown, [["old-run", 1, "legacy"]]);
});

Deno.test("Workflow.resumeFrom() re-runs the last row's state and never the states before it", async () => {
  const store = new RecordingStore();
  const ran: string[] = [];
  const broken = { value: true };
  const workflow = pipeline(store, ran, broken);
  await assert.rejects(workflow.orchestrate("fetch", { data: {} }), /disk full/);
  assert.deepEqual(ran, ["fetch", "transform", "store"]);
  ran.length = 0;
  broken.value = false;
  const checkpoints: number[] = [];
  workflow.addEventListener("checkpoint", (e) => checkpoints.push(e.sequence));
  const result = await workflow.resumeFrom("import-1");
  assert.deepEqual(ran, ["store"], "only the resumed state runs again");
  assert.equal(result.state, "done");
  assert.equal(result.workflowId, "import-1");
  assert.deepEqual(result.path, ["fetch", "transform", "store", "done"]);
  assert.deepEqual(checkpoints, [3, 4], "sequences continue after the stored rows");
  assert.deepEqual(await store.inner.loadRun("import-1"), [], "the log is cleared at exit");
});

Deno.test("Workflow.resumeFrom() restores the run data of the last snapshot", async () => {
  const store = new MemoryCheckpointStore();
  const ran: string[] = [];
  const broken = { value: true };
  const workflow = pipeline(store, ran, broken);
  const original: Data = {};
  await assert.rejects(workflow.orchestrate("fetch", { data: original }), /disk full/);
  broken.value = false;
  let seen: Data | undefined;
  const resumed = pipeline(store, [], broken)
    .register("store", (ctx) => {
      seen = structuredClone(ctx.data);
      ctx.data.stored = ctx.data.rows ?? 0;
      return "done";
    });
  const result = await resumed.resumeFrom("import-1");
  assert.deepEqual(seen, { rows: 3, transformed: true });
  assert.deepEqual(result.data, { rows: 3, transformed: true, stored: 3 });
  assert.notEqual(result.data, original, "restored from the log, not the caller's object");
});

Deno.test("Workflow.resumeFrom() takes the run data from the last row that carries any", async () => {
  const store = new MemoryCheckpointStore();
  await seed(store, "saga", [
    row(0, "a", { data: { v: 1 } }),
    row(1, "b", { data: { v: 2 } }),
    row(2, "b", { kind: "compensation_completion", output: { id: 7 } }),
  ]);
  let seen: unknown;
  const workflow = new Workflow<"a" | "b" | "done", { v: number }>()
    .register("a", () => "b")
    .registerWithCompensation("b", {
      name: "b",
      run: (ctx) => {
        seen = structuredClone(ctx.data);
        return { next: "done", output: { id: 8 } };
      },
      compensate: () => {},
    })
    .addExitState("done")
    .withCheckpointStore(store);
  const result = await workflow.resumeFrom("saga");
  assert.deepEqual(seen, { v: 2 });
  assert.deepEqual(result.data, { v: 2 });
});

Deno.test("Workflow.resumeFrom() starts from empty run data when the log holds none", async () => {
  const store = new MemoryCheckpointStore();
  await seed(store, "bare", [row(0, "a")]);
  let seen: unknown;
  const workflow = new Workflow<"a" | "done">()
    .register("a", (ctx) => {
      seen = ctx.data;
      return "done";
    })
    .addExitState("done")
    .withCheckpointStore(store);
  await workflow.resumeFrom("bare");
  assert.deepEqual(seen, {});
});

Deno.test("Workflow.resumeFrom() emits resume with the last stored sequence, before any state is entered", async () => {
  const store = new MemoryCheckpointStore();
  await seed(store, "ev", [row(0, "a"), row(1, "b"), row(2, "b", { kind: "step_cursor" })]);
  const workflow = new Workflow<"a" | "b" | "done">()
    .register("a", () => "b")
    .register("b", () => "done")
    .addExitState("done")
    .withCheckpointStore(store);
  const events: string[] = [];
  workflow.addEventListener("resume", (e) => events.push(`resume ${e.workflowId} ${e.sequence}`));
  workflow.addEventListener("stateenter", (e) => events.push(`enter ${e.state}`));
  workflow.addEventListener("checkpoint", (e) => events.push(`checkpoint ${e.sequence}`));
  await workflow.resumeFrom("ev");
  assert.deepEqual(events, [
    "resume ev 2",
    "enter b",
    "checkpoint 3",
    "enter done",
    "checkpoint 4",
  ]);
});

Deno.test("Workflow.resumeFrom() sets resources up before loading rows and tears them down after success and failure", async () => {
  const log: string[] = [];
  const store = new RecordingStore({ log });
  const broken = { value: true };
  const ran: string[] = [];
  const workflow = pipeline(store, ran, broken, new Resources({ r: tracked(log) }));
  await assert.rejects(workflow.orchestrate("fetch", { data: {} }));
  log.length = 0;
  await assert.rejects(workflow.resumeFrom("import-1"), /disk full/);
  assert.deepEqual(log, [
    "setup",
    "loadRun import-1",
    "append 3 state_entry store",
    "teardown",
  ]);
  log.length = 0;
  broken.value = false;
  await workflow.resumeFrom("import-1");
  assert.deepEqual(log, [
    "setup",
    "loadRun import-1",
    "append 4 state_entry store",
    "append 5 state_entry done",
    "clear import-1",
    "teardown",
  ]);
});

Deno.test("Workflow.resumeFrom() with a pre-aborted signal emits resume, runs no task and appends no row", async () => {
  const log: string[] = [];
  const store = new RecordingStore({ log });
  await seed(store.inner, "pre", [row(0, "a"), row(1, "b")]);
  const ran: string[] = [];
  const workflow = new Workflow<"a" | "b" | "done", Record<string, unknown>, { r: unknown }>({
    resources: new Resources({ r: tracked(log) }),
  })
    .register("a", () => {
      ran.push("a");
      return "b";
    })
    .register("b", () => {
      ran.push("b");
      return "done";
    })
    .addExitState("done")
    .withCheckpointStore(store);
  const events: string[] = [];
  workflow.addEventListener("resume", (e) => events.push(`resume ${e.sequence}`));
  workflow.addEventListener("cancelled", (e) => events.push(`cancelled ${e.state}`));
  workflow.addEventListener("stateenter", (e) => events.push(`enter ${e.state}`));
  await assert.rejects(
    workflow.resumeFrom("pre", { signal: AbortSignal.abort() }),
    (error: unknown) => {
      assert.ok(error instanceof StateContextError);
      assert.equal(error.category, "cancelled");
      assert.equal(error.state, "b");
      return true;
    },
  );
  assert.deepEqual(ran, []);
  assert.deepEqual(events, ["resume 1", "cancelled b"]);
  assert.deepEqual(log, ["setup", "loadRun pre", "teardown"], "no append, no clear");
  assert.equal((await store.inner.loadRun("pre")).length, 2, "still resumable");
});

Deno.test("Workflow.resumeFrom() of a log ending in an exit state returns at once and clears the log", async () => {
  const store = new RecordingStore();
  await seed(store.inner, "finished", [row(0, "a"), row(1, "done", { taskId: "" })]);
  let ran = false;
  const workflow = new Workflow<"a" | "done">()
    .register("a", () => {
      ran = true;
      return "done";
    })
    .addExitState("done")
    .withCheckpointStore(store);
  const result = await workflow.resumeFrom("finished");
  assert.equal(result.state, "done");
  assert.deepEqual(result.path, ["a", "done"]);
  assert.equal(ran, false);
  assert.deepEqual(store.appended().map((r) => [r.sequence, r.state]), [[2, "done"]]);
  assert.deepEqual(await store.inner.loadRun("finished"), []);
});

Deno.test("Workflow.resumeFrom() racing itself on one id: exactly one wins, the other gets RunOwnedError and runs nothing", async () => {
  const store = new MemoryCheckpointStore();
  await seed(store, "race", [row(0, "a", { data: {} }), row(1, "b", { data: {} })]);
  const ran: string[] = [];
  const workflow = new Workflow<"a" | "b" | "c" | "done">()
    .register("a", () => "b")
    .register("b", (ctx) => {
      ran.push(`b ${ctx.runId}`);
      return "c";
    })
    .register("c", (ctx) => {
      ran.push(`c ${ctx.runId}`);
      return "done";
    })
    .addExitState("done")
    .withCheckpointStore(store);
  const first = workflow.resumeFrom("race");
  const second = workflow.resumeFrom("race");
  const outcomes = await Promise.allSettled([first, second]);
  const fulfilled = outcomes.filter((o) => o.status === "fulfilled");
  const rejected = outcomes.filter((o) => o.status === "rejected");
  assert.equal(fulfilled.length, 1, "exactly one resume succeeds");
  assert.equal(rejected.length, 1);
  const reason = (rejected[0] as PromiseRejectedResult).reason;
  assert.ok(reason instanceof RunOwnedError, String(reason));
  assert.equal(reason.category, "conflict");
  assert.equal(reason.id, "race");
  assert.equal(ran.filter((r) => r.startsWith("b ")).length, 1, "the resumed task ran once");
  assert.equal(new Set(ran.map((r) => r.split(" ")[1])).size, 1, "every state ran in the winner");
  assert.equal((fulfilled[0] as PromiseFulfilledResult<{ state: string }>).value.state, "done");
  assert.deepEqual(await store.loadRun("race"), [], "the winner cleared the log");
});

Deno.test("Workflow.resumeFrom() completes a run that was cancelled in the middle of a task", async () => {
  const store = new MemoryCheckpointStore();
  const controller = new AbortController();
  const ran: string[] = [];
  let hang = true;
  const workflow = new Workflow<"a" | "b" | "c" | "done", { n: number }>()
    .register("a", (ctx) => {
      ran.push("a");
      ctx.data.n += 1;
      return "b";
    })
    .register("b", (ctx) => {
      ran.push("b");
      if (hang) {
        queueMicrotask(() => controller.abort());
        return untilAborted(ctx.signal);
      }
      ctx.data.n += 10;
      return "c";
    })
    .register("c", (ctx) => {
      ran.push("c");
      ctx.data.n += 100;
      return "done";
    })
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("cancel-me");
  await assert.rejects(
    workflow.orchestrate("a", { data: { n: 0 }, signal: controller.signal }),
    { category: "cancelled" },
  );
  assert.deepEqual((await store.loadRun("cancel-me")).map((r) => r.state), ["a", "b"]);
  hang = false;
  ran.length = 0;
  const result = await workflow.resumeFrom("cancel-me");
  assert.deepEqual(ran, ["b", "c"]);
  assert.equal(result.state, "done");
  assert.deepEqual(result.data, { n: 111 });
  assert.deepEqual(result.path, ["a", "b", "c", "done"]);
  assert.deepEqual(await store.loadRun("cancel-me"), []);
});

Deno.test("Workflow.resumeFrom() ignores the builder's workflow id and resumes the one given", async () => {
  const store = new MemoryCheckpointStore();
  await seed(store, "other", [row(0, "a")]);
  const workflow = new Workflow<"a" | "done">()
    .register("a", (ctx) => {
      assert.equal(ctx.workflowId, "other");
      return "done";
    })
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("builder-id");
  const result = await workflow.resumeFrom("other");
  assert.equal(result.workflowId, "other");
  assert.deepEqual(await store.loadRun("other"), []);
});
