// A small layered (Sugiyama-style) layout for workflow graphs, top to bottom: break cycles by
// reversing the back edges a depth-first search finds, rank nodes by longest path, put dummy
// nodes on edges that span several ranks, order each rank by barycentres (a few sweeps down and
// up), then place nodes left to right and pull each towards its parents. Enough for state
// machines of a few dozen states; no external renderer.

/** A node to lay out: its id and the width its label needs. */
export interface LayoutInput {
  readonly id: string;
  readonly width: number;
}

/** A node placed: its centre is `(x + width / 2, y + height / 2)`. */
export interface PlacedNode {
  readonly id: string;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  readonly rank: number;
}

/** An edge routed: a polyline from the source's border to the target's. */
export interface RoutedEdge {
  readonly from: string;
  readonly to: string;
  /** `true` for an edge that goes back up (it closes a cycle) or loops on its node. */
  readonly back: boolean;
  readonly points: readonly (readonly [number, number])[];
}

/** The laid-out graph. */
export interface Layout {
  readonly width: number;
  readonly height: number;
  readonly nodes: readonly PlacedNode[];
  readonly edges: readonly RoutedEdge[];
}

const NODE_HEIGHT = 34;
const RANK_GAP = 58;
const NODE_GAP = 28;
const MARGIN = 20;
const DUMMY_WIDTH = 12;
const SWEEPS = 6;

interface Slot {
  readonly key: number; // node index, or dummy index ≥ node count
  readonly width: number;
  rank: number;
  x: number;
  order: number;
  readonly up: number[];
  readonly down: number[];
}

/**
 * Lays a graph out.
 *
 * @param nodes The nodes, in a stable order (registration order reads best).
 * @param edges The edges by node id (unknown ids are ignored).
 * @param roots Where ranking starts (the initial state first, when known).
 * @returns The placed nodes and routed edges.
 */
export function layout(
  nodes: readonly LayoutInput[],
  edges: readonly { readonly from: string; readonly to: string }[],
  roots: readonly string[] = [],
): Layout {
  const index = new Map(nodes.map((node, i) => [node.id, i]));
  const pairs = edges.flatMap((edge) => {
    const from = index.get(edge.from);
    const to = index.get(edge.to);
    return from === undefined || to === undefined ? [] : [{ from, to }];
  });
  const back = backEdges(nodes.length, pairs, roots.flatMap((id) => index.get(id) ?? []));
  const rank = ranks(nodes.length, pairs, back);

  // Slots: one per node, plus one per rank an edge crosses without a node there.
  const slots: Slot[] = nodes.map((node, key) => ({
    key,
    width: node.width,
    rank: rank[key]!,
    x: 0,
    order: 0,
    up: [],
    down: [],
  }));
  const chains: number[][] = pairs.map((pair, i) => {
    if (pair.from === pair.to) return [pair.from];
    const [top, bottom] = back.has(i) ? [pair.to, pair.from] : [pair.from, pair.to];
    const chain = [top];
    for (let r = rank[top]! + 1; r < rank[bottom]!; r++) {
      const key = slots.length;
      slots.push({ key, width: DUMMY_WIDTH, rank: r, x: 0, order: 0, up: [], down: [] });
      chain.push(key);
    }
    chain.push(bottom);
    for (let link = 0; link + 1 < chain.length; link++) {
      slots[chain[link]!]!.down.push(chain[link + 1]!);
      slots[chain[link + 1]!]!.up.push(chain[link]!);
    }
    return back.has(i) ? chain.reverse() : chain;
  });

  const layers = orderLayers(slots);
  place(layers, slots);

  const placed: PlacedNode[] = nodes.map((node, key) => {
    const slot = slots[key]!;
    return {
      id: node.id,
      x: slot.x - slot.width / 2,
      y: MARGIN + slot.rank * (NODE_HEIGHT + RANK_GAP),
      width: slot.width,
      height: NODE_HEIGHT,
      rank: slot.rank,
    };
  });
  const width = Math.max(2 * MARGIN, ...slots.map((slot) => slot.x + slot.width / 2 + MARGIN));
  const rightmost = width - MARGIN;
  let loops = 0;
  const routed: RoutedEdge[] = pairs.map((pair, i) => {
    const chain = chains[i]!;
    const from = placed[pair.from]!;
    const to = placed[pair.to]!;
    if (pair.from === pair.to) {
      const right = from.x + from.width;
      const cy = from.y + from.height / 2;
      return {
        from: from.id,
        to: to.id,
        back: true,
        points: [[right, cy - 8], [right + 26, cy - 14], [right + 26, cy + 14], [right, cy + 8]],
      };
    }
    if (back.has(i)) {
      // Up the right-hand side, outside every rank the edge passes.
      const lane = Math.max(from.x + from.width, to.x + to.width, rightmost - MARGIN) + 18 +
        10 * loops++;
      return {
        from: from.id,
        to: to.id,
        back: true,
        points: [
          [from.x + from.width, from.y + from.height / 2],
          [lane, from.y + from.height / 2],
          [lane, to.y + to.height / 2],
          [to.x + to.width, to.y + to.height / 2],
        ],
      };
    }
    const points: [number, number][] = [[from.x + from.width / 2, from.y + from.height]];
    for (const key of chain.slice(1, -1)) {
      const slot = slots[key]!;
      points.push([slot.x, MARGIN + slot.rank * (NODE_HEIGHT + RANK_GAP) + NODE_HEIGHT / 2]);
    }
    points.push([to.x + to.width / 2, to.y]);
    return { from: from.id, to: to.id, back: false, points };
  });
  const ranksUsed = nodes.length === 0 ? 0 : Math.max(...rank) + 1;
  return {
    width: Math.ceil(width + 10 * loops + (loops > 0 ? 2 * MARGIN : 0)),
    height: Math.ceil(2 * MARGIN + ranksUsed * NODE_HEIGHT + Math.max(0, ranksUsed - 1) * RANK_GAP),
    nodes: placed,
    edges: routed,
  };
}

/** The indices of the edges a depth-first search from the roots (then the rest) finds going back. */
function backEdges(
  count: number,
  pairs: readonly { from: number; to: number }[],
  roots: readonly number[],
): Set<number> {
  const out: number[][] = Array.from({ length: count }, () => []);
  pairs.forEach((pair, i) => out[pair.from]!.push(i));
  const hasIncoming = new Set(pairs.filter((p) => p.from !== p.to).map((pair) => pair.to));
  const starts = [
    ...roots,
    ...Array.from({ length: count }, (_, i) => i).filter((i) => !hasIncoming.has(i)),
    ...Array.from({ length: count }, (_, i) => i),
  ];
  const state = new Uint8Array(count); // 0 new, 1 on the stack, 2 done
  const back = new Set<number>();
  for (const start of starts) {
    if (state[start] !== 0) continue;
    const stack: { node: number; next: number }[] = [{ node: start, next: 0 }];
    state[start] = 1;
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const edge = out[top.node]![top.next++];
      if (edge === undefined) {
        state[top.node] = 2;
        stack.pop();
        continue;
      }
      const target = pairs[edge]!.to;
      if (state[target] === 1) back.add(edge);
      else if (state[target] === 0) {
        state[target] = 1;
        stack.push({ node: target, next: 0 });
      }
    }
  }
  return back;
}

/** Longest-path ranks over the forward edges (back edges count reversed). */
function ranks(
  count: number,
  pairs: readonly { from: number; to: number }[],
  back: ReadonlySet<number>,
): number[] {
  const rank = new Array<number>(count).fill(0);
  const incoming = new Array<number>(count).fill(0);
  const out: number[][] = Array.from({ length: count }, () => []);
  pairs.forEach((pair, i) => {
    if (pair.from === pair.to) return;
    const [from, to] = back.has(i) ? [pair.to, pair.from] : [pair.from, pair.to];
    out[from]!.push(to);
    incoming[to]! += 1;
  });
  const queue = Array.from({ length: count }, (_, i) => i).filter((i) => incoming[i] === 0);
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head]!;
    for (const target of out[node]!) {
      rank[target] = Math.max(rank[target]!, rank[node]! + 1);
      if (--incoming[target]! === 0) queue.push(target);
    }
  }
  return rank;
}

/** Slots grouped by rank and ordered to reduce crossings. */
function orderLayers(slots: Slot[]): Slot[][] {
  const layers: Slot[][] = [];
  for (const slot of slots) (layers[slot.rank] ??= []).push(slot);
  for (let r = 0; r < layers.length; r++) layers[r] ??= [];
  const renumber = (layer: Slot[]): void => layer.forEach((slot, i) => slot.order = i);
  layers.forEach(renumber);
  for (let sweep = 0; sweep < SWEEPS; sweep++) {
    const down = sweep % 2 === 0;
    const sequence = down ? layers.slice(1) : layers.slice(0, -1).reverse();
    for (const layer of sequence) {
      const centre = new Map<Slot, number>();
      for (const slot of layer) {
        const neighbours = down ? slot.up : slot.down;
        centre.set(
          slot,
          neighbours.length === 0
            ? slot.order
            : neighbours.reduce((sum, key) => sum + slots[key]!.order, 0) / neighbours.length,
        );
      }
      layer.sort((a, b) => centre.get(a)! - centre.get(b)! || a.order - b.order);
      renumber(layer);
    }
  }
  return layers;
}

/** x of every slot's centre: packed left to right, pulled towards the parents, then centred. */
function place(layers: Slot[][], slots: Slot[]): void {
  const pack = (layer: Slot[], wanted: (slot: Slot) => number): void => {
    let min = -Infinity;
    for (const slot of layer) {
      slot.x = Math.max(wanted(slot), min + slot.width / 2);
      min = slot.x + slot.width / 2 + NODE_GAP;
    }
    // Pull the row back left as far as its wishes allow (the packing only pushes right).
    const shift = layer.reduce((sum, slot) => sum + (slot.x - wanted(slot)), 0) /
      (layer.length || 1);
    if (shift > 0) { for (const slot of layer) slot.x -= shift / 2; }
  };
  for (const layer of layers) {
    let next = 0;
    for (const slot of layer) {
      slot.x = next + slot.width / 2;
      next += slot.width + NODE_GAP;
    }
  }
  for (let pass = 0; pass < 3; pass++) {
    for (const layer of layers.slice(1)) {
      pack(
        layer,
        (slot) =>
          slot.up.length === 0
            ? slot.x
            : slot.up.reduce((sum, key) => sum + slots[key]!.x, 0) / slot.up.length,
      );
    }
    for (const layer of layers.slice(0, -1).reverse()) {
      pack(
        layer,
        (slot) =>
          slot.down.length === 0
            ? slot.x
            : slot.down.reduce((sum, key) => sum + slots[key]!.x, 0) / slot.down.length,
      );
    }
  }
  const left = Math.min(...slots.map((slot) => slot.x - slot.width / 2));
  for (const slot of slots) slot.x += MARGIN - (Number.isFinite(left) ? left : 0);
}
