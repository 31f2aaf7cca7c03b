// Which ticks a coordinated flow has: every instance must compute the same ones, so interval
// flows tick on a grid aligned to the Unix epoch (multiples of the interval) rather than a fixed
// delay after the last run, which each instance would see at a different time.

import type { ParsedSchedule } from "../scheduler/flow.ts";

const MINUTE = 60_000;
const DAY = 86_400_000;

/**
 * The first tick of an interval grid at or after `from` and strictly after `after` (`NaN`: no
 * tick handled yet).
 */
export function nextGridTick(interval: number, from: number, after: number): number {
  let due = Math.ceil(from / interval) * interval;
  if (after >= due) due = (Math.floor(after / interval) + 1) * interval;
  return due;
}

/** The latest tick of a schedule at or before `at`, `undefined` when there is none. */
export function latestTick(schedule: ParsedSchedule, at: number): number | undefined {
  if (schedule.kind === "every") return Math.floor(at / schedule.interval) * schedule.interval;
  if (schedule.kind === "cron") return schedule.cron.latest(at);
  return undefined;
}

/**
 * How long a fire-once key must outlive its tick: twice the schedule's period (so the latest tick
 * before any moment is still known to have been fired), at least ten minutes (clocks and slow
 * instances), at most a week (a longer period is guarded by the record's `lastTick`).
 */
export function claimLifetime(schedule: ParsedSchedule, tick: number): number {
  let period = DAY;
  if (schedule.kind === "every") period = schedule.interval;
  else if (schedule.kind === "cron") {
    const next = schedule.cron.next(tick);
    if (next !== undefined) period = next - tick;
  }
  return Math.min(Math.max(2 * period, 10 * MINUTE), 7 * DAY);
}
