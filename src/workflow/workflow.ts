import { safeString } from "../describe.ts";
import { ConfigurationError, NonRetryableError } from "../errors.ts";
import { SafeEventTarget } from "../events.ts";
import { readOptions } from "../options.ts";
import { Resources } from "../resources.ts";
import { checkDuration, RetryMode } from "../task/retry.ts";
import {
  resolveTaskConfig,
  type ResourceMap,
  type Task,
  type TaskContext,
  type TaskFn,
} from "../task/task.ts";
import {
  type CheckpointStore,
  hasWaitMethods,
  type RunStore,
  type SendEventOptions,
  type SendEventResult,
} from "../recovery/checkpoint.ts";
import type { CompensatableTask } from "../task/compensatable.ts";
import { drivesAsSteps, type SteppedTask } from "../task/stepped.ts";
import type { StreamTask } from "../task/stream.ts";
import { checkWaitOptions, type WaitOptions } from "../task/wait.ts";
import { isWaiting, type WorkflowResult } from "./engine.ts";
import type { WaitingResult } from "./parked.ts";
import { onWaitError, waitForRun } from "./waker.ts";
import type { WorkflowEventMap } from "./events.ts";
import type {
  BranchValue,
  DataOf,
  EventOf,
  ExitOf,
  JoinHandler,
  JoinValueOf,
  JoinValues,
  MergeWaits,
  NoJoins,
  NoWaits,
  PayloadMap,
  PayloadsFor,
  RunArgs,
  SendableEvent,
  WaitEvents,
  WaitEventsOf,
} from "./workflow_types.ts";
import { toMermaid } from "./mermaid.ts";
import { checkJoinConfig, type JoinConfig } from "./join.ts";
import {
  checkItemPolicy,
  checkMethod,
  checkNext,
  checkSignal,
  checkState,
  checkStore,
  checkTaskName,
  checkWindow,
  normaliseTask,
  splitBranches,
} from "./registration.ts";
import { checkIdOption, startRun } from "./start.ts";
import type {
  CompensatableEntry,
  Definition,
  SingleEntry,
  StateEntry,
  StreamEntry,
} from "./run.ts";
import { inMemorySteps, isSteppedTask, isStreamTask } from "./models/in_memory.ts";

export type { WorkflowResult } from "./engine.ts";

export type {
  OrchestrateOptions,
  RegisterOptions,
  ResumeOptions,
  SplitTask,
  TaskHandler,
  WorkflowOptions,
} from "./workflow_options.ts";
import type {
  OrchestrateOptions,
  RegisterOptions,
  ResumeOptions,
  SplitTask,
  TaskHandler,
  WorkflowOptions,
} from "./workflow_options.ts";

// Assigned by a static block of Workflow (see runWithExternalResources and isCheckpointed).
let checkpointed: (workflow: Workflow<string, unknown, ResourceMap>) => boolean;
let identity: (
  workflow: Workflow<string, unknown, ResourceMap>,
) => { name: string; version: number; store: RunStore | undefined };
let graph: (
  workflow: Workflow<string, unknown, ResourceMap>,
) => { entries: ReadonlyMap<string, StateEntry>; exits: ReadonlySet<string> };
let resumeWithoutLifecycle: (
  workflow: Workflow<string, unknown, ResourceMap>,
  id: string,
) => Promise<WorkflowResult<string, unknown>>;
let orchestrateWithoutLifecycle: <S extends string, D, R extends ResourceMap>(
  workflow: Workflow<S, D, R>,
  initial: S,
  options: OrchestrateOptions<D>,
) => Promise<WorkflowResult<S, D>>;

/**
 * A workflow: a finite state machine whose states are a string union `S`. Register one handler
 * per state, declare the exit states, then `orchestrate` from an initial state. The workflow is
 * also the event target of its runs (see {@link WorkflowEventMap}).
 *
 * @typeParam S The state union.
 * @typeParam D The run data type.
 * @typeParam R The resource map (key → resource).
 * @typeParam E The exit states declared so far (the builder tracks them: a result's `state` is
 * one of them). Leave it out when writing the type by hand.
 * @typeParam J The join states declared so far by `registerSplit`, with their branches' value
 * type (read by `registerJoin`). Leave it out when writing the type by hand.
 * @typeParam W The states declared so far to follow a wait state, with the events that lead there
 * (read by `register` to type `ctx.event`). Leave it out when writing the type by hand.
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
  E extends S = never,
  J extends JoinValues = NoJoins,
  W extends WaitEvents = NoWaits,
> extends SafeEventTarget<WorkflowEventMap<S>> {
  /** The resources set up around every run. */
  readonly resources: Resources<R>;
  /** The workflow's name (see {@link WorkflowOptions.name}), `undefined` when unnamed. */
  readonly name: string | undefined;
  #entries = new Map<S, StateEntry>();
  /** Entries registered with `registerJoin` (each state must be some split's `next`). */
  #joins = new WeakSet<StateEntry>();
  #exits = new Set<S>();
  #workflowId: string | undefined;
  #version = 0;
  #store: RunStore | undefined;
  #totalTimeout: number | undefined;
  #compensationTimeout: number | undefined;
  #definition: Definition<R> | undefined;

  /**
   * Creates an empty workflow.
   *
   * @param options The resources.
   */
  constructor(given: WorkflowOptions<R> = {}) {
    super();
    const options = readOptions<WorkflowOptions<R>>(given, "Workflow options", [
      "resources",
      "name",
    ]);
    if (options.resources !== undefined && !(options.resources instanceof Resources)) {
      throw new ConfigurationError(
        `Workflow option resources must be a Resources instance (new Resources({ ... })), received ${
          safeString(options.resources)
        }`,
      );
    }
    this.resources = options.resources ?? new Resources() as unknown as Resources<R>;
    this.name = options.name === undefined
      ? undefined
      : checkIdOption(options.name, "Workflow name");
  }

  /**
   * Registers the handler of `state` (replacing any previous one). The task returns the next
   * state; with `next`, only the declared states may be returned.
   *
   * A stepped task (`{ step }`) or a stream task (`{ open, processItem, flushWindow, onClose }`)
   * is accepted too and driven in memory, as cano's plain `register` does: a stepped task's steps
   * run as one attempt from an `undefined` cursor (a retry starts over), and a stream's cursors
   * are never checkpointed (a resume re-opens the source from the start). Use `registerStepped` or
   * `registerStream` for progress that survives a crash.
   *
   * @param state The state.
   * @param task A function or a task object (plain, stepped or stream).
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
  register<const St extends S, const N extends S = S>(
    state: St,
    task: TaskHandler<NoInfer<N>, S, D, R, EventOf<W, St>>,
    options: RegisterOptions<N> = {},
  ): this {
    // The engine hands every task the same context; `Ev` only narrows what it may hold.
    return this.#put(state, "single", task as TaskHandler<N, S, D, R>, options);
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
  registerRouter<const St extends S, const N extends S = S>(
    state: St,
    task: TaskHandler<NoInfer<N>, S, D, R, EventOf<W, St>>,
    options: RegisterOptions<N> = {},
  ): this {
    return this.#put(state, "router", task as TaskHandler<N, S, D, R>, options);
  }

  /**
   * Registers a saga step: `run` returns `{ next, output }`, and `compensate(ctx, output)` undoes
   * it if the run later fails. The task's `name` keys the compensation stack and must be unique.
   *
   * @param state The state.
   * @param task The compensatable task.
   * @param options Declared next states.
   * @returns This workflow.
   *
   * @example A payment that is refunded when shipping fails
   * ```ts
   * import { TaskConfig, Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const refunds: string[] = [];
   * const workflow = new Workflow<"charge" | "ship" | "done">()
   *   .registerWithCompensation("charge", {
   *     name: "charge",
   *     run: () => ({ next: "ship", output: { chargeId: "ch_1" } }),
   *     compensate: (_ctx, output) => void refunds.push(output.chargeId),
   *   })
   *   .register("ship", () => {
   *     throw new Error("no courier");
   *   }, { config: TaskConfig.minimal() })
   *   .addExitState("done");
   * await assert.rejects(workflow.orchestrate("charge"), /no courier/);
   * assert.deepEqual(refunds, ["ch_1"]);
   * ```
   */
  registerWithCompensation<const St extends S, const N extends S = S, O = unknown>(
    state: St,
    task: CompensatableTask<NoInfer<N>, S, D, R, O, EventOf<W, St>>,
    options: Pick<RegisterOptions<N>, "next"> = {},
  ): this {
    checkState(state);
    if (typeof task !== "object" || task === null) {
      throw new ConfigurationError(`Compensatable task for state "${state}" must be an object`);
    }
    checkTaskName(state, task.name, true);
    checkMethod(state, task, "run");
    checkMethod(state, task, "compensate");
    const entry: CompensatableEntry = {
      kind: "compensatable",
      name: task.name,
      config: resolveTaskConfig(task.config),
      next: checkNext(state, options.next),
      run: (ctx) => task.run(ctx as TaskContext<S, D, R, EventOf<W, St>>),
      compensate: (ctx, output) => task.compensate(ctx, output as O),
    };
    this.#entries.set(state, entry);
    return this.#changed();
  }

  /**
   * Registers a stepped task: the engine calls `step(ctx, cursor)` until it returns
   * `{ done: next }`, checkpointing every `{ more: cursor }` so a resumed run continues from the
   * last cursor. Each step is retried on its own.
   *
   * @param state The state.
   * @param task The stepped task.
   * @param options Declared next states.
   * @returns This workflow.
   *
   * @example Process a list in pages
   * ```ts
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const pages: number[] = [];
   * const workflow = new Workflow<"crunch" | "done">()
   *   .registerStepped("crunch", {
   *     step: (_ctx, cursor: number | undefined) => {
   *       const page = cursor ?? 0;
   *       pages.push(page);
   *       return page < 2 ? { more: page + 1 } : { done: "done" };
   *     },
   *   })
   *   .addExitState("done");
   * await workflow.orchestrate("crunch");
   * assert.deepEqual(pages, [0, 1, 2]);
   * ```
   */
  registerStepped<const N extends S = S, C = unknown>(
    state: S,
    task: SteppedTask<C, NoInfer<N>, S, D, R>,
    options: Pick<RegisterOptions<N>, "next"> = {},
  ): this {
    checkState(state);
    if (typeof task !== "object" || task === null) {
      throw new ConfigurationError(`Stepped task for state "${state}" must be an object`);
    }
    checkTaskName(state, task.name, false);
    checkMethod(state, task, "step");
    this.#entries.set(state, {
      kind: "stepped",
      name: task.name ?? state,
      config: resolveTaskConfig(task.config),
      next: checkNext(state, options.next),
      step: (ctx, cursor) => task.step(ctx, cursor as C | undefined),
    });
    return this.#changed();
  }

  /**
   * Registers a split state: `tasks` run in parallel (each with its own retry policy, attempt
   * timeout and abort signal), and the join strategy decides the outcome. On success the run
   * moves to `join.next`, whose task receives every branch's outcome as `ctx.split` (typed when it
   * is registered with {@link Workflow.registerJoin}); losers of `"any"`, `partialResults` and
   * `"partialTimeout"` (and everyone, on cancel) are aborted through their signal. A branch's
   * return value is kept in `ctx.split` (it must be JSON-serialisable when a checkpoint store is
   * attached).
   *
   * `tasks` may also be a function of the task context returning the branches: dynamic fan-out,
   * one branch per item of the run data (cano's `TaskResult::Split` from a task). It is called
   * once each time the state is entered (again on a resume into it, with the checkpointed data),
   * is not retried, and must return an array of branches, else the state fails with a `workflow`
   * error naming what it returned.
   *
   * @param state The state.
   * @param tasks The branches (functions or `{ name?, config?, run }` objects), or a function of
   * the context returning them.
   * @param join The strategy, the next state, and optional `timeout`, `bulkhead` and `failFast`.
   * @returns This workflow, with `join.next` typed as a join of the branches' values.
   *
   * @example Fan out, then read every branch's outcome
   * ```ts
   * import { TaskConfig, Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const quote = (price: number) => ({ config: TaskConfig.minimal(), run: () => price });
   * const workflow = new Workflow<"quotes" | "pick" | "done", { best?: number }>()
   *   .registerSplit("quotes", [quote(12), quote(9), quote(15)], { strategy: "all", next: "pick" })
   *   .registerJoin("pick", (ctx) => {
   *     assert.deepEqual(ctx.split.results.map((r) => r.status), ["ok", "ok", "ok"]);
   *     ctx.data.best = Math.min(...ctx.split.values);
   *     return "done";
   *   })
   *   .addExitState("done");
   * assert.equal((await workflow.orchestrate("quotes")).data.best, 9);
   * ```
   *
   * @example One branch per order line (dynamic fan-out)
   * ```ts
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"reserve" | "total" | "done", { lines: number[]; sum?: number }>()
   *   .registerSplit("reserve", (ctx) => ctx.data.lines.map((qty) => () => qty * 10), {
   *     strategy: "all",
   *     next: "total",
   *   })
   *   .registerJoin("total", (ctx) => {
   *     ctx.data.sum = ctx.split.values.reduce((a, b) => a + b, 0);
   *     return "done";
   *   })
   *   .addExitState("done");
   * const result = await workflow.orchestrate("reserve", { data: { lines: [1, 2, 3] } });
   * assert.equal(result.data.sum, 60);
   * ```
   */
  registerSplit<const T extends readonly SplitTask<S, D, R>[], const Next extends S = S>(
    state: S,
    tasks: T | ((ctx: TaskContext<S, D, R>) => T | Promise<T>),
    join: JoinConfig<S> & { next: Next },
  ): Workflow<S, D, R, E, J & { [K in Next]: BranchValue<T[number]> }, W> {
    checkState(state);
    if (!Array.isArray(tasks) && typeof tasks !== "function") {
      throw new ConfigurationError(
        `Split state "${state}" needs an array of tasks or a function returning one, received ${
          safeString(tasks)
        }`,
      );
    }
    checkJoinConfig(state, join);
    checkState(join.next);
    const factory = typeof tasks === "function"
      ? tasks as unknown as (ctx: TaskContext<string, unknown, ResourceMap>) => unknown
      : undefined;
    this.#entries.set(state, {
      kind: "split",
      name: "",
      config: resolveTaskConfig(undefined),
      next: new Set([join.next]),
      branches: factory === undefined ? splitBranches(state, tasks as readonly unknown[]) : [],
      ...(factory === undefined ? {} : { factory }),
      join: { ...join },
    });
    return this.#changed() as unknown as Workflow<
      S,
      D,
      R,
      E,
      J & { [K in Next]: BranchValue<T[number]> },
      W
    >;
  }

  /**
   * Registers a join state: the state a split's `next` leads to, whose task reads the branches'
   * outcomes from `ctx.split`, typed by what the branches return (no `!`, no cast). It is a plain
   * task otherwise (retries, timeouts, checkpointing). Entering it other than right after a split
   * fails the run with a `task_execution` error naming the state; `validate()` refuses a join
   * state that no split leads to.
   *
   * @param state The join state (a split's `next`).
   * @param task A function or an object with `run`, receiving a context with `split`.
   * @param options Declared next states, task id and configuration.
   * @returns This workflow.
   *
   * @example Pick the best quote, typed
   * ```ts
   * import { TaskConfig, Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const quote = (price: number) => ({ config: TaskConfig.minimal(), run: () => price });
   * const workflow = new Workflow<"quotes" | "pick" | "done", { best?: number }>()
   *   .registerSplit("quotes", [quote(12), quote(9), quote(15)], { strategy: "all", next: "pick" })
   *   .registerJoin("pick", (ctx) => {
   *     ctx.data.best = Math.min(...ctx.split.values); // values: readonly number[]
   *     return "done";
   *   })
   *   .addExitState("done");
   * assert.equal((await workflow.orchestrate("quotes")).data.best, 9);
   * ```
   */
  registerJoin<const St extends S, const N extends S = S>(
    state: St,
    task: JoinHandler<JoinValueOf<J, St>, NoInfer<N>, S, D, R>,
    options: RegisterOptions<N> = {},
  ): this {
    checkState(state);
    const { run, name, config } = normaliseTask(
      state,
      task as unknown as TaskFn<string, string, D, R>,
    );
    const entry: SingleEntry = {
      kind: "single",
      name: options.name ?? name,
      config: resolveTaskConfig(options.config ?? config),
      run: (ctx) => {
        if (ctx.split === undefined) throw joinWithoutSplit(state);
        return run(ctx);
      },
      next: checkNext(state, options.next),
    };
    this.#joins.add(entry);
    this.#entries.set(state, entry);
    return this.#changed();
  }

  /**
   * Registers an engine-driven stream state: items from `open(ctx, cursor)` (any
   * `AsyncIterable`) are processed one by one, flushed per window, and the cursor of every flushed
   * window is checkpointed, so a resumed run re-opens the source after the last committed item.
   * Cancellation and the total timeout drain cooperatively: the partial window is flushed and
   * committed, then `onClose("cancelled")` runs.
   *
   * @param state The state.
   * @param task The stream task.
   * @param options Declared next states.
   * @returns This workflow.
   *
   * @example Sum a stream in windows of two
   * ```ts
   * import { Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * async function* numbers(from: number) {
   *   for (let n = from; n < 5; n++) yield n;
   * }
   * const sums: number[] = [];
   * const workflow = new Workflow<"ingest" | "done">()
   *   .registerStream("ingest", {
   *     window: { count: 2 },
   *     open: (_ctx, cursor: number | undefined) => numbers(cursor === undefined ? 0 : cursor + 1),
   *     processItem: (_ctx, n: number) => ({ output: n, cursor: n }),
   *     flushWindow: (_ctx, outputs: number[]) => {
   *       sums.push(outputs.reduce((a, b) => a + b, 0));
   *       return "continue";
   *     },
   *     onClose: () => "done",
   *   })
   *   .addExitState("done");
   * await workflow.orchestrate("ingest");
   * assert.deepEqual(sums, [1, 5, 4]);
   * ```
   */
  registerStream<const N extends S = S, I = unknown, O = unknown, C = unknown>(
    state: S,
    task: StreamTask<I, O, C, NoInfer<N>, S, D, R>,
    options: Pick<RegisterOptions<N>, "next"> = {},
  ): this {
    checkState(state);
    this.#putStream(state, task, options.next, true);
    return this.#changed();
  }

  #putStream<I, O, C, N extends string>(
    state: S,
    task: StreamTask<I, O, C, N, S, D, R>,
    next: readonly N[] | undefined,
    persist: boolean,
  ): void {
    if (typeof task !== "object" || task === null) {
      throw new ConfigurationError(`Stream task for state "${state}" must be an object`);
    }
    checkTaskName(state, task.name, false);
    for (const method of ["open", "processItem", "flushWindow", "onClose"]) {
      checkMethod(state, task, method);
    }
    this.#entries.set(state, {
      kind: "stream",
      name: task.name ?? state,
      config: resolveTaskConfig(task.config, RetryMode.none()),
      next: checkNext(state, next),
      task: task as unknown as StreamEntry["task"],
      window: checkWindow(state, task.window ?? { count: 1 }),
      policy: checkItemPolicy(state, task.onItemError ?? "failFast"),
      persist,
    });
  }

  /**
   * Registers a wait state: the run parks durably until an outside event arrives or its deadline
   * passes, then goes on in the state the event names (`events`) or `timeout.next`. Entering the
   * state checkpoints it (and its deadline), then the store parks the run: status `"waiting"`, no
   * owner, no lease, no timer — nothing runs for it until it is due. `store.sendEvent(id, name,
   * payload, { eventId })` from any process delivers an event (idempotent by `eventId`; an event
   * sent before the run reaches its wait state is queued for it); the next state reads it as
   * `ctx.event` (`undefined` after the deadline). A parked run wakes in the process that waits for
   * it (`orchestrate`'s default `onWait: "wait"`, within about a second) or in any process running
   * `startRecovery`; a cancel request wakes it into its rollback. Needs a checkpoint store with
   * `park` and `sendEvent` (both built-in stores have them).
   *
   * `payloads: {} as { approved: { by: string } }` declares each event's payload type (types only):
   * the states registered after this call that the events lead to see `ctx.event` typed (a union
   * narrowed by `name`), and {@link Workflow.sendEvent} checks names and payloads at compile time.
   *
   * @param state The wait state.
   * @param options Event name → next state, the payload types, and an optional
   * `{ after: ms, next }` deadline.
   * @returns This workflow.
   *
   * @example An approval with a deadline
   * ```ts
   * import { MemoryCheckpointStore, Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryCheckpointStore();
   * const workflow = new Workflow<"ask" | "ship" | "refund" | "expired", { by?: string }>({
   *   name: "expense",
   * })
   *   .registerWait("ask", {
   *     events: { approved: "ship", rejected: "refund" },
   *     timeout: { after: 48 * 3_600_000, next: "expired" },
   *   })
   *   .addExitStates("ship", "refund", "expired")
   *   .withCheckpointStore(store);
   *
   * const parked = await workflow.orchestrate("ask", { id: "expense-1", onWait: "return" });
   * assert.equal(parked.status, "waiting");
   * assert.equal((await store.getRun("expense-1"))?.status, "waiting");
   *
   * await store.sendEvent("expense-1", "approved", { by: "maria" }, { eventId: "mail-42" });
   * const done = await workflow.resumeFrom("expense-1");
   * assert.equal(done.state, "ship");
   * ```
   */
  registerWait<
    const M extends Readonly<Record<string, S>>,
    P extends PayloadsFor<M> & { readonly [K in Exclude<keyof P, keyof M>]: never } = NoWaits,
  >(
    state: S,
    options: WaitOptions<S, M, P>,
  ): Workflow<S, D, R, E, J, MergeWaits<W, WaitEventsOf<M, P>>> {
    checkState(state);
    const { events, timeout } = checkWaitOptions(state, options, checkState);
    this.#entries.set(state, {
      kind: "wait",
      name: state,
      config: resolveTaskConfig(undefined),
      next: new Set([...events.values(), ...(timeout === undefined ? [] : [timeout.next])]),
      events,
      timeout,
    });
    return this.#changed() as unknown as Workflow<S, D, R, E, J, MergeWaits<W, WaitEventsOf<M, P>>>;
  }

  /**
   * Sends an event to one of this workflow's runs: {@link RunStore.sendEvent} on the workflow's
   * checkpoint store, with the event name and payload typed by the workflow's wait states (their
   * `payloads` declarations). Durable and idempotent by `eventId`; an event sent before the run
   * reaches its wait state is queued for it. Any process can send, with this or with the store's
   * own `sendEvent`.
   *
   * @param workflowId The run's id.
   * @param name An event some wait state of this workflow waits for.
   * @param payload Its payload (JSON-checked like run data).
   * @param options `eventId`, the idempotency key.
   * @returns What the store did (`delivered`, `queued` or `duplicate`) and the run's record.
   * @throws {ConfigurationError} When the workflow has no checkpoint store with durable waits, or
   * no wait state of it waits for `name`.
   * @throws {EventRefusedError} When the run has no record, failed, or its inbox is full.
   *
   * @example Typed payloads
   * ```ts
   * import { MemoryCheckpointStore, Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * type Decision = { approved: { by: string }; rejected: { reason: string } };
   * const workflow = new Workflow<"ask" | "ship" | "refund", { note?: string }>({ name: "order" })
   *   .registerWait("ask", {
   *     events: { approved: "ship", rejected: "refund" },
   *     payloads: {} as Decision,
   *   })
   *   .register("ship", (ctx) => {
   *     ctx.data.note = `approved by ${ctx.event?.payload.by}`; // payload: { by: string }
   *     return "refund";
   *   })
   *   .addExitState("refund")
   *   .withCheckpointStore(new MemoryCheckpointStore());
   *
   * await workflow.orchestrate("ask", { id: "order-1", onWait: "return" });
   * const sent = await workflow.sendEvent("order-1", "approved", { by: "maria" });
   * assert.equal(sent.outcome, "delivered");
   * assert.equal((await workflow.resumeFrom("order-1")).data.note, "approved by maria");
   * ```
   */
  async sendEvent<const K extends keyof PayloadMap<SendableEvent<W>> & string>(
    workflowId: string,
    name: K,
    payload: PayloadMap<SendableEvent<W>>[K],
    options?: SendEventOptions,
  ): Promise<SendEventResult> {
    const store = this.#store;
    if (store === undefined || !hasWaitMethods(store)) {
      throw new ConfigurationError(
        "sendEvent needs a checkpoint store with durable waits: call withCheckpointStore(store) " +
          "(both built-in stores have them)",
      );
    }
    const waited = new Set<string>();
    for (const entry of this.#entries.values()) {
      if (entry.kind === "wait") { for (const event of entry.events.keys()) waited.add(event); }
    }
    if (!waited.has(name)) {
      throw new ConfigurationError(
        `No wait state of ${
          this.name === undefined ? "this workflow" : `workflow "${this.name}"`
        } waits for event "${safeString(name)}"${
          waited.size === 0
            ? " (it has no wait state: registerWait declares one)"
            : ` (it waits for ${[...waited].map((event) => `"${event}"`).join(", ")})`
        }`,
      );
    }
    return await store.sendEvent(workflowId, name, payload, options);
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
  addExitState<const X extends S>(state: X): Workflow<S, D, R, E | X, J, W> {
    checkState(state);
    this.#exits.add(state);
    return this.#changed() as unknown as Workflow<S, D, R, E | X, J, W>;
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
  addExitStates<const X extends S>(...states: X[]): Workflow<S, D, R, E | X, J, W> {
    for (const state of states) this.addExitState(state);
    return this as unknown as Workflow<S, D, R, E | X, J, W>;
  }

  /**
   * Sets the default run id: the id of every run that does not pass its own
   * (`orchestrate(initial, { id })`), carried by events, task contexts and results. With a
   * checkpoint store, prefer an id per run: two runs cannot share an unfinished id.
   *
   * @param id A non-empty, well-formed string.
   * @returns This workflow.
   *
   * @example A default id
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
    this.#workflowId = checkIdOption(id, "Workflow id");
    return this.#changed();
  }

  /**
   * Attaches a checkpoint store: every run is claimed in it (one owner at a time), and every
   * non-router state entry (and every saga step, cursor and rollback step) is appended to the
   * run's log under that claim before the work it records, so `resumeFrom` — in this process or
   * any other on the same store — can continue after a crash. Every run then needs an id
   * (`orchestrate(initial, { id })`, or `withWorkflowId`).
   *
   * A store with only `append`, `loadRun` and `clear` (the first version of the contract) also
   * works; ownership is then kept within this process only.
   *
   * @param store The store, e.g. `MemoryCheckpointStore` or `KvCheckpointStore` from `./kv`.
   * @returns This workflow.
   *
   * @example Checkpoint to memory
   * ```ts
   * import { MemoryCheckpointStore, Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryCheckpointStore();
   * const workflow = new Workflow<"go" | "done">()
   *   .register("go", () => "done")
   *   .addExitState("done")
   *   .withCheckpointStore(store)
   *   .withWorkflowId("job-1");
   * await workflow.orchestrate("go");
   * assert.deepEqual(await store.loadRun("job-1"), [], "the log is cleared at the exit state");
   * ```
   */
  withCheckpointStore(store: CheckpointStore): this {
    this.#store = checkStore(store);
    return this.#changed();
  }

  /**
   * Stamps every checkpoint row with `version`; `resumeFrom` refuses a log whose last row has
   * another version. Bump it when states are renamed or removed, or outputs/cursors change shape.
   *
   * @param version A non-negative integer (default 0).
   * @returns This workflow.
   *
   * @example Version 2 of a workflow
   * ```ts
   * import { Workflow } from "@cano/cano";
   *
   * new Workflow<"go" | "done">().register("go", () => "done").addExitState("done")
   *   .withWorkflowVersion(2)
   *   .validate();
   * ```
   */
  withWorkflowVersion(version: number): this {
    if (!Number.isSafeInteger(version) || version < 0) {
      throw new ConfigurationError(
        `Workflow version must be a non-negative integer, received ${safeString(version)}`,
      );
    }
    this.#version = version;
    return this.#changed();
  }

  /**
   * Bounds a saga rollback: compensations still pending when `ms` has passed are reported as
   * orphaned. Without it, a rollback is bounded by min(total timeout / 2, 30 s) when a total
   * timeout is set, and unbounded otherwise.
   *
   * @param ms Milliseconds, greater than 0.
   * @returns This workflow.
   *
   * @example Ten seconds to roll back
   * ```ts
   * import { Workflow } from "@cano/cano";
   *
   * new Workflow<"go" | "done">().register("go", () => "done").addExitState("done")
   *   .withCompensationTimeout(10_000)
   *   .validate();
   * ```
   */
  withCompensationTimeout(ms: number): this {
    if (checkDuration("Compensation timeout", ms) === 0) {
      throw new ConfigurationError("Compensation timeout must be greater than 0 ms, received 0");
    }
    this.#compensationTimeout = ms;
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
        `Initial state "${safeString(state)}" is neither registered nor an exit state`,
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
   * Runs the workflow from `initial` until an exit state: validates, sets up resources, claims
   * the run (with a checkpoint store), runs the FSM, and tears resources down whatever happens.
   * Failures inside a state reject with a `StateContextError` whose `category` is the cause's;
   * validation and setup errors reject raw, and so do `RunExistsError` (the id's run is
   * unfinished; see `ifExists`), `RunOwnedError` and `OwnershipLostError` (another process took
   * the run over: this one stopped it dead, without compensating).
   *
   * @param initial The initial state.
   * @param options The run's id, run data, an abort signal, and what to do when the id is taken.
   * @returns The exit state reached, the run data, the run id and the path taken.
   *
   * @example One run per order, checkpointed
   * ```ts
   * import { MemoryCheckpointStore, RunExistsError, TaskConfig, Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const workflow = new Workflow<"charge" | "ship" | "done", { orderId: string }>({ name: "order" })
   *   .register("charge", () => "ship")
   *   .register("ship", (ctx) => {
   *     if (ctx.data.orderId === "7") throw new Error("courier down");
   *     return "done";
   *   }, { config: TaskConfig.minimal() })
   *   .addExitState("done")
   *   .withCheckpointStore(new MemoryCheckpointStore());
   *
   * const done = await workflow.orchestrate("charge", { id: "order-6", data: { orderId: "6" } });
   * assert.equal(done.workflowId, "order-6");
   * await assert.rejects(workflow.orchestrate("charge", { id: "order-7", data: { orderId: "7" } }));
   * // order-7 failed with its log kept: its id is taken until it is resumed…
   * await assert.rejects(
   *   workflow.orchestrate("charge", { id: "order-7", data: { orderId: "7" } }),
   *   RunExistsError,
   * );
   * // …and other orders run on.
   * await workflow.orchestrate("charge", { id: "order-8", data: { orderId: "8" } });
   * ```
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
  orchestrate(
    initial: S,
    options: OrchestrateOptions<D> & { onWait: "return" } & DataOf<D>,
  ): Promise<WorkflowResult<S, D, ExitOf<S, E>> | WaitingResult<S, D>>;
  /**
   * Runs the workflow from `initial` until an exit state (see the overload above); a run that
   * parks in a wait state is waited for (`onWait: "wait"`, the default) until it ends.
   *
   * @param initial The initial state.
   * @param args The options (required, with `data`, when the data type has required fields).
   * @returns The exit state reached, the run data, the run id and the path taken.
   */
  orchestrate(
    initial: S,
    ...args: RunArgs<D, OrchestrateOptions<D> & { onWait?: "wait" }>
  ): Promise<WorkflowResult<S, D, ExitOf<S, E>>>;
  async orchestrate(
    initial: S,
    options?: OrchestrateOptions<D>,
  ): Promise<WorkflowResult<S, D, ExitOf<S, E>> | WaitingResult<S, D>> {
    const run = this.#prepare(initial, options ?? {});
    await this.resources.setupAll();
    try {
      return await run();
    } finally {
      await this.resources.teardownAll();
    }
  }

  /** Validates a run's inputs synchronously and returns the run, ready to start. */
  #prepare(
    initial: S,
    given: OrchestrateOptions<D>,
  ): () => Promise<WorkflowResult<S, D, ExitOf<S, E>> | WaitingResult<S, D>> {
    const definition = this.#validated();
    this.validateInitialState(initial);
    const options = readOptions<OrchestrateOptions<D>>(given, "orchestrate options", [
      "id",
      "ifExists",
      "data",
      "signal",
      "onWait",
    ]);
    const onWait = checkOnWait(options.onWait);
    const signal = checkSignal(options.signal);
    const data = options.data ?? {} as D;
    const id = options.id === undefined
      ? definition.workflowId
      : checkIdOption(options.id, "Run id");
    const ifExists = options.ifExists ?? "fail";
    if (ifExists !== "fail" && ifExists !== "resume") {
      throw new ConfigurationError(
        `Option ifExists must be "fail" or "resume", received ${safeString(ifExists)}`,
      );
    }
    if (definition.store !== undefined && id === undefined) {
      throw new ConfigurationError(
        "A checkpointed run needs an id: pass orchestrate(initial, { id }) (one per run), or " +
          "set a default with withWorkflowId(id)",
      );
    }
    const mode = ifExists === "resume" ? "startOrResume" : "start";
    return () =>
      settleParked(
        definition,
        id,
        startRun(definition, { id, mode, initial, data, signal }),
        onWait,
        signal,
      ) as Promise<WorkflowResult<S, D, ExitOf<S, E>> | WaitingResult<S, D>>;
  }

  static {
    // The scheduler sets resources up once for many runs, so it needs a run without the per-run
    // lifecycle; exposed to it through a module-private function rather than a public method.
    // (It never passes onWait: "return", so a parked run is waited for.)
    orchestrateWithoutLifecycle = (workflow, initial, options) =>
      Promise.resolve().then(() => workflow.#prepare(initial, options)()) as Promise<
        WorkflowResult<never, never>
      >;
    // …and it gives each run of a checkpointed workflow its own id.
    checkpointed = (workflow) => workflow.#store !== undefined;
    // Recovery, too, sets resources up once for the runs it resumes.
    resumeWithoutLifecycle = (workflow, id) =>
      Promise.resolve().then(() =>
        resumeRun(workflow.#validated(), checkIdOption(id, "Workflow id"), undefined)
      );
    // The testing kit's paths() walks the declared edges.
    graph = (workflow) => ({ entries: workflow.#entries, exits: workflow.#exits });
    // Recovery finds the definition of a stored run by name and version, in the same store.
    identity = (workflow) => ({
      name: workflow.name ?? "",
      version: workflow.#version,
      store: workflow.#store,
    });
  }

  /**
   * Continues a run from its checkpoint log after a crash (or a cancel, or a failure): resources
   * are set up, the run is claimed (a run whose owner is alive is refused with `RunOwnedError`),
   * its log is read, the version of its last row is checked, and the run re-enters the state of
   * the last row with the run data of the last snapshot, the saga stack and the step cursor
   * restored. The state it resumes in runs again (at least once), states before it never do. A
   * log whose saga rollback had begun is never run forward: the rollback is finished (skipping
   * the compensations already recorded) and the call rejects with the run's original error.
   *
   * @param workflowId The id of the run to resume.
   * @param options An abort signal.
   * @returns The same result as `orchestrate`; its `path` includes the states before the crash.
   *
   * @example Resume after a failure
   * ```ts
   * import { MemoryCheckpointStore, TaskConfig, Workflow } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * let attempts = 0;
   * const workflow = new Workflow<"fetch" | "store" | "done", { rows?: number }>()
   *   .register("fetch", (ctx) => {
   *     ctx.data.rows = 3;
   *     return "store";
   *   })
   *   .register("store", () => {
   *     if (++attempts === 1) throw new Error("disk full");
   *     return "done";
   *   }, { config: TaskConfig.minimal() })
   *   .addExitState("done")
   *   .withCheckpointStore(new MemoryCheckpointStore())
   *   .withWorkflowId("import-7");
   * await assert.rejects(workflow.orchestrate("fetch", { data: {} }));
   * const result = await workflow.resumeFrom("import-7");
   * assert.equal(result.state, "done");
   * assert.equal(result.data.rows, 3);
   * assert.deepEqual(result.path, ["fetch", "store", "done"]);
   * ```
   */
  resumeFrom(
    workflowId: string,
    options: ResumeOptions & { onWait: "return" },
  ): Promise<WorkflowResult<S, D, ExitOf<S, E>> | WaitingResult<S, D>>;
  /**
   * Resumes run `workflowId` from its checkpoint log (see the overload above); a run that parks
   * (again) in a wait state is waited for until it ends.
   *
   * @param workflowId The run's id.
   * @param options An abort signal.
   * @returns The exit state reached, the run data, the run id and the full path.
   */
  resumeFrom(
    workflowId: string,
    options?: ResumeOptions & { onWait?: "wait" },
  ): Promise<WorkflowResult<S, D, ExitOf<S, E>>>;
  async resumeFrom(
    workflowId: string,
    options: ResumeOptions = {},
  ): Promise<WorkflowResult<S, D, ExitOf<S, E>> | WaitingResult<S, D>> {
    if (this.#store === undefined) {
      throw new ConfigurationError(
        "resumeFrom requires a checkpoint store (call withCheckpointStore)",
      );
    }
    const definition = this.#validated();
    const id = checkIdOption(workflowId, "Workflow id");
    const { signal: given, onWait: wanted } = readOptions<ResumeOptions>(
      options,
      "resumeFrom options",
      ["signal", "onWait"],
    );
    const signal = checkSignal(given);
    const onWait = checkOnWait(wanted);
    await this.resources.setupAll();
    try {
      return await settleParked(
        definition,
        id,
        resumeRun<S, D, R, ExitOf<S, E>>(definition, id, signal),
        onWait,
        signal,
      ) as WorkflowResult<S, D, ExitOf<S, E>> | WaitingResult<S, D>;
    } finally {
      await this.resources.teardownAll();
    }
  }

  #put<N extends string>(
    state: S,
    kind: SingleEntry["kind"],
    task: TaskHandler<N, S, D, R>,
    options: RegisterOptions<N>,
  ): this {
    checkState(state);
    if (kind === "single" && drivesAsSteps(task)) {
      // e.g. timerTask: its progress (the deadline) is checkpointed like a stepped task's cursor.
      return this.registerStepped(state, task as unknown as SteppedTask<unknown, S, S, D, R>, {
        ...(options.next === undefined ? {} : { next: options.next as readonly string[] as S[] }),
      });
    }
    if (kind === "single" && isStreamTask(task)) {
      const stream = task as unknown as StreamTask<unknown, unknown, unknown, S, S, D, R>;
      this.#putStream(state, stream, options.next as readonly S[] | undefined, false);
      return this.#changed();
    }
    const { run, name, config } = kind === "single" && isSteppedTask(task)
      ? inMemorySteps(state, task)
      : normaliseTask(state, task as TaskFn<N, S, D, R> | Task<N, S, D, R>);
    this.#entries.set(state, {
      kind,
      name: options.name ?? name,
      config: resolveTaskConfig(options.config ?? config),
      run,
      next: checkNext(state, options.next),
    });
    return this.#changed();
  }

  /** Compensators by task name; two different tasks may not share a name (it keys the stack). */
  #compensators(): Map<string, CompensatableEntry> {
    const byName = new Map<string, CompensatableEntry>();
    const owner = new Map<string, S>();
    for (const [state, entry] of this.#entries) {
      if (entry.kind !== "compensatable") continue;
      const previous = owner.get(entry.name);
      if (previous !== undefined) {
        throw new ConfigurationError(
          `States "${previous}" and "${state}" register compensatable tasks named "${entry.name}"; ` +
            "the name keys the compensation stack and must be unique",
        );
      }
      owner.set(entry.name, state);
      byName.set(entry.name, entry);
    }
    return byName;
  }

  #changed(): this {
    this.#definition = undefined;
    return this;
  }

  #validated(): Definition<R> {
    if (this.#definition !== undefined) return this.#definition;
    if (this.#entries.size === 0) {
      throw new ConfigurationError(
        "Workflow has no registered state handlers",
      );
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
    for (const [join, entry] of this.#entries) {
      if (!this.#joins.has(entry)) continue;
      const fromSplit = [...this.#entries.values()].some((other) =>
        other.kind === "split" && other.join.next === join
      );
      if (!fromSplit) {
        throw new ConfigurationError(
          `Join state "${join}" (registerJoin) is the next state of no split: give a split ` +
            `{ next: "${join}" }, or register the state with register`,
        );
      }
    }
    const waits = [...this.#entries].filter(([, entry]) => entry.kind === "wait");
    if (waits.length > 0) {
      const store = this.#store;
      if (store === undefined || !hasWaitMethods(store)) {
        throw new ConfigurationError(
          `Wait state "${waits[0]![0]}" parks its run in the checkpoint store: call ` +
            "withCheckpointStore(store) with a store that has park and sendEvent (both built-in " +
            "stores do)",
        );
      }
    }
    this.#definition = {
      entries: new Map(this.#entries),
      exits: new Set(this.#exits),
      compensators: this.#compensators(),
      name: this.name ?? "",
      workflowId: this.#workflowId,
      version: this.#version,
      store: this.#store,
      totalTimeout: this.#totalTimeout,
      compensationTimeout: this.#compensationTimeout,
      resources: this.resources,
      events: this,
    };
    return this.#definition;
  }
}

/**
 * Whether a workflow checkpoints its runs (so each run needs its own id). Not part of the public
 * API.
 */
export function isCheckpointed(workflow: Workflow<string, never, ResourceMap>): boolean {
  return checkpointed(workflow as unknown as Workflow<string, unknown, ResourceMap>);
}

/**
 * A workflow's name, version and run store, as recovery matches stored runs against them. Not part
 * of the public API.
 */
export function workflowIdentity(
  workflow: Workflow<string, never, ResourceMap>,
): { name: string; version: number; store: RunStore | undefined } {
  return identity(workflow as unknown as Workflow<string, unknown, ResourceMap>);
}

/**
 * A workflow's registered entries (with their declared next states) and exit states, read-only,
 * in registration order. Not part of the public API (the testing kit's `paths()` reads it).
 */
export function workflowGraph(
  workflow: Workflow<string, never, ResourceMap>,
): { entries: ReadonlyMap<string, StateEntry>; exits: ReadonlySet<string> } {
  return graph(workflow as unknown as Workflow<string, unknown, ResourceMap>);
}

/** Resumes run `id` (claim, resume point, engine), the part of `resumeFrom` inside its lifecycle. */
function resumeRun<S extends string, D, R extends ResourceMap, X extends S = S>(
  definition: Definition<R>,
  id: string,
  signal: AbortSignal | undefined,
): Promise<WorkflowResult<S, D, X>> {
  return startRun<S, D, R>(definition, {
    id,
    mode: "resume",
    // A resumed run starts where its log says; these are never used.
    initial: "" as S,
    data: undefined as D,
    signal,
  }) as Promise<WorkflowResult<S, D, X>>;
}

/** The `onWait` option, checked. */
function checkOnWait(value: unknown): "wait" | "return" {
  if (value === undefined) return "wait";
  if (value !== "wait" && value !== "return") throw onWaitError(value);
  return value;
}

/**
 * A run's outcome as `orchestrate` / `resumeFrom` settle with it: a parked run is returned as
 * is with `onWait: "return"`; with `"wait"` this process waits for it (see waker.ts), resuming it
 * each time it is due, until it ends.
 */
async function settleParked<R extends ResourceMap>(
  definition: Definition<R>,
  id: string | undefined,
  outcome: Promise<unknown>,
  onWait: "wait" | "return",
  signal: AbortSignal | undefined,
): Promise<unknown> {
  const result = await outcome;
  if (!isWaiting(result) || onWait === "return") return result;
  const store = definition.store;
  if (store === undefined || id === undefined) return result; // not reachable: parking needs both
  return await waitForRun(
    store,
    id,
    () => resumeRun(definition, id, undefined) as Promise<WorkflowResult<string, unknown>>,
    signal,
  );
}

/** A join state entered other than right after a split: its task would read no outcome. */
function joinWithoutSplit(state: string): NonRetryableError {
  return new NonRetryableError(
    `Join state "${state}" was entered without a split right before it: only a split's next ` +
      "state may lead to a state registered with registerJoin (register it with register if " +
      "other states lead to it too)",
  );
}

/**
 * Resumes a run like `resumeFrom`, but without setting the workflow's resources up or tearing them
 * down: the caller (a recovery sweeper) owns their lifecycle. Not part of the public API.
 */
export function resumeWithExternalResources(
  workflow: Workflow<string, never, ResourceMap>,
  id: string,
): Promise<WorkflowResult<string, unknown>> {
  return resumeWithoutLifecycle(workflow as unknown as Workflow<string, unknown, ResourceMap>, id);
}

/**
 * Runs a workflow like `orchestrate`, but without setting its resources up or tearing them down:
 * the caller (the scheduler) owns their lifecycle. Not part of the public API.
 */
export function runWithExternalResources<S extends string, D, R extends ResourceMap>(
  workflow: Workflow<S, D, R>,
  initial: S,
  options: OrchestrateOptions<D> = {},
): Promise<WorkflowResult<S, D>> {
  return orchestrateWithoutLifecycle(workflow, initial, options);
}
