// The checks `register*` and the run entry points apply to what users pass in: one place for the
// rules, so every registration refuses bad input the same way, naming the value.

import { safeInstanceOf, safeString } from "../describe.ts";
import { ConfigurationError, messageOf } from "../errors.ts";
import {
  type CheckpointStore,
  missingRunStoreMethods,
  type RunStore,
} from "../recovery/checkpoint.ts";
import { runStoreFor } from "../recovery/local_leases.ts";
import { checkCodec, checkLeaseMs } from "../recovery/run_record.ts";
import type { StreamErrorPolicy, StreamWindow } from "../task/stream.ts";
import {
  resolveTaskConfig,
  type ResourceMap,
  type Task,
  type TaskConfig,
  type TaskFn,
} from "../task/task.ts";
import type { SingleEntry, SplitBranch } from "./run.ts";

/** A state name: a non-empty string. */
export function checkState(state: unknown): void {
  if (typeof state !== "string" || state.length === 0) {
    throw new ConfigurationError(`State must be a non-empty string, received ${safeString(state)}`);
  }
}

/** Declared next states: a non-empty array of state names, as a set. */
export function checkNext(
  state: string,
  next: readonly string[] | undefined,
): Set<string> | undefined {
  if (next === undefined) return undefined;
  if (!Array.isArray(next) || next.length === 0) {
    throw new ConfigurationError(
      `State "${state}" declares next states, but the list is empty or not an array`,
    );
  }
  for (const target of next) checkState(target);
  return new Set(next);
}

/** A stream window: `{ count: n ≥ 1 }` or `{ duration: ms ≥ 1 }`. */
export function checkWindow(state: string, window: StreamWindow): StreamWindow {
  const size = "count" in window ? window.count : "duration" in window ? window.duration : NaN;
  if (typeof size !== "number" || !Number.isFinite(size) || size < 1) {
    throw new ConfigurationError(
      `Stream task for state "${state}" window must be { count: n ≥ 1 } or { duration: ms ≥ 1 }, received ${
        JSON.stringify(window)
      }`,
    );
  }
  return window;
}

/** A stream item error policy. */
export function checkItemPolicy(state: string, policy: StreamErrorPolicy): StreamErrorPolicy {
  if (policy === "failFast" || policy === "skipAndContinue") return policy;
  const n = typeof policy === "object" && policy !== null ? policy.retryOnError : NaN;
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new ConfigurationError(
      `Stream task for state "${state}" onItemError must be "failFast", "skipAndContinue" or { retryOnError: n ≥ 0 }`,
    );
  }
  return policy;
}

/** A task name: a non-empty string (optional unless `required`). */
export function checkTaskName(state: string, name: unknown, required: boolean): void {
  if (name === undefined && !required) return;
  if (typeof name !== "string" || name.length === 0) {
    throw new ConfigurationError(`Task name for state "${state}" must be a non-empty string`);
  }
}

/** That `task` has the method `method`. */
export function checkMethod(state: string, task: object, method: string): void {
  if (typeof (task as Record<string, unknown>)[method] !== "function") {
    throw new ConfigurationError(`Task for state "${state}" must have a ${method}() method`);
  }
}

/** An optional `AbortSignal` option. */
export function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined || signal instanceof AbortSignal) return signal;
  throw new ConfigurationError(
    `Option signal must be an AbortSignal, received ${safeString(signal)}`,
  );
}

/** A function or task object, as the run function, task id and config of an entry. */
export function normaliseTask<N extends string, S extends string, D, R extends ResourceMap>(
  state: S,
  task: TaskFn<N, S, D, R> | Task<N, S, D, R>,
): { run: SingleEntry["run"]; name: string; config: TaskConfig | undefined } {
  if (typeof task === "function") {
    return { run: task as SingleEntry["run"], name: state, config: undefined };
  }
  if (typeof task === "object" && task !== null && typeof task.run === "function") {
    checkTaskName(state, task.name, false);
    return {
      run: (ctx) => task.run(ctx),
      name: task.name ?? state,
      config: task.config,
    };
  }
  throw new ConfigurationError(
    `Task for state "${state}" must be a function or an object with a run(ctx) method`,
  );
}

/**
 * A split's branches as the engine runs them: each normalised like a task, with its own resolved
 * config, and its id `name[index]` based on the task's own name, else the split state's. Used at
 * registration and, for a branch factory, each time the state is entered.
 */
export function splitBranches(state: string, tasks: readonly unknown[]): SplitBranch[] {
  return tasks.map((task, index) => {
    const label = `${state}[${index}]`;
    const { run, name, config } = normaliseTask(
      label,
      task as TaskFn<string, string, unknown, ResourceMap>,
    );
    return { name: name === label ? state : name, config: resolveTaskConfig(config), run };
  });
}

/**
 * A checkpoint store, seen as a {@link RunStore}: a rows-only store (append, loadRun, clear) gets
 * the in-process adapter; a full one has its `leaseMs` and `codec` checked; half of the run-store
 * contract is refused (it would silently lose cross-process safety).
 */
export function checkStore(store: unknown): RunStore {
  try {
    const candidate = store as Partial<CheckpointStore> | null;
    if (
      typeof candidate?.append !== "function" || typeof candidate.loadRun !== "function" ||
      typeof candidate.clear !== "function"
    ) {
      throw new ConfigurationError(
        `Checkpoint store must have append, loadRun and clear methods, received ${
          safeString(store)
        }`,
      );
    }
    const rows = candidate as CheckpointStore;
    const missing = missingRunStoreMethods(rows);
    if (missing.length > 0) {
      throw new ConfigurationError(
        `Checkpoint store implements part of the run-store contract but not ${
          missing.join(", ")
        }; implement all of claim, renew, release, finish, getRun, listRuns, requestCancel, pollCancel, listExpired and noteRun, or none`,
      );
    }
    const runs = runStoreFor(rows);
    checkLeaseMs("Checkpoint store", runs.leaseMs);
    checkCodec(runs.codec);
    return runs;
  } catch (error) {
    if (safeInstanceOf(error, ConfigurationError)) throw error;
    throw new ConfigurationError(`Checkpoint store could not be inspected: ${messageOf(error)}`, {
      cause: error,
    });
  }
}
