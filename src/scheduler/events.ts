import { SafeEvent } from "../events.ts";
import type { FlowInfo, FlowStatus } from "./flow_info.ts";
import type { FlowSkipReason } from "../coordination/shared_flow.ts";
import type { CanoError } from "../errors.ts";

/**
 * What started a run: the flow's interval, a cron tick, or `RunningScheduler.trigger`.
 *
 * @example Count manual runs
 * ```ts
 * import type { FlowRunSource } from "@cano/cano/scheduler";
 * import assert from "node:assert/strict";
 *
 * const sources: FlowRunSource[] = ["interval", "trigger", "interval"];
 * assert.equal(sources.filter((s) => s === "trigger").length, 1);
 * ```
 */
export type FlowRunSource = "interval" | "cron" | "trigger";

/**
 * How a run ended: it reached an exit state, it failed (the flow backs off or trips), or it was
 * cancelled (by `cancelFlow` or `stop`; not a failure).
 *
 * @example Alert on failures only
 * ```ts
 * import type { FlowRunOutcome } from "@cano/cano/scheduler";
 * import assert from "node:assert/strict";
 *
 * const alert = (outcome: FlowRunOutcome): boolean => outcome === "failed";
 * assert.equal(alert("cancelled"), false);
 * ```
 */
export type FlowRunOutcome = "completed" | "failed" | "cancelled";

/**
 * Dispatched (as `"flowstatus"`) whenever a flow's status changes.
 *
 * @example Log status changes
 * ```ts
 * import { Scheduler } from "@cano/cano/scheduler";
 * import { Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
 * await using running = await new Scheduler().manual("job", workflow, "go").start();
 * const changes: string[] = [];
 * running.addEventListener("flowstatus", (e) => changes.push(`${e.previous}→${e.status}`));
 * const ended = new Promise((resolve) => running.addEventListener("flowend", resolve));
 * await running.trigger("job");
 * await ended;
 * assert.deepEqual(changes, ["idle→running", "running→completed"]);
 * ```
 */
export class FlowStatusEvent extends SafeEvent {
  /** The flow's id. */
  readonly id: string;
  /** The new status. */
  readonly status: FlowStatus;
  /** The status before the change. */
  readonly previous: FlowStatus;
  /** A snapshot of the flow after the change. */
  readonly info: FlowInfo;

  /**
   * Creates the event.
   *
   * @param info The flow after the change.
   * @param previous The status before the change.
   */
  constructor(info: FlowInfo, previous: FlowStatus) {
    super("flowstatus");
    this.id = info.id;
    this.status = info.status;
    this.previous = previous;
    this.info = info;
  }
}

/**
 * Dispatched (as `"flowstart"`) when a run of a flow starts, after its `"flowstatus"` event.
 * For interval and cron runs, `scheduledAt` is when the run was due, so
 * `Date.now() - e.scheduledAt.getTime()` is how late the scheduler started it. The run's first
 * state follows in a later microtask: the runs one timer turn starts (say, every flow of a
 * per-second cron) all get their events first, then their workflows start one after another.
 *
 * @example Watch the scheduler's lateness
 * ```ts
 * import { FlowStartEvent } from "@cano/cano/scheduler";
 * import assert from "node:assert/strict";
 *
 * const event = new FlowStartEvent("sync", "interval", 3, new Date(Date.now() - 2));
 * assert.equal(event.type, "flowstart");
 * assert.ok(Date.now() - event.scheduledAt!.getTime() >= 2);
 * assert.equal(new FlowStartEvent("sync", "trigger", 4).scheduledAt, undefined);
 * ```
 */
export class FlowStartEvent extends SafeEvent {
  /** The flow's id. */
  readonly id: string;
  /** What started the run. */
  readonly source: FlowRunSource;
  /** The flow's run count, this run included. */
  readonly runCount: number;
  /** When an interval or cron run was due; `undefined` for a triggered run. */
  readonly scheduledAt: Date | undefined;

  /**
   * Creates the event.
   *
   * @param id The flow's id.
   * @param source What started the run.
   * @param runCount The run count, this run included.
   * @param scheduledAt When the run was due (interval and cron runs).
   */
  constructor(id: string, source: FlowRunSource, runCount: number, scheduledAt?: Date) {
    super("flowstart");
    this.id = id;
    this.source = source;
    this.runCount = runCount;
    this.scheduledAt = scheduledAt;
  }
}

/** Fields of a {@link FlowEndEvent}. */
export interface FlowEndInit {
  /** How the run ended. */
  readonly outcome: FlowRunOutcome;
  /** Run time in ms. */
  readonly duration: number;
  /** The exit state reached, when the run completed. */
  readonly state?: string;
  /** What the run threw, when it failed or was cancelled. */
  readonly error?: unknown;
}

/**
 * Dispatched (as `"flowend"`) when a run of a flow ends, before the `"flowstatus"` event of the
 * status it leaves the flow in. The flow's status is already updated when it fires.
 *
 * @example Collect failures
 * ```ts
 * import { FlowEndEvent } from "@cano/cano/scheduler";
 * import assert from "node:assert/strict";
 *
 * const event = new FlowEndEvent("sync", { outcome: "failed", duration: 12, error: new Error("down") });
 * assert.equal(event.outcome, "failed");
 * assert.equal((event.error as Error).message, "down");
 * ```
 */
export class FlowEndEvent extends SafeEvent {
  /** The flow's id. */
  readonly id: string;
  /** How the run ended. */
  readonly outcome: FlowRunOutcome;
  /** Run time in ms. */
  readonly duration: number;
  /** The exit state reached, when the run completed. */
  readonly state: string | undefined;
  /** What the run threw, when it failed or was cancelled. */
  readonly error: unknown;

  /**
   * Creates the event.
   *
   * @param id The flow's id.
   * @param init The outcome, duration, and exit state or error.
   */
  constructor(id: string, init: FlowEndInit) {
    super("flowend");
    this.id = id;
    this.outcome = init.outcome;
    this.duration = init.duration;
    this.state = init.state;
    this.error = init.error;
  }
}

/**
 * Dispatched (as `"flowskip"`) by a scheduler started with `coordination` when a scheduled tick of
 * a flow does not run on this instance, with the reason: another instance claimed it
 * (`"claimed"`), a run of the flow was in flight (`"running"`), the tick fell in a backoff window
 * (`"backoff"`), the flow is tripped (`"tripped"`), or the tick was older than one already handled
 * (`"stale"`).
 *
 * @example Count the ticks other instances took
 * ```ts
 * import { FlowSkipEvent } from "@cano/cano/scheduler";
 * import assert from "node:assert/strict";
 *
 * const event = new FlowSkipEvent("sync", new Date(Date.UTC(2026, 0, 1)), "claimed");
 * assert.equal(event.type, "flowskip");
 * assert.equal(event.reason, "claimed");
 * ```
 */
export class FlowSkipEvent extends SafeEvent {
  /** The flow's id. */
  readonly id: string;
  /** The tick that did not run here. */
  readonly scheduledAt: Date;
  /** Why. */
  readonly reason: FlowSkipReason;

  /**
   * Creates the event.
   *
   * @param id The flow's id.
   * @param scheduledAt The tick.
   * @param reason Why it did not run here.
   */
  constructor(id: string, scheduledAt: Date, reason: FlowSkipReason) {
    super("flowskip");
    this.id = id;
    this.scheduledAt = scheduledAt;
    this.reason = reason;
  }
}

/**
 * What a coordinated scheduler was doing when its store failed: claiming a tick and starting a
 * run (`"begin"`), recording a run's outcome (`"finish"`), reading a flow's shared state
 * (`"sync"`) or renewing a run's claim (`"heartbeat"`).
 *
 * @example Alert on failed outcomes only
 * ```ts
 * import type { FlowErrorOperation } from "@cano/cano/scheduler";
 * import assert from "node:assert/strict";
 *
 * const serious = (operation: FlowErrorOperation): boolean => operation === "finish";
 * assert.equal(serious("sync"), false);
 * ```
 */
export type FlowErrorOperation = "begin" | "finish" | "sync" | "heartbeat";

/**
 * Dispatched (as `"flowerror"`) when the coordination store of a scheduler started with
 * `coordination` fails. The scheduler carries on: a tick it could not claim does not run (a tick
 * must never run twice), the next tick is tried as usual, and the flow's `lastError` says what
 * happened until its shared state can be read again. With no `"flowerror"` listener, the error
 * goes to `console.error`.
 *
 * @example Watch the store
 * ```ts
 * import { FlowErrorEvent } from "@cano/cano/scheduler";
 * import { CheckpointStoreError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const event = new FlowErrorEvent("sync", "begin", new CheckpointStoreError("KV is down"));
 * assert.equal(event.type, "flowerror");
 * assert.equal(event.error.category, "checkpoint_store");
 * ```
 */
export class FlowErrorEvent extends SafeEvent {
  /** The flow's id. */
  readonly id: string;
  /** What the scheduler was doing. */
  readonly operation: FlowErrorOperation;
  /** The store's error (a typed cano error). */
  readonly error: CanoError;

  /**
   * Creates the event.
   *
   * @param id The flow's id.
   * @param operation What the scheduler was doing.
   * @param error The error.
   */
  constructor(id: string, operation: FlowErrorOperation, error: CanoError) {
    super("flowerror");
    this.id = id;
    this.operation = operation;
    this.error = error;
  }
}

/**
 * The events of a `RunningScheduler`, by type, for its typed `addEventListener`.
 *
 * @example Listen to every run end
 * ```ts
 * import type { RunningSchedulerEventMap } from "@cano/cano/scheduler";
 *
 * const onEnd = (e: RunningSchedulerEventMap["flowend"]): void => {
 *   if (e.outcome === "failed") console.log(`${e.id} failed`);
 * };
 * onEnd;
 * ```
 */
export interface RunningSchedulerEventMap {
  /** A flow's status changed. */
  flowstatus: FlowStatusEvent;
  /** A run started. */
  flowstart: FlowStartEvent;
  /** A run ended. */
  flowend: FlowEndEvent;
  /** Coordinated: a scheduled tick did not run on this instance. */
  flowskip: FlowSkipEvent;
  /** Coordinated: the coordination store failed. */
  flowerror: FlowErrorEvent;
}
