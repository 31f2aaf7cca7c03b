// Which Deno.cron pattern a scheduler flow becomes, or why it cannot: Deno.cron reads standard
// five-field expressions in UTC, with no seconds field, and panics (it does not throw) on a
// pattern that never matches. Every check happens here, before anything is registered.

import { Cron } from "croner";
import { ConfigurationError, messageOf } from "../errors.ts";
import type { FlowSpec } from "../scheduler/flow.ts";

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** How far ahead a pattern must match at least once. */
const HORIZON = 5 * 366 * DAY;
/** Deno.cron names: ASCII letters, digits, spaces, hyphens and underscores, at most 64. */
const NAME = /^[A-Za-z0-9 _-]{1,64}$/;
/** A numeric field every cron reads alike: numbers, ranges, `*`, steps, lists. */
const STANDARD = /^(?:\*|\d+(?:-\d+)?)(?:\/\d+)?(?:,(?:\*|\d+(?:-\d+)?)(?:\/\d+)?)*$/;

const MACROS: Readonly<Record<string, string>> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};
const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/** One field of a five-field expression. */
interface Field {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  /** Names of values, from `min` on (months JAN = 1, days SUN = 0). */
  readonly names?: readonly string[];
}

const FIELDS: readonly Field[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTHS },
  // 7 is Sunday too; values are folded onto 0-6 below.
  { name: "day of week", min: 0, max: 7, names: DAYS },
];

/** A flow as Deno.cron runs it. */
export interface DenoCronPlan {
  /** The flow. */
  readonly flow: FlowSpec;
  /** The Deno.cron name (the flow id). */
  readonly name: string;
  /** The five-field UTC pattern. */
  readonly schedule: string;
}

/**
 * The Deno.cron plan of every scheduled flow (manual flows have none), checking all of them first.
 *
 * @throws {ConfigurationError} At the first flow Deno.cron cannot run as scheduled.
 */
export function planDenoCron(flows: readonly FlowSpec[], now: number): DenoCronPlan[] {
  const plans: DenoCronPlan[] = [];
  for (const flow of flows) {
    if (flow.public.kind === "manual") continue;
    const name = cronName(flow.id);
    const schedule = flow.public.kind === "every"
      ? intervalPattern(flow.id, flow.public.interval)
      : cronPattern(flow.id, flow.public.expression, flow.public.timezone);
    checkMatches(flow.id, schedule, now);
    plans.push({ flow, name, schedule });
  }
  return plans;
}

function cronName(id: string): string {
  if (NAME.test(id)) return id;
  throw new ConfigurationError(
    `Flow id "${id}" cannot be a Deno.cron name: use at most 64 ASCII letters, digits, spaces, ` +
      "hyphens and underscores",
  );
}

/** The exact cron pattern of an interval, when it has one. */
function intervalPattern(id: string, interval: number): string {
  if (interval % MINUTE === 0) {
    const minutes = interval / MINUTE;
    if (minutes < 60 && 60 % minutes === 0) {
      return minutes === 1 ? "* * * * *" : `*/${minutes} * * * *`;
    }
  }
  if (interval % HOUR === 0) {
    const hours = interval / HOUR;
    if (hours < 24 && 24 % hours === 0) return hours === 1 ? "0 * * * *" : `0 */${hours} * * *`;
  }
  if (interval === DAY) return "0 0 * * *";
  throw new ConfigurationError(
    `Interval ${interval} ms of flow "${id}" has no exact Deno.cron pattern: the intervals that ` +
      "map are 1, 2, 3, 4, 5, 6, 10, 12, 15, 20 or 30 minutes, 1, 2, 3, 4, 6, 8 or 12 hours, " +
      "and one day (a tick every multiple of the interval since the Unix epoch, in UTC)",
  );
}

/** A scheduler cron expression as a Deno.cron pattern. */
function cronPattern(id: string, expression: string, timezone: string): string {
  const refuse = (why: string): never => {
    throw new ConfigurationError(
      `Cron expression "${expression}" of flow "${id}" cannot run on Deno.cron: ${why}`,
    );
  };
  if (timezone !== "UTC" && timezone !== "Etc/UTC") {
    refuse(
      `Deno.cron has no time zone (it reads patterns in UTC), and the flow uses "${timezone}"`,
    );
  }
  let text = expression.trim();
  if (text.startsWith("@")) {
    text = MACROS[text.toLowerCase()] ??
      refuse(
        "of the @ shortcuts, only @yearly, @annually, @monthly, @weekly, @daily, " +
          "@midnight and @hourly exist there",
      );
  }
  let parts = text.split(/\s+/);
  if (parts.length === 6) {
    if (!/^0+$/.test(parts[0]!)) {
      refuse(
        `it has a seconds field ("${parts[0]}"), and Deno.cron runs at most once a minute, on ` +
          'the minute (seconds "0" or a five-field expression fit)',
      );
    }
    parts = parts.slice(1);
  }
  if (parts.length !== 5) refuse("Deno.cron needs five fields (minute hour day month weekday)");
  const sets = parts.map((part, index) => parseField(part, FIELDS[index]!, refuse));
  const [, , days, , weekdays] = sets;
  if (days!.size < 31 && weekdays!.size < 7) {
    refuse(
      "it restricts both the day of month and the day of week, which cron implementations " +
        "combine differently (either or both); restrict one of them",
    );
  }
  // Restricted fields as written when in standard numeric syntax, else as explicit lists; days of
  // week as names, since Deno.cron has read day numbers both as 0-6 and as 1-7 (Sunday first).
  const canonical = sets.map((values, index) => {
    const field = FIELDS[index]!;
    const full = field.names === DAYS ? 7 : field.max - field.min + 1;
    if (values.size === full) return "*";
    if (field.names !== DAYS && STANDARD.test(parts[index]!)) return parts[index]!;
    const sorted = [...values].sort((a, b) => a - b);
    return field.names === DAYS ? sorted.map((d) => DAYS[d]).join(",") : sorted.join(",");
  });
  return canonical.join(" ");
}

/** The values a field matches (days of week folded onto 0-6). */
function parseField(text: string, field: Field, refuse: (why: string) => never): Set<number> {
  const values = new Set<number>();
  const value = (token: string): number => {
    const named = field.names?.indexOf(token.toUpperCase()) ?? -1;
    if (named >= 0) return named + (field.names === MONTHS ? 1 : 0);
    if (!/^\d+$/.test(token)) {
      refuse(
        `"${token}" in the ${field.name} field is not supported there (only numbers, names, ` +
          "*, ranges, lists and steps)",
      );
    }
    const number = Number(token);
    if (number < field.min || number > field.max) {
      refuse(`${number} is out of range for the ${field.name} field`);
    }
    return number;
  };
  for (const item of text.split(",")) {
    const [range = "", stepText, extra] = item.split("/");
    if (extra !== undefined || range === "") refuse(`"${item}" is not a valid ${field.name}`);
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!/^\d+$/.test(stepText ?? "1") || step < 1) {
      refuse(`step "${stepText}" in the ${field.name} field must be a whole number of at least 1`);
    }
    let from: number;
    let to: number;
    if (range === "*") [from, to] = [field.min, field.max];
    else if (range.includes("-")) {
      const [low = "", high = ""] = range.split("-");
      [from, to] = [value(low), value(high)];
      if (from > to) refuse(`range "${range}" in the ${field.name} field runs backwards`);
    } else {
      from = value(range);
      to = stepText === undefined ? from : field.max;
    }
    for (let v = from; v <= to; v += step) values.add(field.names === DAYS ? v % 7 : v);
  }
  return values;
}

/** Refuses a pattern that matches nowhere in the next five years (Deno.cron would panic). */
function checkMatches(id: string, schedule: string, now: number): void {
  let next: Date | null;
  try {
    next = new Cron(schedule, { utcOffset: 0, mode: "5-part", paused: true }).nextRun(
      new Date(now),
    );
  } catch (error) {
    throw new ConfigurationError(
      `Deno.cron pattern "${schedule}" of flow "${id}" is invalid: ${messageOf(error)}`,
      { cause: error },
    );
  }
  if (next === null || next.getTime() - now > HORIZON) {
    throw new ConfigurationError(
      `Deno.cron pattern "${schedule}" of flow "${id}" never matches within five years ` +
        "(Deno.cron would crash the process on it)",
    );
  }
}
