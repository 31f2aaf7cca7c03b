// The one iterative walk behind both codecs' `stringify`: for jsonCodec it only validates, for
// typedJsonCodec it also builds the tagged tree to encode, copying only the containers that hold
// something to tag. Shared by both codecs so they refuse the same values with the same messages.

import {
  arrayProto,
  dateGetTime,
  dateProto,
  getPrototypeOf,
  hasOwn,
  isArray,
  isEnumerable,
  mapForEach,
  mapProto,
  objectKeys,
  objectProto,
  setForEach,
  setProto,
} from "./codec_intrinsics.ts";
import { ARR, currentPath, keySegment, MAP, OBJ, SET, type Walk } from "./codec_path.ts";
import {
  checkCycle,
  checkNoProperties,
  checkSymbols,
  checkToJSON,
  describeObject,
  droppedFate,
  fail,
  STRICT_ADVICE,
  unreadable,
} from "./codec_refusals.ts";

/** Beyond this depth, ancestors are tracked in a Set instead of being scanned. */
const LINEAR_CYCLE_DEPTH = 32;

function push(
  walk: Walk,
  kind: number,
  orig: object,
  src: unknown[],
  keys: string[] | undefined,
  out: unknown[] | Record<string, unknown> | undefined,
  result: unknown,
): void {
  const f = ++walk.top;
  walk.origs[f] = orig;
  if (walk.ancestors !== undefined) {
    walk.ancestors.add(orig);
  } else if (f + 1 >= LINEAR_CYCLE_DEPTH) {
    walk.ancestors = new Set(walk.origs.slice(0, f + 1));
  }
  walk.srcs[f] = src;
  walk.keyLists[f] = keys;
  walk.kinds[f] = kind;
  walk.positions[f] = 0;
  if (walk.typed) {
    walk.outs[f] = out;
    walk.results[f] = result;
  }
}

/** What `enterObject` returns when it pushed a frame for the object's container values. */
const PUSHED = Symbol("pushed");

/**
 * Enters a plain object with one `for…in` pass (no allocation for objects of primitives): checks
 * its primitive values in place and queues its container values in a new frame. Returns `PUSHED`,
 * or — when it has no container values — what the object encodes to.
 */
function enterObject(walk: Walk, value: Record<string, unknown>, escaped: boolean): unknown {
  const typed = walk.typed;
  let keys: string[] | undefined;
  let values: unknown[] | undefined;
  let replaced = false;
  let key: string | undefined;
  try {
    for (const k in value) {
      key = k;
      const child = value[k];
      key = undefined;
      if (typeof child === "string" || typeof child === "boolean" || child === null) continue;
      if (
        typeof child === "number" && child - child === 0 && (!typed || child !== 0 || 1 / child > 0)
      ) {
        continue;
      }
      // `for…in` also lists enumerable keys a polluted prototype adds; JSON skips those.
      if (!hasOwn(value, k)) continue;
      if (typeof child === "object") {
        (keys ??= []).push(k);
        (values ??= []).push(child);
      } else if (encodeLeaf(walk, child, k) !== child) {
        replaced = true;
      }
    }
  } catch (error) {
    if (error === walk.failure) throw error;
    walk.failure = unreadable(
      currentPath(walk) + (key === undefined ? "" : keySegment(key)),
      error,
    );
    throw walk.failure;
  }
  const out = typed && (replaced || escaped) ? copyObject(walk, value, replaced) : undefined;
  const result = out === undefined ? value : escaped ? { $cano: "Object", value: out } : out;
  if (keys === undefined) return result;
  push(walk, OBJ, value, values!, keys, out, result);
  return PUSHED;
}

/**
 * Typed codec: a shallow copy of a plain object's own enumerable properties (a plain object even
 * when `value` has a null prototype), with its primitive values encoded if `encodeLeaves`.
 */
function copyObject(
  walk: Walk,
  value: Record<string, unknown>,
  encodeLeaves: boolean,
): Record<string, unknown> {
  let out: Record<string, unknown>;
  if (hasOwn(value, "__proto__")) {
    // `Object.assign` would call the `__proto__` setter instead of copying the key.
    out = {};
    for (const key in value) if (hasOwn(value, key)) defineField(out, key, value[key]);
  } else {
    out = Object.assign({}, value);
  }
  if (encodeLeaves) {
    for (const key in out) {
      if (!hasOwn(out, key)) continue;
      const child = out[key];
      // `out` has the key as an own data property, so assigning never reaches a setter.
      if (typeof child !== "object" || child === null) out[key] = encodeLeaf(walk, child, key);
    }
  }
  return out;
}

function defineField(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(target, key, {
      value,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  } else {
    target[key] = value;
  }
}

/** Typed codec: creates frame `f`'s copy (of an array, from the slots before the current one). */
function materialize(walk: Walk, f: number): unknown[] | Record<string, unknown> {
  const src = walk.srcs[f]!;
  const slot = walk.positions[f]! - 1;
  let out: unknown[] | Record<string, unknown>;
  if (walk.kinds[f] === OBJ) {
    // Had a primitive value needed encoding, `enterObject` would have made the copy already.
    out = copyObject(walk, walk.origs[f] as Record<string, unknown>, false);
  } else {
    out = [];
    for (let i = 0; i < slot; i++) out.push(src[i]);
  }
  walk.outs[f] = out;
  walk.results[f] = out;
  return out;
}

/** Typed codec: stores the encoded value of frame `f`'s current slot. */
function place(walk: Walk, f: number, encoded: unknown, original: unknown): void {
  let out = walk.outs[f];
  if (out === undefined) {
    if (encoded === original) return;
    out = materialize(walk, f);
  }
  const slot = walk.positions[f]! - 1;
  switch (walk.kinds[f]) {
    case OBJ:
      defineField(out as Record<string, unknown>, walk.keyLists[f]![slot]!, encoded);
      return;
    case MAP:
      if ((slot & 1) === 0) (out as unknown[]).push([encoded]);
      else ((out as unknown[])[slot >> 1] as unknown[]).push(encoded);
      return;
    default:
      (out as unknown[]).push(encoded);
  }
}

const HOLE_TAG = Object.freeze({ $cano: "hole" });
const UNDEFINED_TAG = Object.freeze({ $cano: "undefined" });

/**
 * Walks `root` once, iteratively. The strict mode only validates (and returns `root`); the typed
 * mode also returns the encoded tree, copying only the containers that hold something to encode.
 */
export function walkTree(root: unknown, rootPath: string, typed: boolean): unknown {
  const walk: Walk = {
    typed,
    rootPath,
    origs: [],
    srcs: [],
    keyLists: [],
    kinds: [],
    positions: [],
    outs: [],
    results: [],
    top: -1,
    ancestors: undefined,
    failure: undefined,
  };
  const { srcs, positions, kinds } = walk;
  let value = root;
  let rootResult: unknown = root;
  try {
    for (;;) {
      // Examine `value`, the current slot of the top frame (or the root).
      let encoded: unknown = value;
      if (typeof value === "object" && value !== null) {
        encoded = enterContainer(walk, value);
      } else if (typeof value !== "string" && typeof value !== "boolean") {
        encoded = encodeLeaf(walk, value, undefined);
      }
      if (encoded !== PUSHED) {
        if (walk.top < 0) return encoded;
        if (typed) place(walk, walk.top, encoded, value);
      }
      // Advance to the next slot, popping finished frames.
      for (;;) {
        const f = walk.top;
        if (f < 0) return rootResult;
        const src = srcs[f]!;
        const slot = positions[f]!++;
        if (slot < src.length) {
          value = src[slot];
          if (value !== undefined || kinds[f] !== ARR || slot in src) break;
          if (!typed) {
            fail(walk, currentPath(walk), {
              what: "is an empty array slot",
              fate: "JSON would store it as null",
              advice: "Fill the slot (e.g. with null), or give the store a codec that handles " +
                "sparse arrays (typedJsonCodec does)",
            });
          }
          place(walk, f, HOLE_TAG, undefined);
          continue;
        }
        // Frame `f` is finished: pop it and store its result in the parent.
        const orig = walk.origs[f]!;
        walk.ancestors?.delete(orig);
        walk.top = f - 1;
        if (!typed) continue;
        const result = walk.outs[f] === undefined ? orig : walk.results[f];
        if (f === 0) rootResult = result;
        else place(walk, f - 1, result, orig);
      }
    }
  } catch (error) {
    if (error === walk.failure) throw error;
    throw unreadable(currentPath(walk), error);
  }
}

/**
 * Examines an object in the current slot: refuses it, returns what it encodes to, or pushes a
 * frame to walk its contents and returns `PUSHED`.
 */
function enterContainer(walk: Walk, value: object): unknown {
  if (isArray(value)) {
    if (getPrototypeOf(value) !== arrayProto) {
      fail(walk, currentPath(walk), describeObject(walk, value, getPrototypeOf(value)));
    }
    checkToJSON(walk, value);
    // Index keys come first, so any other key is the last one.
    const keys = objectKeys(value);
    const count = keys.length;
    if (count > 0) {
      const last = keys[count - 1]!;
      const index = count === value.length ? count - 1 : Number(last);
      if (!(index < value.length) || String(index) !== last) {
        fail(walk, currentPath(walk) + keySegment(last), {
          what: "is a property on an array",
          fate: "JSON would drop it",
          advice: "Store it in an object next to the array",
        });
      }
    }
    checkSymbols(walk, value);
    checkCycle(walk, value);
    push(walk, ARR, value, value, undefined, undefined, value);
    return PUSHED;
  }
  const proto = getPrototypeOf(value);
  if (proto === objectProto || proto === null) {
    checkToJSON(walk, value);
    checkSymbols(walk, value);
    checkCycle(walk, value);
    const escaped = walk.typed && "$cano" in value && isEnumerable(value, "$cano");
    return enterObject(walk, value as Record<string, unknown>, escaped);
  }
  if (walk.typed) {
    if (proto === dateProto) {
      checkNoProperties(walk, value, "Date");
      const time = dateGetTime.call(value);
      return { $cano: "Date", epoch: Number.isNaN(time) ? null : time };
    }
    if (proto === mapProto) {
      checkNoProperties(walk, value, "Map");
      checkCycle(walk, value);
      const flat: unknown[] = [];
      mapForEach.call(value, (v: unknown, k: unknown) => flat.push(k, v));
      const out: unknown[] = [];
      push(walk, MAP, value, flat, undefined, out, { $cano: "Map", entries: out });
      return PUSHED;
    }
    if (proto === setProto) {
      checkNoProperties(walk, value, "Set");
      checkCycle(walk, value);
      const values: unknown[] = [];
      setForEach.call(value, (v: unknown) => values.push(v));
      const out: unknown[] = [];
      push(walk, SET, value, values, undefined, out, { $cano: "Set", values: out });
      return PUSHED;
    }
  }
  return fail(walk, currentPath(walk), describeObject(walk, value, proto));
}

const NEGATIVE_ZERO_TAG = Object.freeze({ $cano: "number", value: "-0" });

/**
 * Checks a value that is not an object: returns it, or the typed codec's tag for it, or refuses
 * it. `key` names it as a field of the object being entered; otherwise it is the current slot.
 */
function encodeLeaf(walk: Walk, value: unknown, key: string | undefined): unknown {
  switch (typeof value) {
    case "number":
      if (value !== value || value === Infinity || value === -Infinity) {
        const name = value !== value ? "NaN" : String(value);
        if (!walk.typed) {
          fail(walk, leafPath(walk, key), {
            what: `is ${name}`,
            fate: "JSON would store it as null",
            advice: `Use null or a finite number, or give the store a codec that handles ${name} ` +
              "(typedJsonCodec does)",
          });
        }
        return { $cano: "number", value: name };
      }
      return walk.typed && value === 0 && 1 / value < 0 ? NEGATIVE_ZERO_TAG : value;
    case "undefined":
      if (!walk.typed) {
        fail(walk, leafPath(walk, key), {
          what: "is undefined",
          fate: leafFate(walk, key),
          advice: "Use null instead, or give the store a codec that handles undefined " +
            "(typedJsonCodec does)",
        });
      }
      return UNDEFINED_TAG;
    case "bigint":
      if (!walk.typed) {
        fail(walk, leafPath(walk, key), {
          what: "is a BigInt",
          fate: "JSON cannot store it",
          advice: `${STRICT_ADVICE} (e.g. String(value)), or give the store a codec that ` +
            "handles BigInt (typedJsonCodec does)",
        });
      }
      return { $cano: "BigInt", value: String(value) };
    case "function":
      return fail(walk, leafPath(walk, key), {
        what: "is a function",
        fate: leafFate(walk, key),
        advice: "Keep functions out of stored data",
      });
    case "symbol":
      return fail(walk, leafPath(walk, key), {
        what: "is a symbol",
        fate: leafFate(walk, key),
        advice: "Use a string instead",
      });
    default:
      return value;
  }
}

function leafPath(walk: Walk, key: string | undefined): string {
  return key === undefined ? currentPath(walk) : currentPath(walk) + keySegment(key);
}

function leafFate(walk: Walk, key: string | undefined): string {
  return key === undefined ? droppedFate(walk) : "JSON would drop the field";
}
