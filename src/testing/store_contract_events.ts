// The store contract's sendEvent() cases: delivered to a waiting run, queued before the wait,
// duplicates by eventId, refusals (no record, failed, a full inbox) and bad input, and senders
// racing each other and the owner. Registered like the wait cases (see store_contract_wait.ts).

import assert from "node:assert/strict";
import { CheckpointStoreError } from "../errors.ts";
import type { RunStore, SendEventResult } from "../recovery/checkpoint.ts";
import { jsonCodec } from "../recovery/codec.ts";
import { EventRefusedError } from "../recovery/run_errors.ts";
import { MAX_INBOX, MAX_PAYLOAD_BYTES } from "../recovery/run_events.ts";
import {
  type Add,
  assertUnchanged,
  claim,
  LEASE_MS,
  refuses,
  requireRun,
  row,
  snapshot,
} from "./store_contract_harness.ts";
import {
  assertEvent,
  expiredIds,
  inboxOf,
  running,
  waitAdder,
  waitFor,
  type WaitMode,
} from "./store_contract_wait.ts";

/**
 * Registers the `sendEvent` cases.
 *
 * @param add Registers one case.
 * @param mode Whether the store must have the wait methods (see {@link WaitMode}).
 */
export function eventCases(add: Add, mode: WaitMode): void {
  const addWait = waitAdder(add, mode);
  if (addWait === undefined) return;
  addWait(
    "sendEvent() to a waiting run makes it due (delivered)",
    async ({ store, clock }) => {
      const lease = await running(store, "order-1");
      const until = clock.now() + 100 * LEASE_MS;
      await store.park(lease, waitFor({ until, events: ["approved", "rejected"] }));
      const other = await store.sendEvent("order-1", "comment", "hi");
      assert.equal(other.outcome, "queued", "an event the wait does not take");
      assert.equal(other.run.leaseUntil.getTime(), until, "not due");
      assert.deepEqual(await expiredIds(store), []);
      const at = clock.advance(50);
      const sent = await store.sendEvent("order-1", "rejected", { why: "budget" });
      assert.equal(sent.outcome, "delivered");
      assert.equal(sent.run.id, "order-1");
      assert.equal(sent.run.status, "waiting", "still parked until claimed");
      assert.equal(sent.run.owner, undefined);
      assert.equal(sent.run.leaseUntil.getTime(), at, "due now");
      assert.deepEqual(sent.run.wait?.events, ["approved", "rejected"], "the wait is shown");
      const info = await requireRun(store, "order-1");
      assert.equal(info.leaseUntil.getTime(), at, "getRun() shows it due");
      assert.deepEqual(await expiredIds(store), ["order-1"], "listExpired() lists it");
      // The run has its event: a second one the wait takes is queued for later.
      clock.advance(10);
      const again = await store.sendEvent("order-1", "approved", null);
      assert.equal(again.outcome, "queued", "the run was woken already");
      assert.equal(again.run.leaseUntil.getTime(), at, "its due time stays");
      assert.deepEqual(
        (await inboxOf(store, "order-1")).map((event) => [event.seq, event.name]),
        [[1, "comment"], [2, "rejected"], [3, "approved"]],
      );
      // After the deadline passed, an event it waits for is still delivered.
      const late = await running(store, "late");
      await store.park(late, waitFor({ until: clock.now() + 10 }));
      assert.ok(!(await expiredIds(store)).includes("late"), "not due before its deadline");
      const past = clock.advance(100);
      assert.ok((await expiredIds(store)).includes("late"), "due at its deadline");
      const delivered = await store.sendEvent("late", "approved", undefined);
      assert.equal(delivered.outcome, "delivered");
      assert.ok(delivered.run.leaseUntil.getTime() < past, "due since the deadline");
      const [event] = await inboxOf(store, "late");
      assert.equal(event?.payload, undefined, "an event without a payload");
      assert.equal(event?.eventId, undefined);
    },
  );

  addWait("sendEvent() before the wait queues it", async ({ store, clock }) => {
    const lease = await running(store, "order-1");
    const at = clock.advance(5);
    const sent = await store.sendEvent("order-1", "approved", { by: "ana" });
    assert.equal(sent.outcome, "queued", "the run is not waiting yet");
    assert.equal(sent.run.status, "running");
    assert.equal(sent.run.owner, "worker-1", "the owner keeps the run");
    assert.equal(sent.run.leaseUntil.getTime(), lease.leaseUntil, "its lease is unchanged");
    // The owner's writes go on, events arriving between them.
    await store.append("order-1", row(1, { state: "approval" }), lease);
    await store.sendEvent("order-1", "comment", 1);
    clock.advance(5);
    await store.renew(lease);
    await store.sendEvent("order-1", "comment", 2);
    assert.equal(await store.pollCancel(lease), undefined, "no cancel: events are no request");
    await store.sendEvent("order-1", "comment", 3);
    await store.append("order-1", row(2, { state: "approval" }), lease);
    const info = await requireRun(store, "order-1");
    assert.equal(info.owner, "worker-1");
    assert.equal(info.status, "running");
    const found = await store.park(lease, waitFor());
    assert.ok(!found.parked, "the wait takes the event sent before it");
    assertEvent(found.event, { seq: 1, name: "approved", payload: { by: "ana" }, at }, "");
    // A released run (nobody holds it, not waiting) queues too.
    await store.release(lease);
    const released = await store.sendEvent("order-1", "approved", "again");
    assert.equal(released.outcome, "queued");
    assert.equal(released.run.status, "running");
  });

  addWait("sendEvent() with a repeated eventId is a no-op", async ({ store }) => {
    const lease = await running(store, "order-1");
    const first = await store.sendEvent("order-1", "approved", { n: 1 }, { eventId: "k-1" });
    assert.equal(first.outcome, "queued");
    const before = await snapshot(store, "order-1");
    const again = await store.sendEvent("order-1", "approved", { n: 2 }, { eventId: "k-1" });
    assert.equal(again.outcome, "duplicate");
    assert.equal(again.run.id, "order-1", "the result shows the run");
    const renamed = await store.sendEvent("order-1", "rejected", null, { eventId: "k-1" });
    assert.equal(renamed.outcome, "duplicate", "the eventId decides, not the name");
    await assertUnchanged(store, "order-1", before, "the duplicates");
    // Consumed, it stays a duplicate.
    const taken = await store.park(lease, waitFor());
    assert.ok(!taken.parked && taken.event.seq === 1);
    await store.park(lease, waitFor({ after: 1 }));
    const late = await store.sendEvent("order-1", "approved", { n: 3 }, { eventId: "k-1" });
    assert.equal(late.outcome, "duplicate", "after it was consumed");
    assert.equal(late.run.status, "waiting", "and it does not wake the run");
    assert.ok(late.run.leaseUntil.getTime() > Date.UTC(9999, 0), "not due");
    const other = await store.sendEvent("order-1", "approved", { n: 4 }, { eventId: "k-2" });
    assert.equal(other.outcome, "delivered", "another eventId is another event");
    // Without an eventId, every send is an event; an eventId belongs to one run.
    const plainLease = await running(store, "plain");
    assert.equal((await store.sendEvent("plain", "x", 1)).outcome, "queued");
    assert.equal((await store.sendEvent("plain", "x", 1)).outcome, "queued");
    assert.equal((await store.sendEvent("plain", "x", 1, { eventId: "k-1" })).outcome, "queued");
    assert.equal((await store.sendEvent("plain", "x", 1, {})).outcome, "queued");
    await store.release(plainLease);
    assert.deepEqual((await inboxOf(store, "order-1")).map((event) => event.payload), [
      { n: 1 },
      { n: 4 },
    ]);
    const plain = await inboxOf(store, "plain");
    assert.deepEqual(plain.map((event) => [event.seq, event.eventId]), [
      [1, undefined],
      [2, undefined],
      [3, "k-1"],
      [4, undefined],
    ]);
  });

  addWait(
    "sendEvent() to an unknown, finished or failed run is refused with EventRefusedError",
    async ({ store }) => {
      const expectRefusal = async (id: string, reason: string, what: string) => {
        const error = await refuses(
          () => store.sendEvent(id, "approved", { by: "ana" }),
          EventRefusedError,
          what,
          `"${id}"`,
        ) as EventRefusedError;
        assert.equal(error.category, "conflict", `${what}: the category`);
        assert.equal(error.id, id, `${what}: error.id`);
        assert.equal(error.reason, reason, `${what}: error.reason`);
        assert.match(error.message, /"approved"/, `${what}: the message names the event`);
      };
      await expectRefusal("nothing", "not_found", "an unknown run");
      await store.append("log-only", row(0));
      await expectRefusal("log-only", "not_found", "a log without a record");
      assert.equal(await store.getRun("log-only"), undefined, "no record was created");
      const done = await running(store, "done");
      await store.sendEvent("done", "approved", 1, { eventId: "k" });
      await store.finish(done, { status: "completed" });
      await expectRefusal("done", "not_found", "a completed run");
      const failed = await running(store, "failed");
      await store.finish(failed, { status: "failed", error: "card declined" });
      const before = await snapshot(store, "failed");
      await expectRefusal("failed", "failed", "a failed run");
      await assertUnchanged(store, "failed", before, "the refused event");
      // A run started again under a finished id starts with an empty inbox.
      const again = await claim(store, "done", "start");
      assert.deepEqual(again.events ?? [], [], "no events of the finished run");
      const reused = await store.sendEvent("done", "approved", 2, { eventId: "k" });
      assert.equal(reused.outcome, "queued", "the finished run's eventIds are gone too");
    },
  );

  addWait(
    "sendEvent() refuses bad names, ids, unencodable and oversized payloads",
    async ({ store }) => {
      const lease = await running(store, "order-1");
      const before = await snapshot(store, "order-1");
      const names: unknown[] = ["", 42, undefined, null, "x".repeat(201), "a\ud800", {}];
      for (const name of names) {
        await refuses(
          () => store.sendEvent("order-1", name as string, 1),
          CheckpointStoreError,
          `sendEvent() named ${JSON.stringify(name) ?? "undefined"}`,
        );
      }
      const ids: unknown[] = ["", 42, null, "k".repeat(201), "\udc00"];
      for (const eventId of ids) {
        await refuses(
          () => store.sendEvent("order-1", "approved", 1, { eventId: eventId as string }),
          CheckpointStoreError,
          `sendEvent() with eventId ${JSON.stringify(eventId)}`,
        );
      }
      for (const options of ["k", 42, null]) {
        await refuses(
          () => store.sendEvent("order-1", "approved", 1, options as never),
          CheckpointStoreError,
          `sendEvent() with options ${JSON.stringify(options)}`,
        );
      }
      for (const id of [42, "", "a\ud800b", undefined]) {
        await refuses(
          () => store.sendEvent(id as string, "approved", 1),
          CheckpointStoreError,
          `sendEvent(${JSON.stringify(id) ?? "undefined"})`,
        );
      }
      // The payload goes through the store's codec, like run data.
      const unencodable = { at: new Map([["a", 1]]) };
      if (store.codec === jsonCodec || codecRefuses(store, unencodable)) {
        await refuses(
          () => store.sendEvent("order-1", "approved", unencodable),
          CheckpointStoreError,
          "a payload the codec refuses",
          store.codec === jsonCodec ? "payload.at" : undefined,
        );
      }
      // At most 16 KiB as the codec encodes it.
      const sized = (bytes: number): string => {
        const overhead = utf8(store.codec.stringify("", "payload"));
        return "x".repeat(bytes - overhead);
      };
      const error = await refuses(
        () => store.sendEvent("order-1", "approved", sized(MAX_PAYLOAD_BYTES + 1)),
        CheckpointStoreError,
        "a payload over 16 KiB",
        String(MAX_PAYLOAD_BYTES),
      );
      assert.match(error.message, new RegExp(String(MAX_PAYLOAD_BYTES + 1)), "names the size");
      await assertUnchanged(store, "order-1", before, "the refused sends");
      const fits = await store.sendEvent("order-1", "approved", sized(MAX_PAYLOAD_BYTES));
      assert.equal(fits.outcome, "queued", "a payload of exactly 16 KiB");
      await store.release(lease);
      const [event] = await inboxOf(store, "order-1");
      assert.equal(event?.payload, sized(MAX_PAYLOAD_BYTES), "kept whole");
    },
  );

  addWait("sendEvent() refuses an event beyond a full inbox", async ({ store }) => {
    const lease = await running(store, "order-1");
    for (let n = 1; n <= MAX_INBOX; n++) {
      const sent = await store.sendEvent("order-1", "tick", n, { eventId: `t-${n}` });
      assert.equal(sent.outcome, "queued", `event ${n}`);
    }
    const before = await snapshot(store, "order-1");
    const error = await refuses(
      () => store.sendEvent("order-1", "tick", 65),
      EventRefusedError,
      "the event after a full inbox",
      String(MAX_INBOX),
    ) as EventRefusedError;
    assert.equal(error.reason, "inbox_full");
    assert.equal(error.id, "order-1");
    const repeat = await store.sendEvent("order-1", "tick", 1, { eventId: "t-1" });
    assert.equal(repeat.outcome, "duplicate", "a repeated delivery is still a no-op");
    await assertUnchanged(store, "order-1", before, "the refused event");
    await store.release(lease);
    const events = await inboxOf(store, "order-1");
    assert.equal(events.length, MAX_INBOX, "every event is kept");
    assert.deepEqual(events.map((event) => event.seq), events.map((_, i) => i + 1), "seq order");
  });

  addWait(
    "concurrent sendEvent() calls keep every event, each with its own seq",
    async ({ store }) => {
      const lease = await running(store, "order-1");
      await store.park(lease, waitFor({ events: ["go"] }));
      const sends: Promise<SendEventResult>[] = [
        store.sendEvent("order-1", "note", 1),
        store.sendEvent("order-1", "go", "a"),
        store.sendEvent("order-1", "note", 2, { eventId: "same" }),
        store.sendEvent("order-1", "go", "b"),
        store.sendEvent("order-1", "note", 3, { eventId: "same" }),
        store.sendEvent("order-1", "note", 4),
      ];
      const results = await Promise.all(sends);
      const outcomes = results.map((result) => result.outcome);
      assert.equal(outcomes.filter((o) => o === "duplicate").length, 1, `${outcomes}`);
      assert.equal(outcomes.filter((o) => o === "delivered").length, 1, `one wakes it`);
      assert.equal(outcomes.filter((o) => o === "queued").length, 4, `${outcomes}`);
      const events = await inboxOf(store, "order-1");
      assert.deepEqual(events.map((event) => event.seq), [1, 2, 3, 4, 5], "dense, distinct seqs");
      assert.deepEqual(
        events.map((event) => event.name).sort(),
        ["go", "go", "note", "note", "note"],
        "every event but the duplicate",
      );
      assert.equal(events.filter((event) => event.eventId === "same").length, 1);
      // Events racing the owner's writes never cost it the run.
      const owner = await running(store, "owned");
      const racing = Promise.all([0, 1, 2].map((n) => store.sendEvent("owned", "note", n)));
      for (let step = 1; step <= 4; step++) {
        if (step % 2 === 0) await store.renew(owner);
        else await store.append("owned", row(owner.sequence, { state: "approval" }), owner);
      }
      await racing;
      const info = await requireRun(store, "owned");
      assert.equal(info.owner, "worker-1", "the owner keeps the run");
      assert.equal((await store.loadRun("owned")).length, owner.sequence, "the log is the lease's");
      const parked = await store.park(owner, waitFor({ events: ["go"] }));
      assert.deepEqual(parked, { parked: true });
      assert.deepEqual((await inboxOf(store, "owned")).map((event) => event.seq), [1, 2, 3]);
    },
  );
}

function utf8(text: string): number {
  return new TextEncoder().encode(text).length;
}

function codecRefuses(store: RunStore, value: unknown): boolean {
  try {
    store.codec.stringify(value, "payload");
    return false;
  } catch {
    return true;
  }
}
