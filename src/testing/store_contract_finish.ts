// The store contract's finish cases: finish() completed removes the run, finish() failed keeps the
// log and frees the run for a resume, and a bad argument is refused without a write.

import assert from "node:assert/strict";
import { CheckpointStoreError } from "../errors.ts";
import type { RunEnd } from "../recovery/checkpoint.ts";
import { OwnershipLostError } from "../recovery/run_errors.ts";
import {
  type Add,
  assertRows,
  assertUnchanged,
  claim,
  describe,
  idsOf,
  isA,
  refuses,
  requireRun,
  row,
  snapshot,
} from "./store_contract_harness.ts";

export function finishCases(add: Add): void {
  add("finish() completed removes the rows and the record", async ({ store }) => {
    const { lease } = await claim(store, "order-1", "start");
    await store.append("order-1", row(0), lease);
    await store.append("order-1", row(1, { data: { text: "é🚀x".repeat(24 * 1024) } }), lease);
    await store.append("order-1", row(2), lease);
    await store.finish(lease, { status: "completed" });
    assert.equal(await store.getRun("order-1"), undefined, "getRun() after completion");
    assert.deepEqual(await store.loadRun("order-1"), [], "loadRun() after completion");
    assert.deepEqual(idsOf((await store.listRuns()).runs), [], "listRuns() after completion");
    const again = await claim(store, "order-1", "start", "worker-2");
    assert.equal(again.created, true, "the id starts again");
    assert.deepEqual(again.rows, []);
    await store.append("order-1", row(0, { state: "again" }), again.lease);
    assertRows(await store.loadRun("order-1"), [row(0, { state: "again" })], "the new log");
  });

  add(
    "finish() completed also removes rows appended without the lease",
    async ({ store, clock }) => {
      const { lease } = await claim(store, "order-1", "start");
      await store.append("order-1", row(0), lease);
      clock.expire(lease.leaseUntil);
      // Once the lease expired, an append without a lease may land (nobody holds the run).
      let appended = true;
      try {
        await store.append("order-1", row(1));
      } catch (error) {
        assert.ok(isA(error, CheckpointStoreError), `the unleased append: ${describe(error)}`);
        appended = false;
      }
      try {
        await store.finish(lease, { status: "completed" });
      } catch (error) {
        // Refusing the finish (the log moved on without this owner) keeps the contract too.
        assert.ok(isA(error, OwnershipLostError), `finish(completed): ${describe(error)}`);
        assert.equal((await store.loadRun("order-1")).length, appended ? 2 : 1, "the kept log");
        return;
      }
      assert.equal(await store.getRun("order-1"), undefined, "getRun() after completion");
      assert.deepEqual(
        await store.loadRun("order-1"),
        [],
        "loadRun() after completion: no row may outlive the run",
      );
    },
  );

  add("finish() failed keeps the log, records the error and frees the run", async ({ store }) => {
    const { lease } = await claim(store, "order-1", "start");
    await store.append("order-1", row(0), lease);
    await store.append("order-1", row(1), lease);
    await store.finish(lease, { status: "failed", error: "card declined" });
    const info = await requireRun(store, "order-1");
    assert.equal(info.status, "failed");
    assert.equal(info.error, "card declined");
    assert.equal(info.owner, undefined, "owner of a failed run");
    assert.equal(info.sequence, 2, "the record's sequence");
    assertRows(await store.loadRun("order-1"), [row(0), row(1)], "the kept log");
    assert.deepEqual(idsOf((await store.listRuns({ status: "failed" })).runs), ["order-1"]);
  });

  add("a failed run can be resumed at once", async ({ store }) => {
    const plainRun = await claim(store, "plain", "start");
    await store.append("plain", row(0), plainRun.lease);
    await store.finish(plainRun.lease, { status: "failed", error: "boom" });
    const resumed = await claim(store, "plain", "resume", "worker-2");
    assertRows(resumed.rows, [row(0)], "the failed run's rows");
    assert.equal(resumed.lease.sequence, 1);
    let info = await requireRun(store, "plain");
    assert.equal(info.status, "running", "a resumed failed run is running again");
    assert.equal(info.owner, "worker-2");
    // A failed run whose log holds a rollback row resumes its rollback.
    const saga = await claim(store, "saga", "start");
    await store.append("saga", row(0), saga.lease);
    await store.append("saga", row(1, { kind: "rollback", taskId: "", output: {} }), saga.lease);
    await store.finish(saga.lease, { status: "failed", error: "compensation failed" });
    assert.equal((await requireRun(store, "saga")).status, "failed");
    const again = await claim(store, "saga", "startOrResume", "worker-2");
    assert.equal(again.created, false);
    info = await requireRun(store, "saga");
    assert.equal(info.status, "rolling_back", "a resumed failed rollback is rolling_back");
    assert.equal(info.owner, "worker-2");
    await store.append("saga", row(2, { kind: "compensated", output: { index: 0 } }), again.lease);
  });

  add("finish() refuses a bad argument and writes nothing", async ({ store }) => {
    const { lease } = await claim(store, "order-1", "start");
    await store.append("order-1", row(0), lease);
    const before = await snapshot(store, "order-1");
    const bad: unknown[] = [
      undefined,
      null,
      "completed",
      {},
      { status: "done" },
      { status: "failed" },
      { status: "failed", error: 42 },
    ];
    for (const end of bad) {
      await refuses(
        () => store.finish(lease, end as RunEnd),
        CheckpointStoreError,
        `finish(${JSON.stringify(end) ?? "undefined"})`,
      );
    }
    await assertUnchanged(store, "order-1", before, "the refused finish() calls");
    await store.append("order-1", row(1), lease);
    await store.finish(lease, { status: "completed" });
    assert.equal(await store.getRun("order-1"), undefined);
  });
}
