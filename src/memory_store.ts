import { StoreError } from "./errors.ts";
import type { Resource } from "./resources.ts";

/**
 * A typed in-memory key/value store that tasks share through {@link Resources}. Its lifecycle
 * hooks do nothing, so values survive across runs of the same workflow.
 *
 * Values are stored by reference, not copied: `get` returns the very object that was `put`, and
 * mutating it mutates the stored value. Types are not checked at run time: `get<T>` trusts the
 * caller, like a cast.
 *
 * @example Share values between tasks
 * ```ts
 * import { MemoryStore } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryStore();
 * store.put("user", { name: "Ada" });
 * store.append("events", "signed-up");
 * assert.deepEqual(store.get("events"), ["signed-up"]);
 *
 * // Stored by reference: changing the object changes the stored value.
 * store.get<{ name: string }>("user").name = "Grace";
 * assert.equal(store.get<{ name: string }>("user").name, "Grace");
 * ```
 */
export class MemoryStore implements Resource {
  #values = new Map<string, unknown>();

  /**
   * Does nothing: the store needs no connection. Present so the store is a {@link Resource}.
   *
   * @example Setup keeps the values
   * ```ts
   * import { MemoryStore } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryStore();
   * store.put("n", 1);
   * store.setup();
   * assert.equal(store.get("n"), 1);
   * ```
   */
  setup(): void {}

  /**
   * Does nothing: values are kept, so a scheduled workflow sees what its previous run stored.
   * Call {@link MemoryStore.prototype.clear} to drop them.
   *
   * @example Teardown keeps the values
   * ```ts
   * import { MemoryStore } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryStore();
   * store.put("n", 1);
   * store.teardown();
   * assert.equal(store.get("n"), 1);
   * ```
   */
  teardown(): void {}

  /**
   * The value under `key`.
   *
   * @param key The key.
   * @returns The value.
   * @throws {StoreError} When the key is missing.
   *
   * @example A missing key
   * ```ts
   * import { MemoryStore } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * assert.throws(() => new MemoryStore().get("nope"), { category: "store" });
   * ```
   */
  get<T = unknown>(key: string): T {
    if (!this.#values.has(key)) throw new StoreError(`Key not found: "${key}"`);
    return this.#values.get(key) as T;
  }

  /**
   * The value under `key`, or `undefined` when missing.
   *
   * @param key The key.
   * @returns The value or `undefined`.
   *
   * @example Optional lookup
   * ```ts
   * import { MemoryStore } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new MemoryStore().tryGet("nope"), undefined);
   * ```
   */
  tryGet<T = unknown>(key: string): T | undefined {
    return this.#values.get(key) as T | undefined;
  }

  /**
   * Inserts or replaces the value under `key`.
   *
   * @param key The key.
   * @param value The value.
   *
   * @example Replace a value
   * ```ts
   * import { MemoryStore } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryStore();
   * store.put("n", 1);
   * store.put("n", 2);
   * assert.equal(store.get("n"), 2);
   * ```
   */
  put<T>(key: string, value: T): void {
    this.#values.set(key, value);
  }

  /**
   * Removes `key`; does nothing when it is missing.
   *
   * @param key The key.
   *
   * @example Remove a key
   * ```ts
   * import { MemoryStore } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryStore();
   * store.put("n", 1);
   * store.remove("n");
   * store.remove("never-there");
   * assert.equal(store.has("n"), false);
   * ```
   */
  remove(key: string): void {
    this.#values.delete(key);
  }

  /**
   * Appends `item` to the array under `key`, creating `[item]` when the key is missing.
   *
   * @param key The key.
   * @param item The item.
   * @throws {StoreError} When the existing value is not an array (it is left unchanged).
   *
   * @example Append to a list
   * ```ts
   * import { MemoryStore } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryStore();
   * store.append("log", "a");
   * store.append("log", "b");
   * assert.deepEqual(store.get("log"), ["a", "b"]);
   * ```
   */
  append<T>(key: string, item: T): void {
    if (!this.#values.has(key)) {
      this.#values.set(key, [item]);
      return;
    }
    const existing = this.#values.get(key);
    // Checked before any change, so a mismatch leaves the stored value exactly as it was.
    if (!Array.isArray(existing)) {
      throw new StoreError(`Cannot append to key "${key}": existing value is not an array`);
    }
    existing.push(item);
  }

  /**
   * Whether `key` holds a value.
   *
   * @param key The key.
   * @returns `true` when present.
   *
   * @example Check a key
   * ```ts
   * import { MemoryStore } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryStore();
   * store.put("k", undefined);
   * assert.equal(store.has("k"), true);
   * ```
   */
  has(key: string): boolean {
    return this.#values.has(key);
  }

  /**
   * The keys, in insertion order.
   *
   * @returns The keys.
   *
   * @example List keys
   * ```ts
   * import { MemoryStore } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryStore();
   * store.put("a", 1);
   * assert.deepEqual(store.keys(), ["a"]);
   * ```
   */
  keys(): string[] {
    return [...this.#values.keys()];
  }

  /**
   * How many keys hold a value.
   *
   * @returns The number of keys.
   *
   * @example Count keys
   * ```ts
   * import { MemoryStore } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryStore();
   * store.put("a", 1);
   * store.put("a", 2);
   * assert.equal(store.size, 1);
   * ```
   */
  get size(): number {
    return this.#values.size;
  }

  /**
   * Whether the store is empty.
   *
   * @returns `true` when no key holds a value.
   *
   * @example An empty store
   * ```ts
   * import { MemoryStore } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new MemoryStore().isEmpty(), true);
   * ```
   */
  isEmpty(): boolean {
    return this.#values.size === 0;
  }

  /**
   * Removes every value.
   *
   * @example Clear the store
   * ```ts
   * import { MemoryStore } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const store = new MemoryStore();
   * store.put("a", 1);
   * store.clear();
   * assert.equal(store.size, 0);
   * ```
   */
  clear(): void {
    this.#values.clear();
  }
}
