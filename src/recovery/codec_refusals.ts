// What the codecs refuse and how they say so: the checks the walk makes on a container (symbol
// keys, toJSON, extra properties, cycles) and the messages that name the offending path, what the
// value is, what JSON would do to it and what to store instead. Apart from the walker, which only
// traverses and encodes.

import { CheckpointStoreError } from "../errors.ts";
import {
  dateGetTime,
  dateProto,
  getOwnPropertySymbols,
  isEnumerable,
  mapProto,
  objectKeys,
  setProto,
} from "./codec_intrinsics.ts";
import { ARR, currentPath, keySegment, OBJ, renderPath, type Walk } from "./codec_path.ts";

export const STRICT_ADVICE =
  "Store plain objects, arrays, strings, finite numbers, booleans and null";
const TYPED_ADVICE = "Store plain objects, arrays, strings, numbers, booleans, null, undefined, " +
  "BigInt, Date, Map and Set";

/** What a value is and what JSON would do to it, for a refusal message. */
interface Problem {
  readonly what: string;
  readonly fate: string;
  readonly advice: string;
}

export function fail(walk: Walk, path: string, problem: Problem): never {
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
export function droppedFate(walk: Walk): string {
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
export function describeObject(walk: Walk, value: object, proto: object): Problem {
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

/** Refuses enumerable symbol keys, which JSON drops. */
export function checkSymbols(walk: Walk, value: object): void {
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
export function checkToJSON(walk: Walk, value: object): void {
  if (typeof (value as { toJSON?: unknown }).toJSON === "function") {
    fail(walk, currentPath(walk), {
      what: "has a toJSON method",
      fate: "JSON would store what toJSON returns instead",
      advice: "Store the result of toJSON() instead, or give the store a codec that handles it",
    });
  }
}

/** Refuses own enumerable properties of a value the codec stores without them. */
export function checkNoProperties(walk: Walk, value: object, kind: string): void {
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
export function checkCycle(walk: Walk, value: object): void {
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

export function unreadable(path: string, error: unknown): CheckpointStoreError {
  return new CheckpointStoreError(
    `${path} is an unreadable value: reading it threw ${describeThrown(error)}. ` +
      UNREADABLE_ADVICE,
    { cause: error },
  );
}

export function describeThrown(error: unknown): string {
  try {
    if (error instanceof Error) return `${error.name}: ${error.message}`;
    return String(error);
  } catch {
    return "an unprintable value";
  }
}
