// How typedJsonCodec's `parse` turns its `$cano` tags back into values (Map, Set, Date, BigInt,
// undefined, NaN, holes, …), iteratively and in place on the tree `JSON.parse` built. Only the
// typed codec writes tags, so only its `parse` needs this.

import { CheckpointStoreError } from "../errors.ts";
import { isArray, objectKeys } from "./codec_intrinsics.ts";
import { keySegment, MAX_RENDERED_SEGMENTS } from "./codec_path.ts";

/** The largest time value a Date can hold, in milliseconds either side of the epoch. */
const MAX_EPOCH = 8.64e15;
const BIGINT_TEXT = /^-?(?:0|[1-9][0-9]*)$/;

/** The holder of the root value. */
const D_ROOT = 0;
const D_OBJ = 1;
const D_ARR = 2;
/** The `entries` array of a Map tag. */
const D_ENTRIES = 3;
/** One `[key, value]` pair of a Map tag. */
const D_PAIR = 4;
/** The `values` array of a Set tag. */
const D_VALUES = 5;
/** The `value` object of an escaped plain object. */
const D_ESCAPED = 6;

interface Revival {
  readonly nodes: unknown[][];
  readonly keyLists: (string[] | undefined)[];
  readonly kinds: number[];
  readonly positions: number[];
  top: number;
}

function decodePath(revival: Revival): string {
  let text = "$";
  const count = revival.top + 1;
  for (let f = 1; f < count; f++) {
    if (count > MAX_RENDERED_SEGMENTS && f === MAX_RENDERED_SEGMENTS >> 1) {
      const skip = count - MAX_RENDERED_SEGMENTS;
      text += `…(${skip} more levels)…`;
      f += skip - 1;
      continue;
    }
    const slot = revival.positions[f]! - 1;
    const kind = revival.kinds[f];
    if (kind === D_OBJ || kind === D_ESCAPED) {
      text += (kind === D_ESCAPED ? ".value" : "") + keySegment(revival.keyLists[f]![slot]!);
    } else {
      text += (kind === D_ENTRIES ? ".entries" : kind === D_VALUES ? ".values" : "") + `[${slot}]`;
    }
  }
  return text;
}

function malformed(revival: Revival, what: string): never {
  throw new CheckpointStoreError(`Cannot decode checkpoint text: ${decodePath(revival)} ${what}`);
}

function pushNode(revival: Revival, kind: number, node: unknown[], keys?: string[]): void {
  const f = ++revival.top;
  revival.nodes[f] = node;
  revival.keyLists[f] = keys;
  revival.kinds[f] = kind;
  revival.positions[f] = 0;
}

function replaceSlot(revival: Revival, f: number, value: unknown): void {
  const node = revival.nodes[f]!;
  const slot = revival.positions[f]! - 1;
  const keys = revival.keyLists[f];
  // `JSON.parse` creates every key as an own data property (even "__proto__"), so assigning to an
  // existing key never reaches the `__proto__` setter.
  if (keys === undefined) node[slot] = value;
  else (node as unknown as Record<string, unknown>)[keys[slot]!] = value;
}

/** Decodes one tag object in the current slot; returns whether it pushed a frame. */
function reviveTag(revival: Revival, tag: Record<string, unknown>): void {
  const f = revival.top;
  const name = tag.$cano;
  switch (name) {
    case "undefined":
      replaceSlot(revival, f, undefined);
      return;
    case "number": {
      const text = tag.value;
      const number = text === "NaN"
        ? NaN
        : text === "Infinity"
        ? Infinity
        : text === "-Infinity"
        ? -Infinity
        : text === "-0"
        ? -0
        : undefined;
      if (number === undefined) malformed(revival, `is a number tag with an invalid value`);
      replaceSlot(revival, f, number);
      return;
    }
    case "BigInt": {
      const text = tag.value;
      if (typeof text !== "string" || !BIGINT_TEXT.test(text)) {
        malformed(revival, "is a BigInt tag with an invalid value");
      }
      replaceSlot(revival, f, BigInt(text));
      return;
    }
    case "Date": {
      const epoch = tag.epoch;
      if (epoch !== null && !(Number.isInteger(epoch) && Math.abs(epoch as number) <= MAX_EPOCH)) {
        malformed(revival, "is a Date tag with an invalid epoch value");
      }
      replaceSlot(revival, f, new Date(epoch === null ? NaN : epoch as number));
      return;
    }
    case "hole":
      if (revival.kinds[f] !== D_ARR) malformed(revival, "is a hole tag outside an array");
      delete revival.nodes[f]![revival.positions[f]! - 1];
      return;
    case "Map":
      if (!isArray(tag.entries)) malformed(revival, "is a Map tag without an entries array");
      pushNode(revival, D_ENTRIES, tag.entries);
      return;
    case "Set":
      if (!isArray(tag.values)) malformed(revival, "is a Set tag without a values array");
      pushNode(revival, D_VALUES, tag.values);
      return;
    case "Object": {
      const value = tag.value;
      if (typeof value !== "object" || value === null || isArray(value)) {
        malformed(revival, "is an Object tag without a value object");
      }
      pushNode(revival, D_ESCAPED, value as unknown[], objectKeys(value));
      return;
    }
    default:
      malformed(
        revival,
        `has an unknown $cano tag ${JSON.stringify(name) ?? String(name)}`,
      );
  }
}

/** Replaces the typed codec's tags in a tree `JSON.parse` built, in place. */
export function reviveTree(root: unknown): unknown {
  if (typeof root !== "object" || root === null) return root;
  const holder = [root];
  const revival: Revival = { nodes: [], keyLists: [], kinds: [], positions: [], top: -1 };
  pushNode(revival, D_ROOT, holder);
  for (;;) {
    const f = revival.top;
    const node = revival.nodes[f]!;
    const slot = revival.positions[f]!++;
    const keys = revival.keyLists[f];
    const kind = revival.kinds[f]!;
    let value: unknown;
    if (keys !== undefined) {
      if (slot < keys.length) value = (node as unknown as Record<string, unknown>)[keys[slot]!];
      else value = pop(revival);
    } else if (slot < node.length) {
      value = node[slot];
    } else {
      value = pop(revival);
    }
    if (value === POPPED) {
      if (revival.top < 0) return holder[0];
      continue;
    }
    if (kind === D_ENTRIES && (!isArray(value) || value.length !== 2)) {
      malformed(revival, "is not a [key, value] pair");
    }
    if (typeof value !== "object" || value === null) continue;
    if (isArray(value)) {
      pushNode(revival, kind === D_ENTRIES ? D_PAIR : D_ARR, value);
    } else if (Object.hasOwn(value, "$cano")) {
      reviveTag(revival, value as Record<string, unknown>);
    } else {
      pushNode(revival, D_OBJ, value as unknown[], objectKeys(value));
    }
  }
}

const POPPED = Symbol("popped");

/** Pops the finished top frame, storing what its node decodes to in the parent. */
function pop(revival: Revival): typeof POPPED {
  const f = revival.top;
  const node = revival.nodes[f]!;
  const kind = revival.kinds[f];
  revival.top = f - 1;
  if (kind === D_ENTRIES) {
    const map = new Map<unknown, unknown>();
    for (let i = 0; i < node.length; i++) {
      const pair = node[i] as unknown[];
      map.set(pair[0], pair[1]);
    }
    replaceSlot(revival, f - 1, map);
  } else if (kind === D_VALUES) {
    const set = new Set<unknown>();
    for (let i = 0; i < node.length; i++) set.add(node[i]);
    replaceSlot(revival, f - 1, set);
  } else if (kind === D_ESCAPED) {
    replaceSlot(revival, f - 1, node);
  }
  return POPPED;
}
