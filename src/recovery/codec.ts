/**
 * Codecs: how a checkpoint store turns run data, compensation outputs and step cursors into JSON
 * text and back, refusing — with a {@link CheckpointStoreError} that names the offending path —
 * any value that would not come back equal after a crash and resume.
 *
 * @module
 */

import { CheckpointStoreError } from "../errors.ts";
import { describeThrown } from "./codec_refusals.ts";
import { walkTree } from "./codec_walk.ts";
import { reviveTree } from "./typed_codec_revival.ts";

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
