// Stepped and stream tasks given to plain `register` (cano's `register(stepped)` /
// `register(stream)`): driven in memory, no cursor rows, a stepped loop is one attempt.

import assert from "node:assert/strict";
import {
  ConfigurationError,
  RetryMode,
  type StepOutcome,
  type StreamTask,
  TaskConfig,
  Workflow,
} from "../mod.ts";
import { RecordingStore } from "./_checkpoint_helpers.ts";

type Step = "work" | "done";

Deno.test("Workflow.register() drives a stepped task in memory from an undefined cursor", async () => {
  const cursors: (number | undefined)[] = [];
  const store = new RecordingStore();
  const workflow = new Workflow<Step, { pages: number }>()
    .register("work", {
      config: TaskConfig.minimal(),
      step: (ctx, cursor: number | undefined): StepOutcome<number, Step> => {
        cursors.push(cursor);
        ctx.data.pages += 1;
        return (cursor ?? 0) < 2 ? { more: (cursor ?? 0) + 1 } : { done: "done" };
      },
    })
    .addExitState("done")
    .withCheckpointStore(store);
  const result = await workflow.orchestrate("work", { id: "r-1", data: { pages: 0 } });
  assert.equal(result.state, "done");
  assert.deepEqual(cursors, [undefined, 1, 2]);
  assert.equal(result.data.pages, 3);
  // In memory: no step_cursor rows, only the state rows.
  const kinds = store.calls.flatMap((call) => call.op === "append" ? [call.row.kind] : []);
  assert.ok(!kinds.includes("step_cursor"), `rows: ${kinds.join(", ")}`);
});

Deno.test("Workflow.register() retries a stepped task's whole loop from the start (one attempt)", async () => {
  const cursors: (number | undefined)[] = [];
  let failed = false;
  const workflow = new Workflow<Step>()
    .register("work", {
      config: { retry: RetryMode.fixed(1, 0) },
      step: (_ctx, cursor: number | undefined): StepOutcome<number, Step> => {
        cursors.push(cursor);
        if (cursor === 1 && !failed) {
          failed = true;
          throw new Error("transient");
        }
        return cursor === 2 ? { done: "done" } : { more: (cursor ?? 0) + 1 };
      },
    })
    .addExitState("done");
  assert.equal((await workflow.orchestrate("work")).state, "done");
  assert.deepEqual(cursors, [undefined, 1, undefined, 1, 2]);
});

Deno.test("Workflow.register() fails with a workflow error when an in-memory step returns a bad outcome", async () => {
  const workflow = new Workflow<Step>()
    .register("work", { config: TaskConfig.minimal(), step: () => "done" as never })
    .addExitState("done");
  await assert.rejects(workflow.orchestrate("work"), (error: Error & { category: string }) => {
    assert.equal(error.category, "workflow");
    assert.match(error.message, /must return \{ more: cursor \} or \{ done: state \}, received/);
    return true;
  });
});

Deno.test("Workflow.register() stops an in-memory stepped loop between steps on cancel", async () => {
  const controller = new AbortController();
  let steps = 0;
  const workflow = new Workflow<Step>()
    .register("work", {
      config: TaskConfig.minimal(),
      step: (_ctx, cursor: number | undefined): StepOutcome<number, Step> => {
        steps += 1;
        if (steps === 2) controller.abort(new Error("stop"));
        return { more: (cursor ?? 0) + 1 };
      },
    })
    .addExitState("done");
  await assert.rejects(workflow.orchestrate("work", { signal: controller.signal }), {
    category: "cancelled",
  });
  assert.equal(steps, 2);
});

Deno.test("Workflow.register() drives a stream task in memory: windows and onClose, no cursor rows", async () => {
  const store = new RecordingStore();
  const flushed: number[][] = [];
  const closed: string[] = [];
  const task: StreamTask<number, number, number, Step, Step> = {
    window: { count: 2 },
    open: async function* (_ctx, cursor) {
      for (let n = (cursor ?? -1) + 1; n < 5; n++) yield n;
    },
    processItem: (_ctx, n) => ({ output: n * 2, cursor: n }),
    flushWindow: (_ctx, outputs) => {
      flushed.push(outputs);
      return "continue";
    },
    onClose: (_ctx, reason) => {
      closed.push(reason);
      return "done";
    },
  };
  const workflow = new Workflow<Step>()
    .register("work", task)
    .addExitState("done")
    .withCheckpointStore(store);
  assert.equal((await workflow.orchestrate("work", { id: "s-1" })).state, "done");
  assert.deepEqual(flushed, [[0, 2], [4, 6], [8]]);
  assert.deepEqual(closed, ["exhausted"]);
  const kinds = store.calls.flatMap((call) => call.op === "append" ? [call.row.kind] : []);
  assert.ok(!kinds.includes("step_cursor"), `rows: ${kinds.join(", ")}`);
});

Deno.test("Workflow.register() refuses a stream task that lacks one of its four methods", () => {
  assert.throws(
    () =>
      new Workflow<Step>().register("work", {
        open: async function* () {},
        processItem: () => ({ output: 1, cursor: 1 }),
        onClose: () => "done",
      } as never),
    (error: unknown) => error instanceof ConfigurationError && /flushWindow/.test(error.message),
  );
});
