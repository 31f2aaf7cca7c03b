import { ConfigurationError } from "../errors.ts";
import { SafeEventTarget } from "../events.ts";
import { Resources } from "../resources.ts";
import { checkDuration } from "../task/retry.ts";
import {
  resolveTaskConfig,
  type ResourceMap,
  type Task,
  type TaskConfig,
  type TaskFn,
} from "../task/task.ts";
import { type Definition, runFsm, type StateEntry, type WorkflowResult } from "./engine.ts";
import type { WorkflowEventMap } from "./events.ts";
import { toMermaid } from "./mermaid.ts";

export type { WorkflowResult } from "./engine.ts";

/** Options of the {@link Workflow} constructor. */
export interface WorkflowOptions<R extends ResourceMap> {
  /** Resources set up before and torn down after every run. Default: none. */
  resources?: Resources<R>;
}

/** Options of {@link Workflow.register} and {@link Workflow.registerRouter}. */
export interface RegisterOptions<N extends string> {
  /**
   * The states the task may return. Narrows the task's return type at compile time, is checked at
   * run time (`workflow` error otherwise), and draws the edges of {@link Workflow.toMermaid}.
   */
  next?: readonly N[];
  /** Task id for events; overrides the task object's `name` (default: the state). */
  name?: string;
  /** Task configuration; overrides the task object's `config` (default: `TaskConfig.default()`). */
  config?: TaskConfig;
}

/** Options of {@link Workflow.orchestrate}. */
export interface OrchestrateOptions<D> {
  /** The run data: tasks read and mutate it as `ctx.data`. Default: `{}`. */
  data?: D;
  /** Cancels the run: checked at every state boundary and raced against the task in flight. */
  signal?: AbortSignal;
}

/** A task given to `register`: a function or an object with `run`. */
export type TaskHandler<N extends string, S extends string, D, R extends ResourceMap> =
  | TaskFn<N, S, D, R>
  | Task<N, S, D, R>;

/**
 * A workflow: a finite state machine whose states are a string union `S`. Register one handler
 * per state, declare the exit states, then `orchestrate` from an initial state. The workflow is
 * also the event target of its runs (see {@link WorkflowEventMap}).
 *
 * @typeParam S The state union.
 * @typeParam D The run data type.
 * @typeParam R The resource map (key → resource).
 *
 * @example A three-state workflow
 * ```ts
 * import { Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * type Step = "fetch" | "process" | "done";
 * const workflow = new Workflow<Step, { items: number[]; sum?: number }>()
 *   .register("fetch", (ctx) => {
 *     ctx.data.items = [1, 2, 3];
 *     return "process";
 *   })
 *   .register("process", (ctx) => {
 *     ctx.data.sum = ctx.data.items.reduce((a, b) => a + b, 0);
 *     return "done";
 *   }, { next: ["done"] })
 *   .addExitState("done");
 *
 * const result = await workflow.orchestrate("fetch", { data: { items: [] } });
 * assert.equal(result.state, "done");
 * assert.equal(result.data.sum, 6);
 * assert.deepEqual(result.path, ["fetch", "process", "done"]);
 * ```
 */
export class Workflow<
  S extends string,
  D = Record<string, unknown>,
  R extends ResourceMap = ResourceMap,
> extends SafeEventTarget<WorkflowEventMap> {
  /** The resources set up around every run. */
  readonly resources: Resources<R>;
  #entries = new Map<S, StateEntry>();
  #exits = new Set<S>();
  #workflowId: string | undefined;
  #totalTimeout: number | undefined;
  #definition: Definition<R> | undefined;

  /**
   * Creates an empty workflow.
   *
   * @param options The resources.
   */
  constructor(options: WorkflowOptions<R> = {}) {
    super();
    this.resources = options.resources ?? new Resources() as unknown as Resources<R>;
  }

  /**
   * Registers the handler of `state` (replacing any previous one). The task returns the next
   * state; with `next`, only the declared states may be returned.
   *
   * @param state The state.
   * @param task A function or a task object.
   * @param options Declared next states, task id and configuration.
   * @returns This workflow.
   *
   * @example Declared edges narrow the return type
   * ```ts
   * import { Workflow } from "@cano/cano";
   *
   * type Step = "check" | "ok" | "failed";
   * const workflow = new Workflow<Step>()
   *   .register("check", () => Math.random() < 2 ? "ok" : "failed", { next: ["ok", "failed"] })
   *   .addExitStates("ok", "failed");
   * await workflow.orchestrate("check");
   * ```
   */
  register<const N extends S = S>(
    state: S,
    task: TaskHandler<NoInfer<N>, S, D, R>,
    options: RegisterOptions<N> = {},
  ): this {
    return this.#put(state, "single", task, options);
  }

  /**
   * Registers a router: a side-effect-free decision that picks the next state. Routers are
   * dispatched like tasks (with retries) but never write checkpoint rows.
   *
   * @param state The state.
   * @param task A function or a task object.
   * @param options Declared next states, task id and configuration.
   * @returns This workflow.
   *
   * @example Route on the run data
   * ```ts
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * type Step = "route" | "big" | "small";
   * const workflow = new Workflow<Step, { n: number }>()
   *   .registerRouter("route", (ctx) => ctx.data.n > 10 ? "big" : "small")
   *   .addExitStates("big", "small");
   * assert.equal((await workflow.orchestrate("route", { data: { n: 42 } })).state, "big");
   * ```
   */
  registerRouter<const N extends S = S>(
    state: S,
    task: TaskHandler<NoInfer<N>, S, D, R>,
    options: RegisterOptions<N> = {},
  ): this {
    return this.#put(state, "router", task, options);
  }

  /**
   * Declares an exit state: reaching it ends the run successfully. Exit states win over handlers.
   *
   * @param state The exit state.
   * @returns This workflow.
   *
   * @example Declare an exit state
   * ```ts
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"start" | "done">()
   *   .register("start", () => "done")
   *   .addExitState("done");
   * assert.equal((await workflow.orchestrate("start")).state, "done");
   * ```
   */
  addExitState(state: S): this {
    checkState(state);
    this.#exits.add(state);
    return this.#changed();
  }

  /**
   * Declares several exit states at once (duplicates are ignored).
   *
   * @param states The exit states.
   * @returns This workflow.
   *
   * @example Several outcomes
   * ```ts
   * import { Workflow } from "@cano/cano";
   *
   * const workflow = new Workflow<"start" | "done" | "failed">()
   *   .register("start", () => "failed")
   *   .addExitStates("done", "failed");
   * workflow.validate();
   * ```
   */
  addExitStates(...states: S[]): this {
    for (const state of states) this.addExitState(state);
    return this;
  }

  /**
   * Sets the workflow id, carried by events, task contexts and results (and used by checkpoints).
   *
   * @param id A non-empty string.
   * @returns This workflow.
   *
   * @example Name the workflow
   * ```ts
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"go" | "done">()
   *   .register("go", () => "done")
   *   .addExitState("done")
   *   .withWorkflowId("order-42");
   * assert.equal((await workflow.orchestrate("go")).workflowId, "order-42");
   * ```
   */
  withWorkflowId(id: string): this {
    if (typeof id !== "string" || id.length === 0) {
      throw new ConfigurationError(
        `Workflow id must be a non-empty string, received ${String(id)}`,
      );
    }
    this.#workflowId = id;
    return this.#changed();
  }

  /**
   * Bounds each `orchestrate` call to `ms` of wall-clock time. When it runs out, the task in
   * flight is aborted and the run fails with `WorkflowTimeoutError`.
   *
   * @param ms Milliseconds, greater than 0 (`Infinity` means no limit).
   * @returns This workflow.
   *
   * @example A one-minute budget
   * ```ts
   * import { Workflow } from "@cano/cano";
   *
   * new Workflow<"go" | "done">()
   *   .register("go", () => "done")
   *   .addExitState("done")
   *   .withTotalTimeout(60_000)
   *   .validate();
   * ```
   */
  withTotalTimeout(ms: number): this {
    if (ms !== Infinity && checkDuration("Total timeout", ms) === 0) {
      throw new ConfigurationError("Total timeout must be greater than 0 ms, received 0");
    }
    this.#totalTimeout = ms === Infinity ? undefined : ms;
    return this.#changed();
  }

  /**
   * Checks the workflow can run: it has handlers, exit states, and every declared next state is
   * registered or an exit state.
   *
   * @throws {ConfigurationError} Naming the first rule broken.
   *
   * @example A workflow without exit states is refused
   * ```ts
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"loop">().register("loop", () => "loop");
   * assert.throws(() => workflow.validate(), { category: "configuration" });
   * ```
   */
  validate(): void {
    this.#validated();
  }

  /**
   * Checks `state` can start a run: it is registered or an exit state.
   *
   * @param state The initial state.
   * @throws {ConfigurationError} When it is neither.
   *
   * @example An unknown initial state
   * ```ts
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<string>().register("a", () => "done").addExitState("done");
   * assert.throws(() => workflow.validateInitialState("zzz"), { category: "configuration" });
   * ```
   */
  validateInitialState(state: S): void {
    if (!this.#entries.has(state) && !this.#exits.has(state)) {
      throw new ConfigurationError(
        `Initial state "${String(state)}" is neither registered nor an exit state`,
      );
    }
  }

  /**
   * The states with a handler, in registration order (exit-only states are not included).
   *
   * @returns The registered states.
   *
   * @example List the states
   * ```ts
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"a" | "b" | "done">()
   *   .register("a", () => "b")
   *   .register("b", () => "done")
   *   .addExitState("done");
   * assert.deepEqual(workflow.registeredStates(), ["a", "b"]);
   * ```
   */
  registeredStates(): S[] {
    return [...this.#entries.keys()];
  }

  /**
   * Renders the workflow as a Mermaid `stateDiagram-v2`: declared edges, exit states marked as
   * transitions to `[*]`, and the initial state when given.
   *
   * @param initial Optional initial state, drawn as `[*] --> initial`.
   * @returns The diagram source.
   *
   * @example Draw the workflow
   * ```ts
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"a" | "done">()
   *   .register("a", () => "done", { next: ["done"] })
   *   .addExitState("done");
   * assert.ok(workflow.toMermaid("a").includes("a --> done"));
   * ```
   */
  toMermaid(initial?: S): string {
    return toMermaid(this.#entries, this.#exits, initial);
  }

  /**
   * Runs the workflow from `initial` until an exit state: validates, sets up resources, runs the
   * FSM, and tears resources down whatever happens. Failures inside a state reject with a
   * `StateContextError` whose `category` is the cause's; validation and setup errors reject raw.
   *
   * @param initial The initial state.
   * @param options Run data and an abort signal.
   * @returns The exit state reached, the run data, the workflow id and the path taken.
   *
   * @example Cancel a run
   * ```ts
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const controller = new AbortController();
   * const workflow = new Workflow<"wait" | "done">()
   *   .register("wait", (ctx) => new Promise<"done">((_, reject) => {
   *     ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason));
   *   }))
   *   .addExitState("done");
   * const run = workflow.orchestrate("wait", { signal: controller.signal });
   * controller.abort();
   * await assert.rejects(run, { category: "cancelled" });
   * ```
   */
  async orchestrate(
    initial: S,
    options: OrchestrateOptions<D> = {},
  ): Promise<WorkflowResult<S, D>> {
    const definition = this.#validated();
    this.validateInitialState(initial);
    const signal = checkSignal(options.signal);
    const data = options.data ?? {} as D;
    await this.resources.setupAll();
    try {
      return await runFsm(definition, initial, data, signal);
    } finally {
      await this.resources.teardownAll();
    }
  }

  #put<N extends string>(
    state: S,
    kind: StateEntry["kind"],
    task: TaskHandler<N, S, D, R>,
    options: RegisterOptions<N>,
  ): this {
    checkState(state);
    const { run, name, config } = normaliseTask(state, task);
    this.#entries.set(state, {
      kind,
      name: options.name ?? name,
      config: resolveTaskConfig(options.config ?? config),
      run,
      next: checkNext(state, options.next),
    });
    return this.#changed();
  }

  #changed(): this {
    this.#definition = undefined;
    return this;
  }

  #validated(): Definition<R> {
    if (this.#definition !== undefined) return this.#definition;
    if (this.#entries.size === 0) {
      throw new ConfigurationError("Workflow has no registered state handlers");
    }
    if (this.#exits.size === 0) {
      throw new ConfigurationError(
        "Workflow has no exit states defined — orchestration may loop forever",
      );
    }
    for (const [state, entry] of this.#entries) {
      for (const target of entry.next ?? []) {
        if (!this.#entries.has(target as S) && !this.#exits.has(target as S)) {
          throw new ConfigurationError(
            `State "${state}" declares next state "${target}", which is neither registered nor an exit state`,
          );
        }
      }
    }
    this.#definition = {
      entries: new Map(this.#entries),
      exits: new Set(this.#exits),
      workflowId: this.#workflowId,
      totalTimeout: this.#totalTimeout,
      resources: this.resources,
      events: this,
    };
    return this.#definition;
  }
}

function checkState(state: unknown): void {
  if (typeof state !== "string" || state.length === 0) {
    throw new ConfigurationError(`State must be a non-empty string, received ${String(state)}`);
  }
}

function checkNext(state: string, next: readonly string[] | undefined): Set<string> | undefined {
  if (next === undefined) return undefined;
  if (!Array.isArray(next) || next.length === 0) {
    throw new ConfigurationError(
      `State "${state}" declares next states, but the list is empty or not an array`,
    );
  }
  for (const target of next) checkState(target);
  return new Set(next);
}

function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined || signal instanceof AbortSignal) return signal;
  throw new ConfigurationError(`Option signal must be an AbortSignal, received ${String(signal)}`);
}

function normaliseTask<N extends string, S extends string, D, R extends ResourceMap>(
  state: S,
  task: TaskHandler<N, S, D, R>,
): Pick<StateEntry, "run" | "name"> & { config: TaskConfig | undefined } {
  if (typeof task === "function") {
    return { run: task as StateEntry["run"], name: state, config: undefined };
  }
  if (typeof task === "object" && task !== null && typeof task.run === "function") {
    if (task.name !== undefined && (typeof task.name !== "string" || task.name.length === 0)) {
      throw new ConfigurationError(`Task name for state "${state}" must be a non-empty string`);
    }
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
