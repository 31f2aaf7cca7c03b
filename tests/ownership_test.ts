// Run ownership in one process: claims, leases, heartbeats and fencing. Two resumers of one run,
// staggered or simultaneous, a takeover while a task is in flight, and a lease that cannot be
// renewed — in every case exactly one process executes each state, and the loser stops dead: no
// compensation, no write. Fake time drives every lease.

import assert from "node:assert/strict";
import {
  type CheckpointRow,
  type CheckpointStore,
  MemoryCheckpointStore,
  OwnershipLostError,
  type RunLease,
  RunOwnedError,
  type RunStore,
  TaskConfig,
  Workflow,
} from "../mod.ts";
import { KvCheckpointStore } from "../kv.ts";
import { abandonedRun, gate, RecordingStore, row, untilAborted } from "./_checkpoint_helpers.ts";
import { FakeTime } from "../testing.ts";

type Step = "reserve" | "charge" | "ship" | "notify" | "done";
interface Order {
  id: string;
}

/** Side effects of an order saga, by process, so a test can tell who did what. */
class Journal {
  readonly lines: string[] = [];
  push(process: string, line: string): void {
    this.lines.push(`${process} ${line}`);
  }
  of(process: string): string[] {
    return this.lines.filter((l) => l.startsWith(`${process} `)).map((l) =>
      l.slice(process.length + 1)
    );
  }
  count(line: string): number {
    return this.lines.filter((l) => l.endsWith(` ${line}`)).length;
  }
}

interface SagaOptions {
  /** Runs inside "ship" (after its journal line). */
  ship?: (ctx: { signal: AbortSignal }) => Promise<void> | void;
  /** Makes "ship" fail for good. */
  failShip?: boolean;
}

/** An order saga as one process runs it: every side effect goes to the journal. */
function orderSaga(
  process: string,
  journal: Journal,
  store: CheckpointStore,
  options: SagaOptions = {},
): Workflow<Step, Order> {
  const step = (name: "reserve" | "charge", next: Step) => ({
    name,
    config: TaskConfig.minimal(),
    run: (ctx: { data: Order }) => {
      journal.push(process, `${name}:run`);
      return { next, output: { ref: `${name}-${ctx.data.id}` } };
    },
    compensate: (_ctx: unknown, output: { ref: string }) => {
      journal.push(process, `${name}:undo ${output.ref}`);
    },
  });
  return new Workflow<Step, Order>({ name: "order" })
    .registerWithCompensation("reserve", step("reserve", "charge"))
    .registerWithCompensation("charge", step("charge", "ship"))
    .register("ship", async (ctx) => {
      journal.push(process, "ship:start");
      await options.ship?.(ctx);
      if (options.failShip) throw new Error("courier refused the parcel");
      journal.push(process, "ship:done");
      return "notify";
    }, { config: TaskConfig.minimal() })
    .register("notify", () => {
      journal.push(process, "notify:run");
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store);
}

/** The log a process leaves when it dies inside "ship": reserve and charge done, ship entered. */
const CRASHED_IN_SHIP: CheckpointRow[] = [
  row(0, "reserve", { data: { id: "42" } }),
  row(1, "reserve", { kind: "compensation_completion", output: { ref: "reserve-42" } }),
  row(2, "charge", { data: { id: "42" } }),
  row(3, "charge", { kind: "compensation_completion", output: { ref: "charge-42" } }),
  row(4, "ship", { data: { id: "42" } }),
];

/** Read through a call, so an earlier assertion does not narrow the type. */
function reasonOf(seen: { reason?: unknown }): unknown {
  return seen.reason;
}

/** Records every store call made after `mark()`, to prove a process wrote nothing. */
function spyOn(store: RunStore): { calls: string[]; mark(): void } {
  const calls: string[] = [];
  let marked = false;
  for (const method of ["append", "renew", "release", "finish", "clear", "claim"] as const) {
    const original = (store[method] as (...args: unknown[]) => Promise<unknown>).bind(store);
    (store as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
      if (marked) calls.push(method);
      return original(...args);
    };
  }
  return { calls, mark: () => marked = true };
}

Deno.test("Workflow.resumeFrom() from two processes at once: exactly one executes each state and the loser compensates nothing", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  for (const failShip of [false, true]) {
    const store = new MemoryCheckpointStore({ leaseMs: 5_000 });
    await abandonedRun(store, "order-42", CRASHED_IN_SHIP, { workflow: "order" });
    await time.tickAsync(5_001); // the dead owner's lease runs out
    const journal = new Journal();
    const a = orderSaga("A", journal, store, { failShip });
    const b = orderSaga("B", journal, store, { failShip });
    const outcomes = await Promise.allSettled([a.resumeFrom("order-42"), b.resumeFrom("order-42")]);
    const losers = outcomes.filter((o) =>
      o.status === "rejected" && o.reason instanceof RunOwnedError
    );
    assert.equal(losers.length, 1, JSON.stringify(outcomes.map((o) => o.status)));
    const winner = outcomes[0] === losers[0] ? "B" : "A";
    const loser = winner === "A" ? "B" : "A";
    assert.deepEqual(journal.of(loser), [], "the loser ran nothing and compensated nothing");
    if (failShip) {
      assert.deepEqual(journal.of(winner), [
        "ship:start",
        "charge:undo charge-42",
        "reserve:undo reserve-42",
      ]);
    } else {
      assert.deepEqual(journal.of(winner), ["ship:start", "ship:done", "notify:run"]);
    }
    assert.deepEqual(await store.loadRun("order-42"), []);
    assert.equal(await store.getRun("order-42"), undefined);
  }
});

Deno.test("Workflow.resumeFrom() of a run another process is working on fails with RunOwnedError and runs nothing", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new MemoryCheckpointStore({ leaseMs: 30_000 });
  await abandonedRun(store, "order-42", CRASHED_IN_SHIP, { workflow: "order" });
  await time.tickAsync(30_001);
  const journal = new Journal();
  const shipping = gate();
  const first = orderSaga("A", journal, store, { ship: () => shipping.promise })
    .resumeFrom("order-42");
  await time.tickAsync(0);
  assert.deepEqual(journal.of("A"), ["ship:start"]);
  // Staggered by much less than a state: the second resumer finds a live owner.
  for (const delay of [1, 20_000, 45_000]) {
    await time.tickAsync(delay);
    await assert.rejects(
      orderSaga("B", journal, store).resumeFrom("order-42"),
      (error: unknown) => {
        assert.ok(error instanceof RunOwnedError);
        assert.equal(error.category, "conflict");
        assert.equal(error.id, "order-42");
        assert.match(error.owner, /^deno-\d+-/);
        assert.ok(error.leaseUntil.getTime() > Date.now(), "the heartbeat keeps the lease ahead");
        return true;
      },
    );
  }
  shipping.open();
  const result = await first;
  assert.equal(result.state, "done");
  assert.deepEqual(result.path, ["reserve", "charge", "ship", "notify", "done"]);
  assert.deepEqual(journal.of("B"), []);
  assert.deepEqual(journal.of("A"), ["ship:start", "ship:done", "notify:run"]);
});

Deno.test("Workflow.resumeFrom() on a rows-only store keeps two resumers in one process apart", async () => {
  const store = new RecordingStore();
  for (const r of CRASHED_IN_SHIP) await store.inner.append("order-42", r);
  const journal = new Journal();
  const shipping = gate();
  const first = orderSaga("A", journal, store, { ship: () => shipping.promise })
    .resumeFrom("order-42");
  await assert.rejects(orderSaga("B", journal, store).resumeFrom("order-42"), RunOwnedError);
  shipping.open();
  assert.equal((await first).state, "done");
  assert.deepEqual(journal.of("B"), []);
  assert.equal(journal.count("ship:done"), 1);
});

/**
 * One store seen by two processes: `b()` is the store as a process whose clock runs `skew` ms
 * ahead sees it (clock skew between hosts, or a process that was paused), so it finds A's lease
 * expired while A still works.
 */
function twoProcesses(skew: number, leaseMs = 3_000): { a: RunStore; b: () => RunStore } {
  let offset = 0;
  const store = new MemoryCheckpointStore({ leaseMs, now: () => Date.now() + offset });
  const b = (): RunStore =>
    new Proxy(store, {
      get(target, key) {
        const value = Reflect.get(target, key, target);
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          offset = skew;
          try {
            return value.apply(target, args);
          } finally {
            offset = 0;
          }
        };
      },
    });
  return { a: store, b };
}

Deno.test("Workflow.orchestrate() that lost its run to another process stops at its next append: no compensation, no write", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  // B's clock runs ahead (skew between hosts): it sees A's lease as expired while A still works.
  const stores = twoProcesses(10_000);
  const journal = new Journal();
  const shipping = gate();
  // A's "ship" ignores its signal: only the fenced append can stop it.
  const a = orderSaga("A", journal, stores.a, { ship: () => shipping.promise });
  const running = a.orchestrate("reserve", { id: "order-42", data: { id: "42" } });
  const outcome = running.then(() => "completed", (error: unknown) => error);
  await time.tickAsync(0);
  assert.deepEqual(journal.of("A"), ["reserve:run", "charge:run", "ship:start"]);
  const taken = await orderSaga("B", journal, stores.b()).resumeFrom("order-42");
  assert.equal(taken.state, "done");
  const spy = spyOn(stores.a);
  spy.mark();
  shipping.open();
  const error = await outcome;
  assert.ok(error instanceof OwnershipLostError, String(error));
  assert.equal(error.category, "ownership_lost");
  assert.equal(error.id, "order-42");
  assert.deepEqual(journal.of("A"), ["reserve:run", "charge:run", "ship:start", "ship:done"]);
  assert.equal(journal.count("notify:run"), 1, "only the new owner went on");
  assert.equal(journal.lines.filter((l) => l.includes("undo")).length, 0, "nobody compensated");
  assert.deepEqual(spy.calls, ["append"], "A's one refused append, then nothing");
  assert.equal(await stores.a.getRun("order-42"), undefined, "B's outcome stands");
});

Deno.test("Workflow.orchestrate() aborts the task in flight with OwnershipLostError when the heartbeat finds the run taken", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const stores = twoProcesses(10_000);
  const journal = new Journal();
  let reason: unknown;
  const a = orderSaga("A", journal, stores.a, {
    ship: (ctx) =>
      untilAborted(ctx.signal).catch((error) => {
        reason = error;
        throw error;
      }),
    failShip: true,
  });
  const outcome = a.orchestrate("reserve", { id: "order-42", data: { id: "42" } })
    .then(() => "completed", (error: unknown) => error);
  await time.tickAsync(0);
  await assert.rejects(
    orderSaga("B", journal, stores.b(), { failShip: true }).resumeFrom("order-42"),
  );
  assert.deepEqual(journal.of("B"), [
    "ship:start",
    "charge:undo charge-42",
    "reserve:undo reserve-42",
  ]);
  await time.tickAsync(1_000); // A's next heartbeat (leaseMs / 3) is refused
  const error = await outcome;
  assert.ok(error instanceof OwnershipLostError);
  assert.ok(reason instanceof OwnershipLostError, "the task's signal aborted with the loss");
  assert.equal(
    journal.of("A").filter((l) => l.includes("undo")).length,
    0,
    "A compensated nothing",
  );
  assert.equal(journal.count("charge:undo charge-42"), 1);
});

Deno.test("Workflow.orchestrate() gives up a run whose lease cannot be renewed before it expires", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new MemoryCheckpointStore({ leaseMs: 3_000 });
  let renewals = 0;
  store.renew = () => {
    renewals += 1;
    return Promise.reject(new Error("store unreachable"));
  };
  const journal = new Journal();
  const seen: { reason?: unknown } = {};
  const a = orderSaga("A", journal, store, {
    ship: (ctx) =>
      untilAborted(ctx.signal).catch((error) => (seen.reason = error, Promise.reject(error))),
    failShip: true,
  });
  const outcome = a.orchestrate("reserve", { id: "order-42", data: { id: "42" } })
    .then(() => "completed", (error: unknown) => error);
  // The run is given up a tenth of the lease (300 ms) before it expires, so its task has stopped
  // before anyone else may claim the run.
  await time.tickAsync(2_699);
  assert.equal(reasonOf(seen), undefined, "still within the lease: the renewals are retried");
  assert.ok(renewals >= 2);
  await time.tickAsync(1);
  const error = await outcome;
  assert.ok(error instanceof OwnershipLostError);
  assert.match(error.message, /could not be renewed before it expired.*store unreachable/);
  assert.ok(reasonOf(seen) instanceof OwnershipLostError);
  assert.deepEqual(journal.of("A"), ["reserve:run", "charge:run", "ship:start"], "no compensation");
  // Once the lease runs out the run is claimable by anyone, and its saga is intact.
  const info = await store.getRun("order-42");
  assert.equal(info?.status, "running");
  assert.equal(info!.leaseUntil.getTime(), Date.now() + 300);
  delete (store as { renew?: unknown }).renew; // the store is reachable again
  await assert.rejects(orderSaga("B", journal, store).resumeFrom("order-42"), RunOwnedError);
  await time.tickAsync(300);
  await assert.rejects(
    orderSaga("B", journal, store, { failShip: true }).resumeFrom("order-42"),
    /courier refused/,
  );
  assert.deepEqual(journal.of("B"), [
    "ship:start",
    "charge:undo charge-42",
    "reserve:undo reserve-42",
  ]);
});

Deno.test("Workflow.orchestrate() renews its lease while a long state runs", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new MemoryCheckpointStore({ leaseMs: 30_000 });
  const journal = new Journal();
  const until: number[] = [];
  const a = orderSaga("A", journal, store, {
    ship: async () => {
      for (let i = 0; i < 10; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10_000));
        until.push((await store.getRun("order-42"))!.leaseUntil.getTime());
      }
    },
  });
  const running = a.orchestrate("reserve", { id: "order-42", data: { id: "42" } });
  await time.tickAsync(100_000);
  assert.equal((await running).state, "done");
  assert.equal(until.length, 10);
  for (const [i, leaseUntil] of until.entries()) {
    assert.ok(leaseUntil - Date.UTC(2026, 0, 1) >= (i + 1) * 10_000 + 10_000, `renewed by ${i}`);
  }
  assert.equal(time.countTimers(), 0, "the heartbeat stopped with the run");
});

Deno.test("Workflow.orchestrate() keeps the in-flight rollback to the new owner when the lease is lost mid-rollback", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const stores = twoProcesses(10_000);
  const journal = new Journal();
  const undoing = gate();
  const step = (name: "reserve" | "charge", next: Step, slow: boolean) => ({
    name,
    config: TaskConfig.minimal(),
    run: (ctx: { data: Order }) => ({ next, output: { ref: `${name}-${ctx.data.id}` } }),
    compensate: async (_ctx: unknown, output: { ref: string }) => {
      const who = process();
      journal.push(who, `${name}:undo-start ${output.ref}`);
      if (slow) await undoing.promise;
      journal.push(who, `${name}:undo ${output.ref}`);
    },
  });
  let current = "A";
  const process = () => current;
  const saga = (store: RunStore) =>
    new Workflow<Step, Order>({ name: "order" })
      .registerWithCompensation("reserve", step("reserve", "charge", false))
      .registerWithCompensation("charge", step("charge", "ship", true))
      .register("ship", () => {
        throw new Error("courier refused the parcel");
      }, { config: TaskConfig.minimal() })
      .addExitState("done")
      .withCheckpointStore(store);
  const outcome = saga(stores.a).orchestrate("reserve", { id: "order-42", data: { id: "42" } })
    .then(() => "completed", (error: unknown) => error);
  await time.tickAsync(0);
  assert.deepEqual(journal.of("A"), ["charge:undo-start charge-42"]);
  assert.equal((await stores.a.getRun("order-42"))?.status, "rolling_back");
  // B takes the run over (A's lease looks expired to it) and finishes the rollback.
  current = "B";
  const resumed = saga(stores.b()).resumeFrom("order-42")
    .then(() => "completed", (error: unknown) => error);
  await time.tickAsync(0);
  undoing.open();
  const b = await resumed;
  assert.equal((b as Error).message.includes("courier refused the parcel"), true, String(b));
  const a = await outcome;
  assert.ok(a instanceof OwnershipLostError, String(a));
  // A's charge compensation was in flight (its signal aborted; it is idempotent anyway); A went
  // no further: no row, no other compensation.
  assert.deepEqual(journal.of("A"), ["charge:undo-start charge-42", "charge:undo charge-42"]);
  assert.deepEqual(journal.of("B"), [
    "charge:undo-start charge-42",
    "charge:undo charge-42",
    "reserve:undo-start reserve-42",
    "reserve:undo reserve-42",
  ]);
  assert.equal(await stores.a.getRun("order-42"), undefined);
});

Deno.test("KvCheckpointStore honours a lease issued by another store object on the same database", async () => {
  using kv = await Deno.openKv(":memory:");
  const first = new KvCheckpointStore(kv);
  const second = new KvCheckpointStore(kv);
  const { lease } = await first.claim("r", {
    mode: "start",
    owner: "me",
    workflow: "",
    version: 0,
  });
  // Another store object: the lease's fence is all that counts.
  await second.append("r", row(0, "a"), lease);
  await second.renew(lease);
  await first.append("r", row(1, "b"), lease);
  assert.deepEqual((await second.loadRun("r")).map((r) => r.state), ["a", "b"]);
  await second.finish(lease, { status: "completed" });
  assert.equal(await first.getRun("r"), undefined);
  assert.deepEqual(await first.loadRun("r"), []);
});

Deno.test("RunLease updates stay valid through the store's own wrappers", async () => {
  const stores = twoProcesses(0);
  const { lease } = await stores.a.claim("r", {
    mode: "start",
    owner: "me",
    workflow: "",
    version: 0,
  });
  // The same database through another store object: the lease's fence is all that counts.
  await stores.b().append("r", row(0, "a"), lease);
  await stores.b().renew(lease);
  await stores.a.append("r", row(1, "b"), lease as RunLease);
  assert.deepEqual((await stores.b().loadRun("r")).map((r) => r.state), ["a", "b"]);
  await stores.b().finish(lease, { status: "completed" });
  assert.equal(await stores.a.getRun("r"), undefined);
});
