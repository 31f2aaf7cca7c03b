// The store contract's fencing cases: a lease that was taken over, cleared or belongs to another
// run writes nothing; appends without a lease, rollback rows, renew() and release().

import assert from "node:assert/strict";
import { CheckpointStoreError } from "../errors.ts";
import type { RunLease } from "../recovery/checkpoint.ts";
import { OwnershipLostError, RunOwnedError } from "../recovery/run_errors.ts";
import {
  type Add,
  assertRows,
  assertUnchanged,
  claim,
  LEASE_MS,
  refuses,
  requireRun,
  row,
  snapshot,
} from "./store_contract_harness.ts";

export function fencingCases(add: Add): void {
  add(
    "a lease that was taken over can no longer append, renew, release or finish",
    async ({ store, clock }) => {
      const old = await claim(store, "order-1", "start");
      await store.append("order-1", row(0), old.lease);
      await store.append("order-1", row(1), old.lease);
      clock.expire(old.lease.leaseUntil);
      const taken = await claim(store, "order-1", "resume", "worker-2");
      const before = await snapshot(store, "order-1");
      const stale: [string, () => Promise<unknown>][] = [
        ["append()", () => store.append("order-1", row(2), old.lease)],
        ["renew()", () => store.renew(old.lease)],
        ["release()", () => store.release(old.lease)],
        ["finish(failed)", () => store.finish(old.lease, { status: "failed", error: "x" })],
        ["finish(completed)", () => store.finish(old.lease, { status: "completed" })],
      ];
      for (const [what, call] of stale) {
        await refuses(call, OwnershipLostError, `${what} with the lease that was taken over`);
        await assertUnchanged(store, "order-1", before, `the stale ${what}`);
      }
      assert.equal((await requireRun(store, "order-1")).owner, "worker-2");
      await store.append("order-1", row(2), taken.lease);
      assertRows(await store.loadRun("order-1"), [row(0), row(1), row(2)], "the new owner's log");
    },
  );

  add("clear() fences out the owner", async ({ store }) => {
    const { lease } = await claim(store, "order-1", "start");
    await store.append("order-1", row(0), lease);
    await store.append("order-1", row(1), lease);
    await store.clear("order-1");
    await refuses(
      () => store.append("order-1", row(2), lease),
      OwnershipLostError,
      "the owner's append after clear()",
    );
    // Sequence 0 is free again after the clear: the lease must still not write it.
    await refuses(
      () => store.append("order-1", row(0), lease),
      OwnershipLostError,
      "the owner's append of row 0 after clear()",
    );
    await refuses(() => store.renew(lease), OwnershipLostError, "renew() after clear()");
    await refuses(
      () => store.finish(lease, { status: "failed", error: "x" }),
      OwnershipLostError,
      "finish(failed) after clear()",
    );
    assert.deepEqual(await store.loadRun("order-1"), [], "nothing was written");
    assert.equal(await store.getRun("order-1"), undefined, "no record came back");
    const again = await claim(store, "order-1", "start", "worker-2");
    assert.equal(again.created, true, "the cleared id starts again");
  });

  add(
    "append() without a lease is refused for a run that has a record",
    async ({ store }) => {
      await store.append("free", row(0));
      await store.append("free", row(1));
      assertRows(
        await store.loadRun("free"),
        [row(0), row(1)],
        "appends to a run without a record",
      );
      const { lease } = await claim(store, "owned", "start");
      await store.append("owned", row(0), lease);
      const before = await snapshot(store, "owned");
      await refuses(
        () => store.append("owned", row(1)),
        CheckpointStoreError,
        "an append without a lease to a live run",
      );
      await assertUnchanged(store, "owned", before, "the refused append");
      await store.append("owned", row(1), lease);
    },
  );

  add(
    "a fenced rollback row marks the run rolling_back and keeps the lease",
    async ({ store, clock }) => {
      const { lease } = await claim(store, "saga", "start");
      await store.append("saga", row(0), lease);
      await store.append(
        "saga",
        row(1, { kind: "rollback", taskId: "", output: { cause: "x" } }),
        lease,
      );
      let info = await requireRun(store, "saga");
      assert.equal(info.status, "rolling_back", "the status after a rollback row");
      assert.equal(info.owner, "worker-1");
      await store.append("saga", row(2, { kind: "compensated", output: { index: 0 } }), lease);
      await store.renew(lease);
      info = await requireRun(store, "saga");
      assert.equal(info.status, "rolling_back", "the status after the next append and a renew");
      assert.equal(info.sequence, 3);
      assert.equal((await store.loadRun("saga")).length, 3);
      // Whoever takes the run over goes on rolling back.
      clock.expire(lease.leaseUntil);
      const taken = await claim(store, "saga", "resume", "worker-2");
      assert.equal((await requireRun(store, "saga")).status, "rolling_back", "after a takeover");
      assert.equal(taken.lease.sequence, 3);
    },
  );

  add(
    "renew() moves leaseUntil to now + leaseMs and keeps the lease valid",
    async ({ store, clock }) => {
      const { lease } = await claim(store, "order-1", "start");
      await store.append("order-1", row(0), lease);
      await store.append("order-1", row(1), lease);
      const at = clock.advance(600);
      await store.renew(lease);
      assert.equal(lease.leaseUntil, at + LEASE_MS, "lease.leaseUntil after renew()");
      const info = await requireRun(store, "order-1");
      assert.equal(info.leaseUntil.getTime(), at + LEASE_MS, "the record's leaseUntil");
      assert.equal(info.sequence, 2, "the record's sequence after renew()");
      assert.equal(info.state, "s1", "the record's state after renew()");
      // Past the first lease's end, the renewed lease still holds the run.
      clock.advance(600);
      await refuses(
        () => claim(store, "order-1", "resume", "worker-2"),
        RunOwnedError,
        "a claim within the renewed lease",
      );
      await store.append("order-1", row(2), lease);
      await store.renew(lease);
      assert.equal(lease.leaseUntil, clock.now() + LEASE_MS, "a second renew()");
      assertRows(await store.loadRun("order-1"), [row(0), row(1), row(2)], "the log");
    },
  );

  add("release() makes the run claimable at once", async ({ store, clock }) => {
    const { lease } = await claim(store, "order-1", "start");
    await store.append("order-1", row(0), lease);
    await store.release(lease);
    const info = await requireRun(store, "order-1");
    assert.equal(info.owner, undefined, "owner after release()");
    assert.ok(info.leaseUntil.getTime() <= clock.now(), "leaseUntil is not ahead after release()");
    assert.equal(info.status, "running");
    assert.equal(info.sequence, 1, "the record's sequence after release()");
    const taken = await claim(store, "order-1", "resume", "worker-2");
    assertRows(taken.rows, [row(0)], "the rows");
    assert.equal(taken.lease.sequence, 1);
    assert.equal((await requireRun(store, "order-1")).owner, "worker-2");
    await refuses(
      () => store.append("order-1", row(1), lease),
      OwnershipLostError,
      "the released lease after another claim",
    );
  });

  add("a lease of another run does not fence this one", async ({ store }) => {
    const a = await claim(store, "a", "start");
    const b = await claim(store, "b", "start");
    await store.append("b", row(0), b.lease);
    const before = await snapshot(store, "b");
    await refuses(
      () => store.append("b", row(1), a.lease),
      [OwnershipLostError, CheckpointStoreError],
      "an append to b with a's lease",
    );
    const forged: RunLease = { ...a.lease, id: "b" };
    await refuses(
      () => store.renew(forged),
      [OwnershipLostError, CheckpointStoreError],
      "renew() of a copy of a's lease relabelled b",
    );
    await refuses(
      () => store.finish(forged, { status: "completed" }),
      [OwnershipLostError, CheckpointStoreError],
      "finish() of a copy of a's lease relabelled b",
    );
    await assertUnchanged(store, "b", before, "the refused writes");
    assert.deepEqual(await store.loadRun("a"), [], "a's log");
    await store.append("a", row(0), a.lease);
    await store.append("b", row(1), b.lease);
  });
}
