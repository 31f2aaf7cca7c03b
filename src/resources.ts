import { messageOf, ResourceDuplicateKeyError, ResourceNotFoundError } from "./errors.ts";

/** The health of a resource: healthy, or degraded / unhealthy with a reason. */
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
 * ```
 */
export const HealthStatus: {
  /** A healthy status. */
  healthy(): HealthStatus;
  /** A degraded status with its reason. */
  degraded(reason: string): HealthStatus;
  /** An unhealthy status with its reason. */
  unhealthy(reason: string): HealthStatus;
  /** Whether `status` is healthy. */
  isHealthy(status: HealthStatus): boolean;
} = {
  healthy: () => ({ status: "healthy" }),
  degraded: (reason) => ({ status: "degraded", reason }),
  unhealthy: (reason) => ({ status: "unhealthy", reason }),
  isHealthy: (status) => status.status === "healthy",
};

/**
 * The lifecycle hooks a resource may have. Every hook is optional and any value can be a resource:
 * only these methods are looked for. `[Symbol.asyncDispose]` (or `[Symbol.dispose]`) is used as
 * teardown when `teardown` is absent.
 */
export interface Resource {
  /** Called before each run (or once when the scheduler starts), in registration order. */
  setup?(): void | Promise<void>;
  /** Called after each run (or once when the scheduler stops), in reverse order. */
  teardown?(): void | Promise<void>;
  /** Reports the resource's health; never called by the engine itself. */
  health?(): HealthStatus | Promise<HealthStatus>;
}

/** A failed teardown, as returned by {@link Resources.teardownAll}. */
export interface TeardownFailure {
  /** The resource's key. */
  readonly key: string;
  /** What its teardown threw. */
  readonly error: unknown;
}

const SEVERITY = { healthy: 0, degraded: 1, unhealthy: 2 } as const;

/**
 * The resources of a workflow, typed by key: database clients, stores, configuration. They are
 * set up in insertion order before every run and torn down in reverse order after it.
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

export class Resources<R extends Record<string, unknown> = Record<string, unknown>> {
  #entries: Map<string, unknown>;

  /**
   * Creates the resources from an object (insertion order = the object's key order).
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
   * assert.equal(Resources.empty().size, 0);
   * ```
   */
  static empty(): Resources<Record<string, never>> {
    return new Resources({});
  }

  /**
   * The resource registered under `key`.
   *
   * @param key The key.
   * @returns The resource.
   * @throws {ResourceNotFoundError} When nothing is registered under `key`.
   *
   * @example A missing key
   * ```ts
   * import { Resources } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const resources = new Resources<Record<string, number>>({ a: 1 });
   * assert.throws(() => resources.get("b"), { category: "resource_not_found" });
   * ```
   */
  get<K extends keyof R & string>(key: K): R[K] {
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
   * assert.equal(new Resources({ a: 1 }).has("a"), true);
   * ```
   */
  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /**
   * The keys in insertion order.
   *
   * @returns The keys.
   *
   * @example List keys
   * ```ts
   * import { Resources } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * assert.deepEqual(new Resources({ a: 1, b: 2 }).keys(), ["a", "b"]);
   * ```
   */
  keys(): (keyof R & string)[] {
    return [...this.#entries.keys()] as (keyof R & string)[];
  }

  /** How many resources are registered. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Adds a resource under a new key.
   *
   * @param key The new key.
   * @param value The resource.
   * @returns These resources, typed with the new key.
   * @throws {ResourceDuplicateKeyError} When the key is taken.
   *
   * @example Add a resource
   * ```ts
   * import { Resources } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const resources = new Resources({ a: 1 }).insert("b", "two");
   * assert.equal(resources.get("b"), "two");
   * assert.throws(() => resources.insert("a", 3), { category: "resource_duplicate_key" });
   * ```
   */
  insert<K extends string, V>(key: K, value: V): Resources<R & Record<K, V>> {
    if (this.#entries.has(key)) throw new ResourceDuplicateKeyError(key);
    this.#entries.set(key, value);
    return this as unknown as Resources<R & Record<K, V>>;
  }

  /**
   * Sets every resource up in insertion order. If one fails, those already set up are torn down in
   * reverse order and the setup error is rethrown; later resources are never touched.
   *
   * @returns When every setup finished.
   *
   * @example A failing setup rolls back
   * ```ts
   * import { Resources } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const log: string[] = [];
   * const resources = new Resources({
   *   a: { setup: () => void log.push("setup a"), teardown: () => void log.push("teardown a") },
   *   b: { setup: () => { throw new Error("b is down"); } },
   * });
   * await assert.rejects(resources.setupAll(), /b is down/);
   * assert.deepEqual(log, ["setup a", "teardown a"]);
   * ```
   */
  async setupAll(): Promise<void> {
    const done: Array<[string, unknown]> = [];
    for (const entry of this.#entries) {
      try {
        await (entry[1] as Resource | null)?.setup?.();
      } catch (error) {
        await teardownEach(done.reverse());
        throw error;
      }
      done.push(entry);
    }
  }

  /**
   * Tears every resource down in reverse insertion order. Never throws: failures are reported to
   * `console.error` and returned, and the remaining resources are still torn down.
   *
   * @returns The teardowns that failed.
   *
   * @example Teardown errors are reported, not thrown
   * ```ts
   * import { Resources } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const resources = new Resources({ a: { teardown: () => { throw new Error("stuck"); } } });
   * const originalError = console.error;
   * console.error = () => {};
   * const failures = await resources.teardownAll();
   * console.error = originalError;
   * assert.equal(failures[0]?.key, "a");
   * ```
   */
  teardownAll(): Promise<TeardownFailure[]> {
    return teardownEach([...this.#entries].reverse());
  }

  /**
   * Asks every resource for its health, in insertion order. A resource without `health()` is
   * healthy; one whose `health()` throws is unhealthy.
   *
   * @returns Key → status.
   *
   * @example Check health
   * ```ts
   * import { HealthStatus, Resources } from "@cano/cano";
   * import assert from "node:assert/strict";
   *
   * const resources = new Resources({ db: { health: () => HealthStatus.degraded("slow") } });
   * const health = await resources.checkAllHealth();
   * assert.deepEqual(health.get("db"), { status: "degraded", reason: "slow" });
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
   * The worst health of all resources (healthy < degraded < unhealthy; the first of equally bad
   * statuses wins). Healthy when there are none.
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
   * });
   * assert.deepEqual(await resources.aggregateHealth(), { status: "unhealthy", reason: "b is down" });
   * ```
   */
  async aggregateHealth(): Promise<HealthStatus> {
    let worst: HealthStatus = HealthStatus.healthy();
    for (const status of (await this.checkAllHealth()).values()) {
      if (SEVERITY[status.status] > SEVERITY[worst.status]) worst = status;
    }
    return worst;
  }
}

async function teardownEach(entries: Array<[string, unknown]>): Promise<TeardownFailure[]> {
  const failures: TeardownFailure[] = [];
  for (const [key, resource] of entries) {
    try {
      await teardownOf(resource)?.();
    } catch (error) {
      console.error(`cano: teardown of resource "${key}" failed: ${messageOf(error)}`);
      failures.push({ key, error });
    }
  }
  return failures;
}

/** The teardown hook of a value: `teardown`, else `Symbol.asyncDispose`, else `Symbol.dispose`. */
function teardownOf(resource: unknown): (() => unknown) | undefined {
  if (resource === null || (typeof resource !== "object" && typeof resource !== "function")) {
    return undefined;
  }
  const candidate = resource as Resource & Partial<AsyncDisposable & Disposable>;
  const hook: unknown = candidate.teardown ?? candidate[Symbol.asyncDispose] ??
    candidate[Symbol.dispose];
  return typeof hook === "function" ? () => hook.call(candidate) : undefined;
}

async function healthOf(resource: unknown): Promise<HealthStatus> {
  const health = (resource as Resource | null)?.health;
  if (typeof health !== "function") return HealthStatus.healthy();
  try {
    return await health.call(resource);
  } catch (error) {
    return HealthStatus.unhealthy(messageOf(error));
  }
}
