import { safeString } from "./describe.ts";
import { messageOf, ResourceDuplicateKeyError, ResourceNotFoundError } from "./errors.ts";

/**
 * The health of a resource: healthy, or degraded / unhealthy with a reason. Build values with the
 * {@link HealthStatus} helpers of the same name.
 *
 * @example Narrow on the status
 * ```ts
 * import { HealthStatus } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const status: HealthStatus = HealthStatus.degraded("replica lag 3 s");
 * const text = status.status === "healthy" ? "ok" : `${status.status}: ${status.reason}`;
 * assert.equal(text, "degraded: replica lag 3 s");
 * ```
 */
export type HealthStatus =
  | { readonly status: "healthy" }
  | { readonly status: "degraded"; readonly reason: string }
  | { readonly status: "unhealthy"; readonly reason: string };

/**
 * Builders and helpers for {@link HealthStatus} values.
 *
 * @example Build and test statuses
 * ```ts
 * import { HealthStatus } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * assert.equal(HealthStatus.isHealthy(HealthStatus.healthy()), true);
 * assert.equal(HealthStatus.isHealthy(HealthStatus.degraded("slow replica")), false);
 * assert.deepEqual(HealthStatus.unhealthy("down"), { status: "unhealthy", reason: "down" });
 * ```
 */
export const HealthStatus: {
  /** A healthy status. */
  healthy(): HealthStatus;
  /** A degraded status: working, but with a problem worth a look. */
  degraded(reason: string): HealthStatus;
  /** An unhealthy status: not working. */
  unhealthy(reason: string): HealthStatus;
  /** Whether `status` is healthy (degraded counts as not healthy). */
  isHealthy(status: HealthStatus): boolean;
} = {
  healthy: () => ({ status: "healthy" }),
  degraded: (reason) => ({ status: "degraded", reason }),
  unhealthy: (reason) => ({ status: "unhealthy", reason }),
  isHealthy: (status) => status.status === "healthy",
};

/**
 * The lifecycle hooks a resource may have. Every hook is optional and any value can be a resource
 * (a plain object, a database client, a number): only these methods are looked for.
 * `[Symbol.asyncDispose]` (or else `[Symbol.dispose]`) is used as teardown when `teardown` is
 * absent, so objects written for `await using` work unchanged.
 *
 * @example A resource with every hook
 * ```ts
 * import { HealthStatus, type Resource, Resources } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * class Pool implements Resource {
 *   open = false;
 *   setup(): void {
 *     this.open = true;
 *   }
 *   teardown(): void {
 *     this.open = false;
 *   }
 *   health(): HealthStatus {
 *     return this.open ? HealthStatus.healthy() : HealthStatus.unhealthy("pool is closed");
 *   }
 * }
 *
 * const resources = new Resources({ pool: new Pool() });
 * await resources.setupAll();
 * assert.equal(resources.get("pool").open, true);
 * await resources.teardownAll();
 * assert.deepEqual(await resources.aggregateHealth(), HealthStatus.unhealthy("pool is closed"));
 * ```
 */
export interface Resource {
  /** Called before each run (or once when the scheduler starts), in insertion order. */
  setup?(): Promise<void> | void;
  /** Called after each run (or once when the scheduler stops), in reverse insertion order. */
  teardown?(): Promise<void> | void;
  /** Reports the resource's health; never called by the engine itself. */
  health?(): Promise<HealthStatus> | HealthStatus;
}

/**
 * A failed teardown, as returned by {@link Resources.prototype.teardownAll}.
 *
 * @example Inspect a failure
 * ```ts
 * import { Resources, type TeardownFailure } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const resources = new Resources({ db: { teardown: () => Promise.reject(new Error("busy")) } });
 * const originalError = console.error;
 * console.error = () => {}; // teardown failures are also reported here
 * let failures: TeardownFailure[];
 * try {
 *   failures = await resources.teardownAll();
 * } finally {
 *   console.error = originalError;
 * }
 * assert.equal(failures[0]?.key, "db");
 * assert.equal((failures[0]?.error as Error).message, "busy");
 * ```
 */
export interface TeardownFailure {
  /** The resource's key. */
  readonly key: string;
  /** What its teardown threw. */
  readonly error: unknown;
}

/** Rank of each status for {@link Resources.prototype.aggregateHealth}: higher is worse. */
const SEVERITY: Readonly<Record<HealthStatus["status"], number>> = {
  healthy: 0,
  degraded: 1,
  unhealthy: 2,
};

/**
 * The resources of a workflow, typed by key: database clients, stores, configuration. They are
 * set up in insertion order before every run and torn down in reverse order after it, so a
 * resource may rely on those inserted before it.
 *
 * @typeParam R Resource key → resource type.
 *
 * @example Typed lookup and lifecycle
 * ```ts
 * import { MemoryStore, Resources } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const log: string[] = [];
 * const resources = new Resources({
 *   store: new MemoryStore(),
 *   db: { setup: () => void log.push("connect"), teardown: () => void log.push("close") },
 * });
 * resources.get("store").put("answer", 42);
 * await resources.setupAll();
 * await resources.teardownAll();
 * assert.deepEqual(log, ["connect", "close"]);
 * assert.equal(resources.get("store").get("answer"), 42);
 * ```
 */
// `out`: a workflow typed for fewer (or looser) resources must accept a more specific set, e.g.
// `Resources<{ db: Db }>` where `Resources<Record<string, unknown>>` is expected.
export class Resources<out R extends Record<string, unknown> = Record<string, unknown>> {
  #entries: Map<string, unknown>;

  /**
   * Creates the resources from an object. Insertion order is the object's key order (as
   * `Object.keys` reports it), and it is the setup order.
   *
   * @param entries Resource key → resource.
   */
  constructor(entries?: R) {
    this.#entries = new Map(Object.entries(entries ?? {}));
  }

  /**
   * An empty set of resources.
   *
   * @returns Resources with no entries.
   *
   * @example No resources
   * ```ts
   * import { Resources } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const resources = Resources.empty();
   * assert.equal(resources.size, 0);
   * assert.equal(resources.insert("n", 1).get("n"), 1);
   * ```
   */
  static empty(): Resources<Record<string, never>> {
    return new Resources({});
  }

  /**
   * The resource registered under `key`. Repeated calls return the very same value.
   *
   * @param key The key.
   * @returns The resource.
   * @throws {ResourceNotFoundError} When nothing is registered under `key`.
   *
   * @example Typed lookup and a missing key
   * ```ts
   * import { ResourceNotFoundError, Resources } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const resources = new Resources<Record<string, number>>({ a: 1 });
   * assert.equal(resources.get("a"), 1);
   * assert.throws(() => resources.get("b"), ResourceNotFoundError);
   * ```
   */
  get<K extends keyof R & string>(key: K): R[K] {
    // `has`, not `=== undefined`: `undefined` itself may be registered as a resource.
    if (!this.#entries.has(key)) throw new ResourceNotFoundError(key);
    return this.#entries.get(key) as R[K];
  }

  /**
   * Whether a resource is registered under `key`.
   *
   * @param key The key.
   * @returns `true` when registered.
   *
   * @example Check a key
   * ```ts
   * import { Resources } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const resources = new Resources({ a: 1 });
   * assert.equal(resources.has("a"), true);
   * assert.equal(resources.has("b"), false);
   * ```
   */
  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /**
   * The keys in insertion order.
   *
   * @typeParam K Leave it to the default, the key union of `R`.
   * @returns The keys.
   *
   * @example List keys
   * ```ts
   * import { Resources } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const keys: Array<"a" | "b"> = new Resources({ a: 1, b: 2 }).keys();
   * assert.deepEqual(keys, ["a", "b"]);
   * ```
   */
  // The key union is a defaulted type parameter rather than the return type `(keyof R)[]`, which
  // would make the class contravariant in `R` and break the `out` annotation above.
  keys<K extends keyof R & string = keyof R & string>(): K[] {
    return [...this.#entries.keys()] as K[];
  }

  /**
   * How many resources are registered.
   *
   * @returns The number of resources.
   *
   * @example Count resources
   * ```ts
   * import { Resources } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new Resources({ a: 1, b: 2 }).size, 2);
   * ```
   */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Adds a resource under a new key, after the existing ones (so it is set up last).
   *
   * @param key The new key.
   * @param value The resource.
   * @returns These same resources (not a copy), typed with the new key.
   * @throws {ResourceDuplicateKeyError} When the key is taken; nothing is changed.
   *
   * @example Add a resource
   * ```ts
   * import { ResourceDuplicateKeyError, Resources } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const resources = new Resources({ a: 1 }).insert("b", "two");
   * assert.equal(resources.get("b"), "two");
   * assert.throws(() => resources.insert("a", 3), ResourceDuplicateKeyError);
   * ```
   */
  insert<K extends string, V>(key: K, value: V): Resources<R & Record<K, V>> {
    if (this.#entries.has(key)) throw new ResourceDuplicateKeyError(key);
    this.#entries.set(key, value);
    return this as unknown as Resources<R & Record<K, V>>;
  }

  /**
   * Sets every resource up, one at a time in insertion order. If one fails, those already set up
   * are torn down in reverse order (teardown failures are reported to `console.error`, not
   * thrown) and the setup error is rethrown; the failing resource and those after it are never
   * torn down, because they were never set up.
   *
   * @returns When every setup finished.
   * @throws The first setup error, after the rollback.
   *
   * @example A failing setup rolls back
   * ```ts
   * import { Resources } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const log: string[] = [];
   * const resources = new Resources({
   *   a: { setup: () => void log.push("setup a"), teardown: () => void log.push("teardown a") },
   *   b: {
   *     setup: () => {
   *       throw new Error("b is down");
   *     },
   *   },
   * });
   * await assert.rejects(resources.setupAll(), /b is down/);
   * assert.deepEqual(log, ["setup a", "teardown a"]);
   * ```
   */
  async setupAll(): Promise<void> {
    const done: Array<[string, unknown]> = [];
    for (const entry of this.#entries) {
      try {
        await hookOf(entry[1], "setup")?.();
      } catch (error) {
        await teardownEach(done.reverse(), "rolling back a failed setup");
        throw error;
      }
      done.push(entry);
    }
  }

  /**
   * Tears every resource down, one at a time in reverse insertion order. Never throws: a failing
   * teardown is reported to `console.error` and returned, and the remaining resources are still
   * torn down.
   *
   * @returns The teardowns that failed, in the order they ran; empty when all succeeded.
   *
   * @example Tear down in reverse order
   * ```ts
   * import { Resources } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const log: string[] = [];
   * const resources = new Resources({
   *   a: { teardown: () => void log.push("a") },
   *   b: { [Symbol.asyncDispose]: () => Promise.resolve(void log.push("b")) },
   * });
   * assert.deepEqual(await resources.teardownAll(), []);
   * assert.deepEqual(log, ["b", "a"]);
   * ```
   */
  teardownAll(): Promise<TeardownFailure[]> {
    return teardownEach([...this.#entries].reverse(), "continuing with the remaining resources");
  }

  /**
   * Asks every resource for its health, one at a time in insertion order. A resource without
   * `health()` is healthy; one whose `health()` throws is unhealthy, with the error's message as
   * the reason.
   *
   * @returns Key → status, in insertion order.
   *
   * @example Check health
   * ```ts
   * import { HealthStatus, Resources } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const resources = new Resources({
   *   config: { retries: 3 },
   *   db: { health: () => HealthStatus.degraded("slow") },
   * });
   * const health = await resources.checkAllHealth();
   * assert.deepEqual(health.get("config"), HealthStatus.healthy());
   * assert.deepEqual(health.get("db"), HealthStatus.degraded("slow"));
   * ```
   */
  async checkAllHealth(): Promise<Map<string, HealthStatus>> {
    const result = new Map<string, HealthStatus>();
    for (const [key, resource] of this.#entries) {
      result.set(key, await healthOf(resource));
    }
    return result;
  }

  /**
   * The worst health of all resources (healthy < degraded < unhealthy; of equally bad statuses
   * the first in insertion order wins). Healthy when there are none.
   *
   * @returns The aggregate status.
   *
   * @example Aggregate health
   * ```ts
   * import { HealthStatus, Resources } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const resources = new Resources({
   *   a: { health: () => HealthStatus.degraded("a is slow") },
   *   b: { health: () => HealthStatus.unhealthy("b is down") },
   *   c: { health: () => HealthStatus.unhealthy("c is down") },
   * });
   * assert.deepEqual(await resources.aggregateHealth(), HealthStatus.unhealthy("b is down"));
   * ```
   */
  async aggregateHealth(): Promise<HealthStatus> {
    let worst: HealthStatus = HealthStatus.healthy();
    for (const status of (await this.checkAllHealth()).values()) {
      // Strictly greater, so the first of equally bad statuses is kept.
      if (SEVERITY[status.status] > SEVERITY[worst.status]) worst = status;
    }
    return worst;
  }
}

/** Runs the teardown of each entry in the given order, collecting (and reporting) failures. */
async function teardownEach(
  entries: Array<[string, unknown]>,
  context: string,
): Promise<TeardownFailure[]> {
  const failures: TeardownFailure[] = [];
  for (const [key, resource] of entries) {
    try {
      await teardownOf(resource)?.();
    } catch (error) {
      // Reported, not thrown: one stuck resource must not keep the others open, nor mask the
      // run's own result.
      reportTeardownFailure(`cano: teardown of resource "${key}" failed (${context}):`, error);
      failures.push({ key, error });
    }
  }
  return failures;
}

/**
 * Logs a teardown failure with the error itself (so `console.error` can show its stack), falling
 * back to a safe one-line description when the console cannot inspect it (a revoked `Proxy`, for
 * one); never throws, whatever the error or a replaced `console.error` does.
 */
function reportTeardownFailure(line: string, error: unknown): void {
  try {
    console.error(line, error);
  } catch {
    try {
      console.error(`${line} ${safeString(error)}`);
    } catch {
      // A console.error that throws on plain strings: there is nowhere left to report to.
    }
  }
}

/** The teardown hook of a value: `teardown`, else `Symbol.asyncDispose`, else `Symbol.dispose`. */
function teardownOf(resource: unknown): (() => unknown) | undefined {
  return hookOf(resource, "teardown") ?? hookOf(resource, Symbol.asyncDispose) ??
    hookOf(resource, Symbol.dispose);
}

/** The health of one resource; a `health()` that throws makes it unhealthy. */
async function healthOf(resource: unknown): Promise<HealthStatus> {
  try {
    // Looked up inside the try: a resource whose property reads throw is unhealthy too.
    const health = hookOf(resource, "health");
    if (health === undefined) return HealthStatus.healthy();
    return await (health() as Promise<HealthStatus> | HealthStatus);
  } catch (error) {
    return HealthStatus.unhealthy(messageOf(error));
  }
}

/**
 * The method `name` of a value, bound to it, or `undefined` when the value is `null`, a primitive,
 * or has no such method. Any value may be registered as a resource, so nothing is assumed.
 */
function hookOf(resource: unknown, name: PropertyKey): (() => unknown) | undefined {
  if (resource === null || (typeof resource !== "object" && typeof resource !== "function")) {
    return undefined;
  }
  const hook: unknown = (resource as Record<PropertyKey, unknown>)[name];
  return typeof hook === "function" ? () => hook.call(resource) : undefined;
}
