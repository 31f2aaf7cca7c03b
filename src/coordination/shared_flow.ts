// The rules of a flow shared by several instances, written once for the running scheduler and
// the Deno.cron adapter: claim a tick, start a run (or say why not), renew the run's marker and
// pick up cancel requests, record the outcome, reset, request a cancel. Every change is a
// compare-and-set of the flow's record, retried when another instance wrote in between.

import { CheckpointStoreError } from "../errors.ts";
import type { FlowRunSource } from "../scheduler/events.ts";
import {
  type FlowCounters,
  type FlowSpec,
  type FlowState,
  resetCounters,
  settleCounters,
} from "../scheduler/flow.ts";
import type { FlowRunOutcome } from "../scheduler/events.ts";
import {
  checkRecord,
  type Coordination,
  coordinationError,
  type FlowRecord,
  type FlowRunMarker,
  freshRecord,
} from "./coordination.ts";
import { claimLifetime } from "./ticks.ts";

/** Compare-and-set passes before giving up on a record that keeps changing. */
const MAX_PASSES = 32;

/**
 * Why a scheduled tick did not run on this instance: another instance claimed it, a run of the
 * flow was in flight (here or elsewhere), the tick fell in a backoff window, the flow is tripped,
 * or the tick is older than one already handled.
 *
 * @example Only some skips deserve a log line
 * ```ts
 * import type { FlowSkipReason } from "@cano/cano/scheduler";
 * import assert from "node:assert/strict";
 *
 * const noteworthy = (reason: FlowSkipReason): boolean => reason !== "claimed";
 * assert.equal(noteworthy("running"), true);
 * ```
 */
export type FlowSkipReason = "claimed" | "running" | "backoff" | "tripped" | "stale";

/** How a begin ended: this caller runs the flow, or why it does not. */
export type BeginOutcome =
  | { readonly kind: "run"; readonly marker: FlowRunMarker; readonly record: FlowRecord }
  | {
    readonly kind: "skip";
    readonly reason: FlowSkipReason;
    readonly record: FlowRecord | undefined;
  };

/** What to begin. */
export interface BeginRequest {
  readonly spec: FlowSpec;
  /** The tick; `undefined` for a trigger (which needs no fire-once key and bypasses backoff). */
  readonly scheduledAt: number | undefined;
  readonly source: FlowRunSource;
  /** The run's id given when it is due and the flow's run count with it included. */
  readonly runId: (due: number, count: number) => string | undefined;
}

/** A flow's shared record read as counters (`NaN` for unset times). */
export function countersOf(record: FlowRecord): FlowCounters {
  return {
    status: record.status,
    runCount: record.runCount,
    lastRun: record.lastRun ?? NaN,
    failureStreak: record.failureStreak,
    nextEligible: record.nextEligible ?? NaN,
    lastError: record.lastError ?? undefined,
    lastEnd: record.lastEnd ?? NaN,
  };
}

function withCounters(record: FlowRecord, counters: FlowCounters): FlowRecord {
  return {
    ...record,
    status: counters.status === "running" ? record.status : counters.status,
    runCount: counters.runCount,
    lastRun: orNull(counters.lastRun),
    failureStreak: counters.failureStreak,
    nextEligible: orNull(counters.nextEligible),
    lastError: counters.lastError ?? null,
    lastEnd: orNull(counters.lastEnd),
  };
}

function orNull(time: number): number | null {
  return Number.isNaN(time) ? null : time;
}

/** Whether a marker still holds at `now` (its owner renews it; a dead owner's goes stale). */
export function isLive(marker: FlowRunMarker | null, now: number): marker is FlowRunMarker {
  return marker !== null && marker.until > now;
}

/**
 * Mirrors a shared record in a local flow: counters, the latest tick, whether another instance
 * runs it. A run in flight here keeps its local `"running"` status.
 */
export function adoptRecord(flow: FlowState, record: FlowRecord, owner: string, now: number): void {
  const counters = countersOf(record);
  flow.runCount = counters.runCount;
  flow.lastRun = counters.lastRun;
  flow.failureStreak = counters.failureStreak;
  flow.nextEligible = counters.nextEligible;
  flow.lastError = counters.lastError;
  flow.lastEnd = counters.lastEnd;
  if (flow.status !== "running") flow.status = counters.status;
  if (record.lastTick !== null && !(record.lastTick <= flow.lastTick)) {
    flow.lastTick = record.lastTick;
  }
  flow.remoteRunning = isLive(record.running, now) && record.running.owner !== owner;
}

/**
 * One instance's view of the shared flows: who it is (`owner`), how long its run markers hold
 * without renewal (`lease`), and the store.
 */
export class FlowCoordinator {
  readonly coordination: Coordination;
  readonly owner: string;
  readonly lease: number;

  constructor(coordination: Coordination, owner: string, lease: number) {
    this.coordination = coordination;
    this.owner = owner;
    this.lease = lease;
  }

  /** The flow's record, created when absent (so that its `createdAt` is the first start). */
  async load(flowId: string): Promise<FlowRecord> {
    return (await this.#update(flowId, "register the flow", () => undefined)).record;
  }

  /** The flow's record as stored, `undefined` when none is. */
  async read(flowId: string): Promise<FlowRecord | undefined> {
    return (await this.#read(flowId, "read the shared state")).record;
  }

  /**
   * Claims the tick (for a scheduled run), then starts a run in the record unless the flow is
   * tripped, runs elsewhere, or backs off (a trigger bypasses backoff and claims no tick). A
   * claimed tick that does not run is still recorded as handled.
   */
  async begin(request: BeginRequest): Promise<BeginOutcome> {
    const { spec, scheduledAt, source } = request;
    const flowId = spec.id;
    if (scheduledAt !== undefined) {
      const expiresAt = scheduledAt + claimLifetime(spec.schedule, scheduledAt);
      let claimed: boolean;
      try {
        claimed = await this.coordination.claimTick(flowId, scheduledAt, this.owner, expiresAt);
      } catch (error) {
        throw coordinationError("claim a tick", flowId, error);
      }
      if (claimed !== true) return { kind: "skip", reason: "claimed", record: undefined };
    }
    let marker: FlowRunMarker | undefined;
    let reason: FlowSkipReason | undefined;
    const { record } = await this.#update(flowId, "start a run", (current, now) => {
      marker = undefined;
      reason = undefined;
      if (
        scheduledAt !== undefined && current.lastTick !== null && scheduledAt <= current.lastTick
      ) {
        reason = "stale";
        return undefined;
      }
      if (current.status === "tripped") reason = "tripped";
      else if (isLive(current.running, now)) reason = "running";
      else if (
        scheduledAt !== undefined && current.nextEligible !== null &&
        scheduledAt < current.nextEligible
      ) reason = "backoff";
      if (reason !== undefined) {
        return scheduledAt === undefined ? undefined : { ...current, lastTick: scheduledAt };
      }
      const count = current.runCount + 1;
      const due = scheduledAt ?? now;
      marker = {
        owner: this.owner,
        key: `${source}@${due}@${this.owner}`,
        runId: request.runId(due, count) ?? null,
        scheduledAt: scheduledAt ?? null,
        source,
        startedAt: now,
        until: now + this.lease,
      };
      return {
        ...current,
        runCount: count,
        lastRun: now,
        lastTick: scheduledAt ?? current.lastTick,
        running: marker,
        cancel: null,
      };
    });
    if (marker !== undefined) return { kind: "run", marker, record };
    return { kind: "skip", reason: reason ?? "stale", record };
  }

  /**
   * Records a run's outcome (cano's rules, on the shared counters) and clears its marker and any
   * cancel request addressed to it.
   */
  async finish(
    spec: FlowSpec,
    marker: FlowRunMarker,
    end: { readonly at: number; readonly error: unknown; readonly failed: boolean },
  ): Promise<{ record: FlowRecord; outcome: FlowRunOutcome }> {
    let outcome: FlowRunOutcome = "completed";
    const { record } = await this.#update(spec.id, "record a run's outcome", (current) => {
      const counters = countersOf(current);
      outcome = settleCounters(counters, spec.policy, end.at, end.error, end.failed);
      return {
        ...withCounters(current, counters),
        running: current.running?.key === marker.key ? null : current.running,
        cancel: current.cancel?.key === marker.key ? null : current.cancel,
      };
    });
    return { record, outcome };
  }

  /**
   * While a run lasts: renews its marker when half its lease is gone, and says whether a cancel
   * request is addressed to it.
   */
  async heartbeat(
    flowId: string,
    marker: FlowRunMarker,
  ): Promise<{ record: FlowRecord; cancelled: boolean }> {
    let cancelled = false;
    const { record } = await this.#update(flowId, "renew a run's claim", (current, now) => {
      cancelled = current.cancel !== null && current.cancel.key === marker.key;
      const running = current.running;
      if (running === null || running.key !== marker.key) return undefined;
      if (running.until - now > this.lease / 2) return undefined;
      return { ...current, running: { ...running, until: now + this.lease } };
    });
    return { record, cancelled };
  }

  /** cano's reset, on the shared counters: no streak, no window, not tripped. */
  async reset(flowId: string): Promise<FlowRecord> {
    return (await this.#update(flowId, "reset", (current) => {
      const counters = countersOf(current);
      resetCounters(counters);
      return withCounters(current, counters);
    })).record;
  }

  /**
   * Addresses a cancel request to the run in flight, on whichever instance runs it.
   *
   * @returns The run's marker, `undefined` when no run is in flight.
   */
  async requestCancel(flowId: string): Promise<FlowRunMarker | undefined> {
    let target: FlowRunMarker | undefined;
    await this.#update(flowId, "request a cancel", (current, now) => {
      target = undefined;
      if (!isLive(current.running, now)) return undefined;
      target = current.running;
      if (current.cancel?.key === target.key) return undefined;
      return { ...current, cancel: { key: target.key, by: this.owner, at: now } };
    });
    return target;
  }

  async #read(
    flowId: string,
    what: string,
  ): Promise<{ record: FlowRecord | undefined; stamp: string | null }> {
    try {
      const read = await this.coordination.readFlow(flowId);
      const stamp = read?.stamp ?? null;
      if (read?.record === undefined || stamp === null) return { record: undefined, stamp: null };
      return { record: checkRecord(flowId, read.record), stamp };
    } catch (error) {
      throw coordinationError(what, flowId, error);
    }
  }

  /**
   * Reads, changes and writes back the flow's record until the write lands. `change` returns
   * `undefined` when nothing needs writing; an absent record is created first.
   */
  async #update(
    flowId: string,
    what: string,
    change: (current: FlowRecord, now: number) => FlowRecord | undefined,
  ): Promise<{ record: FlowRecord }> {
    for (let pass = 1; pass <= MAX_PASSES; pass++) {
      const { record: stored, stamp } = await this.#read(flowId, what);
      const now = Date.now();
      const current = stored ?? freshRecord(now);
      const next = change(current, now) ?? (stored === undefined ? current : undefined);
      if (next === undefined) return { record: current };
      let written: boolean;
      try {
        written = await this.coordination.writeFlow(flowId, next, stamp);
      } catch (error) {
        throw coordinationError(what, flowId, error);
      }
      if (written === true) return { record: next };
    }
    throw new CheckpointStoreError(
      `Coordination store failed to ${what} of flow "${flowId}": its shared state changed ` +
        `during each of ${MAX_PASSES} attempts`,
    );
  }
}
