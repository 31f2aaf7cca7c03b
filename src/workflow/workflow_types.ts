// Type-level bookkeeping of the Workflow builder: which exit states were declared (so a result's
// `state` is narrowed to them), which join states follow which split (so `ctx.split` is typed by
// the branches' return values), and when `orchestrate` must be given run data. Types only: nothing
// here exists at run time.

import type { ResourceMap, TaskConfig, TaskContext } from "../task/task.ts";
import type { SplitOutcome } from "./join.ts";
import type { WaitEvent } from "../task/wait.ts";

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

/**
 * The states that follow a wait state, each with the events that can lead there (built up by
 * `registerWait`, read by `register`, `registerRouter` and `registerWithCompensation` to type
 * `ctx.event`).
 */
export type WaitEvents = Record<string, WaitEvent>;

/** No wait state declared yet. */
export type NoWaits = Record<never, never>;

/**
 * What one `registerWait` adds: for each state its events lead to, the union of those events, each
 * with its name and the payload type `P` declares for it (`unknown` where it declares none).
 *
 * @typeParam M The event map (event name → next state).
 * @typeParam P The declared payload types by event name.
 */
export type WaitEventsOf<M extends Readonly<Record<string, string>>, P> = {
  [Next in M[keyof M]]: {
    [K in keyof M & string]: M[K] extends Next
      ? WaitEvent<P extends { readonly [Q in K]?: infer V } ? V : unknown, K>
      : never;
  }[keyof M & string];
};

/**
 * Two {@link WaitEvents} merged: a state reached from two wait states may be woken by the events
 * of either.
 */
export type MergeWaits<A extends WaitEvents, B extends WaitEvents> = {
  [K in keyof A | keyof B]:
    | (K extends keyof A ? A[K] : never)
    | (K extends keyof B ? B[K] : never);
};

/**
 * The events `ctx.event` may hold in state `K`: those of the wait states leading to it, or any
 * event (payload `unknown`) when no wait state declared so far leads there.
 */
export type EventOf<W extends WaitEvents, K extends string> = K extends keyof W ? W[K]
  : WaitEvent;

/**
 * The payload declaration `registerWait` accepts for the event map `M`: optional keys among its
 * event names only (a misspelt event name is a compile error).
 */
export type PayloadsFor<M> = { readonly [K in keyof M]?: unknown };

/** Every event any wait state of `W` waits for, by name: what `Workflow.sendEvent` accepts. */
export type SendableEvent<W extends WaitEvents> = [keyof W] extends [never] ? WaitEvent
  : W[keyof W];

/**
 * Event name → payload type, over the events `Ev` (what `Workflow.sendEvent` accepts). An indexed
 * map rather than a conditional type, so that a caller generic in the name (`K extends keyof
 * Payloads`) can pass `Payloads[K]`.
 */
export type PayloadMap<Ev extends WaitEvent> = { [E in Ev as E["name"]]: E["payload"] };
