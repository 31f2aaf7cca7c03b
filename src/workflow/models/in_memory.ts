// Stepped and stream tasks given to plain `register`. cano drives them in memory there: a stepped
// task's whole loop is one attempt from an empty cursor (a retry starts over, nothing is
// checkpointed), and a stream keeps no cursor rows. The stream case reuses the engine's stream
// model with persistence off (see StreamEntry.persist); the stepped loop is below.

import { CanoError } from "../../errors.ts";
import type { StepOutcome } from "../../task/stepped.ts";
import type { TaskConfig } from "../../task/task.ts";
import { describeResult } from "../attempts.ts";
import { checkTaskName } from "../registration.ts";
import type { SingleEntry } from "../run.ts";

const STREAM_METHODS = ["open", "processItem", "flushWindow", "onClose"] as const;

/** An object with the four stream methods and no `run`: a stream task. */
export function isStreamTask(task: unknown): boolean {
  if (typeof task !== "object" || task === null) return false;
  const methods = task as Record<string, unknown>;
  return typeof methods.run !== "function" &&
    STREAM_METHODS.some((method) => typeof methods[method] === "function");
}

/** An object with `step` and no `run`: a stepped task. */
export function isSteppedTask(task: unknown): boolean {
  if (typeof task !== "object" || task === null) return false;
  const methods = task as Record<string, unknown>;
  return typeof methods.run !== "function" && typeof methods.step === "function";
}

/**
 * What a step returned, checked: `{ done }` or `{ more }`, else a `workflow` error naming the
 * state and the value (shared with the engine-driven stepped model).
 */
export function checkStepOutcome(
  state: string,
  outcome: unknown,
): StepOutcome<unknown, string> {
  if (typeof outcome === "object" && outcome !== null && ("done" in outcome || "more" in outcome)) {
    return outcome as StepOutcome<unknown, string>;
  }
  throw new CanoError(
    `Stepped task for state "${state}" must return { more: cursor } or { done: state }, received ${
      describeResult(outcome)
    }`,
    { category: "workflow" },
  );
}

/** A stepped task as one in-memory attempt: step from `undefined` until `{ done }`. */
export function inMemorySteps(
  state: string,
  task: unknown,
): { run: SingleEntry["run"]; name: string; config: TaskConfig | undefined } {
  const stepped = task as {
    name?: string;
    config?: TaskConfig;
    step(ctx: unknown, cursor: unknown): unknown;
  };
  checkTaskName(state, stepped.name, false);
  return {
    name: stepped.name ?? state,
    config: stepped.config,
    run: async (ctx) => {
      let cursor: unknown = undefined;
      for (;;) {
        const outcome = checkStepOutcome(state, await stepped.step(ctx, cursor));
        if ("done" in outcome) return outcome.done;
        cursor = outcome.more;
        // Between steps is where a cancelled attempt stops (the engine also races the attempt).
        ctx.signal.throwIfAborted();
      }
    },
  };
}
