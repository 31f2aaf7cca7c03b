// What `instrument()` and `logTo()` can be attached to — a Workflow, a Scheduler (its flows'
// workflows and its ticks) or a RunningScheduler — and attaching consumers to all of it at once.
// Schedulers register themselves here when made, so that this file (and `logTo` in the main
// entry) need not import the scheduler.

import { ConfigurationError } from "../errors.ts";
import type { CircuitBreaker } from "../resilience/circuit_breaker.ts";
import type { Limiter } from "../resilience/rate_limiter.ts";
import type { ResourceMap } from "../task/task.ts";
import { Workflow, workflowGraph } from "../workflow/workflow.ts";
import { type FlowObserver, type RunObserver, shown, type SpanConsumer } from "./consumer.ts";
import { schedulerReporter, workflowReporter } from "./reporter.ts";

/** A workflow of any shape, as a target. */
// deno-lint-ignore no-explicit-any
export type AnyWorkflow = Workflow<any, any, any, any, any, any>;

/** What a scheduler tells about itself: its flows' workflows, and who wants to hear of more. */
interface SchedulerTarget {
  readonly workflows: () => readonly AnyWorkflow[];
  /** Called with the workflow of each flow registered from now on. */
  readonly watchers: Set<(workflow: AnyWorkflow) => void>;
}

const schedulers = new WeakMap<object, SchedulerTarget>();

/**
 * Registers `scheduler` (a `Scheduler` builder or a `RunningScheduler`) as an observable
 * target. Called by the scheduler itself.
 *
 * @param scheduler The scheduler.
 * @param workflows Its flows' workflows, as of the call.
 * @returns What the scheduler calls with the workflow of each flow it registers later, so that
 * consumers attached to the scheduler before that flow (an `instrument(scheduler)` right after
 * `new Scheduler()`) get its runs too.
 */
export function registerSchedulerTarget(
  scheduler: object,
  workflows: () => readonly AnyWorkflow[],
): (workflow: AnyWorkflow) => void {
  const target: SchedulerTarget = { workflows, watchers: new Set() };
  schedulers.set(scheduler, target);
  return (workflow) => {
    for (const watcher of [...target.watchers]) watcher(workflow);
  };
}

/** The consumers to attach, on every part of a target. */
export interface TargetConsumers {
  /** Gets every workflow point. */
  readonly runs?: RunObserver | undefined;
  /** Gets every workflow span. */
  readonly runSpans?: SpanConsumer | undefined;
  /** Gets every scheduler point. */
  readonly flows?: FlowObserver | undefined;
  /** Gets every `tick` span. */
  readonly tickSpans?: SpanConsumer | undefined;
}

/** A target's parts: its workflows (deduplicated) and, for a scheduler, the scheduler. */
export interface TargetParts {
  /** The workflows. */
  readonly workflows: readonly AnyWorkflow[];
  /** The scheduler (builder or running), when the target is one. */
  readonly scheduler: object | undefined;
  /**
   * Subscribes to the workflows of the scheduler's flows registered from now on; returns the
   * unsubscribe function (`undefined` for a workflow target).
   */
  readonly watch: ((watcher: (workflow: AnyWorkflow) => void) => () => void) | undefined;
}

/**
 * The parts of `target`, or a `ConfigurationError` naming what it is instead.
 *
 * @param target A Workflow, a Scheduler or a RunningScheduler.
 * @param what The function's name, for the message.
 */
export function targetParts(target: unknown, what: string): TargetParts {
  if (target instanceof Workflow) {
    return { workflows: [target], scheduler: undefined, watch: undefined };
  }
  const scheduler = typeof target === "object" && target !== null
    ? schedulers.get(target)
    : undefined;
  if (scheduler === undefined) {
    throw new ConfigurationError(
      `${what} needs a Workflow, a Scheduler or a RunningScheduler, received ${shown(target)}`,
    );
  }
  return {
    workflows: [...new Set(scheduler.workflows())],
    scheduler: target as object,
    watch: (watcher) => {
      scheduler.watchers.add(watcher);
      return () => void scheduler.watchers.delete(watcher);
    },
  };
}

/** Attaches `consumers` to every part of `parts`; returns the function that detaches them all. */
export function attachToParts(parts: TargetParts, consumers: TargetConsumers): () => void {
  const detachers: Array<() => void> = [];
  if (consumers.runs !== undefined || consumers.runSpans !== undefined) {
    const attached = new Set<AnyWorkflow>();
    const attach = (workflow: AnyWorkflow): void => {
      if (attached.has(workflow)) return; // several flows may share a workflow
      attached.add(workflow);
      detachers.push(
        workflowReporter(workflow).attach({ observer: consumers.runs, spans: consumers.runSpans }),
      );
    };
    for (const workflow of parts.workflows) attach(workflow);
    if (parts.watch !== undefined) detachers.push(parts.watch(attach));
  }
  if (
    parts.scheduler !== undefined &&
    (consumers.flows !== undefined || consumers.tickSpans !== undefined)
  ) {
    detachers.push(
      schedulerReporter(parts.scheduler).attach({
        observer: consumers.flows,
        spans: consumers.tickSpans,
      }),
    );
  }
  return () => {
    for (const detach of detachers.splice(0)) detach();
  };
}

/** The circuit breakers and rate limiters the states (and split branches) of `workflows` use. */
export function resilienceOf(
  workflows: readonly AnyWorkflow[],
): { breakers: Set<CircuitBreaker>; limiters: Set<Limiter> } {
  const breakers = new Set<CircuitBreaker>();
  const limiters = new Set<Limiter>();
  for (const workflow of workflows) {
    const { entries } = workflowGraph(workflow as unknown as Workflow<string, never, ResourceMap>);
    for (const entry of entries.values()) {
      const configs = [
        entry.config,
        ...(entry.kind === "split" ? entry.branches : []).map((b) => b.config),
      ];
      for (const config of configs) {
        if (config.circuitBreaker !== undefined) breakers.add(config.circuitBreaker);
        if (config.rateLimiter !== undefined) limiters.add(config.rateLimiter);
      }
    }
  }
  return { breakers, limiters };
}
