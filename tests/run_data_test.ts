// Run data must come back equal from the store: what JSON would change fails the append, naming
// its path, unless the store's codec keeps it — and both built-in stores refuse the same rows.

import assert from "node:assert/strict";
import {
  CheckpointStoreError,
  MemoryCheckpointStore,
  StateContextError,
  TaskConfig,
  typedJsonCodec,
  Workflow,
} from "../mod.ts";
import { KvCheckpointStore } from "../kv.ts";

type Step = "collect" | "crash" | "done";

class Point {
  constructor(readonly x: number) {}
}

/** A run that stores `value` in its data, then fails (so its log is kept for a resume). */
function collecting(store: MemoryCheckpointStore | KvCheckpointStore, value: () => unknown) {
  let attempts = 0;
  return new Workflow<Step, Record<string, unknown>>({ name: "collect" })
    .register("collect", (ctx) => {
      ctx.data.seen = value();
      return "crash";
    })
    .register("crash", () => {
      if (++attempts === 1) throw new Error("process died");
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store);
}

Deno.test("Workflow.orchestrate() fails the append of run data JSON would change, naming its path", async () => {
  const cases: [string, () => unknown, RegExp][] = [
    ["a Map", () => new Map([["a", 1]]), /data\.seen is a Map/],
    ["a Set", () => new Set([1]), /data\.seen is a Set/],
    ["a Date", () => new Date(0), /data\.seen is a Date/],
    ["a class instance", () => new Point(1), /data\.seen is an instance of Point/],
    ["an undefined field", () => ({ note: undefined }), /data\.seen\.note is undefined/],
    ["NaN", () => [1, NaN], /data\.seen\[1\] is NaN/],
    ["a BigInt", () => 10n, /data\.seen is a BigInt/],
    ["a function", () => () => 1, /data\.seen is a function/],
  ];
  for (const [what, value, message] of cases) {
    const store = new MemoryCheckpointStore();
    let ran = false;
    const workflow = collecting(store, value).register("crash", () => {
      ran = true;
      return "done";
    });
    await assert.rejects(workflow.orchestrate("collect", { id: "r" }), (error: unknown) => {
      assert.ok(error instanceof StateContextError, `${what}: ${error}`);
      assert.equal(error.category, "checkpoint_store", what);
      assert.equal(error.state, "crash", "the append of the next state carries the snapshot");
      assert.ok(error.cause instanceof CheckpointStoreError);
      assert.match(error.message, message, what);
      return true;
    });
    assert.equal(ran, false, `${what}: the state after the bad snapshot did not run`);
    assert.deepEqual((await store.loadRun("r")).map((r) => r.state), ["collect"], what);
  }
});

Deno.test("Workflow.resumeFrom() restores Map, Set, Date and BigInt run data with typedJsonCodec", async () => {
  using kv = await Deno.openKv(":memory:");
  const store = new KvCheckpointStore(kv, { codec: typedJsonCodec });
  const value = () => ({
    tags: new Set(["a", "b"]),
    counts: new Map([["x", 1n]]),
    at: new Date(Date.UTC(2026, 11, 1)),
    note: undefined,
    ratio: Infinity,
  });
  const workflow = collecting(store, value);
  await assert.rejects(workflow.orchestrate("collect", { id: "typed" }), /process died/);
  const result = await workflow.resumeFrom("typed");
  assert.equal(result.state, "done");
  assert.deepEqual(result.data.seen, value());
});

Deno.test("MemoryCheckpointStore refuses the rows KvCheckpointStore refuses", async () => {
  using kv = await Deno.openKv(":memory:");
  const stores = [new MemoryCheckpointStore(), new KvCheckpointStore(kv)];
  const rows = [
    { data: { blob: "x".repeat(2 * 1024 * 1024) }, message: /800 KiB/ },
    { data: { seen: new Map() }, message: /data\.seen is a Map/ },
  ];
  for (const { data, message } of rows) {
    for (const store of stores) {
      await assert.rejects(
        store.append("r", {
          sequence: 0,
          state: "a",
          taskId: "a",
          kind: "state_entry",
          workflowVersion: 0,
          data,
        }),
        (error: unknown) => error instanceof CheckpointStoreError && message.test(error.message),
      );
      assert.deepEqual(await store.loadRun("r"), []);
    }
  }
  const longId = "x".repeat(2_002);
  for (const store of stores) {
    await assert.rejects(store.loadRun(longId), /too long for Deno KV/);
  }
});

Deno.test("Workflow.registerWithCompensation() compensates inline an output the store's codec refuses", async () => {
  const store = new MemoryCheckpointStore();
  const undone: unknown[] = [];
  const workflow = new Workflow<"charge" | "done">()
    .registerWithCompensation("charge", {
      name: "charge",
      config: TaskConfig.minimal(),
      run: () => ({ next: "done", output: { at: new Date(0) } }),
      compensate: (_ctx, output) => void undone.push(output),
    })
    .addExitState("done")
    .withCheckpointStore(store);
  await assert.rejects(workflow.orchestrate("charge", { id: "r" }), (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "task_execution");
    assert.match(error.message, /Serialize compensation output of "charge".*output\.at is a Date/);
    return true;
  });
  assert.deepEqual(undone, [{ at: new Date(0) }], "the raw output, at once");
});
