import assert from "node:assert/strict";
import {
  type CanoError,
  type CompensatableTask,
  CompensationFailedError,
  ConfigurationError,
  MemoryCheckpointStore,
  OrphanedCompensationError,
  type ResourceMap,
  RetryMode,
  StateContextError,
  TaskConfig,
  TimeoutError,
  Workflow,
  WorkflowTimeoutError,
} from "../mod.ts";
import { FakeTime } from "../testing.ts";
import {
  crashCopy,
  gate,
  RecordingStore,
  row,
  seed,
  sleep,
  track,
  untilAborted,
} from "./_checkpoint_helpers.ts";

type Saga = "reserve" | "charge" | "pay" | "ship" | "done";
type Data = Record<string, unknown>;
type Output = { id: string };

interface StepOptions {
  /** Makes `compensate` throw `undo <name> failed`. */
  failCompensate?: boolean;
  config?: TaskConfig;
  /** Replaces the compensation body (after it is logged). */
  compensate?: (ctx: { signal: AbortSignal }) => void | Promise<void>;
}

/** A saga step named like its state that logs its run and its compensation. */
function sagaStep(
  name: string,
  next: Saga,
  log: string[],
  options: StepOptions = {},
): CompensatableTask<Saga, Saga, Data, ResourceMap, Output> {
  return {
    name,
    config: options.config ?? TaskConfig.minimal(),
    run: () => {
      log.push(`run ${name}`);
      return { next, output: { id: `${name}-1` } };
    },
    compensate: async (ctx, output) => {
      log.push(`compensate ${name} ${output.id}`);
      await options.compensate?.(ctx);
      if (options.failCompensate) throw new Error(`undo ${name} failed`);
    },
  };
}

/** A plain task that fails at once (no retry). */
function failing(log: string[], message = "no courier"): () => never {
  return () => {
    log.push("run ship");
    throw new Error(message);
  };
}

type CompensateRecord = { taskId: string; ok: boolean; error: unknown };

function recordCompensations(workflow: Workflow<Saga, Data>): CompensateRecord[] {
  const events: CompensateRecord[] = [];
  workflow.addEventListener(
    "compensate",
    (e) => events.push({ taskId: e.taskId, ok: e.ok, error: e.error }),
  );
  return events;
}

Deno.test("Workflow.registerWithCompensation() rolls back completed steps in LIFO order when a later task fails", async () => {
  const log: string[] = [];
  const workflow = new Workflow<Saga, Data>()
    .registerWithCompensation("reserve", sagaStep("reserve", "charge", log))
    .registerWithCompensation("charge", sagaStep("charge", "ship", log))
    .register("ship", failing(log), { config: TaskConfig.minimal() })
    .addExitState("done");
  const events = recordCompensations(workflow);
  await assert.rejects(workflow.orchestrate("reserve"), (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "task_execution");
    assert.equal(error.state, "ship");
    assert.deepEqual(error.path, ["reserve", "charge", "ship"]);
    assert.equal((error.cause as Error).message, "no courier");
    return true;
  });
  assert.deepEqual(log, [
    "run reserve",
    "run charge",
    "run ship",
    "compensate charge charge-1",
    "compensate reserve reserve-1",
  ]);
  assert.deepEqual(events, [
    { taskId: "charge", ok: true, error: undefined },
    { taskId: "reserve", ok: true, error: undefined },
  ]);
});

Deno.test("Workflow.registerWithCompensation() does not compensate a step whose forward run failed", async () => {
  const log: string[] = [];
  const workflow = new Workflow<Saga, Data>()
    .registerWithCompensation("reserve", sagaStep("reserve", "charge", log))
    .registerWithCompensation("charge", {
      ...sagaStep("charge", "ship", log),
      run: () => {
        log.push("run charge");
        throw new Error("card declined");
      },
    })
    .addExitState("done");
  await assert.rejects(workflow.orchestrate("reserve"), /card declined/);
  assert.deepEqual(log, ["run reserve", "run charge", "compensate reserve reserve-1"]);
});

Deno.test("Workflow.registerWithCompensation() rolls back when a step goes to an unknown state", async () => {
  const log: string[] = [];
  const workflow = new Workflow<Saga, Data>()
    .registerWithCompensation("reserve", sagaStep("reserve", "charge", log))
    .registerWithCompensation("charge", sagaStep("charge", "nowhere" as Saga, log))
    .addExitState("done");
  await assert.rejects(workflow.orchestrate("reserve"), (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "workflow");
    assert.equal(error.state, "nowhere");
    return true;
  });
  assert.deepEqual(log, [
    "run reserve",
    "run charge",
    "compensate charge charge-1",
    "compensate reserve reserve-1",
  ]);
});

Deno.test("Workflow.registerWithCompensation() rolls back the step whose completion row could not be appended", async () => {
  const log: string[] = [];
  const store = new RecordingStore({
    failAppend: (r) => r.kind === "compensation_completion" && r.state === "charge",
  });
  const workflow = new Workflow<Saga, Data>()
    .registerWithCompensation("reserve", sagaStep("reserve", "charge", log))
    .registerWithCompensation("charge", sagaStep("charge", "ship", log))
    .register("ship", failing(log))
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("saga-append");
  await assert.rejects(workflow.orchestrate("reserve"), (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "checkpoint_store");
    assert.equal(error.state, "charge");
    assert.match(error.message, /compensation checkpoint/i);
    return true;
  });
  assert.deepEqual(log, [
    "run reserve",
    "run charge",
    "compensate charge charge-1", // its side effect happened: it is undone although unrecorded
    "compensate reserve reserve-1",
  ]);
  assert.deepEqual(await store.inner.loadRun("saga-append"), [], "clean rollback clears the log");
});

Deno.test("Workflow.registerWithCompensation() rolls back when a later state_entry append fails", async () => {
  const log: string[] = [];
  const store = new RecordingStore({
    failAppend: (r) => r.kind === "state_entry" && r.state === "ship",
  });
  const workflow = new Workflow<Saga, Data>()
    .registerWithCompensation("reserve", sagaStep("reserve", "charge", log))
    .registerWithCompensation("charge", sagaStep("charge", "ship", log))
    .register("ship", failing(log))
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("saga-append-2");
  await assert.rejects(workflow.orchestrate("reserve"), { category: "checkpoint_store" });
  assert.deepEqual(log, [
    "run reserve",
    "run charge",
    "compensate charge charge-1",
    "compensate reserve reserve-1",
  ]);
});

Deno.test("Workflow.registerWithCompensation() rolls back when the run is cancelled", async () => {
  const log: string[] = [];
  const controller = new AbortController();
  const store = new RecordingStore();
  const workflow = new Workflow<Saga, Data>()
    .registerWithCompensation("reserve", sagaStep("reserve", "charge", log))
    .registerWithCompensation("charge", sagaStep("charge", "ship", log))
    .register("ship", (ctx) => {
      log.push("run ship");
      queueMicrotask(() => controller.abort());
      return untilAborted(ctx.signal);
    })
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("saga-cancel");
  let cancelled = 0;
  workflow.addEventListener("cancelled", () => cancelled++);
  await assert.rejects(workflow.orchestrate("reserve", { signal: controller.signal }), {
    category: "cancelled",
  });
  assert.equal(cancelled, 1);
  assert.deepEqual(log, [
    "run reserve",
    "run charge",
    "run ship",
    "compensate charge charge-1",
    "compensate reserve reserve-1",
  ]);
  assert.deepEqual(await store.inner.loadRun("saga-cancel"), [], "clean rollback clears the log");
});

Deno.test("Workflow.registerWithCompensation() rolls back when the total timeout trips", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log: string[] = [];
  const workflow = new Workflow<Saga, Data>()
    .registerWithCompensation("reserve", sagaStep("reserve", "charge", log))
    .registerWithCompensation("charge", sagaStep("charge", "ship", log))
    .register("ship", async (ctx) => {
      log.push("run ship");
      await sleep(60_000, ctx.signal);
      return "done";
    })
    .addExitState("done")
    .withTotalTimeout(5_000);
  let timeouts = 0;
  workflow.addEventListener("workflowtimeout", () => timeouts++);
  const check = assert.rejects(workflow.orchestrate("reserve"), (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "workflow_timeout");
    assert.ok(error.cause instanceof WorkflowTimeoutError);
    return true;
  });
  await time.tickAsync(5_000);
  await check;
  assert.equal(timeouts, 1);
  assert.deepEqual(log.slice(3), ["compensate charge charge-1", "compensate reserve reserve-1"]);
});

Deno.test("Workflow.registerWithCompensation() never interrupts a forward run on cancel: it finishes, then is rolled back", async () => {
  const log: string[] = [];
  const controller = new AbortController();
  const release = gate();
  let forwardSignal: AbortSignal | undefined;
  let shipRan = false;
  const workflow = new Workflow<Saga, Data>()
    .registerWithCompensation("reserve", sagaStep("reserve", "charge", log))
    .registerWithCompensation("charge", {
      ...sagaStep("charge", "ship", log),
      run: async (ctx) => {
        forwardSignal = ctx.signal;
        controller.abort();
        await release.promise;
        log.push("charge finished");
        return { next: "ship", output: { id: "charge-late" } };
      },
    })
    .register("ship", () => {
      shipRan = true;
      return "done";
    })
    .addExitState("done");
  let settled = false;
  const run = workflow.orchestrate("reserve", { signal: controller.signal });
  run.then(() => settled = true, () => settled = true);
  for (let i = 0; i < 20; i++) await Promise.resolve();
  assert.equal(settled, false, "the cancel waits for the forward run");
  assert.equal(forwardSignal?.aborted, false, "the forward run's signal is not aborted");
  release.open();
  await assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "cancelled");
    assert.equal(error.state, "ship", "cancelled at the next boundary");
    return true;
  });
  assert.equal(shipRan, false);
  assert.deepEqual(log, [
    "run reserve",
    "charge finished",
    "compensate charge charge-late",
    "compensate reserve reserve-1",
  ]);
});

Deno.test("Workflow.registerWithCompensation() never interrupts a forward run on total timeout: it finishes, then is rolled back", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log: string[] = [];
  let forwardSignal: AbortSignal | undefined;
  let shipRan = false;
  const workflow = new Workflow<Saga, Data>()
    .registerWithCompensation("charge", {
      ...sagaStep("charge", "ship", log),
      run: async (ctx) => {
        forwardSignal = ctx.signal;
        await sleep(10_000);
        log.push(`charge finished, aborted=${ctx.signal.aborted}`);
        return { next: "ship", output: { id: "charge-late" } };
      },
    })
    .register("ship", () => {
      shipRan = true;
      return "done";
    })
    .addExitState("done")
    .withTotalTimeout(5_000);
  let settled = false;
  const run = workflow.orchestrate("charge");
  run.then(() => settled = true, () => settled = true);
  await time.tickAsync(5_000);
  assert.equal(settled, false, "the budget waits for the forward run");
  const check = assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "workflow_timeout");
    assert.equal(error.state, "ship");
    return true;
  });
  await time.tickAsync(5_000);
  await check;
  assert.equal(forwardSignal?.aborted, false);
  assert.equal(shipRan, false);
  assert.deepEqual(log, ["charge finished, aborted=false", "compensate charge charge-late"]);
});

Deno.test("Workflow.registerWithCompensation() lets a late last step before the exit state succeed", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log: string[] = [];
  const workflow = new Workflow<Saga, Data>()
    .registerWithCompensation("charge", {
      ...sagaStep("charge", "done", log),
      run: async () => {
        await sleep(10_000);
        return { next: "done", output: { id: "charge-1" } };
      },
    })
    .addExitState("done")
    .withTotalTimeout(5_000);
  const run = track(workflow.orchestrate("charge"));
  await time.tickAsync(10_000);
  await run.done;
  assert.equal(run.error, undefined, `the run failed: ${String(run.error)}`);
  assert.equal(run.value?.state, "done");
  assert.deepEqual(log, [], "nothing rolled back");
});

Deno.test("Workflow.registerWithCompensation() runs each compensation exactly once, never retried", async () => {
  const log: string[] = [];
  const workflow = new Workflow<Saga, Data>()
    .registerWithCompensation(
      "charge",
      sagaStep("charge", "ship", log, {
        failCompensate: true,
        config: { retry: RetryMode.fixed(3, 0) },
      }),
    )
    .register("ship", failing(log), { config: TaskConfig.minimal() })
    .addExitState("done");
  await assert.rejects(workflow.orchestrate("charge"), CompensationFailedError);
  assert.deepEqual(log, ["run charge", "run ship", "compensate charge charge-1"]);
});

Deno.test("Workflow.registerWithCompensation() reports a dirty rollback as CompensationFailedError: wrapped original first, then drain order", async () => {
  const log: string[] = [];
  const store = new RecordingStore();
  const workflow = new Workflow<Saga, Data>()
    .registerWithCompensation(
      "reserve",
      sagaStep("reserve", "charge", log, { failCompensate: true }),
    )
    .registerWithCompensation("charge", sagaStep("charge", "pay", log))
    .registerWithCompensation("pay", sagaStep("pay", "ship", log, { failCompensate: true }))
    .register("ship", failing(log), { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("saga-dirty");
  const events = recordCompensations(workflow);
  await assert.rejects(workflow.orchestrate("reserve"), (error: unknown) => {
    assert.ok(error instanceof CompensationFailedError);
    assert.equal(error.category, "compensation_failed");
    assert.equal(error.errors.length, 3);
    const [original, first, second] = error.errors;
    assert.ok(original instanceof StateContextError);
    assert.equal(original.state, "ship");
    assert.equal(original.category, "task_execution");
    assert.equal((original.cause as Error).message, "no courier");
    assert.equal((first as Error).message, "undo pay failed");
    assert.equal((second as Error).message, "undo reserve failed");
    assert.equal(error.cause, original);
    return true;
  });
  assert.deepEqual(log.slice(4), [
    "compensate pay pay-1",
    "compensate charge charge-1",
    "compensate reserve reserve-1",
  ]);
  assert.deepEqual(events.map((e) => [e.taskId, e.ok, (e.error as Error | undefined)?.message]), [
    ["pay", false, "undo pay failed"],
    ["charge", true, undefined],
    ["reserve", false, "undo reserve failed"],
  ]);
  assert.equal(store.count("clear"), 0, "a dirty rollback keeps the log");
  const kept = await store.inner.loadRun("saga-dirty");
  assert.deepEqual(
    kept.filter((r) => r.kind === "compensation_completion").map((r) => [r.taskId, r.output]),
    [["reserve", { id: "reserve-1" }], ["charge", { id: "charge-1" }], ["pay", { id: "pay-1" }]],
  );
});

Deno.test("Workflow.registerWithCompensation() clears the log after a clean rollback", async () => {
  const log: string[] = [];
  const store = new RecordingStore();
  const workflow = new Workflow<Saga, Data>()
    .registerWithCompensation("charge", sagaStep("charge", "ship", log))
    .register("ship", failing(log), { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("saga-clean");
  await assert.rejects(workflow.orchestrate("charge"), { category: "task_execution" });
  assert.deepEqual(store.appended().map((r) => [r.sequence, r.kind, r.state, r.taskId, r.output]), [
    [0, "state_entry", "charge", "charge", undefined],
    [1, "compensation_completion", "charge", "charge", { id: "charge-1" }],
    [2, "state_entry", "ship", "ship", undefined],
    // The rollback is durable: its plan before the first compensation, each one once done.
    [3, "rollback", "ship", "", {
      error: { name: "Error", message: "no courier" },
      attempt: 1,
      stack: [{ taskId: "charge", state: "charge", output: { id: "charge-1" } }],
    }],
    [4, "compensated", "charge", "charge", { index: 0 }],
  ]);
  assert.equal(store.count("clear"), 1);
  assert.deepEqual(await store.inner.loadRun("saga-clean"), []);
});

Deno.test("Workflow.registerWithCompensation() does not let the drain be cancelled", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log: string[] = [];
  const controller = new AbortController();
  const signals: boolean[] = [];
  const slowUndo = async (ctx: { signal: AbortSignal }): Promise<void> => {
    signals.push(ctx.signal.aborted);
    await sleep(1_000, ctx.signal);
  };
  const workflow = new Workflow<Saga, Data>()
    .registerWithCompensation(
      "reserve",
      sagaStep("reserve", "charge", log, { compensate: slowUndo }),
    )
    .registerWithCompensation("charge", sagaStep("charge", "pay", log, { compensate: slowUndo }))
    .registerWithCompensation("pay", sagaStep("pay", "ship", log, { compensate: slowUndo }))
    .register("ship", (ctx) => {
      queueMicrotask(() => controller.abort());
      return untilAborted(ctx.signal);
    })
    .addExitState("done");
  let result: unknown;
  const run = workflow.orchestrate("reserve", { signal: controller.signal }).catch((e) =>
    result = e
  );
  await time.tickAsync(3_000);
  await run;
  assert.ok(result instanceof StateContextError, `clean rollback, got ${String(result)}`);
  assert.equal(result.category, "cancelled");
  assert.equal(controller.signal.aborted, true);
  assert.deepEqual(signals, [false, false, false]);
  assert.deepEqual(log.slice(3), [
    "compensate pay pay-1",
    "compensate charge charge-1",
    "compensate reserve reserve-1",
  ]);
});

Deno.test("Workflow.registerWithCompensation() compensates inline and fails with task_execution when the output is not JSON", async () => {
  const log: string[] = [];
  const store = new RecordingStore();
  let seenOutput: unknown;
  const workflow = new Workflow<Saga, Data>()
    .registerWithCompensation("reserve", sagaStep("reserve", "charge", log))
    .registerWithCompensation("charge", {
      name: "charge",
      config: TaskConfig.minimal(),
      run: () => {
        log.push("run charge");
        return { next: "ship", output: { amount: 10n } };
      },
      compensate: (_ctx, output) => {
        seenOutput = output;
        log.push("inline compensate charge");
      },
    })
    .register("ship", failing(log))
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("saga-bigint");
  await assert.rejects(workflow.orchestrate("reserve"), (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "task_execution");
    assert.equal(error.state, "charge");
    assert.match((error.cause as Error).message, /serialize compensation output/i);
    return true;
  });
  assert.deepEqual(seenOutput, { amount: 10n });
  assert.deepEqual(log, [
    "run reserve",
    "run charge",
    "inline compensate charge",
    "compensate reserve reserve-1",
  ]);
  assert.deepEqual(
    store.appended().map((r) => [r.kind, r.state]),
    [
      ["state_entry", "reserve"],
      ["compensation_completion", "reserve"],
      ["state_entry", "charge"],
      ["rollback", "charge"], // the rest of the saga rolls back durably
      ["compensated", "reserve"],
    ],
    "no completion row for the unserialisable output",
  );
});

Deno.test("Workflow.registerWithCompensation() fails with CompensationFailedError when the inline compensation fails", async () => {
  const workflow = new Workflow<Saga, Data>()
    .registerWithCompensation("charge", {
      name: "charge",
      config: TaskConfig.minimal(),
      run: () => ({ next: "ship", output: { amount: 10n } }),
      compensate: () => {
        throw new Error("refund failed");
      },
    })
    .register("ship", () => "done")
    .addExitState("done");
  await assert.rejects(workflow.orchestrate("charge"), (error: unknown) => {
    assert.ok(
      error instanceof CompensationFailedError,
      `expected CompensationFailedError, got ${(error as Error).name}`,
    );
    assert.equal(error.errors.length, 2);
    const [original, undo] = error.errors;
    assert.ok(original instanceof StateContextError);
    assert.equal(original.category, "task_execution");
    assert.equal(original.state, "charge");
    assert.equal((undo as Error).message, "refund failed");
    return true;
  });
});

Deno.test("Workflow.registerWithCompensation() flattens CompensationFailedError when an inline and a drained compensation both fail", async () => {
  const log: string[] = [];
  const workflow = new Workflow<Saga, Data>()
    .registerWithCompensation(
      "reserve",
      sagaStep("reserve", "charge", log, { failCompensate: true }),
    )
    .registerWithCompensation("charge", {
      name: "charge",
      config: TaskConfig.minimal(),
      run: () => ({ next: "ship", output: { amount: 10n } }),
      compensate: () => {
        throw new Error("refund failed");
      },
    })
    .register("ship", () => "done")
    .addExitState("done");
  await assert.rejects(workflow.orchestrate("reserve"), (error: unknown) => {
    assert.ok(error instanceof CompensationFailedError);
    assert.ok(
      error.errors.every((e) =>
        !(e instanceof CompensationFailedError) &&
        !(e instanceof StateContextError && e.cause instanceof CompensationFailedError)
      ),
      "no CompensationFailedError nested inside the errors",
    );
    assert.equal(error.errors.length, 3);
    const [original, inline, drained] = error.errors;
    assert.ok(original instanceof StateContextError);
    assert.equal(original.category, "task_execution");
    assert.equal((inline as Error).message, "refund failed");
    assert.equal((drained as Error).message, "undo reserve failed");
    return true;
  });
});

Deno.test("Workflow.resumeFrom() reports OrphanedCompensationError when the compensatable task was renamed", async () => {
  const store = new MemoryCheckpointStore();
  await seed(store, "renamed-saga", [
    row(0, "reserve"),
    row(1, "reserve", { kind: "compensation_completion", output: { id: "r-1" } }),
    row(2, "ship"),
  ]);
  const log: string[] = [];
  const workflow = new Workflow<Saga, Data>()
    .registerWithCompensation("reserve", sagaStep("reserve-v2", "ship", log))
    .register("ship", failing(log), { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store);
  const events = recordCompensations(workflow);
  await assert.rejects(workflow.resumeFrom("renamed-saga"), (error: unknown) => {
    assert.ok(error instanceof CompensationFailedError);
    assert.equal(error.errors.length, 2);
    assert.ok(error.errors[0] instanceof StateContextError);
    const orphan = error.errors[1];
    assert.ok(orphan instanceof OrphanedCompensationError);
    assert.equal(orphan.category, "orphaned_compensation");
    assert.equal(orphan.taskId, "reserve");
    assert.deepEqual(orphan.output, { id: "r-1" });
    return true;
  });
  assert.deepEqual(log, ["run ship"], "reserve-v2 never ran nor compensated");
  assert.equal(events.length, 1);
  assert.equal(events[0]?.taskId, "reserve");
  assert.equal(events[0]?.ok, false);
  assert.ok(events[0]?.error instanceof OrphanedCompensationError);
  const kept = await store.loadRun("renamed-saga");
  assert.deepEqual(
    kept.map((r) => r.kind),
    ["state_entry", "compensation_completion", "state_entry", "state_entry", "rollback"],
    "dirty: the log is kept, with the rollback recorded and no compensation marked done",
  );
  assert.equal((await store.getRun("renamed-saga"))?.status, "failed");
});

Deno.test("Workflow.registerWithCompensation() bounds each compensation by the task's attemptTimeout", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log: string[] = [];
  let undoSignal: AbortSignal | undefined;
  const workflow = new Workflow<Saga, Data>()
    .registerWithCompensation("reserve", sagaStep("reserve", "charge", log))
    .registerWithCompensation(
      "charge",
      sagaStep("charge", "ship", log, {
        config: { retry: RetryMode.none(), attemptTimeout: 1_000 },
        compensate: (ctx) => {
          undoSignal = ctx.signal;
          return sleep(60_000, ctx.signal);
        },
      }),
    )
    .register("ship", failing(log), { config: TaskConfig.minimal() })
    .addExitState("done");
  let result: unknown;
  const run = workflow.orchestrate("reserve").catch((e) => result = e);
  await time.tickAsync(1_000);
  await run;
  assert.ok(result instanceof CompensationFailedError);
  assert.equal(result.errors.length, 2);
  const timeout = result.errors[1];
  assert.ok(timeout instanceof TimeoutError);
  assert.match(timeout.message, /charge/);
  assert.match(timeout.message, /1000 ms/);
  assert.ok(undoSignal?.aborted);
  assert.ok(undoSignal?.reason instanceof TimeoutError);
  assert.deepEqual(log.slice(-1), ["compensate reserve reserve-1"], "the drain went on");
});

Deno.test("Workflow.withCompensationTimeout() orphans the entries left at the deadline, even without a total timeout", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const start = time.now;
  const log: string[] = [];
  const workflow = new Workflow<Saga, Data>()
    .registerWithCompensation("reserve", sagaStep("reserve", "charge", log))
    .registerWithCompensation("charge", sagaStep("charge", "pay", log))
    .registerWithCompensation(
      "pay",
      sagaStep("pay", "ship", log, { compensate: (ctx) => sleep(60_000, ctx.signal) }),
    )
    .register("ship", failing(log), { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCompensationTimeout(5_000);
  let result: unknown;
  let endedAt = 0;
  const run = workflow.orchestrate("reserve").catch((e) => {
    endedAt = time.now;
    result = e;
  });
  await time.tickAsync(5_000);
  await run;
  assert.equal(endedAt - start, 5_000);
  assert.ok(result instanceof CompensationFailedError);
  const [original, pay, charge, reserve, summary] = result.errors;
  assert.equal(result.errors.length, 5);
  assert.ok(original instanceof StateContextError);
  assert.ok(pay instanceof TimeoutError);
  assert.match(pay.message, /deadline/);
  assert.ok(charge instanceof OrphanedCompensationError);
  assert.equal(charge.taskId, "charge");
  assert.deepEqual(charge.output, { id: "charge-1" });
  assert.ok(reserve instanceof OrphanedCompensationError);
  assert.equal(reserve.taskId, "reserve");
  assert.ok(summary instanceof TimeoutError);
  assert.match(summary.message, /2 entries/);
  assert.deepEqual(log.slice(4), ["compensate pay pay-1"], "orphans are not compensated");
});

for (const [total, bound] of [[20_000, 10_000], [100_000, 30_000]] as const) {
  Deno.test(`Workflow.withTotalTimeout(${total}) bounds the drain by min(total / 2, 30 s) = ${bound} ms`, async () => {
    using time = new FakeTime(Date.UTC(2026, 0, 1));
    const start = time.now;
    const log: string[] = [];
    const workflow = new Workflow<Saga, Data>()
      .registerWithCompensation("reserve", sagaStep("reserve", "charge", log))
      .registerWithCompensation(
        "charge",
        sagaStep("charge", "ship", log, { compensate: (ctx) => sleep(3_600_000, ctx.signal) }),
      )
      .register("ship", failing(log), { config: TaskConfig.minimal() })
      .addExitState("done")
      .withTotalTimeout(total);
    let result: unknown;
    let endedAt = 0;
    const run = workflow.orchestrate("reserve").catch((e) => {
      endedAt = time.now;
      result = e;
    });
    await time.tickAsync(bound - 1);
    assert.equal(endedAt, 0, "still draining just before the bound");
    await time.tickAsync(1);
    await run;
    assert.equal(endedAt - start, bound);
    assert.ok(result instanceof CompensationFailedError);
    const [original, charge, reserve, summary] = result.errors;
    assert.equal((original as CanoError).category, "task_execution", "the original failure");
    assert.ok(charge instanceof TimeoutError);
    assert.ok(reserve instanceof OrphanedCompensationError);
    assert.ok(summary instanceof TimeoutError);
  });
}

Deno.test("Workflow.registerWithCompensation() drains without a bound when no timeout is configured", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const log: string[] = [];
  const workflow = new Workflow<Saga, Data>()
    .registerWithCompensation(
      "charge",
      sagaStep("charge", "ship", log, { compensate: () => sleep(3_600_000) }),
    )
    .register("ship", failing(log), { config: TaskConfig.minimal() })
    .addExitState("done");
  let result: unknown;
  const run = workflow.orchestrate("charge").catch((e) => result = e);
  await time.tickAsync(3_600_000);
  await run;
  assert.ok(result instanceof StateContextError, "a clean rollback, however long");
  assert.equal(result.category, "task_execution");
});

Deno.test("Workflow.resumeFrom() rolls back the saga steps completed before a crash", async () => {
  // The crashing process: its last step hangs. The durable log it leaves behind is copied while
  // it hangs (that copy is what a killed process would have left), then the hung run is
  // cancelled to release it; its own rollback runs against the original store only.
  const store = new MemoryCheckpointStore();
  const controller = new AbortController();
  const firstLog: string[] = [];
  let crashed: MemoryCheckpointStore | undefined;
  const first = new Workflow<Saga, Data>()
    .registerWithCompensation("reserve", sagaStep("reserve", "charge", firstLog))
    .registerWithCompensation("charge", sagaStep("charge", "ship", firstLog))
    .register("ship", async (ctx) => {
      crashed = await crashCopy(store, "order-9");
      queueMicrotask(() => controller.abort());
      return await untilAborted(ctx.signal);
    })
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("order-9");
  await assert.rejects(first.orchestrate("reserve", { signal: controller.signal }), {
    category: "cancelled",
  });
  assert.ok(crashed !== undefined);
  assert.deepEqual((await crashed.loadRun("order-9")).map((r) => [r.kind, r.state]), [
    ["state_entry", "reserve"],
    ["compensation_completion", "reserve"],
    ["state_entry", "charge"],
    ["compensation_completion", "charge"],
    ["state_entry", "ship"],
  ]);

  // The new process: same saga, but shipping now fails.
  const log: string[] = [];
  const second = new Workflow<Saga, Data>()
    .registerWithCompensation("reserve", sagaStep("reserve", "charge", log))
    .registerWithCompensation("charge", sagaStep("charge", "ship", log))
    .register("ship", failing(log), { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(crashed);
  await assert.rejects(second.resumeFrom("order-9"), (error: unknown) => {
    assert.ok(error instanceof StateContextError);
    assert.equal(error.state, "ship");
    assert.deepEqual(error.path, ["reserve", "charge", "ship"]);
    return true;
  });
  assert.deepEqual(log, [
    "run ship",
    "compensate charge charge-1",
    "compensate reserve reserve-1",
  ]);
  assert.deepEqual(await crashed.loadRun("order-9"), [], "clean rollback clears the log");
});

Deno.test("Workflow.resumeFrom() does not compensate twice a step whose completion row is the last row", async () => {
  const store = new MemoryCheckpointStore();
  await seed(store, "order-10", [
    row(0, "reserve"),
    row(1, "reserve", { kind: "compensation_completion", output: { id: "reserve-0" } }),
    row(2, "charge"),
    row(3, "charge", { kind: "compensation_completion", output: { id: "charge-old" } }),
  ]);
  const log: string[] = [];
  const workflow = new Workflow<Saga, Data>()
    .registerWithCompensation("reserve", sagaStep("reserve", "charge", log))
    .registerWithCompensation("charge", sagaStep("charge", "ship", log))
    .register("ship", failing(log), { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store);
  await assert.rejects(workflow.resumeFrom("order-10"), { category: "task_execution" });
  assert.deepEqual(log, [
    "run charge", // the step at the resume point runs again and pushes itself again
    "run ship",
    "compensate charge charge-1",
    "compensate reserve reserve-0",
  ]);
});

Deno.test("Workflow.validate() refuses two compensatable tasks sharing a name", () => {
  const log: string[] = [];
  const workflow = new Workflow<Saga, Data>()
    .registerWithCompensation("reserve", sagaStep("dup", "charge", log))
    .registerWithCompensation("charge", sagaStep("dup", "done", log))
    .addExitState("done");
  assert.throws(() => workflow.validate(), (error: unknown) => {
    assert.ok(error instanceof ConfigurationError);
    assert.match(error.message, /dup/);
    return true;
  });
});
