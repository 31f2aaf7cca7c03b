// The fast paths of issue 15 skip the retry loop, its signals and the native event dispatch when
// nothing needs them. These tests pin down what they must still do: a split branch or a task with
// cano's default config (retries with backoff, no attempt timeout) still retries with its delays,
// still stops when the join no longer needs it, on cancel and on the total timeout; and a
// listener still gets every event, in order, as a native dispatch would show it.

import assert from "node:assert/strict";
import {
  CancelledError,
  RetryMode,
  SafeEvent,
  SafeEventTarget,
  StateContextError,
  TaskConfig,
  type TaskContext,
  Workflow,
  WorkflowTimeoutError,
} from "../mod.ts";
import { FakeTime } from "../testing.ts";

type Step = "scatter" | "gather" | "done";

const START = Date.UTC(2026, 0, 1);

/** A join state that ends the run, and the split outcome it saw. */
function splitOf(
  branches: unknown[],
  strategy: "all" | "any",
  options: { totalTimeout?: number } = {},
): { workflow: Workflow<Step>; seen: Array<TaskContext<Step>["split"]> } {
  const seen: Array<TaskContext<Step>["split"]> = [];
  let workflow = new Workflow<Step>();
  if (options.totalTimeout !== undefined) {
    workflow = workflow.withTotalTimeout(options.totalTimeout);
  }
  workflow = workflow
    .registerSplit(
      "scatter",
      branches as Parameters<Workflow<Step>["registerSplit"]>[1],
      { strategy, next: "gather" },
    )
    .register("gather", (ctx) => {
      seen.push(ctx.split);
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done");
  return { workflow, seen };
}

// ── Split branches with the default config ─────────────────────────────────────────────────

Deno.test("A default-config split branch retries with the default backoff delays", async () => {
  using time = new FakeTime(START);
  const attempts: Array<{ at: number; attempt: number }> = [];
  const flaky = (ctx: TaskContext<Step>): string => {
    attempts.push({ at: Date.now() - START, attempt: ctx.attempt });
    if (attempts.length < 3) throw new Error(`flaky ${attempts.length}`);
    return "ok";
  };
  const { workflow, seen } = splitOf([flaky], "all");
  const retries: Array<{ attempt: number; delay: number }> = [];
  workflow.addEventListener("retry", (e) => retries.push({ attempt: e.attempt, delay: e.delay }));
  const run = workflow.orchestrate("scatter");
  await time.tickAsync(89); // the first retry waits 100 ms ± 10 %
  assert.equal(attempts.length, 1);
  await time.tickAsync(21);
  assert.equal(attempts.length, 2);
  await time.tickAsync(400);
  await run;
  assert.deepEqual(attempts.map((a) => a.attempt), [1, 2, 3]);
  const [first, second, third] = attempts.map((a) => a.at);
  assert.equal(first, 0);
  assert.ok(second! >= 90 && second! <= 110, `second attempt at ${second}`);
  assert.ok(third! - second! >= 180 && third! - second! <= 220, `third at ${third}`);
  // The retry events carry the delays that were slept.
  assert.deepEqual(retries.map((r) => r.attempt), [1, 2]);
  assert.equal(retries[0]!.delay, second! - first!);
  assert.equal(retries[1]!.delay, third! - second!);
  assert.deepEqual(seen[0]?.values, ["ok"]);
});

Deno.test("A default-config split branch fails with RetryExhaustedError after 4 attempts", async () => {
  using time = new FakeTime(START);
  let calls = 0;
  const { workflow } = splitOf([() => {
    calls += 1;
    return Promise.reject(new Error("down"));
  }], "all");
  const run = workflow.orchestrate("scatter");
  const failed = assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.match(String(error.cause), /Join condition not met/);
    return true;
  });
  await time.tickAsync(2_000);
  await failed;
  assert.equal(calls, 4);
  assert.equal(time.countTimers(), 0);
});

Deno.test("A default-config split branch in its backoff stops when the join no longer needs it", async () => {
  using time = new FakeTime(START);
  let calls = 0;
  let aborted: unknown;
  const loser = (ctx: TaskContext<Step>): Promise<string> => {
    calls += 1;
    if (calls > 1) ctx.signal.addEventListener("abort", () => aborted = ctx.signal.reason);
    return Promise.reject(new Error("try again"));
  };
  const winner = (): Promise<string> =>
    new Promise((resolve) => setTimeout(() => resolve("w"), 50));
  const { workflow, seen } = splitOf([loser, winner], "any");
  const run = workflow.orchestrate("scatter");
  await time.tickAsync(50); // the loser sleeps out its first backoff (≥ 90 ms) when the winner wins
  const result = await run;
  assert.equal(result.state, "done");
  assert.equal(seen[0]?.results[0]?.status, "cancelled");
  await time.tickAsync(10_000);
  assert.equal(calls, 1, "no attempt after the join was decided");
  assert.equal(aborted, undefined);
  assert.equal(time.countTimers(), 0, "the backoff sleep's timer was cleared");
});

Deno.test("A default-config split branch's signal aborts when the join no longer needs it", async () => {
  using time = new FakeTime(START);
  let reason: unknown;
  const slow = (ctx: TaskContext<Step>): Promise<string> =>
    new Promise((_, reject) => {
      ctx.signal.addEventListener("abort", () => {
        reason = ctx.signal.reason;
        reject(ctx.signal.reason);
      }, { once: true });
    });
  const { workflow } = splitOf([slow, () => "fast"], "any");
  await workflow.orchestrate("scatter");
  assert.ok(reason instanceof CancelledError);
  assert.match(reason.message, /no longer needs it/);
  await time.tickAsync(10_000);
  assert.equal(time.countTimers(), 0);
});

Deno.test("A default-config split branch's later attempt is aborted by the join", async () => {
  using time = new FakeTime(START);
  let calls = 0;
  let reason: unknown;
  const second = (ctx: TaskContext<Step>): Promise<string> => {
    calls += 1;
    if (calls === 1) return Promise.reject(new Error("first"));
    return new Promise((_, reject) => {
      ctx.signal.addEventListener("abort", () => {
        reason = ctx.signal.reason;
        reject(ctx.signal.reason);
      }, { once: true });
    });
  };
  const winner = (): Promise<string> =>
    new Promise((resolve) => setTimeout(() => resolve("w"), 500));
  const { workflow } = splitOf([second, winner], "any");
  const run = workflow.orchestrate("scatter");
  await time.tickAsync(500);
  await run;
  assert.equal(calls, 2);
  assert.ok(reason instanceof CancelledError);
});

Deno.test("Cancelling a run ends a default-config branch's backoff at once", async () => {
  using time = new FakeTime(START);
  let calls = 0;
  const { workflow } = splitOf([() => {
    calls += 1;
    throw new Error("flaky");
  }], "all");
  const controller = new AbortController();
  const run = workflow.orchestrate("scatter", { signal: controller.signal });
  const failed = assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.ok(error.cause instanceof CancelledError);
    return true;
  });
  await time.tickAsync(10); // in the first backoff (≈ 100 ms)
  controller.abort("stop");
  await failed; // without moving the clock past the backoff
  assert.equal(Date.now() - START, 10);
  await time.tickAsync(10_000);
  assert.equal(calls, 1);
  assert.equal(time.countTimers(), 0);
});

Deno.test("The total timeout aborts a default-config branch that reads its signal", async () => {
  using time = new FakeTime(START);
  let reason: unknown;
  const { workflow } = splitOf(
    [(ctx: TaskContext<Step>) =>
      new Promise<string>((_, reject) => {
        ctx.signal.addEventListener("abort", () => {
          reason = ctx.signal.reason;
          reject(ctx.signal.reason);
        }, { once: true });
      })],
    "all",
    { totalTimeout: 1_000 },
  );
  const run = workflow.orchestrate("scatter");
  const failed = assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.ok(error.cause instanceof WorkflowTimeoutError);
    return true;
  });
  await time.tickAsync(1_000);
  await failed;
  assert.ok(reason instanceof WorkflowTimeoutError);
});

Deno.test("A default-config branch that throws at once reports retry after every taskstart", async () => {
  using time = new FakeTime(START);
  let calls = 0;
  const events: string[] = [];
  const { workflow } = splitOf([() => {
    if (++calls < 2) throw new Error("once");
    return "a";
  }, () => "b"], "all");
  for (const type of ["taskstart", "retry", "tasksuccess"] as const) {
    workflow.addEventListener(type, (e) => events.push(`${type}:${e.taskId}`));
  }
  const run = workflow.orchestrate("scatter");
  await time.tickAsync(200);
  await run;
  assert.deepEqual(events, [
    "taskstart:scatter[0]",
    "taskstart:scatter[1]",
    "retry:scatter[0]",
    "tasksuccess:scatter[0]",
    "tasksuccess:scatter[1]",
    "taskstart:gather",
    "tasksuccess:gather",
  ]);
});

Deno.test("A default-config branch adopts a thenable as the retry loop does", async () => {
  const thenable = { then: (resolve: (value: string) => void) => resolve("adopted") };
  const { workflow, seen } = splitOf([() => thenable], "all");
  await workflow.orchestrate("scatter");
  assert.deepEqual(seen[0]?.values, ["adopted"]);
});

Deno.test("A split of single-attempt and default branches hands every value on in order", async () => {
  const branches = Array.from(
    { length: 100 },
    (_, i) =>
      i % 2 === 0
        ? { config: TaskConfig.minimal(), run: () => Promise.resolve(i) }
        : (ctx: TaskContext<Step>) => ctx.attempt === 1 ? i : -1,
  );
  const { workflow, seen } = splitOf(branches, "all");
  await workflow.orchestrate("scatter");
  const outcome = seen[0];
  assert.deepEqual(outcome?.values, Array.from({ length: 100 }, (_, i) => i));
  assert.equal(outcome?.successes, 100);
  assert.deepEqual(outcome?.results[3], { index: 3, status: "ok", value: 3 });
});

Deno.test("A bulkhead starts branches in order, at most its size at once, sync or async", async () => {
  let running = 0;
  let most = 0;
  const started: number[] = [];
  const branches = Array.from({ length: 12 }, (_, i) => ({
    config: i % 3 === 0 ? TaskConfig.minimal() : TaskConfig.default(),
    run: (): unknown => {
      started.push(i);
      if (i % 2 === 0) return i; // settles at once: releases its permit re-entrantly
      running += 1;
      most = Math.max(most, running);
      return new Promise((resolve) =>
        setTimeout(() => {
          running -= 1;
          resolve(i);
        }, 1)
      );
    },
  }));
  const workflow = new Workflow<Step>()
    .registerSplit("scatter", branches, { strategy: "all", next: "gather", bulkhead: 2 })
    .register("gather", (ctx) => {
      assert.deepEqual(ctx.split?.values, Array.from({ length: 12 }, (_, i) => i));
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done");
  await workflow.orchestrate("scatter");
  assert.deepEqual(started, Array.from({ length: 12 }, (_, i) => i));
  assert.ok(most <= 2, `${most} async branches at once`);
});

// ── The engine's direct dispatch ───────────────────────────────────────────────────────────

type Loop = "work" | "next" | "done";

Deno.test("A default-config task still retries with its backoff and reports each retry", async () => {
  using time = new FakeTime(START);
  const seen: Array<{ at: number; attempt: number }> = [];
  const workflow = new Workflow<Loop, { value: number }>()
    .register("work", (ctx) => {
      seen.push({ at: Date.now() - START, attempt: ctx.attempt });
      if (ctx.attempt < 3) return Promise.reject(new Error("flaky"));
      ctx.data = { value: 42 }; // replaced, not mutated: picked up on success
      return "done";
    })
    .addExitState("done");
  const retries: number[] = [];
  workflow.addEventListener("retry", (e) => retries.push(e.delay));
  const run = workflow.orchestrate("work", { data: { value: 0 } });
  await time.tickAsync(1_000);
  const result = await run;
  assert.deepEqual(result.data, { value: 42 });
  assert.deepEqual(seen.map((s) => s.attempt), [1, 2, 3]);
  assert.equal(retries.length, 2);
  assert.equal(seen[1]!.at - seen[0]!.at, retries[0]);
  assert.equal(seen[2]!.at - seen[1]!.at, retries[1]);
  assert.ok(retries[0]! >= 90 && retries[0]! <= 110);
  assert.ok(retries[1]! >= 180 && retries[1]! <= 220);
});

Deno.test("A task called directly picks up replaced data, sync and async", async () => {
  const workflow = new Workflow<Loop, { step: string }>()
    .register("work", (ctx) => {
      ctx.data = { step: "work" };
      return "next";
    })
    .register("next", async (ctx) => {
      assert.deepEqual(ctx.data, { step: "work" });
      await Promise.resolve();
      ctx.data = { step: "next" };
      return "done";
    })
    .addExitState("done");
  const result = await workflow.orchestrate("work", { data: { step: "start" } });
  assert.deepEqual(result.data, { step: "next" });
  assert.deepEqual(result.path, ["work", "next", "done"]);
});

Deno.test("A direct task that ignores its signal cannot hold a cancelled run", async () => {
  using time = new FakeTime(START);
  const controller = new AbortController();
  const workflow = new Workflow<Loop>()
    .register("work", () => new Promise<Loop>(() => {})) // never settles, never looks
    .addExitState("done");
  const run = workflow.orchestrate("work", { signal: controller.signal });
  const failed = assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.ok(error.cause instanceof CancelledError);
    return true;
  });
  await time.tickAsync(5);
  controller.abort("stop");
  await failed;
});

Deno.test("A direct task with retries stops retrying once the run is cancelled", async () => {
  using time = new FakeTime(START);
  const controller = new AbortController();
  let calls = 0;
  const workflow = new Workflow<Loop>()
    .register("work", () => {
      calls += 1;
      throw new Error("flaky");
    }, { config: { retry: RetryMode.fixed(5, 100) } })
    .addExitState("done");
  const run = workflow.orchestrate("work", { signal: controller.signal });
  const failed = assert.rejects(run, StateContextError);
  await time.tickAsync(50);
  controller.abort("stop");
  await failed;
  await time.tickAsync(1_000);
  assert.equal(calls, 1);
  assert.equal(time.countTimers(), 0);
});

// ── Events: every one, in order, as a native dispatch shows it ─────────────────────────────

Deno.test("A listener gets every workflow event in order, with target and phase", async () => {
  const workflow = new Workflow<Loop>()
    .register("work", () => "next")
    .register("next", () => Promise.resolve("done" as const), { config: TaskConfig.minimal() })
    .addExitState("done");
  const seen: string[] = [];
  const types = ["runstart", "stateenter", "taskstart", "tasksuccess", "runend"] as const;
  for (const type of types) {
    workflow.addEventListener(type, (e) => {
      assert.equal(e.target, workflow);
      assert.equal(e.currentTarget, workflow);
      assert.equal(e.eventPhase, Event.AT_TARGET);
      assert.deepEqual(e.composedPath(), [workflow]);
      seen.push("state" in e && e.state !== undefined ? `${e.type}:${e.state}` : e.type);
    });
  }
  let last: Event | undefined;
  workflow.addEventListener("runend", (e) => last = e);
  await workflow.orchestrate("work");
  assert.deepEqual(seen, [
    "runstart",
    "stateenter:work",
    "taskstart:work",
    "tasksuccess:work",
    "stateenter:next",
    "taskstart:next",
    "tasksuccess:next",
    "stateenter:done",
    "runend:done",
  ]);
  // After the dispatch, as natively: the target stays, the current target and phase are reset.
  assert.equal(last?.target, workflow);
  assert.equal(last?.currentTarget, null);
  assert.equal(last?.eventPhase, Event.NONE);
  assert.deepEqual(last?.composedPath(), []);
});

/** Runs the same listener script on a target and returns what the listeners saw. */
function script(target: EventTarget, make: (type: string) => Event): string[] {
  const log: string[] = [];
  const late = (): number => log.push("late");
  const removed = (): number => log.push("removed");
  target.addEventListener("x", function (this: unknown, e) {
    log.push(`first this=${this === target} phase=${e.eventPhase}`);
    target.addEventListener("x", late); // added meanwhile: next dispatch only
    target.removeEventListener("x", removed); // removed meanwhile: skipped now
  });
  target.addEventListener("x", () => log.push("capture"), { capture: true });
  target.addEventListener("x", removed);
  target.addEventListener("x", () => log.push("once"), { once: true });
  target.addEventListener("x", {
    handleEvent(e: Event): void {
      log.push(`object current=${e.currentTarget === target}`);
      try {
        target.dispatchEvent(e);
      } catch (error) {
        log.push(`again: ${(error as DOMException).name}`);
      }
    },
  });
  target.addEventListener("x", (e) => {
    log.push("stopper");
    e.stopImmediatePropagation();
  });
  target.addEventListener("x", () => log.push("after stopper"));
  target.addEventListener("y", () => log.push("other type"));
  for (let i = 0; i < 2; i++) {
    const event = make("x");
    log.push(`returned ${target.dispatchEvent(event)}`);
    log.push(`after: target=${event.target === target} current=${event.currentTarget}`);
  }
  return log;
}

Deno.test("SafeEventTarget delivers a SafeEvent as the native dispatch delivers an Event", () => {
  const native = script(new EventTarget(), (type) => new Event(type));
  const safe = script(new SafeEventTarget(), (type) => new SafeEvent(type));
  assert.deepEqual(safe, native);
  assert.ok(native.includes("again: InvalidStateError"));
  assert.ok(!native.includes("after stopper"));
  // A plain Event on a SafeEventTarget takes the native path, with the same result.
  assert.deepEqual(script(new SafeEventTarget(), (type) => new Event(type)), native);
});

Deno.test("A throwing listener on the light path is reported and the next one still runs", () => {
  const target = new SafeEventTarget<{ ping: SafeEvent }>();
  const reported: Array<{ error: unknown; type: string }> = [];
  const seen: string[] = [];
  target.addEventListener(
    "listenererror",
    (e) => reported.push({ error: e.error, type: e.eventType }),
  );
  target.addEventListener("ping", () => {
    throw new Error("boom");
  });
  target.addEventListener("ping", () => seen.push("second"));
  const logged: unknown[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => logged.push(args.join(" "));
  try {
    assert.equal(target.dispatchEvent(new SafeEvent("ping")), true);
  } finally {
    console.error = original;
  }
  assert.deepEqual(seen, ["second"]);
  assert.equal(reported.length, 1);
  assert.equal(reported[0]!.type, "ping");
  assert.match(String(reported[0]!.error), /boom/);
  assert.match(String(logged[0]), /"ping" event listener threw: .*boom/);
});

Deno.test("An async listener's rejection on the light path is reported, not unhandled", async () => {
  const target = new SafeEventTarget<{ ping: SafeEvent }>();
  const reported: unknown[] = [];
  target.addEventListener("listenererror", (e) => reported.push(e.error));
  target.addEventListener("ping", () => Promise.reject(new Error("later")));
  const original = console.error;
  console.error = () => {};
  try {
    target.dispatchEvent(new SafeEvent("ping"));
    await new Promise((resolve) => setTimeout(resolve, 0));
  } finally {
    console.error = original;
  }
  assert.equal(reported.length, 1);
  assert.match(String(reported[0]), /later/);
});

Deno.test("A listener removed by its abort signal is not called on the light path", () => {
  const target = new SafeEventTarget<{ ping: SafeEvent }>();
  const controller = new AbortController();
  let calls = 0;
  target.addEventListener("ping", () => calls++, { signal: controller.signal });
  target.dispatchEvent(new SafeEvent("ping"));
  controller.abort();
  target.dispatchEvent(new SafeEvent("ping"));
  assert.equal(calls, 1);
  assert.equal(target.hasListener("ping"), false);
});

Deno.test("A SafeEvent dispatched on a plain EventTarget behaves natively", () => {
  const target = new EventTarget();
  const seen: unknown[] = [];
  target.addEventListener("x", (e) => seen.push(e.target === target, e.eventPhase));
  const event = new SafeEvent("x");
  target.dispatchEvent(event);
  assert.deepEqual(seen, [true, Event.AT_TARGET]);
  assert.equal(event.target, target);
});

Deno.test("A synchronous task that aborts its own run ends it cancelled before the next state", async () => {
  const controller = new AbortController();
  const ran: string[] = [];
  const workflow = new Workflow<"a" | "b" | "done">()
    .register("a", () => {
      ran.push("a");
      controller.abort(new Error("stop here"));
      return "b"; // a synchronous answer, given after the abort
    }, { config: TaskConfig.minimal() })
    .register("b", () => {
      ran.push("b");
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done");
  const error = await workflow.orchestrate("a", { signal: controller.signal }).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  assert.ok(
    error instanceof StateContextError && error.cause instanceof CancelledError,
    `${error}`,
  );
  assert.equal(error.state, "a");
  assert.deepEqual(ran, ["a"]);

  // Synchronous answers under a signal that stays quiet go straight on, and an async task is
  // still raced: cancelling while it waits ends the run at once.
  const quiet = new AbortController();
  const fine = new Workflow<"a" | "b" | "done">()
    .register("a", () => "b", { config: TaskConfig.minimal() })
    .register("b", () => "done", { config: TaskConfig.minimal() })
    .addExitState("done");
  assert.deepEqual((await fine.orchestrate("a", { signal: quiet.signal })).path, [
    "a",
    "b",
    "done",
  ]);
  const hanging = new Workflow<"a" | "done">()
    .register("a", () => new Promise<"done">(() => {}), { config: TaskConfig.minimal() })
    .addExitState("done");
  const cancel = new AbortController();
  const pending = hanging.orchestrate("a", { signal: cancel.signal });
  cancel.abort(new Error("enough"));
  await assert.rejects(
    pending,
    (thrown: unknown) =>
      thrown instanceof StateContextError && thrown.cause instanceof CancelledError,
  );
});
