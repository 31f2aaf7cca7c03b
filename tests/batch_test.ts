import assert from "node:assert/strict";
import {
  type BatchItemResult,
  batchTask,
  ConfigurationError,
  NonRetryableError,
  Resources,
  RetryExhaustedError,
  RetryMode,
  StateContextError,
  TaskConfig,
  type TaskContext,
  Workflow,
} from "../mod.ts";
import { FakeTime } from "../testing.ts";

const START = Date.UTC(2026, 0, 1);

function context(signal: AbortSignal = new AbortController().signal): TaskContext {
  return { state: "batch", data: {}, resources: new Resources(), signal, attempt: 1, runId: "t" };
}

/** Sleeps `ms` on the (fake) clock, rejecting with the signal's reason when it aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Tracks how many items are in flight and the most there ever were. */
class Gauge {
  now = 0;
  max = 0;
  enter(): void {
    this.now += 1;
    this.max = Math.max(this.max, this.now);
  }
  leave(): void {
    this.now -= 1;
  }
}

Deno.test("batchTask() never has more than `concurrency` items in flight", async () => {
  using time = new FakeTime(START);
  const gauge = new Gauge();
  const durations = [50, 10, 30, 20, 40, 10, 60, 5, 25, 15];
  let results: BatchItemResult<number>[] = [];
  const task = batchTask({
    load: () => durations,
    processItem: async (ctx, ms) => {
      gauge.enter();
      try {
        await sleep(ms, ctx.signal);
        return ms * 2;
      } finally {
        gauge.leave();
      }
    },
    finish: (_ctx, all) => {
      results = all;
      return "done";
    },
    concurrency: 3,
  });
  const run = Promise.resolve(task.run(context()));
  await time.tickAsync(1_000);
  assert.equal(await run, "done");
  assert.equal(gauge.max, 3);
  assert.deepEqual(results, durations.map((ms) => ({ ok: true, value: ms * 2 })));
});

Deno.test("batchTask() processes one item at a time by default", async () => {
  using time = new FakeTime(START);
  const gauge = new Gauge();
  const started: number[] = [];
  const task = batchTask({
    load: () => [1, 2, 3],
    processItem: async (ctx, n: number) => {
      started.push(Date.now() - START);
      gauge.enter();
      await sleep(100, ctx.signal);
      gauge.leave();
      return n;
    },
    finish: () => "done",
  });
  const run = Promise.resolve(task.run(context()));
  await time.tickAsync(300);
  assert.equal(await run, "done");
  assert.equal(gauge.max, 1);
  assert.deepEqual(started, [0, 100, 200]);
});

Deno.test("batchTask() gives finish the results in input order, whatever the completion order", async () => {
  using time = new FakeTime(START);
  const completed: string[] = [];
  let results: BatchItemResult<string>[] = [];
  const task = batchTask({
    load: () => [{ id: "a", ms: 30 }, { id: "b", ms: 10 }, { id: "c", ms: 20 }, { id: "d", ms: 5 }],
    processItem: async (ctx, item) => {
      await sleep(item.ms, ctx.signal);
      completed.push(item.id);
      if (item.id === "c") throw new Error("c failed");
      return item.id.toUpperCase();
    },
    finish: (_ctx, all) => {
      results = all;
      return "done";
    },
    concurrency: 4,
  });
  const run = Promise.resolve(task.run(context()));
  await time.tickAsync(30);
  await run;
  assert.deepEqual(completed, ["d", "b", "c", "a"]);
  assert.deepEqual(results.map((r) => r.ok ? r.value : (r.error as Error).message), [
    "A",
    "B",
    "c failed",
    "D",
  ]);
});

Deno.test("batchTask() retries an item per itemRetry and keeps the final error unwrapped", async () => {
  using time = new FakeTime(START);
  const attempts: Record<string, number[]> = { flaky: [], broken: [] };
  let results: BatchItemResult<string>[] = [];
  const task = batchTask({
    load: () => ["flaky", "broken"],
    processItem: (_ctx, name) => {
      const tries = attempts[name]!;
      tries.push(Date.now() - START);
      if (name === "broken" || tries.length < 3) throw new Error(`${name} #${tries.length}`);
      return `${name} ok`;
    },
    finish: (_ctx, all) => {
      results = all;
      return "done";
    },
    concurrency: 2,
    itemRetry: RetryMode.fixed(2, 50),
  });
  const run = Promise.resolve(task.run(context()));
  await time.tickAsync(100);
  assert.equal(await run, "done");
  assert.deepEqual(attempts, { flaky: [0, 50, 100], broken: [0, 50, 100] });
  assert.deepEqual(results[0], { ok: true, value: "flaky ok" });
  assert.equal(results[1]?.ok, false);
  const error = (results[1] as { error: unknown }).error;
  assert.ok(!(error instanceof RetryExhaustedError));
  assert.equal((error as Error).message, "broken #3");
});

Deno.test("batchTask() spaces item retries with the RetryMode's delays", async () => {
  using time = new FakeTime(START);
  const tries: number[] = [];
  const task = batchTask({
    load: () => ["x"],
    processItem: () => {
      tries.push(Date.now() - START);
      throw new Error("nope");
    },
    finish: () => "done",
    itemRetry: RetryMode.exponential(3, { baseDelay: 100, jitter: 0 }),
  });
  const run = Promise.resolve(task.run(context()));
  await time.tickAsync(700);
  await run;
  assert.deepEqual(tries, [0, 100, 300, 700]);
});

Deno.test("batchTask() does not retry an item that throws a NonRetryableError", async () => {
  let tries = 0;
  let results: BatchItemResult<never>[] = [];
  const fatal = new NonRetryableError("bad item");
  const task = batchTask({
    load: () => [1],
    processItem: (): never => {
      tries += 1;
      throw fatal;
    },
    finish: (_ctx, all) => {
      results = all;
      return "done";
    },
    itemRetry: RetryMode.fixed(5, 0),
  });
  await task.run(context());
  assert.equal(tries, 1);
  assert.deepEqual(results, [{ ok: false, error: fatal }]);
});

Deno.test("batchTask() fails without calling finish when load fails", async () => {
  const boom = new Error("db down");
  let processed = 0;
  let finished = 0;
  const task = batchTask({
    load: (): number[] => {
      throw boom;
    },
    processItem: () => processed++,
    finish: () => {
      finished += 1;
      return "done";
    },
  });
  await assert.rejects(Promise.resolve(task.run(context())), (error) => error === boom);
  assert.equal(processed, 0);
  assert.equal(finished, 0);
});

Deno.test("batchTask() fails when finish fails, and calls finish with [] for no items", async () => {
  const boom = new Error("too many failures");
  const failing = batchTask({
    load: () => [1],
    processItem: (_ctx, n: number) => n,
    finish: () => {
      throw boom;
    },
  });
  await assert.rejects(Promise.resolve(failing.run(context())), (error) => error === boom);
  let seen: unknown;
  const empty = batchTask({
    load: (): number[] => [],
    processItem: (_ctx, n) => n,
    finish: (_ctx, all) => {
      seen = all;
      return "done";
    },
    concurrency: 4,
  });
  assert.equal(await empty.run(context()), "done");
  assert.deepEqual(seen, []);
});

Deno.test("batchTask() rejects a load that does not return an array", async () => {
  const task = batchTask({
    load: () => "abc" as unknown as string[],
    processItem: (_ctx, s) => s,
    finish: () => "done",
  });
  await assert.rejects(Promise.resolve(task.run(context())), {
    name: "ConfigurationError",
    message: /load\(\) must return an array of items, received abc/,
  });
});

Deno.test("batchTask() validates its options when created", () => {
  const base = { load: () => [], processItem: () => 1, finish: () => "done" };
  const bad: [unknown, RegExp][] = [
    ["x", /needs an options object/],
    [{ ...base, load: undefined }, /load must be a function/],
    [{ ...base, processItem: 1 }, /processItem must be a function/],
    [{ ...base, finish: null }, /finish must be a function/],
    [{ ...base, concurrency: 0 }, /concurrency must be a positive integer or Infinity, received 0/],
    [{ ...base, concurrency: -2 }, /concurrency must be a positive integer/],
    [{ ...base, concurrency: 1.5 }, /concurrency must be a positive integer/],
    [{ ...base, concurrency: Number.NaN }, /concurrency must be a positive integer/],
    [{ ...base, itemRetry: { retries: 3 } }, /itemRetry must be a RetryMode/],
    [{ ...base, name: "" }, /name must be a non-empty string/],
  ];
  for (const [options, message] of bad) {
    assert.throws(
      () => batchTask(options as Parameters<typeof batchTask>[0]),
      (error: unknown) => error instanceof ConfigurationError && message.test(error.message),
      String(message),
    );
  }
  assert.doesNotThrow(() => batchTask({ ...base, concurrency: Infinity }));
});

Deno.test("batchTask() defaults to TaskConfig.default() and keeps a given config's fields", () => {
  const base = { load: () => [], processItem: () => 1, finish: () => "done" };
  assert.deepEqual(batchTask(base).config, TaskConfig.default());
  assert.equal(batchTask(base).config?.retry?.maxAttempts(), 4);
  const config = TaskConfig.minimal();
  const task = batchTask({ ...base, config, name: "import" });
  assert.deepEqual(task.config, config);
  assert.equal(task.name, "import");
});

Deno.test("batchTask() aborted mid-items starts no new item and rejects with signal.reason", async () => {
  using time = new FakeTime(START);
  const controller = new AbortController();
  const started: number[] = [];
  let finished = 0;
  const task = batchTask({
    load: () => [0, 1, 2, 3, 4, 5],
    processItem: async (ctx, n: number) => {
      started.push(n);
      await sleep(100, ctx.signal);
      return n;
    },
    finish: () => {
      finished += 1;
      return "done";
    },
    concurrency: 2,
  });
  const reason = new Error("stop");
  const run = assert.rejects(
    Promise.resolve(task.run(context(controller.signal))),
    (error) => error === reason,
  );
  await time.tickAsync(150);
  controller.abort(reason);
  await run;
  await time.tickAsync(1_000);
  assert.deepEqual(started, [0, 1, 2, 3]);
  assert.equal(finished, 0);
});

Deno.test("batchTask() rejects promptly on abort even when an item ignores its signal", async () => {
  using time = new FakeTime(START);
  const controller = new AbortController();
  const started: number[] = [];
  const task = batchTask({
    load: () => [0, 1, 2],
    processItem: async (_ctx, n: number) => {
      started.push(n);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      return n;
    },
    finish: () => "done",
  });
  const run = assert.rejects(Promise.resolve(task.run(context(controller.signal))), /stop/);
  await time.tickAsync(10);
  controller.abort(new Error("stop"));
  await run;
  assert.equal(time.now - START, 10);
  await time.tickAsync(1_000); // let the stubborn item end: no new item starts after it
  assert.deepEqual(started, [0]);
});

Deno.test("batchTask() aborted during an item's retry backoff rejects at once", async () => {
  using time = new FakeTime(START);
  const controller = new AbortController();
  let tries = 0;
  const task = batchTask({
    load: () => [1],
    processItem: () => {
      tries += 1;
      throw new Error("flaky");
    },
    finish: () => "done",
    itemRetry: RetryMode.fixed(3, 10_000),
  });
  const run = assert.rejects(Promise.resolve(task.run(context(controller.signal))), /stop/);
  await time.tickAsync(100);
  controller.abort(new Error("stop"));
  await run;
  assert.equal(tries, 1);
  assert.equal(time.now - START, 100);
});

// ── Through a workflow ─────────────────────────────────────────────────────────────────────────

type Step = "start" | "batch" | "done" | "partial";

Deno.test("Workflow runs a batchTask and routes on finish's decision", async () => {
  using time = new FakeTime(START);
  const workflow = new Workflow<Step, { report: string[] }>()
    .register("start", () => "batch")
    .register(
      "batch",
      batchTask({
        load: () => ["a", "b", "c"],
        processItem: async (ctx, id) => {
          await sleep(10, ctx.signal);
          if (id === "b") throw new Error("b is broken");
          return id;
        },
        finish: (ctx, results) => {
          ctx.data.report = results.map((r) => r.ok ? `ok ${r.value}` : "failed");
          return results.every((r) => r.ok) ? "done" : "partial";
        },
        concurrency: 3,
      }),
    )
    .addExitStates("done", "partial");
  const run = workflow.orchestrate("start", { data: { report: [] } });
  await time.tickAsync(10);
  const result = await run;
  assert.equal(result.state, "partial");
  assert.deepEqual(result.data.report, ["ok a", "failed", "ok c"]);
});

Deno.test("Workflow: the outer retry replays the whole load → process → finish cycle", async () => {
  using time = new FakeTime(START);
  const calls: string[] = [];
  let finishes = 0;
  const workflow = new Workflow<Step>()
    .register(
      "batch",
      batchTask({
        config: { retry: RetryMode.fixed(2, 100) },
        load: () => {
          calls.push("load");
          return [1, 2];
        },
        processItem: (_ctx, n: number) => {
          calls.push(`item ${n}`);
          return n;
        },
        finish: () => {
          calls.push("finish");
          if (++finishes < 2) throw new Error("downstream busy");
          return "done";
        },
      }),
    )
    .addExitStates("done", "partial");
  const run = workflow.orchestrate("batch");
  await time.tickAsync(100);
  assert.equal((await run).state, "done");
  const cycle = ["load", "item 1", "item 2", "finish"];
  assert.deepEqual(calls, [...cycle, ...cycle]);
});

Deno.test("Workflow: a failing load is retried per config, then fails the run", async () => {
  using time = new FakeTime(START);
  let loads = 0;
  let finishes = 0;
  const workflow = new Workflow<Step>()
    .register(
      "batch",
      batchTask({
        config: { retry: RetryMode.fixed(1, 10) },
        load: (): number[] => {
          loads += 1;
          throw new Error("db down");
        },
        processItem: (_ctx, n) => n,
        finish: () => {
          finishes += 1;
          return "done";
        },
      }),
    )
    .addExitState("done");
  const run = assert.rejects(workflow.orchestrate("batch"), (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "retry_exhausted");
    return true;
  });
  await time.tickAsync(10);
  await run;
  assert.equal(loads, 2);
  assert.equal(finishes, 0);
});

Deno.test("Workflow: cancelling a batch mid-items ends the run as cancelled", async () => {
  using time = new FakeTime(START);
  const controller = new AbortController();
  const started: number[] = [];
  const workflow = new Workflow<Step>()
    .register(
      "batch",
      batchTask({
        load: () => [0, 1, 2, 3],
        processItem: async (ctx, n: number) => {
          started.push(n);
          await sleep(1_000, ctx.signal);
          return n;
        },
        finish: () => "done",
      }),
    )
    .addExitState("done");
  const run = assert.rejects(
    workflow.orchestrate("batch", { signal: controller.signal }),
    { category: "cancelled" },
  );
  await time.tickAsync(1_500);
  controller.abort();
  await run;
  await time.tickAsync(5_000);
  assert.deepEqual(started, [0, 1]);
  assert.equal(time.now - START, 6_500);
});
