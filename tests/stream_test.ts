import assert from "node:assert/strict";
import {
  type CheckpointRow,
  MemoryCheckpointStore,
  type RunLease,
  type StreamErrorPolicy,
  type StreamWindow,
  type TaskConfig,
  Workflow,
} from "../mod.ts";
import { fakeTime } from "./_fake_time.ts";

type Step = "ingest" | "done" | "stopped";

/** Numbers from `from` up to `to` (exclusive); `gapMs` between items if given (fake time). */
async function* numbers(from: number, to: number, gapMs = 0): AsyncGenerator<number> {
  for (let n = from; n < to; n++) {
    if (gapMs > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
    yield n;
  }
}

interface Probe {
  flushed: number[][];
  closed: string[];
  processed: number[];
}

function streamWorkflow(
  options: {
    to?: number;
    gapMs?: number;
    window?: StreamWindow;
    onItemError?: StreamErrorPolicy;
    failOn?: (n: number) => boolean;
    hangOn?: number;
    stopAfter?: number;
    config?: TaskConfig;
    failFlush?: boolean;
    store?: MemoryCheckpointStore;
  } = {},
): { workflow: Workflow<Step>; probe: Probe } {
  const probe: Probe = { flushed: [], closed: [], processed: [] };
  const workflow = new Workflow<Step>()
    .registerStream("ingest", {
      ...(options.window === undefined ? {} : { window: options.window }),
      ...(options.onItemError === undefined ? {} : { onItemError: options.onItemError }),
      ...(options.config === undefined ? {} : { config: options.config }),
      open: (_ctx, cursor: number | undefined) =>
        numbers(cursor === undefined ? 0 : cursor + 1, options.to ?? 7, options.gapMs),
      processItem: (ctx, n: number) => {
        probe.processed.push(n);
        if (n === options.hangOn) {
          return new Promise<never>((_, reject) =>
            ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))
          );
        }
        if (options.failOn?.(n)) throw new Error(`bad item ${n}`);
        return { output: n * 10, cursor: n };
      },
      flushWindow: (_ctx, outputs: number[]) => {
        if (options.failFlush) throw new Error("sink down");
        probe.flushed.push(outputs);
        const total = probe.flushed.flat().length;
        return options.stopAfter !== undefined && total >= options.stopAfter
          ? { stop: "stopped" }
          : "continue";
      },
      onClose: (_ctx, reason) => {
        probe.closed.push(reason);
        return "done";
      },
    })
    .addExitStates("done", "stopped");
  if (options.store !== undefined) {
    workflow.withCheckpointStore(options.store).withWorkflowId("stream-1");
  }
  return { workflow, probe };
}

/** A store that keeps every appended row even after the log is cleared. */
class KeepingStore extends MemoryCheckpointStore {
  rows: CheckpointRow[] = [];
  override append(workflowId: string, row: CheckpointRow, lease?: RunLease): Promise<void> {
    this.rows.push(structuredClone(row));
    return super.append(workflowId, row, lease);
  }
}

Deno.test("Workflow.registerStream() flushes per count window and at exhaustion", async () => {
  const store = new KeepingStore();
  const { workflow, probe } = streamWorkflow({ window: { count: 3 }, store });
  const result = await workflow.orchestrate("ingest");
  assert.equal(result.state, "done");
  assert.deepEqual(probe.flushed, [[0, 10, 20], [30, 40, 50], [60]]);
  assert.deepEqual(probe.closed, ["exhausted"]);
  const cursors = store.rows.filter((r) => r.kind === "step_cursor").map((r) => r.output);
  assert.deepEqual(cursors, [2, 5, 6], "the cursor of each flushed window's last item");
});

Deno.test("Workflow.registerStream() closes an empty stream without a flush or a cursor", async () => {
  const store = new KeepingStore();
  const { workflow, probe } = streamWorkflow({ to: 0, store });
  assert.equal((await workflow.orchestrate("ingest")).state, "done");
  assert.deepEqual(probe.flushed, []);
  assert.deepEqual(probe.closed, ["exhausted"]);
  assert.equal(store.rows.filter((r) => r.kind === "step_cursor").length, 0);
});

Deno.test("Workflow.registerStream() stops when flushWindow says so, after committing", async () => {
  const store = new KeepingStore();
  const { workflow, probe } = streamWorkflow({ window: { count: 2 }, stopAfter: 4, store });
  assert.equal((await workflow.orchestrate("ingest")).state, "stopped");
  assert.deepEqual(probe.flushed, [[0, 10], [20, 30]]);
  assert.deepEqual(probe.closed, [], "a stop does not call onClose");
  assert.deepEqual(store.rows.filter((r) => r.kind === "step_cursor").map((r) => r.output), [1, 3]);
});

Deno.test("Workflow.registerStream() flushes tumbling duration windows and skips empty ones", async () => {
  using time = fakeTime();
  const flushed: Array<[number, number[]]> = [];
  const start = time.now();
  async function* arrivals(): AsyncGenerator<number> {
    for (const [n, at] of [[0, 30], [1, 60], [2, 250], [3, 260]]) {
      await new Promise((resolve) => setTimeout(resolve, at! - (time.now() - start)));
      yield n!;
    }
  }
  const workflow = new Workflow<Step>()
    .registerStream("ingest", {
      window: { duration: 100 },
      open: () => arrivals(),
      processItem: (_ctx, n: number) => ({ output: n, cursor: n }),
      flushWindow: (_ctx, outputs: number[]) => {
        flushed.push([time.now() - start, outputs]);
        return "continue";
      },
      onClose: () => "done",
    })
    .addExitState("done");
  const run = workflow.orchestrate("ingest");
  await time.tick(300);
  assert.equal((await run).state, "done");
  // Windows end at 100 (holds 0, 1), 200 (empty: skipped), 300 (2, 3 — flushed at exhaustion).
  assert.deepEqual(flushed, [[100, [0, 1]], [260, [2, 3]]]);
});

Deno.test("Workflow.registerStream() fails fast on an item error by default", async () => {
  const { workflow, probe } = streamWorkflow({ failOn: (n) => n === 4, window: { count: 3 } });
  await assert.rejects(workflow.orchestrate("ingest"), (error: Error & { category: string }) => {
    assert.equal(error.category, "task_execution");
    assert.match(error.message, /bad item 4/);
    return true;
  });
  assert.deepEqual(probe.flushed, [[0, 10, 20]], "the partial window is discarded");
});

Deno.test("Workflow.registerStream() skips failing items and never commits their cursor", async () => {
  const store = new KeepingStore();
  const { workflow, probe } = streamWorkflow({
    onItemError: "skipAndContinue",
    failOn: (n) => n % 2 === 1,
    window: { count: 2 },
    store,
  });
  assert.equal((await workflow.orchestrate("ingest")).state, "done");
  assert.deepEqual(probe.flushed, [[0, 20], [40, 60]]);
  assert.deepEqual(store.rows.filter((r) => r.kind === "step_cursor").map((r) => r.output), [2, 6]);
});

Deno.test("Workflow.registerStream() tolerates retryOnError consecutive failures, resetting on success", async () => {
  const tolerated = streamWorkflow({
    onItemError: { retryOnError: 2 },
    failOn: (n) => n === 1 || n === 2 || n === 4 || n === 5,
    to: 7,
  });
  assert.equal((await tolerated.workflow.orchestrate("ingest")).state, "done");
  assert.deepEqual(tolerated.probe.flushed, [[0], [30], [60]], "failed items are dropped");
  const tooMany = streamWorkflow({
    onItemError: { retryOnError: 2 },
    failOn: (n) => n >= 1 && n <= 3,
  });
  await assert.rejects(tooMany.workflow.orchestrate("ingest"), /bad item 3/);
});

Deno.test("Workflow.registerStream() treats an item over the attempt timeout as an item error", async () => {
  using time = fakeTime();
  const { workflow, probe } = streamWorkflow({
    hangOn: 2,
    onItemError: "skipAndContinue",
    config: { attemptTimeout: 50 },
    to: 4,
  });
  const run = workflow.orchestrate("ingest");
  await time.tick(50);
  assert.equal((await run).state, "done");
  assert.deepEqual(probe.flushed, [[0], [10], [30]]);
});

Deno.test("Workflow.registerStream() drains on cancel: flushes and commits the partial window, then closes", async () => {
  using time = fakeTime();
  const store = new MemoryCheckpointStore();
  const controller = new AbortController();
  const { workflow, probe } = streamWorkflow({ window: { count: 3 }, gapMs: 10, to: 100, store });
  const run = workflow.orchestrate("ingest", { signal: controller.signal });
  await time.tick(50); // items 0..4 arrived: one window flushed, [3, 4] buffered
  controller.abort();
  await assert.rejects(run, { category: "cancelled" });
  assert.deepEqual(probe.flushed, [[0, 10, 20], [30, 40]]);
  assert.deepEqual(probe.closed, ["cancelled"]);
  const cursors = (await store.loadRun("stream-1")).filter((r) => r.kind === "step_cursor");
  assert.deepEqual(cursors.map((r) => r.output), [2, 4]);
  await time.tick(10); // let the source's pending timer finish

  // Resume: nothing is processed twice after a cancel.
  const again = streamWorkflow({ window: { count: 3 }, to: 9, store }).workflow;
  const resumedProbe: number[] = [];
  again.addEventListener("checkpoint", () => {});
  const resumed = streamWorkflow({ window: { count: 3 }, to: 9, store });
  const result = await resumed.workflow.resumeFrom("stream-1");
  resumedProbe.push(...resumed.probe.processed);
  assert.equal(result.state, "done");
  assert.deepEqual(resumedProbe, [5, 6, 7, 8]);
});

Deno.test("Workflow.registerStream() drains on the total timeout and reports workflow_timeout", async () => {
  using time = fakeTime();
  const { workflow, probe } = streamWorkflow({ window: { count: 5 }, gapMs: 10, to: 100 });
  workflow.withTotalTimeout(35);
  const check = assert.rejects(workflow.orchestrate("ingest"), { category: "workflow_timeout" });
  await time.tick(35);
  await check;
  assert.deepEqual(probe.flushed, [[0, 10, 20]]);
  assert.deepEqual(probe.closed, ["cancelled"]);
  await time.tick(10);
});

Deno.test("Workflow.registerStream() cancels while the item in flight hangs", async () => {
  using time = fakeTime();
  const controller = new AbortController();
  const { workflow, probe } = streamWorkflow({ window: { count: 10 }, hangOn: 3 });
  const run = workflow.orchestrate("ingest", { signal: controller.signal });
  await time.tick(0);
  controller.abort();
  await assert.rejects(run, { category: "cancelled" });
  assert.deepEqual(probe.flushed, [[0, 10, 20]], "the hanging item is not in the drained window");
});

Deno.test("Workflow.registerStream() keeps the window uncommitted when the drain flush fails", async () => {
  using time = fakeTime();
  const store = new MemoryCheckpointStore();
  const controller = new AbortController();
  const { workflow, probe } = streamWorkflow({
    window: { count: 10 },
    gapMs: 10,
    to: 100,
    failFlush: true,
    store,
  });
  const run = workflow.orchestrate("ingest", { signal: controller.signal });
  await time.tick(30);
  controller.abort();
  await assert.rejects(run, /sink down/);
  assert.deepEqual(probe.closed, ["cancelled"], "onClose still runs");
  const cursors = (await store.loadRun("stream-1")).filter((r) => r.kind === "step_cursor");
  assert.deepEqual(cursors, []);
  await time.tick(10);
});

Deno.test("Workflow.registerStream() validates its options", () => {
  const base = {
    open: () => numbers(0, 1),
    processItem: (_ctx: unknown, n: number) => ({ output: n, cursor: n }),
    flushWindow: () => "continue" as const,
    onClose: () => "done" as const,
  };
  const make = (extra: Record<string, unknown>) => () =>
    new Workflow<Step>().registerStream("ingest", { ...base, ...extra });
  assert.throws(make({ window: { count: 0 } }), /window must be/);
  assert.throws(make({ window: { duration: Number.NaN } }), /window must be/);
  assert.throws(make({ onItemError: { retryOnError: -1 } }), /onItemError/);
  assert.throws(make({ onItemError: "ignore" }), /onItemError/);
  assert.throws(make({ flushWindow: undefined }), /flushWindow\(\) method/);
});
