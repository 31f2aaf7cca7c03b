// Compile-time checks of the public types: each `@ts-expect-error` line must fail to type-check
// (`deno check` / `deno test` type-check this file), and each test also runs what it claims, so a
// type that lies at run time fails here too.

import assert from "node:assert/strict";
import {
  batchTask,
  ConfigurationError,
  MemoryCheckpointStore,
  type StateEnterEvent,
  type StreamTask,
  TaskConfig,
  type WaitEvent,
  Workflow,
  type WorkflowResult,
} from "../mod.ts";
import { type SchedulableWorkflow, Scheduler } from "../scheduler.ts";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;
function assertType<T extends true>(_: T): void {}

Deno.test("Workflow.orchestrate() requires data when the data type has required fields", async () => {
  const workflow = new Workflow<"go" | "done", { orderId: string }>()
    .register("go", (ctx) => ctx.data.orderId.length > 0 ? "done" : "done")
    .addExitState("done");
  // @ts-expect-error data is required: { orderId: string } has a required field
  await assert.rejects(() => workflow.orchestrate("go"));
  // @ts-expect-error data is required in the options too
  await assert.rejects(() => workflow.orchestrate("go", {}));
  assert.equal((await workflow.orchestrate("go", { data: { orderId: "7" } })).state, "done");

  const optional = new Workflow<"go" | "done", { note?: string }>()
    .register("go", () => "done")
    .addExitState("done");
  assert.equal((await optional.orchestrate("go")).state, "done");
  const untyped = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
  assert.equal((await untyped.orchestrate("go")).state, "done");
});

Deno.test("Workflow.addExitStates() narrows result.state to the exit states", async () => {
  type Step = "check" | "work" | "done" | "failed";
  const workflow = new Workflow<Step>()
    .register("check", () => "work")
    .register("work", () => "done")
    .addExitStates("done", "failed");
  const result = await workflow.orchestrate("check");
  assertType<Equal<typeof result.state, "done" | "failed">>(true);
  assertType<Equal<typeof result.path, Step[]>>(true);
  // @ts-expect-error "work" is not an exit state, so the comparison can never hold
  assert.notEqual(result.state === "work", true);
  assert.equal(result.state, "done");

  const one = new Workflow<Step>().register("check", () => "done").addExitState("done");
  const only = await one.orchestrate("check");
  assertType<Equal<typeof only.state, "done">>(true);
  // A workflow typed by hand (no builder history) reports the whole union.
  const byHand: Workflow<Step> = one;
  const wide: WorkflowResult<Step, Record<string, unknown>> = await byHand.orchestrate("check");
  assertType<Equal<typeof wide.state, Step>>(true);
});

Deno.test("Workflow.registerJoin() types ctx.split by the branches' return values", async () => {
  const quote = (price: number) => ({ config: TaskConfig.minimal(), run: () => price });
  const workflow = new Workflow<"quotes" | "pick" | "done", { best?: number; first?: string }>()
    .registerSplit("quotes", [quote(12), quote(9), quote(15)], { strategy: "all", next: "pick" })
    .registerJoin("pick", (ctx) => {
      assertType<Equal<typeof ctx.split.values, readonly number[]>>(true);
      const first = ctx.split.results[0];
      if (first?.status === "ok") assertType<Equal<typeof first.value, number>>(true);
      // @ts-expect-error branch values are numbers, not strings
      ctx.data.first = ctx.split.values[0];
      ctx.data.best = Math.min(...ctx.split.values);
      return "done";
    })
    .addExitState("done");
  assert.equal((await workflow.orchestrate("quotes")).data.best, 9);

  const mixed = new Workflow<"fan" | "join" | "done">()
    .registerSplit("fan", [() => "a", () => Promise.resolve(1)], { strategy: "all", next: "join" })
    .registerJoin("join", (ctx) => {
      assertType<Equal<typeof ctx.split.values, readonly (string | number)[]>>(true);
      return "done";
    })
    .addExitState("done");
  assert.equal((await mixed.orchestrate("fan")).state, "done");

  const dynamic = new Workflow<"fan" | "join" | "done", { ids: string[] }>()
    .registerSplit("fan", (ctx) => ctx.data.ids.map((id) => () => ({ id, ok: true })), {
      strategy: "all",
      next: "join",
    })
    .registerJoin("join", (ctx) => {
      assertType<Equal<typeof ctx.split.values, readonly { id: string; ok: boolean }[]>>(true);
      return "done";
    })
    .addExitState("done");
  assert.equal((await dynamic.orchestrate("fan", { data: { ids: ["a"] } })).state, "done");

  // A join state no split leads to (yet) sees unknown values; a plain state sees an optional split.
  new Workflow<"a" | "b" | "done">()
    .register("a", (ctx) => {
      // @ts-expect-error ctx.split may be undefined in a plain state
      ctx.split.values;
      return "b";
    })
    .registerJoin("b", (ctx) => {
      assertType<Equal<typeof ctx.split.values, readonly unknown[]>>(true);
      return "done";
    });
});

Deno.test("Workflow.addEventListener() types event.state by the state union", async () => {
  type Step = "a" | "b";
  const workflow = new Workflow<Step>().register("a", () => "b").addExitState("b");
  const seen: Step[] = [];
  workflow.addEventListener("stateenter", (event) => {
    assertType<Equal<typeof event, StateEnterEvent<Step>>>(true);
    seen.push(event.state);
  });
  workflow.addEventListener("runend", (event) => {
    assertType<Equal<typeof event.state, Step | undefined>>(true);
  });
  workflow.addEventListener("stateenter", (event) => {
    // @ts-expect-error "c" is not a state of this workflow
    assert.notEqual(event.state === "c", true);
  });
  await workflow.orchestrate("a");
  assert.deepEqual(seen, ["a", "b"]);
});

Deno.test("Scheduler.every() accepts only a Workflow (nominal SchedulableWorkflow)", () => {
  const workflow = new Workflow<"go" | "done", { n: number }>()
    .register("go", () => "done")
    .addExitState("done");
  const schedulable: SchedulableWorkflow<"go" | "done", { n: number }> = workflow;
  const lookalike = {
    validate() {},
    validateInitialState() {},
    orchestrate: () => Promise.resolve({ state: "done" as const, data: { n: 1 } }),
  };
  // @ts-expect-error a structural look-alike is not a Workflow
  const fake: SchedulableWorkflow<"go" | "done", { n: number }> = lookalike;
  const scheduler = new Scheduler();
  scheduler.every("real", schedulable, "go", 1_000, { data: () => ({ n: 1 }) });
  assert.throws(
    () => scheduler.every("fake", fake, "go", 1_000, { data: () => ({ n: 1 }) }),
    { category: "configuration" },
  );
});

Deno.test("batchTask() and stream tasks take item callbacks context first", async () => {
  const workflow = new Workflow<"crunch" | "done", { total: number }>()
    .register(
      "crunch",
      batchTask<number, number, "done", "crunch" | "done", { total: number }>({
        load: () => [1, 2],
        processItem: (ctx, n) => {
          assertType<Equal<typeof n, number>>(true);
          return n + ctx.attempt * 0;
        },
        finish: (ctx, results) => {
          ctx.data.total = results.reduce((sum, r) => sum + (r.ok ? r.value : 0), 0);
          return "done";
        },
      }),
    )
    .addExitState("done");
  assert.equal((await workflow.orchestrate("crunch", { data: { total: 0 } })).data.total, 3);
  batchTask<number, number, "done">({
    load: () => [1],
    // @ts-expect-error the item comes second, after the context
    processItem: (n: number, _ctx: unknown) => n,
    finish: () => "done",
  });
  const stream: StreamTask<number, number, number, "done"> = {
    open: async function* () {},
    // @ts-expect-error the same order for a stream's processItem
    processItem: (n: number, _ctx: unknown) => ({ output: n, cursor: n }),
    flushWindow: () => "continue",
    onClose: () => "done",
  };
  assert.equal(typeof stream.open, "function");
});

Deno.test("Workflow.registerWait() types ctx.event per event name through payloads", async () => {
  type Step = "ask" | "ship" | "refund" | "expired" | "review" | "done";
  type Decision = { approved: { by: string }; rejected: { reason: string; amount: number } };
  const seen: string[] = [];
  const workflow = new Workflow<Step, { note?: string }>({ name: "typed-waits" })
    .registerWait("ask", {
      events: { approved: "ship", rejected: "refund", escalated: "review" },
      payloads: {} as Decision,
      timeout: { after: 60_000, next: "expired" },
    })
    .register("ship", (ctx) => {
      const event = ctx.event;
      assertType<Equal<typeof event, WaitEvent<{ by: string }, "approved"> | undefined>>(true);
      // @ts-expect-error "approved" carries { by }, not { reason }
      seen.push(`${ctx.event?.payload.reason}`);
      seen.push(`ship:${ctx.event?.name}:${ctx.event?.payload.by}`);
      return "done";
    })
    .registerRouter("refund", (ctx) => {
      assertType<Equal<typeof ctx.event, WaitEvent<Decision["rejected"], "rejected"> | undefined>>(
        true,
      );
      seen.push(`refund:${ctx.event?.payload.amount}`);
      return "done";
    })
    .registerWithCompensation("review", {
      name: "review",
      run: (ctx) => {
        // An event with no declared payload is typed unknown, still narrowed by name.
        assertType<Equal<typeof ctx.event, WaitEvent<unknown, "escalated"> | undefined>>(true);
        return { next: "done", output: null };
      },
      compensate: () => {},
    })
    .register("expired", (ctx) => {
      // A state no wait state leads to (so far) sees any event, payload unknown.
      assertType<Equal<typeof ctx.event, WaitEvent | undefined>>(true);
      return "done";
    })
    .addExitState("done")
    .withCheckpointStore(new MemoryCheckpointStore());

  await workflow.orchestrate("ask", { id: "t-1", onWait: "return" });
  // Payload types are compile-time only: this one is refused by the checker, sent at run time.
  const wrong = { reason: "no" };
  // @ts-expect-error the payload of "approved" is { by: string }
  const sent = await workflow.sendEvent("t-1", "approved", wrong);
  assert.equal(sent.outcome, "delivered");
  // @ts-expect-error no wait state waits for "aproved"
  await assert.rejects(workflow.sendEvent("t-1", "aproved", { by: "x" }), ConfigurationError);
  await workflow.resumeFrom("t-1");
  assert.deepEqual(seen, ["no", "ship:approved:undefined"]); // what was sent, as sent

  seen.length = 0;
  await workflow.orchestrate("ask", { id: "t-2", onWait: "return" });
  assert.equal((await workflow.sendEvent("t-2", "approved", { by: "maria" })).outcome, "delivered");
  await workflow.resumeFrom("t-2");
  assert.deepEqual(seen, ["undefined", "ship:approved:maria"]);

  // A workflow with typed waits is still a Workflow<Step> and schedulable.
  const byHand: Workflow<Step, { note?: string }> = workflow;
  const scheduler = new Scheduler().manual("typed", workflow, "ask");
  assert.ok(byHand instanceof Workflow && scheduler instanceof Scheduler);

  // A wait typed without payloads: every event's payload is unknown; a misspelt payloads key is
  // a compile error (and a run-time ConfigurationError when the object has the key).
  assert.throws(
    () =>
      new Workflow<Step>().registerWait("ask", {
        events: { approved: "ship" },
        // @ts-expect-error "aproved" is not one of the events
        payloads: { aproved: 1 } as { aproved: number },
      }),
    (error) =>
      error instanceof ConfigurationError && /payloads names "aproved"/.test(error.message),
  );
});
