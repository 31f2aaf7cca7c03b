// The store contract's expiry cases: listExpired() (which runs wait for a claimer, in what order,
// paged how, refusing what) and noteRun() (a note on a run nobody holds, refused on a live, failed
// or unknown one, dropped by the next claim). The store's clock drives every lease.

import assert from "node:assert/strict";
import { CheckpointStoreError } from "../errors.ts";
import type { ListExpiredQuery, RunInfo, RunStore } from "../recovery/checkpoint.ts";
import {
  type Add,
  assertUnchanged,
  claim,
  idsOf,
  LEASE_MS,
  refuses,
  requireRun,
  row,
  snapshot,
  START,
} from "./store_contract_harness.ts";

/** Every run of an expiry listing, following cursors (at most `pages` pages). */
async function expiredPages(
  store: RunStore,
  query: ListExpiredQuery = {},
  pages = 100,
): Promise<RunInfo[][]> {
  const result: RunInfo[][] = [];
  let cursor: string | undefined;
  for (let page = 0; page < pages; page++) {
    const listed = await store.listExpired({ ...query, cursor });
    assert.ok(Array.isArray(listed.runs), "listExpired() must return { runs: [...] }");
    assert.ok(listed.runs.length <= (query.limit ?? 100), "a page holds at most `limit` runs");
    result.push(listed.runs);
    if (listed.cursor === undefined) return result;
    assert.equal(typeof listed.cursor, "string", "a listExpired() cursor must be a string");
    cursor = listed.cursor;
  }
  assert.fail(`listExpired(${JSON.stringify(query)}) did not end after ${pages} pages`);
}

const expiredIds = async (store: RunStore, query: ListExpiredQuery = {}): Promise<string[]> =>
  idsOf((await expiredPages(store, query)).flat());

/**
 * Registers the expiry cases (`listExpired` and `noteRun`).
 *
 * @param add Registers one case.
 */
export function expiryCases(add: Add): void {
  add("listExpired() of an empty store is one empty page", async ({ store }) => {
    assert.deepEqual(await store.listExpired(), { runs: [], cursor: undefined });
    assert.deepEqual(await store.listExpired({ limit: 1, now: START + 10 * LEASE_MS }), {
      runs: [],
      cursor: undefined,
    });
    await store.append("log-only", row(0));
    assert.deepEqual(idsOf((await store.listExpired({ now: START + 10 * LEASE_MS })).runs), []);
  });

  add(
    "listExpired() lists active runs whose lease expired, never healthy, failed or ended ones",
    async ({ store, clock }) => {
      const dead = await claim(store, "dead", "start");
      await store.append("dead", row(0), dead.lease);
      const saga = await claim(store, "saga", "start");
      await store.append("saga", row(0), saga.lease);
      await store.append("saga", row(1, { kind: "rollback", taskId: "", output: {} }), saga.lease);
      const renewed = await claim(store, "renewed", "start");
      const failed = await claim(store, "failed", "start");
      await store.append("failed", row(0), failed.lease);
      await store.finish(failed.lease, { status: "failed", error: "boom" });
      const done = await claim(store, "done", "start");
      await store.finish(done.lease, { status: "completed" });
      await claim(store, "cleared", "start");
      await store.clear("cleared");
      await claim(store, "cancelled", "start");
      await store.requestCancel("cancelled", "stop");
      assert.deepEqual(idsOf((await store.listExpired()).runs), [], "nothing expired yet");
      clock.advance(LEASE_MS - 100);
      await store.renew(renewed.lease);
      const at = clock.expire(dead.lease.leaseUntil);
      const healthy = await claim(store, "healthy", "start");
      // Just past the first leases: the renewed run's old expiry must not show it.
      const page = await store.listExpired();
      assert.deepEqual(idsOf(page.runs), ["cancelled", "dead", "saga"], "the expired runs");
      assert.equal(page.cursor, undefined);
      const byId = new Map(page.runs.map((run) => [run.id, run]));
      assert.equal(byId.get("saga")?.status, "rolling_back", "a rolling-back run is listed");
      assert.equal(byId.get("dead")?.status, "running");
      assert.equal(byId.get("cancelled")?.cancel?.reason, "stop", "with its cancel request");
      for (const run of page.runs) {
        assert.ok(run.leaseUntil instanceof Date, "leaseUntil is a Date");
        assert.ok(run.leaseUntil.getTime() < at, `${run.id}: its lease is over`);
        assert.equal(run.workflow, "order");
      }
      // `now` moves the bound: before every lease's end nothing, far ahead every active run.
      assert.deepEqual(idsOf((await store.listExpired({ now: START })).runs), []);
      assert.deepEqual(
        idsOf((await store.listExpired({ now: dead.lease.leaseUntil - 1 })).runs),
        [],
        "a lease ending after `now` has not expired",
      );
      assert.deepEqual(
        await expiredIds(store, { now: at + 10 * LEASE_MS }),
        ["cancelled", "dead", "saga", "renewed", "healthy"],
        "every active run, by expiry",
      );
      // A takeover gives the run a live lease: it leaves the listing.
      await claim(store, "dead", "resume", "worker-2");
      assert.deepEqual(await expiredIds(store), ["cancelled", "saga"], "after a takeover");
      await store.finish(healthy.lease, { status: "completed" });
    },
  );

  add("listExpired() lists a released run at once", async ({ store, clock }) => {
    const { lease } = await claim(store, "order-1", "start");
    await store.append("order-1", row(0), lease);
    await claim(store, "healthy", "start");
    clock.advance(10);
    await store.release(lease);
    assert.deepEqual(await expiredIds(store), ["order-1"], "the released run, not the healthy one");
    const failed = await claim(store, "failed", "start");
    await store.finish(failed.lease, { status: "failed", error: "boom" });
    clock.advance(1);
    assert.deepEqual(await expiredIds(store), ["order-1"], "a failed run is never listed");
    clock.advance(10 * LEASE_MS);
    assert.deepEqual(await expiredIds(store), ["order-1", "healthy"], "by expiry");
  });

  add("listExpired() orders by lease expiry, then by id", async ({ store, clock }) => {
    const plan: [string, number][] = [["m", 0], ["z", 0], ["b", 0], ["y", 5], ["a", 5], ["c", 9]];
    for (const [id, at] of plan) {
      clock.advance(START + at - clock.now());
      await claim(store, id, "start");
    }
    clock.advance(2 * LEASE_MS);
    assert.deepEqual(await expiredIds(store), ["b", "m", "z", "a", "y", "c"]);
    assert.deepEqual(await expiredIds(store, { limit: 1 }), ["b", "m", "z", "a", "y", "c"]);
    assert.deepEqual(
      idsOf((await store.listExpired({ now: START + LEASE_MS + 4 })).runs),
      ["b", "m", "z"],
      "the leases over by `now` only",
    );
  });

  add(
    "listExpired() pages with limit and cursor, every expired run exactly once",
    async ({ store, clock }) => {
      const ids = Array.from({ length: 25 }, (_, i) => `run-${String(i).padStart(2, "0")}`);
      const group = (id: string): number => (Number(id.slice(4)) * 7) % 9;
      // Claimed in expiry order (the clock only moves forward), ids descending within a group.
      const order = [...ids].sort((a, b) => group(a) - group(b) || (a < b ? 1 : -1));
      for (const id of order) {
        clock.advance(START + group(id) * 10 - clock.now());
        const { lease } = await claim(store, id, "start");
        await store.append(id, row(0), lease);
      }
      const expected = [...ids].sort((a, b) => group(a) - group(b) || (a < b ? -1 : 1));
      clock.advance(2 * LEASE_MS);
      await claim(store, "healthy", "start");
      for (const limit of [1, 2, 7, 24, 25, 100]) {
        const pages = await expiredPages(store, { limit });
        assert.deepEqual(idsOf(pages.flat()), expected, `limit ${limit}: each run once, in order`);
        assert.ok(
          pages.length <= Math.ceil(25 / limit) + 1,
          `limit ${limit}: ${pages.length} pages`,
        );
      }
      const first = await store.listExpired({ limit: 7 });
      assert.equal(first.runs.length, 7, "a first page of 7");
      assert.equal(typeof first.cursor, "string", "more to come: a cursor");
      // A sweeper claims what it lists before it reads the next page: nothing is skipped.
      for (const run of first.runs) await claim(store, run.id, "resume", "sweeper");
      const rest = await expiredIds(store, { limit: 7, cursor: first.cursor });
      assert.deepEqual(rest, expected.slice(7), "the pages after the claimed one");
      assert.deepEqual(await expiredIds(store), expected.slice(7), "the claimed runs left");
    },
  );

  add("listExpired() refuses a bad limit, cursor, bound or query", async ({ store, clock }) => {
    await claim(store, "order-1", "start");
    clock.advance(2 * LEASE_MS);
    const bad: [string, unknown][] = [
      ...[0, 1001, 1.5, -1, Number.NaN, "10"].map((limit) =>
        ["limit", { limit }] as [string, unknown]
      ),
      ...["not-a-cursor", "after:order-1", "expired:x:order-1", "", 42].map((cursor) =>
        ["cursor", { cursor }] as [string, unknown]
      ),
      ...[Number.NaN, Number.POSITIVE_INFINITY, "1"].map((now) =>
        ["now", { now }] as [string, unknown]
      ),
      ["query", 42],
      ["query", "all"],
      ["query", null],
    ];
    for (const [what, query] of bad) {
      await refuses(
        () => store.listExpired(query as ListExpiredQuery),
        CheckpointStoreError,
        `listExpired() with a bad ${what}: ${String(JSON.stringify(query))}`,
      );
    }
    assert.deepEqual(idsOf((await store.listExpired()).runs), ["order-1"]);
  });

  add(
    "noteRun() notes a run nobody holds, never a live, failed or unknown one",
    async ({ store, clock }) => {
      const live = await claim(store, "live", "start");
      await store.append("live", row(0), live.lease);
      const failed = await claim(store, "failed", "start");
      await store.finish(failed.lease, { status: "failed", error: "card declined" });
      await store.append("log-only", row(0));
      const dead = await claim(store, "dead", "start");
      await store.append("dead", row(0), dead.lease);
      for (const id of ["live", "failed", "log-only", "nothing"]) {
        const before = await snapshot(store, id);
        assert.equal(await store.noteRun(id, "Recovery: no definition"), false, `noteRun(${id})`);
        await assertUnchanged(store, id, before, `noteRun(${id})`);
      }
      assert.equal((await requireRun(store, "failed")).error, "card declined", "the failure stays");
      assert.equal(await store.getRun("nothing"), undefined, "no record was created");
      const at = clock.expire(dead.lease.leaseUntil);
      await store.renew(live.lease);
      const before = await requireRun(store, "dead");
      assert.equal(await store.noteRun("dead", "Recovery: no definition"), true, "an expired run");
      const noted = await requireRun(store, "dead");
      assert.equal(noted.error, "Recovery: no definition", "getRun() shows the note");
      assert.equal(noted.status, before.status, "the status is kept");
      assert.equal(noted.leaseUntil.getTime(), before.leaseUntil.getTime(), "leaseUntil is kept");
      assert.equal(noted.sequence, before.sequence, "the progress is kept");
      assert.ok(noted.updatedAt.getTime() <= at, "updatedAt is not ahead of the clock");
      assert.equal((await store.listExpired()).runs[0]?.error, "Recovery: no definition");
      assert.deepEqual(idsOf((await store.listExpired()).runs), ["dead"], "still waiting");
      assert.equal(await store.noteRun("dead", "Recovery: still none"), true, "a second note");
      assert.equal((await requireRun(store, "dead")).error, "Recovery: still none");
      // The next claim takes the run up again: the note is dropped.
      const taken = await claim(store, "dead", "resume", "worker-2");
      assert.equal((await requireRun(store, "dead")).error, undefined, "a claim drops the note");
      assert.equal(await store.noteRun("dead", "late"), false, "now a live owner holds it");
      await store.append("dead", row(1), taken.lease);
      await store.release(taken.lease);
      assert.equal(await store.noteRun("dead", "released"), true, "a released run");
    },
  );

  add("noteRun() refuses bad input with CheckpointStoreError", async ({ store, clock }) => {
    const { lease } = await claim(store, "order-1", "start");
    await store.append("order-1", row(0), lease);
    clock.expire(lease.leaseUntil);
    const before = await snapshot(store, "order-1");
    for (const id of [42, "", "a\ud800b", undefined, null]) {
      await refuses(
        () => store.noteRun(id as string, "note"),
        CheckpointStoreError,
        `noteRun(${JSON.stringify(id) ?? "undefined"}, "note")`,
      );
    }
    for (const error of [undefined, null, 42, {}, "\ud800", "x\udc00"]) {
      await refuses(
        () => store.noteRun("order-1", error as string),
        CheckpointStoreError,
        `noteRun("order-1", ${JSON.stringify(error) ?? "undefined"})`,
      );
    }
    await assertUnchanged(store, "order-1", before, "the refused notes");
    assert.equal(await store.noteRun("order-1", "fine"), true);
  });
}
