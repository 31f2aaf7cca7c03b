// The loop measured by `engine_bench.ts` (`deno bench`) and `engine_compare.ts`
// (`deno task bench:engine`): two states, "a" → "b" → "a" → … → "done", where every task does
// nothing but count. Each variant runs the same number of transitions and checks that it did, so
// no variant can be a no-op by accident.

import { assign, createActor, fromPromise, setup, toPromise } from "npm:xstate@^5";
import { TaskConfig, Workflow } from "../mod.ts";

/** Transitions per run: every task call is one transition, the last one goes to "done". */
export const TRANSITIONS = 100_000;

/** The states of the loop. */
export type Step = "a" | "b" | "done";

/** The run data: how many transitions happened so far. */
export interface Counter {
  /** Transitions so far. */
  n: number;
}

/** One way of running the loop. */
export interface Variant {
  /** Short label for tables and `deno bench`. */
  readonly name: string;
  /** Budget as a multiple of the floor's time, or `undefined` when there is none. */
  readonly budget: number | undefined;
  /** Runs the loop once and throws unless exactly the expected transitions happened. */
  run(): Promise<void>;
}

function expect(label: string, what: string, actual: unknown, expected: unknown): void {
  if (actual !== expected) {
    throw new Error(`${label}: expected ${what} ${String(expected)}, got ${String(actual)}`);
  }
}

/**
 * The floor: the same loop as plain awaited async functions looked up in a `Map`.
 *
 * @param transitions Transitions per run.
 * @returns The variant.
 */
export function floorVariant(transitions: number = TRANSITIONS): Variant {
  const name = "floor (Map of async fns)";
  const handlers = new Map<Step, (data: Counter) => Promise<Step>>([
    // deno-lint-ignore require-await -- an async no-op task is the point of the benchmark
    ["a", async (data) => {
      data.n++;
      return "b";
    }],
    // deno-lint-ignore require-await -- an async no-op task is the point of the benchmark
    ["b", async (data) => {
      data.n++;
      return data.n >= transitions ? "done" : "a";
    }],
  ]);
  return {
    name,
    budget: undefined,
    async run(): Promise<void> {
      const data: Counter = { n: 0 };
      let state: Step = "a";
      while (state !== "done") {
        const handler = handlers.get(state);
        if (handler === undefined) throw new Error(`${name}: no handler for ${state}`);
        state = await handler(data);
      }
      expect(name, "transitions", data.n, transitions);
    },
  };
}

/**
 * The benchmark's workflow: two async no-op states taking turns for `transitions` transitions.
 *
 * @param transitions Transitions per run.
 * @param minimal `TaskConfig.minimal()` (no retries) instead of the default config.
 * @param name The workflow's name, if any.
 * @returns The workflow, built once and orchestrated on every run.
 */
export function loopWorkflow(
  transitions: number,
  minimal: boolean,
  name?: string,
): Workflow<Step, Counter, Record<string, unknown>, "done"> {
  const register = minimal ? { config: TaskConfig.minimal() } : {};
  return new Workflow<Step, Counter>(name === undefined ? {} : { name })
    // deno-lint-ignore require-await -- an async no-op task is the point of the benchmark
    .register("a", async (ctx) => {
      ctx.data.n++;
      return "b";
    }, register)
    // deno-lint-ignore require-await -- an async no-op task is the point of the benchmark
    .register("b", async (ctx) => {
      ctx.data.n++;
      return ctx.data.n >= transitions ? "done" : "a";
    }, register)
    .addExitState("done");
}

/** Options of {@link engineVariant}. */
export interface EngineVariantOptions {
  /** `minimal` = `TaskConfig.minimal()` (no retries); `default` = no config (exponential, 3). */
  config: "minimal" | "default";
  /** Attach one `stateenter` listener (it counts the states entered). */
  listener: boolean;
  /** Transitions per run. */
  transitions?: number;
}

/**
 * The loop as a cano {@link Workflow}, built once and orchestrated on every run.
 *
 * @param options Task configuration, listener and size.
 * @returns The variant.
 */
export function engineVariant(options: EngineVariantOptions): Variant {
  const transitions = options.transitions ?? TRANSITIONS;
  const name = `cano, ${options.config} config, ${options.listener ? "1 listener" : "no listener"}`;
  const workflow = loopWorkflow(transitions, options.config === "minimal");
  let entered = 0;
  if (options.listener) {
    workflow.addEventListener("stateenter", () => {
      entered++;
    });
  }
  return {
    name,
    // Issue 15's budgets, as multiples of the floor of the same round.
    budget: options.listener ? 12 : 10,
    async run(): Promise<void> {
      entered = 0;
      const result = await workflow.orchestrate("a", { data: { n: 0 } });
      expect(name, "final state", result.state, "done");
      expect(name, "transitions", result.data.n, transitions);
      // The path holds every state entered: the initial one, then one per transition.
      expect(name, "path length", result.path.length, transitions + 1);
      if (options.listener) expect(name, "stateenter events", entered, transitions + 1);
    },
  };
}

/**
 * The loop as an xstate@5 machine: states "a" and "b" each invoke a promise actor that resolves at
 * once, and its `onDone` counts and moves on; the machine's output is the count.
 *
 * @param transitions Transitions per run.
 * @returns The variant.
 */
export function xstateVariant(transitions: number = TRANSITIONS): Variant {
  const name = "xstate@5, promise actors";
  const machine = setup({
    types: { context: {} as Counter, output: {} as number },
    actors: { tick: fromPromise(async () => {}) },
    actions: { count: assign({ n: ({ context }) => context.n + 1 }) },
    guards: { last: ({ context }) => context.n + 1 >= transitions },
  }).createMachine({
    id: "loop",
    initial: "a",
    context: { n: 0 },
    output: ({ context }) => context.n,
    states: {
      a: { invoke: { src: "tick", onDone: { target: "b", actions: "count" } } },
      b: {
        invoke: {
          src: "tick",
          onDone: [
            { guard: "last", target: "done", actions: "count" },
            { target: "a", actions: "count" },
          ],
        },
      },
      done: { type: "final" },
    },
  });
  return {
    name,
    budget: undefined,
    async run(): Promise<void> {
      const actor = createActor(machine);
      const done = toPromise(actor);
      actor.start();
      const n = await done;
      expect(name, "transitions", n, transitions);
    },
  };
}

/**
 * Every variant, floor first.
 *
 * @param transitions Transitions per run.
 * @returns The variants.
 */
export function allVariants(transitions: number = TRANSITIONS): Variant[] {
  return [
    floorVariant(transitions),
    engineVariant({ config: "minimal", listener: false, transitions }),
    engineVariant({ config: "minimal", listener: true, transitions }),
    engineVariant({ config: "default", listener: false, transitions }),
    engineVariant({ config: "default", listener: true, transitions }),
    xstateVariant(transitions),
  ];
}
