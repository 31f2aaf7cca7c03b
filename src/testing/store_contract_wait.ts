// The store contract's wait cases: park() (parking, an event already in the inbox, stale leases,
// a pending cancel) and what a parked run looks like to claim(), listExpired(), listRuns(),
// requestCancel(), noteRun(), finish() and clear(); and the helpers the sendEvent() cases
// (store_contract_events.ts) share. `park` and `sendEvent` are optional RunStore methods: a store
// with neither passes these cases without checks unless the contract is told it has them.

import assert from "node:assert/strict";
import { CancelledError, type CanoError, CheckpointStoreError } from "../errors.ts";
import {
  type DeliveredEvent,
  hasWaitMethods,
  type ParkRequest,
  type RunLease,
  type RunStore,
} from "../recovery/checkpoint.ts";
import { EventRefusedError, OwnershipLostError, RunExistsError } from "../recovery/run_errors.ts";
import { FOREVER } from "../recovery/run_events.ts";
import {
  type Add,
  assertUnchanged,
  claim,
  idsOf,
  LEASE_MS,
  type ManualClock,
  refuses,
  requireRun,
  row,
  snapshot,
  START,
} from "./store_contract_harness.ts";

/** A store with both wait methods. */
export type WaitStore = RunStore & Required<Pick<RunStore, "park" | "sendEvent">>;

/** A subject of a wait case. */
export interface WaitSubject {
  store: WaitStore;
  clock: ManualClock;
}

/**
 * Whether the wait cases run on the store: `true` requires both methods, `false` leaves the group
 * out, `undefined` runs them on a store with both and skips a store with neither.
 */
export type WaitMode = boolean | undefined;

/** Claims `id` and writes its first row, in state `state`: a run about to wait. */
export async function running(store: RunStore, id: string, state = "approval"): Promise<RunLease> {
  const { lease } = await claim(store, id, "start");
  await store.append(id, row(0, { state, taskId: "" }), lease);
  return lease;
}

/** A park request for `events` (default `["approved"]`). */
export function waitFor(fields: Partial<ParkRequest> = {}): ParkRequest {
  return { state: "approval", events: ["approved"], after: 0, ...fields };
}

/** Asserts an event's fields. */
export function assertEvent(
  event: DeliveredEvent | undefined,
  expected: { seq: number; name: string; payload?: unknown; eventId?: string; at: number },
  what: string,
): void {
  assert.ok(event !== undefined, `${what}: an event`);
  assert.equal(event.seq, expected.seq, `${what}: seq`);
  assert.equal(event.name, expected.name, `${what}: name`);
  assert.deepEqual(event.payload, expected.payload, `${what}: payload`);
  assert.equal(event.eventId, expected.eventId, `${what}: eventId`);
  assert.ok(event.at instanceof Date, `${what}: at is a Date`);
  assert.equal(event.at.getTime(), expected.at, `${what}: at is the store's clock`);
}

/** The inbox of a run nobody holds, as a takeover returns it (the run is then released). */
export async function inboxOf(store: RunStore, id: string): Promise<DeliveredEvent[]> {
  const taken = await claim(store, id, "resume", "inspector");
  await store.release(taken.lease);
  return taken.events ?? [];
}

/** Expired and due runs, every page. */
export async function expiredIds(store: RunStore, now?: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 100; page++) {
    const listed = await store.listExpired({ cursor, now });
    ids.push(...idsOf(listed.runs));
    if (listed.cursor === undefined) return ids;
    cursor = listed.cursor;
  }
  assert.fail("listExpired() did not end after 100 pages");
}

/** Registers one wait case (see {@link waitAdder}). */
export type AddWait = (name: string, body: (t: WaitSubject) => Promise<void>) => void;

/**
 * Wraps `add` for wait cases: each case checks the store has both wait methods, fails when it has
 * one (or none, with `mode` `true`), and passes without checks on a store with neither.
 *
 * @param add Registers one case.
 * @param mode Whether the store must have the wait methods (see {@link WaitMode}).
 * @returns The wrapped `add`, `undefined` when the group is left out.
 */
export function waitAdder(add: Add, mode: WaitMode): AddWait | undefined {
  if (mode === false) return undefined;
  return (name, body) => {
    add(name, async ({ store, clock }) => {
      const park = typeof (store as Partial<WaitStore>).park === "function";
      const send = typeof (store as Partial<WaitStore>).sendEvent === "function";
      if (park !== send) {
        assert.fail(
          `the store has ${park ? "park() but not sendEvent()" : "sendEvent() but not park()"}; ` +
            "durable waits need both",
        );
      }
      if (!hasWaitMethods(store)) {
        if (mode === true) {
          assert.fail(
            "the store has no park() and sendEvent() (durable waits); implement them, or pass " +
              "waits: false to checkpointStoreContract() to leave these cases out",
          );
        }
        return; // a store without durable waits: nothing to check
      }
      await body({ store, clock });
    });
  };
}

/**
 * Registers the park cases and what a parked run looks like to claims, listings, cancel requests,
 * notes and ends (the `sendEvent` cases are in store_contract_events.ts).
 *
 * @param add Registers one case.
 * @param mode Whether the store must have the wait methods (see {@link WaitMode}).
 */
export function waitCases(add: Add, mode: WaitMode): void {
  const addWait = waitAdder(add, mode);
  if (addWait === undefined) return;
  addWait(
    "park() parks the run: status waiting, no owner, due at its deadline",
    async ({ store, clock }) => {
      const lease = await running(store, "order-1");
      const at = clock.advance(10);
      const until = at + 5 * LEASE_MS;
      assert.deepEqual(await store.park(lease, waitFor({ until })), { parked: true });
      const info = await requireRun(store, "order-1");
      assert.equal(info.status, "waiting");
      assert.equal(info.owner, undefined, "nobody holds a parked run");
      assert.equal(info.leaseUntil.getTime(), until, "due at its deadline");
      assert.equal(info.state, "approval");
      assert.equal(info.sequence, 1);
      assert.equal(info.updatedAt.getTime(), at);
      assert.ok(info.wait !== undefined, "RunInfo.wait is set");
      assert.equal(info.wait.state, "approval");
      assert.deepEqual(info.wait.events, ["approved"]);
      assert.ok(info.wait.until instanceof Date && info.wait.since instanceof Date, "Dates");
      assert.equal(info.wait.until.getTime(), until);
      assert.equal(info.wait.since.getTime(), at, "since is the store's clock");
      assert.deepEqual(await expiredIds(store), [], "not due before its deadline");
      // The lease is over: every fenced write with it is refused and writes nothing.
      const before = await snapshot(store, "order-1");
      const stale: [string, () => Promise<unknown>][] = [
        ["append()", () => store.append("order-1", row(1), lease)],
        ["renew()", () => store.renew(lease)],
        ["release()", () => store.release(lease)],
        ["finish(failed)", () => store.finish(lease, { status: "failed", error: "x" })],
        ["finish(completed)", () => store.finish(lease, { status: "completed" })],
        ["park()", () => store.park(lease, waitFor())],
        ["pollCancel()", () => store.pollCancel(lease)],
      ];
      for (const [what, call] of stale) {
        await refuses(call, OwnershipLostError, `${what} with the lease that parked the run`);
        await assertUnchanged(store, "order-1", before, `the refused ${what}`);
      }
      // Without a deadline: due never (the latest Date), and `until` is undefined.
      const forever = await running(store, "forever");
      await store.park(forever, waitFor({ events: ["a", "b", "a"] }));
      const open = await requireRun(store, "forever");
      assert.equal(open.leaseUntil.getTime(), FOREVER, "the latest Date");
      assert.equal(open.wait?.until, undefined, "no deadline");
      assert.deepEqual(open.wait?.events, ["a", "b"], "the event names, each once");
      assert.deepEqual(await expiredIds(store, START + 1_000 * 86_400_000), ["order-1"]);
    },
  );

  addWait(
    "park() hands back a queued matching event instead of parking",
    async ({ store, clock }) => {
      const lease = await running(store, "order-1");
      const t1 = clock.advance(1);
      await store.sendEvent("order-1", "comment", "looks fine");
      const t2 = clock.advance(1);
      await store.sendEvent("order-1", "approved", { by: "ana" }, { eventId: "mail-1" });
      const t3 = clock.advance(1);
      await store.sendEvent("order-1", "approved", { by: "bo" });
      const before = await snapshot(store, "order-1");
      const first = await store.park(lease, waitFor());
      assert.equal(first.parked, false, "an approval is in the inbox");
      if (first.parked) return;
      assertEvent(first.event, {
        seq: 2,
        name: "approved",
        payload: { by: "ana" },
        eventId: "mail-1",
        at: t2,
      }, "the earliest matching event");
      await assertUnchanged(store, "order-1", before, "park() that found an event");
      const second = await store.park(lease, waitFor({ after: 2 }));
      assert.ok(!second.parked, "the next approval");
      assertEvent(second.event, { seq: 3, name: "approved", payload: { by: "bo" }, at: t3 }, "");
      const either = await store.park(lease, waitFor({ events: ["approved", "comment"] }));
      assert.ok(!either.parked);
      assertEvent(either.event, { seq: 1, name: "comment", payload: "looks fine", at: t1 }, "");
      // The lease still holds: the run goes on, then parks once every approval is consumed.
      await store.append("order-1", row(1, { state: "approval" }), lease);
      await store.renew(lease);
      assert.deepEqual(await store.park(lease, waitFor({ after: 3 })), { parked: true });
      assert.equal((await requireRun(store, "order-1")).status, "waiting");
    },
  );

  addWait("park() with a stale lease is refused", async ({ store, clock }) => {
    const old = await running(store, "order-1");
    clock.expire(old.leaseUntil);
    const taken = await claim(store, "order-1", "resume", "worker-2");
    let before = await snapshot(store, "order-1");
    await refuses(() => store.park(old, waitFor()), OwnershipLostError, "park() after a takeover");
    await assertUnchanged(store, "order-1", before, "the stale park()");
    const cleared = await running(store, "cleared");
    await store.clear("cleared");
    await refuses(() => store.park(cleared, waitFor()), OwnershipLostError, "after clear()");
    assert.equal(await store.getRun("cleared"), undefined, "park() wrote no record");
    const done = await running(store, "done");
    await store.finish(done, { status: "completed" });
    await refuses(() => store.park(done, waitFor()), OwnershipLostError, "after finish()");
    await store.sendEvent("order-1", "approved", null);
    await refuses(
      () => store.park(old, waitFor()),
      OwnershipLostError,
      "a stale lease, with a matching event in the inbox",
    );
    // Bad requests and leases: refused, nothing written.
    before = await snapshot(store, "order-1");
    const bad: [string, unknown][] = [
      ["no request", undefined],
      ["no events", waitFor({ events: [] })],
      ["events not an array", { ...waitFor(), events: "approved" }],
      ["an empty event name", waitFor({ events: [""] })],
      ["a non-string event name", waitFor({ events: [42 as unknown as string] })],
      ["a long event name", waitFor({ events: ["x".repeat(201)] })],
      ["until NaN", waitFor({ until: NaN })],
      ["until a Date", waitFor({ until: new Date() as unknown as number })],
      ["after -1", waitFor({ after: -1 })],
      ["after 1.5", waitFor({ after: 1.5 })],
      ["after past the last event", waitFor({ after: 2 })],
      ["state not a string", { ...waitFor(), state: 7 }],
    ];
    for (const [what, request] of bad) {
      await refuses(
        () => store.park(taken.lease, request as ParkRequest),
        CheckpointStoreError,
        `park() with ${what}`,
      );
    }
    for (const lease of [undefined, null, {}, "order-1"]) {
      await refuses(
        () => store.park(lease as unknown as RunLease, waitFor()),
        CheckpointStoreError,
        `park(${JSON.stringify(lease) ?? "undefined"})`,
      );
    }
    await assertUnchanged(store, "order-1", before, "the refused park() calls");
    const found = await store.park(taken.lease, waitFor());
    assert.ok(!found.parked && found.event.seq === 1, "the new owner's park() takes the event");
  });

  addWait("park() under a pending cancel is refused with CancelledError", async ({ store }) => {
    const lease = await running(store, "order-1");
    await store.sendEvent("order-1", "approved", 1);
    await store.requestCancel("order-1", "customer left");
    const before = await snapshot(store, "order-1");
    const error = await refuses(
      () => store.park(lease, waitFor()),
      CancelledError,
      "park() after a cancel request",
      "customer left",
    );
    assert.equal((error as CanoError).category, "cancelled");
    assert.equal(lease.cancel, "customer left", "the refusal set lease.cancel");
    await assertUnchanged(store, "order-1", before, "the refused park()");
    await refuses(() => store.park(lease, waitFor()), CancelledError, "a second park()");
    // The rollback goes on under the same lease.
    await store.append("order-1", row(1, { kind: "rollback", taskId: "", output: {} }), lease);
    await store.finish(lease, { status: "completed" });
    assert.equal(await store.getRun("order-1"), undefined);
    // A request the lease already saw (polled) refuses it too.
    const polled = await running(store, "polled");
    await store.requestCancel("polled", "stop");
    assert.equal(await store.pollCancel(polled), "stop");
    await refuses(() => store.park(polled, waitFor()), CancelledError, "after pollCancel()");
    assert.equal((await requireRun(store, "polled")).status, "running");
  });

  addWait(
    "claim() of a waiting run returns its events and clears wait",
    async ({ store, clock }) => {
      const lease = await running(store, "order-1");
      await store.park(lease, waitFor({ until: clock.now() + 100 * LEASE_MS }));
      // Not due, but nobody holds it: a claim takes it at once.
      await refuses(() => claim(store, "order-1", "start"), RunExistsError, "start").then(
        (error) => assert.equal((error as RunExistsError).status, "waiting"),
      );
      const t1 = clock.advance(1);
      await store.sendEvent("order-1", "comment", "note", { eventId: "c-1" });
      const t2 = clock.advance(1);
      await store.sendEvent("order-1", "approved", { by: "ana" });
      const takenAt = clock.advance(1);
      const taken = await claim(store, "order-1", "resume", "worker-2");
      assert.equal(taken.created, false);
      assert.equal(taken.rows.length, 1, "the rows");
      assert.equal(taken.lease.sequence, 1);
      const events = taken.events ?? [];
      assert.equal(events.length, 2, "ClaimResult.events holds the inbox");
      assertEvent(events[0], {
        seq: 1,
        name: "comment",
        payload: "note",
        eventId: "c-1",
        at: t1,
      }, "events[0]");
      assertEvent(events[1], { seq: 2, name: "approved", payload: { by: "ana" }, at: t2 }, "[1]");
      const info = await requireRun(store, "order-1");
      assert.equal(info.status, "running", "the takeover ends the wait");
      assert.equal(info.wait, undefined, "wait is cleared");
      assert.equal(info.owner, "worker-2");
      assert.equal(info.leaseUntil.getTime(), takenAt + LEASE_MS, "a normal lease");
      await store.append("order-1", row(1), taken.lease);
      // The inbox stays: the next park sees the events after `after`.
      const next = await store.park(taken.lease, waitFor({ after: 1 }));
      assert.ok(!next.parked && next.event.seq === 2, "the inbox survives the claim");
      // startOrResume takes a waiting run too; a run without events returns none.
      const quiet = await running(store, "quiet");
      await store.park(quiet, waitFor());
      const resumed = await claim(store, "quiet", "startOrResume", "worker-3");
      assert.equal(resumed.created, false);
      assert.deepEqual(resumed.events ?? [], [], "no events");
      assert.equal((await requireRun(store, "quiet")).status, "running");
      // A rollback parked: the claim resumes the rollback.
      const saga = await running(store, "saga");
      await store.append("saga", row(1, { kind: "rollback", taskId: "", output: {} }), saga);
      await store.park(saga, waitFor({ state: "undo" }));
      assert.equal((await requireRun(store, "saga")).status, "waiting");
      assert.equal((await store.requestCancel("saga")).outcome, "rolling_back", "no cancel");
      await claim(store, "saga", "resume", "worker-4");
      assert.equal((await requireRun(store, "saga")).status, "rolling_back");
    },
  );

  addWait("listExpired() lists a waiting run only once it is due", async ({ store, clock }) => {
    const deadline = await running(store, "deadline");
    const until = clock.now() + 5 * LEASE_MS;
    await store.park(deadline, waitFor({ until }));
    const forever = await running(store, "forever");
    await store.park(forever, waitFor());
    const woken = await running(store, "woken");
    await store.park(woken, waitFor({ until: clock.now() + 50 * LEASE_MS }));
    const healthy = await running(store, "healthy");
    assert.deepEqual(await expiredIds(store), [], "nothing is due");
    const at = clock.advance(10);
    await store.sendEvent("woken", "approved", 1);
    assert.deepEqual(await expiredIds(store), ["woken"], "an event made it due");
    const [listed] = (await store.listExpired()).runs;
    assert.equal(listed?.status, "waiting");
    assert.equal(listed?.leaseUntil.getTime(), at);
    assert.deepEqual(listed?.wait?.events, ["approved"], "with what it waited for");
    clock.expire(until);
    assert.deepEqual(
      await expiredIds(store),
      ["woken", "healthy", "deadline"],
      "by due time: the event, the expired lease, the deadline",
    );
    assert.deepEqual(await expiredIds(store, until - 1), ["woken", "healthy"], "`now` bounds it");
    const far = START + 3_650 * 86_400_000;
    assert.ok(!(await expiredIds(store, far)).includes("forever"), "no deadline: never due");
    await store.requestCancel("forever", "stop");
    assert.ok((await expiredIds(store)).includes("forever"), "a cancel request makes it due");
    await claim(store, "woken", "resume", "worker-2");
    assert.ok(!(await expiredIds(store)).includes("woken"), "claimed, it leaves the listing");
    assert.equal((await requireRun(store, "healthy")).owner, healthy.owner, "expired, not taken");
  });

  addWait(
    'listRuns({ status: "waiting" }) shows what it waits for and until when',
    async ({ store, clock }) => {
      const until = clock.now() + 7 * LEASE_MS;
      const a = await running(store, "a-wait");
      await store.park(a, waitFor({ events: ["approved", "rejected"], until }));
      const b = await running(store, "b-wait", "shipping");
      await store.park(b, waitFor({ state: "shipping", events: ["shipped"] }));
      await running(store, "c-run");
      const failed = await running(store, "d-failed");
      await store.finish(failed, { status: "failed", error: "x" });
      const { runs, cursor } = await store.listRuns({ status: "waiting" });
      assert.equal(cursor, undefined);
      assert.deepEqual(idsOf(runs), ["a-wait", "b-wait"], "only the waiting runs");
      const [first, second] = runs;
      assert.equal(first?.status, "waiting");
      assert.deepEqual(first?.wait?.events, ["approved", "rejected"]);
      assert.equal(first?.wait?.until?.getTime(), until);
      assert.equal(first?.wait?.state, "approval");
      assert.equal(second?.wait?.state, "shipping");
      assert.equal(second?.wait?.until, undefined);
      assert.equal(second?.state, "shipping");
      const paged = await store.listRuns({ status: "waiting", limit: 1 });
      assert.deepEqual(idsOf(paged.runs), ["a-wait"]);
      const rest = await store.listRuns({ status: "waiting", cursor: paged.cursor });
      assert.deepEqual(idsOf(rest.runs), ["b-wait"]);
      const all = await store.listRuns();
      assert.deepEqual(idsOf(all.runs), ["a-wait", "b-wait", "c-run", "d-failed"]);
      assert.deepEqual(all.runs.map((run) => run.wait !== undefined), [true, true, false, false]);
      assert.deepEqual(idsOf((await store.listRuns({ status: "running" })).runs), ["c-run"]);
      await claim(store, "a-wait", "resume", "worker-2");
      assert.deepEqual(idsOf((await store.listRuns({ status: "waiting" })).runs), ["b-wait"]);
      assert.deepEqual(idsOf((await store.listRuns({ status: "running" })).runs), [
        "a-wait",
        "c-run",
      ]);
    },
  );

  addWait("requestCancel() of a waiting run makes it due", async ({ store, clock }) => {
    const lease = await running(store, "order-1");
    await store.park(lease, waitFor({ until: clock.now() + 100 * LEASE_MS }));
    const at = clock.advance(10);
    const result = await store.requestCancel("order-1", "customer left");
    assert.equal(result.outcome, "requested");
    assert.equal(result.run?.status, "waiting");
    assert.equal(result.run?.cancel?.reason, "customer left");
    assert.equal(result.run?.leaseUntil.getTime(), at, "due at once");
    assert.equal((await requireRun(store, "order-1")).leaseUntil.getTime(), at);
    assert.deepEqual(await expiredIds(store), ["order-1"], "listExpired() lists it");
    assert.equal((await store.requestCancel("order-1", "again")).outcome, "already_requested");
    const sent = await store.sendEvent("order-1", "approved", 1);
    assert.equal(sent.outcome, "queued", "a cancelled run is not woken by an event");
    clock.advance(10);
    const taken = await claim(store, "order-1", "resume", "worker-2");
    assert.equal(taken.lease.cancel, "customer left", "the claimer rolls it back");
    await refuses(
      () => store.append("order-1", row(1), taken.lease),
      CancelledError,
      "a forward row",
    );
    await store.append(
      "order-1",
      row(1, { kind: "rollback", taskId: "", output: {} }),
      taken.lease,
    );
    await store.finish(taken.lease, { status: "completed" });
    assert.equal(await store.getRun("order-1"), undefined);
  });

  addWait("noteRun(), finish() and clear() with a parked run", async ({ store }) => {
    const lease = await running(store, "order-1");
    await store.park(lease, waitFor());
    assert.equal(await store.noteRun("order-1", "no definition"), true, "nobody holds it");
    const noted = await requireRun(store, "order-1");
    assert.equal(noted.error, "no definition");
    assert.equal(noted.status, "waiting", "a note changes nothing else");
    assert.deepEqual(noted.wait?.events, ["approved"]);
    await store.sendEvent("order-1", "approved", 1, { eventId: "k" });
    const taken = await claim(store, "order-1", "resume", "worker-2");
    assert.equal((await requireRun(store, "order-1")).error, undefined, "a claim drops it");
    await store.finish(taken.lease, { status: "failed", error: "boom" });
    await refuses(
      () => store.sendEvent("order-1", "approved", 2),
      EventRefusedError,
      "a failed run",
    );
    // A failed run keeps its inbox for the run that resumes it.
    const retried = await claim(store, "order-1", "resume", "worker-3");
    assert.deepEqual((retried.events ?? []).map((event) => event.eventId), ["k"]);
    await store.park(retried.lease, waitFor({ after: 1 }));
    await store.clear("order-1");
    assert.equal(await store.getRun("order-1"), undefined);
    await refuses(
      () => store.sendEvent("order-1", "approved", 3),
      EventRefusedError,
      "a cleared run",
    );
    const fresh = await running(store, "order-1");
    const reused = await store.sendEvent("order-1", "approved", 4, { eventId: "k" });
    assert.equal(reused.outcome, "queued", "clear() took the eventIds too");
    const found = await store.park(fresh, waitFor());
    assert.ok(!found.parked && found.event.seq === 1, "a fresh inbox, from seq 1");
  });
}
