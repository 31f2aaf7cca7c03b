/**
 * # cano scheduler
 *
 * Runs workflows on an interval, on a cron schedule (read by [croner](https://croner.56k.guru),
 * time zones and daylight-saving changes included) or on demand, with a backoff policy per flow
 * that delays a failing flow and trips it after too many failures in a row.
 *
 * Build a {@link Scheduler}, register flows, then `start()` it: every workflow is validated and
 * its resources are set up once, and a {@link RunningScheduler} comes back to trigger, reset and
 * cancel flows, read their {@link FlowInfo}, listen to `flowstatus` / `flowstart` / `flowend`
 * events and stop. A flow never overlaps itself; a cancelled run is not a failure; `stop()`
 * aborts runs in flight (sagas roll back) and tears resources down in reverse registration order.
 *
 * All flows share one timer (a min-heap of due times behind a single `setTimeout`), and only the
 * global `setTimeout` and `Date.now()` are used, so fake clocks drive the scheduler in tests.
 *
 * **Several instances.** Started with `coordination` (a `KvCheckpointStore`, a
 * `MemoryCheckpointStore` or any {@link Coordination}), schedulers that register the same flows
 * share them: each tick runs once across instances under its own run id, failure streaks, backoff
 * windows and trips live in the store, and `trigger` / `resetFlow` / `cancelFlow` work from any
 * instance (see {@link StartOptions.coordination}). On Deno Deploy, {@link registerDenoCron}
 * turns the flows into `Deno.cron` jobs with the same fire-once keys and shared state.
 *
 * @example Interval, cron and manual flows
 * ```ts
 * import { Scheduler } from "@cano/cano/scheduler";
 * import { Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const log: string[] = [];
 * const workflow = new Workflow<"start" | "done">()
 *   .register("start", () => "done")
 *   .addExitState("done");
 *
 * const scheduler = new Scheduler()
 *   .every("sync", workflow, "start", 60_000)
 *   .cron("nightly", workflow, "start", "0 0 3 * * *", { timezone: "Europe/Berlin" })
 *   .manual("adhoc", workflow, "start")
 *   .setBackoff("sync", { initial: 1_000, multiplier: 2, maxDelay: 300_000, streakLimit: 5 });
 *
 * await using running = await scheduler.start();
 * running.addEventListener("flowend", (e) => log.push(`${e.id}: ${e.outcome}`));
 * const adhocDone = new Promise((resolve) =>
 *   running.addEventListener("flowend", (e) => e.id === "adhoc" && resolve(e))
 * );
 * await running.trigger("adhoc");
 * await adhocDone;
 * assert.ok(log.includes("adhoc: completed"));
 * assert.deepEqual(running.list().map((flow) => flow.id), ["sync", "nightly", "adhoc"]);
 * await running.stop({ timeout: 5_000 });
 * ```
 *
 * @module
 */

export {
  type CronOptions,
  type EveryOptions,
  type FlowOptions,
  type SchedulableWorkflow,
  type ScheduledFlowOptions,
  Scheduler,
  type StartOptions,
} from "./src/scheduler/scheduler.ts";
export type { CatchUpPolicy } from "./src/scheduler/flow.ts";
export type { Duration } from "./src/scheduler/duration.ts";
export {
  type DenoCronFunction,
  type DenoCronOptions,
  type DenoCronRegistration,
  type DenoCronTick,
  registerDenoCron,
} from "./src/coordination/deno_cron.ts";
export type {
  Coordination,
  CoordinationSource,
  FlowCancelRequest,
  FlowRecord,
  FlowRecordRead,
  FlowRunMarker,
} from "./src/coordination/coordination.ts";
export { MemoryCoordination } from "./src/coordination/memory_coordination.ts";
export { KvCoordination, type KvCoordinationOptions } from "./src/coordination/kv_coordination.ts";
export type { FlowSkipReason } from "./src/coordination/shared_flow.ts";
export { RunningScheduler, type StopOptions } from "./src/scheduler/running.ts";
export { BackoffPolicy, type ResolvedBackoffPolicy } from "./src/scheduler/backoff.ts";
export type { FlowInfo, FlowSchedule, FlowStatus } from "./src/scheduler/flow_info.ts";
export {
  FlowEndEvent,
  type FlowEndInit,
  FlowErrorEvent,
  type FlowErrorOperation,
  type FlowRunOutcome,
  type FlowRunSource,
  FlowSkipEvent,
  FlowStartEvent,
  FlowStatusEvent,
  type RunningSchedulerEventMap,
} from "./src/scheduler/events.ts";
// Re-exported so this entrypoint documents the types its API works with (also exported by ".").
export type { CanoError, ErrorCategory } from "./src/errors.ts";
export type {
  ListenerErrorEvent,
  SafeEventTarget,
  SafeEventTargetEventMap,
  TypedListener,
} from "./src/events.ts";
