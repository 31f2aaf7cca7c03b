// Coordinated schedulers when things go wrong: the store fails during a tick or while recording
// an outcome, an instance dies in the middle of a run, a run fails (later ticks still run, each
// under its own id), the store holds garbage, and the options are wrong.

import assert from "node:assert/strict";
import {
  CheckpointStoreError,
  ConfigurationError,
  MemoryCheckpointStore,
  type Workflow,
} from "../mod.ts";
import { type FlowErrorEvent, MemoryCoordination, Scheduler } from "../scheduler.ts";
import { FakeTime } from "../testing.ts";
import {
  failsOnceWorkflow,
  info,
  okWorkflow,
  resourcefulWorkflow,
  slowWorkflow,
} from "./_scheduler_helpers.ts";
import { advance, recordStarts, sharedStore } from "./_coordination_helpers.ts";

const T0 = Date.UTC(2026, 0, 1);
const KINDS = ["memory", "kv"] as const;

function ticks(id: string, ...offsets: number[]): string[] {
  return offsets.map((offset) => `${id}@${new Date(T0 + offset).toISOString()}`);
}

for (const kind of KINDS) {
  Deno.test(`RunningScheduler: a store failure during a tick is reported and the next tick runs (${kind})`, async () => {
    using time = new FakeTime(Date.UTC(2026, 0, 1));
    await using shared = await sharedStore(kind);
    const view = shared.instance();
    view.failing = (call) =>
      call === "claimTick" && time.now >= T0 + 2_000 && time.now < T0 + 4_000;
    const { workflow } = okWorkflow();
    const running = await new Scheduler()
      .every("sync", workflow, "start", 1_000)
      .start({ coordination: view, pollInterval: 10_000 });
    const errors: FlowErrorEvent[] = [];
    running.addEventListener("flowerror", (e) => errors.push(e));
    const { all } = recordStarts({ running });
    await advance(time, shared.views, 3_500);
    assert.match(info(running, "sync").lastError ?? "", /store is down/);
    await advance(time, shared.views, 2_500);
    assert.deepEqual(all(), ticks("sync", 0, 1_000, 4_000, 5_000, 6_000));
    assert.deepEqual(errors.map((e) => [e.id, e.operation]), [["sync", "begin"], [
      "sync",
      "begin",
    ]]);
    for (const { error } of errors) {
      assert.ok(error instanceof CheckpointStoreError);
      assert.equal(
        error.message,
        'Coordination store failed to claim a tick of flow "sync": store is down',
      );
    }
    assert.equal(info(running, "sync").lastError, undefined, "cleared by the next good run");
    assert.equal(info(running, "sync").status, "completed");
    await running.stop();
  });

  Deno.test(`RunningScheduler: an outcome the store could not take is written once it is back (${kind})`, async () => {
    using time = new FakeTime(Date.UTC(2026, 0, 1));
    await using shared = await sharedStore(kind);
    const view = shared.instance();
    view.failing = (call) => call === "writeFlow" && time.now >= T0 + 400 && time.now < T0 + 1_500;
    const { workflow } = slowWorkflow(500);
    const running = await new Scheduler()
      .every("sync", workflow, "start", 1_000)
      .start({ coordination: view, pollInterval: 10_000 });
    const errors: string[] = [];
    running.addEventListener("flowerror", (e) => errors.push(`${e.operation}@${Date.now() - T0}`));
    const { all } = recordStarts({ running });
    await advance(time, shared.views, 3_600);
    // The outcome of T0 fails at +500 and again at +1000 (that tick cannot be claimed before
    // it); at +2000 it lands, and the tick runs.
    assert.deepEqual(errors, ["finish@500", "finish@1000"]);
    assert.deepEqual(all(), ticks("sync", 0, 2_000, 3_000));
    const record = (await shared.store.coordination.readFlow("sync")).record;
    assert.equal(record?.runCount, 3);
    assert.equal(record?.running, null, "no marker left behind");
    assert.equal(record?.status, "completed");
    await running.stop();
  });

  Deno.test(`RunningScheduler: the tick of an instance that died is never fired again (${kind})`, async () => {
    using time = new FakeTime(Date.UTC(2026, 0, 1));
    await using shared = await sharedStore(kind);
    const dying = shared.instance();
    dying.failing = () => time.now > T0 + 100; // after its first claim, nothing it writes lands
    const build = (workflow: Workflow<"start" | "complete" | "error">) =>
      new Scheduler().every("sync", workflow, "start", 1_000);
    const a = await build(slowWorkflow(60_000).workflow).start({
      coordination: dying,
      instanceId: "a",
    });
    a.addEventListener("flowerror", () => {}); // a cannot reach its store any more
    const b = await build(okWorkflow().workflow).start({
      coordination: shared.instance(),
      instanceId: "b",
    });
    const skipped: string[] = [];
    b.addEventListener(
      "flowskip",
      (e) => skipped.push(`${e.reason}@${e.scheduledAt.getTime() - T0}`),
    );
    const { starts } = recordStarts({ a, b });
    await advance(time, shared.views, 7_000);
    assert.deepEqual(starts.get("a"), ticks("sync", 0), "a started T0, then lost its store");
    assert.deepEqual(starts.get("b"), ticks("sync", 5_000, 6_000, 7_000));
    assert.deepEqual(skipped, [
      "claimed@0",
      "running@1000",
      "running@2000",
      "running@3000",
      "running@4000",
    ], "b waits until a's claim lapses (5 × pollInterval), and never re-runs T0");
    await Promise.all([a.stop(), b.stop()]);
  });

  Deno.test(`RunningScheduler: a failed run never blocks later ticks, each under its own run id (${kind})`, async () => {
    using time = new FakeTime(Date.UTC(2026, 0, 1));
    await using shared = await sharedStore(kind);
    // The runs checkpoint in memory (KV I/O of the runs themselves would not follow the fake
    // clock); the coordination is the store under test.
    const logs = new MemoryCheckpointStore();
    const { workflow, ids } = failsOnceWorkflow(logs);
    const build = () =>
      new Scheduler().every("sync", workflow, "sync", 60_000, {
        backoff: { initial: 1_000, jitter: 0 },
      });
    const a = await build().start({ coordination: shared.instance(), instanceId: "a" });
    const b = await build().start({ coordination: shared.instance(), instanceId: "b" });
    await advance(time, shared.views, 120_000, 1_000);
    assert.deepEqual(ids, ticks("sync", 0, 60_000, 120_000));
    assert.deepEqual(
      (await logs.listRuns()).runs.map((run) => [run.id, run.status]),
      [[ids[0], "failed"]],
      "the failed run's log is kept; the later ones finished",
    );
    assert.equal(info(a, "sync").status, "completed");
    await Promise.all([a.stop(), b.stop()]);
  });
}

Deno.test("Scheduler.start({ coordination }) rejects a corrupt shared state, typed, and tears down", async () => {
  const coordination = new MemoryCoordination();
  // deno-lint-ignore no-explicit-any
  await coordination.writeFlow("job", { version: 1, status: "lost" } as any, null);
  const log: string[] = [];
  await assert.rejects(
    new Scheduler().manual("job", resourcefulWorkflow("db", log), "start").start({
      coordination,
    }),
    (error: unknown) => {
      assert.ok(error instanceof CheckpointStoreError);
      assert.match(error.message, /Corrupt shared state of flow "job": field createdAt/);
      return true;
    },
  );
  assert.deepEqual(log, ["setup db", "teardown db"]);
});

Deno.test("Scheduler.start() refuses bad coordination options with a ConfigurationError naming the value", async () => {
  const { workflow } = okWorkflow();
  const build = () => new Scheduler().manual("job", workflow, "start");
  const store = new MemoryCheckpointStore();
  const cases: [unknown, RegExp][] = [
    [{ coordination: 42 }, /^Option coordination must be a checkpoint store .* received 42$/],
    [{ coordination: new Map() }, /received a Map$/],
    [{ coordination: { claimTick() {} } }, /claimTick\(\), readFlow\(\) and writeFlow\(\)/],
    [{ coordination: store, pollInterval: 5 }, /pollInterval must be .* received 5$/],
    [{ coordination: store, instanceId: "" }, /instanceId must be .* received $/],
    [{ instanceId: "web-1" }, /instanceId and pollInterval need the coordination option/],
  ];
  for (const [options, message] of cases) {
    await assert.rejects(
      // deno-lint-ignore no-explicit-any
      build().start(options as any),
      (error: unknown) => {
        assert.ok(error instanceof ConfigurationError, String(error));
        assert.match(error.message, message);
        return true;
      },
    );
  }
});

Deno.test("Scheduler.every() and cron() refuse a bad catchUp with a ConfigurationError naming it", () => {
  const { workflow } = okWorkflow();
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => new Scheduler().every("sync", workflow, "start", 1_000, { catchUp: "all" as any }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigurationError);
      assert.match(
        error.message,
        /^Option catchUp of flow "sync" must be "skip" or "one", received .*all/,
      );
      return true;
    },
  );
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => new Scheduler().cron("nightly", workflow, "start", "0 3 * * *", { catchUp: 1 as any }),
    /Option catchUp of flow "nightly" must be "skip" or "one", received 1/,
  );
});
