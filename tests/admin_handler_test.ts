// The admin console's JSON API, driven through the fetch handler: listing, one run, export, and
// the actions (cancel, resume, retry here or by recovery, events), scheduler flows, breakers and
// limiters, hidden data, read-only mode and bad options.

import assert from "node:assert/strict";
import {
  CheckpointStoreError,
  CircuitBreaker,
  ConfigurationError,
  MemoryCheckpointStore,
  MultiRateLimiter,
  RateLimiter,
  startRecovery,
  TaskConfig,
  Workflow,
} from "../mod.ts";
import { Scheduler } from "../scheduler.ts";
import { FakeTime } from "../testing.ts";
import { adminHandler } from "../admin.ts";
import {
  charge,
  expenseWorkflow,
  failedOrders,
  get,
  longWorkflow,
  orderWorkflow,
  post,
  runPath,
  waitingExpenses,
} from "./admin_fixtures.ts";

Deno.test("adminHandler() lists runs filtered by status and workflow, page by page", async () => {
  const store = new MemoryCheckpointStore();
  const orders = orderWorkflow(store);
  const expenses = expenseWorkflow(store);
  await failedOrders(orders, ["o-1", "o-2", "o-3"]);
  await waitingExpenses(expenses, ["e-1", "e-2"]);
  await using handler = adminHandler({ store, workflows: [orders, expenses] });

  const all = await (await get(handler, "/api/runs")).json();
  assert.deepEqual(all.runs.map((run: { id: string }) => run.id), [
    "e-1",
    "e-2",
    "o-1",
    "o-2",
    "o-3",
  ]);
  const failed = await (await get(handler, "/api/runs?status=failed")).json();
  assert.deepEqual(failed.runs.map((run: { status: string }) => run.status), [
    "failed",
    "failed",
    "failed",
  ]);
  const waiting = await (await get(handler, "/api/runs?workflow=expense")).json();
  assert.deepEqual(waiting.runs.map((run: { id: string }) => run.id), ["e-1", "e-2"]);
  assert.equal(waiting.runs[0].wait.state, "await_manager");
  assert.deepEqual(waiting.runs[0].wait.events, ["approved", "rejected"]);

  const first = await (await get(handler, "/api/runs?limit=2")).json();
  assert.equal(first.runs.length, 2);
  assert.equal(typeof first.cursor, "string");
  const next =
    await (await get(handler, `/api/runs?limit=2&cursor=${encodeURIComponent(first.cursor)}`))
      .json();
  assert.deepEqual(next.runs.map((run: { id: string }) => run.id), ["o-1", "o-2"]);

  const bad = await get(handler, "/api/runs?status=done");
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error.message, /Filter status must be .*received "done"/);
  assert.equal((await get(handler, "/api/runs?limit=0")).status, 400);
});

Deno.test("adminHandler() shows a failed run with its rows, path, graph and actions", async () => {
  const store = new MemoryCheckpointStore();
  const orders = orderWorkflow(store);
  await using handler = adminHandler({ store, workflows: [orders] });
  await failedOrders(orders, ["order-9"]);

  const response = await get(handler, runPath("order-9"));
  assert.equal(response.status, 200);
  const run = await response.json();
  assert.equal(run.run.status, "failed");
  assert.match(run.run.error, /card declined/);
  assert.deepEqual(run.path, ["validate", "charge"]);
  assert.deepEqual(run.rows.map((row: { state: string }) => row.state), ["validate", "charge"]);
  assert.deepEqual(run.rows[1].data, { order: 0 });
  assert.ok(run.rows.every((row: { at: string | null }) => row.at !== null), "times seen here");
  assert.deepEqual(run.definition, { name: "order", version: 0 });
  assert.equal(run.graph.source, "definition");
  const node = (id: string) => run.graph.nodes.find((n: { id: string }) => n.id === id);
  assert.equal(node("validate").visited, true);
  assert.equal(node("charge").current, true);
  assert.equal(node("ship").visited, false);
  assert.equal(node("done").exit, true);
  const taken = run.graph.edges.filter((e: { taken: boolean }) => e.taken);
  assert.deepEqual(taken.map((e: { from: string; to: string }) => `${e.from}→${e.to}`), [
    "validate→charge",
  ]);
  assert.equal(run.actions.retry.allowed, true);
  assert.equal(run.actions.retry.mode, "here");
  assert.equal(run.actions.cancel.allowed, false);
  assert.equal(run.actions.resume.allowed, false);
  assert.ok(run.activity.some((entry: { kind: string }) => entry.kind === "end"));

  const missing = await get(handler, runPath("nope"));
  assert.equal(missing.status, 404);
  assert.match((await missing.json()).error.message, /no record and no log/);
});

Deno.test("adminHandler() retries a failed run here from its last state", async () => {
  const store = new MemoryCheckpointStore();
  const orders = orderWorkflow(store);
  const handler = adminHandler({ store, workflows: [orders] });
  await failedOrders(orders, ["order-1"]);
  charge.fails = false;
  const response = await post(handler, runPath("order-1", "retry"));
  assert.equal(response.status, 202);
  assert.deepEqual(await response.json(), {
    started: true,
    mode: "here",
    workflow: "order",
    version: 0,
  });
  await handler.close(); // waits for the retried run
  assert.equal(await store.getRun("order-1"), undefined, "the retried run completed");
});

Deno.test("adminHandler() hands a failed run to recovery when asked (or when unregistered)", async () => {
  const store = new MemoryCheckpointStore();
  const orders = orderWorkflow(store);
  await failedOrders(orders, ["order-1", "order-2"]);
  charge.fails = false;
  {
    await using handler = adminHandler({ store, workflows: [orders] });
    const asked = await post(handler, runPath("order-1", "retry"), { mode: "recovery" });
    assert.equal(asked.status, 202);
    assert.equal((await asked.json()).mode, "recovery");
  }
  {
    await using unregistered = adminHandler({ store });
    const show = await (await get(unregistered, runPath("order-2"))).json();
    assert.equal(show.actions.retry.mode, "recovery");
    assert.equal(show.graph.source, "path", "drawn from the log alone");
    assert.equal((await post(unregistered, runPath("order-2", "retry"))).status, 202);
    const here = await post(unregistered, runPath("order-2", "retry"), { mode: "here" });
    assert.equal(here.status, 409, "not failed any more");
  }
  for (const id of ["order-1", "order-2"]) {
    const info = await store.getRun(id);
    assert.equal(info?.status, "running");
    assert.equal(info?.owner, undefined, "released: any recovery sweeper may take it");
  }
  await using recovery = startRecovery({ store, workflows: [orders], every: 86_400_000 });
  assert.equal((await recovery.sweep()).resumed, 2);
  await recovery.stop();
  assert.equal(await store.getRun("order-1"), undefined);
  assert.equal(await store.getRun("order-2"), undefined);
});

Deno.test("adminHandler() cancels a running run, which then shows as cancelled and is not retried", async () => {
  const store = new MemoryCheckpointStore({ leaseMs: 300 });
  const { workflow, started } = longWorkflow(store);
  await using handler = adminHandler({ store, workflows: [workflow] });
  const run = workflow.orchestrate("start", { id: "job-1", data: { job: "x" } });
  const ended = run.then(() => "completed", (error) => error.name);
  await started;
  const shown = await (await get(handler, runPath("job-1"))).json();
  assert.equal(shown.run.status, "running");
  assert.equal(shown.run.live, true);
  assert.equal(shown.actions.cancel.allowed, true);
  assert.equal(shown.actions.resume.allowed, false, "held by its owner");

  const cancel = await post(handler, runPath("job-1", "cancel"), { reason: "operator" });
  assert.equal(cancel.status, 200);
  assert.equal((await cancel.json()).outcome, "requested");
  assert.equal(await ended, "StateContextError");
  const after = await (await get(handler, runPath("job-1"))).json();
  assert.equal(after.run.status, "failed");
  assert.equal(after.run.condition, "cancelled");
  assert.equal(after.run.cancel.reason, "operator");
  assert.equal(after.actions.retry.allowed, false);
  const retry = await post(handler, runPath("job-1", "retry"));
  assert.equal(retry.status, 409);
  assert.match((await retry.json()).error.message, /cancelled/);
  const again = await (await post(handler, runPath("job-1", "cancel"))).json();
  assert.equal(again.outcome, "failed");
  assert.equal((await post(handler, runPath("gone", "cancel"))).status, 404);
});

Deno.test("adminHandler() resumes a stalled run (its process died) here", async () => {
  using time = new FakeTime();
  const store = new MemoryCheckpointStore({ leaseMs: 1_000 });
  const orders = orderWorkflow(store);
  charge.fails = false;
  // A process claimed the run, wrote its first row, and died.
  const { lease } = await store.claim("order-5", {
    mode: "start",
    owner: "dead",
    workflow: "order",
    version: 0,
  });
  await store.append("order-5", {
    sequence: 0,
    state: "validate",
    taskId: "validate",
    kind: "state_entry",
    data: { order: 5 },
    workflowVersion: 0,
  }, lease);
  const handler = adminHandler({ store, workflows: [orders] });
  const live = await (await get(handler, runPath("order-5"))).json();
  assert.equal(live.actions.resume.allowed, false);
  assert.equal((await post(handler, runPath("order-5", "resume"))).status, 409);
  time.tick(5_000); // its lease ran out
  const stalled = await (await get(handler, runPath("order-5"))).json();
  assert.equal(stalled.run.condition, "stalled");
  assert.equal(stalled.actions.resume.allowed, true);
  const resumed = await post(handler, runPath("order-5", "resume"));
  assert.equal(resumed.status, 202);
  await handler.close();
  assert.equal(await store.getRun("order-5"), undefined, "resumed to its end");
});

Deno.test("adminHandler() sends an event to a waiting run", async () => {
  const store = new MemoryCheckpointStore();
  const expenses = expenseWorkflow(store);
  await waitingExpenses(expenses, ["e-7"]);
  await using handler = adminHandler({ store, workflows: [expenses] });
  const sent = await post(handler, runPath("e-7", "events"), {
    name: "approved",
    payload: { by: "ana" },
  });
  assert.equal(sent.status, 200);
  const body = await sent.json();
  assert.equal(body.outcome, "delivered");
  assert.equal(body.run.condition, "due");
  const duplicate = await post(handler, runPath("e-7", "events"), {
    name: "approved",
    eventId: "k",
  });
  assert.equal((await duplicate.json()).outcome, "queued");
  assert.equal((await post(handler, runPath("e-7", "events"), {})).status, 400);
  assert.equal((await post(handler, runPath("none", "events"), { name: "approved" })).status, 409);
  // Due now: resuming it here takes the approved edge to its end.
  assert.equal((await post(handler, runPath("e-7", "resume"))).status, 202);
  await handler.close();
  assert.equal(await store.getRun("e-7"), undefined);
});

Deno.test("adminHandler() exports a run, and hides run data when asked", async () => {
  const store = new MemoryCheckpointStore();
  const orders = orderWorkflow(store);
  await failedOrders(orders, ["order-3"]);
  {
    await using handler = adminHandler({ store, workflows: [orders] });
    const exported = await get(handler, `${runPath("order-3")}/export`);
    assert.match(
      exported.headers.get("content-disposition") ?? "",
      /attachment; filename="run-order-3.json"/,
    );
    const document = await exported.json();
    assert.equal(document.format, "cano-run/1");
    assert.deepEqual(document.rows[0].data, { order: 0 });
  }
  await using hidden = adminHandler({ store, workflows: [orders], hideData: true });
  const shown = await (await get(hidden, runPath("order-3"))).json();
  assert.equal(shown.hideData, true);
  assert.ok(shown.rows.every((row: object) => !("data" in row) && !("output" in row)));
  const document = await (await get(hidden, `${runPath("order-3")}/export`)).json();
  assert.ok(document.rows.every((row: object) => !("data" in row)));
  assert.equal((await (await get(hidden, "/api/info")).json()).hideData, true);
});

Deno.test("adminHandler() drives scheduler flows: trigger, reset, cancel", async () => {
  const quick = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
  const failing = new Workflow<"go" | "done">()
    .register("go", () => {
      throw new Error("down");
    }, { config: TaskConfig.minimal() })
    .addExitState("done");
  const { workflow: slow } = longWorkflow(new MemoryCheckpointStore());
  const scheduler = await new Scheduler()
    .manual("report", quick, "go")
    .manual("broken", failing, "go", { backoff: { streakLimit: 1 } })
    .manual("slow", slow, "start")
    .start();
  try {
    await using handler = adminHandler({ store: new MemoryCheckpointStore(), scheduler });
    const ended = (id: string) =>
      new Promise<void>((resolve) =>
        scheduler.addEventListener("flowend", (e) => e.id === id && resolve())
      );
    let done = ended("report");
    assert.equal((await post(handler, "/api/flows/report/trigger")).status, 200);
    await done;
    const flows = await (await get(handler, "/api/flows")).json();
    assert.equal(flows.scheduler, true);
    const report = flows.flows.find((flow: { id: string }) => flow.id === "report");
    assert.equal(report.runCount, 1);
    assert.equal(report.status, "completed");
    assert.deepEqual(report.schedule, { kind: "manual" });

    done = ended("broken");
    await post(handler, "/api/flows/broken/trigger");
    await done;
    assert.equal(scheduler.status("broken")?.status, "tripped");
    const refused = await post(handler, "/api/flows/broken/trigger");
    assert.equal(refused.status, 409);
    assert.match((await refused.json()).error.message, /tripped/);
    const reset = await (await post(handler, "/api/flows/broken/reset")).json();
    assert.equal(reset.flow.status, "idle");

    await post(handler, "/api/flows/slow/trigger");
    const cancelled = await post(handler, "/api/flows/slow/cancel");
    assert.equal(cancelled.status, 200);
    assert.equal((await cancelled.json()).ended, true);
    assert.equal((await post(handler, "/api/flows/none/trigger")).status, 404);
  } finally {
    await scheduler.stop();
  }
  await using without = adminHandler({ store: new MemoryCheckpointStore() });
  assert.deepEqual(await (await get(without, "/api/flows")).json(), {
    scheduler: false,
    flows: [],
  });
  assert.equal((await post(without, "/api/flows/report/trigger")).status, 404);
});

Deno.test("adminHandler() shows circuit breakers and rate limiters", async () => {
  const breaker = new CircuitBreaker({ failureThreshold: 1, resetTimeout: 60_000 });
  breaker.tryAcquire().recordFailure();
  const bucket = RateLimiter.perSecond(10);
  bucket.tryAcquire(3);
  const tiers = new MultiRateLimiter().withTier("second", RateLimiter.perSecond(5));
  await using handler = adminHandler({
    store: new MemoryCheckpointStore(),
    breakers: { payments: breaker },
    limiters: { api: bucket, tiers },
  });
  const body = await (await get(handler, "/api/resilience")).json();
  assert.equal(body.breakers[0].name, "payments");
  assert.equal(body.breakers[0].state, "open");
  assert.equal(typeof body.breakers[0].openUntil, "string");
  assert.equal(body.limiters[0].tiers[0].used, 3);
  assert.equal(body.limiters[1].tiers[0].name, "second");
  assert.equal((await (await get(handler, "/api/info")).json()).resilience, true);
});

Deno.test("adminHandler() with readOnly refuses every action", async () => {
  const store = new MemoryCheckpointStore();
  const orders = orderWorkflow(store);
  await failedOrders(orders, ["order-1"]);
  await using handler = adminHandler({ store, workflows: [orders], readOnly: true });
  const shown = await (await get(handler, runPath("order-1"))).json();
  assert.equal(shown.actions.retry.allowed, false);
  assert.equal(shown.actions.retry.why, "The console is read-only");
  assert.equal((await post(handler, runPath("order-1", "retry"))).status, 403);
  assert.equal((await store.getRun("order-1"))?.status, "failed");
});

Deno.test("adminHandler() mounts under a base path", async () => {
  await using handler = adminHandler({
    store: new MemoryCheckpointStore(),
    basePath: "/ops/admin",
  });
  assert.equal((await get(handler, "/ops/admin/api/runs")).status, 200);
  assert.equal((await get(handler, "/api/runs")).status, 404);
  const redirect = await get(handler, "/ops/admin");
  assert.equal(redirect.status, 308);
  assert.equal(redirect.headers.get("location"), "http://127.0.0.1/ops/admin/");
  const page = await (await get(handler, "/ops/admin/")).text();
  assert.match(page, /src="\/ops\/admin\/app\.js"/);
  assert.match(page, /data-base="\/ops\/admin"/);
});

Deno.test("adminHandler() refuses bad options with a ConfigurationError naming the value", () => {
  const store = new MemoryCheckpointStore();
  const refuses = (options: unknown, message: RegExp) =>
    assert.throws(() => adminHandler(options as never), (error: unknown) => {
      assert.ok(error instanceof ConfigurationError, String(error));
      assert.match(error.message, message);
      return true;
    });
  refuses(undefined, /needs options with a store/);
  refuses({ store: 42 }, /store must be a checkpoint store, received 42/);
  refuses(
    { store, workflows: "order" },
    /workflows must be an array of workflows, received "order"/,
  );
  refuses({ store, workflows: [{}] }, /workflows must be Workflow instances/);
  refuses({ store, workflows: [new Workflow()] }, /needs named workflows/);
  refuses(
    { store, workflows: [orderWorkflow(new MemoryCheckpointStore())] },
    /does not checkpoint to the store/,
  );
  refuses(
    { store, workflows: [orderWorkflow(store), orderWorkflow(store)] },
    /two definitions of workflow "order" version 0/,
  );
  refuses({ store, scheduler: {} }, /scheduler must be a started scheduler/);
  refuses({ store, token: 12 }, /token must be a string, received 12/);
  refuses({ store, hideData: "yes" }, /hideData must be a boolean, received "yes"/);
  refuses({ store, breakers: { a: {} } }, /breakers\["a"\] must be a CircuitBreaker/);
  refuses({ store, limiters: { b: 1 } }, /limiters\["b"\] must be a RateLimiter/);
  refuses(
    { store, basePath: "admin/" },
    /basePath must be "" or a path like "\/admin".*received "admin\/"/,
  );
  refuses({ store, refreshMs: 10 }, /refreshMs must be an integer from 500 to 60000, received 10/);
  refuses({ store, title: "" }, /title must be a string of 1 to 120 characters/);
  refuses({
    store,
    colour: "red",
    get hideData() {
      throw new Error("trap");
    },
  }, /hideData could not be read \(trap\)/);
  // A token is a secret: its value never appears in the message.
  assert.throws(() => adminHandler({ store, token: "hunter2" }), (error: unknown) => {
    assert.ok(error instanceof ConfigurationError);
    assert.match(error.message, /16 to 512 printable ASCII characters .*a string of 7 characters/);
    assert.doesNotMatch(error.message, /hunter2/);
    return true;
  });
});

Deno.test("adminHandler() shows the latest 500 rows of a long log, even one without a record", async () => {
  const store = new MemoryCheckpointStore();
  await store.append("seeded", {
    sequence: 0,
    state: "page",
    taskId: "page",
    kind: "state_entry",
    workflowVersion: 0,
  });
  for (let sequence = 1; sequence < 510; sequence++) {
    await store.append("seeded", {
      sequence,
      state: "page",
      taskId: "page",
      kind: "step_cursor",
      output: sequence,
      workflowVersion: 0,
    });
  }
  await using handler = adminHandler({ store });
  const shown = await (await get(handler, runPath("seeded"))).json();
  assert.equal(shown.run, null, "a log seeded by hand has no record");
  assert.equal(shown.actions, null);
  assert.equal(shown.rows.length, 500);
  assert.equal(shown.rowsOmitted, 10);
  assert.equal(shown.rows[0].sequence, 10);
  assert.equal(shown.rows.at(-1).output, 509);
  assert.deepEqual(shown.path, ["page"]);
  assert.equal(shown.graph.source, "path");
  const exported = await (await get(handler, runPath("seeded", "export"))).json();
  assert.equal(exported.rows.length, 510, "the export has them all");
});

Deno.test("adminHandler() lets one of simultaneous retries of a run win; the others get a 409", async () => {
  const store = new MemoryCheckpointStore();
  const orders = orderWorkflow(store);
  await failedOrders(orders, ["order-1", "order-2"]);
  charge.fails = false;
  const first = adminHandler({ store, workflows: [orders] });
  const second = adminHandler({ store, workflows: [orders] });
  const statuses = (...responses: Promise<Response>[]) =>
    Promise.all(responses.map(async (response) => {
      const answer = await response;
      await answer.body?.cancel();
      return answer.status;
    }));
  // Two consoles retry order-1 here at the same moment: one claim wins.
  assert.deepEqual(
    (await statuses(
      post(first, runPath("order-1", "retry")),
      post(second, runPath("order-1", "retry")),
    ))
      .sort(),
    [202, 409],
  );
  // One retries order-2 here while another hands it to recovery. Handed over first, the run is
  // free to claim, so the retry here may take it too (as a recovery sweeper would): it still
  // runs once.
  const [here, handed] = await statuses(
    post(first, runPath("order-2", "retry")),
    post(second, runPath("order-2", "retry"), { mode: "recovery" }),
  );
  assert.ok(
    [here, handed].every((status) => status === 202 || status === 409),
    `${here} ${handed}`,
  );
  assert.ok(here === 202 || handed === 202);
  await Promise.all([first.close(), second.close()]);
  assert.equal(await store.getRun("order-1"), undefined, "run once, to its end");
  const order2 = await store.getRun("order-2");
  if (here === 202) assert.equal(order2, undefined, "retried here to its end");
  else {assert.deepEqual(
      [order2?.status, order2?.owner],
      ["running", undefined],
      "left to recovery",
    );}
});

Deno.test("adminHandler() answers a failing store with a 503, and bad input to it with a 400", async () => {
  const store = new MemoryCheckpointStore();
  await using handler = adminHandler({ store });
  assert.equal((await get(handler, "/api/runs?cursor=%00not-a-cursor")).status, 400);
  store.listRuns = () =>
    Promise.reject(
      new CheckpointStoreError("List runs failed: disk I/O error", { cause: new Error("EIO") }),
    );
  const down = await get(handler, "/api/runs");
  assert.equal(down.status, 503);
  assert.deepEqual((await down.json()).error, {
    name: "CheckpointStoreError",
    message: "List runs failed: disk I/O error",
    category: "checkpoint_store",
  });
});
