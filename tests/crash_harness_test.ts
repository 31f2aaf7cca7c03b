// The crash-injection harness: in process, a run stopped dead right after checkpoint k and
// resumed in the same test, for every k of a saga that completes and of one that rolls back; a
// task in flight at the crash; the lease left held; the filters; bad inputs. Across processes, a
// worker SIGKILLed at checkpoint k on a KV file and resumed here.

import assert from "node:assert/strict";
import { ConfigurationError, OwnershipLostError, RunOwnedError, type RunStore } from "../mod.ts";
import { KvCheckpointStore } from "../kv.ts";
import {
  crashAfterCheckpoint,
  CrashHarnessError,
  CrashingStore,
  haltAfterCheckpoint,
  InMemoryCheckpointStore,
  runAndKill,
  SimulatedCrashError,
  waitUntilClaimable,
} from "../testing.ts";
import { FakeTime } from "../src/testing/fake_time.ts";
import { gate } from "./_checkpoint_helpers.ts";
import { openKvRetrying } from "./_subprocess.ts";
import {
  type CrashHarnessWorkerConfig,
  fileJournal,
  orderWorkflow,
} from "./e2e/crash_harness_worker.ts";

const ID = "order-1";

/** The order saga with an in-memory journal; see orderWorkflow for its rows. */
function saga(
  store: RunStore,
  options: { failShip?: boolean; inShip?: (signal: AbortSignal) => Promise<void> } = {},
): { workflow: ReturnType<typeof orderWorkflow>; journal: string[] } {
  const journal: string[] = [];
  const workflow = orderWorkflow(store, {
    journal: (event) => journal.push(event),
    failShip: options.failShip,
    inShip: options.inShip,
  });
  return { workflow, journal };
}

function counts(journal: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of journal) out[line] = (out[line] ?? 0) + 1;
  return out;
}

const FORWARD = { reserve: 1, charge: 1, ship: 1, notify: 1 };

Deno.test("crashAfterCheckpoint() stops the run dead after row k, and resumeFrom() finishes it (every k)", async () => {
  // Row k's own task re-runs on resume only when row k is its completion (the visit repeats).
  const twice: Record<number, string | undefined> = { 2: "reserve", 4: "charge" };
  for (let k = 1; k <= 6; k++) {
    const inner = new InMemoryCheckpointStore();
    const store = crashAfterCheckpoint(inner, k);
    const { workflow, journal } = saga(store);
    const error = await workflow.orchestrate("reserve", { id: ID, data: { orderId: "1" } })
      .then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof SimulatedCrashError, `k=${k}: ${error}`);
    assert.equal(error.point.checkpoints, k);
    assert.equal(error.point.last?.sequence, k - 1);
    assert.equal(store.crashed, true);
    // Exactly what a SIGKILL leaves: k rows, the record running, the lease held.
    assert.equal((await inner.loadRun(ID)).length, k, `k=${k}`);
    const record = await inner.getRun(ID);
    assert.equal(record?.status, "running");
    assert.notEqual(record?.owner, undefined);
    assert.ok(record!.leaseUntil.getTime() > Date.now(), "the dead process still holds the lease");
    assert.ok(!journal.some((line) => line.startsWith("release") || line.startsWith("refund")));

    await store.restart();
    const result = await workflow.resumeFrom(ID);
    assert.equal(result.state, "done");
    assert.deepEqual(result.path, ["reserve", "charge", "ship", "notify", "done"]);
    const expected: Record<string, number> = { ...FORWARD };
    const again = twice[k];
    if (again !== undefined) expected[again] = 2;
    assert.deepEqual(counts(journal), expected, `k=${k}: ${journal.join(", ")}`);
    assert.deepEqual(await inner.loadRun(ID), [], "log cleared at the exit state");
  }
});

Deno.test("crashAfterCheckpoint() in a failing saga runs no compensation and keeps the log; the resume compensates exactly once", async () => {
  for (let k = 1; k <= 8; k++) {
    const inner = new InMemoryCheckpointStore();
    const store = crashAfterCheckpoint(inner, k);
    const { workflow, journal } = saga(store, { failShip: true });
    await assert.rejects(
      workflow.orchestrate("reserve", { id: ID, data: { orderId: "1" } }),
      SimulatedCrashError,
    );
    const rows = await inner.loadRun(ID);
    assert.equal(rows.length, k, `k=${k}: the log is not cleared`);
    // Only compensations recorded before row k ran: k=7 is charge's `compensated` row.
    const undone = journal.filter((line) =>
      line.startsWith("release") || line.startsWith("refund")
    );
    assert.deepEqual(
      undone,
      k === 7 ? ["refund ch-1"] : k === 8 ? ["refund ch-1", "release res-1"] : [],
    );
    assert.equal((await inner.getRun(ID))?.status, k >= 6 ? "rolling_back" : "running");

    await store.restart();
    await assert.rejects(workflow.resumeFrom(ID), (error: unknown) => {
      assert.ok(!(error instanceof SimulatedCrashError));
      assert.match(String(error), /courier refused the parcel/);
      return true;
    });
    const seen = counts(journal);
    assert.equal(seen["refund ch-1"], 1, `k=${k}: ${journal.join(", ")}`);
    assert.equal(seen["release res-1"], 1, `k=${k}: ${journal.join(", ")}`);
    assert.equal(seen.ship, 1, "a run rolling back is never run forward again");
    assert.equal(seen.notify, undefined);
    assert.deepEqual(await inner.loadRun(ID), [], "log deleted after the clean rollback");
  }
});

Deno.test("crashAfterCheckpoint() past the last row lets the run complete, and restart() refuses", async () => {
  const store = crashAfterCheckpoint(new InMemoryCheckpointStore(), 7);
  const { workflow, journal } = saga(store);
  assert.equal(
    (await workflow.orchestrate("reserve", { id: ID, data: { orderId: "1" } })).state,
    "done",
  );
  assert.equal(store.crashed, false);
  assert.equal(store.checkpoints, 6, "the exit state's row is not counted");
  assert.deepEqual(counts(journal), FORWARD);
  await assert.rejects(store.restart(), (error: unknown) => {
    assert.ok(error instanceof ConfigurationError);
    assert.match(error.message, /6 of 7 rows counted/);
    return true;
  });
});

Deno.test("CrashingStore.crash() inside a task: its later result writes nothing and nothing is renewed", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const inner = new InMemoryCheckpointStore({ leaseMs: 30_000 });
  const store = new CrashingStore(inner);
  const release = gate();
  let shipSignal: AbortSignal | undefined;
  const { workflow, journal } = saga(store, {
    inShip: async (signal) => {
      if (shipSignal !== undefined) return; // the resumed run ships at once
      shipSignal = signal;
      store.crash();
      await release.promise; // ignores its signal: it resolves after the crash
    },
  });
  let outcome: unknown;
  const run = workflow.orchestrate("reserve", { id: ID, data: { orderId: "1" } })
    .then(() => "completed", (error: unknown) => outcome = error);
  await time.tickAsync(0);
  assert.deepEqual(journal, ["reserve", "charge", "ship"]);
  const before = await inner.getRun(ID);
  // Well past several heartbeats: the first refused poll stops it, nothing renews the lease.
  await time.tickAsync(25_000);
  assert.equal(shipSignal?.aborted, true, "the task's signal aborts at the next refused poll");
  assert.ok(shipSignal?.reason instanceof SimulatedCrashError);
  assert.deepEqual(await inner.getRun(ID), before, "no renewal, no write");

  release.open();
  await run;
  assert.ok(outcome instanceof SimulatedCrashError);
  assert.equal(outcome.point.cause, "crash");
  assert.equal((await inner.loadRun(ID)).length, 5, "the ship task's result was never recorded");
  assert.deepEqual(journal, ["reserve", "charge", "ship"]);

  await store.restart();
  const resumed = workflow.resumeFrom(ID);
  await time.tickAsync(0);
  assert.equal((await resumed).state, "done");
  // The task in flight at the crash is the one at-least-once effect.
  assert.deepEqual(counts(journal), { ...FORWARD, ship: 2 });
});

Deno.test("CrashingStore keeps refusing the dead process after restart(): a task in flight at the crash writes nothing", async () => {
  const inner = new InMemoryCheckpointStore();
  const store = new CrashingStore(inner);
  const release = gate();
  let first = true;
  const { workflow, journal } = saga(store, {
    inShip: async () => {
      if (!first) return;
      first = false;
      store.crash();
      await release.promise;
    },
  });
  const crashed = workflow.orchestrate("reserve", { id: ID, data: { orderId: "1" } })
    .then(() => undefined, (error: unknown) => error);
  while (!journal.includes("ship")) await new Promise((resolve) => setTimeout(resolve, 0));
  await store.restart(); // the in-flight run's lease is released, the run resumed and finished
  assert.equal((await workflow.resumeFrom(ID)).state, "done");
  assert.equal(await inner.getRun(ID), undefined);
  release.open(); // the dead process's task resolves only now
  const error = await crashed;
  assert.ok(error instanceof SimulatedCrashError, "refused by the harness, not only the store");
  assert.deepEqual(await inner.loadRun(ID), [], "nothing written by the dead process");
  assert.deepEqual(counts(journal), { ...FORWARD, ship: 2 });
});

Deno.test("restart({ keepLeases: true }) leaves the lease held as after a SIGKILL until leaseMs passes on a fake clock", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const inner = new InMemoryCheckpointStore({ leaseMs: 5_000 });
  const store = crashAfterCheckpoint(inner, 3);
  const { workflow, journal } = saga(store);
  await assert.rejects(
    workflow.orchestrate("reserve", { id: ID, data: { orderId: "1" } }),
    SimulatedCrashError,
  );
  const held = await inner.getRun(ID);
  await store.restart({ keepLeases: true });
  await time.tickAsync(4_000);
  assert.deepEqual(await inner.getRun(ID), held, "nothing renewed the dead lease");
  await assert.rejects(workflow.resumeFrom(ID), RunOwnedError);
  await time.tickAsync(1_000);
  const resumed = workflow.resumeFrom(ID);
  await time.tickAsync(0);
  assert.equal((await resumed).state, "done");
  assert.deepEqual(counts(journal), FORWARD);
});

Deno.test("a crashed CrashingStore refuses every call, reads included, until restart()", async () => {
  const inner = new InMemoryCheckpointStore();
  const store = crashAfterCheckpoint(inner, 1);
  const { workflow } = saga(store);
  await assert.rejects(
    workflow.orchestrate("reserve", { id: ID, data: { orderId: "1" } }),
    SimulatedCrashError,
  );
  for (
    const call of [
      () => store.loadRun(ID),
      () => store.getRun(ID),
      () => store.listRuns(),
      () => store.listExpired(),
      () => store.requestCancel(ID),
      () => store.noteRun(ID, "x"),
      () => store.clear(ID),
      () => store.claim("other", { mode: "start", owner: "me", workflow: "", version: 0 }),
    ]
  ) {
    await assert.rejects(call(), (error: unknown) => {
      assert.ok(error instanceof SimulatedCrashError);
      assert.ok(error instanceof OwnershipLostError);
      assert.equal(error.category, "ownership_lost");
      assert.match(error.message, /after checkpoint 1 \(row 0: state_entry of state "reserve"\)/);
      return true;
    });
  }
  assert.equal((await inner.loadRun(ID)).length, 1, "the underlying store stays readable");
  await store.restart();
  assert.equal((await store.loadRun(ID)).length, 1);
  assert.equal(store.crashes.length, 1);
  assert.equal(store.crashed, false);
});

Deno.test("restart({ crashAfter }) crashes the resumed run too: a crash during the rollback's resume", async () => {
  const inner = new InMemoryCheckpointStore();
  const store = crashAfterCheckpoint(inner, 6); // the rollback row
  const { workflow, journal } = saga(store, { failShip: true });
  await assert.rejects(workflow.orchestrate("reserve", { id: ID, data: { orderId: "1" } }));
  await store.restart({ crashAfter: 1 }); // dies after the first `compensated` row
  await assert.rejects(workflow.resumeFrom(ID), SimulatedCrashError);
  assert.deepEqual(journal.slice(-1), ["refund ch-1"]);
  await store.restart();
  await assert.rejects(workflow.resumeFrom(ID), /courier refused the parcel/);
  assert.equal(counts(journal)["refund ch-1"], 1);
  assert.equal(counts(journal)["release res-1"], 1);
  assert.deepEqual(store.crashes.map((c) => c.last?.kind), ["rollback", "compensated"]);
});

Deno.test("CrashingStore kinds and id count only the chosen rows", async () => {
  const inner = new InMemoryCheckpointStore();
  const store = new CrashingStore(inner, { after: 2, kinds: ["compensation_completion"], id: ID });
  const { workflow, journal } = saga(store);
  // Another run's rows are not counted.
  await workflow.orchestrate("reserve", { id: "order-2", data: { orderId: "2" } });
  assert.equal(store.checkpoints, 0);
  await assert.rejects(
    workflow.orchestrate("reserve", { id: ID, data: { orderId: "1" } }),
    (error: unknown) => {
      assert.ok(error instanceof SimulatedCrashError);
      assert.deepEqual(error.point.last, {
        id: ID,
        sequence: 3,
        kind: "compensation_completion",
        state: "charge",
      });
      return true;
    },
  );
  assert.deepEqual(journal.slice(-2), ["reserve", "charge"]);
});

Deno.test("crashAfterCheckpoint() works over KvCheckpointStore: crash, restart, resume", async () => {
  using kv = await Deno.openKv(":memory:");
  const inner = new KvCheckpointStore(kv);
  for (const k of [1, 4, 5]) {
    const id = `kv-${k}`;
    const store = crashAfterCheckpoint(inner, k);
    const { workflow, journal } = saga(store);
    await assert.rejects(
      workflow.orchestrate("reserve", { id, data: { orderId: "1" } }),
      SimulatedCrashError,
    );
    assert.equal((await inner.loadRun(id)).length, k);
    assert.equal((await inner.getRun(id))?.sequence, k);
    await store.restart();
    assert.equal((await workflow.resumeFrom(id)).state, "done");
    assert.deepEqual(counts(journal), k === 4 ? { ...FORWARD, charge: 2 } : FORWARD);
    assert.equal(await inner.getRun(id), undefined);
  }
});

Deno.test("the crash harness refuses bad inputs with ConfigurationErrors naming the value", async () => {
  const inner = new InMemoryCheckpointStore();
  const bad = (fn: () => unknown, pattern: RegExp): void => {
    assert.throws(fn, (error: unknown) => {
      assert.ok(error instanceof ConfigurationError, String(error));
      assert.match(error.message, pattern);
      return true;
    });
  };
  for (const k of [0, -1, 1.5, NaN, Infinity]) {
    bad(() => crashAfterCheckpoint(inner, k), /k must be a positive integer .* received -?\w/);
  }
  bad(() => crashAfterCheckpoint(inner, "2" as unknown as number), /received 2.*use 1/);
  bad(() => crashAfterCheckpoint(inner, undefined as unknown as number), /needs k/);
  const rowsOnly = { append: () => {}, loadRun: () => {}, clear: () => {} };
  bad(() => crashAfterCheckpoint(rowsOnly as unknown as RunStore, 1), /needs a RunStore/);
  bad(() => new CrashingStore({} as RunStore), /CrashingStore needs a RunStore/);
  bad(() => new CrashingStore(inner, { kinds: [] }), /kinds as a non-empty array/);
  bad(
    () => new CrashingStore(inner, { kinds: ["bogus" as "rollback"] }),
    /row kinds .* received \[?.*bogus/,
  );
  bad(() => new CrashingStore(inner, { id: "" }), /id as a non-empty run id/);
  bad(() => new CrashingStore(inner, { onCrash: 1 as unknown as () => void }), /onCrash/);
  bad(() => new CrashingStore(inner, { after: 0 }), /after must be a positive integer/);
  const alive = new CrashingStore(inner);
  await assert.rejects(alive.restart(), /needs a crashed store/);
  alive.crash();
  await assert.rejects(alive.restart({ keepLeases: "yes" as unknown as boolean }), /keepLeases/);
  await assert.rejects(alive.restart({ crashAfter: 0 }), /crashAfter must be a positive integer/);

  bad(() => haltAfterCheckpoint(inner, 0), /haltAfterCheckpoint k must be a positive integer/);
  bad(() => haltAfterCheckpoint(inner, 1, { maxHaltMs: 0 }), /maxHaltMs/);
  Deno.env.set("CANO_HALT_AFTER", "soon");
  try {
    bad(() => haltAfterCheckpoint(inner), /CANO_HALT_AFTER \("soon"\) must be a positive integer/);
  } finally {
    Deno.env.delete("CANO_HALT_AFTER");
  }
  const rejectsConfig = (options: unknown, pattern: RegExp) =>
    assert.rejects(runAndKill(options as Parameters<typeof runAndKill>[0]), (error: unknown) => {
      assert.ok(error instanceof ConfigurationError, String(error));
      assert.match(error.message, pattern);
      return true;
    });
  await rejectsConfig({ at: 1 }, /module as a path or URL .* received undefined/);
  await rejectsConfig({ module: "", at: 1 }, /module as a path or URL/);
  await rejectsConfig({ module: 7, at: 1 }, /received 7/);
  await rejectsConfig({ module: "w.ts" }, /needs at/);
  await rejectsConfig({ module: "w.ts", at: 0 }, /at must be a positive integer/);
  await rejectsConfig({ module: "w.ts", at: "2" }, /at must be a positive integer/);
  await rejectsConfig({ module: "w.ts", at: 1, timeoutMs: 0 }, /timeoutMs must be/);
  await rejectsConfig({ module: "w.ts", at: 1, args: [1] }, /args as an array of strings/);
  await rejectsConfig({ module: "w.ts", at: 1, env: { A: 1 } }, /env as an object of strings/);
  await assert.rejects(waitUntilClaimable(inner, ""), /non-empty string/);
  await assert.rejects(waitUntilClaimable(inner, "x", { timeoutMs: -1 }), /timeoutMs must be/);
});

Deno.test("waitUntilClaimable() returns once the dead owner's lease is over, and times out while it is held", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new InMemoryCheckpointStore({ leaseMs: 1_000 });
  const claim = { mode: "start", owner: "dead-worker", workflow: "", version: 0 } as const;
  await store.claim("held", claim);
  const timedOut = waitUntilClaimable(store, "held", { timeoutMs: 500 }).catch((e: unknown) => e);
  const waited = waitUntilClaimable(store, "held");
  await time.tickAsync(501);
  const error = await timedOut;
  assert.ok(error instanceof CrashHarnessError && error.category === "timeout", String(error));
  assert.match(error.message, /still held by dead-worker/);
  await time.tickAsync(500);
  assert.ok((await waited)!.leaseUntil.getTime() <= Date.now());
});

// ---- Across processes: a real SIGKILL at checkpoint k, resumed here. ----

const WORKER = new URL("./e2e/crash_harness_worker.ts", import.meta.url);
const LEASE_MS = 300;

interface E2e extends AsyncDisposable {
  config: CrashHarnessWorkerConfig;
  journal(): Promise<string[]>;
  /** Waits out the dead child's lease, then resumes the run here on the same KV file. */
  resume(failShip?: boolean): Promise<unknown>;
  rows(): Promise<number>;
}

async function e2e(extra: Partial<CrashHarnessWorkerConfig> = {}): Promise<E2e> {
  const kvPath = await Deno.makeTempFile({ prefix: "cano_crash_harness_", suffix: ".kv" });
  const journalPath = await Deno.makeTempFile({ prefix: "cano_crash_harness_", suffix: ".log" });
  const config = { kvPath, journalPath, id: ID, leaseMs: LEASE_MS, ...extra };
  const withStore = async <T>(fn: (store: KvCheckpointStore) => Promise<T>): Promise<T> => {
    const kv = await openKvRetrying(kvPath);
    try {
      return await fn(new KvCheckpointStore(kv, { leaseMs: LEASE_MS }));
    } finally {
      kv.close();
    }
  };
  return {
    config,
    journal: async () => (await Deno.readTextFile(journalPath)).split("\n").filter(Boolean),
    resume: (failShip = false) =>
      withStore(async (store) => {
        await waitUntilClaimable(store, ID, { timeoutMs: 10_000 });
        const journal = fileJournal(journalPath, "parent");
        return await orderWorkflow(store, { journal, failShip }).resumeFrom(ID)
          .then((result) => result.state, (error: unknown) => error);
      }),
    rows: () => withStore(async (store) => (await store.loadRun(ID)).length),
    [Symbol.asyncDispose]: async () => {
      for (const path of [kvPath, journalPath, `${kvPath}-shm`, `${kvPath}-wal`]) {
        await Deno.remove(path).catch(() => {});
      }
    },
  };
}

Deno.test("runAndKill() SIGKILLs a worker right after checkpoint k and the parent resumes the run (KV file)", async () => {
  for (const k of [2, 5]) {
    await using run = await e2e();
    const child = await runAndKill({ module: WORKER, args: [JSON.stringify(run.config)], at: k });
    assert.equal(child.signal, "SIGKILL");
    assert.equal(child.point?.cause, "checkpoint");
    assert.equal(child.point?.checkpoints, k);
    assert.equal(await run.rows(), k, "row k was durable before the kill");
    assert.equal(await run.resume(), "done");
    const lines = await run.journal();
    const child2 = lines.filter((line) => line.startsWith("child "));
    assert.deepEqual(child2, k === 2 ? ["child reserve"] : ["child reserve", "child charge"]);
    const ran = counts(lines.map((line) => line.split(" ").slice(1).join(" ")));
    // k=2 is reserve's completion row: the resume repeats reserve's visit (at-least-once).
    assert.deepEqual(ran, k === 2 ? { ...FORWARD, reserve: 2 } : FORWARD);
    assert.equal(await run.rows(), 0, "log cleared at the exit state");
  }
});

Deno.test("runAndKill() mid-rollback: the killed child compensated only what it recorded; the parent finishes the rollback", async () => {
  await using run = await e2e({ failShip: true });
  const child = await runAndKill({ module: WORKER, args: [JSON.stringify(run.config)], at: 7 });
  assert.equal(child.point?.last?.kind, "compensated");
  const error = await run.resume(true);
  assert.match(String(error), /courier refused the parcel/);
  assert.deepEqual((await run.journal()).filter((l) => /refund|release/.test(l)), [
    "child refund ch-order-1",
    "parent release res-order-1",
  ]);
  assert.equal(await run.rows(), 0);
});

Deno.test("runAndKill() at a worker's own line kills it inside a task; only that task runs twice", async () => {
  await using run = await e2e({ hangInShip: true });
  const child = await runAndKill({
    module: WORKER,
    args: [JSON.stringify(run.config)],
    at: (line) => line === "in ship",
  });
  assert.equal(child.line, "in ship");
  assert.equal(child.point, undefined);
  assert.equal(await run.resume(), "done");
  const ran = counts((await run.journal()).map((line) => line.split(" ").slice(1).join(" ")));
  assert.deepEqual(ran, { ...FORWARD, ship: 2 });
});

Deno.test("runAndKill() never hangs: a timeout or an early exit rejects with CrashHarnessError and the stderr tail", async () => {
  await using idle = await e2e({ idle: true });
  const started = Date.now();
  await assert.rejects(
    runAndKill({ module: WORKER, args: [JSON.stringify(idle.config)], at: 1, timeoutMs: 1_500 }),
    (error: unknown) => {
      assert.ok(error instanceof CrashHarnessError);
      assert.equal(error.reason, "timeout");
      assert.equal(error.category, "timeout");
      return true;
    },
  );
  assert.ok(Date.now() - started < 10_000);

  await using done = await e2e();
  await assert.rejects(
    runAndKill({ module: WORKER, args: [JSON.stringify(done.config)], at: 99 }),
    (error: unknown) => {
      assert.ok(error instanceof CrashHarnessError);
      assert.equal(error.reason, "exited");
      assert.match(error.message, /exited with code 0 before the kill point/);
      assert.match(error.message, /finished without being killed/, "stderr tail included");
      assert.ok(error.stdout.some((line) => line.startsWith("RESULT ")));
      return true;
    },
  );
});

Deno.test("runAndKill() rejects with CrashHarnessError when the child cannot be started", async () => {
  const missing = `${await Deno.makeTempDir()}/gone`;
  await assert.rejects(
    runAndKill({ module: "worker.ts", at: 1, cwd: missing, timeoutMs: 5_000 }),
    (error: unknown) => {
      assert.ok(error instanceof CrashHarnessError, String(error));
      assert.equal(error.reason, "spawn");
      assert.match(error.message, /could not start worker\.ts/);
      assert.ok(error.cause instanceof Error);
      return true;
    },
  );
  await Deno.remove(missing.slice(0, -"/gone".length), { recursive: true });
});
