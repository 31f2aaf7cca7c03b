// The store contract of @cano/cano/testing, run on both built-in stores (and on a KV file), and
// shown to fail stores that break it.

import assert from "node:assert/strict";
import {
  checkpointStoreContract,
  type ContractCase,
  type StoreFactory,
  type StoreFactoryOptions,
} from "../testing.ts";
import {
  type ClaimRequest,
  type ClaimResult,
  type ListRunsQuery,
  MemoryCheckpointStore,
  RunOwnedError,
  type RunPage,
  type RunStore,
  type SendEventResult,
  typedJsonCodec,
} from "../mod.ts";
import { KvCheckpointStore } from "../kv.ts";

/** The KV handle (and temp dir) behind each KV-backed store, released by `cleanup`. */
const handles = new WeakMap<RunStore, { kv: Deno.Kv; dir?: string }>();

const kvInMemory: StoreFactory = async (options) => {
  const kv = await Deno.openKv(":memory:");
  const store = new KvCheckpointStore(kv, options);
  handles.set(store, { kv });
  return store;
};

const kvOnFile: StoreFactory = async (options) => {
  const dir = await Deno.makeTempDir({ prefix: "cano-contract-" });
  const kv = await Deno.openKv(`${dir}/store.sqlite3`);
  const store = new KvCheckpointStore(kv, { ...options, prefix: ["app", "runs"] });
  handles.set(store, { kv, dir });
  return store;
};

async function closeKv(store: RunStore): Promise<void> {
  const handle = handles.get(store);
  if (handle === undefined) return;
  handles.delete(store);
  handle.kv.close();
  if (handle.dir !== undefined) await Deno.remove(handle.dir, { recursive: true });
}

const SUBJECTS: { name: string; cases: ContractCase[] }[] = [
  {
    name: "MemoryCheckpointStore",
    cases: checkpointStoreContract((options) => new MemoryCheckpointStore(options)),
  },
  {
    name: "MemoryCheckpointStore (typedJsonCodec)",
    cases: checkpointStoreContract((options) =>
      new MemoryCheckpointStore({ ...options, codec: typedJsonCodec })
    ),
  },
  {
    name: "KvCheckpointStore",
    cases: checkpointStoreContract(kvInMemory, { cleanup: closeKv }),
  },
  {
    name: "KvCheckpointStore (file)",
    cases: checkpointStoreContract(kvOnFile, { cleanup: closeKv }),
  },
];

for (const { name, cases } of SUBJECTS) {
  for (const c of cases) Deno.test(`${name}: ${c.name}`, c.fn);
}

/** Runs every case, returning the names of those that failed. */
async function failingCases(cases: ContractCase[]): Promise<string[]> {
  const failed: string[] = [];
  for (const c of cases) {
    try {
      await c.fn();
    } catch {
      failed.push(c.name);
    }
  }
  return failed;
}

/**
 * A store whose `claim` never refuses a live owner: when the run is owned, it moves its own clock
 * to the end of the owner's lease and claims again, taking the run over.
 */
class TakeoverStore extends MemoryCheckpointStore {
  readonly #skew: { ms: number };
  readonly #now: () => number;

  constructor(options: StoreFactoryOptions, skew = { ms: 0 }) {
    super({ leaseMs: options.leaseMs, now: () => options.now() + skew.ms });
    this.#skew = skew;
    this.#now = options.now;
  }

  override async claim(workflowId: string, request: ClaimRequest): Promise<ClaimResult> {
    try {
      return await super.claim(workflowId, request);
    } catch (error) {
      if (!(error instanceof RunOwnedError)) throw error;
      this.#skew.ms = error.leaseUntil.getTime() - this.#now();
      try {
        return await super.claim(workflowId, request);
      } finally {
        this.#skew.ms = 0;
      }
    }
  }
}

/** A store whose `listRuns` ignores the cursor: every page is the first. */
class FirstPageStore extends MemoryCheckpointStore {
  override listRuns(query?: ListRunsQuery): Promise<RunPage> {
    return super.listRuns({ ...query, cursor: undefined });
  }
}

Deno.test("the contract fails a store whose claim takes over a live owner", async () => {
  const failed = await failingCases(
    checkpointStoreContract((options) => new TakeoverStore(options)),
  );
  assert.ok(failed.includes("claim() resume refuses a live owner with RunOwnedError"), `${failed}`);
  assert.ok(
    failed.includes("concurrent resume claims: exactly one wins, the rest get RunOwnedError"),
    `${failed}`,
  );
});

Deno.test("the contract fails a store whose listRuns ignores the cursor", async () => {
  const failed = await failingCases(
    checkpointStoreContract((options) => new FirstPageStore(options)),
  );
  assert.ok(failed.includes("listRuns() pages by id with limit and cursor"), `${failed}`);
  assert.ok(
    failed.includes("listRuns() pages through hostile ids without duplicates or gaps"),
    `${failed}`,
  );
});

Deno.test("the contract's cases are named once each and call cleanup every time", async () => {
  let made = 0;
  let cleaned = 0;
  const cases = checkpointStoreContract(
    (options) => {
      made++;
      return new MemoryCheckpointStore(options);
    },
    { cleanup: () => void cleaned++ },
  );
  assert.equal(new Set(cases.map((c) => c.name)).size, cases.length, "unique names");
  assert.ok(cases.length >= 30);
  assert.deepEqual(await failingCases(cases), []);
  assert.equal(made, cases.length, "one fresh store per case");
  assert.equal(cleaned, cases.length, "cleanup after every case");
  // cleanup runs when a case fails too.
  cleaned = 0;
  const broken = checkpointStoreContract((options) => new TakeoverStore(options), {
    cleanup: () => void cleaned++,
  });
  await failingCases(broken);
  assert.equal(cleaned, broken.length, "cleanup after failing cases");
});

Deno.test("rowLimit: false expects a store without a row limit to keep a 900 KiB row", async () => {
  const cases = checkpointStoreContract((options) => new MemoryCheckpointStore(options), {
    rowLimit: false,
  });
  const size = cases.find((c) => c.name.startsWith("append() stores a row above 800 KiB"));
  assert.ok(size !== undefined);
  // The built-in store has the KV limit, so this case (rightly) fails on it.
  await assert.rejects(size.fn());
});

// --- the wait cases on stores without durable waits ------------------------------------------

/** A memory store with `park` and/or `sendEvent` hidden, as a user store without them. */
function withoutWaitMethods(
  options: StoreFactoryOptions,
  hide: readonly ("park" | "sendEvent")[] = ["park", "sendEvent"],
): RunStore {
  const store = new MemoryCheckpointStore(options);
  for (const method of hide) Object.defineProperty(store, method, { value: undefined });
  return store;
}

/** The names of the wait cases: those `waits: false` leaves out. */
function waitCaseNames(): string[] {
  const make: StoreFactory = (options) => new MemoryCheckpointStore(options);
  const without = new Set(checkpointStoreContract(make, { waits: false }).map((c) => c.name));
  return checkpointStoreContract(make).map((c) => c.name).filter((name) => !without.has(name));
}

Deno.test("the wait cases pass a store without park() and sendEvent() by default", async () => {
  const names = waitCaseNames();
  assert.ok(names.length >= 15, `${names}`);
  assert.ok(names.includes("park() parks the run: status waiting, no owner, due at its deadline"));
  assert.ok(names.includes("sendEvent() with a repeated eventId is a no-op"));
  const cases = checkpointStoreContract((options) => withoutWaitMethods(options));
  assert.deepEqual(await failingCases(cases), [], "a store without durable waits keeps v2");
});

Deno.test("waits: true fails a store without park() and sendEvent(), naming the fix", async () => {
  const cases = checkpointStoreContract((options) => withoutWaitMethods(options), { waits: true });
  const names = waitCaseNames();
  assert.deepEqual(await failingCases(cases), names, "every wait case fails");
  const first = cases.find((c) => c.name === names[0]);
  await assert.rejects(first!.fn(), /no park\(\) and sendEvent\(\).*waits: false/s);
});

Deno.test("waits: false leaves the wait cases out", () => {
  const make: StoreFactory = (options) => new MemoryCheckpointStore(options);
  const all = checkpointStoreContract(make).length;
  assert.equal(
    checkpointStoreContract(make, { waits: false }).length,
    all - waitCaseNames().length,
  );
});

Deno.test("the wait cases fail a store with only one of park() and sendEvent()", async () => {
  for (const hide of [["park"], ["sendEvent"]] as const) {
    const cases = checkpointStoreContract((options) => withoutWaitMethods(options, hide));
    assert.deepEqual(await failingCases(cases), waitCaseNames(), `without ${hide[0]}()`);
  }
});

/** A store whose `sendEvent` drops the eventId: a repeated delivery is stored again. */
class NoDedupStore extends MemoryCheckpointStore {
  override sendEvent(id: string, name: string, payload: unknown): Promise<SendEventResult> {
    return super.sendEvent(id, name, payload);
  }
}

Deno.test("the contract fails a store whose sendEvent() ignores the eventId", async () => {
  const failed = await failingCases(
    checkpointStoreContract((options) => new NoDedupStore(options)),
  );
  assert.ok(failed.includes("sendEvent() with a repeated eventId is a no-op"), `${failed}`);
});
