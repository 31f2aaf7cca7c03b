// Wait states (registerWait): a run parks durably until an outside event or its deadline.

import assert from "node:assert/strict";
import {
  type CompensatableTask,
  MemoryCheckpointStore,
  type RunStore,
  startRecovery,
  TaskConfig,
  type WaitEvent,
  Workflow,
} from "../mod.ts";
import { KvCheckpointStore } from "../kv.ts";
import { FakeTime } from "../testing.ts";

type Step = "ask" | "ship" | "refund" | "expired";
type Data = { amount: number; by?: string; log: string[] };
const HOURS_48 = 48 * 3_600_000;

/** An expense workflow: wait for approved / rejected, 48 h deadline; the next states log ctx.event. */
function expense(store: RunStore, seen: (WaitEvent | undefined)[] = []) {
  const record = (state: Step) => (ctx: { event?: WaitEvent | undefined; data: Data }): Step => {
    seen.push(ctx.event);
    ctx.data.log.push(state);
    return state;
  };
  return new Workflow<Step | "done", Data>({ name: "expense" })
    .registerWait("ask", {
      events: { approved: "ship", rejected: "refund" },
      timeout: { after: HOURS_48, next: "expired" },
    })
    .register("ship", (ctx) => record("ship")(ctx) && "done", { config: TaskConfig.minimal() })
    .register("refund", (ctx) => record("refund")(ctx) && "done", { config: TaskConfig.minimal() })
    .register("expired", (ctx) => record("expired")(ctx) && "done", {
      config: TaskConfig.minimal(),
    })
    .addExitState("done")
    .withCheckpointStore(store);
}

const data = (): Data => ({ amount: 120, log: [] });

Deno.test("Workflow.registerWait() parks the run: waiting, ownerless, with what it waits for", async () => {
  const store = new MemoryCheckpointStore();
  const workflow = expense(store);
  const parked = await workflow.orchestrate("ask", { id: "e-1", data: data(), onWait: "return" });
  assert.equal(parked.status, "waiting");
  if (parked.status !== "waiting") throw new Error("unreachable");
  assert.equal(parked.state, "ask");
  assert.deepEqual(parked.events, ["approved", "rejected"]);
  assert.ok(parked.until instanceof Date);
  const info = await store.getRun("e-1");
  assert.equal(info?.status, "waiting");
  assert.equal(info?.owner, undefined);
  assert.deepEqual(info?.wait?.events, ["approved", "rejected"]);
  assert.equal(info?.wait?.state, "ask");
  const page = await store.listRuns({ status: "waiting" });
  assert.deepEqual(page.runs.map((run) => run.id), ["e-1"]);
});

Deno.test("Workflow.registerWait() goes on in the state the event names, with ctx.event", async () => {
  for (const [name, state] of [["approved", "ship"], ["rejected", "refund"]] as const) {
    const store = new MemoryCheckpointStore();
    const seen: (WaitEvent | undefined)[] = [];
    const workflow = expense(store, seen);
    await workflow.orchestrate("ask", { id: "e-2", data: data(), onWait: "return" });
    const sent = await store.sendEvent("e-2", name, { by: "maria" }, { eventId: "mail-1" });
    assert.equal(sent.outcome, "delivered");
    const result = await workflow.resumeFrom("e-2");
    assert.equal(result.state, "done");
    assert.deepEqual(result.data.log, [state]);
    assert.deepEqual(result.path, ["ask", state, "done"]);
    assert.equal(seen[0]?.name, name);
    assert.deepEqual(seen[0]?.payload, { by: "maria" });
    assert.equal(seen[0]?.eventId, "mail-1");
    assert.equal(await store.getRun("e-2"), undefined, "finished: the record is gone");
  }
});

Deno.test("Workflow.registerWait() takes the timeout edge once the deadline passed, ctx.event undefined", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new MemoryCheckpointStore();
  const seen: (WaitEvent | undefined)[] = [];
  const workflow = expense(store, seen);
  await workflow.orchestrate("ask", { id: "e-3", data: data(), onWait: "return" });
  assert.equal((await store.listExpired()).runs.length, 0, "not due before its deadline");
  await time.tickAsync(HOURS_48);
  assert.deepEqual((await store.listExpired()).runs.map((run) => run.id), ["e-3"]);
  // A fresh definition (a restart): the deadline came from the log, so it fires at once.
  const result = await expense(store, seen).resumeFrom("e-3");
  assert.deepEqual(result.data.log, ["expired"]);
  assert.deepEqual(seen, [undefined]);
});

Deno.test("Workflow.orchestrate() waits for a parked run and wakes it within a second of the event", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new MemoryCheckpointStore();
  const workflow = expense(store);
  let settled = false;
  const run = workflow.orchestrate("ask", { id: "e-4", data: data() }).finally(() => {
    settled = true;
  });
  await time.tickAsync(5_000);
  assert.equal(settled, false, "parked: still waiting");
  assert.equal((await store.getRun("e-4"))?.status, "waiting");
  await store.sendEvent("e-4", "approved", { by: "li" });
  await time.tickAsync(1_000);
  const result = await run;
  assert.deepEqual(result.data.log, ["ship"]);
});

Deno.test("store.sendEvent() before the wait state queues the event; the run then never parks", async () => {
  const store = new MemoryCheckpointStore();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const workflow = new Workflow<"prepare" | Step | "done", Data>({ name: "early" })
    .register("prepare", async () => {
      await gate;
      return "ask";
    }, { config: TaskConfig.minimal() })
    .registerWait("ask", { events: { approved: "ship", rejected: "refund" } })
    .register("ship", () => "done")
    .register("refund", () => "done")
    .addExitState("done")
    .withCheckpointStore(store);
  const run = workflow.orchestrate("prepare", { id: "e-5", data: data(), onWait: "return" });
  await new Promise((resolve) => setTimeout(resolve, 0));
  const sent = await store.sendEvent("e-5", "rejected", "too expensive");
  assert.equal(sent.outcome, "queued");
  release();
  const result = await run;
  assert.equal(result.status === "waiting" ? "waiting" : result.state, "done");
  assert.deepEqual(result.path, ["prepare", "ask", "refund", "done"]);
});

Deno.test("store.sendEvent() with a repeated eventId is a no-op", async () => {
  const store = new MemoryCheckpointStore();
  const workflow = expense(store);
  await workflow.orchestrate("ask", { id: "e-6", data: data(), onWait: "return" });
  assert.equal(
    (await store.sendEvent("e-6", "approved", 1, { eventId: "k" })).outcome,
    "delivered",
  );
  assert.equal(
    (await store.sendEvent("e-6", "rejected", 2, { eventId: "k" })).outcome,
    "duplicate",
  );
  const result = await workflow.resumeFrom("e-6");
  assert.deepEqual(result.data.log, ["ship"]);
});

Deno.test("store.sendEvent() to an unknown or finished run is refused with EventRefusedError", async () => {
  const store = new MemoryCheckpointStore();
  await assert.rejects(store.sendEvent("nobody", "approved", {}), {
    name: "EventRefusedError",
    reason: "not_found",
  });
  const workflow = expense(store);
  await workflow.orchestrate("ask", { id: "e-7", data: data(), onWait: "return" });
  await store.sendEvent("e-7", "approved", {});
  await workflow.resumeFrom("e-7");
  await assert.rejects(store.sendEvent("e-7", "approved", {}), { reason: "not_found" });
});

Deno.test("Workflow.registerWait(): a cancel request wakes a parked run into its rollback", async () => {
  const store = new MemoryCheckpointStore();
  const refunds: string[] = [];
  const charge: CompensatableTask<"ask", Step | "charge" | "done", Data, never, string> = {
    name: "charge",
    config: TaskConfig.minimal(),
    run: () => ({ next: "ask", output: "ch-1" }),
    compensate: (_ctx, output) => {
      refunds.push(output);
    },
  };
  const workflow = new Workflow<Step | "charge" | "done", Data>({ name: "charged" })
    .registerWithCompensation("charge", charge)
    .registerWait("ask", { events: { approved: "ship" } })
    .register("ship", () => "done")
    .addExitState("done")
    .withCheckpointStore(store);
  await workflow.orchestrate("charge", { id: "e-8", data: data(), onWait: "return" });
  assert.equal((await store.requestCancel("e-8", "customer left")).outcome, "requested");
  assert.deepEqual((await store.listExpired()).runs.map((run) => run.id), ["e-8"], "due at once");
  await assert.rejects(workflow.resumeFrom("e-8"), { category: "cancelled" });
  assert.deepEqual(refunds, ["ch-1"]);
});

Deno.test("Workflow.orchestrate() aborted while its run is parked cancels the run durably", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new MemoryCheckpointStore();
  const workflow = expense(store);
  const controller = new AbortController();
  const run = workflow.orchestrate("ask", { id: "e-9", data: data(), signal: controller.signal });
  const outcome = run.then(() => "resolved", (error) => error.category as string);
  await time.tickAsync(2_000);
  controller.abort();
  await time.tickAsync(2_000);
  assert.equal(await outcome, "cancelled");
  assert.equal((await store.getRun("e-9"))?.status, "failed");
});

Deno.test("startRecovery() wakes a parked run whose event arrived", async () => {
  const store = new MemoryCheckpointStore();
  const workflow = expense(store);
  await workflow.orchestrate("ask", { id: "e-10", data: data(), onWait: "return" });
  await using recovery = startRecovery({ store, workflows: [expense(store)], every: 3_600_000 });
  assert.equal((await recovery.sweep()).resumed, 0, "nothing due yet");
  await store.sendEvent("e-10", "approved", { by: "ana" });
  const ended = new Promise((resolve) => recovery.addEventListener("recovered", resolve));
  await recovery.sweep();
  assert.equal(((await ended) as { outcome: string }).outcome, "completed");
  assert.equal(await store.getRun("e-10"), undefined);
});

Deno.test("Workflow.registerWait() in a loop consumes each event once", async () => {
  const store = new MemoryCheckpointStore();
  const approvals: unknown[] = [];
  const workflow = new Workflow<"ask" | "count" | "done", { n: number }>({ name: "twice" })
    .registerWait("ask", { events: { approved: "count" } })
    .register("count", (ctx) => {
      approvals.push(ctx.event?.payload);
      return ++ctx.data.n < 2 ? "ask" : "done";
    })
    .addExitState("done")
    .withCheckpointStore(store);
  await workflow.orchestrate("ask", { id: "e-11", data: { n: 0 }, onWait: "return" });
  await store.sendEvent("e-11", "approved", "first");
  const again = await workflow.resumeFrom("e-11", { onWait: "return" });
  assert.equal(again.status, "waiting", "the first event does not satisfy the second wait");
  await store.sendEvent("e-11", "approved", "second");
  const result = await workflow.resumeFrom("e-11");
  assert.equal(result.state, "done");
  assert.deepEqual(approvals, ["first", "second"]);
});

Deno.test("Workflow.registerWait() refuses bad options and a workflow without a store that parks", () => {
  const base = () => new Workflow<"a" | "b">().addExitState("b");
  for (
    const options of [
      undefined,
      {},
      { events: {} },
      { events: [] },
      { events: { "": "b" } },
      { events: { ok: "" } },
      { events: { ok: "b" }, timeout: { after: 0, next: "b" } },
      { events: { ok: "b" }, timeout: { after: Number.NaN, next: "b" } },
      { events: { ok: "b" }, timeout: { after: 10, next: 3 } },
      { events: { ok: "b" }, payloads: [] },
      { events: { ok: "b" }, payloads: "{ ok: string }" },
      { events: { ok: "b" }, payloads: { ko: 1 } },
      {
        get events(): never {
          throw new TypeError("hostile getter");
        },
      },
      {
        events: new Proxy({}, {
          ownKeys: () => {
            throw new Error("hostile trap");
          },
        }),
      },
    ]
  ) {
    assert.throws(() => base().registerWait("a", options as never), { category: "configuration" });
  }
  const unstored = base().registerWait("a", { events: { ok: "b" } });
  assert.throws(() => unstored.validate(), /Wait state "a" parks its run in the checkpoint store/);
});

Deno.test("Workflow.sendEvent() delivers through the workflow's store and refuses what no state waits for", async () => {
  const store = new MemoryCheckpointStore();
  const seen: (WaitEvent | undefined)[] = [];
  const workflow = expense(store, seen);
  await workflow.orchestrate("ask", {
    id: "w-send",
    data: { amount: 5, log: [] },
    onWait: "return",
  });
  await assert.rejects(
    workflow.sendEvent("w-send", "approve" as never, {} as never),
    (error: Error) =>
      error.name === "ConfigurationError" &&
      error.message.includes(`waits for event "approve" (it waits for "approved", "rejected")`),
  );
  const first = await workflow.sendEvent("w-send", "approved", { by: "ana" }, { eventId: "e-1" });
  assert.equal(first.outcome, "delivered");
  const again = await workflow.sendEvent("w-send", "approved", { by: "ana" }, { eventId: "e-1" });
  assert.equal(again.outcome, "duplicate");
  await assert.rejects(workflow.sendEvent("nobody", "approved", {}), { name: "EventRefusedError" });
  assert.equal((await workflow.resumeFrom("w-send")).state, "done");
  assert.deepEqual(seen.map((event) => event?.payload), [{ by: "ana" }]);

  const unstored = new Workflow<"a" | "b">().registerWait("a", { events: { ok: "b" } });
  await assert.rejects(unstored.sendEvent("x", "ok", 1), /sendEvent needs a checkpoint store/);
  const noWaits = new Workflow<"a" | "b">().withCheckpointStore(store);
  await assert.rejects(noWaits.sendEvent("x", "ok", 1), /it has no wait state/);
});

Deno.test("Workflow.toMermaid() draws a wait state's event and deadline edges", () => {
  const text = expense(new MemoryCheckpointStore()).toMermaid("ask");
  assert.match(text, /ask --> ship : approved/);
  assert.match(text, /ask --> refund : rejected/);
  assert.match(text, /ask --> expired : after 172800000 ms/);
});

Deno.test("Workflow.registerWait() parks and wakes on the KV store", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = new KvCheckpointStore(kv);
    const workflow = expense(store);
    const parked = await workflow.orchestrate("ask", { id: "k-1", data: data(), onWait: "return" });
    assert.equal(parked.status, "waiting");
    assert.equal((await store.getRun("k-1"))?.status, "waiting");
    await store.sendEvent("k-1", "approved", { by: "kv" }, { eventId: "x" });
    assert.equal(
      (await store.sendEvent("k-1", "approved", {}, { eventId: "x" })).outcome,
      "duplicate",
    );
    const result = await workflow.resumeFrom("k-1");
    assert.deepEqual(result.data.log, ["ship"]);
  } finally {
    kv.close();
  }
});

Deno.test("store.sendEvent() without a payload wakes the run; ctx.event.payload is undefined", async () => {
  for (const store of [new MemoryCheckpointStore()]) {
    const payloads: unknown[] = [];
    const workflow = new Workflow<"ask" | "ship" | "done">({ name: "bare" })
      .registerWait("ask", { events: { approved: "ship" } })
      .register("ship", (ctx) => {
        payloads.push(ctx.event?.payload);
        return "done";
      })
      .addExitState("done")
      .withCheckpointStore(store);
    await workflow.orchestrate("ask", { id: "bare-1", onWait: "return" });
    assert.equal((await store.sendEvent("bare-1", "approved", undefined)).outcome, "delivered");
    assert.equal((await workflow.resumeFrom("bare-1")).state, "done");
    assert.deepEqual(payloads, [undefined]);
  }
});

Deno.test("Workflow.resumeFrom() into the state after a wait hands it the same ctx.event", async () => {
  const store = new MemoryCheckpointStore();
  let fail = true;
  const seen: unknown[] = [];
  const workflow = new Workflow<"ask" | "ship" | "done">({ name: "again" })
    .registerWait("ask", { events: { approved: "ship" } })
    .register("ship", (ctx) => {
      seen.push(ctx.event?.payload);
      if (fail) throw new Error("courier down");
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store);
  await workflow.orchestrate("ask", { id: "again-1", onWait: "return" });
  await store.sendEvent("again-1", "approved", { by: "kim" });
  await assert.rejects(workflow.resumeFrom("again-1"), /courier down/);
  fail = false;
  assert.equal((await workflow.resumeFrom("again-1")).state, "done");
  assert.deepEqual(seen, [{ by: "kim" }, { by: "kim" }]);
});

Deno.test("Workflow.registerWait(): the branches of a split right after the wait see ctx.event", async () => {
  const store = new MemoryCheckpointStore();
  const seen: unknown[] = [];
  const workflow = new Workflow<"ask" | "fan" | "done">({ name: "fan-after-wait" })
    .registerWait("ask", { events: { go: "fan" } })
    .registerSplit("fan", [
      (ctx) => seen.push(ctx.event?.payload),
      (ctx) => seen.push(ctx.event?.name),
    ], {
      strategy: "all",
      next: "done",
    })
    .addExitState("done")
    .withCheckpointStore(store);
  await workflow.orchestrate("ask", { id: "f-1", onWait: "return" });
  await store.sendEvent("f-1", "go", 7);
  assert.equal((await workflow.resumeFrom("f-1")).state, "done");
  assert.deepEqual(seen.sort(), [7, "go"].sort());
});
