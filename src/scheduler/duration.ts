// Durations as the scheduler accepts them: milliseconds, or a string with a unit ("250ms", "30s",
// "5m", "1.5h", "1d"). One parser for every option that takes a duration.

/**
 * A duration: milliseconds, or a number with a unit — `ms`, `s`, `m` (minutes), `h` or `d`.
 *
 * @example Five minutes, three ways
 * ```ts
 * import type { Duration } from "@cano/cano/scheduler";
 *
 * const a: Duration = 300_000;
 * const b: Duration = "5m";
 * const c: Duration = "300s";
 * console.log(a, b, c);
 * ```
 */
export type Duration =
  | number
  | `${number}ms`
  | `${number}s`
  | `${number}m`
  | `${number}h`
  | `${number}d`;

const UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const PATTERN = /^(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h|d)$/;

/**
 * The milliseconds of a duration, `undefined` when `value` is neither a finite number nor a number
 * with a unit (callers check their own bounds and name the value in their refusal).
 *
 * @param value The duration.
 * @returns The milliseconds, or `undefined`.
 */
export function durationMs(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  if (typeof value !== "string") return undefined;
  const match = PATTERN.exec(value.trim());
  return match === null ? undefined : Number(match[1]) * UNITS[match[2]!]!;
}

/** What a refusal adds for a string that is not a duration. */
export function durationHint(value: unknown): string {
  return typeof value === "string"
    ? ' (a duration is a number with a unit: "250ms", "30s", "5m", "1h", "1d")'
    : "";
}
