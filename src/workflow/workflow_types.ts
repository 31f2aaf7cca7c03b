// Type-level bookkeeping of the Workflow builder: which exit states were declared (so a result's
// `state` is narrowed to them), which join states follow which split (so `ctx.split` is typed by
// the branches' return values), and when `orchestrate` must be given run data. Types only: nothing
// here exists at run time.

import type { ResourceMap, TaskConfig, TaskContext } from "../task/task.ts";
import type { SplitOutcome } from "./join.ts";

/**
 * The join states of a workflow, each with the value type its split's branches return: built up by
 * `registerSplit` and read by `registerJoin`.
 */
export type JoinValues = Record<string, unknown>;

/** No join state declared yet. */
export type NoJoins = Record<never, never>;

/**
 * The states a run can end in: the declared exit states `E`, or the whole union `S` while none is
 * declared at the type level (a workflow typed as `Workflow<S>` without its builder history).
 *
 * @typeParam S The state union.
 * @typeParam E The exit states declared through `addExitState` / `addExitStates`.
 */
export type ExitOf<S extends string, E extends S> = [E] extends [never] ? S : E;

/**
 * The options argument of `orchestrate`: optional while the run data type has no required field,
 * required (with its `data`) otherwise, so a missing `data` is a compile error instead of a run
 * that fails at its first read.
 *
 * @typeParam D The run data type.
 * @typeParam O The options type.
 */
export type RunArgs<D, O extends { data?: D }> = Record<never, never> extends D ? [options?: O]
  : [options: O & { data: D }];

/**
 * The `data` an options object must carry: `{ data: D }` when the run data type has a required
 * field, nothing otherwise (see {@link RunArgs}).
 *
 * @typeParam D The run data type.
 */
export type DataOf<D> = Record<never, never> extends D ? unknown : { data: D };

/** What one split branch returns, awaited: the value its join state sees in `ctx.split`. */
export type BranchValue<T> = T extends (...args: never[]) => infer V ? Awaited<V>
  : T extends { run(...args: never[]): infer V } ? Awaited<V>
  : unknown;

/** The value type of the join state `J[K]`, or `unknown` when no split leads to `K` yet. */
export type JoinValueOf<J extends JoinValues, K extends string> = K extends keyof J ? J[K]
  : unknown;

/**
 * What a join state's task receives: a task context whose `split` is always there, typed by the
 * value its split's branches return.
 *
 * @typeParam V The branches' value type.
 * @typeParam S The state union. @typeParam D The run data. @typeParam R The resource map.
 */
export type JoinContext<
  V = unknown,
  S extends string = string,
  D = unknown,
  R extends ResourceMap = ResourceMap,
> = Omit<TaskContext<S, D, R>, "split"> & {
  /** Every branch's outcome; `values` holds the successful branches' values in branch order. */
  readonly split: SplitOutcome<V>;
};

/**
 * A join state's task, given to `registerJoin`: a function or an object with `run`, receiving a
 * {@link JoinContext} and returning the next state.
 *
 * @typeParam V The branches' value type. @typeParam N The states it may return.
 */
export type JoinHandler<
  V,
  N extends string,
  S extends string,
  D,
  R extends ResourceMap,
> =
  | ((ctx: JoinContext<V, S, D, R>) => N | Promise<N>)
  | {
    name?: string;
    config?: TaskConfig;
    run(ctx: JoinContext<V, S, D, R>): N | Promise<N>;
  };
