// KvCheckpointStore specifics: storage layout, chunking, limits, prefixes, lock retries and
// several processes sharing one KV file. The CheckpointStore contract itself is in
// checkpoint_store_test.ts.

import assert from "node:assert/strict";
import { numberedRow } from "./_checkpoint_helpers.ts";
import { CheckpointStoreError, ConfigurationError } from "../src/errors.ts";
import type { CheckpointRow } from "../src/recovery/checkpoint.ts";
import { KvCheckpointStore, type KvLike } from "../src/recovery/kv_store.ts";
import { FakeTime } from "../testing.ts";

const DEFAULT_PREFIX = ["cano", "checkpoints"] as const;
const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();

function jsonBytes(value: CheckpointRow): number {
  return ENCODER.encode(JSON.stringify(value)).length;
}

async function rejectsStore(promise: Promise<unknown>, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof CheckpointStoreError, `not a CheckpointStoreError: ${error}`);
    assert.equal(error.category, "checkpoint_store");
    if (message !== undefined) assert.match(error.message, message);
    return true;
  });
}

/** Runs `body` with an in-memory KV, closed afterwards. */
function withKv(body: (kv: Deno.Kv) => Promise<void>): () => Promise<void> {
  return async () => {
    const kv = await Deno.openKv(":memory:");
    try {
      await body(kv);
    } finally {
      kv.close();
    }
  };
}

async function listKeys(kv: Deno.Kv, prefix: Deno.KvKey): Promise<Deno.KvKey[]> {
  const keys: Deno.KvKey[] = [];
  for await (const entry of kv.list({ prefix })) keys.push(entry.key);
  return keys;
}

/**
 * A KvLike over a real KV whose `commit` (and optionally `list`) runs `fault` first: a fault that
 * throws makes that call fail without reaching the database; an async fault runs before the commit.
 */
function faulty(
  kv: Deno.Kv,
  fault: { commit?: (call: number) => void | Promise<void>; list?: (call: number) => void },
): KvLike & { commits: number; lists: number } {
  const wrapper = {
    commits: 0,
    lists: 0,
    atomic() {
      const op = kv.atomic();
      return {
        check: (...checks: Deno.AtomicCheck[]) => op.check(...checks),
        set: (key: Deno.KvKey, value: Uint8Array) => op.set(key, value),
        delete: (key: Deno.KvKey) => op.delete(key),
        commit: async () => {
          wrapper.commits++;
          await fault.commit?.(wrapper.commits);
          return await op.commit();
        },
      };
    },
    get: (key: Deno.KvKey) => kv.get(key),
    list(selector: { prefix: Deno.KvKey }) {
      wrapper.lists++;
      fault.list?.(wrapper.lists);
      return kv.list(selector);
    },
  };
  return wrapper;
}

/** A KvLike with no database at all: every commit throws `database is locked`. */
function alwaysLocked(): KvLike & { commits: number } {
  const fake = {
    commits: 0,
    atomic() {
      return {
        check: () => undefined,
        set: () => undefined,
        delete: () => undefined,
        commit: () => {
          fake.commits++;
          return Promise.reject(new TypeError("database is locked"));
        },
      };
    },
    // Every row "exists" (and no run record does), so appends get past the gap check to the
    // (locked) commit.
    get: (key: readonly unknown[]) =>
      Promise.resolve({
        value: null,
        versionstamp: key.includes("runs") ? null : "00000000000000010000",
      }),
    list: () => ({
      [Symbol.asyncIterator]: () => ({
        next: () => Promise.resolve({ done: true as const, value: undefined }),
      }),
    }),
  };
  return fake;
}

// --- storage layout --------------------------------------------------------------------------

Deno.test(
  "KvCheckpointStore.append() stores rows as JSON bytes readable without cano",
  withKv(async (kv) => {
    const store = new KvCheckpointStore(kv);
    const stored = numberedRow(0, { data: { cart: ["book"] }, output: { id: 7 } });
    await store.append("order-1", stored);
    const entry = await kv.get([...DEFAULT_PREFIX, "rows", "order-1", 0]);
    assert.ok(entry.value instanceof Uint8Array, "value is a Uint8Array, not a V8 object");
    assert.deepEqual(JSON.parse(DECODER.decode(entry.value)), stored);
    assert.deepEqual(await listKeys(kv, []), [[...DEFAULT_PREFIX, "rows", "order-1", 0]]);
  }),
);

Deno.test(
  "KvCheckpointStore.append() splits a row above 64 KiB into chunks in one commit",
  withKv(async (kv) => {
    const kvLike = faulty(kv, {});
    const store = new KvCheckpointStore(kvLike);
    const big = numberedRow(3, { data: { blob: "é".repeat(100_000), tail: "end" } }); // ~200 KB
    const size = jsonBytes(big);
    const count = Math.ceil(size / 65_536);
    assert.equal(count, 4);
    for (let sequence = 0; sequence < 3; sequence++) {
      await store.append("run", numberedRow(sequence));
    }
    await store.append("run", big);
    assert.equal(kvLike.commits, 4, "head and chunks are written by one atomic commit");

    const head = await kv.get([...DEFAULT_PREFIX, "rows", "run", 3]);
    assert.ok(head.value instanceof Uint8Array);
    assert.deepEqual(JSON.parse(DECODER.decode(head.value)), { canoChunks: count, bytes: size });

    const chunks: Deno.KvEntry<unknown>[] = [];
    for await (const entry of kv.list({ prefix: [...DEFAULT_PREFIX, "chunks", "run", 3] })) {
      chunks.push(entry);
    }
    assert.deepEqual(
      chunks.map((entry) => entry.key),
      Array.from({ length: count }, (_, i) => [...DEFAULT_PREFIX, "chunks", "run", 3, i]),
    );
    let total = 0;
    for (const entry of chunks) {
      assert.ok(entry.value instanceof Uint8Array);
      assert.ok(entry.value.length <= 65_536);
      total += entry.value.length;
    }
    assert.equal(total, size);
    // Any reader can reassemble the row: the chunks' bytes are the row's JSON.
    const joined = new Uint8Array(total);
    let offset = 0;
    for (const entry of chunks) {
      joined.set(entry.value as Uint8Array, offset);
      offset += (entry.value as Uint8Array).length;
    }
    assert.deepEqual(JSON.parse(DECODER.decode(joined)), big);

    assert.deepEqual(await store.loadRun("run"), [
      numberedRow(0),
      numberedRow(1),
      numberedRow(2),
      big,
    ]);

    await store.clear("run");
    assert.deepEqual(await listKeys(kv, []), [], "clear() removes heads and chunks");
  }),
);

Deno.test(
  "KvCheckpointStore.clear() leaves the chunks of ids that extend the cleared id",
  withKv(async (kv) => {
    const store = new KvCheckpointStore(kv);
    const ids = ["a", "ab", "a\0", "a\0b", "a/"];
    const big = (id: string) => numberedRow(0, { state: id, data: id.repeat(40_000) });
    for (const id of ids) await store.append(id, big(id));
    await store.clear("a");
    assert.deepEqual(await store.loadRun("a"), []);
    assert.deepEqual(await listKeys(kv, [...DEFAULT_PREFIX, "chunks", "a"]), []);
    for (const id of ids.slice(1)) {
      assert.deepEqual(await store.loadRun(id), [big(id)], JSON.stringify(id));
      assert.ok((await listKeys(kv, [...DEFAULT_PREFIX, "chunks", id])).length >= 2);
    }
  }),
);

Deno.test(
  "KvCheckpointStore.append() accepts rows up to the commit limit and refuses one byte more",
  withKv(async (kv) => {
    const store = new KvCheckpointStore(kv);
    const withData = (sequence: number, length: number): CheckpointRow =>
      numberedRow(sequence, { data: "x".repeat(length) });
    // Binary search for the largest data string the store accepts; refusals write nothing.
    let low = 0;
    let high = 900 * 1024;
    let sequence = 0;
    while (low < high) {
      const mid = Math.ceil((low + high) / 2);
      try {
        await store.append("edge", withData(sequence, mid));
        sequence++;
        low = mid;
      } catch (error) {
        assert.ok(error instanceof CheckpointStoreError, String(error));
        assert.match(error.message, /800 KiB/);
        high = mid - 1;
      }
    }
    const largest = withData(sequence, low);
    await store.append("edge", largest); // really committed by Deno KV: no size estimate is low
    const rows = await store.loadRun("edge");
    assert.deepEqual(rows.at(-1), largest);
    const tooBig = withData(sequence + 1, low + 1);
    await rejectsStore(
      store.append("edge", tooBig),
      new RegExp(`row ${sequence + 1} of workflow "edge" is ${jsonBytes(tooBig)} bytes.*800 KiB`),
    );
    // The limit is tight: only the keys' bytes separate it from Deno KV's 819,200.
    assert.ok(jsonBytes(largest) > 815_000, `largest row is ${jsonBytes(largest)} bytes`);
  }),
);

// --- ids and prefixes ------------------------------------------------------------------------

Deno.test(
  "KvCheckpointStore refuses workflow ids whose keys exceed Deno KV's 2 KiB key limit",
  withKv(async (kv) => {
    const store = new KvCheckpointStore(kv);
    // Default prefix: the longest key is [..."cano","checkpoints","chunks", id, seq, index], which
    // leaves exactly 2,001 bytes for the id.
    const longest = "x".repeat(2_001);
    const big = numberedRow(0, { data: "y".repeat(70_000) }); // chunked: uses the longest keys
    await store.append(longest, big);
    assert.deepEqual(await store.loadRun(longest), [big]);
    await store.clear(longest);
    assert.deepEqual(await store.loadRun(longest), []);

    for (const id of ["x".repeat(2_002), "é".repeat(1_001), "🚀".repeat(501), "z".repeat(3_072)]) {
      await rejectsStore(
        store.append(id, numberedRow(0)),
        /is too long for Deno KV.*2048-byte key limit/,
      );
      await rejectsStore(store.loadRun(id), /too long/);
      await rejectsStore(store.clear(id), /too long/);
    }
    assert.deepEqual(await listKeys(kv, []), []);
  }),
);

Deno.test(
  "KvCheckpointStore keeps stores with different prefixes apart on one KV",
  withKv(async (kv) => {
    const first = new KvCheckpointStore(kv, { prefix: ["app", 1] });
    const second = new KvCheckpointStore(kv, { prefix: ["app", 2] });
    const third = new KvCheckpointStore(kv); // default prefix
    await first.append("run", numberedRow(0, { state: "first" }));
    await second.append("run", numberedRow(0, { state: "second" }));
    await third.append("run", numberedRow(0, { state: "third" }));
    assert.deepEqual(await first.loadRun("run"), [numberedRow(0, { state: "first" })]);
    assert.deepEqual(await second.loadRun("run"), [numberedRow(0, { state: "second" })]);
    assert.deepEqual(await listKeys(kv, ["app", 1]), [["app", 1, "rows", "run", 0]]);

    await first.clear("run");
    assert.deepEqual(await first.loadRun("run"), []);
    assert.deepEqual(await second.loadRun("run"), [numberedRow(0, { state: "second" })]);
    assert.deepEqual(await third.loadRun("run"), [numberedRow(0, { state: "third" })]);

    // Unusual prefix parts work too, and a prefix may be empty.
    const odd = new KvCheckpointStore(kv, { prefix: [new Uint8Array([0, 1]), 5n, true] });
    await odd.append("run", numberedRow(0));
    assert.deepEqual(await odd.loadRun("run"), [numberedRow(0)]);
    const bare = new KvCheckpointStore(kv, { prefix: [] });
    await bare.append("run", numberedRow(0, { state: "bare" }));
    assert.deepEqual(await bare.loadRun("run"), [numberedRow(0, { state: "bare" })]);
    assert.deepEqual(await third.loadRun("run"), [numberedRow(0, { state: "third" })]);
  }),
);

Deno.test("KvCheckpointStore constructor rejects invalid options", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const invalid: unknown[] = [
      { retry: { attempts: 0 } },
      { retry: { attempts: 1.5 } },
      { retry: { baseDelay: -1 } },
      { retry: { baseDelay: Number.NaN } },
      { prefix: "cano" },
      { prefix: [Symbol("x")] },
      { prefix: [{}] },
      { prefix: ["p".repeat(2_100)] },
    ];
    for (const options of invalid) {
      assert.throws(
        () =>
          new KvCheckpointStore(kv, options as ConstructorParameters<typeof KvCheckpointStore>[1]),
        ConfigurationError,
        JSON.stringify(options, (_, v) => typeof v === "symbol" ? String(v) : v),
      );
    }
    assert.throws(() => new KvCheckpointStore({} as KvLike), ConfigurationError);
  } finally {
    kv.close();
  }
});

// --- corrupt data ----------------------------------------------------------------------------

Deno.test(
  "KvCheckpointStore.loadRun() names the id and sequence of a corrupt row",
  withKv(async (kv) => {
    const store = new KvCheckpointStore(kv);
    const head = (id: string, sequence: number) => [...DEFAULT_PREFIX, "rows", id, sequence];
    await store.append("v8", numberedRow(0));
    await kv.set(head("v8", 1), { sequence: 1 }); // a V8-serialised object, not JSON bytes
    await rejectsStore(store.loadRun("v8"), /row 1 of workflow "v8".*Uint8Array/);

    await kv.set(head("text", 4), ENCODER.encode("{not json"));
    await rejectsStore(store.loadRun("text"), /row 4 of workflow "text"/);

    await kv.set(head("shape", 2), ENCODER.encode(JSON.stringify({ sequence: 2 })));
    await rejectsStore(store.loadRun("shape"), /row 2 of workflow "shape"/);

    await kv.set(head("moved", 5), ENCODER.encode(JSON.stringify(numberedRow(6))));
    await rejectsStore(store.loadRun("moved"), /row 5 of workflow "moved".*sequence 6/);

    await store.append("chunked", numberedRow(0, { data: "z".repeat(100_000) }));
    await kv.delete([...DEFAULT_PREFIX, "chunks", "chunked", 0, 1]);
    await rejectsStore(store.loadRun("chunked"), /row 0 of workflow "chunked".*chunk 1 of 2/);
  }),
);

Deno.test(
  "KvCheckpointStore.loadRun() orders rows numerically whatever the write order",
  withKv(async (kv) => {
    const store = new KvCheckpointStore(kv);
    // Written directly, out of order (the store itself only appends densely).
    for (const sequence of [100, 2, 10, 0, 1]) {
      await kv.set(
        [...DEFAULT_PREFIX, "rows", "raw", sequence],
        ENCODER.encode(JSON.stringify(numberedRow(sequence))),
      );
    }
    const rows = await store.loadRun("raw");
    assert.deepEqual(rows.map((r) => r.sequence), [0, 1, 2, 10, 100]);
  }),
);

Deno.test(
  "KvCheckpointStore.append() rejects a gap left by a clear between its read and its commit",
  withKv(async (kv) => {
    const other = new KvCheckpointStore(kv);
    await other.append("run", numberedRow(0));
    // Another process clears the log after this append read row 0 but before it commits.
    const kvLike = faulty(kv, {
      commit: async (call) => {
        if (call === 1) await other.clear("run");
      },
    });
    const store = new KvCheckpointStore(kvLike);
    await rejectsStore(store.append("run", numberedRow(1)), /gap.*has no row 0/);
    assert.equal(kvLike.commits, 1);
    assert.deepEqual(await other.loadRun("run"), []);
  }),
);

Deno.test(
  "KvCheckpointStore.append() re-reads a previous row rewritten between its read and its commit",
  withKv(async (kv) => {
    const other = new KvCheckpointStore(kv);
    await other.append("run", numberedRow(0, { state: "old" }));
    const kvLike = faulty(kv, {
      commit: async (call) => {
        if (call === 1) {
          await other.clear("run");
          await other.append("run", numberedRow(0, { state: "new" }));
        }
      },
    });
    const store = new KvCheckpointStore(kvLike);
    await store.append("run", numberedRow(1));
    assert.equal(kvLike.commits, 2, "the first commit failed its check on row 0");
    assert.deepEqual(await other.loadRun("run"), [
      numberedRow(0, { state: "new" }),
      numberedRow(1),
    ]);
  }),
);

// --- clear -----------------------------------------------------------------------------------

Deno.test(
  "KvCheckpointStore.clear() deletes more rows than one atomic commit can hold",
  withKv(async (kv) => {
    const store = new KvCheckpointStore(kv);
    // ~2 KiB keys: 990 deletes would be ~2 MB, over the 800 KiB commit limit, so batches must
    // be sized by bytes as well as by count.
    const id = "k".repeat(2_001);
    for (let sequence = 0; sequence < 1_100; sequence++) {
      await store.append(id, numberedRow(sequence));
    }
    await store.append(id, numberedRow(1_100, { data: "c".repeat(200_000) })); // plus chunks
    await store.append("other", numberedRow(0));
    assert.equal((await store.loadRun(id)).length, 1_101);
    await store.clear(id);
    assert.deepEqual(await store.loadRun(id), []);
    assert.deepEqual(await listKeys(kv, []), [[...DEFAULT_PREFIX, "rows", "other", 0]]);
  }),
);

// --- lock retries ----------------------------------------------------------------------------

Deno.test(
  "KvCheckpointStore.append() retries a commit that throws 'database is locked'",
  withKv(async (kv) => {
    const kvLike = faulty(kv, {
      commit: (call) => {
        if (call <= 2) throw new TypeError("database is locked");
      },
    });
    const store = new KvCheckpointStore(kvLike, { retry: { baseDelay: 0 } });
    await store.append("run", numberedRow(0));
    assert.equal(kvLike.commits, 3);
    assert.deepEqual(await store.loadRun("run"), [numberedRow(0)]);
    // A retried append still rejects a real duplicate.
    await rejectsStore(store.append("run", numberedRow(0)), /already has a row with sequence 0/);
  }),
);

Deno.test(
  "KvCheckpointStore.append() gives up on 'database is locked' after the configured attempts",
  async () => {
    const kvLike = alwaysLocked();
    const store = new KvCheckpointStore(kvLike, { retry: { attempts: 3, baseDelay: 0 } });
    await assert.rejects(store.append("run", numberedRow(7)), (error: unknown) => {
      assert.ok(error instanceof CheckpointStoreError);
      assert.match(
        error.message,
        /row 7 for workflow "run" failed: database is locked after 3 attempts/,
      );
      assert.ok(error.cause instanceof TypeError);
      return true;
    });
    assert.equal(kvLike.commits, 3);
  },
);

Deno.test("KvCheckpointStore.append() waits with the global setTimeout between retries", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const kvLike = alwaysLocked();
  const store = new KvCheckpointStore(kvLike); // defaults: a 30 s budget, waits ≤ 20 ms
  let settled: unknown = "pending";
  const append = store.append("run", numberedRow(0)).catch((error) => {
    settled = error;
  });
  await time.tickAsync(0);
  assert.equal(kvLike.commits, 1, "the first retry waits for the clock");
  await time.tickAsync(29_999);
  assert.equal(String(settled), "pending", "still retrying inside the budget");
  await time.tickAsync(1); // the last attempt lands on the budget exactly
  await append;
  assert.ok(kvLike.commits > 1_500, `waits of at most 20 ms: ${kvLike.commits} attempts`);
  assert.ok(settled instanceof CheckpointStoreError);
  assert.match(
    settled.message,
    /row 0 for workflow "run" failed: database is locked after \d+ attempts in 30000 ms \(retry\.budgetMs is 30000\)/,
  );
});

Deno.test("KvCheckpointStore.append() stops retrying when its signal aborts", async () => {
  const controller = new AbortController();
  const reason = new Error("shutting down");
  const kvLike = alwaysLocked();
  const store = new KvCheckpointStore(kvLike, {
    retry: { baseDelay: 60_000 },
    signal: controller.signal,
  });
  const append = store.append("run", numberedRow(0));
  await Promise.resolve(); // let the first commit fail and the backoff start
  await new Promise((resolve) => setTimeout(resolve, 0));
  controller.abort(reason);
  await assert.rejects(append, (error: unknown) => error === reason);
  assert.equal(kvLike.commits, 1);
  // Already aborted: a locked commit rejects at once with the reason, without waiting.
  await assert.rejects(store.append("run", numberedRow(1)), (error: unknown) => error === reason);
  assert.equal(kvLike.commits, 2);
});

Deno.test(
  "KvCheckpointStore works normally with an aborted signal when nothing is locked",
  withKv(async (kv) => {
    const store = new KvCheckpointStore(kv, { signal: AbortSignal.abort() });
    await store.append("run", numberedRow(0));
    assert.deepEqual(await store.loadRun("run"), [numberedRow(0)]);
    await store.clear("run");
  }),
);

Deno.test(
  "KvCheckpointStore does not retry errors other than 'database is locked'",
  withKv(async (kv) => {
    const kvLike = faulty(kv, {
      commit: () => {
        throw new Error("disk I/O error");
      },
    });
    const store = new KvCheckpointStore(kvLike, { retry: { baseDelay: 0 } });
    await rejectsStore(store.append("run", numberedRow(0)), /Deno KV: disk I\/O error/);
    assert.equal(kvLike.commits, 1);
  }),
);

Deno.test(
  "KvCheckpointStore.loadRun() and clear() retry 'database is locked' from list and commit",
  withKv(async (kv) => {
    const setup = new KvCheckpointStore(kv);
    await setup.append("run", numberedRow(0));
    await setup.append("run", numberedRow(1));
    const kvLike = faulty(kv, {
      list: (call) => {
        if (call === 1 || call === 3) throw new TypeError("database is locked");
      },
      commit: (call) => {
        if (call === 1) throw new TypeError("database is locked");
      },
    });
    const store = new KvCheckpointStore(kvLike, { retry: { baseDelay: 0 } });
    assert.deepEqual(await store.loadRun("run"), [numberedRow(0), numberedRow(1)]); // lists: 1 (locked), 2
    await store.clear("run"); // lists: 3 (locked), 4 rows, commit 1 (locked), 2; 5 chunks
    assert.deepEqual(await setup.loadRun("run"), []);
    assert.equal(kvLike.commits, 2);
  }),
);

// --- several processes -----------------------------------------------------------------------

const WORKER = new URL("./e2e/kv_append_worker.ts", import.meta.url).pathname;

interface WorkerReport {
  id: string;
  pid: number;
  won: number[];
  lockErrors: number;
  ms: number;
}

async function runWorkers(
  file: string,
  jobs: { id: string; count: number; mode: "strict" | "race" }[],
): Promise<WorkerReport[]> {
  const outputs = await Promise.all(
    jobs.map(({ id, count, mode }) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--unstable-kv", WORKER, file, id, String(count), mode],
        stdout: "piped",
        stderr: "piped",
      }).output()
    ),
  );
  return outputs.map((output, i) => {
    const stderr = DECODER.decode(output.stderr);
    assert.equal(output.code, 0, `worker ${jobs[i]?.id} failed: ${stderr}`);
    return JSON.parse(DECODER.decode(output.stdout)) as WorkerReport;
  });
}

Deno.test(
  "KvCheckpointStore.append() succeeds from two processes writing one KV file at once",
  async () => {
    const file = await Deno.makeTempFile({ prefix: "cano-kv-", suffix: ".sqlite" });
    try {
      const count = 300;
      const reports = await runWorkers(file, [
        { id: "process-a", count, mode: "strict" },
        { id: "process-b", count, mode: "strict" },
      ]);
      const kv = await Deno.openKv(file);
      try {
        const store = new KvCheckpointStore(kv);
        for (const report of reports) {
          assert.equal(report.won.length, count);
          const rows = await store.loadRun(report.id);
          assert.deepEqual(rows.map((r) => r.sequence), Array.from({ length: count }, (_, i) => i));
        }
      } finally {
        kv.close();
      }
    } finally {
      await Deno.remove(file);
    }
  },
);

Deno.test(
  "KvCheckpointStore.append() lets exactly one process win each sequence of a shared id",
  async () => {
    const file = await Deno.makeTempFile({ prefix: "cano-kv-", suffix: ".sqlite" });
    try {
      const count = 200;
      const [first, second] = await runWorkers(file, [
        { id: "shared", count, mode: "race" },
        { id: "shared", count, mode: "race" },
      ]);
      assert.ok(first !== undefined && second !== undefined);
      const won = [...first.won, ...second.won].sort((a, b) => a - b);
      assert.deepEqual(won, Array.from({ length: count }, (_, i) => i), "each sequence won once");
      const kv = await Deno.openKv(file);
      try {
        const rows = await new KvCheckpointStore(kv).loadRun("shared");
        assert.equal(rows.length, count);
        // The stored row of each sequence is the winner's: rows carry the writer's pid.
        const firstWon = new Set(first.won);
        for (const r of rows) {
          const winner: WorkerReport = firstWon.has(r.sequence) ? first : second;
          assert.equal(r.taskId, `pid-${winner.pid}`, `row ${r.sequence}`);
        }
      } finally {
        kv.close();
      }
    } finally {
      await Deno.remove(file);
    }
  },
);

// --- durable waits: the inbox's keys ---------------------------------------------------------

const FOREVER = 8_640_000_000_000_000;

/** A KvLike over a real KV that runs `hook.before` (once, then clears it) before a commit. */
function hooked(kv: Deno.Kv): KvLike & { before: (() => Promise<void>) | undefined } {
  const wrapper = faulty(kv, {
    commit: async () => {
      const before = wrapper.before;
      wrapper.before = undefined;
      await before?.();
    },
  }) as ReturnType<typeof faulty> & { before: (() => Promise<void>) | undefined };
  wrapper.before = undefined;
  return wrapper;
}

/** Claims `id` and writes row 0 in state `approval`: a run about to wait. */
async function aboutToWait(store: KvCheckpointStore, id: string) {
  const { lease } = await store.claim(id, {
    mode: "start",
    owner: "worker-1",
    workflow: "order",
    version: 1,
  });
  await store.append(
    id,
    { sequence: 0, state: "approval", taskId: "", kind: "state_entry", workflowVersion: 1 },
    lease,
  );
  return lease;
}

const decodeJson = (value: unknown): unknown => JSON.parse(DECODER.decode(value as Uint8Array));

Deno.test(
  "KvCheckpointStore keeps events in their own keys as JSON bytes, and finish() deletes them",
  withKv(async (kv) => {
    let now = 1_900_000_000_000;
    const store = new KvCheckpointStore(kv, { now: () => now });
    const lease = await aboutToWait(store, "order-1");
    now += 5;
    await store.sendEvent("order-1", "approved", { by: "ana" }, { eventId: "mail-1" });
    await store.sendEvent("order-1", "comment", "hi");
    const event = await kv.get([...DEFAULT_PREFIX, "events", "order-1", 1]);
    assert.ok(event.value instanceof Uint8Array, "an event is JSON bytes, not a V8 object");
    assert.deepEqual(decodeJson(event.value), {
      seq: 1,
      name: "approved",
      at: now,
      eventId: "mail-1",
      payload: { by: "ana" },
    });
    const id = await kv.get([...DEFAULT_PREFIX, "eventids", "order-1", "mail-1"]);
    assert.deepEqual(decodeJson(id.value), 1, "an eventId's key holds its seq");
    const record = await kv.get([...DEFAULT_PREFIX, "runs", "order-1"]);
    assert.deepEqual((decodeJson(record.value) as { inbox: unknown }).inbox, { last: 2, ids: 1 });
    // Parked without a deadline: in the expiry index at the latest Date, past any bound.
    assert.deepEqual(
      await store.park(lease, { state: "approval", events: ["shipped"], after: 2 }),
      {
        parked: true,
      },
    );
    const expiry = await listKeys(kv, [...DEFAULT_PREFIX, "expiry"]);
    assert.deepEqual(expiry, [[...DEFAULT_PREFIX, "expiry", FOREVER, "order-1"]]);
    assert.deepEqual(await listKeys(kv, [...DEFAULT_PREFIX, "status"]), [
      [...DEFAULT_PREFIX, "status", "waiting", "order-1"],
    ]);
    const taken = await store.claim("order-1", {
      mode: "resume",
      owner: "worker-2",
      workflow: "order",
      version: 1,
    });
    assert.deepEqual(taken.events?.map((e) => e.name), ["approved", "comment"]);
    await store.finish(taken.lease, { status: "completed" });
    assert.deepEqual(await listKeys(kv, []), [], "the rows, the record and the inbox are gone");
    // clear() takes the inbox too.
    await aboutToWait(store, "order-2");
    await store.sendEvent("order-2", "approved", 1, { eventId: "k" });
    await store.clear("order-2");
    assert.deepEqual(await listKeys(kv, []), [], "clear() leaves nothing");
  }),
);

Deno.test(
  "KvCheckpointStore.finish() deletes a long log and a full inbox within KV's commit limits",
  withKv(async (kv) => {
    const counting = faulty(kv, {});
    const store = new KvCheckpointStore(counting);
    const lease = await aboutToWait(store, "long");
    for (let sequence = 1; sequence < 1_200; sequence++) {
      await store.append("long", numberedRow(sequence), lease);
    }
    for (let n = 1; n <= 64; n++) {
      await store.sendEvent("long", "tick", n, { eventId: `tick-${n}`.padEnd(180, "x") });
    }
    await assert.rejects(store.sendEvent("long", "tick", 65), { name: "EventRefusedError" });
    const before = counting.commits;
    await store.finish(lease, { status: "completed" });
    assert.ok(counting.commits - before >= 3, "several delete batches (1,000 mutations each)");
    assert.deepEqual(await listKeys(kv, []), []);
  }),
);

Deno.test(
  "KvCheckpointStore.finish() deletes the events sent while it deletes",
  withKv(async (kv) => {
    const wrapped = hooked(kv);
    const store = new KvCheckpointStore(wrapped);
    const other = new KvCheckpointStore(kv); // another process
    const lease = await aboutToWait(store, "order-1");
    await other.sendEvent("order-1", "comment", 1, { eventId: "c-1" });
    wrapped.before = async () => {
      // Lands between the finish's read of the inbox and its commit.
      await other.sendEvent("order-1", "comment", 2, { eventId: "c-2" });
    };
    await store.finish(lease, { status: "completed" });
    assert.equal(wrapped.before, undefined, "the send ran");
    assert.deepEqual(await listKeys(kv, []), [], "no event is left behind");
  }),
);

Deno.test(
  "KvCheckpointStore.park() racing a sendEvent() hands back the event",
  withKv(async (kv) => {
    const wrapped = hooked(kv);
    const store = new KvCheckpointStore(wrapped);
    const other = new KvCheckpointStore(kv);
    const lease = await aboutToWait(store, "order-1");
    wrapped.before = async () => {
      // Lands between the park's read of the inbox and its commit.
      assert.equal((await other.sendEvent("order-1", "approved", "yes")).outcome, "queued");
    };
    const result = await store.park(lease, { state: "approval", events: ["approved"], after: 0 });
    assert.equal(result.parked, false, "the event that came in is taken, not slept through");
    if (!result.parked) assert.equal(result.event.payload, "yes");
    assert.equal((await store.getRun("order-1"))?.status, "running");
    await store.append("order-1", numberedRow(1), lease); // the lease still holds
  }),
);

Deno.test(
  "KvCheckpointStore.listExpired() reads no record of a parked run that is not due",
  withKv(async (kv) => {
    let now = 1_900_000_000_000;
    const reads: string[] = [];
    const counting: KvLike = {
      get: (key) => {
        if (key.includes("runs")) reads.push(String(key[key.length - 1]));
        return kv.get(key as Deno.KvKey);
      },
      atomic: () => kv.atomic(),
      list: (selector, options) => kv.list(selector as Deno.KvListSelector, options),
    };
    const store = new KvCheckpointStore(counting, { now: () => now, leaseMs: 1_000 });
    for (let i = 0; i < 40; i++) {
      const lease = await aboutToWait(store, `parked-${i}`);
      const until = i % 2 === 0 ? undefined : now + 3_600_000;
      await store.park(lease, { state: "approval", events: ["approved"], until, after: 0 });
    }
    const due = await aboutToWait(store, "due");
    await store.park(due, { state: "approval", events: ["approved"], after: 0 });
    now += 10;
    await store.sendEvent("due", "approved", null);
    now += 10;
    reads.length = 0;
    const page = await store.listExpired();
    assert.deepEqual(page.runs.map((run) => run.id), ["due"]);
    assert.deepEqual(reads, ["due"], "one record read: the due run's");
  }),
);

Deno.test(
  "KvCheckpointStore.sendEvent() from two processes keeps every event, each with its own seq",
  async () => {
    const file = await Deno.makeTempFile({ prefix: "cano-kv-events-", suffix: ".sqlite" });
    try {
      const kv = await Deno.openKv(file);
      try {
        const store = new KvCheckpointStore(kv);
        const lease = await aboutToWait(store, "shared");
        await store.park(lease, { state: "approval", events: ["go"], after: 0 });
      } finally {
        kv.close();
      }
      const count = 20;
      const startAt = Date.now() + 1_500;
      const script = (tag: string) => `
        const { KvCheckpointStore } = await import(${JSON.stringify(STORE_URL)});
        const { openKvRetrying } = await import(${JSON.stringify(SUBPROCESS_URL)});
        const kv = await openKvRetrying(${JSON.stringify(file)});
        const store = new KvCheckpointStore(kv);
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, ${startAt} - Date.now())));
        const outcomes = [];
        for (let i = 0; i < ${count}; i++) {
          const name = i === 5 ? "go" : "note";
          const sent = await store.sendEvent("shared", name, { from: "${tag}", i }, {
            eventId: "${tag}-" + i,
          });
          outcomes.push(sent.outcome);
        }
        console.log(JSON.stringify(outcomes));
        kv.close();
      `;
      const outputs = await Promise.all(
        ["a", "b"].map((tag) =>
          new Deno.Command(Deno.execPath(), {
            args: ["eval", "--unstable-kv", script(tag)],
            stdout: "piped",
            stderr: "piped",
          }).output()
        ),
      );
      const outcomes = outputs.flatMap((output) => {
        assert.equal(output.code, 0, DECODER.decode(output.stderr));
        return JSON.parse(DECODER.decode(output.stdout)) as string[];
      });
      assert.equal(outcomes.filter((o) => o === "delivered").length, 1, `${outcomes}`);
      assert.equal(outcomes.filter((o) => o === "queued").length, 2 * count - 1);
      const reopened = await Deno.openKv(file);
      try {
        const store = new KvCheckpointStore(reopened);
        const taken = await store.claim("shared", {
          mode: "resume",
          owner: "checker",
          workflow: "order",
          version: 1,
        });
        const events = taken.events ?? [];
        assert.deepEqual(
          events.map((event) => event.seq),
          Array.from({ length: 2 * count }, (_, i) => i + 1),
          "dense, distinct seqs",
        );
        assert.equal(new Set(events.map((event) => event.eventId)).size, 2 * count);
        for (const tag of ["a", "b"]) {
          const mine = events.filter((event) => event.eventId?.startsWith(`${tag}-`));
          assert.deepEqual(
            mine.map((event) => (event.payload as { i: number }).i),
            Array.from({ length: count }, (_, i) => i),
            `process ${tag}'s events, in its order`,
          );
        }
      } finally {
        reopened.close();
      }
    } finally {
      await Deno.remove(file);
    }
  },
);

const STORE_URL = new URL("../src/recovery/kv_store.ts", import.meta.url).href;
const SUBPROCESS_URL = new URL("./_subprocess.ts", import.meta.url).href;

Deno.test(
  "KvCheckpointStore reads a waiting record and refuses a corrupt wait or inbox",
  withKv(async (kv) => {
    const store = new KvCheckpointStore(kv);
    const key = [...DEFAULT_PREFIX, "runs", "order-1"];
    const base = {
      id: "order-1",
      workflow: "order",
      version: 1,
      status: "waiting",
      state: "approval",
      sequence: 1,
      owner: null,
      leaseUntil: FOREVER,
      createdAt: 1,
      updatedAt: 2,
      rolledBack: false,
      wait: { state: "approval", events: ["approved"], since: 2, after: 0 },
      inbox: { last: 1, ids: 0 },
    };
    await kv.set(key, ENCODER.encode(JSON.stringify(base)));
    const info = await store.getRun("order-1");
    assert.equal(info?.status, "waiting");
    assert.deepEqual(info?.wait, {
      state: "approval",
      events: ["approved"],
      until: undefined,
      since: new Date(2),
    });
    const corrupt: Record<string, unknown>[] = [
      { ...base, wait: undefined },
      { ...base, wait: { ...base.wait, events: [] } },
      { ...base, wait: { ...base.wait, events: [7] } },
      { ...base, wait: { ...base.wait, after: -1 } },
      { ...base, wait: { ...base.wait, until: "soon" } },
      { ...base, status: "running" },
      { ...base, inbox: { last: 1, ids: 2 } },
      { ...base, inbox: { last: "1", ids: 0 } },
      { ...base, status: "parked" },
    ];
    for (const record of corrupt) {
      await kv.set(key, ENCODER.encode(JSON.stringify(record)));
      await rejectsStore(store.getRun("order-1"), /Corrupt run record for workflow "order-1"/);
    }
  }),
);

Deno.test(
  "KvCheckpointStore.finish() in batches deletes an eventId sent again after its key went",
  withKv(async (kv) => {
    let target = -1;
    const other = new KvCheckpointStore(kv);
    let resent: string | undefined;
    const wrapped = faulty(kv, {
      commit: async (call) => {
        if (call !== target) return;
        // Before the last batch: the first eventId's key was deleted by the batch before.
        resent = (await other.sendEvent("long", "tick", 0, { eventId: "tick-00" })).outcome;
      },
    });
    const store = new KvCheckpointStore(wrapped);
    const lease = await aboutToWait(store, "long");
    // 341 deletes a batch with eventId keys: 1,309 rows + 30 events + 25 eventIds fill four
    // batches, and the last five eventIds go with the record in the fifth.
    for (let sequence = 1; sequence < 1_309; sequence++) {
      await store.append("long", numberedRow(sequence), lease);
    }
    for (let n = 0; n < 30; n++) {
      await store.sendEvent("long", "tick", n, { eventId: `tick-${String(n).padStart(2, "0")}` });
    }
    // The finish's first commit meets the record the sends moved on (the lease saw none of
    // them): it takes the inbox in and starts again, in batches of 341. The sixth is the last.
    target = wrapped.commits + 6;
    await store.finish(lease, { status: "completed" });
    assert.equal(resent, "queued", "the eventId was new again once its key was deleted");
    assert.deepEqual(await listKeys(kv, []), [], "its event and its key went too");
  }),
);
