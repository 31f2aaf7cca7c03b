// The running scheduler's side of coordination: what its timers, trigger, resetFlow and
// cancelFlow do when the flows are shared with other instances through a store, and the poll that
// keeps the local mirror of each flow's shared state fresh. The rules themselves (claims, CAS
// updates, outcomes) are the coordination module's, shared with the Deno.cron adapter.

import { delay } from "../async.ts";
import { safeString } from "../describe.ts";
import { CancelledError, CanoError, ConfigurationError } from "../errors.ts";
import type { Coordination, FlowRecord, FlowRunMarker } from "../coordination/coordination.ts";
import {
  adoptRecord,
  FlowCoordinator,
  type FlowSkipReason,
  isLive,
} from "../coordination/shared_flow.ts";
import { latestTick } from "../coordination/ticks.ts";
import type { FlowErrorOperation, FlowRunSource } from "./events.ts";
import type { FlowState, RunEnd } from "./flow.ts";
import type { FlowStatus } from "./flow_info.ts";
import { scheduledRunId } from "./run_flow.ts";

/** The checked coordination options of `Scheduler.start`. */
export interface CoordinatedStart {
  readonly coordinator: FlowCoordinator;
  readonly pollInterval: number;
}

/** Checks the coordination options and names this instance. */
export function checkCoordinated(
  coordination: Coordination,
  instanceId: unknown,
  pollInterval: unknown,
): CoordinatedStart {
  const poll = pollInterval ?? 1_000;
  if (typeof poll !== "number" || !Number.isFinite(poll) || poll < 10) {
    throw new ConfigurationError(
      `Option pollInterval must be a finite number of ms ≥ 10, received ${safeString(poll)}`,
    );
  }
  const owner = instanceId ?? defaultInstanceId();
  if (typeof owner !== "string" || owner.length === 0 || !owner.isWellFormed()) {
    throw new ConfigurationError(
      `Option instanceId must be a non-empty, well-formed string, received ${safeString(owner)}`,
    );
  }
  return {
    coordinator: new FlowCoordinator(coordination, owner, Math.max(5 * poll, 5_000)),
    pollInterval: poll,
  };
}

function defaultInstanceId(): string {
  const pid = (globalThis as { Deno?: { pid?: number } }).Deno?.pid ?? 0;
  return `sched-${pid}-${crypto.randomUUID()}`;
}

/** What the running scheduler lends its coordinated side. */
export interface SharedHost {
  /** Whether the scheduler is running (not stopping or stopped). */
  isRunning(): boolean;
  /** Starts the local run of a flow whose run was begun in the store. */
  launch(
    flow: FlowState,
    previous: FlowStatus,
    source: FlowRunSource,
    due: number | undefined,
    marker: FlowRunMarker,
  ): void;
  /** Arms the flow's timer for its next tick. */
  plan(flow: FlowState): void;
  /** Reports a status change (`flowstatus`). */
  changed(flow: FlowState, previous: FlowStatus): void;
  /** Reports a tick that does not run here (`flowskip`). */
  skipped(flow: FlowState, due: number, reason: FlowSkipReason): void;
  /** Reports a store failure (`flowerror`). */
  failed(flow: FlowState, operation: FlowErrorOperation, error: unknown): void;
  /** Counts work in flight until it settles, so that `stop()` waits for it. */
  track<T>(work: Promise<T>): Promise<T>;
}

/** The coordinated behaviour of one running scheduler. */
export class SharedFlows {
  readonly coordinator: FlowCoordinator;
  readonly pollInterval: number;
  readonly #host: SharedHost;
  readonly #stopped = new AbortController();
  readonly #loaded = new Map<FlowState, FlowRecord>();
  #syncing = false;

  constructor(start: CoordinatedStart, host: SharedHost) {
    this.coordinator = start.coordinator;
    this.pollInterval = start.pollInterval;
    this.#host = host;
  }

  get #owner(): string {
    return this.coordinator.owner;
  }

  /** Reads (or creates) every flow's record and mirrors it, before any timer is armed. */
  async load(flows: readonly FlowState[]): Promise<void> {
    for (const flow of flows) {
      const record = await this.coordinator.load(flow.id);
      this.#loaded.set(flow, record);
      adoptRecord(flow, record, this.#owner, Date.now());
    }
  }

  /**
   * The flows to catch up at start (policy `"one"`): the latest tick at or before now, when the
   * flow existed before it and no instance handled it or a later one.
   */
  catchUp(flows: readonly FlowState[], now: number): [FlowState, number][] {
    const due: [FlowState, number][] = [];
    for (const flow of flows) {
      const record = this.#loaded.get(flow);
      if (flow.spec.catchUp !== "one" || record === undefined) continue;
      const tick = latestTick(flow.spec.schedule, now);
      if (tick === undefined || !(tick > record.createdAt)) continue;
      if (record.lastTick === null || tick > record.lastTick) due.push([flow, tick]);
    }
    this.#loaded.clear();
    return due;
  }

  /** A tick is due: claim it and run it here, or report why not. Never rejects. */
  tick(flow: FlowState, due: number, source: FlowRunSource): void {
    const host = this.#host;
    if (flow.pending || flow.status === "running") {
      host.skipped(flow, due, "running");
      return; // the run's end (or the pending trigger) plans the next tick
    }
    flow.pending = true;
    if (!(flow.lastTick >= due)) flow.lastTick = due;
    const work = (async () => {
      const late = flow.unsettled;
      if (late !== undefined && !await this.finish(flow, late.marker, late.end)) {
        flow.pending = false;
        host.plan(flow); // the store is still down: this tick cannot be claimed either
        return;
      }
      let outcome;
      try {
        outcome = await this.coordinator.begin({
          spec: flow.spec,
          scheduledAt: due,
          source,
          runId: (at, count) =>
            scheduledRunId(flow.spec.workflow, flow.id, at, flow.lastRunId, count),
        });
      } catch (error) {
        flow.pending = false;
        host.failed(flow, "begin", error);
        host.plan(flow);
        return;
      }
      flow.pending = false;
      const previous = flow.displayStatus;
      if (outcome.record !== undefined) {
        adoptRecord(flow, outcome.record, this.#owner, Date.now());
      }
      if (outcome.kind === "skip") {
        host.skipped(flow, due, outcome.reason);
        host.plan(flow);
        host.changed(flow, previous);
        return;
      }
      if (!host.isRunning()) {
        await this.#abandon(flow, outcome.marker);
        return;
      }
      host.launch(flow, previous, source, due, outcome.marker);
    })();
    host.track(work);
  }

  /** `trigger` on a shared flow: begun in the store (no tick, no backoff), run here. */
  async trigger(flow: FlowState): Promise<void> {
    const host = this.#host;
    if (flow.pending || flow.status === "running") throw alreadyRunning(flow.id);
    flow.pending = true;
    let outcome;
    try {
      outcome = await host.track(this.coordinator.begin({
        spec: flow.spec,
        scheduledAt: undefined,
        source: "trigger",
        runId: (at, count) =>
          scheduledRunId(flow.spec.workflow, flow.id, at, flow.lastRunId, count),
      }));
    } catch (error) {
      flow.pending = false;
      host.plan(flow);
      throw error;
    }
    flow.pending = false;
    const previous = flow.displayStatus;
    if (outcome.record !== undefined) adoptRecord(flow, outcome.record, this.#owner, Date.now());
    if (outcome.kind === "skip") {
      host.plan(flow);
      host.changed(flow, previous);
      if (outcome.reason === "tripped") {
        throw new CanoError(`Flow "${flow.id}" is tripped — call resetFlow before triggering`, {
          category: "workflow",
        });
      }
      throw alreadyRunning(flow.id);
    }
    if (!host.isRunning()) {
      await this.#abandon(flow, outcome.marker);
      throw new CanoError(
        `Scheduler not running — it was stopped, so trigger("${flow.id}") is refused`,
        { category: "workflow" },
      );
    }
    host.launch(flow, previous, "trigger", undefined, outcome.marker);
  }

  /** `resetFlow` on a shared flow: reset in the store, for every instance. */
  async reset(flow: FlowState): Promise<void> {
    const record = await this.#host.track(this.coordinator.reset(flow.id));
    adoptRecord(flow, record, this.#owner, Date.now());
  }

  /**
   * `cancelFlow` of a flow another instance runs: a cancel request in its record, then a wait
   * (a poll every `pollInterval`) until that run has ended or its claim lapsed.
   */
  async cancel(flow: FlowState): Promise<void> {
    const host = this.#host;
    const marker = await host.track(this.coordinator.requestCancel(flow.id));
    if (marker === undefined || marker.owner === this.#owner) return;
    for (;;) {
      try {
        await delay(this.pollInterval, this.#stopped.signal);
      } catch {
        return; // the scheduler is stopping
      }
      const record = await host.track(this.coordinator.read(flow.id));
      const running = record?.running ?? null;
      if (running?.key !== marker.key || !isLive(running, Date.now())) {
        const previous = flow.displayStatus;
        if (record !== undefined) adoptRecord(flow, record, this.#owner, Date.now());
        host.changed(flow, previous);
        return;
      }
    }
  }

  /**
   * Records the outcome of a run of this instance in the store. Never rejects: when the store
   * fails, the outcome is kept and written by the next poll or tick (until then the run's marker
   * keeps other ticks of the flow from starting, here as elsewhere).
   */
  async finish(flow: FlowState, marker: FlowRunMarker, end: RunEnd): Promise<boolean> {
    try {
      const { record } = await this.coordinator.finish(flow.spec, marker, end);
      flow.unsettled = undefined;
      adoptRecord(flow, record, this.#owner, Date.now());
      return true;
    } catch (error) {
      flow.unsettled = { marker, end };
      this.#host.failed(flow, "finish", error);
      return false;
    }
  }

  /**
   * One poll: renews the claims of this instance's runs (and acts on cancel requests addressed to
   * them), reads the other flows' shared state. Skipped while the previous poll is still busy.
   * Never rejects.
   */
  poll(flows: readonly FlowState[]): void {
    const host = this.#host;
    if (this.#syncing || !host.isRunning()) return;
    this.#syncing = true;
    const work = (async () => {
      for (const flow of flows) {
        if (!host.isRunning()) break;
        const marker = flow.marker;
        try {
          const late = flow.unsettled;
          if (late !== undefined && marker === undefined && !flow.pending) {
            await this.finish(flow, late.marker, late.end);
          } else if (marker !== undefined) {
            const { record, cancelled } = await this.coordinator.heartbeat(flow.id, marker);
            if (flow.marker !== marker) continue; // the run ended meanwhile
            adoptRecord(flow, record, this.#owner, Date.now());
            if (cancelled) {
              flow.abort(
                new CancelledError(
                  `Flow "${flow.id}" was cancelled by cancelFlow() on instance "${
                    record.cancel?.by ?? "?"
                  }"`,
                ),
              );
            }
          } else {
            // Read even while a tick is being claimed (that claim may have been lost to another
            // instance, which says nothing about the flow's state); a begin that ends later
            // adopts its own, newer record after this one.
            const record = await this.coordinator.read(flow.id);
            if (record === undefined || flow.marker !== undefined) continue;
            const previous = flow.displayStatus;
            const wasTripped = flow.status === "tripped";
            adoptRecord(flow, record, this.#owner, Date.now());
            if (wasTripped !== (flow.status === "tripped")) host.plan(flow);
            host.changed(flow, previous);
          }
        } catch (error) {
          host.failed(flow, marker !== undefined ? "heartbeat" : "sync", error);
        }
      }
    })().finally(() => {
      this.#syncing = false;
    });
    host.track(work);
  }

  /** Ends the waits of `cancelFlow` calls (the scheduler is stopping). */
  stop(): void {
    this.#stopped.abort();
  }

  /** A run begun in the store that will not run (the scheduler stopped): not a failure. */
  async #abandon(flow: FlowState, marker: FlowRunMarker): Promise<void> {
    await this.finish(flow, marker, {
      at: Date.now(),
      error: new CancelledError("Scheduler is stopping"),
      failed: true,
    });
  }
}

function alreadyRunning(id: string): CanoError {
  return new CanoError(`Flow "${id}" is already running`, { category: "workflow" });
}
