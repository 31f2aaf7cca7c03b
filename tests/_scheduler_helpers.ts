// Test helpers for the scheduler suites: small workflows with controllable behaviour, all timed
// with the global setTimeout so that a fake clock drives them.

import assert from "node:assert/strict";
import {
  type CheckpointStore,
  NonRetryableError,
  type Resource,
  Resources,
  TaskConfig,
  Workflow,
} from "../mod.ts";
import type { FlowInfo, RunningScheduler } from "../scheduler.ts";

/** The flow `id` of `running`, which must exist. */
export function info(running: { status(id: string): FlowInfo | undefined }, id: string): FlowInfo {
  const flow = running.status(id);
  assert.ok(flow !== undefined, `flow '${id}' exists`);
  return flow;
}

/** The state union of the test workflows (cano's TestState). */
export type Step = "start" | "complete" | "error";

/** A workflow whose only task completes at once; `runs()` counts its executions. */
export function okWorkflow(): { workflow: Workflow<Step>; runs(): number } {
  let runs = 0;
  const workflow = new Workflow<Step>()
    .register("start", () => {
      runs++;
      return "complete";
    }, { config: TaskConfig.minimal() })
    .addExitStates("complete", "error");
  return { workflow, runs: () => runs };
}

/**
 * A workflow whose task fails (a retryable error, no retries) until its `succeedOn`-th attempt
 * (cano's FlakyTask). `attempts()` counts the attempts.
 */
export function flakyWorkflow(
  succeedOn = Infinity,
): { workflow: Workflow<Step>; attempts(): number } {
  let attempts = 0;
  const workflow = new Workflow<Step>()
    .register("start", () => {
      attempts++;
      if (attempts >= succeedOn) return "complete";
      throw new Error("flaky");
    }, { config: TaskConfig.minimal() })
    .addExitStates("complete", "error");
  return { workflow, attempts: () => attempts };
}

/**
 * A checkpointed workflow `sync` on `store` whose first run fails ("upstream timed out") and whose
 * later runs complete; `ids` holds the run id of every run, in order.
 */
export function failsOnceWorkflow(
  store: CheckpointStore,
): { workflow: Workflow<"sync" | "done">; ids: string[] } {
  const ids: string[] = [];
  let runs = 0;
  const workflow = new Workflow<"sync" | "done">({ name: "sync" })
    .register("sync", (ctx) => {
      ids.push(ctx.workflowId ?? "?");
      if (++runs === 1) throw new Error("upstream timed out");
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store);
  return { workflow, ids };
}

/** Resolves after `ms` on the (possibly fake) clock, or rejects when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * A workflow whose task takes `ms` (honouring its signal), then completes or, with `fail`, throws.
 * `completions()` counts the runs that got to the end of the sleep.
 */
export function slowWorkflow(
  ms: number,
  options: { fail?: boolean } = {},
): { workflow: Workflow<Step>; completions(): number } {
  let completions = 0;
  const workflow = new Workflow<Step>()
    .register("start", async ({ signal }) => {
      await sleep(ms, signal);
      completions++;
      if (options.fail) throw new Error("slow failure");
      return "complete";
    }, { config: TaskConfig.minimal() })
    .addExitStates("complete", "error");
  return { workflow, completions: () => completions };
}

/**
 * A saga: a compensatable step that takes `ms` and cannot be interrupted, then an exit. `log`
 * records the step and its compensation; `compensateFails` makes the rollback dirty.
 */
export function sagaWorkflow(
  ms: number,
  log: string[],
  options: { compensateFails?: boolean } = {},
): Workflow<Step> {
  return new Workflow<Step>()
    .registerWithCompensation("start", {
      name: "reserve",
      config: TaskConfig.minimal(),
      run: async () => {
        log.push("reserve");
        await sleep(ms);
        log.push("reserved");
        return { next: "complete", output: { id: 1 } };
      },
      compensate: () => {
        log.push("release");
        if (options.compensateFails) throw new NonRetryableError("release failed");
      },
    })
    .addExitStates("complete", "error");
}

/** A workflow with one resource that logs its lifecycle as `setup <name>` / `teardown <name>`. */
export function resourcefulWorkflow(
  name: string,
  log: string[],
  options: { failSetup?: boolean } = {},
): Workflow<Step, Record<string, unknown>, { res: Resource }> {
  const resource: Resource = {
    setup: () => {
      log.push(`setup ${name}`);
      if (options.failSetup) throw new Error(`${name} is down`);
    },
    teardown: () => void log.push(`teardown ${name}`),
  };
  return new Workflow<Step, Record<string, unknown>, { res: Resource }>({
    resources: new Resources({ res: resource }),
  })
    .register("start", () => "complete", { config: TaskConfig.minimal() })
    .addExitStates("complete", "error");
}

/** One recorded scheduler event. */
export interface Recorded {
  type: string;
  id: string;
  /** Fake-clock ms since `origin`. */
  t: number;
  detail: string;
}

/** Records every scheduler event as `{ type, id, t, detail }`, `t` relative to `origin`. */
export function recordEvents(running: RunningScheduler, origin: number): Recorded[] {
  const events: Recorded[] = [];
  running.addEventListener("flowstatus", (e) =>
    events.push({
      type: e.type,
      id: e.id,
      t: Date.now() - origin,
      detail: `${e.previous}→${e.status}`,
    }));
  running.addEventListener(
    "flowstart",
    (e) => events.push({ type: e.type, id: e.id, t: Date.now() - origin, detail: e.source }),
  );
  running.addEventListener(
    "flowend",
    (e) => events.push({ type: e.type, id: e.id, t: Date.now() - origin, detail: e.outcome }),
  );
  return events;
}

/** The fake-clock start times (relative to `origin`) of the runs of `id`. */
export function startTimes(events: Recorded[], id?: string): number[] {
  return events.filter((e) => e.type === "flowstart" && (id === undefined || e.id === id))
    .map((e) => e.t);
}
