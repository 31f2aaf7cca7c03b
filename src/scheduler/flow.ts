// A registered flow: what the builder recorded (its spec) and, once started, its live state with
// cano's reserve / outcome rules (spec §9.3). No timers and no events here: the running scheduler
// drives those.

import type { Cron } from "croner";
import { categoryOf, messageOf } from "../errors.ts";
import type { ResourceMap } from "../task/task.ts";
import type { Workflow } from "../workflow/workflow.ts";
import { backoffDelay, type ResolvedBackoffPolicy, tripped } from "./backoff.ts";
import type { FlowRunOutcome, FlowRunSource } from "./events.ts";
import type { FlowInfo, FlowSchedule, FlowStatus } from "./flow_info.ts";
import type { TimerEntry } from "./timer_queue.ts";
import type { FlowRunMarker } from "../coordination/coordination.ts";

/**
 * A parsed cron expression, shared by every flow registered with the same expression and time
 * zone. Croner's answer only depends on the second it is asked from, and stays the same from that
 * second up to the one before the tick it gave: the last answer is kept for that whole range, so
 * the next tick is computed once per tick (for a daily job, once a day), however many flows share
 * the expression and however often they ask. A question from outside the range (the clock went
 * back, or past the tick: a jump, a long run, a backoff window) computes it afresh.
 */
export class CronSchedule {
  readonly #cron: Cron;
  /** The answer `#next` holds for every second in [#from, #until). */
  #from = NaN;
  #until = NaN;
  #next: number | undefined;

  constructor(cron: Cron) {
    this.#cron = cron;
  }

  /** The first tick strictly after the second that contains `from` (ms since the epoch). */
  next(from: number): number | undefined {
    const second = Math.floor(from / 1_000);
    // Written so that NaN bounds (nothing computed yet) fail the test.
    if (!(second >= this.#from && second < this.#until)) {
      const next = this.#cron.nextRun(new Date(from))?.getTime();
      this.#next = next;
      this.#from = second;
      // No tick strictly between the two seconds, so any second before the tick's has it next.
      this.#until = next === undefined ? Infinity : Math.floor(next / 1_000);
    }
    return this.#next;
  }

  /** The latest tick at or before `at` (ms since the epoch), `undefined` when there is none. */
  latest(at: number): number | undefined {
    return this.#cron.previousRuns(1, new Date(at + 1))[0]?.getTime();
  }
}

/** A schedule as the scheduler uses it: the cron expression parsed once, at registration. */
export type ParsedSchedule =
  | { readonly kind: "every"; readonly interval: number; readonly initialDelay: number }
  | { readonly kind: "cron"; readonly cron: CronSchedule }
  | { readonly kind: "manual" };

/**
 * What a coordinated scheduler does, at start, about the ticks of a flow that no instance was up
 * to run: `"skip"` them, or run `"one"` tick for the whole missed window.
 *
 * @example Catch up after downtime
 * ```ts
 * import type { CatchUpPolicy } from "@cano/cano/scheduler";
 * import assert from "node:assert/strict";
 *
 * const policy: CatchUpPolicy = "one";
 * assert.notEqual(policy, "skip");
 * ```
 */
export type CatchUpPolicy = "skip" | "one";

/** What the builder records for a flow. */
export interface FlowSpec {
  readonly id: string;
  readonly workflow: Workflow<string, unknown, ResourceMap>;
  readonly initial: string;
  readonly schedule: ParsedSchedule;
  readonly public: FlowSchedule;
  policy: ResolvedBackoffPolicy;
  readonly data: (() => unknown) | undefined;
  readonly catchUp: CatchUpPolicy;
}

/**
 * The part of a flow's state that runs, outcomes and resets change: the fields of a
 * {@link FlowState}, and of a shared flow record once read (times in ms since the epoch, `NaN`
 * when unset). One set of rules serves both.
 */
export interface FlowCounters {
  status: FlowStatus;
  runCount: number;
  lastRun: number;
  failureStreak: number;
  nextEligible: number;
  lastError: string | undefined;
  lastEnd: number;
}

/**
 * cano's outcome: success clears the streak and the window; a cancelled run returns the flow to
 * idle and is not a failure; anything else extends the streak, then trips or backs off.
 */
export function settleCounters(
  counters: FlowCounters,
  policy: ResolvedBackoffPolicy,
  now: number,
  error: unknown,
  failed: boolean,
): FlowRunOutcome {
  counters.lastEnd = now;
  if (!failed) {
    counters.status = "completed";
    counters.failureStreak = 0;
    counters.nextEligible = NaN;
    counters.lastError = undefined;
    return "completed";
  }
  if (categoryOf(error) === "cancelled") {
    counters.status = "idle";
    return "cancelled";
  }
  counters.failureStreak++;
  counters.lastError = messageOf(error);
  if (tripped(policy, counters.failureStreak)) {
    counters.status = "tripped";
    counters.nextEligible = NaN;
  } else {
    counters.status = "backoff";
    counters.nextEligible = now + backoffDelay(policy, counters.failureStreak);
  }
  return "failed";
}

/** cano's reset: clears the streak and the window; idle unless a run is in flight. */
export function resetCounters(counters: FlowCounters): void {
  counters.failureStreak = 0;
  counters.nextEligible = NaN;
  counters.lastError = undefined;
  if (counters.status !== "running") counters.status = "idle";
}

/** How a run ended, as recorded in the store. */
export interface RunEnd {
  readonly at: number;
  readonly error: unknown;
  readonly failed: boolean;
}

/** Why a dispatch was refused. */
export type ReserveRefusal = "running" | "tripped";

/**
 * The live state of a flow. Times are ms since the epoch, `NaN` when unset: numeric fields that
 * stay numbers are updated in place, so a run allocates nothing here.
 */
export class FlowState implements FlowCounters {
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
  /** Aborts the run in flight; made when its engine starts (see {@link FlowState.abort}). */
  controller: AbortController | undefined;
  /** Why the run in flight was aborted before its engine started (then it starts aborted). */
  abortedBeforeStart: { reason: unknown } | undefined;
  /** When the run in flight was reserved (ms since the epoch): its duration starts here. */
  runStartedAt = NaN;
  /** When the run in flight was due (its start time for a trigger): its run id is made of it. */
  runDue = NaN;
  /** What started the run in flight (its `cano.tick` span says). */
  runSource: FlowRunSource = "interval";
  /** A run of this flow is in flight here: launched, and its outcome not applied yet. */
  inFlight = false;
  /** The wait of {@link FlowState.ended}, made only when someone waits for the run. */
  #ended: { readonly promise: Promise<void>; readonly resolve: () => void } | undefined;
  /** Coordinated: the latest tick this instance handled or saw handled (`NaN`: none). */
  lastTick = NaN;
  /** Coordinated: a tick or trigger of this flow is being claimed in the store. */
  pending = false;
  /** Coordinated: another instance runs the flow (as of the last read of its record). */
  remoteRunning = false;
  /** Coordinated: the store's marker of the run in flight here. */
  marker: FlowRunMarker | undefined;
  /** Coordinated: a run of this instance whose outcome the store has not taken yet. */
  unsettled: { marker: FlowRunMarker; end: RunEnd } | undefined;

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

  /** cano's outcome (see {@link settleCounters}); the run's controller is released. */
  settle(now: number, error: unknown, failed: boolean): FlowRunOutcome {
    this.controller = undefined;
    return settleCounters(this, this.spec.policy, now, error, failed);
  }

  /**
   * Aborts the run in flight, if any (`cancelFlow`, `stop`, a coordinated cancel request). A run
   * launched but not started yet has no controller: a timer turn launches thousands of runs at
   * once, and thousands of live controllers would outlast a young-generation GC. It starts with
   * its signal already aborted, so it ends as cancelled before its first state.
   */
  abort(reason: unknown): void {
    if (this.controller !== undefined) this.controller.abort(reason);
    else if (this.inFlight) this.abortedBeforeStart ??= { reason };
  }

  /** The signal of the run whose engine starts now. */
  startSignal(): AbortSignal {
    const controller = new AbortController();
    this.controller = controller;
    const early = this.abortedBeforeStart;
    if (early !== undefined) {
      this.abortedBeforeStart = undefined;
      controller.abort(early.reason);
    }
    return controller.signal;
  }

  /**
   * Settles once the run in flight has ended and its outcome is applied (at once when none is).
   * Made on demand (`cancelFlow`): a run that nobody waits for allocates no promise for it.
   */
  ended(): Promise<void> {
    if (!this.inFlight) return Promise.resolve();
    if (this.#ended === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => resolve = done);
      this.#ended = { promise, resolve };
    }
    return this.#ended.promise;
  }

  /** The run in flight has ended: releases the waits of {@link FlowState.ended}. */
  runEnded(): void {
    this.inFlight = false;
    this.abortedBeforeStart = undefined;
    const ended = this.#ended;
    this.#ended = undefined;
    ended?.resolve();
  }

  /** cano's reset (see {@link resetCounters}). */
  reset(): void {
    resetCounters(this);
  }

  /** The status `status()` reports: a run in flight on another instance shows as running. */
  get displayStatus(): FlowStatus {
    return this.remoteRunning && this.status !== "running" ? "running" : this.status;
  }

  /** A snapshot for `status` / `list` / events; `nextRun` is the pending timer's due time. */
  info(nextRun: number | undefined): FlowInfo {
    const info: {
      -readonly [K in keyof FlowInfo]: FlowInfo[K];
    } = {
      id: this.spec.id,
      status: this.displayStatus,
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
