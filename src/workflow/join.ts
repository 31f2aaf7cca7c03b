import { safeString } from "../describe.ts";
// Split/join: the join strategies, their validation and their verdicts. Execution lives in
// split.ts; this file is pure logic over counts.

import { CanoError, ConfigurationError, messageOf } from "../errors.ts";

/**
 * How the branches of a split are joined:
 *
 * - `"all"`: every branch must succeed (waits for all; with `failFast`, the first failure aborts
 *   the others).
 * - `"any"`: one success is enough; the others are aborted at once.
 * - `{ quorum: n }`: at least `n` successes (waits for all).
 * - `{ percentage: p }`: at least `ceil(total × p)` successes, `p` in (0, 1] (waits for all).
 * - `{ partialResults: n }`: stops as soon as `n` branches succeeded, aborting the rest.
 * - `"partialTimeout"`: at the join timeout, aborts the rest and succeeds if at least one branch
 *   finished (either way); requires `timeout`.
 */
export type JoinStrategy =
  | "all"
  | "any"
  | { quorum: number }
  | { percentage: number }
  | { partialResults: number }
  | "partialTimeout";

/** How a split state joins its branches and where it goes next. */
export interface JoinConfig<S extends string = string> {
  /** The join strategy. */
  strategy: JoinStrategy;
  /** The state entered after a satisfied join (registered or an exit state). */
  next: S;
  /** Milliseconds from the split's start; an error for every strategy but `"partialTimeout"`. */
  timeout?: number;
  /** At most this many branches run at once (≥ 1). */
  bulkhead?: number;
  /** With `"all"`: abort the other branches on the first failure (beyond cano). */
  failFast?: boolean;
}

/**
 * The outcome of one branch, as the join state sees it in `ctx.split`.
 *
 * @typeParam V The value a successful branch returned.
 */
export type BranchResult<V = unknown> =
  | { readonly index: number; readonly status: "ok"; readonly value: V }
  | { readonly index: number; readonly status: "error"; readonly error: unknown }
  | { readonly index: number; readonly status: "cancelled" };

/**
 * What the state after a split receives as `ctx.split`.
 *
 * @typeParam V The value a successful branch returned (typed by `registerJoin`).
 */
export interface SplitOutcome<V = unknown> {
  /** One result per branch, by index. */
  readonly results: readonly BranchResult<V>[];
  /** The values of the branches that succeeded, in branch order. */
  readonly values: readonly V[];
  /** How many branches succeeded. */
  readonly successes: number;
  /** How many branches failed. */
  readonly failures: number;
  /** How many branches were aborted or never finished. */
  readonly cancelled: number;
}

/** The successful branches' values of `results`, in branch order. */
export function okValues<V>(results: readonly BranchResult<V>[]): V[] {
  return results.flatMap((result) => result.status === "ok" ? [result.value] : []);
}

/** Checks a join configuration's shape at registration (cano §1.4 plus our own options). */
export function checkJoinConfig(state: string, join: JoinConfig): void {
  if (typeof join !== "object" || join === null) {
    throw new ConfigurationError(`Split state "${state}" needs a join config object`);
  }
  const where = `Split state "${state}"`;
  const strategy = join.strategy;
  if (strategy === "partialTimeout" && join.timeout === undefined) {
    throw new ConfigurationError(`${where}: the "partialTimeout" strategy requires a timeout`);
  }
  if (typeof strategy === "object" && strategy !== null) {
    if ("percentage" in strategy) {
      const p = strategy.percentage;
      if (typeof p !== "number" || !Number.isFinite(p) || p <= 0 || p > 1) {
        throw new ConfigurationError(
          `${where}: percentage must be in (0, 1], received ${safeString(p)}`,
        );
      }
    } else if ("quorum" in strategy) {
      checkCount(where, "quorum", strategy.quorum);
    } else if ("partialResults" in strategy) {
      checkCount(where, "partialResults", strategy.partialResults);
    } else {
      throw new ConfigurationError(`${where}: unknown join strategy ${safeString(strategy)}`);
    }
  } else if (strategy !== "all" && strategy !== "any" && strategy !== "partialTimeout") {
    throw new ConfigurationError(`${where}: unknown join strategy ${safeString(strategy)}`);
  }
  if (
    join.timeout !== undefined &&
    (typeof join.timeout !== "number" || !Number.isFinite(join.timeout) || join.timeout <= 0)
  ) {
    throw new ConfigurationError(
      `${where}: timeout must be a positive number of ms, received ${safeString(join.timeout)}`,
    );
  }
  if (join.bulkhead !== undefined && (!Number.isSafeInteger(join.bulkhead) || join.bulkhead < 1)) {
    throw new ConfigurationError(
      `${where}: bulkhead must be an integer ≥ 1, received ${safeString(join.bulkhead)}`,
    );
  }
  if (join.failFast === true && strategy !== "all") {
    throw new ConfigurationError(`${where}: failFast only applies to the "all" strategy`);
  }
}

function checkCount(where: string, what: string, n: unknown): void {
  if (!Number.isSafeInteger(n) || (n as number) < 0) {
    throw new ConfigurationError(
      `${where}: ${what} must be a non-negative integer, received ${safeString(n)}`,
    );
  }
}

/** Whether the join is satisfied by these counts (cano's `is_satisfied`). */
export function isSatisfied(
  strategy: JoinStrategy,
  successes: number,
  failures: number,
  total: number,
): boolean {
  if (strategy === "all") return successes >= total;
  if (strategy === "any") return successes >= 1;
  if (strategy === "partialTimeout") return successes + failures >= 1 || total === 0;
  if ("quorum" in strategy) return successes >= strategy.quorum;
  if ("percentage" in strategy) return successes >= Math.ceil(total * strategy.percentage);
  return successes >= strategy.partialResults;
}

/** Whether the split can stop waiting for the remaining branches now (early exit). */
export function canStopEarly(
  join: JoinConfig,
  successes: number,
  failures: number,
  total: number,
): boolean {
  if (successes + failures >= total) return true;
  const strategy = join.strategy;
  if (strategy === "any") return successes >= 1;
  if (strategy === "all") return join.failFast === true && failures > 0;
  if (typeof strategy === "object" && "partialResults" in strategy) {
    return successes >= strategy.partialResults;
  }
  return false;
}

/** A readable name of a strategy for messages. */
export function describeStrategy(strategy: JoinStrategy): string {
  return typeof strategy === "string" ? strategy : JSON.stringify(strategy);
}

/** The error of an unsatisfied join: counts, strategy and at most three branch errors. */
export function joinNotMet(join: JoinConfig, outcome: SplitOutcome, total: number): CanoError {
  const errors = outcome.results.filter((r) => r.status === "error");
  const listed = errors.slice(0, 3).map((r) => `task ${r.index}: ${messageOf(r.error)}`);
  if (errors.length > 3) listed.push(`... and ${errors.length - 3} more error(s)`);
  const detail = listed.length > 0 ? `; errors: ${listed.join(", ")}` : "";
  const strategy = join.strategy;
  const message = typeof strategy === "object" && "partialResults" in strategy
    ? `Partial results condition not met: ${outcome.successes} completed successfully, ` +
      `${strategy.partialResults} required${detail}`
    : `Join condition not met: ${outcome.successes} of ${total} tasks completed successfully, ` +
      `strategy: ${describeStrategy(strategy)}${detail}`;
  return new CanoError(message, {
    category: "workflow",
    cause: new AggregateError(errors.map((r) => r.status === "error" ? r.error : undefined)),
  });
}
