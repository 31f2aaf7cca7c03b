// The store contract's listing cases: listRuns() paging, filters and bad queries, and the fields of
// getRun() as a run's log, renewals and takeovers change them.

import assert from "node:assert/strict";
import { CheckpointStoreError } from "../errors.ts";
import type { ListRunsQuery, RunStatus } from "../recovery/checkpoint.ts";
import {
  type Add,
  claim,
  idsOf,
  LEASE_MS,
  listAll,
  refuses,
  requireRun,
  row,
  START,
} from "./store_contract_harness.ts";

export function listingCases(add: Add): void {
  add("listRuns() pages by id with limit and cursor", async ({ store }) => {
    const ids = Array.from({ length: 25 }, (_, i) => `run-${String(i).padStart(2, "0")}`);
    // Claimed out of order: the listing orders by id, not by creation.
    for (let i = 0; i < 25; i++) await claim(store, ids[(i * 7) % 25]!, "start");
    const pages = await listAll(store, { limit: 10 });
    assert.deepEqual(pages.map((page) => page.length), [10, 10, 5], "page sizes");
    assert.deepEqual(pages.flat().map((run) => run.id), ids, "every id once, ascending");
    const first = await store.listRuns({ limit: 10 });
    assert.equal(typeof first.cursor, "string", "a full page has a cursor");
    const last = await store.listRuns({
      limit: 10,
      cursor: (await store.listRuns({ limit: 20 })).cursor,
    });
    assert.equal(last.cursor, undefined, "the last page has no cursor");
    assert.deepEqual(idsOf(last.runs), ids.slice(20));
    const all = await store.listRuns();
    assert.deepEqual(idsOf(all.runs), ids, "the default page holds all 25");
    assert.equal(all.cursor, undefined);
    assert.equal((await store.listRuns({ limit: 1 })).runs.length, 1, "limit 1");
    assert.equal((await store.listRuns({ limit: 1000 })).runs.length, 25, "limit 1000");
  });

  add("listRuns() filters by status and by workflow", async ({ store }) => {
    const make = async (id: string, workflow: string, end: RunStatus) => {
      const { lease } = await claim(store, id, "start", "worker-1", workflow);
      await store.append(id, row(0), lease);
      if (end === "rolling_back") {
        await store.append(id, row(1, { kind: "rollback", taskId: "", output: {} }), lease);
      }
      if (end === "failed") await store.finish(lease, { status: "failed", error: "boom" });
    };
    await make("a-1", "order", "running");
    await make("a-2", "order", "failed");
    await make("a-3", "invoice", "running");
    await make("a-4", "invoice", "rolling_back");
    await make("a-5", "order", "rolling_back");
    await make("a-6", "invoice", "failed");
    await make("a-7", "", "running");
    const list = async (query: ListRunsQuery) => idsOf((await listAll(store, query)).flat());
    assert.deepEqual(await list({ status: "running" }), ["a-1", "a-3", "a-7"], "running");
    assert.deepEqual(await list({ status: "failed" }), ["a-2", "a-6"], "failed");
    assert.deepEqual(await list({ status: "rolling_back" }), ["a-4", "a-5"], "rolling_back");
    assert.deepEqual(await list({ workflow: "order" }), ["a-1", "a-2", "a-5"], "order");
    assert.deepEqual(await list({ workflow: "" }), ["a-7"], "unnamed");
    assert.deepEqual(await list({ status: "failed", workflow: "invoice" }), ["a-6"], "both");
    assert.deepEqual(await list({ status: "running", workflow: "nope" }), [], "no match");
    const pages = await listAll(store, { workflow: "invoice", limit: 1 });
    assert.deepEqual(idsOf(pages.flat()), ["a-3", "a-4", "a-6"], "a filtered listing in pages");
    const statuses = (await store.listRuns({ workflow: "invoice" })).runs.map((run) => run.status);
    assert.deepEqual(statuses, ["running", "rolling_back", "failed"], "the listed statuses");
  });

  add("listRuns() status filter follows every transition", async ({ store }) => {
    const statusesOf = async (id: string): Promise<string[]> => {
      const found: string[] = [];
      for (const status of ["running", "rolling_back", "failed"] as const) {
        const runs = (await listAll(store, { status })).flat();
        if (runs.some((run) => run.id === id)) found.push(status);
      }
      return found;
    };
    const first = await claim(store, "t", "start");
    await store.append("t", row(0), first.lease);
    assert.deepEqual(await statusesOf("t"), ["running"], "after start");
    await store.renew(first.lease);
    await store.append("t", row(1, { kind: "rollback", taskId: "", output: {} }), first.lease);
    assert.deepEqual(await statusesOf("t"), ["rolling_back"], "after a rollback row");
    await store.finish(first.lease, { status: "failed", error: "boom" });
    assert.deepEqual(await statusesOf("t"), ["failed"], "after finish(failed)");
    const second = await claim(store, "t", "resume", "worker-2");
    assert.deepEqual(await statusesOf("t"), ["rolling_back"], "after resuming the rollback");
    await store.release(second.lease);
    assert.deepEqual(await statusesOf("t"), ["rolling_back"], "after release()");
    const third = await claim(store, "t", "resume", "worker-3");
    await store.finish(third.lease, { status: "completed" });
    assert.deepEqual(await statusesOf("t"), [], "after finish(completed)");
    const other = await claim(store, "u", "start");
    await store.append("u", row(0), other.lease);
    await store.finish(other.lease, { status: "failed", error: "boom" });
    await claim(store, "u", "resume", "worker-2");
    assert.deepEqual(await statusesOf("u"), ["running"], "a failed run resumed");
  });

  add("listRuns() refuses a bad limit or a foreign cursor", async ({ store }) => {
    await claim(store, "order-1", "start");
    for (const limit of [0, 1001, 1.5, -1, Number.NaN]) {
      await refuses(
        () => store.listRuns({ limit }),
        CheckpointStoreError,
        `listRuns({ limit: ${limit} })`,
      );
    }
    for (const cursor of ["not-a-cursor", "order-1"]) {
      await refuses(
        () => store.listRuns({ cursor }),
        CheckpointStoreError,
        `listRuns({ cursor: ${JSON.stringify(cursor)} })`,
      );
    }
    await refuses(
      () => store.listRuns({ status: "done" as RunStatus }),
      CheckpointStoreError,
      'listRuns({ status: "done" })',
    );
    assert.deepEqual(idsOf((await store.listRuns()).runs), ["order-1"]);
  });

  add("listRuns() pages through hostile ids without duplicates or gaps", async ({ store }) => {
    const ids = [
      "a",
      "a\u0000",
      "a\u0000b",
      "a/b",
      "ab",
      "b",
      "zé",
      "z🚀",
      "\u00e9",
      "\uFFFF",
      "\u{1F600}",
      "%",
      "after:x",
    ];
    for (const id of ids) await claim(store, id, "start");
    for (const limit of [1, 2, 5]) {
      const listed = (await listAll(store, { limit })).flat().map((run) => run.id);
      assert.equal(listed.length, ids.length, `limit ${limit}: one entry per run`);
      assert.deepEqual([...listed].sort(), [...ids].sort(), `limit ${limit}: every id`);
    }
    for (const id of ids) assert.equal((await requireRun(store, id)).id, id);
  });

  add("getRun() of an unknown id is undefined", async ({ store }) => {
    assert.equal(await store.getRun("nothing"), undefined);
    await store.append("log-only", row(0));
    assert.equal(await store.getRun("log-only"), undefined, "a log without a record has none");
    await claim(store, "known", "start");
    assert.equal(await store.getRun("know"), undefined, "a prefix of a known id");
    assert.equal(await store.getRun("known!"), undefined, "an id a known id is a prefix of");
  });

  add(
    "getRun() fields have the right types, and state and sequence follow the log",
    async ({ store, clock }) => {
      const { lease } = await claim(store, "order-1", "start", "worker-1", "order", 3);
      let info = await requireRun(store, "order-1");
      assert.equal(info.id, "order-1");
      assert.equal(info.workflow, "order");
      assert.equal(info.version, 3);
      assert.equal(info.status, "running");
      assert.equal(info.owner, "worker-1");
      assert.equal(info.state, "");
      assert.equal(info.sequence, 0);
      for (const field of ["leaseUntil", "createdAt", "updatedAt"] as const) {
        assert.ok(info[field] instanceof Date, `${field} is a Date`);
      }
      assert.equal(info.leaseUntil.getTime(), START + LEASE_MS);
      assert.equal(info.createdAt.getTime(), START);
      assert.equal(info.updatedAt.getTime(), START);
      assert.equal(info.error, undefined, "a running run has no error");
      for (let sequence = 0; sequence < 3; sequence++) {
        await store.append("order-1", row(sequence), lease);
      }
      info = await requireRun(store, "order-1");
      assert.equal(info.sequence, 3, "sequence = the log's length, with no record write since");
      assert.equal(info.state, "s2", "state = the log's last row");
      assert.deepEqual(
        (await store.listRuns()).runs.map((run) => [run.state, run.sequence]),
        [["s2", 3]],
        "listRuns() follows the log too",
      );
      const renewedAt = clock.advance(100);
      await store.renew(lease);
      info = await requireRun(store, "order-1");
      assert.equal(info.sequence, 3, "sequence as of the renew");
      assert.equal(info.state, "s2", "state as of the renew");
      assert.equal(info.createdAt.getTime(), START, "createdAt is kept");
      assert.equal(info.updatedAt.getTime(), renewedAt, "updatedAt is the renew time");
      assert.equal(info.leaseUntil.getTime(), renewedAt + LEASE_MS);
      const takenAt = clock.expire(lease.leaseUntil);
      await claim(store, "order-1", "resume", "worker-2", "order", 4);
      info = await requireRun(store, "order-1");
      assert.equal(info.version, 4, "the version of the last owner");
      assert.equal(info.owner, "worker-2");
      assert.equal(info.createdAt.getTime(), START, "createdAt survives a takeover");
      assert.equal(info.updatedAt.getTime(), takenAt, "updatedAt is the takeover time");
      assert.equal(info.leaseUntil.getTime(), takenAt + LEASE_MS);
      assert.equal(info.sequence, 3, "the log's length");
      const page = await store.listRuns();
      assert.deepEqual(page.runs, [info], "listRuns() shows the same record");
    },
  );
}
