import assert from "node:assert/strict";
import { CanoError, HealthStatus, MemoryStore, Resources, StoreError } from "../mod.ts";

Deno.test("MemoryStore.put() stores a value that get() returns by reference", () => {
  const store = new MemoryStore();
  const user = { name: "Ada" };
  store.put("user", user);
  assert.equal(store.get("user"), user);
  // Not a copy: changes through the returned object are visible to later readers.
  store.get<{ name: string }>("user").name = "Grace";
  assert.equal(user.name, "Grace");
});

Deno.test("MemoryStore.put() replaces an existing value", () => {
  const store = new MemoryStore();
  store.put("n", 1);
  store.put("n", "one");
  assert.equal(store.get<string>("n"), "one");
  assert.equal(store.size, 1);
});

Deno.test("MemoryStore.get() throws StoreError for a missing key", () => {
  const store = new MemoryStore();
  assert.throws(() => store.get("user"), (error: unknown) => {
    assert.ok(error instanceof StoreError);
    assert.ok(error instanceof CanoError);
    assert.equal(error.category, "store");
    assert.equal(error.message, 'Key not found: "user"');
    return true;
  });
});

Deno.test("MemoryStore.get() returns a stored undefined instead of throwing", () => {
  const store = new MemoryStore();
  store.put("k", undefined);
  assert.equal(store.get("k"), undefined);
});

Deno.test("MemoryStore.tryGet() returns the value or undefined", () => {
  const store = new MemoryStore();
  store.put("n", 42);
  const n: number | undefined = store.tryGet<number>("n");
  assert.equal(n, 42);
  assert.equal(store.tryGet("missing"), undefined);
});

Deno.test("MemoryStore.remove() deletes a key and ignores a missing one", () => {
  const store = new MemoryStore();
  store.put("a", 1);
  store.put("b", 2);
  store.remove("a");
  store.remove("never-there");
  assert.equal(store.has("a"), false);
  assert.deepEqual(store.keys(), ["b"]);
});

Deno.test("MemoryStore.append() creates an array, then appends to it in place", () => {
  const store = new MemoryStore();
  store.append("log", "a");
  const log = store.get<string[]>("log");
  store.append("log", "b");
  assert.deepEqual(store.get("log"), ["a", "b"]);
  assert.equal(store.get("log"), log);
});

Deno.test("MemoryStore.append() appends to an array stored with put()", () => {
  const store = new MemoryStore();
  store.put("ids", [1, 2]);
  store.append("ids", 3);
  assert.deepEqual(store.get("ids"), [1, 2, 3]);
});

Deno.test("MemoryStore.append() refuses a non-array value and keeps it intact", () => {
  const store = new MemoryStore();
  const settings = { retries: 3 };
  store.put("settings", settings);
  store.put("empty", undefined);
  for (const key of ["settings", "empty"]) {
    assert.throws(() => store.append(key, "item"), (error: unknown) => {
      assert.ok(error instanceof StoreError);
      assert.equal(error.category, "store");
      assert.equal(
        error.message,
        `Cannot append to key "${key}": existing value is not an array`,
      );
      return true;
    });
  }
  assert.equal(store.get("settings"), settings);
  assert.deepEqual(settings, { retries: 3 });
  assert.equal(store.has("empty"), true);
  assert.equal(store.get("empty"), undefined);
});

Deno.test("MemoryStore.has(), keys(), size and isEmpty() describe the contents", () => {
  const store = new MemoryStore();
  assert.equal(store.isEmpty(), true);
  assert.equal(store.size, 0);
  assert.deepEqual(store.keys(), []);
  store.put("b", 1);
  store.put("a", undefined);
  assert.equal(store.has("a"), true);
  assert.equal(store.has("c"), false);
  assert.deepEqual(store.keys(), ["b", "a"]);
  assert.equal(store.size, 2);
  assert.equal(store.isEmpty(), false);
});

Deno.test("MemoryStore.clear() removes every value", () => {
  const store = new MemoryStore();
  store.put("a", 1);
  store.append("b", 2);
  store.clear();
  assert.equal(store.isEmpty(), true);
  assert.equal(store.has("a"), false);
  assert.throws(() => store.get("b"), StoreError);
});

Deno.test("MemoryStore is a resource whose lifecycle keeps the values", async () => {
  const store = new MemoryStore();
  store.put("visits", 1);
  const resources = new Resources({ store });
  await resources.setupAll();
  assert.deepEqual(await resources.teardownAll(), []);
  assert.deepEqual(await resources.aggregateHealth(), HealthStatus.healthy());
  assert.equal(resources.get("store").get("visits"), 1);
});
