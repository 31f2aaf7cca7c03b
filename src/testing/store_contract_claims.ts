// The store contract's claim cases: start, resume and startOrResume, live owners, takeover once a
// lease expired, runs of another workflow, and concurrent claims of which exactly one wins.

import assert from "node:assert/strict";
import { CanoError, CheckpointStoreError } from "../errors.ts";
import { RunExistsError, RunOwnedError } from "../recovery/run_errors.ts";
import {
  type Add,
  assertRows,
  assertUnchanged,
  claim,
  describe,
  isA,
  LEASE_MS,
  refuses,
  requireRun,
  row,
  snapshot,
  START,
} from "./store_contract_harness.ts";

export function claimCases(add: Add): void {
  add("claim() start creates a run with an empty log and a live lease", async ({ store }) => {
    const result = await claim(store, "order-1", "start", "worker-1", "order", 3);
    assert.equal(result.created, true, "created");
    assert.deepEqual(result.rows, [], "rows");
    const { lease } = result;
    assert.equal(lease.id, "order-1");
    assert.equal(lease.owner, "worker-1");
    assert.equal(lease.sequence, 0, "lease.sequence of a new run");
    assert.equal(lease.state, "", "lease.state of a new run");
    assert.equal(typeof lease.fence, "string", "lease.fence");
    assert.equal(lease.leaseUntil, START + LEASE_MS, "leaseUntil = now() + leaseMs");
    const info = await requireRun(store, "order-1");
    assert.equal(info.status, "running");
    assert.equal(info.owner, "worker-1");
    assert.equal(info.workflow, "order");
    assert.equal(info.version, 3);
    assert.equal(info.leaseUntil.getTime(), START + LEASE_MS);
    await store.append("order-1", row(0), lease);
    assertRows(await store.loadRun("order-1"), [row(0)], "the new run's first row");
  });

  add("claim() start refuses an unfinished run with RunExistsError", async ({ store, clock }) => {
    const { lease } = await claim(store, "order-1", "start");
    await store.append("order-1", row(0), lease);
    let before = await snapshot(store, "order-1");
    await refuses(() => claim(store, "order-1", "start"), RunExistsError, "a second start");
    await refuses(
      () => claim(store, "order-1", "start", "worker-2"),
      RunExistsError,
      "a start by another owner",
    );
    await assertUnchanged(store, "order-1", before, "a refused start");
    clock.expire(lease.leaseUntil);
    await refuses(
      () => claim(store, "order-1", "start", "worker-2"),
      RunExistsError,
      "a start after the lease expired",
    );
    await store.finish(lease, { status: "failed", error: "boom" });
    before = await snapshot(store, "order-1");
    await refuses(
      () => claim(store, "order-1", "start", "worker-2"),
      RunExistsError,
      "a start over a failed run",
    );
    await assertUnchanged(store, "order-1", before, "a refused start over a failed run");
  });

  add("claim() start refuses a log written without a lease", async ({ store }) => {
    await store.append("legacy", row(0));
    await store.append("legacy", row(1));
    await refuses(() => claim(store, "legacy", "start"), RunExistsError, "a start over a log");
    assertRows(await store.loadRun("legacy"), [row(0), row(1)], "the log");
    assert.equal(await store.getRun("legacy"), undefined, "no record was created");
  });

  add("claim() resume of an unknown id is refused", async ({ store }) => {
    await refuses(
      () => claim(store, "nothing", "resume"),
      CheckpointStoreError,
      "a resume of an unknown id",
    );
    assert.equal(await store.getRun("nothing"), undefined, "no record was created");
    assert.deepEqual(await store.loadRun("nothing"), []);
  });

  add("claim() resume refuses a live owner with RunOwnedError", async ({ store, clock }) => {
    const { lease } = await claim(store, "order-1", "start");
    await store.append("order-1", row(0), lease);
    clock.advance(LEASE_MS - 1);
    const before = await snapshot(store, "order-1");
    for (const mode of ["resume", "startOrResume"] as const) {
      const error = await refuses(
        () => claim(store, "order-1", mode, "worker-2"),
        RunOwnedError,
        `a ${mode} claim of a live run`,
      );
      const owned = error as RunOwnedError;
      assert.equal(owned.owner, "worker-1", "RunOwnedError.owner");
      assert.ok(owned.leaseUntil instanceof Date, "RunOwnedError.leaseUntil is a Date");
      assert.ok(owned.leaseUntil.getTime() > clock.now(), "RunOwnedError.leaseUntil is ahead");
      assert.equal(owned.leaseUntil.getTime(), lease.leaseUntil, "the owner's leaseUntil");
    }
    await assertUnchanged(store, "order-1", before, "a refused claim");
    await store.append("order-1", row(1), lease);
    assertRows(await store.loadRun("order-1"), [row(0), row(1)], "the owner still appends");
  });

  add("claim() resume takes over once the lease expired", async ({ store, clock }) => {
    const first = await claim(store, "order-1", "start");
    for (let sequence = 0; sequence < 3; sequence++) {
      await store.append("order-1", row(sequence), first.lease);
    }
    const at = clock.expire(first.lease.leaseUntil);
    const result = await claim(store, "order-1", "resume", "worker-2");
    assert.equal(result.created, false, "created");
    assertRows(result.rows, [row(0), row(1), row(2)], "the rows as of the claim");
    assert.equal(result.lease.owner, "worker-2");
    assert.equal(result.lease.sequence, 3, "lease.sequence = the log's length");
    assert.equal(result.lease.state, "s2", "lease.state = the last row's state");
    assert.equal(result.lease.leaseUntil, at + LEASE_MS, "leaseUntil = now() + leaseMs");
    const info = await requireRun(store, "order-1");
    assert.equal(info.owner, "worker-2");
    assert.equal(info.status, "running");
    assert.equal(info.leaseUntil.getTime(), at + LEASE_MS);
    await store.append("order-1", row(3), result.lease);
    assert.equal((await store.loadRun("order-1")).length, 4, "the new owner appends");
  });

  add(
    "claim() startOrResume creates when absent and resumes when present",
    async ({ store, clock }) => {
      const created = await claim(store, "order-1", "startOrResume");
      assert.equal(created.created, true, "created when absent");
      assert.deepEqual(created.rows, []);
      await store.append("order-1", row(0), created.lease);
      await store.append("order-1", row(1), created.lease);
      clock.expire(created.lease.leaseUntil);
      const resumed = await claim(store, "order-1", "startOrResume", "worker-2");
      assert.equal(resumed.created, false, "created when present");
      assertRows(resumed.rows, [row(0), row(1)], "the rows");
      assert.equal(resumed.lease.sequence, 2);
      assert.equal((await requireRun(store, "order-1")).owner, "worker-2");
      // A log written without a lease is resumed too, under a record created for it.
      await store.append("legacy", row(0));
      await store.append("legacy", row(1));
      for (const [id, mode] of [["legacy", "startOrResume"], ["legacy-2", "resume"]] as const) {
        if (id === "legacy-2") {
          await store.append(id, row(0));
          await store.append(id, row(1));
        }
        const taken = await claim(store, id, mode, "worker-3");
        assert.equal(taken.created, false, `${mode} of a log without a record`);
        assertRows(taken.rows, [row(0), row(1)], `the rows of ${id}`);
        assert.equal(taken.lease.sequence, 2, `lease.sequence of ${id}`);
        const info = await requireRun(store, id);
        assert.equal(info.owner, "worker-3");
        assert.equal(info.sequence, 2, `the record of ${id} counts its rows`);
        assert.equal(info.state, "s1");
        await store.append(id, row(2), taken.lease);
      }
    },
  );

  add("claim() refuses a run of another named workflow", async ({ store, clock }) => {
    const { lease } = await claim(store, "order-1", "start", "worker-1", "order");
    await store.append("order-1", row(0), lease);
    clock.expire(lease.leaseUntil);
    const before = await snapshot(store, "order-1");
    for (const mode of ["resume", "startOrResume"] as const) {
      const error = await refuses(
        () => claim(store, "order-1", mode, "worker-2", "invoice"),
        CanoError,
        `a ${mode} claim by workflow "invoice" of a run of "order"`,
      );
      assert.equal((error as CanoError).category, "workflow", "the error's category");
    }
    await assertUnchanged(store, "order-1", before, "a refused claim");
    const taken = await claim(store, "order-1", "resume", "worker-2", "order");
    assert.equal(taken.lease.owner, "worker-2", "the same workflow may resume it");
  });

  add(
    "concurrent resume claims: exactly one wins, the rest get RunOwnedError",
    async ({ store, clock }) => {
      const { lease } = await claim(store, "race", "start");
      await store.append("race", row(0), lease);
      clock.expire(lease.leaseUntil);
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => claim(store, "race", "resume", `worker-${i + 10}`)),
      );
      const won = results.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
      assert.equal(won.length, 1, "exactly one claim succeeds");
      const winner = won[0]!.lease.owner;
      for (const r of results) {
        if (r.status === "fulfilled") continue;
        assert.ok(isA(r.reason, RunOwnedError), `a losing claim: ${describe(r.reason)}`);
        assert.equal((r.reason as RunOwnedError).owner, winner, "RunOwnedError names the winner");
      }
      assert.equal((await requireRun(store, "race")).owner, winner, "the record names the winner");
      await store.append("race", row(1), won[0]!.lease);
    },
  );

  add(
    "concurrent start claims: exactly one wins, the rest get RunExistsError",
    async ({ store }) => {
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => claim(store, "race", "start", `worker-${i}`)),
      );
      const won = results.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
      assert.equal(won.length, 1, "exactly one claim succeeds");
      assert.equal(won[0]!.created, true);
      for (const r of results) {
        if (r.status === "rejected") {
          assert.ok(isA(r.reason, RunExistsError), `a losing claim: ${describe(r.reason)}`);
        }
      }
      assert.equal((await requireRun(store, "race")).owner, won[0]!.lease.owner);
      await store.append("race", row(0), won[0]!.lease);
    },
  );
}
