// Durable cancel: a request written to the run's record by anyone (another process, an admin
// tool) cancels the run wherever it runs — its owner sees it within a poll (about a second) and
// for certain at its next fenced append, its compensations run, and a run with no live owner is
// cancelled by whoever claims it next. Cancelling a finished or unknown run is a typed no-op.

import assert from "node:assert/strict";
import {
  CancelledError,
  type CheckpointRow,
  MemoryCheckpointStore,
  type RunStore,
  StateContextError,
  TaskConfig,
  Workflow,
} from "../mod.ts";
import { KvCheckpointStore } from "../kv.ts";
import { abandonedRun, gate, row, untilAborted } from "./_checkpoint_helpers.ts";
import { FakeTime } from "../testing.ts";

type Step = "reserve" | "charge" | "ship" | "done";

interface Setup {
  store: RunStore;
  /** Lets the owner's timers (heartbeat, poll) run for `ms`. */
  advance(ms: number): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** The memory store on a fake clock, and KV (`:memory:`) in real time with a short lease. */
const SETUPS: { name: string; make(): Promise<Setup> }[] = [
  {
    name: "MemoryCheckpointStore",
    make: () => {
      const time = new FakeTime(Date.UTC(2026, 0, 1));
      return Promise.resolve({
        store: new MemoryCheckpointStore({ leaseMs: 30_000 }),
        advance: (ms) => time.tickAsync(ms),
        [Symbol.asyncDispose]: () => Promise.resolve(time.restore()),
      });
    },
  },
  {
    name: "KvCheckpointStore",
    make: async () => {
      const kv = await Deno.openKv(":memory:");
      return {
        store: new KvCheckpointStore(kv, { leaseMs: 300 }),
        advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
        [Symbol.asyncDispose]: () => Promise.resolve(kv.close()),
      };
    },
  },
];

/** An order saga whose `ship` task is in the test's hands. */
function order(store: RunStore, journal: string[], ship: (signal: AbortSignal) => Promise<void>) {
  return new Workflow<Step, { id: string }>({ name: "order" })
    .registerWithCompensation("reserve", {
      name: "reserve",
      run: () => {
        journal.push("reserve");
        return { next: "charge" as const, output: "r-1" };
      },
      compensate: (_ctx: unknown, output: string) => {
        journal.push(`release ${output}`);
      },
    })
    .registerWithCompensation("charge", {
      name: "charge",
      run: () => {
        journal.push("charge");
        return { next: "ship" as const, output: "c-1" };
      },
      compensate: (_ctx: unknown, output: string) => {
        journal.push(`refund ${output}`);
      },
    })
    .register("ship", async (ctx) => {
      await ship(ctx.signal);
      journal.push("ship");
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store);
}

/** Whether a run's error is the cancellation a durable request causes. */
function isCancelled(error: unknown): boolean {
  return error instanceof StateContextError && error.cause instanceof CancelledError;
}

for (const setup of SETUPS) {
  Deno.test(`${setup.name}: RunStore.requestCancel() of an unknown, failed or already cancelled run is a typed no-op`, async () => {
    await using env = await setup.make();
    const { store } = env;
    assert.deepEqual(await store.requestCancel("nobody"), { outcome: "not_found", run: undefined });
    const request = { owner: "w1", workflow: "order", version: 0 };
    const { lease } = await store.claim("failed-1", { ...request, mode: "start" });
    await store.append("failed-1", row(0, "reserve"), lease);
    await store.finish(lease, { status: "failed", error: "card declined" });
    const failed = await store.requestCancel("failed-1", "too late");
    assert.equal(failed.outcome, "failed");
    assert.equal(failed.run?.cancel, undefined);

    const live = await store.claim("live-1", { ...request, mode: "start" });
    const first = await store.requestCancel("live-1", "customer asked");
    assert.equal(first.outcome, "requested");
    assert.equal(first.run?.cancel?.reason, "customer asked");
    const second = await store.requestCancel("live-1", "again");
    assert.equal(second.outcome, "already_requested");
    assert.equal(second.run?.cancel?.reason, "customer asked");
    assert.equal((await store.getRun("live-1"))?.cancel?.reason, "customer asked");
    await store.finish(live.lease, { status: "completed" });
  });

  Deno.test(`${setup.name}: RunStore.requestCancel() refuses bad input with a CheckpointStoreError`, async () => {
    await using env = await setup.make();
    await assert.rejects(env.store.requestCancel(42 as unknown as string), {
      name: "CheckpointStoreError",
    });
    await assert.rejects(env.store.requestCancel("x", { toString: 1 } as unknown as string), {
      name: "CheckpointStoreError",
      message: /reason must be a well-formed string/,
    });
    await assert.rejects(env.store.requestCancel("x", "\ud800"), {
      name: "CheckpointStoreError",
    });
  });

  Deno.test(`${setup.name}: RunStore.append() after a cancel request refuses forward rows and keeps the rollback's`, async () => {
    await using env = await setup.make();
    const { store } = env;
    const { lease } = await store.claim("o-1", {
      mode: "start",
      owner: "w1",
      workflow: "order",
      version: 0,
    });
    await store.append("o-1", row(0, "reserve"), lease);
    assert.equal((await store.requestCancel("o-1", "stop")).outcome, "requested");
    // The request changed the record: the fenced append learns of it, and a forward row is refused.
    await assert.rejects(store.append("o-1", row(1, "charge"), lease), {
      name: "CancelledError",
      message: /was cancelled: stop/,
    });
    assert.equal(lease.cancel, "stop");
    // The owner still holds the run: the rollback's rows and the heartbeat go on.
    await store.renew(lease);
    const rollback: CheckpointRow = { ...row(1, "reserve"), kind: "rollback", taskId: "" };
    await store.append("o-1", rollback, lease);
    await assert.rejects(store.append("o-1", row(2, "charge"), lease), { name: "CancelledError" });
    assert.equal((await store.getRun("o-1"))?.status, "rolling_back");
    assert.equal(await store.pollCancel(lease), "stop");
    await store.finish(lease, { status: "completed" });
    assert.equal(await store.getRun("o-1"), undefined);
  });

  Deno.test(`${setup.name}: RunStore.pollCancel() reads the request, and reports a lost run`, async () => {
    await using env = await setup.make();
    const { store } = env;
    const request = { owner: "w1", workflow: "order", version: 0 } as const;
    const { lease } = await store.claim("p-1", { ...request, mode: "start" });
    await store.append("p-1", row(0, "reserve"), lease);
    assert.equal(await store.pollCancel(lease), undefined);
    await store.requestCancel("p-1", "by admin");
    assert.equal(await store.pollCancel(lease), "by admin");
    // The poll took the request into the fence: the next write needs no extra round trip.
    await store.append("p-1", { ...row(1, "reserve"), kind: "rollback", taskId: "" }, lease);
    await store.release(lease);
    const { lease: other } = await store.claim("p-1", {
      ...request,
      owner: "w2",
      mode: "resume",
    });
    assert.equal(other.cancel, "by admin");
    await assert.rejects(store.pollCancel(lease), { name: "OwnershipLostError" });
    await store.finish(other, { status: "completed" });
  });

  Deno.test(`${setup.name}: Workflow.orchestrate() is cancelled by a request from elsewhere within a poll, and compensates`, async () => {
    await using env = await setup.make();
    const { store } = env;
    const journal: string[] = [];
    const started = gate();
    const workflow = order(store, journal, (signal) => {
      started.open();
      return untilAborted(signal);
    });
    const run = workflow.orchestrate("reserve", { id: "order-1", data: { id: "1" } }).then(
      () => assert.fail("the run should be cancelled"),
      (error: unknown) => error,
    );
    await started.promise;
    // "Another process": only the store is shared.
    assert.equal((await store.requestCancel("order-1", "customer asked")).outcome, "requested");
    let settled = false;
    void run.then(() => settled = true);
    for (let waited = 0; !settled && waited < 5_000; waited += 100) await env.advance(100);
    const error = await run;
    assert.ok(isCancelled(error), `expected a cancellation, got ${error}`);
    assert.deepEqual(journal, ["reserve", "charge", "refund c-1", "release r-1"]);
    assert.equal(await store.getRun("order-1"), undefined); // rolled back cleanly: nothing left
  });

  Deno.test(`${setup.name}: Workflow.orchestrate() sees a cancel request for certain at its next append`, async () => {
    await using env = await setup.make();
    const { store } = env;
    const journal: string[] = [];
    const release = gate();
    const inShip = gate();
    // `ship` ignores its signal and finishes before any poll: the exit state's append is refused.
    const workflow = order(store, journal, async () => {
      inShip.open();
      await release.promise;
    });
    const run = workflow.orchestrate("reserve", { id: "order-2", data: { id: "2" } }).then(
      () => assert.fail("the run should be cancelled"),
      (error: unknown) => error,
    );
    await inShip.promise;
    await store.requestCancel("order-2", "stop");
    release.open();
    const error = await run;
    assert.ok(isCancelled(error), `expected a cancellation, got ${error}`);
    assert.deepEqual(journal, ["reserve", "charge", "ship", "refund c-1", "release r-1"]);
    assert.equal(await store.getRun("order-2"), undefined);
  });

  Deno.test(`${setup.name}: Workflow.resumeFrom() of an ownerless run with a cancel request rolls it back and never runs it forward`, async () => {
    await using env = await setup.make();
    const { store } = env;
    const journal: string[] = [];
    const dead = await abandonedRun(store, "order-3", [
      row(0, "reserve", { data: { id: "3" } }),
      row(1, "reserve", { kind: "compensation_completion", output: "r-9" }),
      row(2, "charge", { data: { id: "3" } }),
    ], { workflow: "order" });
    await store.release(dead);
    assert.equal((await store.requestCancel("order-3", "abandoned")).outcome, "requested");
    const workflow = order(store, journal, () => Promise.resolve());
    const error = await workflow.resumeFrom("order-3").then(
      () => assert.fail("the run should be cancelled"),
      (caught: unknown) => caught,
    );
    assert.ok(isCancelled(error), `expected a cancellation, got ${error}`);
    assert.deepEqual(journal, ["release r-9"]);
    assert.equal(await store.getRun("order-3"), undefined);
  });
}
