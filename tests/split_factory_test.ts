import assert from "node:assert/strict";
import {
  ConfigurationError,
  MemoryCheckpointStore,
  RetryMode,
  StateContextError,
  TaskConfig,
  type TaskContext,
  Workflow,
} from "../mod.ts";

type Step = "fan" | "join" | "done";
type Data = { lines: number[]; sum?: number; calls?: number };

/** One branch per line (qty × 10), summed by a typed join state. */
function fanOut(store?: MemoryCheckpointStore): {
  workflow: Workflow<Step, Data, Record<string, unknown>, "done">;
  ids: string[];
} {
  const ids: string[] = [];
  const workflow = new Workflow<Step, Data>({ name: "fan" })
    .registerSplit("fan", (ctx) => {
      ctx.data.calls = (ctx.data.calls ?? 0) + 1;
      return ctx.data.lines.map((qty) => ({
        config: TaskConfig.minimal(),
        run: () => qty * 10,
      }));
    }, { strategy: "all", next: "join" })
    .registerJoin("join", (ctx) => {
      ctx.data.sum = ctx.split.values.reduce((a, b) => a + b, 0);
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done");
  workflow.addEventListener("tasksuccess", (e) => ids.push(e.taskId));
  if (store !== undefined) workflow.withCheckpointStore(store);
  return { workflow, ids };
}

Deno.test("Workflow.registerSplit() with a branch function fans out one branch per item", async () => {
  const { workflow, ids } = fanOut();
  const result = await workflow.orchestrate("fan", { data: { lines: [1, 2, 3, 4] } });
  assert.equal(result.data.sum, 100);
  assert.equal(result.data.calls, 1);
  assert.deepEqual(ids.slice(0, 4).sort(), ["fan[0]", "fan[1]", "fan[2]", "fan[3]"]);
  // An empty list is an empty split: "all" of nothing is satisfied.
  const empty = await workflow.orchestrate("fan", { data: { lines: [] } });
  assert.equal(empty.data.sum, 0);
});

Deno.test("Workflow.registerSplit() calls a branch function again on each entry, with that entry's data", async () => {
  let round = 0;
  const workflow = new Workflow<"fan" | "join" | "done", { n: number; total: number }>()
    .registerSplit("fan", (ctx) => Array.from({ length: ctx.data.n }, () => () => 1), {
      strategy: "all",
      next: "join",
    })
    .registerJoin("join", (ctx) => {
      ctx.data.total += ctx.split.values.length;
      ctx.data.n += 1;
      return ++round < 3 ? "fan" : "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done");
  const result = await workflow.orchestrate("fan", { data: { n: 1, total: 0 } });
  assert.equal(result.data.total, 1 + 2 + 3);
});

Deno.test("Workflow.registerSplit() fails with a workflow error when the branch function returns no array", async () => {
  for (const returned of [undefined, null, 3, "x", { length: 2 }]) {
    const workflow = new Workflow<Step>()
      .registerSplit("fan", () => returned as never, { strategy: "all", next: "join" })
      .register("join", () => "done")
      .addExitState("done");
    await assert.rejects(workflow.orchestrate("fan"), (error: StateContextError) => {
      assert.ok(error instanceof StateContextError);
      assert.equal(error.category, "workflow");
      assert.match(
        error.message,
        /branch function of split state "fan" returned .*expected an array/,
      );
      return true;
    });
  }
});

Deno.test("Workflow.registerSplit() fails with a workflow error naming a bad branch from the function", async () => {
  const workflow = new Workflow<Step>()
    .registerSplit("fan", () => [() => 1, 42 as never], { strategy: "all", next: "join" })
    .register("join", () => "done")
    .addExitState("done");
  await assert.rejects(workflow.orchestrate("fan"), (error: StateContextError) => {
    assert.equal(error.category, "workflow");
    assert.match(error.message, /invalid branch: .*fan\[1\]/);
    return true;
  });
});

Deno.test("Workflow.registerSplit() fails the state when the branch function throws, without retrying it", async () => {
  let calls = 0;
  const workflow = new Workflow<Step>()
    .registerSplit("fan", () => {
      calls += 1;
      throw new Error("inventory offline");
    }, { strategy: "all", next: "join" })
    .register("join", () => "done")
    .addExitState("done");
  await assert.rejects(workflow.orchestrate("fan"), /inventory offline/);
  assert.equal(calls, 1);
});

Deno.test("Workflow.registerSplit() refuses a value that is neither an array nor a function", () => {
  for (const tasks of [undefined, null, 3, "x", {}]) {
    assert.throws(
      () =>
        new Workflow<Step>().registerSplit("fan", tasks as never, {
          strategy: "all",
          next: "join",
        }),
      (error: unknown) =>
        error instanceof ConfigurationError &&
        /needs an array of tasks or a function returning one, received/.test(error.message),
    );
  }
});

Deno.test("Workflow.registerSplit() re-runs the branch function on a resume into the split, from the checkpointed data", async () => {
  const store = new MemoryCheckpointStore();
  let failJoin = true;
  const workflow = new Workflow<Step, Data>({ name: "fan" })
    .registerSplit("fan", (ctx: TaskContext<Step, Data>) => {
      ctx.data.calls = (ctx.data.calls ?? 0) + 1;
      return ctx.data.lines.map((qty) => () => qty);
    }, { strategy: "all", next: "join" })
    .registerJoin("join", (ctx) => {
      if (failJoin) throw new Error("ledger down");
      ctx.data.sum = ctx.split.values.reduce((a, b) => a + b, 0);
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store);
  await assert.rejects(
    workflow.orchestrate("fan", { id: "o-1", data: { lines: [5, 6] } }),
    /ledger down/,
  );
  failJoin = false;
  // The resume enters "join" with the split outcome its row kept: the branches do not run again.
  const result = await workflow.resumeFrom("o-1");
  assert.equal(result.data.sum, 11);
  assert.equal(result.data.calls, 1);
});

Deno.test("Workflow.registerJoin() fails the run when its state is entered without a split", async () => {
  const workflow = new Workflow<"fan" | "join" | "start" | "done">()
    .registerSplit("fan", [() => 1], { strategy: "all", next: "join" })
    .registerJoin("join", () => "done")
    .register("start", () => "join")
    .addExitState("done");
  await assert.rejects(workflow.orchestrate("start"), (error: StateContextError) => {
    assert.equal(error.category, "task_execution");
    assert.match(error.message, /Join state "join" was entered without a split right before it/);
    return true;
  });
  // Right after the split it runs.
  assert.equal((await workflow.orchestrate("fan")).state, "done");
});

Deno.test("Workflow.validate() refuses a join state that no split leads to", () => {
  const workflow = new Workflow<"a" | "join" | "done">()
    .register("a", () => "join")
    .registerJoin("join", () => "done")
    .addExitState("done");
  assert.throws(
    () => workflow.validate(),
    (error: unknown) =>
      error instanceof ConfigurationError &&
      /Join state "join" \(registerJoin\) is the next state of no split/.test(error.message),
  );
  // Re-registering the state as a plain task lifts the rule.
  workflow.register("join", () => "done");
  workflow.validate();
});

Deno.test("Workflow.registerJoin() keeps task semantics: retries, declared next and its name", async () => {
  let attempts = 0;
  const ids: string[] = [];
  const workflow = new Workflow<"fan" | "join" | "done" | "other">()
    .registerSplit("fan", [() => "x"], { strategy: "all", next: "join" })
    .registerJoin("join", {
      name: "gather",
      run: (ctx) => {
        if (++attempts < 2) throw new Error("flaky");
        return ctx.split.values[0] === "x" ? "done" : "other";
      },
    }, { next: ["done", "other"], config: { retry: RetryMode.fixed(1, 0) } })
    .addExitStates("done", "other");
  workflow.addEventListener("retry", (e) => ids.push(e.taskId));
  const result = await workflow.orchestrate("fan");
  assert.equal(result.state, "done");
  assert.equal(attempts, 2);
  assert.deepEqual(ids, ["gather"]);
});
