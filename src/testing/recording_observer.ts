// RecordingObserver: records a workflow's events as plain objects and asserts on them.

import { safeString } from "../describe.ts";
import { ConfigurationError, messageOf } from "../errors.ts";
import type { SafeEventTarget } from "../events.ts";
import { readOptions } from "../options.ts";
import type { WorkflowEventMap } from "../workflow/events.ts";
import { assertionError, firstDifference, format } from "./_assert.ts";
import { exitStatesOf } from "./paths.ts";

/**
 * One recorded workflow event, as a plain object discriminated by `type` (the event's name).
 * Errors are kept as their message so recordings compare with `assert.deepEqual`.
 */
export type RecordedEvent =
  /** A state was entered. */
  | { type: "stateenter"; state: string }
  /** A task's dispatch started. */
  | { type: "taskstart"; taskId: string; state: string }
  /** A task succeeded. */
  | { type: "tasksuccess"; taskId: string; state: string }
  /** A task failed for good; `error` is the error's message. */
  | { type: "taskfailure"; taskId: string; state: string; error: string }
  /** Attempt `attempt` (1-based) failed and another follows. */
  | { type: "retry"; taskId: string; state: string; attempt: number }
  /** A circuit breaker rejected an attempt. */
  | { type: "circuitopen"; taskId: string; state: string }
  /** A checkpoint row was appended. */
  | { type: "checkpoint"; workflowId: string | undefined; sequence: number }
  /** A run was resumed; `sequence` is the last stored row. */
  | { type: "resume"; workflowId: string | undefined; sequence: number }
  /** The run was cancelled in `state`. */
  | { type: "cancelled"; state: string }
  /** A compensation ran during a rollback. */
  | { type: "compensate"; taskId: string; ok: boolean }
  /** The total timeout tripped. */
  | { type: "workflowtimeout"; elapsed: number; limit: number };

/** Anything that emits workflow events: a `Workflow` of any state, data and resource types. */
export type WorkflowEventSource = SafeEventTarget<WorkflowEventMap>;

/** Anything that lists its registered states: a `Workflow` of any type. */
export interface RegisteredStatesSource {
  /** The states with a handler (exit-only states are not included). */
  registeredStates(): readonly string[];
}

type Converters = {
  [K in RecordedEvent["type"]]: (event: WorkflowEventMap[K]) => RecordedEvent;
};

const CONVERTERS: Converters = {
  stateenter: (e) => ({ type: "stateenter", state: e.state }),
  taskstart: (e) => ({ type: "taskstart", taskId: e.taskId, state: e.state }),
  tasksuccess: (e) => ({ type: "tasksuccess", taskId: e.taskId, state: e.state }),
  taskfailure: (e) => ({
    type: "taskfailure",
    taskId: e.taskId,
    state: e.state,
    error: messageOf(e.error),
  }),
  retry: (e) => ({ type: "retry", taskId: e.taskId, state: e.state, attempt: e.attempt }),
  circuitopen: (e) => ({ type: "circuitopen", taskId: e.taskId, state: e.state }),
  checkpoint: (e) => ({ type: "checkpoint", workflowId: e.workflowId, sequence: e.sequence }),
  resume: (e) => ({ type: "resume", workflowId: e.workflowId, sequence: e.sequence }),
  cancelled: (e) => ({ type: "cancelled", state: e.state }),
  compensate: (e) => ({ type: "compensate", taskId: e.taskId, ok: e.ok }),
  workflowtimeout: (e) => ({ type: "workflowtimeout", elapsed: e.elapsed, limit: e.limit }),
};

const TYPES = Object.keys(CONVERTERS) as (keyof Converters)[];

/**
 * Records a workflow's events (`stateenter`, `taskstart`, `tasksuccess`, `taskfailure`, `retry`,
 * `circuitopen`, `checkpoint`, `resume`, `cancelled`, `compensate`, `workflowtimeout`) as
 * {@link RecordedEvent} objects, and asserts on them. Attach it before running; `detach()` (or
 * `using`) unsubscribes. Recordings accumulate across runs until `clear()` or `take()`.
 *
 * @example Record a run and check its path
 * ```ts
 * import { RecordingObserver } from "@cano/cano/testing";
 * import { Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const workflow = new Workflow<"fetch" | "save" | "done">()
 *   .register("fetch", () => "save")
 *   .register("save", () => "done")
 *   .addExitState("done");
 * using observer = new RecordingObserver(workflow);
 * await workflow.orchestrate("fetch");
 *
 * observer.assertPath(["fetch", "save", "done"]);
 * observer.assertCompletedWith("done");
 * assert.deepEqual(observer.assertRegisteredStatesEntered(workflow), []);
 * assert.deepEqual(observer.events()[1], { type: "taskstart", taskId: "fetch", state: "fetch" });
 * ```
 */
export class RecordingObserver implements Disposable {
  #events: RecordedEvent[] = [];
  #controller: AbortController | undefined;

  /**
   * Creates the observer, attached to `workflow` when one is given.
   *
   * @param workflow The workflow to observe.
   */
  constructor(workflow?: WorkflowEventSource) {
    if (workflow !== undefined) this.attach(workflow);
  }

  /**
   * Subscribes to `workflow`'s events. An observer may be attached to several workflows; their
   * events are recorded in one list.
   *
   * @param workflow The workflow to observe.
   * @returns This observer.
   *
   * @example Attach after construction
   * ```ts
   * import { RecordingObserver } from "@cano/cano/testing";
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"a" | "done">().register("a", () => "done").addExitState("done");
   * const observer = new RecordingObserver().attach(workflow);
   * await workflow.orchestrate("a");
   * assert.deepEqual(observer.statesEntered(), ["a", "done"]);
   * observer.detach();
   * ```
   */
  attach(workflow: WorkflowEventSource): this {
    if (
      typeof workflow !== "object" || workflow === null ||
      typeof workflow.addEventListener !== "function"
    ) {
      throw new ConfigurationError(
        `RecordingObserver can only attach to a Workflow (new RecordingObserver(workflow)), received ${
          safeString(workflow)
        }`,
      );
    }
    this.#controller ??= new AbortController();
    const signal = this.#controller.signal;
    for (const type of TYPES) {
      const convert = CONVERTERS[type] as (event: Event) => RecordedEvent;
      workflow.addEventListener(type, (event: Event) => this.#events.push(convert(event)), {
        signal,
      });
    }
    return this;
  }

  /**
   * Unsubscribes from every attached workflow. The recording is kept.
   *
   * @example Stop recording
   * ```ts
   * import { RecordingObserver } from "@cano/cano/testing";
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"a" | "done">().register("a", () => "done").addExitState("done");
   * const observer = new RecordingObserver(workflow);
   * observer.detach();
   * await workflow.orchestrate("a");
   * assert.deepEqual(observer.events(), []);
   * ```
   */
  detach(): void {
    this.#controller?.abort();
    this.#controller = undefined;
  }

  /** Detaches the observer (for `using`). */
  [Symbol.dispose](): void {
    this.detach();
  }

  /**
   * The events recorded so far, oldest first (a copy).
   *
   * @returns The recorded events.
   *
   * @example Read the failures
   * ```ts
   * import { RecordingObserver } from "@cano/cano/testing";
   * import { TaskConfig, Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"a" | "done">()
   *   .register("a", () => {
   *     throw new Error("boom");
   *   }, { config: TaskConfig.minimal() })
   *   .addExitState("done");
   * using observer = new RecordingObserver(workflow);
   * await assert.rejects(workflow.orchestrate("a"));
   * const failures = observer.events().filter((e) => e.type === "taskfailure");
   * assert.deepEqual(failures, [{ type: "taskfailure", taskId: "a", state: "a", error: "boom" }]);
   * ```
   */
  events(): RecordedEvent[] {
    return [...this.#events];
  }

  /**
   * The states entered so far, in order (exit states included).
   *
   * @returns The entered states.
   *
   * @example List the entered states
   * ```ts
   * import { RecordingObserver } from "@cano/cano/testing";
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"a" | "done">().register("a", () => "done").addExitState("done");
   * using observer = new RecordingObserver(workflow);
   * await workflow.orchestrate("a");
   * assert.deepEqual(observer.statesEntered(), ["a", "done"]);
   * ```
   */
  statesEntered(): string[] {
    return this.#events.flatMap((e) => e.type === "stateenter" ? [e.state] : []);
  }

  /**
   * Forgets every recorded event (the observer stays attached).
   *
   * @example Record runs one at a time
   * ```ts
   * import { RecordingObserver } from "@cano/cano/testing";
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"a" | "done">().register("a", () => "done").addExitState("done");
   * using observer = new RecordingObserver(workflow);
   * await workflow.orchestrate("a");
   * observer.clear();
   * assert.deepEqual(observer.events(), []);
   * ```
   */
  clear(): void {
    this.#events = [];
  }

  /**
   * Returns the recorded events and clears the recording.
   *
   * @returns The events recorded since the last `clear` or `take`.
   *
   * @example Take the events of one run
   * ```ts
   * import { RecordingObserver } from "@cano/cano/testing";
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"a" | "done">().register("a", () => "done").addExitState("done");
   * using observer = new RecordingObserver(workflow);
   * await workflow.orchestrate("a");
   * assert.equal(observer.take().length, 4);
   * assert.equal(observer.take().length, 0);
   * ```
   */
  take(): RecordedEvent[] {
    const events = this.#events;
    this.#events = [];
    return events;
  }

  /**
   * Throws unless the last entered state is `state`.
   *
   * @param state The expected final state.
   * @throws {Error} An `AssertionError` naming both states when they differ.
   *
   * @example Check the exit state
   * ```ts
   * import { RecordingObserver } from "@cano/cano/testing";
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"a" | "done">().register("a", () => "done").addExitState("done");
   * using observer = new RecordingObserver(workflow);
   * await workflow.orchestrate("a");
   * observer.assertCompletedWith("done");
   * assert.throws(() => observer.assertCompletedWith("a"), /expected the last entered state/);
   * ```
   */
  assertCompletedWith(state: string): void {
    if (typeof state !== "string") {
      throw new ConfigurationError(
        `assertCompletedWith needs a state name (a string), received ${safeString(state)}`,
      );
    }
    const entered = this.statesEntered();
    const last = entered.at(-1);
    if (last !== state) {
      throw assertionError(
        `RecordingObserver: expected the last entered state to be "${state}", but ${
          last === undefined ? "no state was entered" : `it was "${last}"`
        } (path: ${format(entered)})`,
      );
    }
  }

  /**
   * Throws unless the entered states are exactly `states`, in order.
   *
   * @param states The expected path.
   * @throws {Error} An `AssertionError` showing both paths when they differ.
   *
   * @example Check the whole path
   * ```ts
   * import { RecordingObserver } from "@cano/cano/testing";
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"a" | "b" | "done">()
   *   .register("a", () => "b")
   *   .register("b", () => "done")
   *   .addExitState("done");
   * using observer = new RecordingObserver(workflow);
   * await workflow.orchestrate("a");
   * observer.assertPath(["a", "b", "done"]);
   * assert.throws(() => observer.assertPath(["a", "done"]), /path differs/);
   * ```
   */
  assertPath(states: readonly string[]): void {
    checkStates("assertPath", states);
    const entered = this.statesEntered();
    const index = firstDifference(entered, states);
    if (index !== -1) {
      throw assertionError(
        `RecordingObserver: path differs at index ${index}\n  expected: ${
          format(states)
        }\n  actual:   ${format(entered)}`,
      );
    }
  }

  /**
   * The states of `states` that were never entered, deduplicated, in input order (empty when
   * all were entered). Does not throw on missing states.
   *
   * @param states The states that should have been entered.
   * @returns The missing states.
   *
   * @example Find the states a run skipped
   * ```ts
   * import { RecordingObserver } from "@cano/cano/testing";
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"a" | "b" | "done">()
   *   .register("a", () => "done")
   *   .register("b", () => "done")
   *   .addExitState("done");
   * using observer = new RecordingObserver(workflow);
   * await workflow.orchestrate("a");
   * assert.deepEqual(observer.assertAllStatesEntered(["a", "b", "b", "done"]), ["b"]);
   * ```
   */
  assertAllStatesEntered(states: readonly string[]): string[] {
    checkStates("assertAllStatesEntered", states);
    const entered = new Set(this.statesEntered());
    return [...new Set(states)].filter((state) => !entered.has(state));
  }

  /**
   * The registered states of `workflow` that were never entered (dead-state detection); exit-only
   * states are not required. Does not throw on missing states.
   *
   * @param workflow The workflow whose registered states should all have been entered.
   * @returns The registered states never entered, in registration order.
   *
   * @example Detect an unreachable state
   * ```ts
   * import { RecordingObserver } from "@cano/cano/testing";
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"a" | "orphan" | "done" | "failed">()
   *   .register("a", () => "done")
   *   .register("orphan", () => "done")
   *   .addExitStates("done", "failed");
   * using observer = new RecordingObserver(workflow);
   * await workflow.orchestrate("a");
   * assert.deepEqual(observer.assertRegisteredStatesEntered(workflow), ["orphan"]);
   * ```
   */
  assertRegisteredStatesEntered(workflow: RegisteredStatesSource): string[] {
    if (
      typeof workflow !== "object" || workflow === null ||
      typeof workflow.registeredStates !== "function"
    ) {
      throw new ConfigurationError(
        `assertRegisteredStatesEntered needs a Workflow, received ${safeString(workflow)}`,
      );
    }
    return this.assertAllStatesEntered(workflow.registeredStates());
  }

  /**
   * Throws unless every required state was entered, across all recorded runs: a workflow's
   * registered states (dead-state detection; exit-only states too with `includeExits`), or the
   * states listed. The throwing form of {@link assertRegisteredStatesEntered}.
   *
   * @param expected A workflow (its registered states are required) or the states to require.
   * @param options `includeExits: true` also requires every exit state of the workflow (a
   * `Workflow` is then needed; list them in the array otherwise).
   * @throws {Error} An `AssertionError` listing the states never entered and those entered.
   * @throws {ConfigurationError} When `expected` is neither a workflow nor an array of state
   * names, or an option is invalid.
   *
   * @example Every state and every outcome was reached
   * ```ts
   * import { RecordingObserver } from "@cano/cano/testing";
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"check" | "ok" | "rejected", { valid: boolean }>()
   *   .registerRouter("check", (ctx) => ctx.data.valid ? "ok" : "rejected")
   *   .addExitStates("ok", "rejected");
   * using observer = new RecordingObserver(workflow);
   * await workflow.orchestrate("check", { data: { valid: true } });
   * observer.assertStateCoverage(workflow);
   * assert.throws(
   *   () => observer.assertStateCoverage(workflow, { includeExits: true }),
   *   /1 of 3 registered and exit states never entered: \["rejected"\]/,
   * );
   * await workflow.orchestrate("check", { data: { valid: false } });
   * observer.assertStateCoverage(workflow, { includeExits: true });
   * ```
   */
  assertStateCoverage(
    expected: RegisteredStatesSource | readonly string[],
    options: { includeExits?: boolean } = {},
  ): void {
    const { includeExits = false } = readOptions<{ includeExits: boolean }>(
      options,
      "assertStateCoverage options",
      ["includeExits"],
    );
    if (typeof includeExits !== "boolean") {
      throw new ConfigurationError(
        `assertStateCoverage option includeExits must be a boolean, received ${
          safeString(includeExits)
        }`,
      );
    }
    let required: readonly string[];
    let what = "states";
    if (Array.isArray(expected)) {
      if (includeExits) {
        throw new ConfigurationError(
          "assertStateCoverage option includeExits needs a workflow; list the exit states instead",
        );
      }
      checkStates("assertStateCoverage", expected);
      required = [...new Set(expected)];
    } else {
      const source = expected as RegisteredStatesSource;
      if (
        typeof source !== "object" || source === null ||
        typeof source.registeredStates !== "function"
      ) {
        throw new ConfigurationError(
          "assertStateCoverage needs a workflow or an array of state names",
        );
      }
      // Exit states also registered are counted once.
      const exits = includeExits
        ? exitStatesOf(source, "assertStateCoverage with includeExits")
        : [];
      required = [...new Set([...source.registeredStates(), ...exits])];
      what = includeExits ? "registered and exit states" : "registered states";
    }
    const missing = this.assertAllStatesEntered(required);
    if (missing.length > 0) {
      throw assertionError(
        `RecordingObserver: ${missing.length} of ${required.length} ${what} never entered: ${
          format(missing)
        }\n  entered: ${format([...new Set(this.statesEntered())])}`,
      );
    }
  }
}

function checkStates(method: string, states: readonly string[]): void {
  if (!Array.isArray(states) || states.some((s) => typeof s !== "string")) {
    throw new ConfigurationError(`${method} needs an array of state names`);
  }
}
