import assert from "node:assert/strict";
import { type Codec, jsonCodec, typedJsonCodec } from "../src/recovery/codec.ts";
import { CheckpointStoreError } from "../src/errors.ts";

const codecs: readonly Codec[] = [jsonCodec, typedJsonCodec];

/** Asserts that `fn` throws a CheckpointStoreError whose message starts with `prefix`. */
function assertRefused(fn: () => unknown, prefix: string): CheckpointStoreError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught !== undefined, `expected a CheckpointStoreError starting with ${prefix}`);
  assert.ok(
    caught instanceof CheckpointStoreError,
    `expected a CheckpointStoreError, got ${String(caught)}`,
  );
  assert.equal(caught.category, "checkpoint_store");
  assert.ok(
    caught.message.startsWith(prefix),
    `expected the message to start with ${JSON.stringify(prefix)}, got ${
      JSON.stringify(caught.message)
    }`,
  );
  return caught;
}

function roundTrip(codec: Codec, value: unknown): unknown {
  return codec.parse(codec.stringify(value, "data"));
}

class User {
  constructor(readonly name: string) {}
}

// ---------------------------------------------------------------------------------------------
// The codecs themselves

Deno.test("jsonCodec and typedJsonCodec are frozen and named", () => {
  assert.ok(Object.isFrozen(jsonCodec));
  assert.ok(Object.isFrozen(typedJsonCodec));
  assert.equal(jsonCodec.name, "json");
  assert.equal(typedJsonCodec.name, "typed-json");
  assert.throws(() => {
    (jsonCodec as { name: string }).name = "other";
  }, TypeError);
});

Deno.test("codec methods work detached from their object", () => {
  const { stringify, parse } = typedJsonCodec;
  assert.deepStrictEqual(parse(stringify(new Map([[1, 2]]), "data")), new Map([[1, 2]]));
  const strict = jsonCodec.stringify;
  assert.equal(strict({ a: 1 }, "data"), '{"a":1}');
});

// ---------------------------------------------------------------------------------------------
// jsonCodec: accepted values

const ACCEPTED: readonly unknown[] = [
  null,
  true,
  false,
  0,
  1,
  -1,
  0.1,
  1e300,
  -1e-300,
  Number.MAX_SAFE_INTEGER,
  Number.MIN_VALUE,
  "",
  "text",
  'line\nbreak "quoted" \\ back',
  "\u0000\u001f control",
  "emoji 🎉 and é",
  "lone \ud800 surrogate",
  [],
  [1, "two", null, true],
  [[[]]],
  {},
  { a: 1 },
  { nested: { deeper: { deepest: [1, 2, { x: "y" }] } } },
  { "a b": 1, "0x": 2, "": 3, "0": 4, "1": 5, "-1": 6, "é": 7 },
  { $cano: "Map", entries: [] },
  { constructor: "not a function", toString: "nor this", valueOf: 1 },
  { hasOwnProperty: 1, isPrototypeOf: 2 },
  Array.from({ length: 50 }, (_, i) => ({ i, even: i % 2 === 0, label: `item ${i}` })),
  { items: [{ when: "2024-01-01T00:00:00.000Z" }], count: 1 },
  Object.freeze({ frozen: Object.freeze([1, 2]) }),
];

Deno.test("jsonCodec.stringify() accepts plain JSON values and writes JSON.stringify's text", () => {
  for (const value of ACCEPTED) {
    const text = jsonCodec.stringify(value, "data");
    assert.equal(text, JSON.stringify(value));
    assert.deepStrictEqual(jsonCodec.parse(text), value);
  }
});

Deno.test("typedJsonCodec.stringify() writes plain JSON for values without special types", () => {
  for (const value of ACCEPTED) {
    const text = typedJsonCodec.stringify(value, "data");
    if (JSON.stringify(value).includes('"$cano"')) {
      assert.notEqual(text, JSON.stringify(value));
    } else {
      assert.equal(text, JSON.stringify(value));
    }
    assert.deepStrictEqual(typedJsonCodec.parse(text), value);
  }
});

Deno.test("jsonCodec.stringify() accepts null-prototype objects; they come back plain", () => {
  const value = Object.assign(Object.create(null), { a: 1, nested: Object.create(null) });
  const text = jsonCodec.stringify(value, "data");
  assert.equal(text, '{"a":1,"nested":{}}');
  const back = jsonCodec.parse(text) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(back), Object.prototype);
  assert.deepStrictEqual(back, { a: 1, nested: {} });
  const typed = typedJsonCodec.parse(typedJsonCodec.stringify(value, "data"));
  assert.deepStrictEqual(typed, { a: 1, nested: {} });
});

Deno.test("jsonCodec.stringify() accepts -0; it comes back as 0", () => {
  assert.equal(jsonCodec.stringify(-0, "data"), "0");
  assert.equal(jsonCodec.stringify({ x: -0 }, "data"), '{"x":0}');
  assert.ok(Object.is(jsonCodec.parse(jsonCodec.stringify(-0, "data")), 0));
});

Deno.test("jsonCodec.stringify() reads accessor properties like JSON does", () => {
  let reads = 0;
  const value = {
    get computed() {
      reads++;
      return { ok: [1, 2] };
    },
  };
  assert.equal(jsonCodec.stringify(value, "data"), '{"computed":{"ok":[1,2]}}');
  assert.ok(reads >= 1);
});

Deno.test("jsonCodec.stringify() skips non-enumerable properties like JSON does", () => {
  const value = { shown: 1 };
  Object.defineProperty(value, "hidden", { value: new Map(), enumerable: false });
  Object.defineProperty(value, Symbol("hidden"), { value: 1, enumerable: false });
  assert.equal(jsonCodec.stringify(value, "data"), '{"shown":1}');
  assert.deepStrictEqual(jsonCodec.parse(jsonCodec.stringify(value, "data")), value);
});

Deno.test("jsonCodec.stringify() accepts shared (non-cyclic) references", () => {
  const shared = { id: 1 };
  const value = { a: shared, b: shared, list: [shared, shared] };
  for (const codec of codecs) assert.deepStrictEqual(roundTrip(codec, value), value);
});

Deno.test("jsonCodec.stringify() accepts well-behaved Proxies of plain data", () => {
  const value = { p: new Proxy({ a: 1, b: [1, 2] }, {}), q: new Proxy([1, 2], {}) };
  assert.equal(jsonCodec.stringify(value, "data"), '{"p":{"a":1,"b":[1,2]},"q":[1,2]}');
});

Deno.test("jsonCodec.stringify() can be called from inside a getter it is reading", () => {
  const value = {
    get inner() {
      return jsonCodec.stringify({ x: [1] }, "inner");
    },
  };
  assert.equal(jsonCodec.stringify(value, "data"), JSON.stringify({ inner: '{"x":[1]}' }));
  const typed = {
    get inner() {
      return typedJsonCodec.stringify(new Set([1]), "inner");
    },
    when: new Date(0),
  };
  assert.deepStrictEqual(typedJsonCodec.parse(typedJsonCodec.stringify(typed, "data")), {
    inner: '{"$cano":"Set","values":[1]}',
    when: new Date(0),
  });
});

// ---------------------------------------------------------------------------------------------
// jsonCodec: refused values, with exact paths

Deno.test("jsonCodec.stringify() names the path of a Map", () => {
  assert.throws(
    () => jsonCodec.stringify({ seen: new Map() }, "data"),
    (e) => e instanceof CheckpointStoreError && e.message.startsWith("data.seen is a Map"),
  );
  const error = assertRefused(() => jsonCodec.stringify({ seen: new Map() }, "data"), "data.seen");
  assert.equal(
    error.message,
    "data.seen is a Map: JSON would store it as {}. Store plain objects, arrays, strings, finite " +
      "numbers, booleans and null, or give the store a codec that handles Map (typedJsonCodec does)",
  );
});

const STRICT_REFUSALS: readonly [string, unknown, string][] = [
  ["a Set", { tags: new Set() }, "data.tags is a Set: JSON would store it as {}"],
  ["a Date", { when: new Date(0) }, "data.when is a Date: JSON would store it as a string"],
  ["an invalid Date", { when: new Date(NaN) }, "data.when is a Date: JSON would store it as null"],
  ["a RegExp", { re: /x/ }, "data.re is a RegExp: JSON would store it as {}"],
  ["a Uint8Array", { bytes: new Uint8Array(2) }, "data.bytes is a Uint8Array: JSON would store"],
  ["an Int8Array", { bytes: new Int8Array(2) }, "data.bytes is an Int8Array"],
  ["a Float64Array", { bytes: new Float64Array(2) }, "data.bytes is a Float64Array"],
  ["a BigInt64Array", { bytes: new BigInt64Array(2) }, "data.bytes is a BigInt64Array"],
  ["an ArrayBuffer", { buf: new ArrayBuffer(2) }, "data.buf is an ArrayBuffer"],
  ["a DataView", { view: new DataView(new ArrayBuffer(2)) }, "data.view is a DataView"],
  ["an Error", { error: new Error("x") }, "data.error is an Error: JSON would drop its message"],
  ["a TypeError", { error: new TypeError("x") }, "data.error is a TypeError"],
  [
    "an Error subclass",
    { error: new (class MyError extends Error {})() },
    "data.error is a MyError",
  ],
  ["a Promise", { pending: Promise.resolve(1) }, "data.pending is a Promise"],
  ["a WeakMap", { weak: new WeakMap() }, "data.weak is a WeakMap"],
  ["a WeakSet", { weak: new WeakSet() }, "data.weak is a WeakSet"],
  ["a WeakRef", { weak: new WeakRef({}) }, "data.weak is a WeakRef"],
  ["a class instance", { user: new User("ada") }, "data.user is an instance of User"],
  [
    "an anonymous class instance",
    { x: new (class {})() },
    "data.x is an object with a custom prototype",
  ],
  [
    "an object with a custom prototype",
    { x: Object.create({ inherited: 1 }) },
    "data.x is an object with a custom prototype: JSON would store its own fields",
  ],
  [
    "an array subclass",
    { list: new (class MyArray extends Array {})() },
    "data.list is an instance",
  ],
  ["a toJSON method", { x: { toJSON: () => 1 } }, "data.x has a toJSON method"],
  ["a boxed String", { s: new String("x") }, "data.s is a boxed String"],
  ["a boxed Number", { n: new Number(1) }, "data.n is a boxed Number"],
  ["a boxed Boolean", { b: new Boolean(true) }, "data.b is a boxed Boolean"],
  ["a boxed Symbol", { s: Object(Symbol("q")) }, "data.s is a boxed Symbol"],
  ["a boxed BigInt", { b: Object(1n) }, "data.b is a boxed BigInt"],
  ["an undefined field", { note: undefined }, "data.note is undefined: JSON would drop the field"],
  ["an undefined element", { list: [1, undefined] }, "data.list[1] is undefined: JSON would store"],
  ["undefined at top level", undefined, "data is undefined: JSON cannot store it"],
  ["NaN", { x: NaN }, "data.x is NaN: JSON would store it as null"],
  ["Infinity", { x: Infinity }, "data.x is Infinity"],
  ["-Infinity", { x: [-Infinity] }, "data.x[0] is -Infinity"],
  ["a function field", { f: () => 1 }, "data.f is a function: JSON would drop the field"],
  ["a function element", [() => 1], "data[0] is a function: JSON would store it as null"],
  ["a function at top level", () => 1, "data is a function: JSON cannot store it"],
  ["a symbol value", { s: Symbol("x") }, "data.s is a symbol: JSON would drop the field"],
  ["a symbol key", { [Symbol("x")]: 1 }, "data has a symbol key Symbol(x): JSON would drop it"],
  ["a nested symbol key", { a: [{ [Symbol()]: 1 }] }, "data.a[0] has a symbol key Symbol()"],
  ["a symbol key on an array", Object.assign([1], { [Symbol("s")]: 1 }), "data has a symbol key"],
  ["a BigInt", { total: 12n }, "data.total is a BigInt: JSON cannot store it"],
  ["a sparse array hole", { list: [1, , 3] }, "data.list[1] is an empty array slot"],
  ["an array of holes", { list: new Array(3) }, "data.list[0] is an empty array slot"],
  [
    "an extra array property",
    { list: Object.assign([1, 2], { extra: true }) },
    "data.list.extra is a property on an array",
  ],
  ["a RegExp match array", { m: "abc".match(/b/) }, "data.m.groups is a property on an array"],
  ["a Map at top level", new Map(), "data is a Map"],
];

for (const [kind, value, prefix] of STRICT_REFUSALS) {
  Deno.test(`jsonCodec.stringify() names the path of ${kind}`, () => {
    assertRefused(() => jsonCodec.stringify(value, "data"), prefix);
  });
}

Deno.test("jsonCodec.stringify() refuses a hole and an extra property counted together", () => {
  const list = Object.assign([, 2], { extra: true });
  // One hole and one extra key: Object.keys(list).length === list.length.
  assert.equal(Object.keys(list).length, list.length);
  assertRefused(() => jsonCodec.stringify(list, "data"), "data.extra is a property on an array");
  assertRefused(() => typedJsonCodec.stringify(list, "data"), "data.extra is a property");
});

Deno.test("jsonCodec.stringify() names cycles with the ancestor they return to", () => {
  const self: Record<string, unknown> = { name: "root" };
  self.self = self;
  assertRefused(
    () => jsonCodec.stringify(self, "data"),
    "data.self is a cycle back to data: JSON cannot store cycles",
  );
  const inner: Record<string, unknown> = {};
  const outer = { a: { b: [inner] } };
  inner.up = outer.a;
  assertRefused(
    () => jsonCodec.stringify(outer, "data"),
    "data.a.b[0].up is a cycle back to data.a",
  );
  const list: unknown[] = [1];
  list.push(list);
  assertRefused(
    () => jsonCodec.stringify({ list }, "data"),
    "data.list[1] is a cycle back to data.list",
  );
});

Deno.test("jsonCodec.stringify() renders paths with dots, quoted brackets and indices", () => {
  const cases: [unknown, string][] = [
    [{ a: { b: new Map() } }, "data.a.b is a Map"],
    [{ "a b": new Map() }, 'data["a b"] is a Map'],
    [{ "0x": new Map() }, 'data["0x"] is a Map'],
    [{ "0": new Map() }, 'data["0"] is a Map'],
    [{ "": new Map() }, 'data[""] is a Map'],
    [{ 'q"uote': new Map() }, 'data["q\\"uote"] is a Map'],
    [{ $id: { _x1: new Map() } }, "data.$id._x1 is a Map"],
    [{ items: [0, 1, { when: new Date(0) }] }, "data.items[2].when is a Date"],
    [[[new Map()]], "data[0][0] is a Map"],
    [{ é: new Map() }, 'data["é"] is a Map'],
  ];
  for (const [value, prefix] of cases) {
    assertRefused(() => jsonCodec.stringify(value, "data"), prefix);
  }
});

Deno.test("jsonCodec.stringify() uses the path it is given", () => {
  assertRefused(() => jsonCodec.stringify({ at: new Map() }, "output"), "output.at is a Map");
  assertRefused(() => jsonCodec.stringify(new Set(), "cursor"), "cursor is a Set");
});

Deno.test("jsonCodec.stringify() reports the first offending container in key order", () => {
  assertRefused(
    () => jsonCodec.stringify({ ok: 1, first: new Map(), second: new Set() }, "data"),
    "data.first is a Map",
  );
  assertRefused(
    () => jsonCodec.stringify([1, [2, new Set()], new Map()], "data"),
    "data[1][1] is a Set",
  );
});

Deno.test("jsonCodec.stringify() checks an object's own primitive values before its containers", () => {
  assertRefused(
    () => jsonCodec.stringify({ nested: { seen: new Map() }, note: undefined }, "data"),
    "data.note is undefined",
  );
});

Deno.test("both codecs ignore enumerable properties a polluted Object.prototype adds", () => {
  const proto = Object.prototype as Record<string, unknown>;
  proto.pollutedFunction = () => 1;
  proto.pollutedMap = new Map();
  proto.$cano = "Map";
  try {
    const value = { a: 1, nested: { b: [{ c: "x" }] } };
    for (const codec of codecs) {
      assert.equal(codec.stringify(value, "data"), JSON.stringify(value));
      assert.deepStrictEqual(roundTrip(codec, value), value);
    }
    const typed = { when: new Date(1), list: [new Set([1])], gone: undefined, n: NaN };
    assert.deepStrictEqual(roundTrip(typedJsonCodec, typed), typed);
  } finally {
    delete proto.pollutedFunction;
    delete proto.pollutedMap;
    delete proto.$cano;
  }
});

Deno.test("jsonCodec.stringify() refuses a toJSON inherited from a polluted prototype", () => {
  const proto = Array.prototype as unknown as { toJSON?: unknown };
  proto.toJSON = () => "polluted";
  try {
    assertRefused(
      () => jsonCodec.stringify({ list: [1] }, "data"),
      "data.list has a toJSON method",
    );
  } finally {
    delete proto.toJSON;
  }
  assert.equal(jsonCodec.stringify({ list: [1] }, "data"), '{"list":[1]}');
});

Deno.test("jsonCodec.stringify() refuses a non-enumerable toJSON method", () => {
  const value = {};
  Object.defineProperty(value, "toJSON", { value: () => 1, enumerable: false });
  assertRefused(() => jsonCodec.stringify({ value }, "data"), "data.value has a toJSON method");
});

// ---------------------------------------------------------------------------------------------
// Hostile values

function hostileValues(): [string, unknown, string][] {
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  const revokedArray = Proxy.revocable([], {});
  revokedArray.revoke();
  const boom = () => {
    throw new Error("boom");
  };
  const throwingConstructor = Object.create(
    Object.defineProperty({}, "constructor", { get: boom }),
  );
  return [
    ["a throwing getter", {
      get x() {
        throw new Error("boom");
      },
    }, "data.x is an unreadable value: reading it threw Error: boom"],
    ["a getter that throws a non-Error", {
      get x() {
        throw "just a string";
      },
    }, "data.x is an unreadable value: reading it threw just a string"],
    ["a getter throwing a hostile object", {
      get x() {
        throw {
          get message() {
            throw new Error("again");
          },
          toString: boom,
        };
      },
    }, "data.x is an unreadable value"],
    ["a revoked proxy", { p: revoked.proxy }, "data.p is an unreadable value"],
    ["a revoked array proxy", [revokedArray.proxy], "data[0] is an unreadable value"],
    [
      "a Proxy whose get trap throws",
      { p: new Proxy({ a: 1 }, { get: boom }) },
      "data.p is an unreadable value",
    ],
    ["a Proxy whose ownKeys trap throws", { p: new Proxy({}, { ownKeys: boom }) }, "data.p is an"],
    [
      "a Proxy whose getPrototypeOf trap throws",
      { p: new Proxy({}, { getPrototypeOf: boom }) },
      "data.p is an unreadable value",
    ],
    [
      "a Proxy whose getOwnPropertyDescriptor trap throws",
      { p: new Proxy({ a: 1 }, { getOwnPropertyDescriptor: boom }) },
      "data.p",
    ],
    [
      "a Proxy whose has trap throws",
      { p: new Proxy([, 1], { has: boom }) },
      "data.p[0] is an unreadable value",
    ],
    [
      "an array Proxy whose get trap throws",
      { p: new Proxy([1, 2], { get: boom }) },
      "data.p is an unreadable value",
    ],
    ["a throwing constructor getter", { x: throwingConstructor }, "data.x is an unreadable value"],
    [
      "a throwing toJSON getter",
      { x: Object.defineProperty({}, "toJSON", { get: boom }) },
      "data.x is an unreadable value",
    ],
    ["a Proxy of a Map", { m: new Proxy(new Map(), {}) }, "data.m is a"],
    ["a Proxy of a Date", { d: new Proxy(new Date(0), {}) }, "data.d is a"],
  ];
}

for (const [kind, value, prefix] of hostileValues()) {
  Deno.test(`jsonCodec.stringify() turns ${kind} into a CheckpointStoreError`, () => {
    assertRefused(() => jsonCodec.stringify(value, "data"), prefix);
  });
  Deno.test(`typedJsonCodec.stringify() turns ${kind} into a CheckpointStoreError`, () => {
    assertRefused(() => typedJsonCodec.stringify(value, "data"), "data");
  });
}

Deno.test("an unreadable value keeps what was thrown as the cause", () => {
  const thrown = new Error("boom");
  const error = assertRefused(
    () =>
      jsonCodec.stringify({
        get x() {
          throw thrown;
        },
      }, "data"),
    "data.x is an unreadable value",
  );
  assert.equal(error.cause, thrown);
});

Deno.test("a getter that throws only while JSON.stringify reads it is still a CheckpointStoreError", () => {
  let reads = 0;
  const value = {
    get x() {
      if (++reads > 1) throw new Error("second read");
      return 1;
    },
  };
  assertRefused(() => jsonCodec.stringify(value, "data"), "data could not be encoded");
});

Deno.test("a Proxy whose traps throw only on later calls still yields a CheckpointStoreError", () => {
  for (const codec of codecs) {
    let calls = 0;
    const flaky = new Proxy({ a: 1, b: 2 }, {
      ownKeys(target) {
        if (++calls > 1) throw new Error("flaky ownKeys");
        return Reflect.ownKeys(target);
      },
    });
    assertRefused(() => codec.stringify({ flaky }, "data"), "data");
  }
});

// ---------------------------------------------------------------------------------------------
// Deep nesting

function nestArrays(depth: number, leaf: unknown): unknown {
  let value: unknown = leaf;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

function nestObjects(depth: number, leaf: unknown): unknown {
  let value: unknown = leaf;
  for (let i = 0; i < depth; i++) value = { x: value };
  return value;
}

/** Walks down `depth` levels of `[…]` or `{ x: … }` iteratively and returns the leaf. */
function unnest(value: unknown, depth: number): unknown {
  for (let i = 0; i < depth; i++) {
    value = Array.isArray(value) ? value[0] : (value as { x: unknown }).x;
  }
  return value;
}

Deno.test("jsonCodec.stringify() handles 10,000-deep nesting without a raw RangeError", () => {
  for (const nest of [nestArrays, nestObjects]) {
    for (const codec of codecs) {
      const value = nest(10_000, "leaf");
      const text = codec.stringify(value, "data");
      assert.equal(text, JSON.stringify(value));
      assert.equal(unnest(codec.parse(text), 10_000), "leaf");
    }
  }
});

Deno.test("jsonCodec.stringify() handles 100,000-deep nesting", () => {
  const value = nestArrays(100_000, 1);
  assert.equal(jsonCodec.stringify(value, "data").length, 200_001);
  assert.equal(unnest(typedJsonCodec.parse(typedJsonCodec.stringify(value, "data")), 100_000), 1);
});

Deno.test("jsonCodec.stringify() names a deeply nested offender with an elided path", () => {
  const error = assertRefused(
    () => jsonCodec.stringify(nestArrays(10_000, new Map()), "data"),
    "data[0][0][0]",
  );
  assert.match(error.message, /more levels\)…(\[0\])+ is a Map: /);
  assert.ok(error.message.length < 1_000);
  assertRefused(
    () => jsonCodec.stringify(nestObjects(50, new Set()), "data"),
    `data${".x".repeat(50)} is a Set`,
  );
});

Deno.test("jsonCodec.stringify() finds a cycle at depth 10,000", () => {
  const root: Record<string, unknown> = {};
  let node = root;
  for (let i = 0; i < 10_000; i++) {
    const next: Record<string, unknown> = {};
    node.x = next;
    node = next;
  }
  node.back = root.x;
  for (const codec of codecs) {
    const error = assertRefused(() => codec.stringify(root, "data"), "data.x.x");
    assert.match(error.message, /\.back is a cycle back to data\.x: /);
  }
});

Deno.test("typedJsonCodec round-trips 10,000-deep nesting with special values at the bottom", () => {
  const leaf = { when: new Date(5), seen: new Map([[1n, undefined]]), n: NaN };
  for (const nest of [nestArrays, nestObjects]) {
    const back = unnest(roundTrip(typedJsonCodec, nest(10_000, leaf)), 10_000);
    assert.deepStrictEqual(back, leaf);
  }
  let deepMap: unknown = "leaf";
  for (let i = 0; i < 10_000; i++) deepMap = new Map([["k", deepMap]]);
  let back = roundTrip(typedJsonCodec, deepMap);
  for (let i = 0; i < 10_000; i++) back = (back as Map<string, unknown>).get("k");
  assert.equal(back, "leaf");
});

Deno.test("jsonCodec.parse() and typedJsonCodec.parse() handle 10,000-deep text", () => {
  const text = "[".repeat(10_000) + "]".repeat(10_000);
  for (const codec of codecs) assert.deepStrictEqual(unnest(codec.parse(text), 9_999), []);
});

// ---------------------------------------------------------------------------------------------
// `__proto__` and `$cano` keys

Deno.test("a __proto__ key survives both codecs as an own property", () => {
  const value = JSON.parse('{"__proto__":{"x":1},"a":[{"__proto__":[1]}]}');
  for (const codec of codecs) {
    const text = codec.stringify(value, "data");
    assert.equal(text, '{"__proto__":{"x":1},"a":[{"__proto__":[1]}]}');
    const back = codec.parse(text) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(back), Object.prototype);
    assert.ok(Object.hasOwn(back, "__proto__"));
    assert.deepStrictEqual(back, value);
  }
});

Deno.test("a __proto__ key survives typedJsonCodec when its object must be copied", () => {
  const value = JSON.parse('{"before":1,"__proto__":{"x":1},"after":2}');
  value.when = new Date(7);
  value.__proto__ = undefined; // assigns the own property JSON.parse created
  assert.ok(Object.hasOwn(value, "__proto__"));
  const back = roundTrip(typedJsonCodec, value) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(back), Object.prototype);
  assert.ok(Object.hasOwn(back, "__proto__"));
  assert.equal(back.__proto__, undefined);
  assert.deepStrictEqual(back, value);

  const nested = JSON.parse('{"__proto__":{"__proto__":1}}');
  nested.__proto__.__proto__ = new Map([["a", 1]]);
  assert.deepStrictEqual(roundTrip(typedJsonCodec, nested), nested);
});

Deno.test("a $cano key round-trips through typedJsonCodec unchanged", () => {
  const values: unknown[] = [
    { $cano: "Map" },
    { $cano: "Map", entries: [[1, 2]] },
    { $cano: "undefined" },
    { $cano: { $cano: "Date", epoch: 0 } },
    { $cano: 1, other: new Date(3) },
    [{ $cano: "hole" }],
    { a: { $cano: "Object", value: { b: 1 } } },
    new Map([[{ $cano: "Set" }, { $cano: "Set" }]]),
  ];
  for (const value of values) assert.deepStrictEqual(roundTrip(typedJsonCodec, value), value);
  // The strict codec stores them as plain JSON.
  for (const value of values.slice(0, 4)) {
    assert.equal(jsonCodec.stringify(value, "data"), JSON.stringify(value));
    assert.deepStrictEqual(roundTrip(jsonCodec, value), value);
  }
  assert.equal(
    typedJsonCodec.stringify({ $cano: "Map" }, "data"),
    '{"$cano":"Object","value":{"$cano":"Map"}}',
  );
});

// ---------------------------------------------------------------------------------------------
// typedJsonCodec

Deno.test("typedJsonCodec round-trips Date, Map, Set, BigInt, undefined, NaN, ±Infinity and -0", () => {
  const values: unknown[] = [
    new Date(0),
    new Date("2024-02-29T12:34:56.789Z"),
    new Date(8.64e15),
    new Date(-8.64e15),
    new Date(NaN),
    new Map(),
    new Map<unknown, unknown>([["a", 1], [2, "b"], [true, null], [null, [1]], [undefined, {}]]),
    new Map<unknown, unknown>([[{ k: 1 }, new Set([1])], [[1, 2], new Date(1)], [3n, NaN]]),
    new Set(),
    new Set<unknown>([1, "1", null, undefined, NaN, -0, 0n, { a: 1 }, [1]]),
    0n,
    -123456789012345678901234567890n,
    2n ** 200n,
    undefined,
    NaN,
    Infinity,
    -Infinity,
    -0,
    [undefined, NaN, -0, Infinity],
    { a: undefined, b: [undefined], c: { d: undefined } },
    [1, , 3],
    [, , ,],
    { sparse: new Array(5) },
    { m: new Map([["inner", new Map([["deeper", new Set([new Date(9)])]])]]) },
    new Map([["z", 1], ["a", 2], ["m", 3]]),
  ];
  for (const value of values) {
    const back = roundTrip(typedJsonCodec, value);
    assert.deepStrictEqual(back, value);
  }
});

Deno.test("typedJsonCodec keeps Map and Set insertion order", () => {
  const map = new Map([[3, "c"], [1, "a"], [2, "b"]]);
  assert.deepEqual([...(roundTrip(typedJsonCodec, map) as Map<number, string>).keys()], [3, 1, 2]);
  const set = new Set(["z", "a", "m"]);
  assert.deepEqual([...(roundTrip(typedJsonCodec, set) as Set<string>)], ["z", "a", "m"]);
});

Deno.test("typedJsonCodec restores empty array slots as empty slots", () => {
  const back = roundTrip(typedJsonCodec, [1, , 3]) as unknown[];
  assert.equal(back.length, 3);
  assert.ok(!(1 in back));
  assert.deepStrictEqual(back, [1, , 3]);
});

Deno.test("typedJsonCodec.stringify() writes the documented tags", () => {
  const cases: [unknown, string][] = [
    [new Date(1_704_067_200_000), '{"$cano":"Date","epoch":1704067200000}'],
    [new Date(NaN), '{"$cano":"Date","epoch":null}'],
    [new Map([["a", 1]]), '{"$cano":"Map","entries":[["a",1]]}'],
    [new Set([1]), '{"$cano":"Set","values":[1]}'],
    [123n, '{"$cano":"BigInt","value":"123"}'],
    [undefined, '{"$cano":"undefined"}'],
    [NaN, '{"$cano":"number","value":"NaN"}'],
    [Infinity, '{"$cano":"number","value":"Infinity"}'],
    [-Infinity, '{"$cano":"number","value":"-Infinity"}'],
    [-0, '{"$cano":"number","value":"-0"}'],
    [[1, , 3], '[1,{"$cano":"hole"},3]'],
    [{ $cano: 1 }, '{"$cano":"Object","value":{"$cano":1}}'],
    [{ a: 1, b: undefined, c: 3 }, '{"a":1,"b":{"$cano":"undefined"},"c":3}'],
  ];
  for (const [value, text] of cases) assert.equal(typedJsonCodec.stringify(value, "data"), text);
});

Deno.test("typedJsonCodec.stringify() does not change the value it encodes", () => {
  const inner = { when: new Date(1), list: [1, undefined] };
  const value = { inner, map: new Map([["k", inner]]), plain: { a: 1 } };
  const before = structuredClone(value);
  typedJsonCodec.stringify(value, "data");
  assert.deepStrictEqual(value, before);
  assert.equal(value.inner, inner);
});

const TYPED_REFUSALS: readonly [string, unknown, string][] = [
  ["a class instance", { user: new User("ada") }, "data.user is an instance of User"],
  ["a function", { f() {} }, "data.f is a function"],
  ["a symbol", { s: Symbol("x") }, "data.s is a symbol"],
  ["a symbol key", { [Symbol("x")]: 1 }, "data has a symbol key Symbol(x)"],
  ["a RegExp", { re: /x/ }, "data.re is a RegExp"],
  ["a Uint8Array", { b: new Uint8Array(1) }, "data.b is a Uint8Array"],
  ["an Error", { e: new RangeError("x") }, "data.e is a RangeError"],
  ["a boxed String", { s: new String("x") }, "data.s is a boxed String"],
  ["a toJSON method", { x: { toJSON: () => 1 } }, "data.x has a toJSON method"],
  [
    "a Date subclass",
    { d: new (class MyDate extends Date {})(0) },
    "data.d is an instance of MyDate",
  ],
  ["a Map subclass", { m: new (class MyMap extends Map {})() }, "data.m is an instance of MyMap"],
  ["a Set subclass", { s: new (class MySet extends Set {})() }, "data.s is an instance of MySet"],
  [
    "a property on a Date",
    { d: Object.assign(new Date(0), { note: 1 }) },
    "data.d.note is a property on a Date",
  ],
  [
    "a property on a Map",
    { m: Object.assign(new Map(), { "a b": 1 }) },
    'data.m["a b"] is a property on a Map',
  ],
  [
    "a symbol key on a Set",
    { s: Object.assign(new Set(), { [Symbol("k")]: 1 }) },
    "data.s has a symbol",
  ],
  ["a function as a Map value", { m: new Map([["a", () => 1]]) }, 'data.m.get("a") is a function'],
  ["a function under a number key", { m: new Map([[1, () => 1]]) }, "data.m.get(1) is a function"],
  ["a function under a bigint key", new Map([[2n, () => 1]]), "data.get(2n) is a function"],
  [
    "a function under an object key",
    new Map<unknown, unknown>([["ok", 1], [{}, () => 1]]),
    "data.values()[1] is a function",
  ],
  ["a symbol as a Map key", new Map([[Symbol("k"), 1]]), "data.keys()[0] is a symbol"],
  ["a class instance as a Map key", new Map([[new User("a"), 1]]), "data.keys()[0] is an instance"],
  ["a function in a Set", { s: new Set([1, () => 1]) }, "data.s.values()[1] is a function"],
  [
    "a class instance deep inside",
    { a: [new Map([["k", [new User("b")]]])] },
    'data.a[0].get("k")[0]',
  ],
];

for (const [kind, value, prefix] of TYPED_REFUSALS) {
  Deno.test(`typedJsonCodec.stringify() names the path of ${kind}`, () => {
    assertRefused(() => typedJsonCodec.stringify(value, "data"), prefix);
  });
}

Deno.test("typedJsonCodec.stringify() names cycles through Maps and Sets", () => {
  const map = new Map<string, unknown>();
  map.set("me", map);
  assertRefused(
    () => typedJsonCodec.stringify({ map }, "data"),
    'data.map.get("me") is a cycle back to data.map',
  );
  const set = new Set<unknown>();
  const holder = { set };
  set.add(holder);
  assertRefused(
    () => typedJsonCodec.stringify(holder, "data"),
    "data.set.values()[0] is a cycle back to data",
  );
  const keyed = new Map<unknown, unknown>();
  keyed.set(keyed, 1);
  assertRefused(
    () => typedJsonCodec.stringify(keyed, "data"),
    "data.keys()[0] is a cycle back to data",
  );
});

Deno.test("typedJsonCodec refusal messages list what it stores", () => {
  const error = assertRefused(
    () => typedJsonCodec.stringify({ re: /x/ }, "data"),
    "data.re is a RegExp: JSON would store it as {}. Store plain objects, arrays, strings, numbers, " +
      "booleans, null, undefined, BigInt, Date, Map and Set, or give the store a codec that handles RegExp",
  );
  assert.ok(!error.message.includes("(typedJsonCodec does)"));
});

Deno.test("typedJsonCodec.parse() refuses malformed tags with a CheckpointStoreError", () => {
  const cases: [string, string][] = [
    ['{"$cano":"Nope"}', 'Cannot decode checkpoint text: $ has an unknown $cano tag "Nope"'],
    ['{"a":[{"$cano":7}]}', "Cannot decode checkpoint text: $.a[0] has an unknown $cano tag 7"],
    ['{"$cano":"number","value":"5"}', "Cannot decode checkpoint text: $ is a number tag"],
    ['{"$cano":"BigInt","value":"1.5"}', "Cannot decode checkpoint text: $ is a BigInt tag"],
    ['{"$cano":"BigInt","value":5}', "Cannot decode checkpoint text: $ is a BigInt tag"],
    ['{"$cano":"Date","epoch":"2024"}', "Cannot decode checkpoint text: $ is a Date tag"],
    ['{"$cano":"Date","epoch":1e300}', "Cannot decode checkpoint text: $ is a Date tag"],
    ['{"$cano":"Date","epoch":0.5}', "Cannot decode checkpoint text: $ is a Date tag"],
    ['{"$cano":"Map","entries":{}}', "Cannot decode checkpoint text: $ is a Map tag"],
    ['{"$cano":"Map","entries":[[1]]}', "Cannot decode checkpoint text: $.entries[0] is not a"],
    ['{"$cano":"Map","entries":[1]}', "Cannot decode checkpoint text: $.entries[0] is not a"],
    ['{"$cano":"Set","values":1}', "Cannot decode checkpoint text: $ is a Set tag"],
    ['{"$cano":"Object","value":[]}', "Cannot decode checkpoint text: $ is an Object tag"],
    ['{"$cano":"hole"}', "Cannot decode checkpoint text: $ is a hole tag outside an array"],
    ['{"a":{"$cano":"hole"}}', "Cannot decode checkpoint text: $.a is a hole tag"],
    ['{"$cano":"Set","values":[{"$cano":"hole"}]}', "Cannot decode checkpoint text: $.values[0]"],
    [
      '{"$cano":"Object","value":{"a b":{"$cano":"x"}}}',
      'Cannot decode checkpoint text: $.value["a b"] has an unknown $cano tag "x"',
    ],
  ];
  for (const [text, prefix] of cases) assertRefused(() => typedJsonCodec.parse(text), prefix);
});

Deno.test("jsonCodec.parse() and typedJsonCodec.parse() wrap invalid JSON", () => {
  for (const codec of codecs) {
    for (const text of ["", "{", "undefined", "NaN", "[1,]", "{'a':1}"]) {
      assertRefused(() => codec.parse(text), "Cannot decode checkpoint text: SyntaxError");
    }
    assertRefused(
      () => codec.parse(42 as unknown as string),
      "Cannot decode checkpoint text: expected a string, received number",
    );
  }
});

Deno.test("jsonCodec.parse() reads $cano tags as plain objects", () => {
  assert.deepStrictEqual(jsonCodec.parse('{"$cano":"undefined"}'), { $cano: "undefined" });
});

Deno.test("typedJsonCodec.parse() reads text jsonCodec wrote", () => {
  for (const value of ACCEPTED) {
    if (JSON.stringify(value).includes('"$cano"')) continue;
    assert.deepStrictEqual(typedJsonCodec.parse(jsonCodec.stringify(value, "data")), value);
  }
});

// ---------------------------------------------------------------------------------------------
// Property-style round trips

/** A small seeded PRNG (mulberry32), so failures reproduce. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = ["a", "b", "id", "name", "a b", "0", "12", "0x", "", "é", "__proto__", "$cano", "$x"];
const STRINGS = ["", "x", "hello world", 'quote"s', "back\\slash", "new\nline", "🎉", "\ud800"];

function randomTree(random: () => number, depth: number, rich: boolean): unknown {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const roll = random();
  if (depth <= 0 || roll < 0.35) {
    const leaves: (() => unknown)[] = [
      () => null,
      () => random() < 0.5,
      () => Math.floor(random() * 2_000_000) - 1_000_000,
      () => (random() - 0.5) * 1e6,
      () => pick(STRINGS),
      () => pick([0, 1, -1, 1e21, 1e-7, Number.MAX_SAFE_INTEGER]),
    ];
    if (rich) {
      leaves.push(
        () => undefined,
        () => pick([NaN, Infinity, -Infinity, -0]),
        () => BigInt(Math.floor(random() * 1e9)) * (random() < 0.5 ? -1n : 1n) * 10n ** 20n,
        () => new Date(Math.floor((random() - 0.5) * 1e13)),
        () => new Date(NaN),
      );
    }
    return pick(leaves)();
  }
  const size = Math.floor(random() * 5);
  const containers = rich ? 5 : 2;
  switch (Math.floor(random() * containers)) {
    case 0: {
      const list: unknown[] = [];
      for (let i = 0; i < size; i++) list.push(randomTree(random, depth - 1, rich));
      if (rich && size > 1 && random() < 0.2) delete list[Math.floor(random() * size)];
      return list;
    }
    case 1: {
      const object = random() < 0.1 ? Object.create(null) : {};
      for (let i = 0; i < size; i++) {
        Object.defineProperty(object, pick(KEYS), {
          value: randomTree(random, depth - 1, rich),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return object;
    }
    case 2: {
      const map = new Map<unknown, unknown>();
      for (let i = 0; i < size; i++) {
        map.set(randomTree(random, depth - 2, rich), randomTree(random, depth - 1, rich));
      }
      return map;
    }
    case 3: {
      const set = new Set<unknown>();
      for (let i = 0; i < size; i++) set.add(randomTree(random, depth - 1, rich));
      return set;
    }
    default:
      return { when: new Date(Math.floor(random() * 1e12)), total: BigInt(size) };
  }
}

/**
 * What a tree comes back as: plain objects stand in for null-prototype ones (both codecs bring
 * those back plain) and, for the strict codec (`zero`), 0 for -0.
 */
function withPlainPrototypes(value: unknown, zero = false): unknown {
  if (zero && Object.is(value, -0)) return 0;
  if (Array.isArray(value)) {
    const copy: unknown[] = new Array(value.length);
    value.forEach((item, i) => (copy[i] = withPlainPrototypes(item, zero)));
    return copy;
  }
  if (value instanceof Map) {
    return new Map([...value].map(([k, v]) => [withPlainPrototypes(k), withPlainPrototypes(v)]));
  }
  if (value instanceof Set) return new Set([...value].map((item) => withPlainPrototypes(item)));
  if (typeof value === "object" && value !== null && !(value instanceof Date)) {
    const copy: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      Object.defineProperty(copy, key, {
        value: withPlainPrototypes(item, zero),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return copy;
  }
  return value;
}

Deno.test("jsonCodec round-trips 500 random JSON trees and writes JSON.stringify's text", () => {
  const random = prng(0xc0dec);
  for (let i = 0; i < 500; i++) {
    const tree = randomTree(random, 6, false);
    const expected = withPlainPrototypes(tree);
    for (const codec of codecs) {
      const text = codec.stringify(tree, "data");
      if (codec === jsonCodec || !text.includes('"$cano"')) {
        assert.equal(text, JSON.stringify(tree), `tree #${i}`);
      }
      assert.deepStrictEqual(codec.parse(text), expected, `tree #${i} through ${codec.name}`);
    }
  }
});

Deno.test("typedJsonCodec round-trips 500 random trees with Map, Set, Date, BigInt and undefined", () => {
  const random = prng(0x7e57);
  let special = 0;
  for (let i = 0; i < 500; i++) {
    const tree = randomTree(random, 6, true);
    const text = typedJsonCodec.stringify(tree, "data");
    if (text.includes('"$cano"')) special++;
    assert.deepStrictEqual(typedJsonCodec.parse(text), withPlainPrototypes(tree), `tree #${i}`);
  }
  assert.ok(special > 250, `only ${special} trees held special values`);
});

Deno.test("jsonCodec refuses every random tree that holds a special value, naming a real path", () => {
  const random = prng(0xbad);
  let refused = 0;
  for (let i = 0; i < 300; i++) {
    const tree = randomTree(random, 5, true);
    let text: string | undefined;
    try {
      text = jsonCodec.stringify(tree, "data");
    } catch (error) {
      assert.ok(error instanceof CheckpointStoreError, `tree #${i}: ${String(error)}`);
      assert.match(error.message, /^data[.\[ ]/);
      refused++;
      continue;
    }
    assert.deepStrictEqual(jsonCodec.parse(text), withPlainPrototypes(tree, true), `tree #${i}`);
  }
  assert.ok(refused > 100);
});
