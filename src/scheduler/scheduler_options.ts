import type { Duration } from "./duration.ts";
// The options of the scheduler builder and of `Scheduler.start`, and the one place they are
// checked.

import { safeString } from "../describe.ts";
import { ConfigurationError, messageOf } from "../errors.ts";
import { readOptions } from "../options.ts";
import { type CoordinationSource, resolveCoordination } from "../coordination/coordination.ts";
import type { BackoffPolicy } from "./backoff.ts";
import type { CatchUpPolicy } from "./flow.ts";
import { checkCoordinated, type CoordinatedStart } from "./shared_flows.ts";

/** Options of every flow registration. */
export interface FlowOptions<D> {
  /** Makes the run data of each run (the engine's default, `{}`, when absent). */
  data?: () => D;
  /** The flow's backoff policy (same as {@link Scheduler.setBackoff}). Default: cano's. */
  backoff?: BackoffPolicy;
}

/** Options of the flows that run on a schedule ({@link Scheduler.every}, {@link Scheduler.cron}). */
export interface ScheduledFlowOptions<D> extends FlowOptions<D> {
  /**
   * With `coordination` (see {@link StartOptions.coordination}): what the first instance to start
   * does about the ticks that fell while no instance was up. `"skip"` (the default) forgets them;
   * `"one"` runs one tick at once for the whole missed window (the latest missed tick, under its
   * own run id), if the flow is neither tripped nor backing off. A flow seen for the first time
   * has missed nothing. Without coordination no past is known and this has no effect.
   */
  catchUp?: CatchUpPolicy;
}

/** Options of {@link Scheduler.every}. */
export interface EveryOptions<D> extends ScheduledFlowOptions<D> {
  /**
   * Delay before the first run, from `start()`: ms or a duration string (`"10s"`). Default 0: the
   * first run starts at once (cano's behaviour). Staggering the first runs of many flows spreads
   * their load.
   */
  initialDelay?: Duration;
}

/** Options of {@link Scheduler.cron}. */
export interface CronOptions<D> extends ScheduledFlowOptions<D> {
  /** The IANA time zone the expression is read in, e.g. `"Europe/Berlin"`. Default `"UTC"`. */
  timezone?: string;
}

/** Options of {@link Scheduler.start}. */
export interface StartOptions {
  /** Aborting it stops the scheduler (as `stop()` with the default timeout). */
  signal?: AbortSignal;
  /**
   * Shares the flows with every other scheduler started on the same store (other processes on
   * one KV file, Deno Deploy isolates on one KV database, or other schedulers of this process on
   * one `MemoryCheckpointStore`). Every instance registers the same flows; then:
   *
   * - each scheduled tick of a flow runs **once** across instances (a fire-once key per flow and
   *   tick, created if absent), under its own run id (`${flowId}@${tick ISO}`);
   * - the flow's state (run count, failure streak, backoff window, trip) lives in the store, so a
   *   trip, a backoff or a `resetFlow` on one instance holds on all, and a restarted instance
   *   picks it up; a run never overlaps another run of its flow on any instance;
   * - `trigger`, `resetFlow` and `cancelFlow` work from any instance (`cancelFlow` reaches the
   *   instance running the flow within about {@link StartOptions.pollInterval});
   * - interval flows tick on a grid aligned to the Unix epoch (at multiples of the interval, the
   *   first at or after `start() + initialDelay`), so that every instance agrees on the ticks;
   * - missed ticks follow each flow's {@link ScheduledFlowOptions.catchUp} policy.
   *
   * A store failure never stops the scheduler: the tick it hit does not run, the flow reports it
   * (`lastError`, a `"flowerror"` event) and the next tick is tried. A process that dies during a
   * run leaves the run to crash recovery (it is checkpointed under its per-tick id); its tick is
   * never fired again, and the flow is free again once the dead run's claim lapses.
   */
  coordination?: CoordinationSource;
  /**
   * With `coordination`: this instance's name in the store (in run markers). Default: a unique id
   * made of the process id and a random UUID.
   */
  instanceId?: string;
  /**
   * With `coordination`: how often, in ms, the scheduler reads the shared state of its flows (to
   * see trips, resets and runs of other instances), renews the claims of its runs and looks for
   * cancel requests. A run's claim lapses `max(5 × pollInterval, 5 s)` after its owner stopped
   * renewing it. Default 1 000; at least 10.
   */
  pollInterval?: number;
}

/** Checks a catchUp option (default `"skip"`). */
export function checkCatchUp(id: string, value: unknown): CatchUpPolicy {
  if (value === undefined || value === "skip" || value === "one") return value ?? "skip";
  throw new ConfigurationError(
    `Option catchUp of flow "${id}" must be "skip" or "one", received ${safeString(value)}`,
  );
}

/** Checks a time zone option. */
export function checkTimezone(id: string, timezone: unknown): void {
  if (typeof timezone !== "string" || timezone.length === 0) {
    throw new ConfigurationError(
      `Time zone of flow "${id}" must be a non-empty string, received ${safeString(timezone)}`,
    );
  }
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
  } catch (error) {
    throw new ConfigurationError(
      `Invalid time zone "${timezone}" for flow "${id}": ${messageOf(error)}`,
      { cause: error },
    );
  }
}

/** Checks the options of `Scheduler.start`. */
export function checkStart(
  given: StartOptions,
): { signal: AbortSignal | undefined; coordinated: CoordinatedStart | undefined } {
  const options = readOptions<StartOptions>(given, "Start options", [
    "signal",
    "coordination",
    "instanceId",
    "pollInterval",
  ]);
  const signal = options.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new ConfigurationError(
      `Option signal must be an AbortSignal, received ${safeString(signal)}`,
    );
  }
  if (options.coordination === undefined) {
    if (options.instanceId !== undefined || options.pollInterval !== undefined) {
      throw new ConfigurationError(
        "Options instanceId and pollInterval need the coordination option",
      );
    }
    return { signal, coordinated: undefined };
  }
  const coordination = resolveCoordination(options.coordination, "Option coordination");
  return {
    signal,
    coordinated: checkCoordinated(coordination, options.instanceId, options.pollInterval),
  };
}
