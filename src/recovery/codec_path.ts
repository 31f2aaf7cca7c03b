// The state of one codec walk and how it renders the path of the value it is at (`data.a[2]`).
// The walk keeps parallel arrays instead of frame objects, and renders a path string only when it
// reports an error. Apart from the walker so that the refusal messages and the typed codec's
// revival can name paths without depending on it.

import type { CheckpointStoreError } from "../errors.ts";

/** A plain object: iterate its container values (its other values are checked on entry). */
export const OBJ = 0;
/** An array: iterate indices. */
export const ARR = 1;
/** A Map (typed codec): iterate a flat `[k0, v0, k1, v1, …]` array. */
export const MAP = 2;
/** A Set (typed codec): iterate an array of its values. */
export const SET = 3;

/** Paths with more segments than this are rendered with the middle elided. */
export const MAX_RENDERED_SEGMENTS = 64;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** One walk's state: the frame stacks plus the codec mode. */
export interface Walk {
  readonly typed: boolean;
  readonly rootPath: string;
  /** The containers as met, for cycle detection and messages. */
  readonly origs: object[];
  /** What each frame iterates: an array, an object's container values, a flattened Map/Set. */
  readonly srcs: unknown[][];
  /** An object frame's keys of the values in `srcs`. */
  readonly keyLists: (string[] | undefined)[];
  readonly kinds: number[];
  /** The next slot of each frame; the current slot is `positions[f] - 1`. */
  readonly positions: number[];
  /** The typed codec's encoded copy of each frame, created only once something changes. */
  readonly outs: (unknown[] | Record<string, unknown> | undefined)[];
  /** What replaces each frame's container in its parent (the copy, or a tag wrapping it). */
  readonly results: unknown[];
  top: number;
  ancestors: Set<object> | undefined;
  failure: CheckpointStoreError | undefined;
}

function segment(walk: Walk, f: number): string {
  const slot = walk.positions[f]! - 1;
  switch (walk.kinds[f]) {
    case OBJ:
      return keySegment(walk.keyLists[f]![slot]!);
    case ARR:
      return `[${slot}]`;
    case MAP: {
      const index = slot >> 1;
      if ((slot & 1) === 0) return `.keys()[${index}]`;
      const literal = literalOf(walk.srcs[f]![slot - 1]);
      return literal === undefined ? `.values()[${index}]` : `.get(${literal})`;
    }
    default:
      return `.values()[${slot}]`;
  }
}

export function keySegment(key: string): string {
  return IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

function literalOf(key: unknown): string | undefined {
  switch (typeof key) {
    case "string":
      return JSON.stringify(key);
    case "number":
      return Object.is(key, -0) ? "-0" : String(key);
    case "bigint":
      return `${String(key)}n`;
    case "boolean":
    case "undefined":
      return String(key);
    default:
      return key === null ? "null" : undefined;
  }
}

/** The path of the value in the current slot of frames `0 … count - 1`. */
export function renderPath(walk: Walk, count: number): string {
  let text = walk.rootPath;
  if (count <= MAX_RENDERED_SEGMENTS) {
    for (let f = 0; f < count; f++) text += segment(walk, f);
    return text;
  }
  const edge = MAX_RENDERED_SEGMENTS >> 1;
  for (let f = 0; f < edge; f++) text += segment(walk, f);
  text += `…(${count - 2 * edge} more levels)…`;
  for (let f = count - edge; f < count; f++) text += segment(walk, f);
  return text;
}

export function currentPath(walk: Walk): string {
  return renderPath(walk, walk.top + 1);
}
