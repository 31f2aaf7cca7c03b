// Model-based paths: the runs a workflow's declared graph allows, enumerated so a test can drive
// and assert each one (as XState's @xstate/graph does for machines). A durable engine whose
// transitions live in code cannot offer this; cano's `next` declarations make the graph data.

import { safeInstanceOf, safeString } from "../describe.ts";
import { ConfigurationError } from "../errors.ts";
import { readOptions } from "../options.ts";
import { Workflow, workflowGraph as declaredGraph } from "../workflow/workflow.ts";

/**
 * One run the declared graph allows: the states entered from an initial state to an exit state,
 * exactly as `WorkflowResult.path` and `RecordingObserver.statesEntered()` record such a run.
 *
 * @typeParam S The workflow's state union.
 */
export interface Path<S extends string> {
  /** The states entered, `initial` first and `exit` last. */
  readonly states: readonly S[];
  /** The state the run starts in (pass it to `orchestrate`). */
  readonly initial: S;
  /** The exit state the run ends in. */
  readonly exit: S;
}

/** Options of {@link paths}. */
export interface PathsOptions<S extends string> {
  /**
   * The initial state(s), registered or exit states. The default guesses them from the graph:
   * the first registered state, then every other registered state that no declared edge from
   * another state enters (self-loops do not count), in registration order. Pass it when the
   * workflow does not start in its first registered state.
   *
   * @default {the first registered state and those without an incoming edge}
   */
  from?: S | readonly S[];
  /**
   * The exit state(s) the paths must end in.
   *
   * @default {every exit state}
   */
  to?: S | readonly S[];
  /**
   * How many times a path may re-enter a state it already went through: `0` gives simple paths
   * only (no state twice). The default `1` (each state at most twice) is the smallest bound that
   * still puts every edge of a cycle, such as a retry or a poll loop, on some path.
   *
   * @default {1}
   */
  maxRevisits?: number;
  /**
   * The most paths to return: finding more throws a `ConfigurationError` rather than returning
   * a silently incomplete list. It also bounds the search, which gives up after
   * `max(1_000_000, 100 × limit)` steps.
   *
   * @default {10_000}
   */
  limit?: number;
  /**
   * What a registered state without declared `next` may do: `"error"` throws a
   * `ConfigurationError` naming every such state a path could enter; `"any"` lets it go to every
   * state (registered or exit), as the engine would at run time.
   *
   * @default {"error"}
   */
  undeclared?: "error" | "any";
}

/** What {@link pathCoverage} found. */
export interface PathCoverage<S extends string> {
  /** The paths some run took, in the order given. */
  readonly covered: Path<S>[];
  /** The paths no run took, in the order given. */
  readonly missing: Path<S>[];
}

const DEFAULT_LIMIT = 10_000;
const MIN_STEPS = 1_000_000;

/**
 * Enumerates the paths through `workflow`'s declared graph (the `next` of `register*`, a split's
 * `join.next`) from each initial state to each exit state, re-entering a state at most
 * `maxRevisits` times so cycles stay bounded. Paths are grouped by initial state (in `from`
 * order), shortest first, ties in the order of the declared `next` lists: the same workflow
 * always gives the same list. States that cannot reach an exit state, and exit states that no
 * path reaches, simply appear in no path. Compensations are not edges: a rollback ends a run in
 * failure, not in an exit state.
 *
 * @typeParam S The workflow's state union.
 * @param workflow The workflow (it is validated first).
 * @param options Initial and exit states, the cycle bound, the path limit and what undeclared
 * edges mean.
 * @returns The paths, typed by the workflow's state union.
 * @throws {ConfigurationError} When `workflow` is not a valid workflow, an option is invalid, a
 * state a path could enter has no declared `next` (unless `undeclared: "any"`), no initial
 * state can be guessed, or more than `limit` paths exist.
 *
 * @example Every way through a review
 * ```ts
 * import { paths } from "@cano/cano/testing";
 * import { Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * type Step = "review" | "fix" | "merge" | "merged" | "closed";
 * const workflow = new Workflow<Step, { ok: boolean }>()
 *   .registerRouter("review", (ctx) => ctx.data.ok ? "merge" : "fix", { next: ["merge", "fix"] })
 *   .register("fix", () => "review", { next: ["review", "closed"] })
 *   .register("merge", () => "merged", { next: ["merged"] })
 *   .addExitStates("merged", "closed");
 *
 * assert.deepEqual(paths(workflow).map((path) => path.states), [
 *   ["review", "merge", "merged"],
 *   ["review", "fix", "closed"],
 *   ["review", "fix", "review", "merge", "merged"],
 *   ["review", "fix", "review", "fix", "closed"],
 * ]);
 * assert.deepEqual(paths(workflow, { maxRevisits: 0, to: "closed" }).map((p) => p.states), [
 *   ["review", "fix", "closed"],
 * ]);
 * ```
 *
 * @example A model-based test: drive every path and check the run took it
 * ```ts
 * import { paths, RecordingObserver } from "@cano/cano/testing";
 * import { Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * type Step = "charge" | "wait" | "ship" | "done" | "declined";
 * type Reply = "ok" | "busy" | "no";
 * const workflow = new Workflow<Step, { replies: Reply[] }>()
 *   .register("charge", (ctx) => {
 *     const reply = ctx.data.replies.shift();
 *     return reply === "ok" ? "ship" : reply === "busy" ? "wait" : "declined";
 *   }, { next: ["ship", "wait", "declined"] })
 *   .register("wait", () => "charge", { next: ["charge"] })
 *   .register("ship", () => "done", { next: ["done"] })
 *   .addExitStates("done", "declined");
 *
 * // The gateway reply that sends `charge` to each of its next states.
 * const replyFor: Partial<Record<Step, Reply>> = { ship: "ok", wait: "busy", declined: "no" };
 * using observer = new RecordingObserver(workflow);
 * const all = paths(workflow);
 * assert.equal(all.length, 4);
 * for (const path of all) {
 *   const replies = path.states.flatMap((state, i) =>
 *     state === "charge" ? [replyFor[path.states[i + 1]!]!] : []
 *   );
 *   observer.clear();
 *   await workflow.orchestrate(path.initial, { data: { replies } });
 *   observer.assertPath(path.states);
 * }
 * ```
 */
export function paths<S extends string>(
  // deno-lint-ignore no-explicit-any
  workflow: Workflow<S, any, any>,
  options: PathsOptions<NoInfer<S>> = {},
): Path<S>[] {
  const graph = workflowGraph(workflow);
  const given = readOptions<PathsOptions<string>>(options, "paths() options", [
    "from",
    "to",
    "maxRevisits",
    "limit",
    "undeclared",
  ]);
  // readOptions leaves undefined fields out; a null one is a mistake to report, not a default.
  const maxRevisits = count("maxRevisits", "maxRevisits" in given ? given.maxRevisits : 1, 0);
  const limit = count("limit", "limit" in given ? given.limit : DEFAULT_LIMIT, 1);
  const undeclared = "undeclared" in given ? given.undeclared : "error";
  if (undeclared !== "error" && undeclared !== "any") {
    throw new ConfigurationError(
      `paths() option undeclared must be "error" or "any", received ${safeString(undeclared)}`,
    );
  }
  const successors = successorsOf(graph, undeclared === "any");
  const known = new Set([...graph.registered, ...graph.exits]);
  const from = !("from" in given)
    ? guessInitials(graph)
    : stateList("from", given.from, (s) => known.has(s));
  const to = !("to" in given)
    ? [...graph.exits]
    : stateList("to", given.to, (s) => graph.exits.has(s));
  if (undeclared === "error") checkDeclared(graph, from);
  const found = enumerate(successors, from, new Set(to), {
    maxRevisits,
    limit,
    steps: Math.max(MIN_STEPS, limit * 100),
  });
  return found as Path<S>[];
}

/**
 * Splits `paths` into those some run took (a run's states equal the path's states) and those no
 * run took. A run is the list of states one run entered: `WorkflowResult.path`, or
 * `RecordingObserver.statesEntered()` when the observer is cleared between runs.
 *
 * @typeParam S The workflow's state union.
 * @param paths The paths, usually from {@link paths}.
 * @param runs The states each run entered, one list per run.
 * @returns The covered and the missing paths.
 * @throws {ConfigurationError} When `paths` is not an array of paths or `runs` not an array of
 * state lists.
 *
 * @example Find the paths the tests never took
 * ```ts
 * import { pathCoverage, paths } from "@cano/cano/testing";
 * import { Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const workflow = new Workflow<"check" | "ok" | "failed", { valid: boolean }>()
 *   .registerRouter("check", (ctx) => ctx.data.valid ? "ok" : "failed", { next: ["ok", "failed"] })
 *   .addExitStates("ok", "failed");
 *
 * const run = await workflow.orchestrate("check", { data: { valid: true } });
 * const { covered, missing } = pathCoverage(paths(workflow), [run.path]);
 * assert.deepEqual(covered.map((path) => path.exit), ["ok"]);
 * assert.deepEqual(missing.map((path) => path.states), [["check", "failed"]]);
 * ```
 */
export function pathCoverage<S extends string>(
  paths: readonly Path<S>[],
  runs: readonly (readonly string[])[],
): PathCoverage<S> {
  if (
    !Array.isArray(paths) ||
    !paths.every((p) => typeof p === "object" && p !== null && isStateList(p.states))
  ) {
    throw new ConfigurationError("pathCoverage() needs an array of paths, as paths() returns");
  }
  if (!Array.isArray(runs) || !runs.every(isStateList)) {
    throw new ConfigurationError(
      "pathCoverage() needs an array of runs, each the list of states it entered (result.path)",
    );
  }
  // Keyed by JSON so each run is compared once, whatever the number of paths.
  const taken = new Set(runs.map((run) => JSON.stringify(run)));
  const covered: Path<S>[] = [];
  const missing: Path<S>[] = [];
  for (const path of paths) (taken.has(JSON.stringify(path.states)) ? covered : missing).push(path);
  return { covered, missing };
}

/** The exit states of `workflow`, in declaration order (for `assertStateCoverage`). */
export function exitStatesOf(workflow: unknown, caller: string): string[] {
  return [...workflowGraph(workflow, caller).exits];
}

/** A workflow's declared graph. */
interface Graph {
  /** The registered states, in registration order. */
  readonly registered: readonly string[];
  /** The exit states, in declaration order (an exit state may also be registered). */
  readonly exits: ReadonlySet<string>;
  /** The declared next states of each registered state that declares them, in declared order. */
  readonly next: ReadonlyMap<string, readonly string[]>;
}

/**
 * Reads the declared graph of `workflow`. The workflow keeps its entries private, and
 * `toMermaid()` is the public rendering of exactly the declared edges and exit states, so the
 * graph is read back from it; names Mermaid cannot hold are aliased there (`state "a b" as s0`).
 * Should `Workflow` grow a graph accessor, only this function changes.
 */
function workflowGraph(workflow: unknown, caller = "paths()"): Graph {
  if (!safeInstanceOf(workflow, Workflow)) {
    throw new ConfigurationError(`${caller} needs a Workflow, received ${safeString(workflow)}`);
  }
  workflow.validate(); // every declared target is then a registered or exit state
  const { entries, exits } = declaredGraph(workflow as never);
  const next = new Map<string, readonly string[]>();
  for (const [state, entry] of entries) {
    if (entry.next !== undefined) next.set(state, [...entry.next]);
  }
  return { registered: [...entries.keys()], exits: new Set(exits), next };
}

/** A non-negative (or ≥ `min`) safe integer option. */
function count(name: string, value: unknown, min: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new ConfigurationError(
      `paths() option ${name} must be an integer ≥ ${min}, received ${safeString(value)}`,
    );
  }
  return value;
}

/** A `from`/`to` option as a deduplicated list of states accepted by `valid`. */
function stateList(name: string, value: unknown, valid: (state: string) => boolean): string[] {
  const list: unknown[] = typeof value === "string" ? [value] : Array.isArray(value) ? value : [];
  if (list.length === 0) {
    throw new ConfigurationError(
      `paths() option ${name} must be a state or a non-empty array of states, received ${
        safeString(value)
      }`,
    );
  }
  for (const state of list) {
    if (typeof state !== "string" || !valid(state)) {
      throw new ConfigurationError(
        `paths() option ${name}: ${safeString(state)} is not ${
          name === "to" ? "an exit state" : "a registered or exit state"
        } of this workflow`,
      );
    }
  }
  return [...new Set(list as string[])];
}

function isStateList(value: unknown): boolean {
  return Array.isArray(value) && value.every((state) => typeof state === "string");
}

/**
 * The first registered state (where workflows conventionally start, and often loop back to), then
 * every other registered state no declared edge from another state enters: nothing but a direct
 * start can run those. Exit states are left out; a run started there enters nothing else.
 */
function guessInitials(graph: Graph): string[] {
  const entered = new Set<string>();
  for (const [state, targets] of graph.next) {
    if (graph.exits.has(state)) continue; // a run ends there: its edges are never taken
    for (const target of targets) if (target !== state) entered.add(target);
  }
  const candidates = graph.registered.filter((state) => !graph.exits.has(state));
  const initials = candidates.filter((state, i) => i === 0 || !entered.has(state));
  if (initials.length === 0) {
    throw new ConfigurationError(
      "paths() cannot guess the initial state: every registered state is also an exit state; " +
        'pass it, e.g. paths(workflow, { from: "start" })',
    );
  }
  return initials;
}

/** Each non-exit registered state's next states (all states for undeclared ones with `any`). */
function successorsOf(graph: Graph, any: boolean): Map<string, readonly string[]> {
  const everything = [...new Set([...graph.registered, ...graph.exits])];
  const successors = new Map<string, readonly string[]>();
  for (const state of graph.registered) {
    if (graph.exits.has(state)) continue; // exit states win over handlers: a run ends there
    const declared = graph.next.get(state);
    if (declared !== undefined) successors.set(state, declared);
    else if (any) successors.set(state, everything);
  }
  return successors;
}

/** Throws when a state reachable from `from` through declared edges declares no `next`. */
function checkDeclared(graph: Graph, from: readonly string[]): void {
  const seen = new Set<string>(from);
  const queue = [...from];
  const undeclared: string[] = [];
  for (let i = 0; i < queue.length; i++) {
    const state = queue[i] as string;
    if (graph.exits.has(state)) continue;
    const targets = graph.next.get(state);
    if (targets === undefined) undeclared.push(state);
    for (const target of targets ?? []) {
      if (seen.has(target)) continue;
      seen.add(target);
      queue.push(target);
    }
  }
  if (undeclared.length === 0) return;
  const rank = new Map(graph.registered.map((state, i) => [state, i]));
  const order = (s: string): number => rank.get(s) ?? 0;
  throw new ConfigurationError(
    `paths() needs every state's edges, but ${
      undeclared.sort((a, b) => order(a) - order(b)).map((s) => `"${s}"`).join(", ")
    } ${undeclared.length === 1 ? "declares" : "declare"} no next states: register them with ` +
      '{ next: [...] }, or pass { undeclared: "any" } to let them go to every state',
  );
}

interface Bounds {
  readonly maxRevisits: number;
  readonly limit: number;
  readonly steps: number;
}

/**
 * Depth-first enumeration, without recursion so a long path cannot overflow the stack. Every
 * successor tried and every state copied into a result costs one step, so the budget bounds both
 * the time and the memory the search takes.
 */
function enumerate(
  successors: ReadonlyMap<string, readonly string[]>,
  from: readonly string[],
  to: ReadonlySet<string>,
  bounds: Bounds,
): Path<string>[] {
  // Only states that can still reach a wanted exit are worth entering (a reverse search).
  const predecessors = new Map<string, string[]>();
  for (const [state, targets] of successors) {
    for (const target of targets) {
      if (predecessors.has(target)) predecessors.get(target)?.push(state);
      else predecessors.set(target, [state]);
    }
  }
  const useful = new Set(to);
  const queue = [...to];
  for (let i = 0; i < queue.length; i++) {
    for (const state of predecessors.get(queue[i] as string) ?? []) {
      if (useful.has(state)) continue;
      useful.add(state);
      queue.push(state);
    }
  }
  const pruned = new Map([...successors].map(([s, ts]) => [s, ts.filter((t) => useful.has(t))]));
  const found: Path<string>[] = [];
  let steps = 0;
  const spend = (n: number): void => {
    steps += n;
    if (steps > bounds.steps) {
      throw new ConfigurationError(
        `paths() gave up after ${bounds.steps} search steps, with ${found.length} paths found ` +
          "so far (the search allows max(1_000_000, 100 × limit) steps); lower { maxRevisits }, " +
          "narrow { from } or { to }, or raise { limit }",
      );
    }
  };
  for (const initial of from) {
    if (!useful.has(initial)) continue;
    const group: Path<string>[] = [];
    const path: string[] = [];
    const visits = new Map<string, number>();
    const frames: { readonly next: readonly string[]; index: number }[] = [];
    const enter = (state: string): void => {
      path.push(state);
      visits.set(state, (visits.get(state) ?? 0) + 1);
      if (to.has(state)) {
        spend(path.length);
        group.push({ states: [...path], initial, exit: state });
        if (found.length + group.length > bounds.limit) {
          throw new ConfigurationError(
            `paths() found more than ${bounds.limit} paths (the limit); raise { limit }, lower ` +
              "{ maxRevisits }, or narrow { from } or { to }",
          );
        }
      }
      frames.push({ next: to.has(state) ? [] : pruned.get(state) ?? [], index: 0 });
    };
    enter(initial);
    for (let frame = frames.at(-1); frame !== undefined; frame = frames.at(-1)) {
      spend(1);
      const next = frame.next[frame.index++];
      if (next === undefined) {
        frames.pop();
        const left = path.pop() as string;
        visits.set(left, (visits.get(left) ?? 1) - 1);
      } else if ((visits.get(next) ?? 0) <= bounds.maxRevisits) {
        enter(next);
      }
    }
    // Stable: equal lengths keep the depth-first order, i.e. the declared `next` order.
    for (const path of group.sort((a, b) => a.states.length - b.states.length)) found.push(path);
  }
  return found;
}
