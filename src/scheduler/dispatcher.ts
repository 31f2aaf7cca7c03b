// The running scheduler's machinery behind its public handle: one timer queue for every flow, the
// start of a run (by its timer, a trigger, or the coordinated side once the store granted it), the
// run itself and what its outcome does to the flow, and the events all of that dispatches. With
// coordination, it lends the shared side (shared_flows.ts) what that side may do to the flows.

import { safeString } from "../describe.ts";
import type { CancelledError } from "../errors.ts";
import type { FlowRunMarker } from "../coordination/coordination.ts";
import { coordinationError } from "../coordination/coordination.ts";
import { nextGridTick } from "../coordination/ticks.ts";
import type { SchedulerReporter } from "../observe/reporter.ts";
import type { Spans } from "../observe/spans.ts";
import type { WorkflowResult } from "../workflow/workflow.ts";
import type { FlowRunSource } from "./events.ts";
import type { FlowState } from "./flow.ts";
import type { FlowInfo, FlowStatus } from "./flow_info.ts";
import { runScheduled, scheduledRunId, type ScheduledRunOptions } from "./run_flow.ts";
import { type CoordinatedStart, SharedFlows, type SharedHost } from "./shared_flows.ts";
import { InFlight } from "./stop.ts";
import { type TimerEntry, TimerQueue } from "./timer_queue.ts";

/**
 * The least time between two turns of the scheduler's timer, in ms (see TimerQueue), adapting
 * between 5 and 20 ms to the rate flows come due at. Every wake of the process costs CPU whatever
 * it does (≈ 0.3 ms on the 2-core VM of bench/README.md), so with flows coming due every few ms a
 * turn per flow would cost more than the flows. The gap is the time in which about 200 flows come
 * due: 20 ms at up to 10,000 dispatches a second (≤ 50 wakes a second), 5 ms from 40,000 a second,
 * where the turns are large enough to share a wake's cost and lateness matters more (100,000
 * flows a second: p99 ≈ 15 ms). A flow due within the gap of a turn waits for the next one;
 * sparse schedules (ticks further apart than the gap, cron ticks on the second) are not delayed.
 */
const TIMER_GAP = { gap: 5, maxGap: 20, batch: 200 } as const;

/** Times, starts and runs the flows of one running scheduler. */
export class Dispatcher {
  /** Every flow's timer, and the coordinated poll: one pending `setTimeout` for all. */
  readonly queue: TimerQueue = new TimerQueue(
    (error) => console.error(`cano: a scheduler timer callback threw: ${safeString(error)}`),
    TIMER_GAP,
  );
  /** The runs in flight here, and the coordination store's work in flight. */
  readonly inFlight: InFlight<FlowState> = new InFlight(() => this.#order);
  /** Coordinated: the shared side. */
  readonly shared: SharedFlows | undefined;
  /** Where the flows' lifecycle points and tick spans go (the handle's events, and more). */
  readonly #reporter: SchedulerReporter;
  readonly #isRunning: () => boolean;
  readonly #startedAt = Date.now();
  #pollTimer: TimerEntry | undefined;
  /** Every flow, in registration order (set by arm). */
  #order: readonly FlowState[] = [];
  /**
   * Launched runs whose engine has not started yet: `#starting[#startHead..#startTail)` (see
   * #startNext). The array keeps its length from turn to turn, so a turn that launches thousands
   * of runs does not grow it from scratch every time.
   */
  readonly #starting: (FlowState | undefined)[] = [];
  #startHead = 0;
  #startTail = 0;
  /** A #startNext microtask is queued. */
  #draining = false;

  /**
   * @param reporter Where the points go (the public handle's events, and attached consumers).
   * @param isRunning Whether the scheduler is running (not stopping or stopped).
   * @param coordinated The checked coordination options, if any.
   */
  constructor(
    reporter: SchedulerReporter,
    isRunning: () => boolean,
    coordinated: CoordinatedStart | undefined,
  ) {
    this.#reporter = reporter;
    this.#isRunning = isRunning;
    this.shared = coordinated === undefined
      ? undefined
      : new SharedFlows(coordinated, this.#sharedHost());
  }

  /** Arms every flow (with coordination: once the shared state is read), and the poll. */
  async arm(order: readonly FlowState[]): Promise<void> {
    this.#order = order;
    const shared = this.shared;
    let catchUp: [FlowState, number][] = [];
    if (shared !== undefined) {
      await shared.load(order);
      catchUp = shared.catchUp(order, Date.now());
    }
    const late = new Set(catchUp.map(([flow]) => flow));
    for (const flow of order) if (!late.has(flow)) this.plan(flow);
    for (const [flow, tick] of catchUp) shared!.tick(flow, tick, sourceOf(flow));
    if (shared !== undefined) {
      this.#pollTimer = this.queue.schedule(Date.now() + shared.pollInterval, () => {
        if (!this.#isRunning()) return;
        shared.poll(order);
        this.queue.reschedule(this.#pollTimer!, Date.now() + shared.pollInterval);
      });
    }
  }

  /** The first step of a stop: no timer fires any more, and every run in flight is aborted. */
  halt(reason: CancelledError): void {
    this.queue.clear();
    this.shared?.stop();
    for (const flow of this.inFlight.runs()) flow.abort(reason);
  }

  /** A snapshot of the flow, its next run the due time of its pending timer. */
  info(flow: FlowState): FlowInfo {
    const timer = flow.timer;
    return flow.info(timer !== undefined && this.queue.isScheduled(timer) ? timer.due : undefined);
  }

  /** Arms the flow's timer for its next scheduled dispatch, if it has one. */
  plan(flow: FlowState): void {
    if (flow.timer !== undefined) this.queue.cancel(flow.timer);
    if (
      !this.#isRunning() || flow.status === "running" || flow.status === "tripped" ||
      flow.pending
    ) {
      return;
    }
    const schedule = flow.spec.schedule;
    const eligible = flow.nextEligible; // NaN when no window is open: every comparison is false
    let due: number;
    if (schedule.kind === "every" && this.shared !== undefined) {
      // Shared: a grid every instance agrees on, never a tick already handled.
      const from = Math.max(this.#startedAt + schedule.initialDelay, Date.now());
      due = nextGridTick(schedule.interval, eligible > from ? eligible : from, flow.lastTick);
    } else if (schedule.kind === "every") {
      // A fixed delay after the end of the last run, and never inside the backoff window.
      due = Number.isNaN(flow.lastEnd)
        ? this.#startedAt + schedule.initialDelay
        : flow.lastEnd + schedule.interval;
      if (eligible > due) due = eligible;
    } else if (schedule.kind === "cron") {
      // Ticks inside the backoff window are skipped, not deferred: look for the first tick at
      // or after the window's end (croner returns ticks strictly after the given second).
      const now = Date.now();
      const next = schedule.cron.next(eligible - 1 > now ? eligible - 1 : now);
      if (next === undefined) return; // no future tick: the flow is done
      due = next;
    } else {
      return;
    }
    // One entry per flow, reused for every dispatch: re-arming allocates nothing.
    if (flow.timer === undefined) flow.timer = this.queue.schedule(due, () => this.#onTimer(flow));
    else this.queue.reschedule(flow.timer, due);
  }

  /** Reserves the flow and starts a run (at `startedAt`, default now), or says why not. */
  dispatch(
    flow: FlowState,
    source: FlowRunSource,
    due?: number,
    startedAt: number = Date.now(),
  ): "running" | "tripped" | undefined {
    const previous = flow.status;
    const refusal = flow.reserve(startedAt);
    if (refusal !== undefined) return refusal;
    this.#launch(flow, previous, source, startedAt, due, undefined);
    return undefined;
  }

  /** Dispatches `flowstatus` when the flow's status is no longer `previous`. */
  emitStatus(flow: FlowState, previous: FlowStatus): void {
    if (previous !== flow.displayStatus && this.#reporter.listens("flowstatus")) {
      this.#reporter.flowStatus(this.info(flow), previous);
    }
  }

  /** What the coordinated side may do to this scheduler. */
  #sharedHost(): SharedHost {
    const reporter = this.#reporter;
    return {
      isRunning: () => this.#isRunning(),
      launch: (flow, previous, source, due, marker) => {
        flow.status = "running";
        this.#launch(flow, previous, source, Date.now(), due, marker);
      },
      plan: (flow) => this.plan(flow),
      changed: (flow, previous) => this.emitStatus(flow, previous),
      skipped: (flow, due, reason) => {
        if (reporter.listens("flowskip")) reporter.flowSkip(flow.id, new Date(due), reason);
      },
      failed: (flow, operation, thrown) => {
        const error = coordinationError(operation, flow.id, thrown);
        flow.lastError = error.message;
        if (reporter.listens("flowerror")) reporter.flowError(flow.id, operation, error);
        else console.error(`cano: scheduler flow "${flow.id}": ${error.message}`);
      },
      track: (work) => this.inFlight.track(work),
    };
  }

  #onTimer(flow: FlowState): void {
    if (!this.#isRunning()) return;
    if (this.shared !== undefined) {
      this.shared.tick(flow, flow.timer!.due, sourceOf(flow));
      return;
    }
    const now = Date.now(); // one clock read per dispatch: a turn may dispatch thousands
    if (flow.backingOff(now)) {
      this.plan(flow);
      return;
    }
    // A running or tripped flow is refused; its outcome or reset plans the next dispatch.
    this.dispatch(flow, sourceOf(flow), flow.timer!.due, now);
  }

  /**
   * Starts a reserved run: its events now; its controller and its engine right after, in launch
   * order (see {@link Dispatcher.#startNext}).
   */
  #launch(
    flow: FlowState,
    previous: FlowStatus,
    source: FlowRunSource,
    startedAt: number,
    due: number | undefined,
    marker: FlowRunMarker | undefined,
  ): void {
    if (flow.timer !== undefined) this.queue.cancel(flow.timer);
    flow.marker = marker;
    flow.runStartedAt = startedAt;
    flow.runDue = due ?? startedAt;
    flow.runSource = source;
    flow.inFlight = true;
    this.inFlight.add();
    this.emitStatus(flow, previous);
    if (this.#reporter.listens("flowstart")) {
      this.#reporter.flowStart(
        flow.id,
        source,
        flow.runCount,
        due === undefined ? undefined : new Date(due),
      );
    }
    this.#starting[this.#startTail++] = flow;
    if (!this.#draining) {
      this.#draining = true;
      queueMicrotask(this.#startNext);
    }
  }

  /**
   * Starts the engine of the next launched run, one run per microtask. A timer turn can launch
   * thousands of runs at once (a per-second cron); started all together, they would all be alive
   * at the same time, survive the young-generation GC and be promoted (the cost of a run then
   * doubles, and the GC pauses delay the next ticks). One at a time, each start queues behind the
   * continuations of the runs started before it, so short runs end as fast as new ones start and
   * only a handful are alive at once; a run that awaits I/O does not hold the others up.
   */
  readonly #startNext = (): void => {
    const starting = this.#starting;
    const flow = starting[this.#startHead]!;
    starting[this.#startHead++] = undefined;
    // Never rejects; its synchronous part may launch more runs, queued behind the others.
    void this.#execute(flow);
    if (this.#startHead < this.#startTail) queueMicrotask(this.#startNext);
    else {
      this.#startHead = this.#startTail = 0;
      this.#draining = false;
    }
  };

  /** Runs the workflow of a launched run and applies the outcome. Never rejects. */
  async #execute(flow: FlowState): Promise<void> {
    const signal = flow.startSignal();
    const startedAt = flow.runStartedAt;
    const marker = flow.marker;
    let result: WorkflowResult<string, unknown> | undefined;
    let error: unknown;
    let failed = false;
    // A traced tick: a `cano.tick` span, active while the run goes (its `cano.run` nests).
    const spans = this.#reporter.spans();
    const tick = spans === undefined ? undefined : startTick(spans, flow);
    try {
      const { workflow, initial, data } = flow.spec;
      const runData = data?.();
      const id = marker !== undefined
        ? marker.runId ?? undefined
        : scheduledRunId(workflow, flow.id, flow.runDue, flow.lastRunId, flow.runCount);
      flow.lastRunId = id;
      const options: ScheduledRunOptions<unknown> = { signal };
      if (runData !== undefined) options.data = runData;
      if (id !== undefined) options.id = id;
      result = spans === undefined
        ? await runScheduled(workflow, initial, options)
        : await spans.within(tick!, () => runScheduled(workflow, initial, options));
    } catch (thrown) {
      // Anything escaping the run, including non-Error values, is an outcome: the flow must
      // never stay stranded in "running".
      error = thrown;
      failed = true;
    }
    const now = Date.now();
    const outcome = flow.settle(now, error, failed);
    spans?.end(tick, { failed: outcome === "failed", error, outcome, next: result?.state });
    if (marker !== undefined) {
      await this.shared!.finish(flow, marker, { at: now, error, failed });
      flow.marker = undefined;
    }
    flow.runEnded(); // before the events: a flowend listener may launch the next run
    this.inFlight.delete();
    try {
      this.plan(flow);
    } catch (planError) {
      console.error(`cano: scheduling flow "${flow.id}" failed: ${safeString(planError)}`);
    } finally {
      if (this.#reporter.listens("flowend")) {
        this.#reporter.flowEnd(
          flow.id,
          failed
            ? { outcome, duration: now - startedAt, error }
            : { outcome, duration: now - startedAt, state: result!.state },
        );
      }
      this.emitStatus(flow, "running");
      this.inFlight.check();
    }
  }
}

/** Opens the `cano.tick` span of the run of `flow` being started. */
function startTick(spans: Spans, flow: FlowState): readonly unknown[] {
  return spans.start({
    kind: "tick",
    workflow: flow.spec.workflow.name ?? "",
    flow: flow.id,
    source: flow.runSource,
    due: flow.runDue,
    lateness: Math.max(0, flow.runStartedAt - flow.runDue),
  }, undefined);
}

function sourceOf(flow: FlowState): FlowRunSource {
  return flow.spec.schedule.kind === "cron" ? "cron" : "interval";
}
