// Deno Deploy: the scheduler's flows as Deno.cron jobs. Each invocation runs one tick of one flow
// to completion with the same shared rules as a coordinated RunningScheduler (fire-once key,
// shared backoff and trip, per-tick run id), so isolates invoked for the same tick run it once.

import { safeString } from "../describe.ts";
import { CancelledError, ConfigurationError, messageOf } from "../errors.ts";
import { readOptions } from "../options.ts";
import type { Resources } from "../resources.ts";
import type { FlowSpec } from "../scheduler/flow.ts";
import { runScheduled, scheduledRunId, type ScheduledRunOptions } from "../scheduler/run_flow.ts";
import { flowsForCron, type Scheduler } from "../scheduler/scheduler.ts";
import { checkCoordinated } from "../scheduler/shared_flows.ts";
import {
  type CoordinationSource,
  type FlowRunMarker,
  resolveCoordination,
} from "./coordination.ts";
import { planDenoCron } from "./deno_cron_schedule.ts";
import { schedulerReporter } from "../observe/reporter.ts";
import type { FlowCoordinator, FlowSkipReason } from "./shared_flow.ts";

/**
 * How far before its tick an invocation still counts as that tick's (clocks differ a little): an
 * invocation belongs to the latest tick at or before `now + TOLERANCE`.
 */
const TOLERANCE = 5_000;

/**
 * The shape of `Deno.cron` that {@link registerDenoCron} calls: a name, a five-field UTC pattern,
 * options (an abort signal that unregisters the job) and the handler. `Deno.cron` itself fits;
 * tests inject their own.
 *
 * @example A recording stand-in
 * ```ts
 * import type { DenoCronFunction } from "@cano/cano/scheduler";
 * import assert from "node:assert/strict";
 *
 * const jobs = new Map<string, () => Promise<void>>();
 * const cron: DenoCronFunction = (name, _schedule, _options, handler) => {
 *   jobs.set(name, handler);
 * };
 * cron("nightly", "0 3 * * *", {}, () => Promise.resolve());
 * assert.ok(jobs.has("nightly"));
 * ```
 */
export type DenoCronFunction = (
  name: string,
  schedule: string,
  options: { signal?: AbortSignal },
  handler: () => Promise<void>,
) => unknown;

/**
 * What one invocation of a flow's Deno.cron job did: it ran the tick (`"completed"`, `"failed"`,
 * `"cancelled"`), left it (`"skipped"`, with the reason: another isolate claimed it, or the flow
 * runs elsewhere, backs off or is tripped), or the store failed (`"error"`: the tick does not run).
 *
 * @example Log every tick
 * ```ts
 * import type { DenoCronTick } from "@cano/cano/scheduler";
 *
 * const log = (tick: DenoCronTick): void =>
 *   console.log(`${tick.id} ${tick.scheduledAt.toISOString()} ${tick.outcome} ${tick.reason ?? ""}`);
 * log;
 * ```
 */
export interface DenoCronTick {
  /** The flow's id. */
  readonly id: string;
  /** The tick the invocation belongs to. */
  readonly scheduledAt: Date;
  /** What happened. */
  readonly outcome: "completed" | "failed" | "cancelled" | "skipped" | "error";
  /** Why the tick was skipped. */
  readonly reason?: FlowSkipReason;
  /** The run's id, for a checkpointed workflow that ran. */
  readonly runId?: string;
  /** What the run threw (`failed`, `cancelled`), or the store's error (`error`). */
  readonly error?: unknown;
}

/** Options of {@link registerDenoCron}. */
export interface DenoCronOptions {
  /**
   * Where ticks are claimed and flow state is shared: a `KvCheckpointStore` (on Deno Deploy, on
   * `await Deno.openKv()`), a `MemoryCheckpointStore`, or any `Coordination`. Use the same store
   * as the schedulers (if any) that share these flows.
   */
  store: CoordinationSource;
  /** The cron function. Default: `Deno.cron` (Deno Deploy, or `deno run --unstable-cron`). */
  cron?: DenoCronFunction;
  /** Unregisters every job when aborted (handy locally and in tests; Deploy needs none). */
  signal?: AbortSignal;
  /** This isolate's name in the store's run markers. Default: a unique id. */
  instanceId?: string;
  /**
   * How often, in ms, a running tick renews its claim and looks for a `cancelFlow` request
   * (as `StartOptions.pollInterval`). Default 1 000.
   */
  pollInterval?: number;
  /** Called after every invocation with what it did (errors it throws are reported, not raised). */
  onTick?: (tick: DenoCronTick) => void;
}

/**
 * A flow registered with Deno.cron.
 *
 * @example Read the registrations
 * ```ts
 * import type { DenoCronRegistration } from "@cano/cano/scheduler";
 * import assert from "node:assert/strict";
 *
 * const registration: DenoCronRegistration = { id: "sync", name: "sync", schedule: "*\/5 * * * *" };
 * assert.equal(registration.name, registration.id);
 * ```
 */
export interface DenoCronRegistration {
  /** The flow's id. */
  readonly id: string;
  /** The Deno.cron name (the flow id). */
  readonly name: string;
  /** The Deno.cron pattern (five fields, UTC). */
  readonly schedule: string;
}

/**
 * Runs a scheduler's flows on Deno Deploy: registers every cron and interval flow with
 * `Deno.cron` (call it at the top level of the main module, as Deploy requires), and runs one
 * tick to completion per invocation. The ticks are claimed in `store` with the same fire-once
 * keys as a `RunningScheduler` started with `coordination`, so two isolates invoked for the same
 * tick (or an isolate and a running scheduler) run it once; the flow's shared state (backoff,
 * trip) is respected and updated exactly as the running scheduler does, and the tick runs under
 * its own run id (`${flowId}@${tick ISO}`), with the workflow's resources set up before and torn
 * down after it.
 *
 * Everything is checked before anything is registered, each refusal a `ConfigurationError`:
 *
 * - a cron flow must read in UTC (Deno.cron has no time zone) and have no seconds field (a
 *   six-field expression is accepted when its seconds are `0`, and the field is dropped); only
 *   standard syntax (numbers, names, `*`, ranges, lists, steps, the usual `@` shortcuts) passes,
 *   and not both a day of month and a day of week; a pattern that never matches within five years
 *   is refused (Deno.cron would crash the process on it);
 * - an interval flow maps only to an exact pattern: a number of minutes that divides an hour
 *   (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30), of hours that divides a day (1, 2, 3, 4, 6, 8, 12),
 *   or one day; its ticks are the same epoch-aligned grid a coordinated scheduler uses, and its
 *   `initialDelay` is ignored;
 * - the flow id must be a valid Deno.cron name (letters, digits, spaces, `-`, `_`; 64 at most);
 * - manual flows are left out (trigger them from a `RunningScheduler` on the same store).
 *
 * Afterwards the scheduler accepts no new flows (it may still be started). An invocation never
 * throws (Deno.cron would retry it): what happened goes to `onTick`, and store failures also to
 * `console.error`.
 *
 * @param scheduler The flows.
 * @param options The store, and optionally the cron function, an unregistering signal and more.
 * @returns The flows registered, in registration order.
 * @throws {ConfigurationError} When `Deno.cron` is missing (run with `--unstable-cron`), an option
 * is invalid, a flow cannot run on Deno.cron, or the scheduler was already registered.
 *
 * @example Register, then run a tick by hand
 * ```ts
 * import { registerDenoCron, type DenoCronTick, Scheduler } from "@cano/cano/scheduler";
 * import { MemoryCheckpointStore, Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
 * const scheduler = new Scheduler()
 *   .cron("nightly", workflow, "go", "0 0 3 * * *")
 *   .every("sync", workflow, "go", 300_000)
 *   .manual("adhoc", workflow, "go");
 * const jobs = new Map<string, () => Promise<void>>();
 * const ticks: DenoCronTick[] = [];
 * const registered = registerDenoCron(scheduler, {
 *   store: new MemoryCheckpointStore(),
 *   cron: (name, _schedule, _options, handler) => void jobs.set(name, handler),
 *   onTick: (tick) => ticks.push(tick),
 * });
 * assert.deepEqual(registered.map((r) => r.schedule), ["0 3 * * *", "*\/5 * * * *"]);
 * await jobs.get("sync")!();
 * await jobs.get("sync")!(); // the same tick again: another isolate would skip it too
 * assert.deepEqual(ticks.map((t) => t.outcome), ["completed", "skipped"]);
 * ```
 */
export function registerDenoCron(
  scheduler: Scheduler,
  options: DenoCronOptions,
): DenoCronRegistration[] {
  const given = readOptions<DenoCronOptions>(options, "registerDenoCron options", [
    "store",
    "cron",
    "signal",
    "instanceId",
    "pollInterval",
    "onTick",
  ]);
  const cron = given.cron ?? denoCron();
  if (typeof cron !== "function") {
    throw new ConfigurationError(
      `Option cron must be a function like Deno.cron, received ${safeString(cron)}`,
    );
  }
  const coordination = resolveCoordination(given.store, "Option store");
  const signal = given.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new ConfigurationError(
      `Option signal must be an AbortSignal, received ${safeString(signal)}`,
    );
  }
  const onTick = given.onTick;
  if (onTick !== undefined && typeof onTick !== "function") {
    throw new ConfigurationError(
      `Option onTick must be a function, received ${safeString(onTick)}`,
    );
  }
  const { coordinator, pollInterval } = checkCoordinated(
    coordination,
    given.instanceId,
    given.pollInterval,
  );
  const plans = flowsForCron(scheduler, (flows) => planDenoCron(flows, Date.now()));
  const job = { coordinator, pollInterval, onTick, scheduler };
  return plans.map(({ flow, name, schedule }) => {
    try {
      const result = cron(
        name,
        schedule,
        signal === undefined ? {} : { signal },
        () => runCronTick(flow, job),
      );
      if (isThenable(result)) {
        result.then(
          undefined,
          (error: unknown) =>
            console.error(`cano: Deno.cron job "${name}" failed: ${messageOf(error)}`),
        );
      }
    } catch (error) {
      throw new ConfigurationError(
        `Deno.cron refused flow "${flow.id}" (name "${name}", pattern "${schedule}"): ${
          messageOf(error)
        }`,
        { cause: error },
      );
    }
    return Object.freeze({ id: flow.id, name, schedule });
  });
}

function denoCron(): DenoCronFunction {
  const cron = (globalThis as { Deno?: { cron?: unknown } }).Deno?.cron;
  if (typeof cron === "function") return cron as DenoCronFunction;
  throw new ConfigurationError(
    'Deno.cron is not available: run with --unstable-cron (or add "cron" to "unstable" in ' +
      "deno.json); Deno Deploy has it. Or pass a cron function as the cron option",
  );
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as { then?: unknown }).then === "function";
}

interface CronJob {
  readonly coordinator: FlowCoordinator;
  readonly pollInterval: number;
  readonly onTick: ((tick: DenoCronTick) => void) | undefined;
  /** The scheduler builder: its reporter takes the ticks' spans (`instrument(scheduler)`). */
  readonly scheduler: Scheduler;
}

/** One invocation: the tick it belongs to, claimed, run, recorded. Never rejects. */
async function runCronTick(flow: FlowSpec, job: CronJob): Promise<void> {
  const now = Date.now();
  const schedule = flow.schedule;
  const tick = schedule.kind === "every"
    ? Math.floor((now + TOLERANCE) / schedule.interval) * schedule.interval
    : schedule.kind === "cron"
    ? schedule.cron.latest(now + TOLERANCE) ?? now
    : now;
  const report = (result: Omit<DenoCronTick, "id" | "scheduledAt">): void => {
    if (job.onTick === undefined) return;
    try {
      job.onTick({ id: flow.id, scheduledAt: new Date(tick), ...result });
    } catch (error) {
      console.error(`cano: onTick of flow "${flow.id}" threw: ${messageOf(error)}`);
    }
  };
  const { coordinator } = job;
  let begun;
  try {
    begun = await coordinator.begin({
      spec: flow,
      scheduledAt: tick,
      source: schedule.kind === "cron" ? "cron" : "interval",
      runId: (due, count) => scheduledRunId(flow.workflow, flow.id, due, undefined, count),
    });
  } catch (error) {
    console.error(`cano: Deno.cron tick of flow "${flow.id}" not run: ${messageOf(error)}`);
    report({ outcome: "error", error });
    return;
  }
  if (begun.kind === "skip") {
    report({ outcome: "skipped", reason: begun.reason });
    return;
  }
  const marker = begun.marker;
  const controller = new AbortController();
  const stopBeat = heartbeat(flow, job, marker, controller);
  // A traced tick, as the scheduler's own: a `cano.tick` span, active while the run goes.
  const spans = schedulerReporter(job.scheduler).spans();
  const span = spans?.start({
    kind: "tick",
    workflow: flow.workflow.name ?? "",
    flow: flow.id,
    source: schedule.kind === "cron" ? "cron" : "interval",
    due: tick,
    lateness: Math.max(0, now - tick),
  }, undefined);
  let state: string | undefined;
  let error: unknown;
  let failed = false;
  try {
    const resources = flow.workflow.resources as Resources;
    await resources.setupAll();
    try {
      const options: ScheduledRunOptions<unknown> = { signal: controller.signal };
      const data = flow.data?.();
      if (data !== undefined) options.data = data;
      if (marker.runId !== null) options.id = marker.runId;
      const run = () => runScheduled(flow.workflow, flow.initial, options);
      state = (await (spans === undefined ? run() : spans.within(span!, run))).state;
    } finally {
      await resources.teardownAll();
    }
  } catch (thrown) {
    error = thrown;
    failed = true;
  }
  await stopBeat();
  let outcome: DenoCronTick["outcome"] = "completed";
  try {
    outcome = (await coordinator.finish(flow, marker, { at: Date.now(), error, failed })).outcome;
  } catch (storeError) {
    console.error(
      `cano: Deno.cron tick of flow "${flow.id}" ran, but its outcome was not recorded: ${
        messageOf(storeError)
      }`,
    );
    outcome = failed ? "failed" : "completed";
  }
  spans?.end(span, { failed: outcome === "failed", error, outcome, next: state });
  const runId = marker.runId === null ? {} : { runId: marker.runId };
  report(failed ? { outcome, ...runId, error } : { outcome, ...runId });
}

/**
 * Renews the run's claim every `pollInterval` and aborts the run on a cancel request; the
 * returned function stops it and waits for a renewal in flight.
 */
function heartbeat(
  flow: FlowSpec,
  job: CronJob,
  marker: FlowRunMarker,
  controller: AbortController,
): () => Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let beat: Promise<void> = Promise.resolve();
  let stopped = false;
  const arm = (): void => {
    timer = setTimeout(() => {
      beat = (async () => {
        try {
          const { cancelled, record } = await job.coordinator.heartbeat(flow.id, marker);
          if (cancelled) {
            controller.abort(
              new CancelledError(
                `Flow "${flow.id}" was cancelled by cancelFlow() on instance "${
                  record.cancel?.by ?? "?"
                }"`,
              ),
            );
          }
        } catch (error) {
          console.error(`cano: renewing the run of flow "${flow.id}" failed: ${messageOf(error)}`);
        }
        if (!stopped) arm();
      })();
    }, job.pollInterval);
  };
  arm();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await beat;
  };
}
