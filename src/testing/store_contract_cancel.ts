// The store contract's cancel cases: requestCancel() outcomes and what the record shows, the owner's
// fenced writes after a request (forward rows refused, the rollback's rows, renew, release and
// finish going on), pollCancel(), claims of a run with a request, races with the owner, bad input.

import assert from "node:assert/strict";
import { CancelledError, type CanoError, CheckpointStoreError } from "../errors.ts";
import type { CancelResult, RunLease, RunStore } from "../recovery/checkpoint.ts";
import { OwnershipLostError, RunExistsError } from "../recovery/run_errors.ts";
import {
  type Add,
  assertRows,
  assertUnchanged,
  claim,
  describe,
  isA,
  refuses,
  requireRun,
  row,
  snapshot,
} from "./store_contract_harness.ts";

const rollback = (sequence: number) => row(sequence, { kind: "rollback", taskId: "", output: {} });
const compensated = (sequence: number) =>
  row(sequence, { kind: "compensated", output: { index: 0 } });

/** Asserts that a forward row is refused with a `CancelledError` and writes nothing. */
async function refusesForward(store: RunStore, lease: RunLease, what: string): Promise<void> {
  const before = await snapshot(store, lease.id);
  for (const kind of ["state_entry", "step_cursor"] as const) {
    const error = await refuses(
      () => store.append(lease.id, row(lease.sequence, { kind }), lease),
      CancelledError,
      `${what}: a ${kind} row`,
    );
    assert.equal((error as CanoError).category, "cancelled", `${what}: the error's category`);
  }
  await assertUnchanged(store, lease.id, before, `${what}: the refused forward rows`);
}

/**
 * Registers the cancel cases (`requestCancel`, `pollCancel`, and fenced writes after a request).
 *
 * @param add Registers one case.
 */
export function cancelCases(add: Add): void {
  add("requestCancel() of an unknown or completed run is not_found", async ({ store }) => {
    const notFound = { outcome: "not_found", run: undefined };
    assert.deepEqual(await store.requestCancel("nothing"), notFound, "an unknown id");
    await store.append("log-only", row(0));
    const logOnly = await store.requestCancel("log-only", "stop");
    assert.deepEqual(logOnly, notFound, "a log without a record");
    assert.equal(await store.getRun("log-only"), undefined, "no record was created");
    const { lease } = await claim(store, "done", "start");
    await store.append("done", row(0), lease);
    await store.finish(lease, { status: "completed" });
    assert.deepEqual(await store.requestCancel("done", "late"), notFound, "a completed run");
    assert.equal(await store.getRun("done"), undefined, "a completed run stays gone");
  });

  add(
    "requestCancel() records the first request; a second is already_requested",
    async ({ store, clock }) => {
      const { lease } = await claim(store, "order-1", "start");
      await store.append("order-1", row(0), lease);
      const at = clock.advance(10);
      const first = await store.requestCancel("order-1", "customer asked");
      assert.equal(first.outcome, "requested");
      assert.equal(first.run?.id, "order-1");
      assert.equal(first.run?.cancel?.reason, "customer asked", "the result's run shows it");
      assert.equal(first.run?.cancel?.requestedAt.getTime(), at, "requestedAt is the store clock");
      clock.advance(10);
      const second = await store.requestCancel("order-1", "again");
      assert.equal(second.outcome, "already_requested");
      assert.equal(second.run?.cancel?.reason, "customer asked", "the first reason stands");
      assert.equal(second.run?.cancel?.requestedAt.getTime(), at);
      const info = await requireRun(store, "order-1");
      assert.equal(info.cancel?.reason, "customer asked", "getRun() shows the request");
      assert.ok(info.cancel?.requestedAt instanceof Date, "cancel.requestedAt is a Date");
      assert.equal(info.cancel.requestedAt.getTime(), at);
      assert.equal(info.status, "running", "a request alone does not change the status");
      assert.equal(info.owner, "worker-1", "nor the owner");
      for (const query of [{}, { status: "running" as const }]) {
        const [listed] = (await store.listRuns(query)).runs;
        assert.equal(listed?.cancel?.reason, "customer asked", "listRuns() shows the request");
        assert.equal(listed?.cancel?.requestedAt.getTime(), at);
      }
      // Without a reason, and with an empty one: both are requests.
      await claim(store, "plain", "start");
      const plain = await store.requestCancel("plain");
      assert.equal(plain.outcome, "requested");
      assert.equal(typeof plain.run?.cancel?.reason, "string", "a default reason");
      const { lease: empty } = await claim(store, "empty", "start");
      assert.equal((await store.requestCancel("empty", "")).outcome, "requested");
      assert.equal(await store.pollCancel(empty), "", 'a "" reason is a request, not none');
      await refusesForward(store, empty, 'a request with reason ""');
    },
  );

  add("requestCancel() of a failed or rolling_back run writes nothing", async ({ store }) => {
    const failed = await claim(store, "failed", "start");
    await store.append("failed", row(0), failed.lease);
    await store.finish(failed.lease, { status: "failed", error: "card declined" });
    let before = await snapshot(store, "failed");
    const f = await store.requestCancel("failed", "too late");
    assert.equal(f.outcome, "failed");
    assert.equal(f.run?.status, "failed", "the result's run");
    assert.equal(f.run?.cancel, undefined, "no request on a failed run");
    await assertUnchanged(store, "failed", before, "requestCancel() of a failed run");
    const saga = await claim(store, "saga", "start");
    await store.append("saga", row(0), saga.lease);
    await store.append("saga", rollback(1), saga.lease);
    before = await snapshot(store, "saga");
    const r = await store.requestCancel("saga", "stop");
    assert.equal(r.outcome, "rolling_back");
    assert.equal(r.run?.status, "rolling_back");
    assert.equal(r.run?.cancel, undefined, "no request on a rolling-back run");
    await assertUnchanged(store, "saga", before, "requestCancel() of a rolling-back run");
    // Nothing changed, so the owner's lease is untouched.
    await store.append("saga", compensated(2), saga.lease);
    assert.equal(saga.lease.cancel, undefined, "lease.cancel");
    await store.finish(saga.lease, { status: "completed" });
  });

  add(
    "after requestCancel() the owner's forward rows are refused with CancelledError",
    async ({ store }) => {
      const { lease } = await claim(store, "order-1", "start");
      await store.append("order-1", row(0), lease);
      await store.append("order-1", row(1), lease);
      await store.requestCancel("order-1", "stop");
      await refusesForward(store, lease, "the owner's first write after the request");
      assert.equal(lease.cancel, "stop", "the refusal set lease.cancel");
      assertRows(await store.loadRun("order-1"), [row(0), row(1)], "the log");
      const info = await requireRun(store, "order-1");
      assert.equal(info.owner, "worker-1", "the owner still holds the run");
      assert.equal(info.status, "running");
    },
  );

  add(
    "the rollback's rows, renew(), release() and finish() go on under the same lease",
    async ({ store, clock }) => {
      // The first write after the request is a renewal: it must learn of the request too.
      const a = await claim(store, "a", "start");
      await store.append("a", row(0), a.lease);
      await store.requestCancel("a", "stop");
      const at = clock.advance(100);
      await store.renew(a.lease);
      assert.equal(a.lease.cancel, "stop", "renew() set lease.cancel");
      assert.equal(a.lease.leaseUntil, at + store.leaseMs, "renew() extended the lease");
      await refusesForward(store, a.lease, "after the renewal");
      await store.append("a", row(1, { kind: "compensation_completion", output: "c" }), a.lease);
      await store.append("a", rollback(2), a.lease);
      await store.append("a", compensated(3), a.lease);
      await store.renew(a.lease);
      assert.equal((await requireRun(store, "a")).status, "rolling_back");
      assert.equal((await store.loadRun("a")).length, 4, "the rollback's rows were stored");
      await store.finish(a.lease, { status: "completed" });
      assert.equal(await store.getRun("a"), undefined, "finish(completed) after a request");
      assert.deepEqual(await store.loadRun("a"), []);
      // finish(failed) and release() as the first write after a request.
      const b = await claim(store, "b", "start");
      await store.requestCancel("b", "stop");
      await store.finish(b.lease, { status: "failed", error: "compensation failed" });
      assert.equal((await requireRun(store, "b")).status, "failed", "finish(failed)");
      const c = await claim(store, "c", "start");
      await store.append("c", row(0), c.lease);
      await store.requestCancel("c", "stop");
      await store.release(c.lease);
      assert.equal((await requireRun(store, "c")).owner, undefined, "release() after a request");
      assert.equal((await requireRun(store, "c")).cancel?.reason, "stop", "the request stays");
    },
  );

  add(
    "pollCancel() returns the pending reason, and refuses a lost lease",
    async ({ store, clock }) => {
      const { lease } = await claim(store, "order-1", "start");
      await store.append("order-1", row(0), lease);
      assert.equal(await store.pollCancel(lease), undefined, "no request yet");
      assert.equal(lease.cancel, undefined);
      await store.requestCancel("order-1", "by admin");
      assert.equal(await store.pollCancel(lease), "by admin", "the request");
      assert.equal(lease.cancel, "by admin", "pollCancel() set lease.cancel");
      assert.equal(await store.pollCancel(lease), "by admin", "a second poll");
      await refusesForward(store, lease, "after the poll");
      await store.append("order-1", rollback(1), lease);
      await store.renew(lease);
      clock.expire(lease.leaseUntil);
      const taken = await claim(store, "order-1", "resume", "worker-2");
      await refuses(() => store.pollCancel(lease), OwnershipLostError, "a poll after a takeover");
      assert.equal(await store.pollCancel(taken.lease), "by admin", "the new owner's poll");
      await store.finish(taken.lease, { status: "completed" });
      await refuses(() => store.pollCancel(taken.lease), OwnershipLostError, "a poll after finish");
      const other = await claim(store, "other", "start");
      await store.clear("other");
      await refuses(
        () => store.pollCancel(other.lease),
        OwnershipLostError,
        "a poll after clear()",
      );
    },
  );

  add("claim() of a run with a cancel request returns lease.cancel", async ({ store, clock }) => {
    const first = await claim(store, "expired", "start");
    await store.append("expired", row(0), first.lease);
    await store.requestCancel("expired", "abandoned");
    clock.expire(first.lease.leaseUntil);
    const resumed = await claim(store, "expired", "resume", "worker-2");
    assert.equal(resumed.lease.cancel, "abandoned", "a resume after the lease expired");
    assert.equal((await requireRun(store, "expired")).cancel?.reason, "abandoned", "kept");
    await refusesForward(store, resumed.lease, "the new owner");
    await refuses(() => store.pollCancel(first.lease), OwnershipLostError, "the old owner's poll");
    await store.append("expired", rollback(1), resumed.lease);
    await store.finish(resumed.lease, { status: "completed" });

    const held = await claim(store, "released", "start");
    await store.append("released", row(0), held.lease);
    await store.release(held.lease);
    await store.requestCancel("released", "nobody holds it");
    await refuses(() => claim(store, "released", "start"), RunExistsError, "a start");
    const taken = await claim(store, "released", "startOrResume", "worker-3");
    assert.equal(taken.created, false);
    assert.equal(taken.lease.cancel, "nobody holds it", "startOrResume of a released run");
    assertRows(taken.rows, [row(0)], "the rows");
    assert.equal(await store.pollCancel(taken.lease), "nobody holds it");
  });

  add(
    "requestCancel() racing the owner's writes never loses the run or tears its record",
    async ({ store }) => {
      for (let round = 0; round < 4; round++) {
        const id = `race-${round}`;
        const { lease } = await claim(store, id, "start");
        await store.append(id, row(0), lease);
        // Three requests from "other processes" land while the owner writes (from its write
        // `round` on), the owner's writes one at a time, as the engine makes them.
        let requests: Promise<CancelResult[]> | undefined;
        for (let step = 0; step < 6; step++) {
          if (step === round) {
            requests = Promise.all([0, 1, 2].map((i) => store.requestCancel(id, `r${i}`)));
          }
          try {
            if (step % 2 === round % 2) await store.renew(lease);
            else await store.append(id, row(lease.sequence), lease);
          } catch (error) {
            if (!isA(error, CancelledError)) {
              assert.fail(`round ${round}: the owner's write ${step}: ${describe(error)}`);
            }
          }
        }
        const results = await requests!;
        const won = results.filter((result) => result.outcome === "requested");
        assert.equal(won.length, 1, `round ${round}: exactly one request is written`);
        for (const result of results) {
          if (result !== won[0]) assert.equal(result.outcome, "already_requested");
        }
        const reason = won[0]!.run?.cancel?.reason;
        assert.equal(await store.pollCancel(lease), reason, `round ${round}: the owner sees it`);
        const info = await requireRun(store, id);
        assert.equal(info.owner, "worker-1", `round ${round}: the owner`);
        assert.equal(info.status, "running");
        assert.equal(info.cancel?.reason, reason, `round ${round}: the stored reason`);
        const rows = await store.loadRun(id);
        assert.equal(rows.length, lease.sequence, `round ${round}: the log is the lease's`);
        assert.ok(rows.every((r, i) => r.sequence === i), `round ${round}: a dense log`);
        await refusesForward(store, lease, `round ${round}`);
        await store.append(id, rollback(lease.sequence), lease);
        await store.finish(lease, { status: "completed" });
        assert.equal(await store.getRun(id), undefined, `round ${round}: finished`);
      }
    },
  );

  add(
    "requestCancel() and pollCancel() refuse bad input with CheckpointStoreError",
    async ({ store }) => {
      const { lease } = await claim(store, "order-1", "start");
      await store.append("order-1", row(0), lease);
      const before = await snapshot(store, "order-1");
      for (const id of [42, "", "a\ud800b", undefined, null]) {
        await refuses(
          () => store.requestCancel(id as string, "stop"),
          CheckpointStoreError,
          `requestCancel(${JSON.stringify(id) ?? "undefined"})`,
        );
      }
      const reasons: unknown[] = [42, null, { toString: () => "x" }, "\ud800", "x\udc00"];
      for (const reason of reasons) {
        await refuses(
          () => store.requestCancel("order-1", reason as string),
          CheckpointStoreError,
          `requestCancel("order-1", ${JSON.stringify(reason)})`,
        );
      }
      for (const bad of [undefined, null, {}, "order-1"]) {
        await refuses(
          () => store.pollCancel(bad as unknown as RunLease),
          CheckpointStoreError,
          `pollCancel(${JSON.stringify(bad) ?? "undefined"})`,
        );
      }
      await assertUnchanged(store, "order-1", before, "the refused calls");
      assert.equal(await store.pollCancel(lease), undefined);
      await store.append("order-1", row(1), lease);
    },
  );
}
