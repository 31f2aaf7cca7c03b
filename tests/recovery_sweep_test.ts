// Recovery sweeps in one process (the multi-process proof is recovery_e2e_test.ts): expired runs
// are found through the lease-expiry index, resumed with the definition of their name and
// version, exactly once however many sweepers look; unknown definitions are reported and left
// alone; concurrency is bounded; stop and the signal end the sweeps. Fake time drives leases.

import assert from "node:assert/strict";
import {
  type CheckpointRow,
  MemoryCheckpointStore,
  type RecoveredEvent,
  Resources,
  type RunStore,
  startRecovery,
  type UnknownWorkflowEvent,
  Workflow,
} from "../mod.ts";
import { KvCheckpointStore, type KvLike } from "../kv.ts";
import { abandonedRun, gate, row } from "./_checkpoint_helpers.ts";
import { FakeTime } from "../testing.ts";

type Step = "a" | "b" | "c" | "done";
const LEASE = 1_000;

/** A three-state workflow that journals each state it runs, by run id. */
function flow(
  store: RunStore,
  journal: string[],
  options: { version?: number; hold?: Promise<void> } = {},
) {
  return new Workflow<Step, { n: number }>({ name: "job" })
    .register("a", (ctx) => {
      journal.push(`${ctx.workflowId} a`);
      return "b";
    })
    .register("b", async (ctx) => {
      journal.push(`${ctx.workflowId} b`);
      await options.hold;
      return "c";
    })
    .register("c", (ctx) => {
      journal.push(`${ctx.workflowId} c`);
      return "done";
    })
    .addExitState("done")
    .withWorkflowVersion(options.version ?? 0)
    .withCheckpointStore(store);
}

/** A run whose process died in state `b`: its lease expires `LEASE` ms after the call. */
async function died(store: RunStore, id: string, workflow = "job", version = 0): Promise<void> {
  const rows: CheckpointRow[] = [
    row(0, "a", { data: { n: 1 }, workflowVersion: version }),
    row(1, "b", { data: { n: 1 }, workflowVersion: version }),
  ];
  const { lease } = await store.claim(id, { mode: "start", owner: "dead", workflow, version });
  for (const r of rows) await store.append(id, r, lease);
}

function ended(recovery: EventTarget, count: number): Promise<RecoveredEvent[]> {
  const seen: RecoveredEvent[] = [];
  return new Promise((resolve) => {
    recovery.addEventListener("recovered", (event) => {
      seen.push(event as RecoveredEvent);
      if (seen.length === count) resolve(seen);
    });
  });
}

Deno.test("startRecovery() resumes expired runs with their definition, from where they stopped", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new MemoryCheckpointStore({ leaseMs: LEASE });
  const journal: string[] = [];
  await died(store, "job-1");
  await died(store, "job-2");
  const healthy = await store.claim("job-3", {
    mode: "start",
    owner: "alive",
    workflow: "job",
    version: 0,
  });
  await time.tickAsync(LEASE + 1);
  await store.renew(healthy.lease);
  await using recovery = startRecovery({ store, workflows: [flow(store, journal)], every: 500 });
  const done = ended(recovery, 2);
  await time.tickAsync(0);
  const events = await done;
  assert.deepEqual(events.map((e) => [e.runId, e.outcome]).sort(), [
    ["job-1", "completed"],
    ["job-2", "completed"],
  ]);
  // Each resumed in b (the state it died in), never a.
  assert.deepEqual(journal.sort(), ["job-1 b", "job-1 c", "job-2 b", "job-2 c"]);
  assert.equal(await store.getRun("job-1"), undefined);
  assert.equal((await store.getRun("job-3"))?.owner, "alive", "a healthy run is not touched");
  await store.finish(healthy.lease, { status: "completed" });
});

Deno.test("startRecovery() reports a run of an unknown name or version once and leaves it alone", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new MemoryCheckpointStore({ leaseMs: LEASE });
  await died(store, "other-1", "invoice");
  await died(store, "job-v7", "job", 7);
  await time.tickAsync(LEASE + 1);
  const journal: string[] = [];
  await using recovery = startRecovery({ store, workflows: [flow(store, journal)], every: 100 });
  const unknown: UnknownWorkflowEvent[] = [];
  recovery.addEventListener("unknownworkflow", (e) => unknown.push(e));
  await time.tickAsync(0);
  await time.tickAsync(350); // three more sweeps
  assert.deepEqual(unknown.map((e) => [e.runId, e.workflow, e.version]).sort(), [
    ["job-v7", "job", 7],
    ["other-1", "invoice", 0],
  ]);
  assert.match(unknown.find((e) => e.runId === "job-v7")!.reason, /version 7 .*has version 0/);
  const invoice = await store.getRun("other-1");
  assert.match(invoice?.error ?? "", /no workflow named "invoice"/);
  assert.equal(invoice?.owner, "dead", "not claimed");
  assert.deepEqual(journal, []);
  assert.equal((await store.loadRun("job-v7")).length, 2, "its log is untouched");
});

Deno.test("startRecovery() in two sweepers resumes each expired run exactly once", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new MemoryCheckpointStore({ leaseMs: LEASE });
  const ids = Array.from({ length: 8 }, (_, i) => `job-${i}`);
  for (const id of ids) await died(store, id);
  await time.tickAsync(LEASE + 1);
  const journal: string[] = [];
  const workflows = [flow(store, journal)];
  const events: RecoveredEvent[] = [];
  await using first = startRecovery({ store, workflows, every: 50, concurrency: 3 });
  await using second = startRecovery({ store, workflows, every: 50, concurrency: 3 });
  for (const sweeper of [first, second]) {
    sweeper.addEventListener("recovered", (e) => events.push(e));
  }
  for (let i = 0; i < 20 && events.filter((e) => e.outcome === "completed").length < 8; i++) {
    await time.tickAsync(50);
  }
  const completed = events.filter((e) => e.outcome === "completed").map((e) => e.runId).sort();
  assert.deepEqual(completed, [...ids].sort());
  assert.ok(events.every((e) => e.outcome === "completed" || e.outcome === "skipped"));
  for (const id of ids) {
    assert.deepEqual(journal.filter((line) => line.startsWith(`${id} `)), [`${id} b`, `${id} c`]);
  }
});

Deno.test("startRecovery() runs at most `concurrency` recovered runs at once and then the rest", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new MemoryCheckpointStore({ leaseMs: LEASE });
  for (let i = 0; i < 5; i++) await died(store, `job-${i}`);
  await time.tickAsync(LEASE + 1);
  const hold = gate();
  const journal: string[] = [];
  await using recovery = startRecovery({
    store,
    workflows: [flow(store, journal, { hold: hold.promise })],
    every: 60_000,
    concurrency: 2,
  });
  const done = ended(recovery, 5);
  await time.tickAsync(0);
  assert.equal(recovery.active, 2);
  const result = await recovery.sweep();
  assert.deepEqual(result, { resumed: 0, unknown: 0, deferred: 3 });
  hold.open();
  // Freed slots are filled at once, not at the next (one minute) sweep.
  const finished = () => journal.filter((line) => line.endsWith(" c")).length;
  for (let i = 0; i < 50 && finished() < 5; i++) await time.tickAsync(1);
  await done;
  assert.equal(journal.filter((line) => line.endsWith(" c")).length, 5);
});

Deno.test("Recovery.stop() ends the sweeps and waits for the recovered runs; the signal stops them too", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new MemoryCheckpointStore({ leaseMs: LEASE });
  await died(store, "job-1");
  await time.tickAsync(LEASE + 1);
  const hold = gate();
  const journal: string[] = [];
  const recovery = startRecovery({
    store,
    workflows: [flow(store, journal, { hold: hold.promise })],
    every: 100,
  });
  await time.tickAsync(0);
  assert.equal(recovery.active, 1);
  let stopped = false;
  const stopping = recovery.stop().then(() => stopped = true);
  await time.tickAsync(1_000);
  assert.equal(stopped, false, "waits for the run in flight");
  hold.open();
  await stopping;
  assert.deepEqual(journal, ["job-1 b", "job-1 c"]);
  assert.equal(time.countTimers(), 0, "no sweep timer left");

  const controller = new AbortController();
  await died(store, "job-2");
  await time.tickAsync(LEASE + 1);
  controller.abort();
  const aborted = startRecovery({ store, workflows: [flow(store, [])], signal: controller.signal });
  await time.tickAsync(10_000);
  assert.equal(aborted.stopped, true);
  assert.equal((await store.getRun("job-2"))?.owner, "dead", "an aborted sweeper claims nothing");
});

Deno.test("startRecovery() recovers an expired run with a cancel request by rolling it back", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new MemoryCheckpointStore({ leaseMs: LEASE });
  const undone: string[] = [];
  const saga = new Workflow<"pay" | "ship" | "done">({ name: "order" })
    .registerWithCompensation("pay", {
      name: "pay",
      run: () => ({ next: "ship" as const, output: "p-1" }),
      compensate: (_ctx: unknown, output: string) => void undone.push(output),
    })
    .register("ship", () => "done")
    .addExitState("done")
    .withCheckpointStore(store);
  await abandonedRun(store, "order-1", [
    row(0, "pay", { data: {} }),
    row(1, "pay", { kind: "compensation_completion", output: "p-1" }),
    row(2, "ship", { data: {} }),
  ], { workflow: "order" });
  await store.requestCancel("order-1", "customer left");
  await time.tickAsync(LEASE + 1);
  await using recovery = startRecovery({ store, workflows: [saga] });
  const [event] = await Promise.all([ended(recovery, 1), time.tickAsync(0)]).then(([e]) => e);
  assert.equal(event?.outcome, "cancelled");
  assert.deepEqual(undone, ["p-1"]);
  assert.equal(await store.getRun("order-1"), undefined);
});

Deno.test("startRecovery() refuses bad options with a ConfigurationError naming the value", () => {
  const store = new MemoryCheckpointStore();
  const named = flow(store, []);
  const cases: [unknown, RegExp][] = [
    [{ store: 1, workflows: [named] }, /store must be a checkpoint store, received 1/],
    [{ store, workflows: [] }, /workflows must be a non-empty array/],
    [{ store, workflows: [{}] }, /must be Workflow instances/],
    [{ store, workflows: [new Workflow().withCheckpointStore(store)] }, /named workflows/],
    [
      { store: new MemoryCheckpointStore(), workflows: [named] },
      /does not checkpoint to the store/,
    ],
    [{ store, workflows: [named, flow(store, [])] }, /two definitions of workflow "job" version 0/],
    [{ store, workflows: [named], every: 0 }, /every must be .* received 0/],
    [{ store, workflows: [named], concurrency: 1.5 }, /concurrency must be .* received 1.5/],
    [{ store, workflows: [named], signal: "stop" }, /signal must be an AbortSignal/],
  ];
  const hostile = new Proxy({}, {
    get: () => {
      throw new TypeError("no reading me");
    },
  });
  cases.push(
    [{ store: hostile, workflows: [named] }, /could not be read: no reading me/],
    [{ store, workflows: new Proxy([named], { get: () => 1 }) }, /./],
  );
  for (const [options, message] of cases) {
    assert.throws(
      () => startRecovery(options as Parameters<typeof startRecovery>[0]),
      { name: "ConfigurationError", message },
    );
  }
});

Deno.test("KvCheckpointStore.listExpired() reads only the expired runs, however many healthy runs exist", async () => {
  using kv = await Deno.openKv(":memory:");
  let reads = 0;
  const counting: KvLike = {
    get: (key) => {
      reads += 1;
      return kv.get(key as Deno.KvKey);
    },
    atomic: () => kv.atomic(),
    list: (selector, options) => {
      const iterator = kv.list(selector as Deno.KvListSelector, options);
      return {
        async *[Symbol.asyncIterator]() {
          for await (const entry of iterator) {
            reads += 1;
            yield entry;
          }
        },
      };
    },
  };
  let now = Date.UTC(2026, 0, 1);
  const store = new KvCheckpointStore(counting, { leaseMs: LEASE, now: () => now });
  const request = { owner: "w", workflow: "job", version: 0 } as const;
  const expired = await store.claim("gone", { ...request, mode: "start" });
  await store.append("gone", row(0, "a"), expired.lease);
  now += LEASE + 1;
  for (let i = 0; i < 300; i++) await store.claim(`healthy-${i}`, { ...request, mode: "start" });
  reads = 0;
  const page = await store.listExpired();
  assert.deepEqual(page.runs.map((run) => run.id), ["gone"]);
  assert.ok(reads <= 3, `read ${reads} entries for one expired run among 300 healthy ones`);

  // Pages: a cursor continues after the last run, in expiry order.
  now += LEASE + 1;
  const first = await store.listExpired({ limit: 100 });
  assert.equal(first.runs.length, 100);
  const second = await store.listExpired({ limit: 250, cursor: first.cursor });
  assert.equal(second.runs.length, 201);
  assert.equal(second.cursor, undefined);
  const all = new Set([...first.runs, ...second.runs].map((run) => run.id));
  assert.equal(all.size, 301);
  await assert.rejects(store.listExpired({ cursor: "bogus" }), { name: "CheckpointStoreError" });
});

Deno.test("startRecovery() sets a workflow's resources up once for its resumed runs and tears them down at stop", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new MemoryCheckpointStore({ leaseMs: LEASE });
  for (let i = 0; i < 3; i++) await died(store, `job-${i}`);
  await time.tickAsync(LEASE + 1);
  const log: string[] = [];
  let open = false;
  const resources = new Resources({
    db: {
      setup: () => {
        log.push("setup");
        open = true;
      },
      teardown: () => {
        log.push("teardown");
        open = false;
      },
    },
  });
  const hold = gate();
  const workflow = new Workflow<Step, { n: number }>({ name: "job", resources })
    .register("a", () => "b")
    .register("b", async (ctx) => {
      await hold.promise;
      log.push(`${ctx.workflowId} b (db ${open ? "open" : "closed"})`);
      return "c";
    })
    .register("c", () => "done")
    .addExitState("done")
    .withCheckpointStore(store);
  const recovery = startRecovery({ store, workflows: [workflow], concurrency: 3 });
  const done = ended(recovery, 3);
  await time.tickAsync(0);
  assert.equal(recovery.active, 3);
  hold.open();
  const events = await done;
  assert.ok(events.every((e) => e.outcome === "completed"));
  await recovery.stop();
  assert.deepEqual(log.sort(), [
    "job-0 b (db open)",
    "job-1 b (db open)",
    "job-2 b (db open)",
    "setup",
    "teardown",
  ]);
});
