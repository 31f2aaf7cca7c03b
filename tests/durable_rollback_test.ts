// A saga rollback is a durable step: its plan is recorded before the first compensation and each
// compensation once done, so a resume finishes the rollback — never runs the workflow forward —
// and never repeats a recorded compensation.

import assert from "node:assert/strict";
import {
  type CheckpointStore,
  CheckpointStoreError,
  CompensationFailedError,
  MemoryCheckpointStore,
  StateContextError,
  TaskConfig,
  Workflow,
} from "../mod.ts";
import { RecordingStore, row, seed } from "./_checkpoint_helpers.ts";

type Step = "reserve" | "charge" | "ship" | "notify" | "done";
interface Order {
  id: string;
}

interface SagaOptions {
  /** Compensations that throw, by step name. */
  failUndo?: ReadonlySet<string>;
  /** Whether "ship" fails for good. */
  failShip?: boolean;
  /** Runs at the start of every compensation. */
  onUndo?: (name: string) => void | Promise<void>;
}

function saga(
  log: string[],
  store: CheckpointStore,
  options: SagaOptions = {},
): Workflow<Step, Order> {
  const step = (name: "reserve" | "charge", next: Step) => ({
    name,
    config: TaskConfig.minimal(),
    run: (ctx: { data: Order }) => {
      log.push(`${name}:run`);
      return { next, output: { ref: `${name}-${ctx.data.id}` } };
    },
    compensate: async (_ctx: unknown, output: { ref: string }) => {
      await options.onUndo?.(name);
      if (options.failUndo?.has(name)) throw new Error(`undo ${name} refused`);
      log.push(`${name}:undo ${output.ref}`);
    },
  });
  return new Workflow<Step, Order>({ name: "order" })
    .registerWithCompensation("reserve", step("reserve", "charge"))
    .registerWithCompensation("charge", step("charge", "ship"))
    .register("ship", () => {
      log.push("ship:run");
      if (options.failShip) throw new Error("courier refused the parcel");
      return "notify";
    }, { config: TaskConfig.minimal() })
    .register("notify", () => {
      log.push("notify:run");
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store);
}

/** The log a process leaves when it dies after compensating "charge" but before "reserve". */
const DIED_MID_ROLLBACK = [
  row(0, "reserve", { data: { id: "42" } }),
  row(1, "reserve", { kind: "compensation_completion", output: { ref: "reserve-42" } }),
  row(2, "charge", { data: { id: "42" } }),
  row(3, "charge", { kind: "compensation_completion", output: { ref: "charge-42" } }),
  row(4, "ship", { data: { id: "42" } }),
  row(5, "ship", {
    kind: "rollback",
    taskId: "",
    output: {
      error: { name: "Error", message: "courier refused the parcel" },
      attempt: 1,
      stack: [
        { taskId: "reserve", state: "reserve", output: { ref: "reserve-42" } },
        { taskId: "charge", state: "charge", output: { ref: "charge-42" } },
      ],
    },
  }),
  row(6, "charge", { kind: "compensated", taskId: "charge", output: { index: 1 } }),
];

/** Asserts the error a finished rollback of the order saga ends with. */
function assertRolledBack(error: unknown): true {
  assert.ok(error instanceof StateContextError, String(error));
  assert.equal(error.state, "ship");
  assert.equal(error.category, "task_execution");
  assert.deepEqual(error.path, ["reserve", "charge", "ship"]);
  assert.match(error.message, /courier refused the parcel/);
  return true;
}

Deno.test("Workflow.orchestrate() records the rollback before the first compensation and each compensation once done", async () => {
  const log: string[] = [];
  const store = new RecordingStore();
  const statuses: string[] = [];
  const inner = store.inner;
  const workflow = saga(log, store, {
    failShip: true,
    onUndo: async () => void statuses.push((await inner.getRun("order-42"))?.status ?? "none"),
  });
  await assert.rejects(workflow.orchestrate("reserve", { id: "order-42", data: { id: "42" } }));
  const rows = store.appended();
  assert.deepEqual(rows.slice(5).map((r) => [r.kind, r.state, r.taskId, r.output]), [
    ["rollback", "ship", "", {
      error: { name: "Error", message: "courier refused the parcel" },
      attempt: 1,
      stack: [
        { taskId: "reserve", state: "reserve", output: { ref: "reserve-42" } },
        { taskId: "charge", state: "charge", output: { ref: "charge-42" } },
      ],
    }],
    ["compensated", "charge", "charge", { index: 1 }],
    ["compensated", "reserve", "reserve", { index: 0 }],
  ]);
  // A rows-only store keeps no record; the built-in stores mark the run rolling back.
  assert.deepEqual(statuses, ["none", "none"]);
  const memory = new MemoryCheckpointStore();
  const seen: string[] = [];
  await assert.rejects(
    saga([], memory, {
      failShip: true,
      onUndo: async () => void seen.push((await memory.getRun("order-43"))!.status),
    }).orchestrate("reserve", { id: "order-43", data: { id: "43" } }),
  );
  assert.deepEqual(seen, ["rolling_back", "rolling_back"]);
  assert.equal(await memory.getRun("order-43"), undefined, "a clean rollback ends the run");
});

Deno.test("Workflow.resumeFrom() of a run that died mid-rollback finishes the rollback and never runs forward", async () => {
  const store = new MemoryCheckpointStore();
  await seed(store, "order-42", DIED_MID_ROLLBACK);
  const log: string[] = [];
  const compensations: string[] = [];
  const workflow = saga(log, store); // ship would now succeed: it must not run
  workflow.addEventListener("compensate", (e) => compensations.push(`${e.taskId} ${e.ok}`));
  const entered: string[] = [];
  workflow.addEventListener("stateenter", (e) => entered.push(e.state));
  await assert.rejects(workflow.resumeFrom("order-42"), assertRolledBack);
  assert.deepEqual(log, ["reserve:undo reserve-42"], "only what was not compensated yet");
  assert.deepEqual(compensations, ["reserve true"]);
  assert.deepEqual(entered, [], "no state was entered");
  assert.deepEqual(await store.loadRun("order-42"), [], "the finished rollback ends the run");
  assert.equal(await store.getRun("order-42"), undefined);
});

Deno.test("Workflow.resumeFrom() after a clean rollback whose clear failed ends at once with the cause", async () => {
  const log: string[] = [];
  const failing = new RecordingStore({ failClear: true });
  const cleared: unknown[] = [];
  const first = saga(log, failing, { failShip: true });
  first.addEventListener("checkpointclearfailed", (e) => cleared.push(e.error));
  await assert.rejects(
    first.orchestrate("reserve", { id: "order-42", data: { id: "42" } }),
    assertRolledBack,
  );
  assert.equal(cleared.length, 1);
  assert.deepEqual(log, [
    "reserve:run",
    "charge:run",
    "ship:run",
    "charge:undo charge-42",
    "reserve:undo reserve-42",
  ]);
  // Another process, the store healthy again: the log says the rollback is complete.
  const store = new MemoryCheckpointStore();
  await seed(store, "order-42", await failing.inner.loadRun("order-42"));
  log.length = 0;
  await assert.rejects(saga(log, store).resumeFrom("order-42"), assertRolledBack);
  assert.deepEqual(log, [], "nothing ran: no compensation again, no forward state");
  assert.deepEqual(await store.loadRun("order-42"), []);
});

Deno.test("Workflow.orchestrate() compensates nothing when the rollback cannot be recorded, and keeps the log", async () => {
  const log: string[] = [];
  const store = new RecordingStore({ failAppend: (r) => r.kind === "rollback" });
  await assert.rejects(
    saga(log, store, { failShip: true }).orchestrate("reserve", {
      id: "order-42",
      data: { id: "42" },
    }),
    (error: unknown) => {
      assert.ok(error instanceof CompensationFailedError, String(error));
      assert.ok(error.errors[0] instanceof StateContextError);
      const refusal = error.errors[1];
      assert.ok(refusal instanceof CheckpointStoreError);
      assert.match(refusal.message, /rollback not started.*no compensation ran/i);
      return true;
    },
  );
  assert.deepEqual(log, ["reserve:run", "charge:run", "ship:run"], "nothing compensated");
  assert.deepEqual(
    (await store.inner.loadRun("order-42")).map((r) => r.kind),
    [
      "state_entry",
      "compensation_completion",
      "state_entry",
      "compensation_completion",
      "state_entry",
    ],
    "the log is as it was: a resume retries the run",
  );
  // Once the store works, a resume retries the failed state; it fails again and rolls back.
  const healthy = new MemoryCheckpointStore();
  await seed(healthy, "order-42", await store.inner.loadRun("order-42"));
  log.length = 0;
  await assert.rejects(
    saga(log, healthy, { failShip: true }).resumeFrom("order-42"),
    assertRolledBack,
  );
  assert.deepEqual(log, ["ship:run", "charge:undo charge-42", "reserve:undo reserve-42"]);
});

Deno.test("Workflow.resumeFrom() retries a failed compensation and not a recorded one", async () => {
  const store = new MemoryCheckpointStore();
  const log: string[] = [];
  await assert.rejects(
    saga(log, store, { failShip: true, failUndo: new Set(["charge"]) })
      .orchestrate("reserve", { id: "order-42", data: { id: "42" } }),
    (error: unknown) => {
      assert.ok(error instanceof CompensationFailedError);
      assert.equal(error.errors.length, 2);
      assert.match((error.errors[1] as Error).message, /undo charge refused/);
      return true;
    },
  );
  assert.deepEqual(log.slice(3), ["reserve:undo reserve-42"]);
  const info = await store.getRun("order-42");
  assert.equal(info?.status, "failed");
  assert.match(info?.error ?? "", /Compensation failed/);
  assert.equal(info?.owner, undefined);
  log.length = 0;
  await assert.rejects(saga(log, store).resumeFrom("order-42"), assertRolledBack);
  assert.deepEqual(log, ["charge:undo charge-42"], "the refused one again; reserve stays done");
  assert.equal(await store.getRun("order-42"), undefined);
});

Deno.test("Workflow.resumeFrom() finishes a rollback whose compensator was renamed as orphaned, and keeps the log", async () => {
  const store = new MemoryCheckpointStore();
  await seed(store, "order-42", DIED_MID_ROLLBACK);
  const log: string[] = [];
  const renamed = new Workflow<Step, Order>({ name: "order" })
    .registerWithCompensation("reserve", {
      name: "reserve-v2",
      run: () => ({ next: "done", output: {} }),
      compensate: () => void log.push("reserve-v2:undo"),
    })
    .addExitState("done")
    .withCheckpointStore(store);
  await assert.rejects(renamed.resumeFrom("order-42"), (error: unknown) => {
    assert.ok(error instanceof CompensationFailedError);
    assert.equal((error.errors[1] as { category?: string }).category, "orphaned_compensation");
    return true;
  });
  assert.deepEqual(log, []);
  assert.equal((await store.getRun("order-42"))?.status, "failed");
  assert.equal((await store.loadRun("order-42")).length, DIED_MID_ROLLBACK.length);
});

Deno.test("Workflow.resumeFrom() twice after crashes keeps the path and the saga stack without repeats", async () => {
  const store = new MemoryCheckpointStore();
  // Died in "ship"; the first resume re-entered it (a resumed row) and died in it again.
  await seed(store, "order-42", [
    row(0, "reserve", { data: { id: "42" } }),
    row(1, "reserve", { kind: "compensation_completion", output: { ref: "reserve-42" } }),
    row(2, "charge", { data: { id: "42" } }),
    row(3, "charge", { kind: "compensation_completion", output: { ref: "charge-42" } }),
    row(4, "ship", { data: { id: "42" } }),
    row(5, "ship", { data: { id: "42" }, resumed: true }),
  ]);
  const log: string[] = [];
  const result = await saga(log, store).resumeFrom("order-42");
  assert.deepEqual(result.path, ["reserve", "charge", "ship", "notify", "done"]);
  // A saga step that died after its completion row, resumed twice: compensated once, not twice.
  const twice = new MemoryCheckpointStore();
  await seed(twice, "order-43", [
    row(0, "reserve", { data: { id: "43" } }),
    row(1, "reserve", { kind: "compensation_completion", output: { ref: "reserve-43" } }),
    row(2, "charge", { data: { id: "43" } }),
    row(3, "charge", { kind: "compensation_completion", output: { ref: "charge-43" } }),
    row(4, "charge", { data: { id: "43" }, resumed: true }),
    row(5, "charge", { kind: "compensation_completion", output: { ref: "charge-43" } }),
  ]);
  log.length = 0;
  await assert.rejects(
    saga(log, twice, { failShip: true }).resumeFrom("order-43"),
    (error: unknown) => {
      assert.ok(error instanceof StateContextError);
      assert.deepEqual(error.path, ["reserve", "charge", "ship"]);
      return true;
    },
  );
  assert.deepEqual(log, [
    "charge:run",
    "ship:run",
    "charge:undo charge-43",
    "reserve:undo reserve-43",
  ]);
});

Deno.test("Workflow.orchestrate() marks a failed run failed, keeps its log and releases it at once", async () => {
  const store = new MemoryCheckpointStore();
  const log: string[] = [];
  const broken = new Workflow<"a" | "b" | "done", { n: number }>({ name: "job" })
    .register("a", () => "b")
    .register("b", () => {
      throw new Error("disk full");
    }, { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store);
  await assert.rejects(broken.orchestrate("a", { id: "job-1", data: { n: 1 } }), /disk full/);
  const info = await store.getRun("job-1");
  assert.equal(info?.status, "failed");
  assert.equal(info?.workflow, "job");
  assert.equal(info?.state, "b");
  assert.equal(info?.sequence, 2);
  assert.equal(info?.owner, undefined);
  assert.match(info?.error ?? "", /disk full/);
  const { runs } = await store.listRuns({ status: "failed" });
  assert.deepEqual(runs.map((r) => r.id), ["job-1"]);
  // Resumable at once: no lease to wait for.
  const fixed = new Workflow<"a" | "b" | "done", { n: number }>({ name: "job" })
    .register("a", () => "b")
    .register("b", () => {
      log.push("b");
      return "done";
    })
    .addExitState("done")
    .withCheckpointStore(store);
  assert.equal((await fixed.resumeFrom("job-1")).state, "done");
  assert.deepEqual(log, ["b"]);
});
