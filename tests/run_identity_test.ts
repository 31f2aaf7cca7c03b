// A run's id is given per call: one workflow serves every order, a failed run never blocks the
// next, and the scheduler gives each run of a checkpointed flow its own id.

import assert from "node:assert/strict";
import {
  CanoError,
  ConfigurationError,
  MemoryCheckpointStore,
  RunExistsError,
  RunOwnedError,
  TaskConfig,
  Workflow,
} from "../mod.ts";
import { Scheduler } from "../scheduler.ts";
import { gate } from "./_checkpoint_helpers.ts";
import { FakeTime } from "../testing.ts";
import { failsOnceWorkflow } from "./_scheduler_helpers.ts";

type Step = "charge" | "ship" | "done";
interface Order {
  orderId: string;
  shipped?: boolean;
}

function orders(store: MemoryCheckpointStore, broken: Set<string>, log: string[]) {
  return new Workflow<Step, Order>({ name: "order" })
    .register("charge", (ctx) => {
      log.push(`charge ${ctx.workflowId}`);
      return "ship";
    })
    .register("ship", (ctx) => {
      if (broken.has(ctx.data.orderId)) throw new Error(`courier lost order ${ctx.data.orderId}`);
      ctx.data.shipped = true;
      log.push(`ship ${ctx.workflowId}`);
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store);
}

Deno.test("Workflow.orchestrate() runs one checkpointed workflow under a new id per call", async () => {
  const store = new MemoryCheckpointStore();
  const log: string[] = [];
  const broken = new Set(["2"]);
  const workflow = orders(store, broken, log);
  const ids: string[] = [];
  workflow.addEventListener("runstart", (e) => ids.push(e.workflowId ?? "?"));
  for (const orderId of ["1", "2", "3"]) {
    const run = workflow.orchestrate("charge", { id: `order-${orderId}`, data: { orderId } });
    if (orderId === "2") await assert.rejects(run, /courier lost order 2/);
    else assert.equal((await run).workflowId, `order-${orderId}`);
  }
  assert.deepEqual(ids, ["order-1", "order-2", "order-3"], "events carry the run's id");
  assert.deepEqual(log, [
    "charge order-1",
    "ship order-1",
    "charge order-2",
    "charge order-3",
    "ship order-3",
  ]);
  // The failed run keeps its id (and its log) until it is resumed; the others are finished.
  assert.deepEqual((await store.listRuns()).runs.map((r) => [r.id, r.status]), [[
    "order-2",
    "failed",
  ]]);
  await assert.rejects(
    workflow.orchestrate("charge", { id: "order-2", data: { orderId: "2" } }),
    (error: unknown) => error instanceof RunExistsError && error.status === "failed",
  );
  // A finished run's id is free again.
  assert.equal(
    (await workflow.orchestrate("charge", { id: "order-1", data: { orderId: "1" } })).state,
    "done",
  );
});

Deno.test("Workflow.orchestrate() with ifExists: 'resume' continues the unfinished run, or starts one", async () => {
  const store = new MemoryCheckpointStore();
  const log: string[] = [];
  const broken = new Set(["7"]);
  const workflow = orders(store, broken, log);
  await assert.rejects(workflow.orchestrate("charge", { id: "order-7", data: { orderId: "7" } }));
  broken.clear();
  log.length = 0;
  const resumed = await workflow.orchestrate("charge", {
    id: "order-7",
    data: { orderId: "ignored" },
    ifExists: "resume",
  });
  assert.equal(resumed.state, "done");
  assert.deepEqual(
    resumed.data,
    { orderId: "7", shipped: true },
    "the run's own data, not the new",
  );
  assert.deepEqual(resumed.path, ["charge", "ship", "done"]);
  assert.deepEqual(log, ["ship order-7"], "charge did not run again");
  const fresh = await workflow.orchestrate("charge", {
    id: "order-8",
    data: { orderId: "8" },
    ifExists: "resume",
  });
  assert.equal(fresh.state, "done");
  assert.deepEqual(log.slice(1), ["charge order-8", "ship order-8"]);
});

Deno.test("Workflow.orchestrate() with ifExists: 'resume' of a live run fails with RunOwnedError", async () => {
  const store = new MemoryCheckpointStore();
  const shipping = gate();
  const workflow = new Workflow<Step, Order>({ name: "order" })
    .register("charge", () => "ship")
    .register("ship", async () => {
      await shipping.promise;
      return "done";
    })
    .addExitState("done")
    .withCheckpointStore(store);
  const first = workflow.orchestrate("charge", { id: "order-9", data: { orderId: "9" } });
  await new Promise((resolve) => setTimeout(resolve, 0));
  await assert.rejects(
    workflow.orchestrate("charge", { id: "order-9", data: { orderId: "9" } }),
    RunExistsError,
  );
  await assert.rejects(
    workflow.orchestrate("charge", { id: "order-9", data: { orderId: "9" }, ifExists: "resume" }),
    RunOwnedError,
  );
  shipping.open();
  assert.equal((await first).state, "done");
});

Deno.test("Workflow.orchestrate() refuses bad ids and options with a ConfigurationError naming the value", async () => {
  const store = new MemoryCheckpointStore();
  const workflow = orders(store, new Set(), []);
  const cases: [unknown, RegExp][] = [
    ["", /Run id must be a non-empty string, received ""/],
    [42, /Run id must be a non-empty string, received 42/],
    ["order-\ud800", /not a well-formed string.*lone surrogate/],
    [Object.create(null), /Run id must be a non-empty string, received an object/],
  ];
  for (const [id, message] of cases) {
    await assert.rejects(
      workflow.orchestrate("charge", { id: id as string, data: { orderId: "1" } }),
      (error: unknown) => error instanceof ConfigurationError && message.test(error.message),
    );
  }
  await assert.rejects(
    workflow.orchestrate("charge", {
      id: "order-1",
      data: { orderId: "1" },
      ifExists: "maybe" as "fail",
    }),
    /ifExists must be "fail" or "resume", received maybe/,
  );
  await assert.rejects(workflow.resumeFrom("\udc00"), ConfigurationError);
  assert.throws(() => workflow.withWorkflowId("a\ud800b"), ConfigurationError);
  assert.throws(() => new Workflow({ name: "" }), /Workflow name must be a non-empty string/);
  assert.throws(() => new Workflow({ name: "\ud83d" }), ConfigurationError);
  assert.deepEqual((await store.listRuns()).runs, [], "nothing was claimed");
});

Deno.test("Workflow.orchestrate() keeps ids that differ only in lone surrogates from sharing a log", async () => {
  const store = new MemoryCheckpointStore();
  for (const id of ["x\ud800", "x\udfff"]) {
    await assert.rejects(store.claim(id, { mode: "start", owner: "o", workflow: "", version: 0 }), {
      category: "checkpoint_store",
    });
    await assert.rejects(store.loadRun(id), { category: "checkpoint_store" });
  }
});

Deno.test("Workflow.resumeFrom() refuses a run of another named workflow", async () => {
  const store = new MemoryCheckpointStore();
  await assert.rejects(
    orders(store, new Set(["5"]), []).orchestrate("charge", {
      id: "order-5",
      data: { orderId: "5" },
    }),
  );
  const invoice = new Workflow<Step, Order>({ name: "invoice" })
    .register("charge", () => "done")
    .register("ship", () => "done")
    .addExitState("done")
    .withCheckpointStore(store);
  await assert.rejects(invoice.resumeFrom("order-5"), (error: unknown) => {
    assert.ok(error instanceof CanoError);
    assert.equal(error.category, "workflow");
    assert.match(error.message, /belongs to workflow "order", not "invoice"/);
    return true;
  });
  assert.equal((await store.getRun("order-5"))?.status, "failed", "left as it was");
});

Deno.test("Scheduler runs each run of a checkpointed flow under its own id, so a failed run never blocks the next", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new MemoryCheckpointStore();
  const { workflow: failsOnce, ids } = failsOnceWorkflow(store);
  const workflow = failsOnce.withWorkflowId("sync-default"); // ignored by the scheduler: every run gets its own
  await using running = await new Scheduler()
    .every("sync", workflow, "sync", 60_000)
    .setBackoff("sync", { initial: 1_000, jitter: 0, streakLimit: 3 })
    .start();
  await time.tickAsync(0);
  assert.equal(running.status("sync")?.status, "backoff");
  await time.tickAsync(60_000);
  await time.tickAsync(60_000);
  assert.equal(running.status("sync")?.failureStreak, 0);
  assert.equal(running.status("sync")?.status, "completed");
  const start = Date.UTC(2026, 0, 1);
  assert.deepEqual(ids, [
    `sync@${new Date(start).toISOString()}`,
    `sync@${new Date(start + 60_000).toISOString()}`,
    `sync@${new Date(start + 120_000).toISOString()}`,
  ]);
  // The failed run is kept (resumable), the later ones finished.
  assert.deepEqual((await store.listRuns()).runs.map((r) => [r.id, r.status]), [[
    ids[0],
    "failed",
  ]]);
  await running.trigger("sync");
  await time.tickAsync(0);
  await running.trigger("sync");
  await time.tickAsync(0);
  assert.equal(ids.length, 5);
  assert.equal(new Set(ids).size, 5, "runs in one millisecond get distinct ids");
  assert.deepEqual(ids.slice(3), [`${ids[2]}#4`, `${ids[2]}#5`]);
});
