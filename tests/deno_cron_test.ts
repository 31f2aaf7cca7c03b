// registerDenoCron: which flows become which Deno.cron patterns (and which are refused, before
// anything is registered), and what one invocation does: claim the tick in the shared store, run
// it under its per-tick id with its resources, and record the outcome in the shared flow state.
// The cron function is injected and its handlers are invoked under a fake clock; the last tests
// use the real Deno.cron in a subprocess.

import assert from "node:assert/strict";
import {
  ConfigurationError,
  MemoryCheckpointStore,
  Resources,
  TaskConfig,
  Workflow,
} from "../mod.ts";
import {
  type DenoCronFunction,
  type DenoCronTick,
  registerDenoCron,
  Scheduler,
} from "../scheduler.ts";
import { FakeTime } from "../testing.ts";
import { flakyWorkflow, okWorkflow, sleep, type Step } from "./_scheduler_helpers.ts";

const T0 = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;

/** A cron function that records each job and lets the test invoke it. */
function fakeCron(): {
  cron: DenoCronFunction;
  jobs: Map<
    string,
    { schedule: string; signal: AbortSignal | undefined; run: () => Promise<void> }
  >;
} {
  const jobs = new Map<
    string,
    { schedule: string; signal: AbortSignal | undefined; run: () => Promise<void> }
  >();
  const cron: DenoCronFunction = (name, schedule, options, handler) => {
    assert.ok(!jobs.has(name), `one job per name (${name})`);
    jobs.set(name, { schedule, signal: options.signal, run: handler });
  };
  return { cron, jobs };
}

function job(jobs: ReturnType<typeof fakeCron>["jobs"], name: string): () => Promise<void> {
  const found = jobs.get(name);
  assert.ok(found !== undefined, `job "${name}" registered`);
  return found.run;
}

Deno.test("registerDenoCron() maps cron and exact interval flows to Deno.cron patterns and leaves manual flows out", () => {
  const { workflow } = okWorkflow();
  const { cron, jobs } = fakeCron();
  const signal = new AbortController().signal;
  const registered = registerDenoCron(
    new Scheduler()
      .cron("nightly", workflow, "start", "0 3 * * *")
      .cron("five", workflow, "start", "0 */5 * * * *")
      .cron("weekdays", workflow, "start", "30 9 * * 1-5", { timezone: "Etc/UTC" })
      .cron("sundays", workflow, "start", "0 12 * * 7")
      .cron("hourly", workflow, "start", "@hourly")
      .cron("summer", workflow, "start", "0 0 1 jun-aug *")
      .every("m1", workflow, "start", MINUTE)
      .every("m15", workflow, "start", 15 * MINUTE)
      .every("h1", workflow, "start", 60 * MINUTE)
      .every("h6", workflow, "start", 6 * 60 * MINUTE)
      .every("d1", workflow, "start", 24 * 60 * MINUTE)
      .manual("adhoc", workflow, "start"),
    { store: new MemoryCheckpointStore(), cron, signal },
  );
  const expected: [string, string][] = [
    ["nightly", "0 3 * * *"],
    ["five", "*/5 * * * *"],
    ["weekdays", "30 9 * * MON,TUE,WED,THU,FRI"],
    ["sundays", "0 12 * * SUN"],
    ["hourly", "0 * * * *"],
    ["summer", "0 0 1 6,7,8 *"],
    ["m1", "* * * * *"],
    ["m15", "*/15 * * * *"],
    ["h1", "0 * * * *"],
    ["h6", "0 */6 * * *"],
    ["d1", "0 0 * * *"],
  ];
  assert.deepEqual(registered.map((r) => [r.id, r.schedule]), expected);
  assert.ok(registered.every((r) => r.name === r.id));
  assert.deepEqual([...jobs].map(([name, j]) => [name, j.schedule]), expected);
  assert.ok([...jobs.values()].every((j) => j.signal === signal));
});

Deno.test("registerDenoCron() refuses, with a ConfigurationError naming the value, what Deno.cron cannot run, before registering anything", () => {
  const { workflow } = okWorkflow();
  const cases: [(scheduler: Scheduler) => Scheduler, RegExp][] = [
    [
      (s) => s.cron("late", workflow, "start", "30 * * * * *"),
      /"30 \* \* \* \* \*" of flow "late" .* seconds field \("30"\)/,
    ],
    [
      (s) => s.cron("berlin", workflow, "start", "0 3 * * *", { timezone: "Europe/Berlin" }),
      /no time zone .* "Europe\/Berlin"/,
    ],
    [(s) => s.cron("last", workflow, "start", "0 0 L * *"), /"L" in the day of month field/],
    [(s) => s.cron("nth", workflow, "start", "0 0 * * 1#2"), /"1#2" in the day of week field/],
    [(s) => s.cron("both", workflow, "start", "0 9 1 * 1"), /both the day of month and the day/],
    [
      (s) => s.every("odd", workflow, "start", 90_000),
      /Interval 90000 ms of flow "odd" .* 1, 2, 3/,
    ],
    [(s) => s.every("h5", workflow, "start", 5 * 3_600_000), /Interval 18000000 ms of flow "h5"/],
    [
      (s) => s.every("a.b", workflow, "start", MINUTE),
      /Flow id "a\.b" cannot be a Deno\.cron name/,
    ],
    [(s) => s.every("x".repeat(65), workflow, "start", MINUTE), /at most 64/],
  ];
  for (const [add, message] of cases) {
    const { cron, jobs } = fakeCron();
    // A valid flow first: nothing at all may be registered when a later one is refused.
    const scheduler = add(new Scheduler().every("fine", workflow, "start", MINUTE));
    assert.throws(
      () => registerDenoCron(scheduler, { store: new MemoryCheckpointStore(), cron }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigurationError, String(error));
        assert.match(error.message, message);
        return true;
      },
    );
    assert.equal(jobs.size, 0, `nothing registered for ${message}`);
    scheduler.every("more", workflow, "start", MINUTE); // a refused registration leaves it open
  }
});

Deno.test("registerDenoCron() refuses bad options, a second registration, and later changes", () => {
  const { workflow } = okWorkflow();
  const store = new MemoryCheckpointStore();
  const { cron } = fakeCron();
  const scheduler = new Scheduler().every("sync", workflow, "start", MINUTE);
  // deno-lint-ignore no-explicit-any
  const bad = (options: any) => () => registerDenoCron(scheduler, options);
  assert.throws(bad({ store: 42, cron }), /Option store must be .* received 42/);
  assert.throws(bad({ store, cron: "Deno.cron" }), /Option cron must be a function/);
  assert.throws(bad({ store, cron, signal: {} }), /Option signal must be an AbortSignal/);
  assert.throws(bad({ store, cron, pollInterval: 0 }), /pollInterval must be .* received 0/);
  assert.throws(bad(null), /registerDenoCron options must be an object/);
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => registerDenoCron({} as any, { store, cron }),
    /registerDenoCron needs a Scheduler/,
  );
  registerDenoCron(scheduler, { store, cron });
  assert.throws(
    () => registerDenoCron(scheduler, { store, cron: fakeCron().cron }),
    /already registered with Deno\.cron/,
  );
  assert.throws(
    () => scheduler.every("late", workflow, "start", MINUTE),
    /Cannot change flow "late": the scheduler's flows are registered with Deno\.cron/,
  );
});

Deno.test({
  name: "registerDenoCron() without Deno.cron explains the --unstable-cron flag",
  ignore: typeof (Deno as { cron?: unknown }).cron === "function",
  fn: () => {
    const { workflow } = okWorkflow();
    assert.throws(
      () =>
        registerDenoCron(new Scheduler().every("sync", workflow, "start", MINUTE), {
          store: new MemoryCheckpointStore(),
        }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigurationError);
        assert.match(error.message, /Deno\.cron is not available: run with --unstable-cron/);
        return true;
      },
    );
  },
});

Deno.test("registerDenoCron(): an invocation runs its tick once, under the per-tick run id, with its resources", async () => {
  using time = new FakeTime(T0 + 5 * MINUTE + 300); // Deno.cron invokes a little after the minute
  const log: string[] = [];
  const store = new MemoryCheckpointStore();
  const ids: string[] = [];
  const api = {
    setup: () => void log.push("setup api"),
    teardown: () => void log.push("teardown api"),
  };
  const workflow = new Workflow<Step, Record<string, unknown>, { api: typeof api }>({
    name: "sync",
    resources: new Resources({ api }),
  })
    .register("start", (ctx) => {
      ids.push(ctx.workflowId ?? "?");
      log.push("run");
      return "complete";
    }, { config: TaskConfig.minimal() })
    .addExitStates("complete", "error")
    .withCheckpointStore(store);
  const ticks: DenoCronTick[] = [];
  const isolates = [fakeCron(), fakeCron()];
  for (const [i, { cron }] of isolates.entries()) {
    registerDenoCron(new Scheduler().every("sync", workflow, "start", 5 * MINUTE), {
      store,
      cron,
      instanceId: `isolate-${i}`,
      onTick: (tick) => ticks.push(tick),
    });
  }
  // Both isolates are invoked for the same tick.
  await Promise.all(isolates.map(({ jobs }) => job(jobs, "sync")()));
  const tick = new Date(T0 + 5 * MINUTE);
  assert.deepEqual(ticks.map((t) => [t.scheduledAt.getTime(), t.outcome, t.reason]), [
    [tick.getTime(), "skipped", "claimed"],
    [tick.getTime(), "completed", undefined],
  ]);
  assert.deepEqual(ids, [`sync@${tick.toISOString()}`]);
  assert.equal(ticks[1]!.runId, ids[0]);
  assert.deepEqual(log, ["setup api", "run", "teardown api"]);
  // A second early invocation belongs to the next tick (within 5 s of it).
  await time.tickAsync(5 * MINUTE - 300 - 3_000);
  await job(isolates[0]!.jobs, "sync")();
  assert.equal(ids[1], `sync@${new Date(T0 + 10 * MINUTE).toISOString()}`);
  assert.equal(time.countTimers(), 0, "nothing left pending");
});

Deno.test("registerDenoCron(): invocations share backoff and trips with running schedulers on the store", async () => {
  using time = new FakeTime(T0 + 1_000);
  const store = new MemoryCheckpointStore();
  const { workflow, attempts } = flakyWorkflow(3); // fails twice, then succeeds
  const backoff = { initial: 1_000, jitter: 0, streakLimit: 2 };
  const { cron, jobs } = fakeCron();
  const ticks: string[] = [];
  registerDenoCron(new Scheduler().every("sync", workflow, "start", MINUTE, { backoff }), {
    store,
    cron,
    onTick: (tick) => ticks.push(`${tick.outcome}${tick.reason ? `:${tick.reason}` : ""}`),
  });
  const run = job(jobs, "sync");
  await run(); // minute 0: fails, streak 1
  await time.tickAsync(MINUTE);
  await run(); // minute 1: fails, tripped
  await time.tickAsync(MINUTE);
  await run(); // minute 2: tripped, skipped
  assert.deepEqual(ticks, ["failed", "failed", "skipped:tripped"]);
  assert.equal(attempts(), 2);
  // An operator resets the flow from a running scheduler on the same store.
  const running = await new Scheduler()
    .every("sync", workflow, "start", MINUTE, { backoff })
    .start({ coordination: store });
  assert.equal(running.status("sync")?.status, "tripped");
  await running.resetFlow("sync");
  await running.stop();
  await time.tickAsync(MINUTE);
  await run(); // minute 3: runs again and succeeds
  assert.deepEqual(ticks.slice(3), ["completed"]);
  assert.equal(attempts(), 3);
});

Deno.test("registerDenoCron(): cancelFlow on a running scheduler cancels the invocation's run", async () => {
  using time = new FakeTime(T0);
  const store = new MemoryCheckpointStore();
  const workflow = new Workflow<Step>()
    .register("start", async ({ signal }) => {
      await sleep(10 * MINUTE, signal);
      return "complete";
    }, { config: TaskConfig.minimal() })
    .addExitStates("complete", "error");
  const { cron, jobs } = fakeCron();
  const ticks: DenoCronTick[] = [];
  registerDenoCron(new Scheduler().every("long", workflow, "start", MINUTE), {
    store,
    cron,
    pollInterval: 500,
    onTick: (tick) => ticks.push(tick),
  });
  const invocation = job(jobs, "long")();
  await time.tickAsync(10);
  const running = await new Scheduler().manual("long", workflow, "start").start({
    coordination: store,
    pollInterval: 500,
  });
  assert.equal(running.status("long")?.status, "running", "the invocation's run shows");
  const cancelled = running.cancelFlow("long");
  await time.tickAsync(1_500);
  await cancelled;
  await invocation;
  assert.deepEqual(ticks.map((t) => t.outcome), ["cancelled"]);
  assert.equal(running.status("long")?.status, "idle");
  await running.stop();
});

Deno.test({
  name: "examples/deploy_cron.ts registers its flows with the real Deno.cron (--unstable-cron)",
  fn: async () => {
    const root = new URL("../", import.meta.url);
    const run = async (flags: string[]) => {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--quiet", ...flags, "examples/deploy_cron.ts", "--check"],
        cwd: root,
        stdout: "piped",
        stderr: "piped",
      }).output();
      return {
        code: output.code,
        out: new TextDecoder().decode(output.stdout),
        err: new TextDecoder().decode(output.stderr),
      };
    };
    const ok = await run(["--unstable-cron", "--unstable-kv"]);
    assert.equal(ok.code, 0, ok.err);
    assert.equal(
      ok.out,
      [
        "registered nightly-report: 0 3 * * *",
        "registered sync: */5 * * * *",
        "registered heartbeat: * * * * *",
        "not registered: adhoc (manual)",
        "check: ok",
        "",
      ].join("\n"),
    );
    const missing = await run(["--unstable-kv"]);
    assert.notEqual(missing.code, 0);
    assert.match(
      missing.err,
      /ConfigurationError: Deno\.cron is not available: run with --unstable-cron/,
    );
  },
});

Deno.test("registerDenoCron(): a never-matching pattern is refused, never handed to the real Deno.cron (which would crash)", async () => {
  // Deno.cron panics (kills the process) on a pattern that never matches; croner accepts some
  // that Deno.cron cannot run, so the refusal is checked against the real thing.
  const script = `
    import { registerDenoCron, Scheduler } from ${
    JSON.stringify(new URL("../scheduler.ts", import.meta.url).href)
  };
    import { MemoryCheckpointStore, Workflow } from ${
    JSON.stringify(new URL("../mod.ts", import.meta.url).href)
  };
    const workflow = new Workflow().register("go", () => "done").addExitState("done");
    const controller = new AbortController();
    for (const pattern of ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6 *"]) {
      try {
        const scheduler = new Scheduler().cron("never", workflow, "go", pattern);
        registerDenoCron(scheduler, { store: new MemoryCheckpointStore(), signal: controller.signal });
        console.log("registered " + pattern);
      } catch (error) {
        console.log(error.name + ": " + error.message);
      }
    }
    controller.abort();
    console.log("alive");
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", "--unstable-cron", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(output.stdout);
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  assert.equal(out.match(/ConfigurationError: .*never matches/g)?.length, 3, out);
  assert.match(out, /alive\n$/);
});
