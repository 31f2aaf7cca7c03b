import assert from "node:assert/strict";
import {
  categoryOf,
  type CheckpointRow,
  MemoryCheckpointStore,
  type RunLease,
  StateContextError,
  type StreamErrorPolicy,
  type StreamWindow,
  type TaskConfig,
  Workflow,
} from "../mod.ts";
import { FakeTime } from "../testing.ts";

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
  /** The ctx.signal each item received. */
  signals: Map<number, AbortSignal>;
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
    failClose?: boolean;
    /** Items that finish only when their promise resolves (whatever their signal does). */
    hold?: Map<number, Promise<unknown>>;
    store?: MemoryCheckpointStore;
  } = {},
): { workflow: Workflow<Step>; probe: Probe } {
  const probe: Probe = { flushed: [], closed: [], processed: [], signals: new Map() };
  const workflow = new Workflow<Step>()
    .registerStream("ingest", {
      ...(options.window === undefined ? {} : { window: options.window }),
      ...(options.onItemError === undefined ? {} : { onItemError: options.onItemError }),
      ...(options.config === undefined ? {} : { config: options.config }),
      open: (_ctx, cursor: number | undefined) =>
        numbers(cursor === undefined ? 0 : cursor + 1, options.to ?? 7, options.gapMs),
      processItem: (ctx, n: number) => {
        probe.processed.push(n);
        probe.signals.set(n, ctx.signal);
        const held = options.hold?.get(n);
        if (held !== undefined) return held.then(() => ({ output: n * 10, cursor: n }));
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
        if (options.failClose) throw new Error(`close failed: ${reason}`);
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

/** The cursors of the run's step_cursor rows still in the log. */
async function cursorsOf(store: MemoryCheckpointStore): Promise<unknown[]> {
  return (await store.loadRun("stream-1")).filter((r) => r.kind === "step_cursor").map((r) =>
    r.output
  );
}

/** The task and run events of `workflow`, in order (`taskfailure` with its error's category). */
function record(workflow: Workflow<Step>): string[] {
  const seen: string[] = [];
  for (const type of ["taskstart", "tasksuccess", "cancelled", "workflowtimeout"] as const) {
    workflow.addEventListener(type, () => seen.push(type));
  }
  workflow.addEventListener("taskfailure", (event) => {
    seen.push(`taskfailure:${categoryOf(event.error)}`);
  });
  return seen;
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
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const flushed: Array<[number, number[]]> = [];
  const start = time.now;
  async function* arrivals(): AsyncGenerator<number> {
    for (const [n, at] of [[0, 30], [1, 60], [2, 250], [3, 260]]) {
      await new Promise((resolve) => setTimeout(resolve, at! - (time.now - start)));
      yield n!;
    }
  }
  const workflow = new Workflow<Step>()
    .registerStream("ingest", {
      window: { duration: 100 },
      open: () => arrivals(),
      processItem: (_ctx, n: number) => ({ output: n, cursor: n }),
      flushWindow: (_ctx, outputs: number[]) => {
        flushed.push([time.now - start, outputs]);
        return "continue";
      },
      onClose: () => "done",
    })
    .addExitState("done");
  const run = workflow.orchestrate("ingest");
  await time.tickAsync(300);
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
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow, probe } = streamWorkflow({
    hangOn: 2,
    onItemError: "skipAndContinue",
    config: { attemptTimeout: 50 },
    to: 4,
  });
  const run = workflow.orchestrate("ingest");
  await time.tickAsync(50);
  assert.equal((await run).state, "done");
  assert.deepEqual(probe.flushed, [[0], [10], [30]]);
});

Deno.test("Workflow.registerStream() drains on cancel: flushes and commits the partial window, then closes", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new MemoryCheckpointStore();
  const controller = new AbortController();
  const { workflow, probe } = streamWorkflow({ window: { count: 3 }, gapMs: 10, to: 100, store });
  const run = workflow.orchestrate("ingest", { signal: controller.signal });
  await time.tickAsync(50); // items 0..4 arrived: one window flushed, [3, 4] buffered
  controller.abort();
  await assert.rejects(run, { category: "cancelled" });
  assert.deepEqual(probe.flushed, [[0, 10, 20], [30, 40]]);
  assert.deepEqual(probe.closed, ["cancelled"]);
  const cursors = (await store.loadRun("stream-1")).filter((r) => r.kind === "step_cursor");
  assert.deepEqual(cursors.map((r) => r.output), [2, 4]);
  await time.tickAsync(10); // let the source's pending timer finish

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
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const { workflow, probe } = streamWorkflow({ window: { count: 5 }, gapMs: 10, to: 100 });
  workflow.withTotalTimeout(35);
  const check = assert.rejects(workflow.orchestrate("ingest"), { category: "workflow_timeout" });
  await time.tickAsync(35);
  await check;
  assert.deepEqual(probe.flushed, [[0, 10, 20]]);
  assert.deepEqual(probe.closed, ["cancelled"]);
  await time.tickAsync(10);
});

Deno.test("Workflow.registerStream() lets a cooperative item end early on cancel and replays it on resume", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new MemoryCheckpointStore();
  const controller = new AbortController();
  const { workflow, probe } = streamWorkflow({ window: { count: 10 }, hangOn: 3, store });
  const run = workflow.orchestrate("ingest", { signal: controller.signal });
  await time.tickAsync(0);
  controller.abort("stop");
  await assert.rejects(run, { category: "cancelled" });
  // Item 3 saw its ctx.signal abort and rejected: abandoned, not in the drained window.
  assert.deepEqual(probe.flushed, [[0, 10, 20]], "the abandoned item is not in the drained window");
  assert.deepEqual(probe.closed, ["cancelled"]);
  assert.deepEqual(await cursorsOf(store), [2]);

  const resumed = streamWorkflow({ window: { count: 10 }, store });
  assert.equal((await resumed.workflow.resumeFrom("stream-1")).state, "done");
  assert.deepEqual(resumed.probe.processed, [3, 4, 5, 6], "the abandoned item is processed again");
});

Deno.test("Workflow.registerStream() keeps the window uncommitted when the drain flush fails, and a resume replays it", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
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
  await time.tickAsync(30);
  controller.abort();
  await assert.rejects(run, (error: Error & { category: string }) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "task_execution", "the flush error, not cancelled");
    assert.match(error.message, /sink down/);
    return true;
  });
  assert.deepEqual(probe.processed, [0, 1, 2]);
  assert.deepEqual(probe.closed, ["cancelled"], "onClose still runs");
  assert.deepEqual(await cursorsOf(store), []);
  await time.tickAsync(10);

  const resumed = streamWorkflow({ window: { count: 10 }, to: 5, store });
  assert.equal((await resumed.workflow.resumeFrom("stream-1")).state, "done");
  assert.deepEqual(resumed.probe.processed, [0, 1, 2, 3, 4], "the uncommitted window replays");
  assert.deepEqual(resumed.probe.flushed, [[0, 10, 20, 30, 40]]);
});

Deno.test("Workflow.registerStream() returns the drain flush error even when onClose fails too", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const controller = new AbortController();
  const { workflow, probe } = streamWorkflow({
    window: { count: 10 },
    gapMs: 10,
    to: 100,
    failFlush: true,
    failClose: true,
  });
  const run = workflow.orchestrate("ingest", { signal: controller.signal });
  await time.tickAsync(30);
  controller.abort();
  await assert.rejects(run, (error: Error & { category: string }) => {
    assert.match(error.message, /sink down/);
    assert.doesNotMatch(error.message, /close failed/);
    return true;
  });
  assert.deepEqual(probe.closed, ["cancelled"]);
  await time.tickAsync(10);
});

Deno.test("Workflow.registerStream() finishes the item in flight on cancel, flushes it and resumes after it", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new KeepingStore();
  const controller = new AbortController();
  const item = Promise.withResolvers<void>();
  const { workflow, probe } = streamWorkflow({
    window: { count: 10 },
    gapMs: 10,
    to: 8,
    hold: new Map([[3, item.promise]]),
    store,
  });
  const events = record(workflow);
  let settled = false;
  const run = workflow.orchestrate("ingest", { signal: controller.signal });
  run.then(() => settled = true, () => settled = true);
  await time.tickAsync(40); // items 0..2 processed, item 3 in flight
  assert.deepEqual(probe.processed, [0, 1, 2, 3]);
  controller.abort("operator stopped the import");
  await time.tickAsync(1_000);
  assert.equal(settled, false, "the cancel waits for the item in flight");
  assert.equal(probe.signals.get(3)?.aborted, true, "the item's ctx.signal aborted");
  assert.equal(probe.signals.get(3)?.reason, "operator stopped the import");
  item.resolve();
  await assert.rejects(run, (error: Error & { category: string }) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "cancelled");
    assert.equal(error.attempt, 0);
    return true;
  });
  assert.deepEqual(probe.flushed, [[0, 10, 20, 30]], "the finished item is in the drained window");
  assert.deepEqual(probe.closed, ["cancelled"]);
  assert.deepEqual(await cursorsOf(store), [3], "the drained window's cursor covers it");
  assert.deepEqual(events, ["taskstart", "taskfailure:cancelled", "cancelled"]);

  // Resume: the source reopens after item 3; every item is processed (and flushed) exactly once.
  const resumed = streamWorkflow({ window: { count: 10 }, to: 8, store });
  assert.equal((await resumed.workflow.resumeFrom("stream-1")).state, "done");
  assert.deepEqual(resumed.probe.processed, [4, 5, 6, 7]);
  const all = [...probe.processed, ...resumed.probe.processed];
  assert.deepEqual(all, [0, 1, 2, 3, 4, 5, 6, 7], "every item processed exactly once");
  assert.deepEqual([...probe.flushed, ...resumed.probe.flushed].flat(), all.map((n) => n * 10));
});

Deno.test("Workflow.registerStream() bounds the item in flight after a cancel by its attempt timeout", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new MemoryCheckpointStore();
  const controller = new AbortController();
  const { workflow, probe } = streamWorkflow({
    window: { count: 10 },
    hold: new Map([[2, new Promise<never>(() => {})]]), // ignores its signal, never settles
    config: { attemptTimeout: 50 },
    store,
  });
  let settled = false;
  const run = workflow.orchestrate("ingest", { signal: controller.signal });
  run.then(() => settled = true, () => settled = true);
  await time.tickAsync(10);
  controller.abort();
  await time.tickAsync(10);
  assert.equal(settled, false, "waiting for the item in flight");
  await time.tickAsync(40); // the attempt timeout
  await assert.rejects(run, { category: "cancelled" });
  assert.deepEqual(probe.flushed, [[0, 10]], "the timed-out item is abandoned");
  assert.deepEqual(probe.closed, ["cancelled"]);
  assert.deepEqual(await cursorsOf(store), [1], "a resume starts at the abandoned item");
});

Deno.test("Workflow.registerStream() does not call onClose when cancelled while open() is pending", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const controller = new AbortController();
  const opened = Promise.withResolvers<AsyncIterable<number>>();
  const closed: string[] = [];
  const workflow = new Workflow<Step>()
    .registerStream("ingest", {
      open: () => opened.promise, // a hung open()
      processItem: (_ctx, n: number) => ({ output: n, cursor: n }),
      flushWindow: () => "continue",
      onClose: (_ctx, reason) => {
        closed.push(reason);
        return "done";
      },
    })
    .addExitState("done");
  const events = record(workflow);
  const run = workflow.orchestrate("ingest", { signal: controller.signal });
  await time.tickAsync(1_000);
  controller.abort();
  await assert.rejects(run, { category: "cancelled" });
  assert.deepEqual(closed, [], "a source that never opened is not closed");
  assert.deepEqual(events, ["taskstart", "taskfailure:cancelled", "cancelled"]);
  // Should the source open after all, it is closed at once (never read).
  let sourceClosed = false;
  async function* source(): AsyncGenerator<number> {
    try {
      yield 1;
    } finally {
      sourceClosed = true;
    }
  }
  const late = source();
  await late.next(); // started, so that return() runs its finally
  opened.resolve(late);
  await time.tickAsync(0);
  assert.equal(sourceClosed, true);
  assert.deepEqual(closed, []);
});

Deno.test('Workflow.registerStream() fails with onClose\'s error when onClose("cancelled") throws', async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new MemoryCheckpointStore();
  const controller = new AbortController();
  const { workflow, probe } = streamWorkflow({
    window: { count: 10 },
    gapMs: 10,
    to: 100,
    failClose: true,
    store,
  });
  const events = record(workflow);
  const run = workflow.orchestrate("ingest", { signal: controller.signal });
  await time.tickAsync(20);
  controller.abort();
  await assert.rejects(run, (error: Error & { category: string; cause?: unknown }) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "task_execution");
    assert.match(error.message, /close failed: cancelled/);
    assert.equal((error.cause as Error).message, "close failed: cancelled");
    return true;
  });
  assert.deepEqual(probe.flushed, [[0, 10]], "the drain flushed first");
  assert.deepEqual(probe.closed, ["cancelled"]);
  assert.deepEqual(await cursorsOf(store), [1], "and committed the window");
  assert.deepEqual(events, ["taskstart", "taskfailure:task_execution"], "no cancelled event");
  await time.tickAsync(10);
});

Deno.test("Workflow.registerStream() drains the item in flight on the total timeout and reports workflow_timeout", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new KeepingStore();
  const item = Promise.withResolvers<void>();
  const { workflow, probe } = streamWorkflow({
    window: { count: 10 },
    gapMs: 10,
    to: 8,
    hold: new Map([[2, item.promise]]),
    store,
  });
  workflow.withTotalTimeout(100);
  const events = record(workflow);
  let settled = false;
  const run = workflow.orchestrate("ingest");
  run.then(() => settled = true, () => settled = true);
  await time.tickAsync(30); // item 2 in flight
  await time.tickAsync(500); // the budget runs out while it is
  assert.equal(settled, false, "the drain waits for the item in flight");
  assert.equal(probe.signals.get(2)?.aborted, true);
  assert.equal((probe.signals.get(2)?.reason as Error).name, "WorkflowTimeoutError");
  item.resolve();
  await assert.rejects(run, (error: Error & { category: string }) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "workflow_timeout");
    assert.equal(error.attempt, 0);
    return true;
  });
  assert.deepEqual(probe.flushed, [[0, 10, 20]]);
  assert.deepEqual(probe.closed, ["cancelled"]);
  assert.deepEqual(await cursorsOf(store), [2]);
  assert.deepEqual(events, ["taskstart", "taskfailure:workflow_timeout", "workflowtimeout"]);

  const resumed = streamWorkflow({ window: { count: 10 }, to: 8, store });
  assert.equal((await resumed.workflow.resumeFrom("stream-1")).state, "done");
  assert.deepEqual(resumed.probe.processed, [3, 4, 5, 6, 7]);
});

Deno.test("Workflow.registerStream() ends cancelled on a durable cancel request, the item in flight flushed", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new MemoryCheckpointStore();
  const item = Promise.withResolvers<void>();
  const { workflow, probe } = streamWorkflow({
    window: { count: 10 },
    gapMs: 10,
    to: 8,
    hold: new Map([[2, item.promise]]),
    store,
  });
  const events = record(workflow);
  const run = workflow.orchestrate("ingest");
  await time.tickAsync(30); // item 2 in flight
  assert.equal((await store.requestCancel("stream-1", "operator")).outcome, "requested");
  await time.tickAsync(2_000); // the owner's poll sees the request
  assert.equal(probe.signals.get(2)?.aborted, true);
  item.resolve();
  await assert.rejects(run, (error: Error & { category: string }) => {
    assert.equal(error.category, "cancelled", `not a refused cursor append: ${error.message}`);
    return true;
  });
  assert.deepEqual(probe.flushed, [[0, 10, 20]], "the finished item is in the drained window");
  assert.deepEqual(probe.closed, ["cancelled"]);
  // The store refuses forward rows once a cancel is requested: the run is over for good.
  assert.deepEqual(await cursorsOf(store), []);
  assert.deepEqual(events, ["taskstart", "taskfailure:cancelled", "cancelled"]);

  const resumed = streamWorkflow({ window: { count: 10 }, to: 8, store });
  await assert.rejects(resumed.workflow.resumeFrom("stream-1"), { category: "cancelled" });
  assert.deepEqual(resumed.probe.processed, [], "a durably cancelled run never runs forward");
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
