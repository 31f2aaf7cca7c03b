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

/**
 * A parsed cron expression, shared by every flow registered with the same expression and time
 * zone. Croner's answer only depends on the second it is asked from, so the last one is kept:
 * many flows on one expression cost one calculation per tick.
 */
export class CronSchedule {
  readonly #cron: Cron;
  #second = NaN;
  #next: number | undefined;

  constructor(cron: Cron) {
    this.#cron = cron;
  }

  /** The first tick strictly after the second that contains `from` (ms since the epoch). */
  next(from: number): number | undefined {
    const second = Math.floor(from / 1_000);
    if (second !== this.#second) {
      this.#next = this.#cron.nextRun(new Date(from))?.getTime();
      this.#second = second;
    }
    return this.#next;
  }
}

/** A schedule as the scheduler uses it: the cron expression parsed once, at registration. */
export type ParsedSchedule =
  | { readonly kind: "every"; readonly interval: number; readonly initialDelay: number }
  | { readonly kind: "cron"; readonly cron: CronSchedule }
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

/**
 * The live state of a flow. Times are ms since the epoch, `NaN` when unset: numeric fields that
 * stay numbers are updated in place, so a run allocates nothing here.
 */
export class FlowState {
  readonly spec: FlowSpec;
  status: FlowStatus = "idle";
  runCount = 0;
  lastRun = NaN;
  failureStreak = 0;
  /** While backing off: no scheduled run before this time. */
  nextEligible = NaN;
  lastError: string | undefined;
  /** When the last run ended: the interval is measured from here. */
  lastEnd = NaN;
  /** The id of the last run of a checkpointed workflow. */
  lastRunId: string | undefined;
  /** The flow's timer entry, reused for every dispatch it schedules. */
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

  /** Whether a backoff window is open at `now`. */
  backingOff(now: number): boolean {
    return now < this.nextEligible; // false while unset (NaN)
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
      this.nextEligible = NaN;
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
      this.nextEligible = NaN;
    } else {
      this.status = "backoff";
      this.nextEligible = now + backoffDelay(policy, this.failureStreak);
    }
    return "failed";
  }

  /** cano's reset: clears the streak and the window; idle unless a run is in flight. */
  reset(): void {
    this.failureStreak = 0;
    this.nextEligible = NaN;
    this.lastError = undefined;
    if (this.status !== "running") this.status = "idle";
  }

  /** A snapshot for `status` / `list` / events; `nextRun` is the pending timer's due time. */
  info(nextRun: number | undefined): FlowInfo {
    const info: {
      -readonly [K in keyof FlowInfo]: FlowInfo[K];
    } = {
      id: this.spec.id,
      status: this.status,
      schedule: this.spec.public,
      runCount: this.runCount,
      failureStreak: this.failureStreak,
    };
    if (!Number.isNaN(this.lastRun)) info.lastRun = new Date(this.lastRun);
    if (!Number.isNaN(this.nextEligible)) info.nextEligible = new Date(this.nextEligible);
    if (this.lastError !== undefined) info.lastError = this.lastError;
    if (nextRun !== undefined) info.nextRun = new Date(nextRun);
    return info;
  }
}
