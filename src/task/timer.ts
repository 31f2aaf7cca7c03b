import { delay } from "../async.ts";
import { safeInstanceOf, safeString } from "../describe.ts";
import { ConfigurationError } from "../errors.ts";
import { DRIVE_AS_STEPS, type SteppedTask } from "./stepped.ts";
import {
  resolveTaskConfig,
  type ResourceMap,
  type Task,
  TaskConfig,
  type TaskContext,
} from "./task.ts";

/**
 * How long a {@link timerTask} sleeps: a duration in milliseconds, or an absolute `Date` (a past
 * date means no sleep).
 */
export type TimerWait = number | Date;

/**
 * Options of {@link timerTask}.
 *
 * @typeParam N The states `afterWait` may return.
 * @typeParam S The workflow's state union.
 * @typeParam D The run data type.
 * @typeParam R The resource map.
 */
export interface TimerTaskOptions<
  N extends string = string,
  S extends string = string,
  D = unknown,
  R extends ResourceMap = ResourceMap,
> {
  /** Task id for events and checkpoint rows; defaults to the registered state. */
  name?: string;
  /**
   * Retry and timeout policy (default: `TaskConfig.minimal()`, no retry); fields left out keep
   * those defaults; its `attemptTimeout` bounds the wait and `afterWait` together.
   */
  config?: TaskConfig;
  /** Says how long to sleep: milliseconds, or a `Date` to sleep until. Called on every run. */
  wait(ctx: TaskContext<S, D, R>): TimerWait | Promise<TimerWait>;
  /** Runs once the sleep is over and returns the next state. */
  afterWait(ctx: TaskContext<S, D, R>): N | Promise<N>;
}

/**
 * Creates a task that sleeps once, then acts: `wait(ctx)` returns a duration in milliseconds or
 * an absolute `Date`, the task sleeps that long (no sleep for `0` or a past date), then
 * `afterWait(ctx)` returns the next state. The sleep ends early, rejecting with
 * `ctx.signal.reason`, when the run is cancelled or the attempt times out.
 *
 * Registered with `Workflow.register`, the timer is durable: its deadline (now + duration, or the
 * `Date`) is checkpointed before the sleep, so a run resumed after a crash sleeps only the time
 * that is left and `wait` is not asked again (cano restarts the whole wait). Called directly as
 * `task.run(ctx)`, `wait` is evaluated on every call. An error from `wait` fails the task without
 * sleeping or calling `afterWait`; a negative or non-finite duration, or an invalid `Date`, fails
 * it with a `ConfigurationError`.
 *
 * @typeParam N The states `afterWait` may return.
 * @typeParam S The workflow's state union.
 * @typeParam D The run data type.
 * @typeParam R The resource map.
 * @param options The wait, the action and the task's name and config.
 * @returns A task object for `Workflow.register`.
 * @throws {ConfigurationError} When `wait` or `afterWait` is not a function, or the name or
 * config is invalid.
 *
 * @example Send a reminder after a delay
 * ```ts
 * import { timerTask, Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * type Step = "remind" | "done";
 * const workflow = new Workflow<Step, { sent: boolean }>()
 *   .register("remind", timerTask({
 *     wait: () => 10, // or a Date: new Date(Date.now() + 10)
 *     afterWait: (ctx) => {
 *       ctx.data.sent = true;
 *       return "done";
 *     },
 *   }))
 *   .addExitState("done");
 *
 * const result = await workflow.orchestrate("remind", { data: { sent: false } });
 * assert.equal(result.data.sent, true);
 * ```
 */
export function timerTask<
  N extends S,
  S extends string = string,
  D = unknown,
  R extends ResourceMap = ResourceMap,
>(options: TimerTaskOptions<N, S, D, R>): Task<N, S, D, R> {
  checkOptionsObject("timerTask", options);
  const { wait, afterWait } = options;
  checkFunction("timerTask", "wait", wait);
  checkFunction("timerTask", "afterWait", afterWait);
  const task = buildTask<N, S, D, R>("timerTask", options, TaskConfig.minimal(), async (ctx) => {
    await sleepUntil(deadlineOf(await wait(ctx)), ctx.signal);
    if (ctx.signal.aborted) throw ctx.signal.reason;
    return await afterWait(ctx);
  });
  // Registered with `register`, the engine drives these two steps instead of `run`: the first
  // turns the wait into an absolute deadline, which is checkpointed as the step cursor, so a run
  // resumed after a crash sleeps only what is left (cano restarts the whole wait).
  const steps: Pick<SteppedTask<TimerCursor, N, S, D, R>, "step"> = {
    step: async (ctx, cursor) => {
      if (cursor === undefined) return { more: { until: deadlineOf(await wait(ctx)) } };
      await sleepUntil(cursor.until, ctx.signal);
      if (ctx.signal.aborted) throw ctx.signal.reason;
      return { done: await afterWait(ctx) };
    },
  };
  return Object.assign(task, steps, { [DRIVE_AS_STEPS]: true as const });
}

/** The checkpointed progress of a timer: its absolute deadline in epoch milliseconds. */
interface TimerCursor {
  until: number;
}

/** Turns what `wait` returned into an absolute deadline (epoch ms), rejecting bad values. */
function deadlineOf(until: TimerWait): number {
  if (safeInstanceOf(until, Date)) {
    const target = until.getTime();
    if (Number.isNaN(target)) {
      throw new ConfigurationError(
        "timerTask wait() returned an invalid Date (its time is NaN): return a valid Date or a duration in ms",
      );
    }
    return target;
  }
  if (typeof until !== "number" || !Number.isFinite(until) || until < 0) {
    throw new ConfigurationError(
      `timerTask wait() must return a finite number of milliseconds ≥ 0 or a Date, received ${
        safeString(until)
      }`,
    );
  }
  return Date.now() + until;
}

// ── Helpers shared by the processing-model factories (poll, timer, batch); not exported by mod.ts.

/**
 * Sleeps `ms` milliseconds (no timer at all for 0), rejecting with `signal.reason` as soon as the
 * signal aborts. Any duration works: `delay` splits those beyond `setTimeout`'s limit.
 *
 * @param ms The duration, finite and ≥ 0.
 * @param signal Ends the sleep early.
 */
export async function sleepFor(ms: number, signal: AbortSignal): Promise<void> {
  if (ms > 0) await delay(ms, signal);
}

/**
 * Sleeps until `Date.now()` reaches `target` (no timer when it already has), rejecting with
 * `signal.reason` as soon as the signal aborts. The clock is read again after every wake-up, so
 * a clock set back while sleeping extends the sleep rather than ending it early.
 *
 * @param target Epoch milliseconds.
 * @param signal Ends the sleep early.
 */
export async function sleepUntil(target: number, signal: AbortSignal): Promise<void> {
  for (let left = target - Date.now(); left > 0; left = target - Date.now()) {
    await delay(left, signal);
  }
}

/**
 * Rejects anything but an options object.
 *
 * @param factory The factory's name, for the message.
 * @param options What the caller passed.
 */
export function checkOptionsObject(factory: string, options: unknown): void {
  if (typeof options !== "object" || options === null) {
    throw new ConfigurationError(
      `${factory}() needs an options object, received ${safeString(options)}`,
    );
  }
}

/**
 * Rejects a missing or non-function callback.
 *
 * @param factory The factory's name, for the message.
 * @param option The option's name.
 * @param fn What the caller passed.
 */
export function checkFunction(factory: string, option: string, fn: unknown): void {
  if (typeof fn !== "function") {
    throw new ConfigurationError(
      `${factory}() option ${option} must be a function, received ${typeof fn}`,
    );
  }
}

/**
 * Checks the common `name` and `config` options and builds the task object; the config defaults
 * to `fallback` and a given one is kept as it is.
 *
 * @param factory The factory's name, for the messages.
 * @param options The caller's name and config.
 * @param fallback The model's default configuration.
 * @param run The task body.
 * @returns The task object.
 */
export function buildTask<N extends string, S extends string, D, R extends ResourceMap>(
  factory: string,
  options: { name?: string; config?: TaskConfig },
  fallback: TaskConfig,
  run: (ctx: TaskContext<S, D, R>) => Promise<N>,
): Task<N, S, D, R> {
  const { name, config } = options;
  if (name !== undefined && (typeof name !== "string" || name.length === 0)) {
    throw new ConfigurationError(`${factory}() option name must be a non-empty string`);
  }
  if (config !== undefined) resolveTaskConfig(config); // throws ConfigurationError early
  // Fields the caller left out come from the model's default, so `{ attemptTimeout }` alone does
  // not silently switch a poll or timer to the exponential retries of TaskConfig.default().
  const task: Task<N, S, D, R> = { config: { ...fallback, ...config }, run };
  if (name !== undefined) task.name = name;
  return task;
}
