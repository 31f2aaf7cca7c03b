// The public handle of a started scheduler: its methods, and its start and stop. The timers, runs
// and events behind it are the dispatcher's (dispatcher.ts); what a stop waits for and the
// teardown are in stop.ts.

import { CancelledError, CanoError } from "../errors.ts";
import { SafeEventTarget } from "../events.ts";
import type { Resources } from "../resources.ts";
import { Dispatcher } from "./dispatcher.ts";
import { schedulerReporter, shareSchedulerReporter } from "../observe/reporter.ts";
import { registerSchedulerTarget } from "../observe/targets.ts";
import type { RunningSchedulerEventMap } from "./events.ts";
import { type FlowSpec, FlowState } from "./flow.ts";
import type { FlowInfo } from "./flow_info.ts";
import type { CoordinatedStart } from "./shared_flows.ts";
import { checkTimeout, raise, type StopOptions, teardown } from "./stop.ts";

export type { StopOptions } from "./stop.ts";

// Assigned by a static block of RunningScheduler: only Scheduler.start creates one.
let create: (
  flows: readonly FlowSpec[],
  resources: readonly Resources[],
  signal: AbortSignal | undefined,
  coordinated: CoordinatedStart | undefined,
  builder: object | undefined,
) => Promise<RunningScheduler>;

/**
 * Creates the live handle once the builder has validated the flows and set their resources up;
 * with coordination, once every flow's shared state has been read. Not part of the public API.
 */
export function startRunning(
  flows: readonly FlowSpec[],
  resources: readonly Resources[],
  signal: AbortSignal | undefined,
  coordinated?: CoordinatedStart,
  builder?: object,
): Promise<RunningScheduler> {
  return create(flows, resources, signal, coordinated, builder);
}

/**
 * The live handle of a started `Scheduler`: trigger, reset and cancel flows, read their status,
 * and stop. It is an event target of `flowstatus`, `flowstart` and `flowend` events
 * ({@link RunningSchedulerEventMap}); listeners that throw cannot hurt the scheduler.
 *
 * All flows share one timer: a min-heap of due times with a single pending `setTimeout`. Its turns
 * are at least 10 ms apart (each wake of the process has a fixed cost): a run due within 10 ms of
 * the previous turn starts with the next one, so a run may start up to ~10 ms after it was due
 * when many flows are due close together. `stop()` clears the timer, so no sleeping flow delays
 * shutdown, then aborts the runs in flight (their sagas roll back), waits for them up to a
 * timeout, and, once every run has ended, tears the resources down in reverse registration order.
 * `await using` stops it on scope exit, and so does aborting the `signal` given to `start`.
 *
 * @example Trigger a manual flow and watch it end
 * ```ts
 * import { Scheduler } from "@cano/cano/scheduler";
 * import { Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const workflow = new Workflow<"report" | "done">()
 *   .register("report", () => "done")
 *   .addExitState("done");
 * const running = await new Scheduler().manual("report", workflow, "report").start();
 * const ended = new Promise<string>((resolve) =>
 *   running.addEventListener("flowend", (e) => resolve(e.outcome))
 * );
 * await running.trigger("report");
 * assert.equal(await ended, "completed");
 * assert.equal(running.status("report")?.runCount, 1);
 * await running.stop();
 * ```
 */
export class RunningScheduler extends SafeEventTarget<RunningSchedulerEventMap>
  implements AsyncDisposable {
  readonly #flows = new Map<string, FlowState>();
  readonly #order: FlowState[];
  readonly #resources: readonly Resources[];
  /** The timers, the runs and their events (and, coordinated, the shared side). */
  readonly #runs: Dispatcher;
  #phase: "running" | "stopping" | "stopped" = "running";
  /** The first stop()'s outcome: at the timeout, or once everything is released. */
  #shutdown: Promise<CanoError | undefined> | undefined;
  /** The same outcome, always once the resources are torn down: wait() and later stop() calls. */
  readonly #done: Promise<CanoError | undefined>;
  #resolveDone!: (error: CanoError | undefined) => void;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => {
    // The outcome stays observable through wait(); nobody awaits this call.
    this.stop().catch(() => {});
  };

  private constructor(
    flows: readonly FlowSpec[],
    resources: readonly Resources[],
    signal: AbortSignal | undefined,
    coordinated: CoordinatedStart | undefined,
    builder: object | undefined,
  ) {
    super();
    this.#order = flows.map((spec) => new FlowState(spec));
    registerSchedulerTarget(this, () => flows.map((flow) => flow.workflow));
    for (const flow of this.#order) this.#flows.set(flow.id, flow);
    this.#resources = resources;
    this.#done = new Promise((resolve) => this.#resolveDone = resolve);
    this.#signal = signal;
    // Consumers attached to the builder (`instrument(scheduler)`) see this handle's ticks.
    const reporter = builder === undefined
      ? schedulerReporter(this)
      : shareSchedulerReporter(builder, this);
    reporter.connect(this);
    this.#runs = new Dispatcher(reporter, () => this.#phase === "running", coordinated);
  }

  static {
    create = async (flows, resources, signal, coordinated, builder) => {
      const running = new RunningScheduler(flows, resources, signal, coordinated, builder);
      await running.#arm();
      return running;
    };
  }

  /** Arms every flow (with coordination: once the shared state is read), then the signal. */
  async #arm(): Promise<void> {
    await this.#runs.arm(this.#order);
    if (this.#signal?.aborted) this.#onAbort();
    else this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /**
   * Starts a run of `id` now, whatever its schedule, bypassing a backoff window (the operator
   * knows best). Resolves once the run has started; it runs in the background.
   *
   * @param id The flow's id.
   * @returns A promise that resolves when the run has started.
   * @throws {CanoError} (category `"workflow"`) when the scheduler was stopped, `id` is unknown,
   * the flow is already running, or it is tripped (call {@link RunningScheduler.resetFlow} first).
   *
   * @example Run a flow on demand, even while it backs off
   * ```ts
   * import { Scheduler } from "@cano/cano/scheduler";
   * import { TaskConfig, Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * let calls = 0;
   * const workflow = new Workflow<"go" | "done">()
   *   .register("go", () => ++calls > 1 ? "done" : Promise.reject(new Error("flaky")), {
   *     config: TaskConfig.minimal(),
   *   })
   *   .addExitState("done");
   * await using running = await new Scheduler()
   *   .manual("job", workflow, "go", { backoff: { initial: 60_000, jitter: 0 } })
   *   .start();
   * const end = () => new Promise((resolve) => running.addEventListener("flowend", resolve, { once: true }));
   * let ended = end();
   * await running.trigger("job");
   * await ended;
   * assert.equal(running.status("job")?.status, "backoff");
   * ended = end();
   * await running.trigger("job"); // bypasses the 60 s window
   * await ended;
   * assert.equal(running.status("job")?.status, "completed");
   * ```
   */
  async trigger(id: string): Promise<void> {
    const flow = this.#lookup(id, "trigger");
    const shared = this.#runs.shared;
    if (shared !== undefined) return await shared.trigger(flow);
    const refusal = this.#runs.dispatch(flow, "trigger");
    if (refusal === "running") {
      throw new CanoError(`Flow "${id}" is already running`, { category: "workflow" });
    }
    if (refusal === "tripped") {
      throw new CanoError(`Flow "${id}" is tripped — call resetFlow before triggering`, {
        category: "workflow",
      });
    }
  }

  /**
   * Clears a flow's failure streak, backoff window and trip, and makes it idle (unless a run is
   * in flight: if that run then fails, the streak restarts at 1). Its schedule resumes from the
   * last run: an interval flow whose interval has already passed runs at once.
   *
   * @param id The flow's id.
   * @returns A promise that resolves once the flow is reset.
   * @throws {CanoError} (category `"workflow"`) when the scheduler was stopped or `id` is unknown.
   *
   * @example Un-trip a flow
   * ```ts
   * import { Scheduler } from "@cano/cano/scheduler";
   * import { TaskConfig, Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"go" | "done">()
   *   .register("go", () => {
   *     throw new Error("down");
   *   }, { config: TaskConfig.minimal() })
   *   .addExitState("done");
   * await using running = await new Scheduler()
   *   .manual("job", workflow, "go", { backoff: { streakLimit: 1 } })
   *   .start();
   * const ended = new Promise((resolve) => running.addEventListener("flowend", resolve));
   * await running.trigger("job");
   * await ended;
   * assert.equal(running.status("job")?.status, "tripped");
   * await running.resetFlow("job");
   * assert.equal(running.status("job")?.status, "idle");
   * assert.equal(running.status("job")?.failureStreak, 0);
   * ```
   */
  async resetFlow(id: string): Promise<void> {
    const flow = this.#lookup(id, "resetFlow");
    const previous = flow.displayStatus;
    const shared = this.#runs.shared;
    if (shared !== undefined) await shared.reset(flow);
    else flow.reset();
    if (flow.status !== "running") this.#runs.plan(flow);
    this.#runs.emitStatus(flow, previous);
  }

  /**
   * Cancels the run of `id` in flight through its abort signal (a saga rolls back) and resolves
   * once it has ended. A cancelled run is not a failure: the flow goes back to idle. Does nothing
   * when the flow is not running.
   *
   * @param id The flow's id.
   * @returns A promise that resolves once the run has ended.
   * @throws {CanoError} (category `"workflow"`) when the scheduler was stopped or `id` is unknown.
   *
   * @example Cancel a long run
   * ```ts
   * import { Scheduler } from "@cano/cano/scheduler";
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"wait" | "done">()
   *   .register("wait", ({ signal }) =>
   *     new Promise<"done">((_resolve, reject) =>
   *       signal.addEventListener("abort", () => reject(signal.reason))
   *     ))
   *   .addExitState("done");
   * await using running = await new Scheduler().manual("slow", workflow, "wait").start();
   * await running.trigger("slow");
   * await running.cancelFlow("slow");
   * assert.equal(running.status("slow")?.status, "idle");
   * assert.equal(running.status("slow")?.failureStreak, 0);
   * ```
   */
  async cancelFlow(id: string): Promise<void> {
    const flow = this.#lookup(id, "cancelFlow");
    if (flow.status !== "running") return await this.#runs.shared?.cancel(flow);
    flow.abort(new CancelledError(`Flow "${id}" was cancelled by cancelFlow()`));
    await flow.ended();
  }

  /**
   * A snapshot of one flow.
   *
   * @param id The flow's id.
   * @returns The flow's info, or `undefined` for an unknown id.
   *
   * @example Read a flow's status
   * ```ts
   * import { Scheduler } from "@cano/cano/scheduler";
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
   * await using running = await new Scheduler().manual("job", workflow, "go").start();
   * assert.equal(running.status("job")?.status, "idle");
   * assert.equal(running.status("nope"), undefined);
   * ```
   */
  status(id: string): FlowInfo | undefined {
    const flow = this.#flows.get(id);
    return flow === undefined ? undefined : this.#runs.info(flow);
  }

  /**
   * Snapshots of every flow, in registration order.
   *
   * @returns The flows' info.
   *
   * @example List the flows
   * ```ts
   * import { Scheduler } from "@cano/cano/scheduler";
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
   * await using running = await new Scheduler()
   *   .manual("a", workflow, "go")
   *   .cron("b", workflow, "go", "0 3 * * *")
   *   .start();
   * assert.deepEqual(running.list().map((f) => [f.id, f.schedule.kind]), [["a", "manual"], ["b", "cron"]]);
   * ```
   */
  list(): FlowInfo[] {
    return this.#order.map((flow) => this.#runs.info(flow));
  }

  /**
   * Whether any flow has a run in flight on this instance (with `coordination`, `status()` also
   * shows the runs of other instances as `"running"`).
   *
   * @returns `true` while at least one run is in flight here.
   *
   * @example Nothing runs before the first trigger
   * ```ts
   * import { Scheduler } from "@cano/cano/scheduler";
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
   * await using running = await new Scheduler().manual("job", workflow, "go").start();
   * assert.equal(running.hasRunningFlows(), false);
   * ```
   */
  hasRunningFlows(): boolean {
    return this.#runs.inFlight.size > 0;
  }

  /**
   * Stops the scheduler: no further run starts, every sleeping flow is released at once, and the
   * runs in flight are all aborted together (their sagas roll back) and awaited up to `timeout`.
   * Afterwards `trigger`, `resetFlow` and `cancelFlow` refuse with "Scheduler not running".
   *
   * Resources are never torn down while a run is in flight: a rollback may still be using them
   * (compensations cannot be cancelled). Every workflow's resources are torn down, once and in
   * reverse registration order, as soon as the last run has ended:
   *
   * - when every run ends within `timeout`, the teardown happens first and this call then
   *   resolves;
   * - when runs are still in flight at the timeout, this call rejects then, on time, while the
   *   teardown waits for them: it happens later, as soon as the last of them ends.
   *   {@link RunningScheduler.wait} settles only after that teardown, with the same timeout error,
   *   so `await running.wait()` is how to know that everything has been released.
   *
   * A run that never ends (say a compensation that hangs for ever) therefore keeps the resources
   * up for ever and `wait()` never settles: that is the price of never pulling a resource out
   * from under a rollback. Bound compensations with their task's `attemptTimeout` or the
   * workflow's `withCompensationTimeout`. (A plain task that ignores its signal is abandoned when
   * its run is aborted: the run ends without it, so such a task must not use its resources after
   * the abort.)
   *
   * Idempotent: later calls (and disposal) start nothing and settle like `wait()`, once the
   * resources are torn down, with the first call's outcome, whatever their own timeout.
   *
   * @param options The timeout (default 30 000 ms).
   * @returns A promise that resolves once the scheduler has stopped and released its resources.
   * @throws {CanoError} (category `"workflow"`) when runs were still in flight at the timeout;
   * the message names their flows, and their resources are torn down once they end.
   * @throws {ConfigurationError} When the timeout is negative or not a number.
   *
   * @example Stop promptly, even with an hourly flow asleep
   * ```ts
   * import { Scheduler } from "@cano/cano/scheduler";
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
   * const running = await new Scheduler().every("hourly", workflow, "go", 3_600_000).start();
   * const started = Date.now();
   * await running.stop({ timeout: 5_000 });
   * assert.ok(Date.now() - started < 1_000);
   * await running.stop(); // idempotent
   * ```
   *
   * @example Learn about a slow rollback on time, then wait for the teardown
   * ```ts
   * import { Scheduler } from "@cano/cano/scheduler";
   * import { Resources, TaskConfig, Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const log: string[] = [];
   * const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
   * const workflow = new Workflow<"book" | "wait" | "done">({
   *   resources: new Resources({ db: { teardown: () => void log.push("teardown") } }),
   * })
   *   .registerWithCompensation("book", {
   *     name: "booking",
   *     config: TaskConfig.minimal(),
   *     run: () => ({ next: "wait", output: 1 }),
   *     compensate: async () => {
   *       await sleep(200); // a slow rollback: it cannot be cancelled
   *       log.push("cancelled the booking");
   *     },
   *   })
   *   .register("wait", ({ signal }) =>
   *     new Promise<"done">((_resolve, reject) =>
   *       signal.addEventListener("abort", () => reject(signal.reason))
   *     ), { config: TaskConfig.minimal() })
   *   .addExitState("done");
   * const running = await new Scheduler().manual("trip", workflow, "book").start();
   * await running.trigger("trip");
   * await sleep(10);
   * await assert.rejects(running.stop({ timeout: 50 }), /Timeout waiting .*"trip"/);
   * assert.deepEqual(log, [], "the rollback still uses the database");
   * await assert.rejects(running.wait(), /Timeout waiting/);
   * assert.deepEqual(log, ["cancelled the booking", "teardown"]);
   * ```
   */
  // deno-lint-ignore require-await
  async stop(options: StopOptions = {}): Promise<void> {
    const timeout = checkTimeout(options);
    if (this.#shutdown !== undefined) return this.wait();
    this.#shutdown = this.#stopNow(timeout);
    return this.#shutdown.then(raise);
  }

  /**
   * Waits until the scheduler has stopped (by `stop`, disposal or the start signal) and torn its
   * resources down, without stopping it. After a `stop()` that timed out, this settles only once
   * the late runs have ended and the teardown has happened (never, if a run never ends).
   *
   * @returns A promise with the same outcome as the first {@link RunningScheduler.stop} call.
   *
   * @example Wait for a stop requested elsewhere
   * ```ts
   * import { Scheduler } from "@cano/cano/scheduler";
   * import { Workflow } from "@cano/cano";
   *
   * const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
   * const controller = new AbortController();
   * const running = await new Scheduler()
   *   .manual("job", workflow, "go")
   *   .start({ signal: controller.signal });
   * setTimeout(() => controller.abort(), 10);
   * await running.wait();
   * ```
   */
  wait(): Promise<void> {
    return this.#done.then(raise);
  }

  /**
   * Stops the scheduler with the default timeout, for `await using`: exactly
   * {@link RunningScheduler.stop} without options (after an earlier stop, it settles like
   * `wait()`).
   *
   * @returns A promise that resolves once the scheduler has stopped and released its resources.
   *
   * @example Scope a scheduler
   * ```ts
   * import { Scheduler } from "@cano/cano/scheduler";
   * import { Workflow } from "@cano/cano";
   *
   * const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
   * {
   *   await using running = await new Scheduler().every("tick", workflow, "go", 1_000).start();
   *   running.list();
   * } // stopped here
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  #lookup(id: string, method: string): FlowState {
    if (this.#phase !== "running") {
      throw new CanoError(
        `Scheduler not running — it was stopped, so ${method}("${id}") is refused`,
        { category: "workflow" },
      );
    }
    const flow = this.#flows.get(id);
    if (flow === undefined) {
      throw new CanoError(`No workflow registered with id "${id}"`, { category: "workflow" });
    }
    return flow;
  }

  /** The first stop(): resolves with its outcome, at the timeout or once all is released. */
  async #stopNow(timeout: number): Promise<CanoError | undefined> {
    this.#phase = "stopping";
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#runs.halt(new CancelledError("Scheduler is stopping"));
    // No run can start any more, so the runs in flight only end: once none is left, nothing
    // uses the resources.
    const inFlight = this.#runs.inFlight;
    const settled = inFlight.settled();
    const released = settled.then(() => teardown(this.#resources));
    const error = await inFlight.within(settled, timeout)
      ? undefined
      : inFlight.timeoutError(timeout);
    const done = released.then(() => {
      this.#phase = "stopped";
      this.#resolveDone(error);
    });
    // A timeout is reported now, on time; the teardown follows the late runs (see wait()).
    if (error === undefined) await done;
    return error;
  }
}
