import { safeString } from "../describe.ts";
import { type Duration, durationHint, durationMs } from "./duration.ts";
import { Cron } from "croner";
import { CancelledError, ConfigurationError, messageOf } from "../errors.ts";
import type { Resources } from "../resources.ts";
import { Workflow } from "../workflow/workflow.ts";
import { type BackoffPolicy, resolveBackoff } from "./backoff.ts";
import { type CatchUpPolicy, CronSchedule, type FlowSpec, type ParsedSchedule } from "./flow.ts";
import type { FlowSchedule } from "./flow_info.ts";
import { type RunningScheduler, startRunning } from "./running.ts";
import { type AnyWorkflow, registerSchedulerTarget } from "../observe/targets.ts";
import {
  checkCatchUp,
  checkStart,
  checkTimezone,
  type CronOptions,
  type EveryOptions,
  type FlowOptions,
  type StartOptions,
} from "./scheduler_options.ts";

export type {
  CronOptions,
  EveryOptions,
  FlowOptions,
  ScheduledFlowOptions,
  StartOptions,
} from "./scheduler_options.ts";

// Assigned by a static block of Scheduler: the flows of a scheduler, for registerDenoCron.
let takeFlows: <T>(scheduler: Scheduler, plan: (flows: readonly FlowSpec[]) => T) => T;

/**
 * A workflow as the scheduler sees it: a cano {@link Workflow} (nominal: a look-alike object is
 * refused by the compiler and, if it gets through a cast, by registration with a
 * `ConfigurationError`). The state union `S` and run data `D` are read from it, so the initial
 * state and the `data` factory are type-checked against the workflow.
 *
 * @typeParam S The workflow's state union. @typeParam D Its run data type.
 *
 * @example Any Workflow fits
 * ```ts
 * import type { SchedulableWorkflow } from "@cano/cano/scheduler";
 * import { Workflow } from "@cano/cano";
 *
 * const workflow: SchedulableWorkflow<"go" | "done", { n: number }> = new Workflow<
 *   "go" | "done",
 *   { n: number }
 * >().register("go", () => "done").addExitState("done");
 * workflow.validate();
 * ```
 */
// deno-lint-ignore no-explicit-any
export type SchedulableWorkflow<S extends string, D> = Workflow<S, D, any, any, any, any>;

/**
 * Registers workflows to run on an interval, on a cron schedule or on demand, then starts them
 * all with {@link Scheduler.start}. Flows may use different workflow types. Registration checks
 * its input at once (a `ConfigurationError` for a duplicate id, a bad interval, an invalid or
 * never-matching cron expression); workflows themselves are validated when the scheduler starts.
 *
 * @example Three flows, one builder
 * ```ts
 * import { Scheduler } from "@cano/cano/scheduler";
 * import { Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const sync = new Workflow<"pull" | "done">().register("pull", () => "done").addExitState("done");
 * const report = new Workflow<"render" | "sent">().register("render", () => "sent").addExitState("sent");
 * const scheduler = new Scheduler()
 *   .every("sync", sync, "pull", 60_000)
 *   .cron("nightly", report, "render", "0 0 3 * * *", { timezone: "Europe/Berlin" })
 *   .manual("adhoc", report, "render")
 *   .setBackoff("sync", { initial: 1_000, multiplier: 2, maxDelay: 300_000, streakLimit: 5 });
 * assert.equal(scheduler.size, 3);
 * assert.ok(scheduler.has("nightly"));
 * ```
 */
export class Scheduler {
  readonly #flows = new Map<string, FlowSpec>();
  /** Parsed cron expressions by time zone and expression, shared between flows. */
  readonly #crons = new Map<string, CronSchedule>();
  #state: "building" | "starting" | "started" = "building";
  /** The flows were registered with Deno.cron: no further change. */
  #cron = false;
  /** Tells the consumers attached to this scheduler of a flow's workflow registered later. */
  readonly #announce: (workflow: AnyWorkflow) => void;

  /** Creates a scheduler with no flows. */
  constructor() {
    // An observable target (`instrument`, `logTo`): its flows' workflows, as of their call, and
    // each flow's workflow registered after it (see #add).
    this.#announce = registerSchedulerTarget(
      this,
      () => [...this.#flows.values()].map((flow) => flow.workflow),
    );
  }

  /**
   * How many flows are registered.
   *
   * @example Count flows
   * ```ts
   * import { Scheduler } from "@cano/cano/scheduler";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new Scheduler().size, 0);
   * ```
   */
  get size(): number {
    return this.#flows.size;
  }

  /**
   * Whether a flow is registered under `id`.
   *
   * @param id The flow's id.
   * @returns `true` when registered.
   *
   * @example Look a flow up
   * ```ts
   * import { Scheduler } from "@cano/cano/scheduler";
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
   * const scheduler = new Scheduler().manual("adhoc", workflow, "go");
   * assert.equal(scheduler.has("adhoc"), true);
   * assert.equal(scheduler.has("other"), false);
   * ```
   */
  has(id: string): boolean {
    return this.#flows.has(id);
  }

  /**
   * Runs `workflow` from `initial` once when the scheduler starts, then again `intervalMs` after
   * the end of each run (a fixed delay, not a fixed rate), and never inside a backoff window. A
   * tick is skipped while a run of the flow is in flight.
   *
   * @param id A unique, non-empty flow id.
   * @param workflow The workflow.
   * @param initial The state each run starts in.
   * @param interval The delay between runs: ms (positive and finite) or a {@link Duration} string
   * such as `"30s"`, `"5m"`, `"1h"`.
   * @param options Run data factory, backoff policy, and an `initialDelay` before the first run.
   * @returns This scheduler.
   * @throws {ConfigurationError} On a duplicate id or a bad interval.
   *
   * @example Every five minutes, as a duration string
   * ```ts
   * import { Scheduler } from "@cano/cano/scheduler";
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"sync" | "done">().register("sync", () => "done").addExitState("done");
   * const scheduler = new Scheduler().every("sync", workflow, "sync", "5m", { initialDelay: "10s" });
   * assert.equal(scheduler.has("sync"), true);
   * ```
   *
   * @example Every 50 ms
   * ```ts
   * import { Scheduler } from "@cano/cano/scheduler";
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * let runs = 0;
   * const workflow = new Workflow<"tick" | "done">()
   *   .register("tick", () => (runs++, "done"))
   *   .addExitState("done");
   * const running = await new Scheduler().every("ticker", workflow, "tick", 50).start();
   * await new Promise((resolve) => setTimeout(resolve, 120));
   * await running.stop();
   * assert.ok(runs >= 2, `ran ${runs} times`);
   * ```
   */
  every<S extends string, D>(
    id: string,
    workflow: SchedulableWorkflow<S, D>,
    initial: NoInfer<S>,
    interval: Duration,
    options: EveryOptions<D> = {},
  ): this {
    this.#checkNew(id, workflow, initial, options);
    const intervalMs = durationMs(interval);
    if (intervalMs === undefined || intervalMs <= 0) {
      throw new ConfigurationError(
        `Interval of flow "${id}" must be a positive, finite number of ms, received ${
          safeString(interval)
        }${durationHint(interval)}`,
      );
    }
    const initialDelay = durationMs(options.initialDelay ?? 0);
    if (initialDelay === undefined || initialDelay < 0) {
      throw new ConfigurationError(
        `Initial delay of flow "${id}" must be a finite number of ms ≥ 0, received ${
          safeString(options.initialDelay)
        }${durationHint(options.initialDelay)}`,
      );
    }
    return this.#add(
      id,
      workflow,
      initial,
      options,
      {
        kind: "every",
        interval: intervalMs,
        initialDelay,
      },
      { kind: "every", interval: intervalMs },
      checkCatchUp(id, options.catchUp),
    );
  }

  /**
   * Runs `workflow` from `initial` at every tick of a cron expression. Five fields
   * (`min hour day month weekday`) or six with seconds first (`sec min hour day month weekday`),
   * plus croner's extensions (`L`, `W`, `#`, names, `@daily` …). The expression is read in
   * `timezone` (default UTC), daylight-saving changes included: a fixed-time job that falls into
   * a skipped hour runs right after it, and runs once when an hour repeats. Ticks that fall inside
   * a backoff window or while a run is in flight are skipped, not deferred.
   *
   * @param id A unique, non-empty flow id.
   * @param workflow The workflow.
   * @param initial The state each run starts in.
   * @param expression The cron expression, parsed once, here.
   * @param options The time zone, run data factory and backoff policy.
   * @returns This scheduler.
   * @throws {ConfigurationError} On a duplicate id, an invalid expression or time zone, or an
   * expression that never matches (such as February 30).
   *
   * @example Every day at 03:00 in Berlin
   * ```ts
   * import { Scheduler } from "@cano/cano/scheduler";
   * import { ConfigurationError, Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
   * const scheduler = new Scheduler()
   *   .cron("nightly", workflow, "go", "0 3 * * *", { timezone: "Europe/Berlin" });
   * assert.throws(() => scheduler.cron("bad", workflow, "go", "0 3 * *"), ConfigurationError);
   * assert.throws(() => scheduler.cron("never", workflow, "go", "0 0 30 2 *"), /never matches/);
   * ```
   */
  cron<S extends string, D>(
    id: string,
    workflow: SchedulableWorkflow<S, D>,
    initial: NoInfer<S>,
    expression: string,
    options: CronOptions<D> = {},
  ): this {
    this.#checkNew(id, workflow, initial, options);
    if (typeof expression !== "string" || expression.trim() === "") {
      throw new ConfigurationError(
        `Cron expression of flow "${id}" must be a non-empty string, received ${
          safeString(expression)
        }`,
      );
    }
    const timezone = options.timezone ?? "UTC";
    checkTimezone(id, timezone);
    const key = `${timezone}\n${expression}`;
    let cron = this.#crons.get(key);
    if (cron === undefined) {
      cron = parseCron(id, expression, timezone);
      this.#crons.set(key, cron);
    }
    return this.#add(
      id,
      workflow,
      initial,
      options,
      { kind: "cron", cron },
      { kind: "cron", expression, timezone },
      checkCatchUp(id, options.catchUp),
    );
  }

  /**
   * Registers `workflow` to run only when `RunningScheduler.trigger(id)` is called.
   *
   * @param id A unique, non-empty flow id.
   * @param workflow The workflow.
   * @param initial The state each run starts in.
   * @param options Run data factory and backoff policy.
   * @returns This scheduler.
   * @throws {ConfigurationError} On a duplicate id.
   *
   * @example A manual flow with its own run data
   * ```ts
   * import { Scheduler } from "@cano/cano/scheduler";
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const seen: string[] = [];
   * const workflow = new Workflow<"go" | "done", { who: string }>()
   *   .register("go", (ctx) => (seen.push(ctx.data.who), "done"))
   *   .addExitState("done");
   * await using running = await new Scheduler()
   *   .manual("greet", workflow, "go", { data: () => ({ who: "ops" }) })
   *   .start();
   * const ended = new Promise((resolve) => running.addEventListener("flowend", resolve));
   * await running.trigger("greet");
   * await ended;
   * assert.deepEqual(seen, ["ops"]);
   * ```
   */
  manual<S extends string, D>(
    id: string,
    workflow: SchedulableWorkflow<S, D>,
    initial: NoInfer<S>,
    options: FlowOptions<D> = {},
  ): this {
    this.#checkNew(id, workflow, initial, options);
    return this.#add(
      id,
      workflow,
      initial,
      options,
      { kind: "manual" },
      { kind: "manual" },
      "skip",
    );
  }

  /**
   * Replaces the backoff policy of a registered flow (missing fields take the defaults: 1 s, ×2,
   * 300 s cap, jitter 0.1, never trip).
   *
   * @param id The flow's id.
   * @param policy The policy.
   * @returns This scheduler.
   * @throws {ConfigurationError} On an unknown id or a field out of range.
   *
   * @example Trip after three failures in a row
   * ```ts
   * import { Scheduler } from "@cano/cano/scheduler";
   * import { ConfigurationError, Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
   * const scheduler = new Scheduler()
   *   .every("sync", workflow, "go", 60_000)
   *   .setBackoff("sync", { initial: 5_000, streakLimit: 3 });
   * assert.throws(() => scheduler.setBackoff("missing", {}), ConfigurationError);
   * ```
   */
  setBackoff(id: string, policy: BackoffPolicy): this {
    this.#checkBuilding(id);
    const flow = this.#flows.get(id);
    if (flow === undefined) {
      throw new ConfigurationError(`No flow registered with id "${id}"`);
    }
    flow.policy = resolveBackoff(policy);
    return this;
  }

  /**
   * Starts every flow: validates each workflow and its initial state (nothing is set up when one
   * is invalid), sets each workflow's resources up once, in registration order (a failure tears
   * down those already set up, in reverse, and rejects), then arms the schedules. Interval flows
   * run at once; cron flows wait for their first tick. A scheduler starts once.
   *
   * @param options A signal that stops the scheduler when aborted.
   * @returns The live handle.
   * @throws {ConfigurationError} When a workflow or initial state is invalid, or on a second start.
   * @throws {CancelledError} When the signal aborts before the scheduler is up.
   *
   * @example Start, then stop with a signal
   * ```ts
   * import { Scheduler } from "@cano/cano/scheduler";
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
   * const scheduler = new Scheduler().manual("job", workflow, "go");
   * const controller = new AbortController();
   * const running = await scheduler.start({ signal: controller.signal });
   * await assert.rejects(scheduler.start(), /already been started/);
   * controller.abort();
   * await running.wait();
   * ```
   */
  async start(options: StartOptions = {}): Promise<RunningScheduler> {
    if (this.#state !== "building") {
      throw new ConfigurationError(
        "Scheduler has already been started; build a new Scheduler to start again",
      );
    }
    const { signal, coordinated } = checkStart(options);
    this.#state = "starting";
    try {
      throwIfAborted(signal);
      const flows = [...this.#flows.values()];
      validateFlows(flows);
      // A workflow registered under several ids (or resources shared by several workflows) is
      // set up once.
      const lifecycles = [...new Set(flows.map((flow) => flow.workflow.resources as Resources))];
      const ready: Resources[] = [];
      try {
        for (const resources of lifecycles) {
          await resources.setupAll();
          ready.push(resources);
          throwIfAborted(signal);
        }
      } catch (error) {
        for (const resources of ready.reverse()) await resources.teardownAll();
        throw error;
      }
      let running: RunningScheduler;
      try {
        running = await startRunning(flows, lifecycles, signal, coordinated, this);
      } catch (error) {
        // The store could not be read: nothing runs, so everything set up comes down again.
        for (const resources of [...lifecycles].reverse()) await resources.teardownAll();
        throw error;
      }
      this.#state = "started";
      return running;
    } catch (error) {
      this.#state = "building";
      throw error;
    }
  }

  #checkBuilding(id: string): void {
    if (this.#cron) {
      throw new ConfigurationError(
        `Cannot change flow "${id}": the scheduler's flows are registered with Deno.cron`,
      );
    }
    if (this.#state !== "building") {
      throw new ConfigurationError(
        `Cannot change flow "${id}": the scheduler has already been started`,
      );
    }
  }

  #checkNew(id: string, workflow: unknown, initial: unknown, options: FlowOptions<unknown>): void {
    if (typeof id !== "string" || id.length === 0) {
      throw new ConfigurationError(
        `Flow id must be a non-empty string, received ${safeString(id)}`,
      );
    }
    this.#checkBuilding(id);
    if (this.#flows.has(id)) throw new ConfigurationError(`Flow "${id}" already exists`);
    if (!(workflow instanceof Workflow)) {
      throw new ConfigurationError(
        `Flow "${id}" needs a Workflow, received ${describe(workflow)}`,
      );
    }
    if (typeof initial !== "string" || initial.length === 0) {
      throw new ConfigurationError(
        `Initial state of flow "${id}" must be a non-empty string, received ${safeString(initial)}`,
      );
    }
    if (typeof options !== "object" || options === null) {
      throw new ConfigurationError(
        `Options of flow "${id}" must be an object, received ${safeString(options)}`,
      );
    }
    if (options.data !== undefined && typeof options.data !== "function") {
      throw new ConfigurationError(
        `Option data of flow "${id}" must be a function returning the run data, received ${
          describe(options.data)
        }`,
      );
    }
  }

  #add<S extends string, D>(
    id: string,
    workflow: SchedulableWorkflow<S, D>,
    initial: S,
    options: FlowOptions<D>,
    schedule: ParsedSchedule,
    publicSchedule: FlowSchedule,
    catchUp: CatchUpPolicy,
  ): this {
    const policy = resolveBackoff(options.backoff);
    this.#flows.set(id, {
      id,
      workflow: workflow as unknown as FlowSpec["workflow"],
      initial,
      schedule,
      public: Object.freeze(publicSchedule),
      policy,
      data: options.data,
      catchUp,
    });
    this.#announce(workflow as unknown as AnyWorkflow);
    return this;
  }

  static {
    takeFlows = (scheduler, plan) => {
      if (scheduler.#cron) {
        throw new ConfigurationError(
          "Scheduler flows are already registered with Deno.cron; build a new Scheduler",
        );
      }
      const flows = [...scheduler.#flows.values()];
      validateFlows(flows);
      const planned = plan(flows);
      scheduler.#cron = true;
      return planned;
    };
  }
}

/**
 * Hands the flows of `scheduler`, validated, to `plan` (for `registerDenoCron`); once `plan`
 * returns, the builder refuses further changes and a second registration. Not part of the public
 * API.
 *
 * @throws {ConfigurationError} When a workflow or initial state is invalid, or on a second call.
 */
export function flowsForCron<T>(scheduler: Scheduler, plan: (flows: readonly FlowSpec[]) => T): T {
  if (!(scheduler instanceof Scheduler)) {
    throw new ConfigurationError(
      `registerDenoCron needs a Scheduler, received ${describe(scheduler)}`,
    );
  }
  return takeFlows(scheduler, plan);
}

/** Checks every flow's workflow and initial state (nothing is set up when one is invalid). */
function validateFlows(flows: readonly FlowSpec[]): void {
  for (const flow of flows) {
    try {
      flow.workflow.validate();
      flow.workflow.validateInitialState(flow.initial);
    } catch (error) {
      throw new ConfigurationError(`Flow "${flow.id}" cannot start: ${messageOf(error)}`, {
        cause: error,
      });
    }
  }
}

/** Parses and checks a cron expression once; UTC is computed without `Intl` (much faster). */
function parseCron(id: string, expression: string, timezone: string): CronSchedule {
  const zone = timezone === "UTC" || timezone === "Etc/UTC" ? { utcOffset: 0 } : { timezone };
  let next: number | undefined;
  let schedule: CronSchedule;
  try {
    schedule = new CronSchedule(
      new Cron(expression, { ...zone, mode: "5-or-6-parts", paused: true }),
    );
    next = schedule.next(Date.now());
  } catch (error) {
    throw new ConfigurationError(
      `Invalid cron expression "${expression}" for flow "${id}": ${messageOf(error)}`,
      { cause: error },
    );
  }
  if (next === undefined) {
    throw new ConfigurationError(`Cron expression "${expression}" for flow "${id}" never matches`);
  }
  return schedule;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new CancelledError("Scheduler start was aborted", { cause: signal.reason });
  }
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return value.constructor?.name ?? "an object";
  return typeof value;
}
