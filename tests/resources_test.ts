import assert from "node:assert/strict";
import {
  CanoError,
  HealthStatus,
  type Resource,
  ResourceDuplicateKeyError,
  ResourceNotFoundError,
  Resources,
} from "../mod.ts";

/** Replaces `console.error` with a recorder until disposed. */
function captureConsoleError(): { calls: unknown[][] } & Disposable {
  const original = console.error;
  const calls: unknown[][] = [];
  console.error = (...args: unknown[]) => void calls.push(args);
  return {
    calls,
    [Symbol.dispose]: () => {
      console.error = original;
    },
  };
}

/** A resource that records its setup and teardown in `log` as "setup <name>" / "teardown <name>". */
function recorder(log: string[], name: string): Resource {
  return {
    setup: async () => {
      await Promise.resolve(); // async on purpose: order must hold across awaits
      log.push(`setup ${name}`);
    },
    teardown: async () => {
      await Promise.resolve();
      log.push(`teardown ${name}`);
    },
  };
}

/** A resource whose setup fails with `error` after logging. */
function failingSetup(log: string[], name: string, error: Error): Resource {
  return {
    setup: () => {
      log.push(`setup ${name}`);
      throw error;
    },
    teardown: () => void log.push(`teardown ${name}`),
  };
}

Deno.test("new Resources() keeps the object's key order and counts entries", () => {
  const resources = new Resources({ b: 1, a: 2, c: 3 });
  assert.deepEqual(resources.keys(), ["b", "a", "c"]);
  assert.equal(resources.size, 3);
  assert.equal(resources.has("a"), true);
  assert.equal(resources.has("z"), false);
  assert.equal(new Resources().size, 0);
});

Deno.test("Resources.get() returns the registered value itself, typed by key", () => {
  const client = { query: (sql: string) => sql.length };
  const resources = new Resources({ client, retries: 3, nothing: undefined });
  const typed: { query(sql: string): number } = resources.get("client");
  assert.equal(typed, client);
  assert.equal(resources.get("client"), resources.get("client"));
  const retries: number = resources.get("retries");
  assert.equal(retries, 3);
  // A registered `undefined` is found, not reported missing.
  assert.equal(resources.get("nothing"), undefined);
});

Deno.test("Resources.get() throws ResourceNotFoundError for a missing key", () => {
  const resources = new Resources<Record<string, unknown>>({ db: {} });
  assert.throws(() => resources.get("cache"), (error: unknown) => {
    assert.ok(error instanceof ResourceNotFoundError);
    assert.ok(error instanceof CanoError);
    assert.equal(error.category, "resource_not_found");
    assert.equal(error.key, "cache");
    assert.match(error.message, /"cache"/);
    return true;
  });
});

Deno.test("Resources.insert() adds a key and returns the same, retyped instance", () => {
  const resources = new Resources({ a: 1 });
  const more = resources.insert("b", "two");
  assert.equal(more, resources);
  const b: string = more.get("b");
  assert.equal(b, "two");
  assert.deepEqual(more.keys(), ["a", "b"]);
});

Deno.test("Resources.insert() throws ResourceDuplicateKeyError and keeps the original value", () => {
  const resources = new Resources({ a: 1 });
  assert.throws(() => resources.insert("a", 2), (error: unknown) => {
    assert.ok(error instanceof ResourceDuplicateKeyError);
    assert.equal(error.category, "resource_duplicate_key");
    assert.equal(error.key, "a");
    return true;
  });
  assert.equal(resources.get("a"), 1);
  assert.equal(resources.size, 1);
});

Deno.test("Resources.empty() has no entries and accepts inserts", async () => {
  const resources = Resources.empty();
  assert.equal(resources.size, 0);
  assert.deepEqual(resources.keys(), []);
  await resources.setupAll();
  assert.deepEqual(await resources.teardownAll(), []);
  assert.equal(resources.insert("n", 1).get("n"), 1);
});

Deno.test("Resources.setupAll() sets up in insertion (FIFO) order", async () => {
  const log: string[] = [];
  const resources = new Resources({ a: recorder(log, "a"), b: recorder(log, "b") })
    .insert("c", recorder(log, "c"));
  await resources.setupAll();
  assert.deepEqual(log, ["setup a", "setup b", "setup c"]);
});

Deno.test("Resources.setupAll() calls hooks with the resource as `this`", async () => {
  class Counter implements Resource {
    #count = 0;
    get count(): number {
      return this.#count;
    }
    setup(): void {
      this.#count++;
    }
    teardown(): void {
      this.#count--;
    }
  }
  const resources = new Resources({ counter: new Counter() });
  await resources.setupAll();
  assert.equal(resources.get("counter").count, 1);
  await resources.teardownAll();
  assert.equal(resources.get("counter").count, 0);
});

Deno.test("Resources.setupAll() rolls back in LIFO order when a setup fails", async () => {
  const log: string[] = [];
  const failure = new Error("c cannot connect");
  const resources = new Resources({
    a: recorder(log, "a"),
    b: recorder(log, "b"),
    c: failingSetup(log, "c", failure),
    d: recorder(log, "d"),
  });
  await assert.rejects(resources.setupAll(), (error: unknown) => {
    assert.equal(error, failure);
    return true;
  });
  // The failing resource and those after it were never set up, so they are not torn down.
  assert.deepEqual(log, ["setup a", "setup b", "setup c", "teardown b", "teardown a"]);
});

Deno.test("Resources.setupAll() tears nothing down when the first setup fails", async () => {
  const log: string[] = [];
  const resources = new Resources({
    a: failingSetup(log, "a", new Error("boom")),
    b: recorder(log, "b"),
  });
  await assert.rejects(resources.setupAll(), /boom/);
  assert.deepEqual(log, ["setup a"]);
});

Deno.test("Resources.setupAll() reports rollback teardown errors and rethrows the setup error", async () => {
  using errors = captureConsoleError();
  const log: string[] = [];
  const resources = new Resources({
    a: recorder(log, "a"),
    b: {
      setup: () => void log.push("setup b"),
      teardown: () => Promise.reject(new Error("b is stuck")),
    },
    c: failingSetup(log, "c", new Error("c is down")),
  });
  await assert.rejects(resources.setupAll(), /c is down/);
  assert.deepEqual(log, ["setup a", "setup b", "setup c", "teardown a"]);
  assert.equal(errors.calls.length, 1);
  assert.match(String(errors.calls[0]?.[0]), /teardown of resource "b" failed/);
  assert.match(String(errors.calls[0]?.[0]), /rolling back a failed setup/);
  assert.equal((errors.calls[0]?.[1] as Error).message, "b is stuck");
});

Deno.test("Resources.teardownAll() tears down all resources in LIFO order", async () => {
  const log: string[] = [];
  const resources = new Resources({ a: recorder(log, "a"), b: recorder(log, "b") })
    .insert("c", recorder(log, "c"));
  assert.deepEqual(await resources.teardownAll(), []);
  assert.deepEqual(log, ["teardown c", "teardown b", "teardown a"]);
});

Deno.test("Resources.teardownAll() reports teardown errors instead of throwing them", async () => {
  using errors = captureConsoleError();
  const log: string[] = [];
  const stuck = new Error("c is stuck");
  const resources = new Resources({
    a: recorder(log, "a"),
    b: {
      teardown: () => {
        throw "b threw a string";
      },
    },
    c: { teardown: () => Promise.reject(stuck) },
  });
  const failures = await resources.teardownAll();
  // Every resource is still torn down, and failures come back in the order they happened.
  assert.deepEqual(log, ["teardown a"]);
  assert.deepEqual(failures, [{ key: "c", error: stuck }, { key: "b", error: "b threw a string" }]);
  assert.equal(errors.calls.length, 2);
  assert.match(String(errors.calls[0]?.[0]), /teardown of resource "c" failed/);
  assert.equal(errors.calls[0]?.[1], stuck);
  assert.match(String(errors.calls[1]?.[0]), /teardown of resource "b" failed/);
});

Deno.test("Resources.teardownAll() uses Symbol.asyncDispose when teardown is absent", async () => {
  const log: string[] = [];
  const resources = new Resources({
    disposable: {
      [Symbol.asyncDispose]: async () => {
        await Promise.resolve();
        log.push("asyncDispose");
      },
    },
    syncDisposable: { [Symbol.dispose]: () => void log.push("dispose") },
    both: {
      teardown: () => void log.push("teardown"),
      [Symbol.asyncDispose]: () => Promise.resolve(void log.push("asyncDispose (unused)")),
    },
  });
  assert.deepEqual(await resources.teardownAll(), []);
  assert.deepEqual(log, ["teardown", "dispose", "asyncDispose"]);
});

Deno.test("Resources.setupAll() rolls back through Symbol.asyncDispose", async () => {
  const log: string[] = [];
  const resources = new Resources({
    a: {
      setup: () => void log.push("setup a"),
      [Symbol.asyncDispose]: () => Promise.resolve(void log.push("dispose a")),
    },
    b: failingSetup(log, "b", new Error("b is down")),
  });
  await assert.rejects(resources.setupAll(), /b is down/);
  assert.deepEqual(log, ["setup a", "setup b", "dispose a"]);
});

Deno.test("Resources lifecycle skips values that have no hooks", async () => {
  const resources = new Resources({
    nothing: null,
    missing: undefined,
    count: 3,
    name: "cano",
    flags: { setup: true, teardown: "no", health: 1 },
    fn: () => "not a resource",
  });
  await resources.setupAll();
  assert.deepEqual(await resources.teardownAll(), []);
  assert.deepEqual(await resources.aggregateHealth(), HealthStatus.healthy());
});

Deno.test("HealthStatus helpers build and test statuses", () => {
  assert.deepEqual(HealthStatus.healthy(), { status: "healthy" });
  assert.deepEqual(HealthStatus.degraded("slow"), { status: "degraded", reason: "slow" });
  assert.deepEqual(HealthStatus.unhealthy("down"), { status: "unhealthy", reason: "down" });
  assert.equal(HealthStatus.isHealthy(HealthStatus.healthy()), true);
  assert.equal(HealthStatus.isHealthy(HealthStatus.degraded("slow")), false);
  assert.equal(HealthStatus.isHealthy(HealthStatus.unhealthy("down")), false);
});

Deno.test("Resources.checkAllHealth() asks each resource in insertion order", async () => {
  const asked: string[] = [];
  const resources = new Resources({
    plain: { retries: 3 },
    sync: {
      health: () => {
        asked.push("sync");
        return HealthStatus.degraded("lagging");
      },
    },
    async: {
      health: async () => {
        await Promise.resolve();
        asked.push("async");
        return HealthStatus.healthy();
      },
    },
    broken: {
      health: () => {
        throw new Error("probe failed");
      },
    },
    rejected: { health: () => Promise.reject(new Error("probe timed out")) },
  });
  const health = await resources.checkAllHealth();
  assert.deepEqual(asked, ["sync", "async"]);
  assert.deepEqual([...health.keys()], ["plain", "sync", "async", "broken", "rejected"]);
  assert.deepEqual(health.get("plain"), HealthStatus.healthy());
  assert.deepEqual(health.get("sync"), HealthStatus.degraded("lagging"));
  assert.deepEqual(health.get("async"), HealthStatus.healthy());
  assert.deepEqual(health.get("broken"), HealthStatus.unhealthy("probe failed"));
  assert.deepEqual(health.get("rejected"), HealthStatus.unhealthy("probe timed out"));
  assert.equal((await new Resources().checkAllHealth()).size, 0);
});

Deno.test("Resources.aggregateHealth() returns the worst status, the first on ties", async () => {
  const healthOf = (status: HealthStatus) => ({ health: () => status });
  assert.deepEqual(await new Resources().aggregateHealth(), HealthStatus.healthy());
  assert.deepEqual(
    await new Resources({ a: healthOf(HealthStatus.healthy()), b: {} }).aggregateHealth(),
    HealthStatus.healthy(),
  );
  assert.deepEqual(
    await new Resources({
      a: healthOf(HealthStatus.healthy()),
      b: healthOf(HealthStatus.degraded("b is slow")),
      c: healthOf(HealthStatus.degraded("c is slow")),
    }).aggregateHealth(),
    HealthStatus.degraded("b is slow"),
  );
  assert.deepEqual(
    await new Resources({
      a: healthOf(HealthStatus.degraded("a is slow")),
      b: healthOf(HealthStatus.unhealthy("b is down")),
      c: healthOf(HealthStatus.degraded("c is slow")),
      d: healthOf(HealthStatus.unhealthy("d is down")),
    }).aggregateHealth(),
    HealthStatus.unhealthy("b is down"),
  );
});
