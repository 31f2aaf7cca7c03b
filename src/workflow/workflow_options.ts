// The options and task shapes the Workflow builder takes (types only): what `new Workflow`,
// `register*`, `orchestrate` and `resumeFrom` accept, kept apart from the builder itself.

import type { Resources } from "../resources.ts";
import type { SteppedTask } from "../task/stepped.ts";
import type { StreamTask } from "../task/stream.ts";
import type { ResourceMap, Task, TaskConfig, TaskContext, TaskFn } from "../task/task.ts";
import type { WaitEvent } from "../task/wait.ts";

/** Options of the {@link Workflow} constructor. */
export interface WorkflowOptions<R extends ResourceMap> {
  /**
   * Resources set up before and torn down after every run.
   *
   * @default {new Resources()}
   */
  resources?: Resources<R>;
  /**
   * The workflow's name, stored in the record of every checkpointed run so that any process can
   * find the definition to resume it with (a run of another named workflow is refused). A
   * non-empty, well-formed string; give every workflow sharing a store its own name.
   *
   * @default {undefined} (unnamed: recorded as `""`)
   */
  name?: string;
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
  /**
   * The run's id: `ctx.workflowId`, `result.workflowId`, and the key of its checkpoint log. Each
   * run of a checkpointed workflow needs one (one id per order, per job, per tick).
   *
   * @default {the `withWorkflowId` id}
   */
  id?: string;
  /**
   * What to do when a checkpointed run with this id is unfinished (running, rolling back, or
   * failed with its log kept): `"fail"` rejects with `RunExistsError`; `"resume"` continues that
   * run instead (as `resumeFrom(id)` would; `initial` and `data` are then ignored), or starts a
   * new one when there is none.
   *
   * @default {"fail"}
   */
  ifExists?: "fail" | "resume";
  /**
   * The run data: tasks read and mutate it as `ctx.data`.
   *
   * @default {{}}
   */
  data?: D;
  /** Cancels the run: checked at every state boundary and raced against the task in flight. */
  signal?: AbortSignal;
  /**
   * What the call does when the run parks in a wait state (`registerWait`): `"wait"` keeps
   * waiting — the run holds no lease while parked; this process looks for it once a second and
   * resumes it when it is due (an event arrived, its deadline passed) — and settles when it ends;
   * `"return"` settles at once with a {@link WaitingResult} (`status: "waiting"`), leaving the
   * run to whoever runs `startRecovery`.
   *
   * @default {"wait"}
   */
  onWait?: "wait" | "return";
}

/** Options of {@link Workflow.resumeFrom}. */
export interface ResumeOptions {
  /** Cancels the resumed run (a pre-aborted signal resumes nothing: no task runs). */
  signal?: AbortSignal;
  /**
   * What the call does when the run parks (again) in a wait state; see
   * {@link OrchestrateOptions.onWait}.
   *
   * @default {"wait"}
   */
  onWait?: "wait" | "return";
}

/**
 * A branch of a split: a function or an object with `run`, returning any value.
 *
 * @typeParam V The value it returns (its join state sees it in `ctx.split`).
 */
export type SplitTask<S extends string, D, R extends ResourceMap, V = unknown> =
  | ((ctx: TaskContext<S, D, R>) => V | Promise<V>)
  | { name?: string; config?: TaskConfig; run(ctx: TaskContext<S, D, R>): V | Promise<V> };

/**
 * A task given to `register`: a function or an object with `run`; or a stepped or stream task,
 * which `register` drives in memory (see {@link Workflow.register}).
 */
export type TaskHandler<
  N extends string,
  S extends string,
  D,
  R extends ResourceMap,
  Ev extends WaitEvent = WaitEvent,
> =
  | TaskFn<N, S, D, R, Ev>
  | Task<N, S, D, R, Ev>
  // deno-lint-ignore no-explicit-any
  | SteppedTask<any, N, S, D, R>
  // deno-lint-ignore no-explicit-any
  | StreamTask<any, any, any, N, S, D, R>;
