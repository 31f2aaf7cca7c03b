// What a checkpointed run costs in commits, and what the two folded rows change: a new run's first
// row is written with its claim, and the exit state's row with its end — one commit per state
// entered, no more. Each fold keeps the refusals and the crash windows of the append it replaces.

import assert from "node:assert/strict";
import {
  type CheckpointRow,
  MemoryCheckpointStore,
  type RunEnd,
  type RunLease,
  StateContextError,
  TaskConfig,
  Workflow,
} from "../mod.ts";
import { KvCheckpointStore, type KvLike } from "../kv.ts";

type Step = "a" | "b" | "done";

/** A `Deno.Kv` whose commits are counted. */
function counting(kv: Deno.Kv): KvLike & { commits: number } {
  const wrapper = {
    commits: 0,
    get: (key: readonly unknown[]) => kv.get(key as Deno.KvKey),
    list: (selector: { prefix: readonly unknown[] }, options?: Deno.KvListOptions) =>
      kv.list(selector as Deno.KvListSelector, options),
    atomic: () => {
      const op = kv.atomic();
      const commit = op.commit.bind(op);
      op.commit = () => {
        wrapper.commits += 1;
        return commit();
      };
      return op;
    },
  };
  return wrapper as unknown as KvLike & { commits: number };
}

function twoStates(store: MemoryCheckpointStore | KvCheckpointStore, exitData?: () => unknown) {
  return new Workflow<Step, Record<string, unknown>>({ name: "pair" })
    .register("a", () => "b", { config: TaskConfig.minimal() })
    .register("b", (ctx) => {
      if (exitData !== undefined) ctx.data.late = exitData();
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store);
}

Deno.test("Workflow.orchestrate() on KvCheckpointStore commits once per state entered, claim and end included", async () => {
  using kv = await Deno.openKv(":memory:");
  const wrapped = counting(kv);
  const workflow = twoStates(new KvCheckpointStore(wrapped));
  const sequences: number[] = [];
  workflow.addEventListener("checkpoint", (e) => sequences.push(e.sequence));
  const result = await workflow.orchestrate("a", { id: "run-1", data: {} });
  assert.equal(result.state, "done");
  // a: the claim with row 0; b: row 1; done: the end, which records row 2 and deletes the log.
  assert.equal(wrapped.commits, 3);
  assert.deepEqual(sequences, [0, 1, 2], "every state entered is reported as checkpointed");
  assert.deepEqual(await new KvCheckpointStore(kv).loadRun("run-1"), []);
});

Deno.test("Workflow.orchestrate() refuses exit-state data the codec cannot keep, as the append would", async () => {
  const store = new MemoryCheckpointStore();
  const workflow = twoStates(store, () => new Map([["k", 1]]));
  const error = await workflow.orchestrate("a", { id: "run-2", data: {} }).then(
    () => assert.fail("the run should fail"),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof StateContextError, String(error));
  assert.equal(error.state, "done");
  assert.match(String(error.cause), /data\.late is a Map/);
  assert.equal(
    (await store.getRun("run-2"))?.status,
    "failed",
    "the log is kept, as for an append",
  );
});

/** A memory store whose `finish(completed)` fails the first `failures` times. */
class FailingEnd extends MemoryCheckpointStore {
  failures: number;
  ends: RunEnd[] = [];
  constructor(failures: number) {
    super();
    this.failures = failures;
  }
  override finish(lease: RunLease, end: RunEnd): Promise<void> {
    this.ends.push(end);
    if (end.status === "completed" && this.failures-- > 0) {
      return Promise.reject(new Error("disk full"));
    }
    return super.finish(lease, end);
  }
}

Deno.test("Workflow.orchestrate() whose end fails appends the exit row, so a resume finishes at once", async () => {
  const store = new FailingEnd(1);
  let runsOfB = 0;
  const workflow = new Workflow<Step>({ name: "pair" })
    .register("a", () => "b", { config: TaskConfig.minimal() })
    .register("b", () => {
      runsOfB += 1;
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store);
  const cleared: unknown[] = [];
  workflow.addEventListener("checkpointclearfailed", (e) => cleared.push(e.error));
  const result = await workflow.orchestrate("a", { id: "run-3", data: {} });
  assert.equal(result.state, "done", "the run itself succeeded");
  assert.equal(cleared.length, 1);
  const exit = (store.ends[0] as { exit?: CheckpointRow }).exit;
  assert.equal(exit?.state, "done", "the end carried the exit row");
  const rows = await store.loadRun("run-3");
  assert.deepEqual(rows.map((r) => r.state), ["a", "b", "done"], "the kept log ends in the exit");
  const resumed = await workflow.resumeFrom("run-3");
  assert.equal(resumed.state, "done");
  assert.equal(runsOfB, 1, "the resume did not run b again");
  assert.equal(await store.getRun("run-3"), undefined);
});

Deno.test("KvCheckpointStore.finish() of a long log writes the exit row before its batched deletes", async () => {
  using kv = await Deno.openKv(":memory:");
  const store = new KvCheckpointStore(kv);
  const { lease } = await store.claim("long", {
    mode: "start",
    owner: "me",
    workflow: "",
    version: 0,
  });
  const rowAt = (sequence: number): CheckpointRow => ({
    sequence,
    state: sequence % 2 === 0 ? "even" : "odd",
    taskId: "t",
    kind: "state_entry",
    workflowVersion: 0,
  });
  for (let sequence = 0; sequence < 1_200; sequence++) {
    await store.append("long", rowAt(sequence), lease);
  }
  await store.finish(lease, { status: "completed", exit: { ...rowAt(1_200), state: "done" } });
  assert.deepEqual(await store.loadRun("long"), []);
  assert.equal(await store.getRun("long"), undefined);
  // The exit row is checked like an append: not the next sequence is refused.
  const again = await store.claim("x", { mode: "start", owner: "me", workflow: "", version: 0 });
  await assert.rejects(
    store.finish(again.lease, { status: "completed", exit: rowAt(5) }),
    { name: "CheckpointStoreError", message: /gap/ },
  );
});
