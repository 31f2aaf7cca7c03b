import assert from "node:assert/strict";
import {
  ConfigurationError,
  NonRetryableError,
  pending,
  type PollOutcome,
  pollTask,
  ready,
  Resources,
  RetryExhaustedError,
  RetryMode,
  StateContextError,
  TaskConfig,
  type TaskContext,
  TimeoutError,
  Workflow,
} from "../mod.ts";
import { FakeTime } from "../testing.ts";

const START = Date.UTC(2026, 0, 1);

function context(signal: AbortSignal = new AbortController().signal): TaskContext {
  return { state: "wait", data: {}, resources: new Resources(), signal, attempt: 1, runId: "t" };
}

/** A poll that plays back `script`: outcomes are returned, errors thrown; records when it ran. */
function scripted(
  script: (PollOutcome<"done"> | Error)[],
  times: number[],
): () => PollOutcome<"done"> {
  let i = 0;
  return () => {
    times.push(Date.now() - START);
    const step = script[i++];
    if (step === undefined) throw new Error("script exhausted");
    if (step instanceof Error) throw step;
    return step;
  };
}

/** Resolves to whether `promise` settles within a few microtask turns (that is, with no timer). */
async function settlesWithoutTimers(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(() => settled = true, () => settled = true);
  for (let i = 0; i < 50 && !settled; i++) await Promise.resolve();
  return settled;
}

Deno.test("ready() and pending() build the poll outcomes", () => {
  assert.deepEqual(ready("done"), { ready: "done" });
  assert.deepEqual(pending(250), { pending: 250 });
});

Deno.test("pollTask() sleeps exactly each pending delay, then returns the ready state", async () => {
  using time = new FakeTime(START);
  const times: number[] = [];
  const task = pollTask({
    poll: scripted([pending(100), pending(250), pending(0), ready("done")], times),
  });
  const run = Promise.resolve(task.run(context()));
  await time.tickAsync(99);
  assert.deepEqual(times, [0]);
  await time.tickAsync(1);
  assert.deepEqual(times, [0, 100]);
  await time.tickAsync(250);
  assert.equal(await run, "done");
  assert.deepEqual(times, [0, 100, 350, 350], "pending(0) re-polls at once");
});

Deno.test("pollTask() does not start a timer for pending(0)", async () => {
  using _time = new FakeTime(START);
  const times: number[] = [];
  const task = pollTask({ poll: scripted([pending(0), pending(0), ready("done")], times) });
  const run = Promise.resolve(task.run(context()));
  assert.ok(await settlesWithoutTimers(run), "finished without the clock moving");
  assert.equal(await run, "done");
  assert.deepEqual(times, [0, 0, 0]);
});

Deno.test("pollTask() fails fast on a poll error by default", async () => {
  const boom = new Error("boom");
  const times: number[] = [];
  const task = pollTask({ poll: scripted([boom, ready("done")], times) });
  await assert.rejects(Promise.resolve(task.run(context())), (error) => error === boom);
  assert.equal(times.length, 1);
  const explicit = pollTask({ poll: scripted([boom], []), onPollError: "failFast" });
  await assert.rejects(Promise.resolve(explicit.run(context())), (error) => error === boom);
});

Deno.test("pollTask() with retryOnError: n tolerates n consecutive errors and re-polls at once", async () => {
  using _time = new FakeTime(START);
  const times: number[] = [];
  const task = pollTask({
    poll: scripted([new Error("1"), new Error("2"), ready("done")], times),
    onPollError: { retryOnError: 2 },
  });
  const run = Promise.resolve(task.run(context()));
  assert.ok(await settlesWithoutTimers(run), "no delay between error re-polls");
  assert.equal(await run, "done");
  assert.deepEqual(times, [0, 0, 0]);
});

Deno.test("pollTask() with retryOnError: n fails on the (n+1)-th consecutive error with that error", async () => {
  const last = new Error("3");
  const times: number[] = [];
  const task = pollTask({
    poll: scripted([new Error("1"), new Error("2"), last, ready("done")], times),
    onPollError: { retryOnError: 2 },
  });
  await assert.rejects(Promise.resolve(task.run(context())), (error) => error === last);
  assert.equal(times.length, 3);
});

Deno.test("pollTask() with retryOnError: 0 behaves like failFast", async () => {
  const boom = new Error("boom");
  const times: number[] = [];
  const task = pollTask({
    poll: scripted([boom, ready("done")], times),
    onPollError: { retryOnError: 0 },
  });
  await assert.rejects(Promise.resolve(task.run(context())), (error) => error === boom);
  assert.equal(times.length, 1);
});

Deno.test("pollTask() resets the error budget after a pending outcome", async () => {
  using time = new FakeTime(START);
  const times: number[] = [];
  const e = (m: string): Error => new Error(m);
  const task = pollTask({
    poll: scripted(
      [e("a"), e("b"), pending(10), e("c"), e("d"), pending(10), ready("done")],
      times,
    ),
    onPollError: { retryOnError: 2 },
  });
  const run = Promise.resolve(task.run(context()));
  await time.tickAsync(20);
  assert.equal(await run, "done");
  assert.deepEqual(times, [0, 0, 0, 10, 10, 10, 20]);

  const last = e("f");
  const failing = pollTask({
    poll: scripted([e("a"), pending(10), e("b"), e("c"), last, ready("done")], []),
    onPollError: { retryOnError: 2 },
  });
  const failed = assert.rejects(Promise.resolve(failing.run(context())), (error) => error === last);
  await time.tickAsync(10);
  await failed;
});

Deno.test("pollTask() never retries a NonRetryableError", async () => {
  const fatal = new NonRetryableError("gone");
  const times: number[] = [];
  const task = pollTask({
    poll: scripted([fatal, ready("done")], times),
    onPollError: { retryOnError: 5 },
  });
  await assert.rejects(Promise.resolve(task.run(context())), (error) => error === fatal);
  assert.equal(times.length, 1);
});

Deno.test("pollTask() has no iteration cap", async () => {
  using time = new FakeTime(START);
  let polls = 0;
  const task = pollTask({ poll: () => ++polls < 5_000 ? pending(1) : ready("done") });
  const run = Promise.resolve(task.run(context()));
  await time.tickAsync(5_000);
  assert.equal(await run, "done");
  assert.equal(polls, 5_000);
});

Deno.test("pollTask() validates its options when created", () => {
  const poll = (): PollOutcome => ready("done");
  const bad: [unknown, RegExp][] = [
    [undefined, /needs an options object/],
    [{}, /poll must be a function/],
    [{ poll: "nope" }, /poll must be a function/],
    [{ poll, onPollError: { retryOnError: -1 } }, /non-negative integer, received -1/],
    [{ poll, onPollError: { retryOnError: 1.5 } }, /non-negative integer, received 1.5/],
    [{ poll, onPollError: { retryOnError: Infinity } }, /non-negative integer/],
    [{ poll, onPollError: "retry" }, /must be "failFast" or \{ retryOnError: n \}/],
    [{ poll, name: "" }, /name must be a non-empty string/],
    [{ poll, config: { attemptTimeout: -5 } }, /attemptTimeout/],
  ];
  for (const [options, message] of bad) {
    assert.throws(
      () => pollTask(options as Parameters<typeof pollTask>[0]),
      (error: unknown) => error instanceof ConfigurationError && message.test(error.message),
      String(message),
    );
  }
});

Deno.test("pollTask() rejects an invalid pending delay or outcome with a ConfigurationError", async () => {
  for (const delay of [-1, Number.NaN, Infinity]) {
    const task = pollTask({ poll: () => pending(delay) });
    await assert.rejects(
      Promise.resolve(task.run(context())),
      (error: unknown) =>
        error instanceof ConfigurationError &&
        /pending delay must be a finite number/.test(error.message),
    );
  }
  const wrong = pollTask({ poll: () => "done" as unknown as PollOutcome });
  await assert.rejects(Promise.resolve(wrong.run(context())), {
    name: "ConfigurationError",
    message: /must return ready\(state\) or pending\(delayMs\), received done/,
  });
});

Deno.test("pollTask() defaults to TaskConfig.minimal() and fills a partial config from it", () => {
  const poll = (): PollOutcome => ready("done");
  const task = pollTask({ poll });
  assert.deepEqual(task.config, TaskConfig.minimal());
  assert.equal("name" in task, false);
  const named = pollTask({ poll, name: "wait-for-job", config: { attemptTimeout: 1_000 } });
  assert.equal(named.name, "wait-for-job");
  assert.equal(named.config?.attemptTimeout, 1_000);
  assert.equal(named.config?.retry?.maxAttempts(), 1, "no retry unless asked for");
});

Deno.test("pollTask() parked in a delay rejects with signal.reason as soon as the signal aborts", async () => {
  using time = new FakeTime(START);
  const controller = new AbortController();
  let polls = 0;
  const task = pollTask({
    poll: () => {
      polls += 1;
      return pending(60_000);
    },
  });
  const reason = new Error("stop");
  const run = assert.rejects(
    Promise.resolve(task.run(context(controller.signal))),
    (e) => e === reason,
  );
  await time.tickAsync(1_000);
  controller.abort(reason);
  await run;
  assert.equal(polls, 1);
  assert.equal(time.now - START, 1_000);
});

Deno.test("pollTask() treats a poll error after the abort as cancellation, not a poll error", async () => {
  const controller = new AbortController();
  const reason = new Error("stop");
  const task = pollTask({
    poll: () => {
      controller.abort(reason);
      throw new Error("aborted fetch");
    },
    onPollError: { retryOnError: 3 },
  });
  await assert.rejects(Promise.resolve(task.run(context(controller.signal))), (e) => e === reason);
  const already = pollTask({ poll: () => ready("done") });
  await assert.rejects(
    Promise.resolve(already.run(context(controller.signal))),
    (e) => e === reason,
  );
});

// ── Through a workflow ─────────────────────────────────────────────────────────────────────────

type Step = "start" | "wait" | "done";

Deno.test("Workflow runs a pollTask until ready, observing each delay", async () => {
  using time = new FakeTime(START);
  const times: number[] = [];
  const workflow = new Workflow<Step, { checks: number }>()
    .register("start", () => "wait")
    .register(
      "wait",
      pollTask({
        poll: (ctx) => {
          times.push(Date.now() - START);
          ctx.data.checks += 1;
          return ctx.data.checks < 3 ? pending(500) : ready("done");
        },
      }),
    )
    .addExitState("done");
  const run = workflow.orchestrate("start", { data: { checks: 0 } });
  await time.tickAsync(1_000);
  const result = await run;
  assert.equal(result.state, "done");
  assert.deepEqual(result.path, ["start", "wait", "done"]);
  assert.deepEqual(times, [0, 500, 1_000]);
});

Deno.test("Workflow: a failing poll surfaces unwrapped with the minimal default config", async () => {
  const boom = new Error("job failed");
  let polls = 0;
  const workflow = new Workflow<Step>()
    .register(
      "wait",
      pollTask({
        poll: () => {
          polls += 1;
          throw boom;
        },
      }),
    )
    .addExitState("done");
  await assert.rejects(workflow.orchestrate("wait"), (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "task_execution");
    assert.equal(error.cause, boom);
    return true;
  });
  assert.equal(polls, 1, "no outer retry");
});

Deno.test("Workflow: attemptTimeout bounds the whole poll loop", async () => {
  using time = new FakeTime(START);
  const times: number[] = [];
  const workflow = new Workflow<Step>()
    .register(
      "wait",
      pollTask({
        config: { retry: RetryMode.none(), attemptTimeout: 1_000 },
        poll: () => {
          times.push(Date.now() - START);
          return pending(300);
        },
      }),
    )
    .addExitState("done");
  const run = assert.rejects(workflow.orchestrate("wait"), (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "timeout");
    assert.ok(error.cause instanceof TimeoutError);
    return true;
  });
  await time.tickAsync(1_000);
  await run;
  assert.deepEqual(times, [0, 300, 600, 900]);
  await time.tickAsync(10_000);
  assert.equal(times.length, 4, "the loop stopped with the attempt");
});

Deno.test("Workflow: with retries, each attempt restarts the timed poll loop", async () => {
  using time = new FakeTime(START);
  const times: number[] = [];
  const workflow = new Workflow<Step>()
    .register(
      "wait",
      pollTask({
        config: { retry: RetryMode.fixed(1, 0), attemptTimeout: 500 },
        poll: () => {
          times.push(Date.now() - START);
          return pending(400);
        },
      }),
    )
    .addExitState("done");
  const run = assert.rejects(workflow.orchestrate("wait"), (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "retry_exhausted");
    assert.ok(error.cause instanceof RetryExhaustedError);
    assert.ok(error.cause.cause instanceof TimeoutError);
    return true;
  });
  await time.tickAsync(1_000);
  await run;
  assert.deepEqual(times, [0, 400, 500, 900]);
});

Deno.test("Workflow: cancelling a parked poll ends the run promptly as cancelled", async () => {
  using time = new FakeTime(START);
  const controller = new AbortController();
  let polls = 0;
  const workflow = new Workflow<Step>()
    .register(
      "wait",
      pollTask({
        poll: () => {
          polls += 1;
          return pending(3_600_000);
        },
      }),
    )
    .addExitState("done");
  const run = assert.rejects(
    workflow.orchestrate("wait", { signal: controller.signal }),
    (error: unknown) => {
      assert.ok(error instanceof StateContextError);
      assert.equal(error.category, "cancelled");
      assert.equal(error.state, "wait");
      return true;
    },
  );
  await time.tickAsync(2_000);
  controller.abort(new Error("user pressed stop"));
  await run;
  assert.equal(polls, 1);
  assert.equal(time.now - START, 2_000, "no waiting out the delay");
});
