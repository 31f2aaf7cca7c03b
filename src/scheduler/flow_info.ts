/**
 * Where a scheduled flow is in its lifecycle:
 *
 * - `"idle"`: not run yet, reset, or its last run was cancelled;
 * - `"running"`: a run is in flight (no second run of the flow can start);
 * - `"completed"`: the last run reached an exit state;
 * - `"backoff"`: the last run failed; no scheduled run before `nextEligible`;
 * - `"tripped"`: the failure streak reached the policy's `streakLimit`; nothing runs until
 *   `resetFlow`.
 *
 * @example Branch on the status
 * ```ts
 * import type { FlowStatus } from "@cano/cano/scheduler";
 * import assert from "node:assert/strict";
 *
 * const needsAttention = (status: FlowStatus): boolean => status === "tripped";
 * assert.equal(needsAttention("backoff"), false);
 * ```
 */
export type FlowStatus = "idle" | "running" | "completed" | "backoff" | "tripped";

/**
 * How a flow is scheduled: a fixed delay between runs, a cron expression, or manual triggers
 * only.
 *
 * @example Describe a schedule
 * ```ts
 * import type { FlowSchedule } from "@cano/cano/scheduler";
 * import assert from "node:assert/strict";
 *
 * const describe = (s: FlowSchedule): string =>
 *   s.kind === "every" ? `every ${s.interval} ms` : s.kind === "cron" ? s.expression : "manual";
 * assert.equal(describe({ kind: "every", interval: 60_000 }), "every 60000 ms");
 * ```
 */
export type FlowSchedule =
  | { readonly kind: "every"; readonly interval: number }
  | { readonly kind: "cron"; readonly expression: string; readonly timezone: string }
  | { readonly kind: "manual" };

/**
 * A snapshot of a scheduled flow, as returned by `RunningScheduler.status` and `list`.
 *
 * @example Print a flow's state
 * ```ts
 * import { Scheduler } from "@cano/cano/scheduler";
 * import { Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
 * await using running = await new Scheduler().manual("report", workflow, "go").start();
 * const info = running.status("report")!;
 * assert.equal(info.status, "idle");
 * assert.equal(info.runCount, 0);
 * assert.equal(info.lastRun, undefined);
 * ```
 */
export interface FlowInfo {
  /** The flow's id. */
  readonly id: string;
  /** Where the flow is in its lifecycle. */
  readonly status: FlowStatus;
  /** How the flow is scheduled. */
  readonly schedule: FlowSchedule;
  /** Runs dispatched so far (counted when a run starts). */
  readonly runCount: number;
  /** When the last run started. */
  readonly lastRun?: Date;
  /** Consecutive failed runs since the last success or reset. */
  readonly failureStreak: number;
  /** While backing off: no scheduled run starts before this time. */
  readonly nextEligible?: Date;
  /** The message of the failure behind the current streak. */
  readonly lastError?: string;
  /** When the flow's timer fires next (a cron tick may still be skipped); none while running. */
  readonly nextRun?: Date;
}
