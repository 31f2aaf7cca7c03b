// RunningScheduler.stop() and the resources of runs still rolling back: stop() reports a timeout
// on time, but the resources are torn down only once every run in flight has ended, and wait()
// settles only after that teardown.

import assert from "node:assert/strict";
import { CanoError, Resources, TaskConfig, Workflow } from "../mod.ts";
import { type RunningScheduler, Scheduler } from "../scheduler.ts";
import { FakeTime } from "../testing.ts";
import { resourcefulWorkflow, sleep, slowWorkflow } from "./_scheduler_helpers.ts";

const T0 = Date.UTC(2026, 0, 1);

/** A database client that logs its lifecycle, and each use with whether it was still open. */
class Db {
  open = false;
  constructor(readonly log: string[]) {}
  setup(): void {
    this.open = true;
    this.log.push("setup db");
  }
  teardown(): void {
    this.open = false;
    this.log.push("teardown db");
  }
  use(what: string): void {
    this.log.push(`${what} (db ${this.open ? "open" : "CLOSED"})`);
  }
}

type TripState = "book" | "wait" | "done";

/**
 * A saga on `db`: `book` is compensatable, then `wait` waits for its abort signal, so stopping
 * rolls `book` back. The compensation uses the database, takes `rollbackMs` of (fake) time
 * (`Infinity`: it never ends) and cannot be cancelled.
 */
function tripWorkflow(
  log: string[],
  rollbackMs: number,
): Workflow<TripState, Record<string, unknown>, { db: Db }> {
  return new Workflow<TripState, Record<string, unknown>, { db: Db }>({
    resources: new Resources({ db: new Db(log) }),
  })
    .registerWithCompensation("book", {
      name: "booking",
      config: TaskConfig.minimal(),
      run: ({ resources }) => {
        resources.get("db").use("book");
        return { next: "wait", output: { id: 1 } };
      },
      compensate: async ({ resources }) => {
        resources.get("db").use("release start");
        await (rollbackMs === Infinity ? new Promise<never>(() => {}) : sleep(rollbackMs));
        resources.get("db").use("release end");
      },
    })
    .register("wait", ({ signal }) =>
      new Promise<"done">((_resolve, reject) => {
        if (signal.aborted) reject(signal.reason);
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      }), { config: TaskConfig.minimal() })
    .addExitState("done");
}

/** How a promise settled, when (fake-clock ms since T0) and what the log held then. */
interface Settled {
  ok: boolean;
  error: unknown;
  t: number;
  log: string[];
}

/** Tracks `promise` without awaiting it: `settled()` is `undefined` until it settles. */
function track(promise: Promise<void>, log: string[]): { settled(): Settled | undefined } {
  let settled: Settled | undefined;
  const settle = (ok: boolean, error: unknown): void => {
    settled = { ok, error, t: Date.now() - T0, log: [...log] };
  };
  promise.then(() => settle(true, undefined), (error: unknown) => settle(false, error));
  return { settled: () => settled };
}

function assertTimeoutError(error: unknown, ms: number, ...ids: string[]): CanoError {
  assert.ok(error instanceof CanoError, `a CanoError, got ${String(error)}`);
  assert.equal(error.category, "workflow");
  const flows = ids.map((id) => `"${id}"`).join(", ");
  assert.equal(
    error.message,
    `Timeout waiting for workflows to complete: ${flows} still running after ${ms} ms`,
  );
  return error;
}

/** Starts a scheduler with the trip flow (and optionally a first flow) and triggers the trip. */
async function startTrip(
  log: string[],
  rollbackMs: number,
  options: { first?: boolean; signal?: AbortSignal } = {},
): Promise<RunningScheduler> {
  let scheduler = new Scheduler();
  if (options.first) scheduler = scheduler.manual("a", resourcefulWorkflow("a", log), "start");
  scheduler = scheduler.manual("trip", tripWorkflow(log, rollbackMs), "book");
  const running = await scheduler.start(
    options.signal === undefined ? {} : { signal: options.signal },
  );
  await running.trigger("trip");
  return running;
}

const ROLLED_BACK = [
  "setup db",
  "book (db open)",
  "release start (db open)",
  "release end (db open)",
  "teardown db",
];

Deno.test("RunningScheduler.stop() does not tear resources down under a rollback still running", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log: string[] = [];
  const running = await startTrip(log, 10_000);
  await time.tickAsync(10);
  assert.equal(running.status("trip")?.status, "running");
  const stopping = track(running.stop({ timeout: 1_000 }), log);
  const waiting = track(running.wait(), log);
  await time.tickAsync(999);
  assert.equal(stopping.settled(), undefined, "stop() waits up to its timeout");
  await time.tickAsync(1);
  const stopped = stopping.settled()!;
  assert.equal(stopped.ok, false);
  const error = assertTimeoutError(stopped.error, 1_000, "trip");
  assert.equal(stopped.t, 1_010, "stop() rejects at the timeout");
  assert.deepEqual(stopped.log, ["setup db", "book (db open)", "release start (db open)"]);
  assert.equal(running.hasRunningFlows(), true, "the rollback is still running");
  assert.equal(waiting.settled(), undefined, "wait() waits for the teardown");
  await assert.rejects(running.trigger("trip"), /Scheduler not running/);

  await time.tickAsync(8_999);
  assert.deepEqual(log, ["setup db", "book (db open)", "release start (db open)"]);
  assert.equal(waiting.settled(), undefined);
  await time.tickAsync(1);
  assert.deepEqual(log, ROLLED_BACK, "the rollback saw a live database; teardown came after");
  const waited = waiting.settled()!;
  assert.equal(waited.ok, false);
  assert.equal(waited.error, error, "wait() has the same outcome as stop()");
  assert.equal(waited.t, 10_010);
  assert.deepEqual(waited.log, ROLLED_BACK, "wait() settled after the teardown");
  assert.equal(running.hasRunningFlows(), false);
  assert.equal(running.status("trip")?.status, "idle", "a cancelled run is not a failure");
  assert.equal(time.countTimers(), 0, "no timer left behind");
});

Deno.test("RunningScheduler.stop() tears down after a rollback that ends within the timeout, in reverse registration order", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log: string[] = [];
  const running = await startTrip(log, 500, { first: true });
  await time.tickAsync(10);
  const stopping = track(running.stop({ timeout: 5_000 }), log);
  const waiting = track(running.wait(), log);
  await time.tickAsync(499);
  assert.equal(stopping.settled(), undefined);
  assert.deepEqual(log, ["setup a", "setup db", "book (db open)", "release start (db open)"]);
  await time.tickAsync(1);
  const done = [
    "setup a",
    "setup db",
    "book (db open)",
    "release start (db open)",
    "release end (db open)",
    "teardown db",
    "teardown a",
  ];
  assert.deepEqual(stopping.settled(), { ok: true, error: undefined, t: 510, log: done });
  assert.deepEqual(waiting.settled(), { ok: true, error: undefined, t: 510, log: done });
  assert.equal(time.countTimers(), 0, "the 5 s timeout timer was cleared");
});

Deno.test("RunningScheduler.stop() called again, or disposal, returns the first outcome and tears down once", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log: string[] = [];
  let error: CanoError | undefined;
  // The scope's own disposal, at its end, must reject with the first stop()'s error too.
  await assert.rejects(async () => {
    await using running = await startTrip(log, 10_000);
    await time.tickAsync(10);
    const first = track(running.stop({ timeout: 1_000 }), log);
    const second = track(running.stop({ timeout: Infinity }), log);
    const disposal = track(running[Symbol.asyncDispose](), log);
    await time.tickAsync(1_000);
    error = assertTimeoutError(first.settled()?.error, 1_000, "trip");
    assert.equal(second.settled(), undefined, "a later stop() settles after the teardown");
    assert.equal(disposal.settled(), undefined, "so does disposal");
    await time.tickAsync(9_000);
    for (const later of [second, disposal]) {
      assert.equal(later.settled()?.ok, false);
      assert.equal(later.settled()?.error, error, "the first call's outcome");
      assert.deepEqual(later.settled()?.log, ROLLED_BACK);
    }
    const third = track(running.stop({ timeout: 0 }), log);
    await time.tickAsync(0);
    assert.equal(third.settled()?.error, error);
    await assert.rejects(running.wait(), (thrown) => thrown === error);
    await assert.rejects(running.stop(), (thrown) => thrown === error);
  }, (thrown) => thrown === error);
  assert.deepEqual(log, ROLLED_BACK, "torn down exactly once");
  assert.equal(time.countTimers(), 0);
});

Deno.test("RunningScheduler: `await using` disposal waits for a rollback, then tears down once", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log: string[] = [];
  const running = await startTrip(log, 10_000);
  await time.tickAsync(10);
  // Disposal is stop() with its default timeout (30 s): the 10 s rollback ends within it.
  const disposal = track(running[Symbol.asyncDispose](), log);
  await time.tickAsync(9_999);
  assert.equal(disposal.settled(), undefined);
  assert.equal(log.includes("teardown db"), false);
  await time.tickAsync(1);
  assert.deepEqual(disposal.settled(), { ok: true, error: undefined, t: 10_010, log: ROLLED_BACK });
  await running.stop({ timeout: 0 }); // the first call's outcome: stopped
  await running.wait();
  assert.deepEqual(log, ROLLED_BACK, "torn down once");
  assert.equal(time.countTimers(), 0);
});

Deno.test("RunningScheduler: aborting the start signal stops through stop(), without tearing down under a rollback", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log: string[] = [];
  const controller = new AbortController();
  // The signal path uses the default 30 s timeout; this rollback takes 40 s.
  const running = await startTrip(log, 40_000, { signal: controller.signal });
  await time.tickAsync(10);
  controller.abort();
  const waiting = track(running.wait(), log);
  await assert.rejects(running.trigger("trip"), /Scheduler not running/);
  await time.tickAsync(30_000);
  assert.equal(
    waiting.settled(),
    undefined,
    "the timeout passed, but the teardown has not happened",
  );
  assert.deepEqual(log, ["setup db", "book (db open)", "release start (db open)"]);
  const later = track(running.stop({ timeout: 1 }), log);
  await time.tickAsync(9_999);
  assert.equal(later.settled(), undefined);
  await time.tickAsync(1);
  const waited = waiting.settled()!;
  assertTimeoutError(waited.error, 30_000, "trip");
  assert.equal(waited.t, 40_010);
  assert.deepEqual(waited.log, ROLLED_BACK);
  assert.equal(later.settled()?.error, waited.error, "a later stop() has the signal's outcome");
  assert.equal(time.countTimers(), 0);
});

Deno.test("RunningScheduler.stop({ timeout: 0 }) reports a rollback at once and tears down after it", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log: string[] = [];
  const running = await startTrip(log, 2_000);
  await time.tickAsync(10);
  const stopping = track(running.stop({ timeout: 0 }), log);
  const waiting = track(running.wait(), log);
  await time.tickAsync(0);
  assertTimeoutError(stopping.settled()?.error, 0, "trip");
  assert.equal(stopping.settled()?.t, 10, "no clock time");
  assert.equal(log.includes("teardown db"), false);
  await time.tickAsync(2_000);
  assert.equal(waiting.settled()?.error, stopping.settled()?.error);
  assert.deepEqual(waiting.settled()?.log, ROLLED_BACK);
  assert.equal(waiting.settled()?.t, 2_010);
});

Deno.test("RunningScheduler.stop({ timeout: 0 }) resolves when the aborted runs end in the same turn", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log: string[] = [];
  const { workflow, completions } = slowWorkflow(60_000);
  const running = await new Scheduler()
    .manual("slow", workflow, "start")
    .manual("a", resourcefulWorkflow("a", log), "start")
    .start();
  await running.trigger("slow");
  await time.tickAsync(10);
  const stopping = track(running.stop({ timeout: 0 }), log);
  await time.tickAsync(0);
  assert.deepEqual(stopping.settled(), {
    ok: true,
    error: undefined,
    t: 10,
    log: ["setup a", "teardown a"],
  });
  assert.equal(completions(), 0);
  assert.equal(time.countTimers(), 0);
});

Deno.test("RunningScheduler.stop({ timeout: Infinity }) waits for the rollback and never rejects", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log: string[] = [];
  const running = await startTrip(log, 100_000);
  await time.tickAsync(10);
  const stopping = track(running.stop({ timeout: Infinity }), log);
  await time.tickAsync(0);
  assert.equal(time.countTimers(), 1, "only the rollback's own timer: stop() arms none");
  await time.tickAsync(99_999);
  assert.equal(stopping.settled(), undefined);
  await time.tickAsync(1);
  assert.deepEqual(stopping.settled(), {
    ok: true,
    error: undefined,
    t: 100_010,
    log: ROLLED_BACK,
  });
  await running.wait();
});

Deno.test("RunningScheduler.stop(): a rollback that never ends keeps the resources up and leaves no timer", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log: string[] = [];
  const running = await startTrip(log, Infinity);
  await time.tickAsync(10);
  const stopping = track(running.stop({ timeout: 1_000 }), log);
  const waiting = track(running.wait(), log);
  await time.tickAsync(1_000);
  assertTimeoutError(stopping.settled()?.error, 1_000, "trip");
  assert.equal(time.countTimers(), 0, "the scheduler left no timer behind");
  await time.tickAsync(86_400_000);
  assert.equal(waiting.settled(), undefined, "wait() never settles: the teardown never happens");
  assert.deepEqual(log, ["setup db", "book (db open)", "release start (db open)"]);
  assert.equal(running.hasRunningFlows(), true);
});
