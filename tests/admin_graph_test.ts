// The console's graph: the layered layout (ranks, cycles, long edges, no overlaps) and the graph
// of a definition with a run's path on it (routers, observed edges, wait and split labels).

import assert from "node:assert/strict";
import { MemoryCheckpointStore, Workflow } from "../mod.ts";
import { currentOf, graphView, pathOf } from "../src/admin/graph.ts";
import { layout } from "../src/admin/graph_layout.ts";
import type { CheckpointRow } from "../mod.ts";

const nodes = (...ids: string[]) => ids.map((id) => ({ id, width: 80 }));
const edges = (...pairs: string[]) =>
  pairs.map((pair) => {
    const [from, to] = pair.split(">");
    return { from: from!, to: to! };
  });

function assertNoOverlap(placed: ReturnType<typeof layout>["nodes"]): void {
  for (const a of placed) {
    for (const b of placed) {
      if (a === b || a.rank !== b.rank) continue;
      assert.ok(a.x + a.width <= b.x || b.x + b.width <= a.x, `${a.id} and ${b.id} overlap`);
    }
  }
}

Deno.test("layout() ranks a chain top to bottom and keeps nodes apart", () => {
  const laid = layout(nodes("a", "b", "c", "d", "e"), edges("a>b", "b>c", "b>d", "c>e", "d>e"), [
    "a",
  ]);
  const rank = Object.fromEntries(laid.nodes.map((node) => [node.id, node.rank]));
  assert.deepEqual(rank, { a: 0, b: 1, c: 2, d: 2, e: 3 });
  assertNoOverlap(laid.nodes);
  for (const node of laid.nodes) {
    assert.ok(node.x >= 0 && node.x + node.width <= laid.width, `${node.id} inside the width`);
    assert.ok(node.y >= 0 && node.y + node.height <= laid.height, `${node.id} inside the height`);
  }
  const ab = laid.edges[0]!;
  const a = laid.nodes[0]!;
  assert.deepEqual(ab.points[0], [a.x + a.width / 2, a.y + a.height], "leaves a's bottom centre");
});

Deno.test("layout() turns cycles into back edges and routes long edges through every rank", () => {
  const laid = layout(
    nodes("fetch", "retry", "store", "done"),
    edges("fetch>retry", "retry>fetch", "retry>store", "store>done", "fetch>done", "store>store"),
    ["fetch"],
  );
  const byId = Object.fromEntries(laid.nodes.map((node) => [node.id, node]));
  assert.equal(byId.fetch!.rank, 0);
  assert.equal(byId.retry!.rank, 1);
  assert.equal(byId.done!.rank, 3);
  const back = laid.edges.filter((edge) => edge.back).map((edge) => `${edge.from}>${edge.to}`);
  assert.deepEqual(back, ["retry>fetch", "store>store"]);
  const long = laid.edges.find((edge) => edge.from === "fetch" && edge.to === "done")!;
  assert.equal(long.points.length, 4, "a bend in each rank it crosses");
  assertNoOverlap(laid.nodes);
  // A graph with no node at all lays out to an empty canvas.
  assert.deepEqual(layout([], []).nodes, []);
  // Unreachable cycles still get ranks.
  const island = layout(nodes("x", "y"), edges("x>y", "y>x"));
  assert.deepEqual(island.nodes.map((node) => node.rank).sort(), [0, 1]);
});

function row(
  sequence: number,
  state: string,
  kind: CheckpointRow["kind"] = "state_entry",
): CheckpointRow {
  return { sequence, state, taskId: state, kind, workflowVersion: 0 };
}

Deno.test("graphView() draws a run's path through routers, with labels and observed steps", () => {
  const store = new MemoryCheckpointStore();
  type S = "in" | "route" | "big" | "small" | "wait" | "fan" | "join" | "done" | "late";
  const workflow = new Workflow<S>({ name: "g" })
    .register("in", () => "route", { next: ["route"] })
    .registerRouter("route", () => "big", { next: ["big", "small"] })
    .register("big", () => "wait", { next: ["wait"] })
    .register("small", () => "done", { next: ["done"] })
    .registerWait("wait", { events: { go: "fan" }, timeout: { after: 3_600_000, next: "done" } })
    .registerSplit("fan", [() => 1, () => 2], { strategy: { quorum: 1 }, next: "join" })
    .register("join", () => "done")
    .register("late", () => "done")
    .addExitState("done")
    .withCheckpointStore(store);
  const rows = [
    row(0, "in"),
    row(1, "big"),
    row(2, "wait"),
    row(3, "wait", "step_cursor"),
    row(4, "fan"),
    row(5, "join"),
    row(6, "late"),
  ];
  const path = pathOf(rows);
  assert.deepEqual(path, ["in", "big", "wait", "fan", "join", "late"]);
  const graph = graphView(workflow, path, currentOf(rows, "late"));
  const node = (id: string) => graph.nodes.find((n) => n.id === id)!;
  assert.equal(node("route").kind, "router");
  assert.equal(node("route").visited, true, "the router between in and big was passed");
  assert.equal(node("small").visited, false);
  assert.equal(node("late").current, true);
  assert.equal(node("done").exit, true);
  const edge = (from: string, to: string) =>
    graph.edges.find((e) => e.from === from && e.to === to)!;
  assert.equal(edge("in", "route").taken, true);
  assert.equal(edge("route", "big").taken, true);
  assert.equal(edge("route", "small").taken, false);
  assert.equal(edge("wait", "fan").label, "go");
  assert.equal(edge("wait", "done").label, "after 1 h");
  assert.equal(edge("fan", "join").label, "2 branches, join quorum 1");
  assert.equal(
    edge("join", "late").observed,
    true,
    "join declares no edges: the step is drawn dashed",
  );
  assert.equal(edge("join", "late").taken, true);

  // Without a definition, the path alone is drawn.
  const bare = graphView(undefined, ["a", "b"], "b");
  assert.equal(bare.source, "path");
  assert.deepEqual(bare.nodes.map((n) => [n.id, n.kind, n.visited, n.current]), [
    ["a", "unknown", true, false],
    ["b", "unknown", true, true],
  ]);
});

Deno.test("currentOf() names where a rolled-back run stopped, not its compensations", () => {
  const rows = [
    row(0, "hotel"),
    row(1, "hotel", "compensation_completion"),
    row(2, "pay"),
    row(3, "pay", "rollback"),
    row(4, "hotel", "compensated"),
  ];
  assert.equal(currentOf(rows, "hotel"), "pay");
  assert.equal(currentOf([], "x"), "x");
});
