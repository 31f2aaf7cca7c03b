// A registered flow: what the builder recorded (its spec) and, once started, its live state with
// cano's reserve / outcome rules (spec §9.3). No timers and no events here: the running scheduler
// drives those.

import type { Cron } from "croner";
import { categoryOf, messageOf } from "../errors.ts";
import type { ResourceMap } from "../task/task.ts";
import type { Workflow } from "../workflow/workflow.ts";
import { backoffDelay, type ResolvedBackoffPolicy, tripped } from "./backoff.ts";
import type { FlowRunOutcome } from "./events.ts";
import type { FlowInfo, FlowSchedule, FlowStatus } from "./flow_info.ts";
import type { TimerEntry } from "./timer_queue.ts";

/** A schedule as the scheduler uses it: the cron expression parsed once, at registration. */
export type ParsedSchedule =
  | { readonly kind: "every"; readonly interval: number; readonly immediate: boolean }
  | {
    readonly kind: "cron";
    readonly expression: string;
    readonly timezone: string;
    readonly cron: Cron;
  }
  | { readonly kind: "manual" };

/** What the builder records for a flow. */
export interface FlowSpec {
  readonly id: string;
  readonly workflow: Workflow<string, unknown, ResourceMap>;
  readonly initial: string;
  readonly schedule: ParsedSchedule;
  readonly public: FlowSchedule;
  policy: ResolvedBackoffPolicy;
  readonly data: (() => unknown) | undefined;
}

/** Why a dispatch was refused. */
export type ReserveRefusal = "running" | "tripped";

/** The live state of a flow. Times are ms since the epoch. */
export class FlowState {
  readonly spec: FlowSpec;
  status: FlowStatus = "idle";
  runCount = 0;
  lastRun: number | undefined;
  failureStreak = 0;
  nextEligible: number | undefined;
  lastError: string | undefined;
  /** When the last run ended: the interval is measured from here. */
  lastEnd: number | undefined;
  /** The pending timer, if any. */
  timer: TimerEntry | undefined;
  /** Aborts the run in flight. */
  controller: AbortController | undefined;
  /** Settles (never rejects) when the run in flight has ended and its outcome is applied. */
  run: Promise<void> | undefined;

  constructor(spec: FlowSpec) {
    this.spec = spec;
  }

  get id(): string {
    return this.spec.id;
  }

  /**
   * cano's reserve: refused while running (overlap prevention) or tripped; otherwise the flow is
   * running, `lastRun` is now and the run is counted.
   */
  reserve(now: number): ReserveRefusal | undefined {
    if (this.status === "running" || this.status === "tripped") return this.status;
    this.status = "running";
    this.lastRun = now;
    this.runCount++;
    return undefined;
  }

  /**
   * cano's outcome: success clears the streak and the window; a cancelled run returns the flow to
   * idle and is not a failure; anything else extends the streak, then trips or backs off.
   */
  settle(now: number, error: unknown, failed: boolean): FlowRunOutcome {
    this.lastEnd = now;
    this.controller = undefined;
    if (!failed) {
      this.status = "completed";
      this.failureStreak = 0;
      this.nextEligible = undefined;
      this.lastError = undefined;
      return "completed";
    }
    if (categoryOf(error) === "cancelled") {
      this.status = "idle";
      return "cancelled";
    }
    const policy = this.spec.policy;
    this.failureStreak++;
    this.lastError = messageOf(error);
    if (tripped(policy, this.failureStreak)) {
      this.status = "tripped";
      this.nextEligible = undefined;
    } else {
      this.status = "backoff";
      this.nextEligible = now + backoffDelay(policy, this.failureStreak);
    }
    return "failed";
  }

  /** cano's reset: clears the streak and the window; idle unless a run is in flight. */
  reset(): void {
    this.failureStreak = 0;
    this.nextEligible = undefined;
    this.lastError = undefined;
    if (this.status !== "running") this.status = "idle";
  }

  /** A snapshot for `status` / `list` / events. */
  info(): FlowInfo {
    const info: {
      -readonly [K in keyof FlowInfo]: FlowInfo[K];
    } = {
      id: this.spec.id,
      status: this.status,
      schedule: this.spec.public,
      runCount: this.runCount,
      failureStreak: this.failureStreak,
    };
    if (this.lastRun !== undefined) info.lastRun = new Date(this.lastRun);
    if (this.nextEligible !== undefined) info.nextEligible = new Date(this.nextEligible);
    if (this.lastError !== undefined) info.lastError = this.lastError;
    if (this.timer !== undefined) info.nextRun = new Date(this.timer.due);
    return info;
  }
}
