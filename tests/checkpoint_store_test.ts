// One CheckpointStore contract suite (cano spec §8.3), run against every built-in store.

import assert from "node:assert/strict";
import { numberedRow } from "./_checkpoint_helpers.ts";
import { CheckpointStoreError } from "../src/errors.ts";
import type { CheckpointRow, CheckpointStore } from "../src/recovery/checkpoint.ts";
import { MemoryCheckpointStore } from "../src/recovery/memory_checkpoint_store.ts";
import { KvCheckpointStore } from "../src/recovery/kv_store.ts";

/** A store under test and how to release what it holds. */
interface Opened {
  store: CheckpointStore;
  close(): void;
}

/** How to make one kind of store, and what it does with rows too large for one commit. */
interface Subject {
  name: string;
  open(): Promise<Opened>;
  /** The largest row JSON the store accepts, or `undefined` when it has no limit. */
  rowLimit: number | undefined;
}

const SUBJECTS: Subject[] = [
  {
    name: "MemoryCheckpointStore",
    open: () => Promise.resolve({ store: new MemoryCheckpointStore(), close: () => {} }),
    // The same limits as the KV store: what passes in memory does not fail on KV.
    rowLimit: 819_200,
  },
  {
    name: "KvCheckpointStore",
    open: async () => {
      const kv = await Deno.openKv(":memory:");
      return { store: new KvCheckpointStore(kv), close: () => kv.close() };
    },
    // One atomic commit holds 819,200 bytes including keys.
    rowLimit: 819_200,
  },
];

/** Asserts `promise` rejects with a `checkpoint_store` error whose message matches. */
async function rejectsStore(promise: Promise<unknown>, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof CheckpointStoreError, `not a CheckpointStoreError: ${error}`);
    assert.equal(error.category, "checkpoint_store");
    if (message !== undefined) assert.match(error.message, message);
    return true;
  });
}

/** Runs `body` with a fresh store, closing it afterwards. */
function withStore(subject: Subject, body: (store: CheckpointStore) => Promise<void>) {
  return async (): Promise<void> => {
    const opened = await subject.open();
    try {
      await body(opened.store);
    } finally {
      opened.close();
    }
  };
}

function contractSuite(subject: Subject): void {
  const { name } = subject;

  Deno.test(
    `${name}.append() rejects a duplicate sequence and keeps the original row`,
    withStore(subject, async (store) => {
      await store.append("order-1", numberedRow(0, { state: "charge" }));
      await rejectsStore(
        store.append("order-1", numberedRow(0, { state: "ship" })),
        /order-1.*already has a row with sequence 0/,
      );
      const rows = await store.loadRun("order-1");
      assert.deepEqual(rows, [numberedRow(0, { state: "charge" })]);
    }),
  );

  Deno.test(
    `${name}.append() lets exactly one of several concurrent appends of a sequence win`,
    withStore(subject, async (store) => {
      const results = await Promise.allSettled(
        Array.from(
          { length: 10 },
          (_, i) => store.append("race", numberedRow(0, { state: `r${i}` })),
        ),
      );
      const won = results.flatMap((result, i) => result.status === "fulfilled" ? [i] : []);
      assert.equal(won.length, 1);
      for (const result of results) {
        if (result.status === "rejected") {
          assert.ok(result.reason instanceof CheckpointStoreError);
        }
      }
      assert.deepEqual(await store.loadRun("race"), [numberedRow(0, { state: `r${won[0]}` })]);
    }),
  );

  Deno.test(
    `${name}.loadRun() returns rows ascending by sequence`,
    withStore(subject, async (store) => {
      // 10 and 100 sort before 2 as strings: the order must be numeric.
      for (let sequence = 0; sequence <= 120; sequence++) {
        await store.append("run", numberedRow(sequence));
      }
      const rows = await store.loadRun("run");
      assert.deepEqual(rows, Array.from({ length: 121 }, (_, sequence) => numberedRow(sequence)));
    }),
  );

  Deno.test(
    `${name}.append() rejects a gap in the sequence and writes nothing`,
    withStore(subject, async (store) => {
      await rejectsStore(store.append("run", numberedRow(1)), /gap.*"run" has no row 0/);
      await store.append("run", numberedRow(0));
      await rejectsStore(store.append("run", numberedRow(2)), /gap.*"run" has no row 1, so row 2/);
      await store.append("run", numberedRow(1));
      await store.append("run", numberedRow(2));
      assert.deepEqual(await store.loadRun("run"), [
        numberedRow(0),
        numberedRow(1),
        numberedRow(2),
      ]);
      // A duplicate is reported as a duplicate even when its predecessor is missing.
      await store.append("other", numberedRow(0));
      await rejectsStore(
        store.append("other", numberedRow(0)),
        /already has a row with sequence 0/,
      );
    }),
  );

  Deno.test(
    `${name}.append() after clear() rejects a run that continues the cleared log`,
    withStore(subject, async (store) => {
      // What a process that resumed a run sees after another process finished and cleared it.
      for (let sequence = 0; sequence < 3; sequence++) {
        await store.append("run", numberedRow(sequence));
      }
      await store.clear("run");
      await rejectsStore(store.append("run", numberedRow(3)), /gap.*has no row 2/);
      assert.deepEqual(await store.loadRun("run"), []);
    }),
  );

  Deno.test(
    `${name}.loadRun() round-trips every row kind and field`,
    withStore(subject, async (store) => {
      const rows: CheckpointRow[] = [
        numberedRow(0, { data: { items: [1, 2], name: "zé", nested: { ok: true, none: null } } }),
        numberedRow(1, {
          kind: "compensation_completion",
          output: { chargeId: "ch_1", amount: 12.5 },
        }),
        numberedRow(2, { kind: "step_cursor", output: 41, taskId: "", workflowVersion: 0 }),
        numberedRow(3, { kind: "step_cursor", output: null }),
      ];
      for (const r of rows) await store.append("kinds", r);
      assert.deepEqual(await store.loadRun("kinds"), rows);
    }),
  );

  Deno.test(
    `${name}.append() refuses an invalid row and stores nothing`,
    withStore(subject, async (store) => {
      await rejectsStore(store.append("bad", numberedRow(-1)), /sequence/);
      await rejectsStore(store.append("bad", numberedRow(1.5)), /sequence/);
      await rejectsStore(
        store.append("bad", numberedRow(0, { kind: "nope" as CheckpointRow["kind"] })),
        /kind/,
      );
      await rejectsStore(store.append("bad", numberedRow(0, { data: { big: 1n } })), /JSON/);
      assert.deepEqual(await store.loadRun("bad"), []);
    }),
  );

  Deno.test(
    `${name}.clear() removes one id's rows and leaves other ids untouched`,
    withStore(subject, async (store) => {
      for (let sequence = 0; sequence < 3; sequence++) {
        await store.append("a", numberedRow(sequence));
        await store.append("b", numberedRow(sequence));
      }
      await store.clear("a");
      assert.deepEqual(await store.loadRun("a"), []);
      assert.deepEqual(await store.loadRun("b"), [numberedRow(0), numberedRow(1), numberedRow(2)]);
      // A cleared id starts again from sequence 0.
      await store.append("a", numberedRow(0, { state: "again" }));
      assert.deepEqual(await store.loadRun("a"), [numberedRow(0, { state: "again" })]);
    }),
  );

  Deno.test(
    `${name}.loadRun() returns [] and clear() is a no-op for an unknown id`,
    withStore(subject, async (store) => {
      await store.append("known", numberedRow(0));
      assert.deepEqual(await store.loadRun("unknown"), []);
      await store.clear("unknown");
      assert.deepEqual(await store.loadRun("known"), [numberedRow(0)]);
    }),
  );

  Deno.test(
    `${name}.loadRun() round-trips a 200 KiB run-data snapshot`,
    withStore(subject, async (store) => {
      const data = {
        text: "é🚀x".repeat(24 * 1024), // multi-byte characters across chunk boundaries
        items: Array.from({ length: 2_000 }, (_, i) => ({ i, label: `item-${i}` })),
      };
      const big = numberedRow(1, { data });
      assert.ok(new TextEncoder().encode(JSON.stringify(big)).length > 200 * 1024);
      await store.append("big", numberedRow(0));
      await store.append("big", big);
      await store.append("big", numberedRow(2));
      assert.deepEqual(await store.loadRun("big"), [numberedRow(0), big, numberedRow(2)]);
    }),
  );

  Deno.test(
    subject.rowLimit === undefined
      ? `${name}.append() stores rows larger than 800 KiB (no size limit)`
      : `${name}.append() refuses a row larger than 800 KiB and writes nothing`,
    withStore(subject, async (store) => {
      await store.append("huge", numberedRow(0));
      const huge = numberedRow(1, { data: "x".repeat(900 * 1024) });
      if (subject.rowLimit === undefined) {
        await store.append("huge", huge);
        assert.deepEqual(await store.loadRun("huge"), [numberedRow(0), huge]);
        return;
      }
      const size = new TextEncoder().encode(JSON.stringify(huge)).length;
      await rejectsStore(
        store.append("huge", huge),
        new RegExp(`row 1 of workflow "huge" is ${size} bytes.*800 KiB`),
      );
      assert.deepEqual(await store.loadRun("huge"), [numberedRow(0)]);
      // Nothing was written for sequence 1: it is still free.
      await store.append("huge", numberedRow(1));
      assert.deepEqual(await store.loadRun("huge"), [numberedRow(0), numberedRow(1)]);
    }),
  );

  Deno.test(
    `${name} keeps hostile workflow ids from seeing or clearing each other`,
    withStore(subject, async (store) => {
      const ids = [
        "a",
        "ab",
        "a/b",
        "a/",
        "/a",
        "a\0",
        "a\0b",
        " ",
        "rows",
        "chunks",
        "zé🚀",
        "z",
        "x".repeat(1024),
        "x".repeat(1023),
      ];
      for (const [i, id] of ids.entries()) {
        await store.append(id, numberedRow(0, { state: `owner-${i}` }));
        await store.append(id, numberedRow(1, { state: `owner-${i}` }));
      }
      for (const [i, id] of ids.entries()) {
        const rows = await store.loadRun(id);
        assert.deepEqual(rows.map((r) => `${r.sequence}:${r.state}`), [
          `0:owner-${i}`,
          `1:owner-${i}`,
        ], `rows of ${JSON.stringify(id)}`);
      }
      // Clearing ids that are prefixes of others (as strings or paths) touches nothing else.
      await store.clear("a");
      await store.clear("x".repeat(1023));
      await store.clear("zé🚀");
      for (const [i, id] of ids.entries()) {
        const cleared = id === "a" || id === "x".repeat(1023) || id === "zé🚀";
        assert.equal((await store.loadRun(id)).length, cleared ? 0 : 2, JSON.stringify(id));
        if (!cleared) {
          assert.equal((await store.loadRun(id))[0]?.state, `owner-${i}`);
        }
      }
    }),
  );

  Deno.test(
    `${name} rejects the empty workflow id with a rejected promise`,
    withStore(subject, async (store) => {
      // Calls must not throw synchronously: the promise rejects.
      const calls: Promise<unknown>[] = [];
      assert.doesNotThrow(() => {
        calls.push(store.append("", numberedRow(0)), store.loadRun(""), store.clear(""));
      });
      for (const call of calls) await rejectsStore(call, /Workflow id must be a non-empty string/);
      const invalid = store.append(undefined as unknown as string, numberedRow(0));
      await rejectsStore(invalid, /Workflow id/);
    }),
  );
}

for (const subject of SUBJECTS) contractSuite(subject);
