/**
 * Codecs: how a checkpoint store turns run data, compensation outputs and step cursors into JSON
 * text and back, refusing — with a {@link CheckpointStoreError} that names the offending path —
 * any value that would not come back equal after a crash and resume.
 *
 * @module
 */

import { CheckpointStoreError } from "../errors.ts";

/**
 * How a checkpoint store turns run data, outputs and cursors into JSON text and back.
 *
 * `stringify` must refuse (rather than silently change) any value `parse` would not give back
 * equal, so that a run resumed from the store sees the data it checkpointed.
 *
 * @example Wrap a codec to count encodes
 * ```ts
 * import { type Codec, jsonCodec } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * let encodes = 0;
 * const counting: Codec = {
 *   name: "counting-json",
 *   stringify(value, path) {
 *     encodes++;
 *     return jsonCodec.stringify(value, path);
 *   },
 *   parse: (text) => jsonCodec.parse(text),
 * };
 * assert.equal(counting.stringify({ step: 2 }, "data"), '{"step":2}');
 * assert.deepEqual(counting.parse('{"step":2}'), { step: 2 });
 * assert.equal(encodes, 1);
 * ```
 */
export interface Codec {
  /** A short name for messages, e.g. "json". */
  readonly name: string;
  /**
   * Encodes `value` as JSON text. `path` names the value in messages ("data", "output", "cursor").
   *
   * @param value The value to encode.
   * @param path How messages name the value, e.g. `"data"`.
   * @returns The JSON text.
   * @throws {CheckpointStoreError} naming the first offending path it meets when the value would
   *   not come back equal from `parse`.
   */
  stringify(value: unknown, path: string): string;
  /**
   * Decodes text produced by `stringify`.
   *
   * @param text The JSON text.
   * @returns The decoded value.
   * @throws {CheckpointStoreError} when the text is not valid JSON (or not a valid encoding).
   */
  parse(text: string): unknown;
}

// ---------------------------------------------------------------------------------------------
// Frames of the iterative walk. The walk keeps parallel arrays instead of frame objects, and
// renders a path string only when it reports an error.

/** A plain object: iterate its container values (its other values are checked on entry). */
const OBJ = 0;
/** An array: iterate indices. */
const ARR = 1;
/** A Map (typed codec): iterate a flat `[k0, v0, k1, v1, …]` array. */
const MAP = 2;
/** A Set (typed codec): iterate an array of its values. */
const SET = 3;

/** Beyond this depth, ancestors are tracked in a Set instead of being scanned. */
const LINEAR_CYCLE_DEPTH = 32;
/** Paths with more segments than this are rendered with the middle elided. */
const MAX_RENDERED_SEGMENTS = 64;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
/** The largest time value a Date can hold, in milliseconds either side of the epoch. */
const MAX_EPOCH = 8.64e15;
const BIGINT_TEXT = /^-?(?:0|[1-9][0-9]*)$/;

const objectProto = Object.prototype;
const arrayProto = Array.prototype;
const mapProto = Map.prototype;
const setProto = Set.prototype;
const dateProto = Date.prototype;
const getPrototypeOf = Object.getPrototypeOf;
const objectKeys = Object.keys;
const hasOwn = Object.hasOwn;
const getOwnPropertySymbols = Object.getOwnPropertySymbols;
const isArray = Array.isArray;
const isEnumerable = Function.prototype.call.bind(Object.prototype.propertyIsEnumerable) as (
  target: object,
  key: PropertyKey,
) => boolean;
const mapForEach = Map.prototype.forEach;
const setForEach = Set.prototype.forEach;
const dateGetTime = Date.prototype.getTime;

const STRICT_ADVICE = "Store plain objects, arrays, strings, finite numbers, booleans and null";
const TYPED_ADVICE = "Store plain objects, arrays, strings, numbers, booleans, null, undefined, " +
  "BigInt, Date, Map and Set";

/** One walk's state: the frame stacks plus the codec mode. */
interface Walk {
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

/** What a value is and what JSON would do to it, for a refusal message. */
interface Problem {
  readonly what: string;
  readonly fate: string;
  readonly advice: string;
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

function keySegment(key: string): string {
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
function renderPath(walk: Walk, count: number): string {
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

function fail(walk: Walk, path: string, problem: Problem): never {
  walk.failure = new CheckpointStoreError(
    `${path} ${problem.what}: ${problem.fate}. ${problem.advice}`,
  );
  throw walk.failure;
}

function storeOr(walk: Walk, thing: string, typedHandles: boolean): string {
  return walk.typed
    ? `${TYPED_ADVICE}, or give the store a codec that handles ${thing}`
    : `${STRICT_ADVICE}, or give the store a codec that handles ${thing}${
      typedHandles ? " (typedJsonCodec does)" : ""
    }`;
}

function article(word: string): string {
  // "an Int8Array", "an Error", "an UnknownError", but "a Uint8Array", "a URIError".
  return /^(?:[AEIOaeio]|U(?![A-Z]|int))/.test(word) ? `an ${word}` : `a ${word}`;
}

/** What JSON does to `undefined`, a function or a symbol in the current slot. */
function droppedFate(walk: Walk): string {
  if (walk.top < 0) return "JSON cannot store it";
  const kind = walk.kinds[walk.top];
  if (kind === OBJ) return "JSON would drop the field";
  if (kind === ARR) return "JSON would store it as null";
  return "JSON cannot store it";
}

const EMPTY_OBJECT_FATE = "JSON would store it as {}";

const BUILTINS: ReadonlyMap<object, (walk: Walk, value: object) => Problem> = (() => {
  const table = new Map<object, (walk: Walk, value: object) => Problem>();
  const plain = (name: string, fate: string, typedHandles = false) => (walk: Walk) => ({
    what: `is ${article(name)}`,
    fate,
    advice: storeOr(walk, name, typedHandles),
  });
  table.set(mapProto, plain("Map", EMPTY_OBJECT_FATE, true));
  table.set(setProto, plain("Set", EMPTY_OBJECT_FATE, true));
  table.set(dateProto, (walk, value) => ({
    what: "is a Date",
    fate: Number.isNaN(dateGetTime.call(value))
      ? "JSON would store it as null"
      : "JSON would store it as a string",
    advice: storeOr(walk, "Date", true),
  }));
  table.set(RegExp.prototype, plain("RegExp", EMPTY_OBJECT_FATE));
  table.set(Promise.prototype, () => ({
    what: "is a Promise",
    fate: EMPTY_OBJECT_FATE,
    advice: "Await it and store the result",
  }));
  const unstorable: { readonly name: string; readonly prototype: object }[] = [
    WeakMap,
    WeakSet,
    WeakRef,
    FinalizationRegistry,
    ArrayBuffer,
    DataView,
  ];
  if (typeof SharedArrayBuffer === "function") unstorable.push(SharedArrayBuffer);
  for (const ctor of unstorable) table.set(ctor.prototype, plain(ctor.name, EMPTY_OBJECT_FATE));
  const typedArrays = [
    Int8Array,
    Uint8Array,
    Uint8ClampedArray,
    Int16Array,
    Uint16Array,
    Int32Array,
    Uint32Array,
    Float32Array,
    Float64Array,
    BigInt64Array,
    BigUint64Array,
  ];
  for (const ctor of typedArrays) {
    table.set(ctor.prototype, (walk) => ({
      what: `is ${article(ctor.name)}`,
      fate: "JSON would store it as an object of indices",
      advice: `${walk.typed ? TYPED_ADVICE : STRICT_ADVICE} (e.g. Array.from(value)), or give ` +
        `the store a codec that handles ${ctor.name}`,
    }));
  }
  const boxed = (name: string, fate: string) => () => ({
    what: `is a boxed ${name}`,
    fate,
    advice: "Store the primitive instead (value.valueOf())",
  });
  table.set(String.prototype, boxed("String", "JSON would store it as a plain string"));
  table.set(Number.prototype, boxed("Number", "JSON would store it as a plain number"));
  table.set(Boolean.prototype, boxed("Boolean", "JSON would store it as a plain boolean"));
  table.set(Symbol.prototype, boxed("Symbol", EMPTY_OBJECT_FATE));
  table.set(BigInt.prototype, boxed("BigInt", "JSON cannot store it"));
  return table;
})();

const UNREADABLE_ADVICE = "Store plain data that can be read without throwing";

/** Describes an object that is neither a plain object nor a plain array. */
function describeObject(walk: Walk, value: object, proto: object): Problem {
  const builtin = BUILTINS.get(proto);
  if (builtin !== undefined) return builtin(walk, value);
  let name: unknown;
  try {
    // Only a class prototype's own `constructor` names it: `Object.create({})` is no "Object".
    const ctor: unknown = Object.hasOwn(proto, "constructor")
      ? (proto as { constructor?: unknown }).constructor
      : undefined;
    name = typeof ctor === "function" ? ctor.name : undefined;
  } catch {
    return { what: "is an unreadable value", fate: "reading it threw", advice: UNREADABLE_ADVICE };
  }
  const label = typeof name === "string" && name !== "" ? name : undefined;
  if (Object.prototype.isPrototypeOf.call(Error.prototype, value)) {
    return {
      what: label === undefined ? "is an Error" : `is ${article(label)}`,
      fate: "JSON would drop its message and stack",
      advice: "Store the fields you need (e.g. { message: error.message }), or give the store a " +
        `codec that handles ${label ?? "it"}`,
    };
  }
  return {
    what: label === undefined
      ? "is an object with a custom prototype"
      : `is an instance of ${label}`,
    fate: "JSON would store its own fields as a plain object and lose its prototype",
    advice: walk.typed
      ? `${TYPED_ADVICE} (e.g. { ...value }), or give the store a codec that handles ${
        label ?? "it"
      }`
      : `${STRICT_ADVICE} (e.g. { ...value }), or give the store a codec that handles ${
        label ?? "it"
      }`,
  };
}

function currentPath(walk: Walk): string {
  return renderPath(walk, walk.top + 1);
}

/** Refuses enumerable symbol keys, which JSON drops. */
function checkSymbols(walk: Walk, value: object): void {
  const symbols = getOwnPropertySymbols(value);
  for (let i = 0; i < symbols.length; i++) {
    const symbol = symbols[i]!;
    if (isEnumerable(value, symbol)) {
      fail(walk, currentPath(walk), {
        what: `has a symbol key ${String(symbol)}`,
        fate: "JSON would drop it",
        advice: "Use a string key",
      });
    }
  }
}

/** Refuses a `toJSON` method, whose result JSON would store instead. */
function checkToJSON(walk: Walk, value: object): void {
  if (typeof (value as { toJSON?: unknown }).toJSON === "function") {
    fail(walk, currentPath(walk), {
      what: "has a toJSON method",
      fate: "JSON would store what toJSON returns instead",
      advice: "Store the result of toJSON() instead, or give the store a codec that handles it",
    });
  }
}

/** Refuses own enumerable properties of a value the codec stores without them. */
function checkNoProperties(walk: Walk, value: object, kind: string): void {
  const keys = objectKeys(value);
  if (keys.length > 0) {
    fail(walk, currentPath(walk) + keySegment(keys[0]!), {
      what: `is a property on ${article(kind)}`,
      fate: "typedJsonCodec would drop it",
      advice: `Store it next to the ${kind}`,
    });
  }
  checkSymbols(walk, value);
}

/** Refuses a container that is one of its own ancestors (the containers of open frames). */
function checkCycle(walk: Walk, value: object): void {
  const { origs, top, ancestors } = walk;
  if (ancestors === undefined) {
    for (let f = 0; f <= top; f++) {
      if (origs[f] === value) failCycle(walk, f);
    }
  } else if (ancestors.has(value)) {
    failCycle(walk, origs.lastIndexOf(value, top));
  }
}

function failCycle(walk: Walk, frame: number): never {
  return fail(walk, currentPath(walk), {
    what: `is a cycle back to ${renderPath(walk, frame)}`,
    fate: "JSON cannot store cycles",
    advice: "Store a tree (e.g. keep an id instead of the back reference)",
  });
}

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
function walkTree(root: unknown, rootPath: string, typed: boolean): unknown {
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

function unreadable(path: string, error: unknown): CheckpointStoreError {
  return new CheckpointStoreError(
    `${path} is an unreadable value: reading it threw ${describeThrown(error)}. ` +
      UNREADABLE_ADVICE,
    { cause: error },
  );
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

function describeThrown(error: unknown): string {
  try {
    if (error instanceof Error) return `${error.name}: ${error.message}`;
    return String(error);
  } catch {
    return "an unprintable value";
  }
}

/** Runs native `JSON.stringify` on a walked value, turning its failures into store errors. */
function nativeStringify(value: unknown, path: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw encodeFailure(path, error);
  }
  if (typeof text !== "string") {
    throw new CheckpointStoreError(`${path} could not be encoded: JSON produced no text`);
  }
  return text;
}

function encodeFailure(path: string, error: unknown): CheckpointStoreError {
  if (error instanceof RangeError && /call stack/i.test(error.message)) {
    return new CheckpointStoreError(`${path} is nested too deeply to encode as JSON`, {
      cause: error,
    });
  }
  return new CheckpointStoreError(
    `${path} could not be encoded: ${describeThrown(error)}`,
    { cause: error },
  );
}

function nativeParse(text: string): unknown {
  if (typeof text !== "string") {
    throw new CheckpointStoreError(
      `Cannot decode checkpoint text: expected a string, received ${typeof text}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    if (error instanceof RangeError && /call stack/i.test(error.message)) {
      throw new CheckpointStoreError("Cannot decode checkpoint text: it is nested too deeply", {
        cause: error,
      });
    }
    throw new CheckpointStoreError(
      `Cannot decode checkpoint text: ${describeThrown(error)}`,
      { cause: error },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding the typed codec's tags, iteratively and in place on the tree `JSON.parse` built.

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
function reviveTree(root: unknown): unknown {
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

// ---------------------------------------------------------------------------------------------

/**
 * The strict default codec: plain JSON, refusing every value JSON would silently change.
 *
 * It accepts exactly the values that come back deep-equal (`node:assert` `deepStrictEqual`) from
 * `JSON.parse(JSON.stringify(value))` — plain objects, dense arrays, strings, finite numbers,
 * booleans and `null` — with two deliberate leniencies:
 *
 * - objects with a `null` prototype are accepted and come back as plain objects;
 * - `-0` is accepted and comes back as `0`.
 *
 * Accessor properties are read like JSON reads them (getters run, during validation and again
 * while encoding); non-enumerable properties are skipped like JSON skips them.
 *
 * It refuses, with a {@link CheckpointStoreError} whose message starts with the offending
 * path (`data.seen is a Map: …`, `data.items[2].when is a Date: …`, `data["a b"] is undefined`):
 * `Map`, `Set`, `Date`, `RegExp`, typed arrays, `ArrayBuffer`, `Error`, `Promise`, `WeakMap` and
 * the like, class instances, objects with a `toJSON` method, boxed primitives, `undefined`, `NaN`,
 * `±Infinity`, functions, symbols (as values and as keys), `BigInt`, cycles, empty array slots,
 * extra properties on arrays and values whose reading throws. The text is native
 * `JSON.stringify`'s, unchanged. Validation is one iterative walk, so deep nesting is fine.
 *
 * @example Round-trip plain data, refuse a Map
 * ```ts
 * import { CheckpointStoreError, jsonCodec } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const text = jsonCodec.stringify({ step: 2, tags: ["a"] }, "data");
 * assert.equal(text, '{"step":2,"tags":["a"]}');
 * assert.deepEqual(jsonCodec.parse(text), { step: 2, tags: ["a"] });
 *
 * assert.throws(
 *   () => jsonCodec.stringify({ seen: new Map() }, "data"),
 *   (e) => e instanceof CheckpointStoreError && e.message.startsWith("data.seen is a Map"),
 * );
 * ```
 */
export const jsonCodec: Codec = Object.freeze({
  name: "json",
  stringify(value: unknown, path: string): string {
    walkTree(value, path, false);
    return nativeStringify(value, path);
  },
  parse(text: string): unknown {
    return nativeParse(text);
  },
});

/**
 * A codec for richer run data: everything {@link jsonCodec} accepts, plus `Date` (invalid dates
 * too), `Map` (any supported keys and values, insertion order kept), `Set`, `BigInt`,
 * `undefined` (as fields, elements and top-level values), `NaN`, `±Infinity`, `-0` and empty
 * array slots, nested freely.
 *
 * They are stored as tagged objects: `{"$cano":"Date","epoch":1704067200000}` (milliseconds
 * since the Unix epoch, `null` for an invalid date; much cheaper both ways than an ISO string),
 * `{"$cano":"Map","entries":[[k,v],…]}`, `{"$cano":"Set","values":[…]}`,
 * `{"$cano":"BigInt","value":"123"}`, `{"$cano":"undefined"}`,
 * `{"$cano":"number","value":"NaN"}` (or `"Infinity"`, `"-Infinity"`, `"-0"`) and
 * `{"$cano":"hole"}` for an empty array slot (restored as an empty slot). A plain object that
 * has its own `"$cano"` key is escaped as `{"$cano":"Object","value":{…}}`, so it round-trips
 * unchanged. Values without any of these are stored as plain JSON, identical to
 * {@link jsonCodec}'s text, so `parse` also reads text the strict codec wrote (except plain
 * objects with a `"$cano"` key, which it reads as tags).
 *
 * Everything else `jsonCodec` refuses (class instances, functions, symbols, cycles, …) is refused
 * with the same path-naming {@link CheckpointStoreError}s. A `Date`, `Map` or `Set` must be a
 * direct instance (not a subclass) without own enumerable properties. Objects with a `null`
 * prototype come back as plain objects.
 *
 * @example Round-trip a Map, a Date and a BigInt
 * ```ts
 * import { typedJsonCodec } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const data = {
 *   seen: new Map([["a", 1]]),
 *   when: new Date("2024-01-01T00:00:00.000Z"),
 *   total: 12n,
 *   note: undefined,
 * };
 * const text = typedJsonCodec.stringify(data, "data");
 * assert.deepStrictEqual(typedJsonCodec.parse(text), data);
 * assert.equal(typedJsonCodec.stringify({ step: 2 }, "data"), '{"step":2}');
 * ```
 */
export const typedJsonCodec: Codec = Object.freeze({
  name: "typed-json",
  stringify(value: unknown, path: string): string {
    return nativeStringify(walkTree(value, path, true), path);
  },
  parse(text: string): unknown {
    return reviveTree(nativeParse(text));
  },
});
