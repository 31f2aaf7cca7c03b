// Validation of the crash harness's inputs: every bad value becomes a ConfigurationError that
// names the value and says what to pass instead.

import { safeString } from "../describe.ts";
import { ConfigurationError } from "../errors.ts";
import { isRunStore, type RowKind, type RunStore } from "../recovery/checkpoint.ts";
import type { CrashFilter } from "./crash.ts";

/**
 * Validates a store to wrap.
 *
 * @param store The candidate.
 * @param what The caller, for the message.
 * @returns The store.
 */
export function checkRunStore(store: unknown, what: string): RunStore {
  const candidate = store as RunStore | null;
  const rows = typeof candidate?.append === "function" && typeof candidate.loadRun === "function" &&
    typeof candidate.clear === "function";
  if (!rows || !isRunStore(candidate as RunStore)) {
    throw new ConfigurationError(
      `${what} needs a RunStore (append, loadRun, clear and claim, renew, release, finish, ` +
        `getRun, listRuns, requestCancel, pollCancel, listExpired, noteRun), received ${
          safeString(store)
        }; wrap an InMemoryCheckpointStore, a KvCheckpointStore or your own full store`,
    );
  }
  return candidate as RunStore;
}

/**
 * Validates a crash count: `undefined` or a positive integer.
 *
 * @param k The count.
 * @param what Its name, for the message.
 * @returns The count.
 */
export function checkK(k: unknown, what: string): number | undefined {
  if (k === undefined) return undefined;
  if (typeof k !== "number" || !Number.isSafeInteger(k) || k < 1) {
    throw new ConfigurationError(
      `${what} must be a positive integer (how many checkpoint rows to commit before the ` +
        `crash), received ${safeString(k)}; use 1 to crash right after the first row`,
    );
  }
  return k;
}

/**
 * Validates the row filter of a crashing store.
 *
 * @param options The options holding `kinds` and `id`.
 * @param what The caller, for the message.
 * @returns The filter.
 */
export function checkFilter(
  options: CrashFilter,
  what: string,
): { kinds: ReadonlySet<RowKind> | undefined; id: string | undefined } {
  const { kinds, id } = options;
  if (id !== undefined && (typeof id !== "string" || id.length === 0)) {
    throw new ConfigurationError(
      `${what} needs id as a non-empty run id, received ${safeString(id)}`,
    );
  }
  if (kinds === undefined) return { kinds: undefined, id };
  if (!Array.isArray(kinds) || kinds.length === 0 || kinds.some((kind) => !KINDS.has(kind))) {
    throw new ConfigurationError(
      `${what} needs kinds as a non-empty array of row kinds (${[...KINDS].join(", ")}), ` +
        `received ${safeString(kinds)}`,
    );
  }
  return { kinds: new Set(kinds), id };
}

const KINDS: ReadonlySet<string> = new Set<RowKind>([
  "state_entry",
  "compensation_completion",
  "step_cursor",
  "rollback",
  "compensated",
]);

/** An array of strings, copied; `what` names it in the message. */
export function strings(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) {
    throw new ConfigurationError(
      `runAndKill needs ${what} as an array of strings, received ${safeString(value)}`,
    );
  }
  return [...value];
}

/** An environment object of strings, copied. */
export function checkEnv(env: unknown): Record<string, string> {
  if (env === undefined) return {};
  if (
    typeof env !== "object" || env === null ||
    Object.values(env).some((value) => typeof value !== "string")
  ) {
    throw new ConfigurationError(
      `runAndKill needs env as an object of strings, received ${safeString(env)}`,
    );
  }
  return { ...env as Record<string, string> };
}

/** A positive number of milliseconds a timer can wait. */
export function checkMs(ms: unknown, what: string): number {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms <= 0 || ms > 2_147_483_647) {
    throw new ConfigurationError(
      `${what} must be a number of milliseconds above 0 (at most 2147483647), received ${
        safeString(ms)
      }`,
    );
  }
  return ms;
}
