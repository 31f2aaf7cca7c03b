// A workflow's graph as the page draws it: its states and declared edges read from the definition
// (wait states by their events and deadline, splits by their join), laid out by graph_layout.ts,
// with a run's path on it — the states it entered, the edges it took (through routers, which
// write no rows, when that explains a step), edges it took that were never declared (dashed),
// and where it is now.

import type { CheckpointRow } from "../recovery/checkpoint.ts";
import type { ResourceMap } from "../task/task.ts";
import type { StateEntry } from "../workflow/run.ts";
import { type Workflow, workflowGraph } from "../workflow/workflow.ts";
import { layout } from "./graph_layout.ts";
import type { AdminWorkflow } from "./options.ts";

/** What kind of state a node is. */
export type NodeKind =
  | "task"
  | "router"
  | "saga"
  | "stepped"
  | "split"
  | "stream"
  | "wait"
  | "exit"
  | "unknown";

/** A state of the graph, placed. */
export interface GraphNodeView {
  readonly id: string;
  /** The label drawn (cut to fit; `id` is the whole name). */
  readonly label: string;
  readonly kind: NodeKind;
  readonly exit: boolean;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  /** The run entered it. */
  readonly visited: boolean;
  /** The run is in it now (its last row's state). */
  readonly current: boolean;
}

/** An edge of the graph, routed. */
export interface GraphEdgeView {
  readonly from: string;
  readonly to: string;
  /** An event name, a deadline, a join strategy. */
  readonly label: string | null;
  /** The run took it. */
  readonly taken: boolean;
  /** Not declared: the run took it all the same (a state registered without `next`). */
  readonly observed: boolean;
  readonly back: boolean;
  readonly points: readonly (readonly [number, number])[];
}

/** The graph the page draws. */
export interface GraphView {
  /** `definition` when drawn from a registered definition, `path` when only from the run's log. */
  readonly source: "definition" | "path";
  readonly width: number;
  readonly height: number;
  readonly nodes: readonly GraphNodeView[];
  readonly edges: readonly GraphEdgeView[];
}

interface Edge {
  from: string;
  to: string;
  label: string | null;
  observed: boolean;
}

const MAX_LABEL = 26;

/**
 * The states a run entered, in order, as its log says (a resumed run's re-entry of the state it
 * stopped in is the same visit; routers write no rows).
 *
 * @param rows The log, ascending.
 * @returns The path.
 */
export function pathOf(rows: readonly CheckpointRow[]): string[] {
  return rows.filter((row) => row.kind === "state_entry" && row.resumed !== true).map((row) =>
    row.state
  );
}

/**
 * The state a run is in, for the graph: the state of its last forward row (a rollback's rows
 * belong to the compensated steps, but the run stopped where its failure started).
 *
 * @param rows The log, ascending.
 * @param recorded The state its record names (used when the log has no forward row).
 * @returns The state.
 */
export function currentOf(rows: readonly CheckpointRow[], recorded: string): string {
  for (let index = rows.length - 1; index >= 0; index--) {
    const row = rows[index]!;
    if (row.kind === "rollback") return row.state;
    if (row.kind === "state_entry" || row.kind === "step_cursor") return row.state;
  }
  return recorded;
}

/**
 * The graph of a definition, with a run's path on it.
 *
 * @param workflow The definition, or `undefined` to draw the path alone.
 * @param path The states the run entered ({@link pathOf}), empty for none.
 * @param current The state the run is in, when it is unfinished.
 * @returns The graph.
 */
export function graphView(
  workflow: AdminWorkflow | undefined,
  path: readonly string[],
  current: string | undefined,
): GraphView {
  const kinds = new Map<string, NodeKind>();
  const exits = new Set<string>();
  const edges: Edge[] = [];
  if (workflow !== undefined) {
    const graph = workflowGraph(workflow as Workflow<string, never, ResourceMap>);
    for (const [state, entry] of graph.entries) {
      kinds.set(state, kindOf(entry));
      edges.push(...edgesOf(state, entry));
    }
    for (const state of graph.exits) {
      exits.add(state);
      if (!kinds.has(state)) kinds.set(state, "exit");
    }
    for (const edge of edges) if (!kinds.has(edge.to)) kinds.set(edge.to, "unknown");
  }
  for (const state of path) if (!kinds.has(state)) kinds.set(state, "unknown");
  if (current !== undefined && current !== "" && !kinds.has(current)) kinds.set(current, "unknown");

  // The steps of the path, mapped onto edges: declared, through routers, or observed.
  const visited = new Set(path);
  const taken = new Set<Edge>();
  const find = (from: string, to: string): Edge | undefined =>
    edges.find((edge) => edge.from === from && edge.to === to);
  for (let i = 0; i + 1 < path.length; i++) {
    const from = path[i]!;
    const to = path[i + 1]!;
    const direct = find(from, to);
    if (direct !== undefined) {
      taken.add(direct);
      continue;
    }
    const router = [...kinds].find(([state, kind]) =>
      kind === "router" && find(from, state) !== undefined && find(state, to) !== undefined
    )?.[0];
    if (router !== undefined) {
      taken.add(find(from, router)!);
      taken.add(find(router, to)!);
      visited.add(router);
      continue;
    }
    const observed: Edge = { from, to, label: null, observed: true };
    edges.push(observed);
    taken.add(observed);
  }

  const ids = [...kinds.keys()];
  const laid = layout(
    ids.map((id) => ({ id, width: widthOf(labelOf(id)) })),
    edges,
    path.length > 0 ? [path[0]!] : [],
  );
  const placed = new Map(laid.nodes.map((node) => [node.id, node]));
  return {
    source: workflow === undefined ? "path" : "definition",
    width: laid.width,
    height: laid.height,
    nodes: ids.map((id) => {
      const node = placed.get(id)!;
      return {
        id,
        label: labelOf(id),
        kind: kinds.get(id)!,
        exit: exits.has(id),
        x: node.x,
        y: node.y,
        width: node.width,
        height: node.height,
        visited: visited.has(id),
        current: id === current,
      };
    }),
    edges: edges.map((edge, i) => ({
      from: edge.from,
      to: edge.to,
      label: edge.label,
      taken: taken.has(edge),
      observed: edge.observed,
      back: laid.edges[i]!.back,
      points: laid.edges[i]!.points,
    })),
  };
}

function kindOf(entry: StateEntry): NodeKind {
  switch (entry.kind) {
    case "single":
      return "task";
    case "compensatable":
      return "saga";
    default:
      return entry.kind;
  }
}

function edgesOf(state: string, entry: StateEntry): Edge[] {
  const edge = (to: string, label: string | null = null): Edge => ({
    from: state,
    to,
    label,
    observed: false,
  });
  if (entry.kind === "wait") {
    const found = [...entry.events].map(([event, target]) => edge(target, event));
    if (entry.timeout !== undefined) {
      found.push(edge(entry.timeout.next, `after ${duration(entry.timeout.after)}`));
    }
    return found;
  }
  if (entry.kind === "split") {
    const strategy = entry.join.strategy;
    const label = typeof strategy === "string"
      ? strategy
      : Object.entries(strategy).map(([key, value]) => `${key} ${value}`).join(", ");
    return [edge(entry.join.next, `${entry.branches.length || "n"} branches, join ${label}`)];
  }
  return [...entry.next ?? []].map((target) => edge(target));
}

function duration(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms % 1_000 === 0) return `${ms / 1_000} s`;
  return `${ms} ms`;
}

function labelOf(state: string): string {
  const chars = [...state];
  return chars.length <= MAX_LABEL ? state : `${chars.slice(0, MAX_LABEL - 1).join("")}…`;
}

function widthOf(label: string): number {
  return Math.min(220, Math.max(84, Math.round([...label].length * 7.4 + 30)));
}
