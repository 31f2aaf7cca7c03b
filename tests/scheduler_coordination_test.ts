// Schedulers sharing flows through a store (Scheduler.start({ coordination })): several
// RunningScheduler instances in one process on one MemoryCheckpointStore, or on one
// KvCheckpointStore over a `:memory:` KV, driven by a fake clock. Each scenario runs on both.

import assert from "node:assert/strict";
import { CanoError } from "../mod.ts";
import { type RunningScheduler, Scheduler } from "../scheduler.ts";
import { FakeTime } from "../testing.ts";
import { flakyWorkflow, info, okWorkflow, slowWorkflow } from "./_scheduler_helpers.ts";
import { advance, gridTicks, recordStarts, sharedStore } from "./_coordination_helpers.ts";

const T0 = Date.UTC(2026, 0, 1);
const KINDS = ["memory", "kv"] as const;

async function stopAll(...instances: RunningScheduler[]): Promise<void> {
  await Promise.all(instances.map((running) => running.stop()));
}

for (const kind of KINDS) {
  Deno.test(`Scheduler.start({ coordination }) fires every tick once across three instances (${kind})`, async () => {
    using time = new FakeTime(Date.UTC(2026, 0, 1));
    await using shared = await sharedStore(kind);
    const { workflow, runs } = okWorkflow();
    const build = () =>
      new Scheduler()
        .every("sync", workflow, "start", 1_000)
        .cron("cron", workflow, "start", "*/2 * * * * *");
    const start = (instanceId: string) =>
      build().start({ coordination: shared.instance(), instanceId, pollInterval: 300 });
    const [a, b, c] = [await start("a"), await start("b"), await start("c")];
    const { all } = recordStarts({ a, b, c });
    const claimed: string[] = [];
    for (const running of [a, b, c]) {
      running.addEventListener("flowskip", (e) => claimed.push(`${e.id}:${e.reason}`));
    }
    await advance(time, shared.views, 10_500);
    await stopAll(a, b, c);
    const expected = [
      ...gridTicks("sync", 1_000, T0, T0 + 10_000),
      ...gridTicks("cron", 2_000, T0 + 1, T0 + 10_000),
    ].sort();
    assert.deepEqual(all(), expected, "each tick ran once, none is missing");
    assert.equal(runs(), expected.length);
    assert.equal(claimed.length, 2 * expected.length, "the other two instances skipped each");
    assert.ok(claimed.every((skip) => skip.endsWith(":claimed")));
    for (const running of [a, b, c]) {
      assert.equal(info(running, "sync").runCount, 11, "every instance reads the shared count");
    }
  });

  Deno.test(`Scheduler.start({ coordination }): a trip on one instance holds on all (${kind})`, async () => {
    using time = new FakeTime(Date.UTC(2026, 0, 1));
    await using shared = await sharedStore(kind);
    const { workflow, attempts } = flakyWorkflow();
    const build = () =>
      new Scheduler().every("flaky", workflow, "start", 1_000, {
        backoff: { initial: 1_000, jitter: 0, streakLimit: 3 },
      });
    const a = await build().start({ coordination: shared.instance(), instanceId: "a" });
    const b = await build().start({ coordination: shared.instance(), instanceId: "b" });
    const { all } = recordStarts({ a, b });
    await advance(time, shared.views, 10_000);
    // T0 fails (window to T0+1s), T0+1s fails (to T0+3s), T0+2s backs off, T0+3s fails: tripped.
    assert.deepEqual(all(), [T0, T0 + 1_000, T0 + 3_000].map((t) => `flaky@${iso(t)}`));
    assert.equal(attempts(), 3);
    for (const running of [a, b]) {
      const flow = info(running, "flaky");
      assert.equal(flow.status, "tripped");
      assert.equal(flow.failureStreak, 3);
      assert.match(flow.lastError ?? "", /flaky/);
    }
    await assert.rejects(a.trigger("flaky"), /tripped — call resetFlow/);
    await assert.rejects(b.trigger("flaky"), /tripped — call resetFlow/);
    await stopAll(a, b);
  });

  Deno.test(`RunningScheduler.resetFlow() on one instance resets the flow on all (${kind})`, async () => {
    using time = new FakeTime(Date.UTC(2026, 0, 1));
    await using shared = await sharedStore(kind);
    const { workflow, attempts } = flakyWorkflow(2); // fails once, then succeeds
    const build = () =>
      new Scheduler().every("flaky", workflow, "start", 1_000, {
        backoff: { initial: 1_000, jitter: 0, streakLimit: 1 },
      });
    // Polls every 100 ms: each instance sees the other's last outcome well before the checks.
    const start = (id: string) =>
      build().start({ coordination: shared.instance(), instanceId: id, pollInterval: 100 });
    const a = await start("a");
    const b = await start("b");
    await advance(time, shared.views, 3_000);
    assert.equal(attempts(), 1);
    assert.equal(info(a, "flaky").status, "tripped");
    assert.equal(info(b, "flaky").status, "tripped");
    const { all } = recordStarts({ a, b });
    await b.resetFlow("flaky"); // at T0+3s
    assert.equal(info(b, "flaky").status, "idle");
    // Up to T0+6.5s: the last tick (T0+6s) has ended, and been polled, before the next one.
    await advance(time, shared.views, 3_500);
    assert.deepEqual(all(), gridTicks("flaky", 1_000, T0 + 3_000, T0 + 6_000));
    for (const running of [a, b]) {
      const flow = info(running, "flaky");
      assert.equal(flow.status, "completed", "the reset reached the other instance");
      assert.equal(flow.failureStreak, 0);
      assert.equal(flow.lastError, undefined);
    }
    await stopAll(a, b);
  });

  Deno.test(`RunningScheduler.trigger() works from any instance and never overlaps a run elsewhere (${kind})`, async () => {
    using time = new FakeTime(Date.UTC(2026, 0, 1));
    await using shared = await sharedStore(kind);
    const { workflow, completions } = slowWorkflow(5_000);
    const build = () => new Scheduler().manual("report", workflow, "start");
    const a = await build().start({ coordination: shared.instance(), instanceId: "a" });
    const b = await build().start({ coordination: shared.instance(), instanceId: "b" });
    const ran: string[] = [];
    a.addEventListener("flowstart", () => ran.push("a"));
    b.addEventListener("flowstart", () => ran.push("b"));
    await b.trigger("report");
    await advance(time, shared.views, 1_000); // a reads the shared state
    assert.equal(info(a, "report").status, "running", "a sees b's run");
    assert.equal(a.hasRunningFlows(), false, "but runs nothing itself");
    await assert.rejects(a.trigger("report"), (error: unknown) => {
      assert.ok(error instanceof CanoError);
      assert.match(error.message, /Flow "report" is already running/);
      return true;
    });
    await advance(time, shared.views, 5_000);
    assert.equal(completions(), 1);
    assert.equal(info(a, "report").status, "completed");
    await a.trigger("report");
    await advance(time, shared.views, 6_000);
    assert.deepEqual(ran, ["b", "a"]);
    assert.equal(completions(), 2);
    assert.equal(info(b, "report").runCount, 2, "the run count is shared");
    await stopAll(a, b);
  });

  Deno.test(`RunningScheduler.cancelFlow() on one instance cancels the run on another (${kind})`, async () => {
    using time = new FakeTime(Date.UTC(2026, 0, 1));
    await using shared = await sharedStore(kind);
    const { workflow, completions } = slowWorkflow(60_000);
    const build = () => new Scheduler().manual("long", workflow, "start");
    const a = await build().start({ coordination: shared.instance(), instanceId: "a" });
    const b = await build().start({ coordination: shared.instance(), instanceId: "b" });
    const outcomes: string[] = [];
    a.addEventListener("flowend", (e) => outcomes.push(`${e.outcome}: ${String(e.error)}`));
    await a.trigger("long");
    await advance(time, shared.views, 100);
    let cancelledAt = NaN;
    const cancelling = b.cancelFlow("long").then(() => cancelledAt = Date.now());
    await advance(time, shared.views, 3_000);
    await cancelling;
    assert.ok(cancelledAt <= T0 + 2_100, "within two poll intervals");
    assert.equal(outcomes.length, 1);
    assert.match(outcomes[0]!, /^cancelled: /);
    assert.equal(completions(), 0);
    for (const running of [a, b]) {
      const flow = info(running, "long");
      assert.equal(flow.status, "idle");
      assert.equal(flow.failureStreak, 0, "a cancelled run is not a failure");
    }
    await b.cancelFlow("long"); // nothing runs: a no-op
    await stopAll(a, b);
  });

  Deno.test(`Scheduler.start({ coordination }): a restarted instance picks up trips and backoff windows (${kind})`, async () => {
    using time = new FakeTime(Date.UTC(2026, 0, 1));
    await using shared = await sharedStore(kind);
    const { workflow, attempts } = flakyWorkflow();
    const build = () =>
      new Scheduler()
        .every("tripping", workflow, "start", 1_000, { backoff: { streakLimit: 1 } })
        .every("waiting", workflow, "start", 1_000, {
          backoff: { initial: 60_000, jitter: 0 },
        });
    const first = await build().start({ coordination: shared.instance(), instanceId: "first" });
    await advance(time, shared.views, 100);
    assert.equal(attempts(), 2);
    await first.stop();
    const again = await build().start({ coordination: shared.instance(), instanceId: "again" });
    const tripping = info(again, "tripping");
    assert.equal(tripping.status, "tripped");
    assert.equal(tripping.failureStreak, 1);
    const waiting = info(again, "waiting");
    assert.equal(waiting.status, "backoff");
    assert.equal(waiting.nextEligible?.getTime(), T0 + 60_000);
    assert.equal(waiting.nextRun?.getTime(), T0 + 60_000);
    assert.equal(waiting.runCount, 1);
    await advance(time, shared.views, 59_000, 1_000);
    assert.equal(attempts(), 2, "nothing ran: the trip and the window held across the restart");
    await advance(time, shared.views, 1_000);
    assert.equal(attempts(), 3, "the window ended");
    await again.stop();
  });

  Deno.test(`Scheduler.every({ catchUp }) skips missed ticks, or runs one for the missed window (${kind})`, async () => {
    for (const catchUp of ["skip", "one"] as const) {
      using time = new FakeTime(Date.UTC(2026, 0, 1));
      await using shared = await sharedStore(kind);
      const { workflow } = okWorkflow();
      const build = () =>
        new Scheduler()
          .every("sync", workflow, "start", 60_000, { catchUp })
          .cron("hourly", workflow, "start", "0 * * * *", { catchUp });
      const before = await build().start({ coordination: shared.instance(), instanceId: "before" });
      const early = recordStarts({ before });
      await advance(time, shared.views, 3_600_000, 60_000);
      await before.stop();
      assert.equal(early.all().filter((run) => run.startsWith("sync")).length, 61);
      assert.ok(early.all().includes(`hourly@${iso(T0 + 3_600_000)}`));
      // Every instance is down for five hours and a half.
      await time.tickAsync(5.5 * 3_600_000);
      const after = await build().start({ coordination: shared.instance(), instanceId: "after" });
      const late = recordStarts({ after });
      await advance(time, shared.views, 1_000);
      const now = T0 + 6.5 * 3_600_000;
      assert.deepEqual(
        late.all(),
        catchUp === "one" ? [`hourly@${iso(now - 1_800_000)}`, `sync@${iso(now)}`] : [
          `sync@${iso(now)}`,
        ],
        `catchUp: "${catchUp}"`,
      );
      await after.stop();
    }
  });
}

Deno.test('Scheduler.every({ catchUp: "one" }) catches nothing up for a flow seen for the first time', async () => {
  using time = new FakeTime(T0 + 30_000);
  await using shared = await sharedStore("memory");
  const { workflow, runs } = okWorkflow();
  const running = await new Scheduler()
    .every("sync", workflow, "start", 60_000, { catchUp: "one" })
    .start({ coordination: shared.instance() });
  await advance(time, shared.views, 29_000);
  assert.equal(runs(), 0, "no missed window yet: the first tick is the next on the grid");
  await advance(time, shared.views, 1_000);
  assert.equal(runs(), 1);
  await running.stop();
});

Deno.test("Scheduler.start({ coordination: store }): two schedulers on one MemoryCheckpointStore fire once", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  await using shared = await sharedStore("memory");
  const { workflow, runs } = okWorkflow();
  const build = () => new Scheduler().every("sync", workflow, "start", 500);
  const a = await build().start({ coordination: shared.store });
  const b = await build().start({ coordination: shared.store });
  await time.tickAsync(5_000);
  await stopAll(a, b);
  assert.equal(runs(), 11);
  assert.equal(info(a, "sync").runCount, 11);
  assert.equal(info(b, "sync").runCount, 11);
});

function iso(time: number): string {
  return new Date(time).toISOString();
}
