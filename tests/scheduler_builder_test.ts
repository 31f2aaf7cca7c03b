// The Scheduler builder: registration checks, start (validation, resource setup once, rollback),
// double start, the start signal, and resource teardown at stop.

import assert from "node:assert/strict";
import { CancelledError, ConfigurationError, Resources, TaskConfig, Workflow } from "../mod.ts";
import { Scheduler } from "../scheduler.ts";
import { FakeTime } from "../testing.ts";
import { okWorkflow, resourcefulWorkflow, type Step } from "./_scheduler_helpers.ts";

function throwsConfig(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ConfigurationError, `ConfigurationError, got ${error}`);
    assert.match(error.message, message);
    return true;
  });
}

Deno.test("Scheduler.every() / cron() / manual() reject a duplicate id", () => {
  const { workflow } = okWorkflow();
  const scheduler = new Scheduler().manual("job", workflow, "start");
  throwsConfig(
    () => scheduler.every("job", workflow, "start", 1_000),
    /^Flow "job" already exists$/,
  );
  throwsConfig(() => scheduler.cron("job", workflow, "start", "* * * * *"), /already exists/);
  throwsConfig(() => scheduler.manual("job", workflow, "start"), /already exists/);
  assert.equal(scheduler.size, 1);
});

Deno.test("Scheduler.every() rejects a non-positive or non-finite interval", () => {
  const { workflow } = okWorkflow();
  const scheduler = new Scheduler();
  for (const interval of [0, -5, NaN, Infinity, -Infinity, "10" as unknown as number]) {
    throwsConfig(
      () => scheduler.every("job", workflow, "start", interval),
      /^Interval of flow "job" must be a positive, finite number of ms, received /,
    );
  }
  assert.equal(scheduler.size, 0, "nothing was registered");
});

Deno.test("Scheduler.cron() rejects an invalid expression", () => {
  const { workflow } = okWorkflow();
  const scheduler = new Scheduler();
  for (
    const expression of [
      "",
      "not a cron",
      "61 * * * *",
      "* * * *",
      "* * * * * * 2030", // the year field is not accepted: 5 or 6 fields only
      "*/0 * * * *",
    ]
  ) {
    throwsConfig(
      () => scheduler.cron("job", workflow, "start", expression),
      /cron expression/i,
    );
  }
  throwsConfig(
    () => scheduler.cron("job", workflow, "start", "61 * * * *"),
    /^Invalid cron expression "61 \* \* \* \*" for flow "job": /,
  );
});

Deno.test("Scheduler.cron() rejects an expression that never matches", () => {
  const { workflow } = okWorkflow();
  throwsConfig(
    () => new Scheduler().cron("feb30", workflow, "start", "0 0 30 2 *"),
    /^Cron expression "0 0 30 2 \*" for flow "feb30" never matches$/,
  );
});

Deno.test("Scheduler.cron() rejects an unknown time zone", () => {
  const { workflow } = okWorkflow();
  throwsConfig(
    () => new Scheduler().cron("job", workflow, "start", "0 3 * * *", { timezone: "Mars/Olympus" }),
    /^Invalid time zone "Mars\/Olympus" for flow "job"/,
  );
});

Deno.test("Scheduler.cron() accepts 5- and 6-field expressions and nicknames", async () => {
  using _time = new FakeTime(Date.UTC(2026, 0, 1, 12, 0, 0));
  const { workflow } = okWorkflow();
  await using running = await new Scheduler()
    .cron("five", workflow, "start", "30 3 * * *")
    .cron("six", workflow, "start", "15 30 3 * * *")
    .cron("nick", workflow, "start", "@hourly")
    .cron("berlin", workflow, "start", "0 3 * * *", { timezone: "Europe/Berlin" })
    .start();
  assert.deepEqual(
    running.list().map((flow) => [flow.id, flow.nextRun?.toISOString()]),
    [
      ["five", "2026-01-02T03:30:00.000Z"],
      ["six", "2026-01-02T03:30:15.000Z"],
      ["nick", "2026-01-01T13:00:00.000Z"],
      ["berlin", "2026-01-02T02:00:00.000Z"],
    ],
  );
  assert.deepEqual(running.status("berlin")?.schedule, {
    kind: "cron",
    expression: "0 3 * * *",
    timezone: "Europe/Berlin",
  });
  assert.deepEqual(running.status("five")?.schedule, {
    kind: "cron",
    expression: "30 3 * * *",
    timezone: "UTC",
  });
});

Deno.test("Scheduler registration rejects bad ids, workflows, initial states and options", () => {
  const { workflow } = okWorkflow();
  const scheduler = new Scheduler();
  throwsConfig(() => scheduler.manual("", workflow, "start"), /Flow id must be a non-empty string/);
  throwsConfig(
    () => scheduler.manual("x", {} as unknown as Workflow<Step>, "start"),
    /^Flow "x" needs a Workflow, received Object$/,
  );
  throwsConfig(
    () => scheduler.manual("x", workflow, "" as Step),
    /Initial state of flow "x" must be a non-empty string/,
  );
  throwsConfig(
    () => scheduler.manual("x", workflow, "start", { data: {} as unknown as () => unknown }),
    /Option data of flow "x" must be a function/,
  );
  throwsConfig(
    () => scheduler.every("x", workflow, "start", 10, { initialDelay: -1 }),
    /Initial delay of flow "x" must be a finite number of ms ≥ 0, received -1/,
  );
  throwsConfig(
    () => scheduler.manual("x", workflow, "start", { backoff: { jitter: 2 } }),
    /Backoff jitter must be a number in \[0, 1\], received 2/,
  );
  assert.equal(scheduler.size, 0);
});

Deno.test("Scheduler.setBackoff() rejects a policy out of range", () => {
  const scheduler = new Scheduler().manual("job", okWorkflow().workflow, "start");
  throwsConfig(() => scheduler.setBackoff("job", { initial: -1 }), /initial delay/);
  throwsConfig(() => scheduler.setBackoff("job", { multiplier: 0.5 }), /multiplier/);
  throwsConfig(() => scheduler.setBackoff("job", { initial: 10, maxDelay: 5 }), /maxDelay/);
  throwsConfig(() => scheduler.setBackoff("job", { streakLimit: 1.5 }), /streakLimit/);
  throwsConfig(() => scheduler.setBackoff("job", { jitter: NaN }), /jitter/);
});

Deno.test("Scheduler flows may use different workflow types", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const seen: string[] = [];
  const numbers = new Workflow<"count" | "counted", { n: number }>()
    .register("count", (ctx) => {
      seen.push(`n=${ctx.data.n}`);
      return "counted";
    }, { config: TaskConfig.minimal() })
    .addExitState("counted");
  const words = new Workflow<"say" | "said", { word: string }>()
    .register("say", (ctx) => {
      seen.push(`word=${ctx.data.word}`);
      return "said";
    }, { config: TaskConfig.minimal() })
    .addExitState("said");
  let n = 0;
  await using running = await new Scheduler()
    .every("numbers", numbers, "count", 1_000, { data: () => ({ n: ++n }) })
    .manual("words", words, "say", { data: () => ({ word: "hi" }) })
    .start();
  await time.tickAsync(0); // the interval flow's first run happens on the next timer turn
  await running.trigger("words");
  await time.tickAsync(1_000);
  assert.deepEqual(seen, ["n=1", "word=hi", "n=2"]);
});

Deno.test("Scheduler: a throwing run-data factory is a failed run", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  await using running = await new Scheduler()
    .manual("job", okWorkflow().workflow, "start", {
      data: () => {
        throw new Error("no input");
      },
      backoff: { jitter: 0 },
    })
    .start();
  await running.trigger("job");
  await time.tickAsync(1);
  assert.equal(running.status("job")?.status, "backoff");
  assert.equal(running.status("job")?.lastError, "no input");
});

Deno.test("Scheduler.start() sets resources up once, in registration order, and stop() tears them down in reverse", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log: string[] = [];
  const a = resourcefulWorkflow("a", log);
  const b = resourcefulWorkflow("b", log);
  const running = await new Scheduler()
    .every("a1", a, "start", 100)
    .manual("b", b, "start")
    .every("a2", a, "start", 100) // the same workflow again: set up once
    .start();
  assert.deepEqual(log, ["setup a", "setup b"]);
  await time.tickAsync(1_000);
  await running.trigger("b");
  await time.tickAsync(10);
  assert.deepEqual(log, ["setup a", "setup b"], "no per-run setup or teardown");
  assert.ok((running.status("a1")?.runCount ?? 0) >= 10);
  await running.stop();
  assert.deepEqual(log, ["setup a", "setup b", "teardown b", "teardown a"]);
});

Deno.test("Scheduler.start() rolls back the setups done when one fails, and arms nothing", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log: string[] = [];
  const scheduler = new Scheduler()
    .every("a", resourcefulWorkflow("a", log), "start", 100)
    .every("b", resourcefulWorkflow("b", log), "start", 100)
    .every("c", resourcefulWorkflow("c", log, { failSetup: true }), "start", 100)
    .every("d", resourcefulWorkflow("d", log), "start", 100);
  await assert.rejects(scheduler.start(), /c is down/);
  assert.deepEqual(log, ["setup a", "setup b", "setup c", "teardown b", "teardown a"]);
  assert.equal(time.countTimers(), 0, "nothing was scheduled");
});

Deno.test("Scheduler.start() resources that several workflows share are set up once", async () => {
  const log: string[] = [];
  const resources = new Resources({
    db: { setup: () => void log.push("setup"), teardown: () => void log.push("teardown") },
  });
  const one = new Workflow<Step>({ resources }).register("start", () => "complete")
    .addExitState("complete");
  const two = new Workflow<Step>({ resources }).register("start", () => "complete")
    .addExitState("complete");
  const running = await new Scheduler().manual("one", one, "start").manual("two", two, "start")
    .start();
  await running.stop();
  assert.deepEqual(log, ["setup", "teardown"]);
});

Deno.test("Scheduler.start() twice is refused, and so is registering after start", async () => {
  const scheduler = new Scheduler().manual("job", okWorkflow().workflow, "start");
  await using _running = await scheduler.start();
  await assert.rejects(scheduler.start(), (error: unknown) => {
    assert.ok(error instanceof ConfigurationError);
    assert.match(error.message, /already been started/);
    return true;
  });
  throwsConfig(
    () => scheduler.manual("late", okWorkflow().workflow, "start"),
    /Cannot change flow "late": the scheduler has already been started/,
  );
  throwsConfig(() => scheduler.setBackoff("job", {}), /already been started/);
});

Deno.test("Scheduler.start() can be retried after a failed start", async () => {
  let down = true;
  const workflow = new Workflow<Step>({
    resources: new Resources({
      db: {
        setup: () => {
          if (down) throw new Error("db is down");
        },
      },
    }),
  }).register("start", () => "complete").addExitState("complete");
  const scheduler = new Scheduler().manual("job", workflow, "start");
  await assert.rejects(scheduler.start(), /db is down/);
  down = false;
  const running = await scheduler.start();
  await running.stop();
});

Deno.test("Scheduler.start() with an aborted signal sets nothing up", async () => {
  const log: string[] = [];
  const controller = new AbortController();
  controller.abort(new Error("shutting down"));
  const scheduler = new Scheduler().every("a", resourcefulWorkflow("a", log), "start", 100);
  await assert.rejects(scheduler.start({ signal: controller.signal }), (error: unknown) => {
    assert.ok(error instanceof CancelledError);
    assert.equal((error.cause as Error).message, "shutting down");
    return true;
  });
  assert.deepEqual(log, []);
});

Deno.test("Scheduler.start() signal aborted during setup tears down and rejects", async () => {
  const log: string[] = [];
  const controller = new AbortController();
  const aborting = new Workflow<Step>({
    resources: new Resources({
      db: {
        setup: () => {
          log.push("setup db");
          controller.abort();
        },
        teardown: () => void log.push("teardown db"),
      },
    }),
  }).register("start", () => "complete").addExitState("complete");
  const scheduler = new Scheduler()
    .manual("a", resourcefulWorkflow("a", log), "start")
    .manual("db", aborting, "start");
  await assert.rejects(scheduler.start({ signal: controller.signal }), CancelledError);
  assert.deepEqual(log, ["setup a", "setup db", "teardown db", "teardown a"]);
});

Deno.test("Scheduler.start() signal: aborting it stops the scheduler", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log: string[] = [];
  const controller = new AbortController();
  const { workflow, runs } = okWorkflow();
  const running = await new Scheduler()
    .every("tick", workflow, "start", 100)
    .manual("a", resourcefulWorkflow("a", log), "start")
    .start({ signal: controller.signal });
  await time.tickAsync(250);
  assert.equal(runs(), 3);
  controller.abort();
  await running.wait();
  assert.deepEqual(log, ["setup a", "teardown a"]);
  await time.tickAsync(1_000);
  assert.equal(runs(), 3);
  await assert.rejects(running.trigger("tick"), /Scheduler not running/);
});

Deno.test("Scheduler.start() rejects options that are not options", async () => {
  const scheduler = new Scheduler().manual("job", okWorkflow().workflow, "start");
  await assert.rejects(
    scheduler.start({ signal: "soon" as unknown as AbortSignal }),
    /Option signal must be an AbortSignal/,
  );
  const running = await scheduler.start();
  await assert.rejects(running.stop({ timeout: -1 }), ConfigurationError);
  await assert.rejects(running.stop({ timeout: NaN }), /Stop timeout must be/);
  await running.stop({ timeout: Infinity });
});

Deno.test("Scheduler.every() takes durations as ms or with a unit, and refuses what is neither", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  let runs = 0;
  const workflow = new Workflow<"go" | "done">()
    .register("go", () => (runs++, "done"))
    .addExitState("done");
  const running = await new Scheduler()
    .every("sync", workflow, "go", "1.5m", { initialDelay: "30s" })
    .start();
  await time.tickAsync(29_999);
  assert.equal(runs, 0, "the initial delay is 30 s");
  await time.tickAsync(1);
  assert.equal(runs, 1);
  await time.tickAsync(90_000);
  assert.equal(runs, 2, "then every 1.5 minutes");
  await running.stop();
  const build = () => new Scheduler();
  assert.throws(() => build().every("a", workflow, "go", "10 parsecs" as "1s"), {
    name: "ConfigurationError",
    message: /Interval of flow "a" must be .* received 10 parsecs \(a duration is a number/,
  });
  assert.throws(() => build().every("b", workflow, "go", "0s"), /must be a positive.* received 0s/);
  assert.throws(
    () => build().every("c", workflow, "go", 10, { initialDelay: -1 }),
    /Initial delay of flow "c" must be a finite number of ms ≥ 0, received -1/,
  );
  for (
    const [value, ms] of [["250ms", 250], ["2s", 2_000], ["1h", 3_600_000], ["1d", 86_400_000]]
  ) {
    const scheduler = build().every("x", workflow, "go", value as "1s");
    assert.equal(scheduler.has("x"), true, `${value} = ${ms} ms`);
  }
});
