// The store contract's v1 row cases: append() and loadRun() round-trips, duplicate and missing
// sequences, ordering, clear(), hostile and invalid ids, and no shared references to row data.

import assert from "node:assert/strict";
import { CheckpointStoreError } from "../errors.ts";
import type { CheckpointRow } from "../recovery/checkpoint.ts";
import { type Add, assertRows, claim, refuses, requireRun, row } from "./store_contract_harness.ts";

export function rowCases(add: Add): void {
  add("append() and loadRun() round-trip every row kind and field", async ({ store }) => {
    const rows: CheckpointRow[] = [
      row(0, {
        state: 'charge "card"\n\u0000',
        data: { items: [1, 2.5, -3], name: "zé🚀", nested: { ok: true, none: null }, empty: {} },
      }),
      row(1, {
        kind: "compensation_completion",
        taskId: "charge",
        output: { chargeId: "ch_1", amount: 12.5 },
      }),
      row(2, { kind: "step_cursor", output: 41, data: [{ page: 2 }] }),
      row(3, { kind: "step_cursor", output: null }),
      row(4, { kind: "step_cursor", output: 0, data: false }),
      row(5, { kind: "step_cursor", output: "", data: 0 }),
      row(6, { state: "s5", resumed: true, workflowVersion: 0, taskId: "", data: "" }),
      row(7, {
        kind: "rollback",
        taskId: "",
        output: { cause: "boom", compensations: [{ taskId: "charge", index: 1 }] },
      }),
      row(8, { kind: "compensated", taskId: "charge", output: { index: 0 } }),
    ];
    for (const r of rows) await store.append("kinds", r);
    const loaded = await store.loadRun("kinds");
    assertRows(loaded, rows, "loadRun() must return every field as appended");
    assert.equal(loaded[3]?.output, null, "an output of null is kept (it is not absent)");
  });

  add("append() rejects a duplicate sequence", async ({ store }) => {
    await store.append("order-1", row(0, { state: "charge" }));
    await refuses(
      () => store.append("order-1", row(0, { state: "ship" })),
      CheckpointStoreError,
      "a second append of sequence 0",
    );
    assertRows(await store.loadRun("order-1"), [row(0, { state: "charge" })], "the original row");
    // Under a lease too: a duplicate is a conflict, not a lost lease, and the lease stays valid.
    const { lease } = await claim(store, "order-2", "start");
    await store.append("order-2", row(0), lease);
    await refuses(
      () => store.append("order-2", row(0, { state: "again" }), lease),
      CheckpointStoreError,
      "a fenced append of a duplicate sequence",
    );
    await store.append("order-2", row(1), lease);
    assertRows(await store.loadRun("order-2"), [row(0), row(1)], "rows after the duplicate");
  });

  add("append() rejects a gap in the sequence", async ({ store }) => {
    await refuses(() => store.append("run", row(1)), CheckpointStoreError, "row 1 of an empty log");
    assertRows(await store.loadRun("run"), [], "nothing is stored after a refused gap");
    await store.append("run", row(0));
    await refuses(() => store.append("run", row(2)), CheckpointStoreError, "row 2 after row 0");
    await store.append("run", row(1));
    await store.append("run", row(2));
    assertRows(await store.loadRun("run"), [row(0), row(1), row(2)], "the dense log");
  });

  add("append() under a lease rejects a gap in the sequence", async ({ store }) => {
    const { lease } = await claim(store, "run", "start");
    await store.append("run", row(0), lease);
    await refuses(
      () => store.append("run", row(2), lease),
      CheckpointStoreError,
      "a fenced append of row 2 after row 0",
    );
    assertRows(await store.loadRun("run"), [row(0)], "nothing is stored after a refused gap");
    await store.append("run", row(1), lease);
    assertRows(await store.loadRun("run"), [row(0), row(1)], "the lease still appends row 1");
  });

  add("loadRun() returns rows ascending by sequence", async ({ store }) => {
    // As strings, 10 and 100 sort before 2: the order must be numeric. Another log is written in
    // between, so a store that keeps one global order is caught too.
    for (let sequence = 0; sequence <= 120; sequence++) {
      await store.append("run", row(sequence, { state: `run-${sequence}` }));
      if (sequence % 20 === 0) await store.append("other", row(sequence / 20));
    }
    const loaded = await store.loadRun("run");
    assert.deepEqual(
      loaded.map((r) => r.sequence),
      Array.from({ length: 121 }, (_, i) => i),
      "sequences in ascending numeric order",
    );
    assert.deepEqual(loaded.map((r) => r.state), Array.from({ length: 121 }, (_, i) => `run-${i}`));
    assert.deepEqual((await store.loadRun("other")).map((r) => r.sequence), [0, 1, 2, 3, 4, 5, 6]);
  });

  add("clear() removes only that id", async ({ store }) => {
    for (let sequence = 0; sequence < 3; sequence++) {
      await store.append("a", row(sequence));
      await store.append("b", row(sequence));
    }
    const { lease } = await claim(store, "c", "start");
    await store.append("c", row(0), lease);
    await store.clear("a");
    assertRows(await store.loadRun("a"), [], "the cleared log");
    assertRows(await store.loadRun("b"), [row(0), row(1), row(2)], "another log");
    assert.equal((await requireRun(store, "c")).owner, "worker-1", "another run's record is kept");
    await store.clear("c");
    assertRows(await store.loadRun("c"), [], "a cleared run's log");
    assert.equal(await store.getRun("c"), undefined, "clear() removes the run record too");
    // A cleared id starts again from sequence 0.
    await store.append("a", row(0, { state: "again" }));
    assertRows(await store.loadRun("a"), [row(0, { state: "again" })], "the id written again");
  });

  add("loadRun() of an unknown id is [] and clear() of it is a no-op", async ({ store }) => {
    await store.append("known", row(0));
    assert.deepEqual(await store.loadRun("unknown"), []);
    await store.clear("unknown");
    assertRows(await store.loadRun("known"), [row(0)], "another log after clear(unknown)");
    assert.equal(await store.getRun("unknown"), undefined);
  });

  add("hostile ids are kept apart", async ({ store }) => {
    const ids = [
      "a",
      "ab",
      "a/b",
      "a/",
      "/a",
      "a\u0000",
      "a\u0000b",
      "\u0000",
      " ",
      "rows",
      "runs",
      "zé🚀",
      "z",
      "日本語",
      "\u{1F600}",
      "\uFFFF",
      "x".repeat(1024),
      "x".repeat(1023),
    ];
    for (const [i, id] of ids.entries()) {
      await store.append(id, row(0, { state: `owner-${i}` }));
      await store.append(id, row(1, { state: `owner-${i}` }));
    }
    for (const [i, id] of ids.entries()) {
      const rows = await store.loadRun(id);
      assert.deepEqual(
        rows.map((r) => `${r.sequence}:${r.state}`),
        [`0:owner-${i}`, `1:owner-${i}`],
        `rows of ${JSON.stringify(id)}`,
      );
    }
    // Records are kept apart too: resuming each log sees only its own rows.
    for (const [i, id] of ids.entries()) {
      if (i % 3 !== 0) continue;
      const { rows, lease } = await claim(store, id, "resume");
      assert.deepEqual(rows.map((r) => r.state), [`owner-${i}`, `owner-${i}`], JSON.stringify(id));
      assert.equal(lease.sequence, 2, `lease.sequence of ${JSON.stringify(id)}`);
      assert.equal((await requireRun(store, id)).id, id);
    }
    // Clearing ids that are prefixes of others (as strings or paths) touches nothing else.
    const cleared = new Set(["a", "a\u0000", "x".repeat(1023), "zé🚀"]);
    for (const id of cleared) await store.clear(id);
    for (const [i, id] of ids.entries()) {
      const rows = await store.loadRun(id);
      assert.equal(rows.length, cleared.has(id) ? 0 : 2, `rows left of ${JSON.stringify(id)}`);
      if (!cleared.has(id)) assert.equal(rows[0]?.state, `owner-${i}`, JSON.stringify(id));
    }
  });

  add("an id with a lone surrogate is refused", async ({ store }) => {
    for (const id of ["a\uD800", "\uDC00b", "x\uDBFF"]) {
      const what = `id ${JSON.stringify(id)}`;
      await refuses(() => store.append(id, row(0)), CheckpointStoreError, `append() of ${what}`);
      await refuses(() => store.loadRun(id), CheckpointStoreError, `loadRun() of ${what}`);
      await refuses(() => store.clear(id), CheckpointStoreError, `clear() of ${what}`);
      await refuses(() => claim(store, id, "start"), CheckpointStoreError, `claim() of ${what}`);
      await refuses(() => store.getRun(id), CheckpointStoreError, `getRun() of ${what}`);
    }
    // Nothing landed under the id a UTF-8 store would have turned it into.
    assert.deepEqual(await store.loadRun("a\uFFFD"), []);
    assert.equal(await store.getRun("a\uFFFD"), undefined);
  });

  add("the empty id is refused with a rejected promise", async ({ store }) => {
    await refuses(() => store.append("", row(0)), CheckpointStoreError, 'append("")');
    await refuses(() => store.loadRun(""), CheckpointStoreError, 'loadRun("")');
    await refuses(() => store.clear(""), CheckpointStoreError, 'clear("")');
    await refuses(() => claim(store, "", "start"), CheckpointStoreError, 'claim("")');
    await refuses(() => store.getRun(""), CheckpointStoreError, 'getRun("")');
    assert.deepEqual((await store.listRuns()).runs, [], "no run was created");
  });

  add("append() does not keep a reference to row.data or row.output", async ({ store }) => {
    const data = { items: [1, 2], nested: { n: 1 } };
    const output = { ids: ["a"] };
    const appended = row(0, { kind: "step_cursor", data, output });
    await store.append("copy", appended);
    data.items.push(3);
    data.nested.n = 2;
    output.ids.push("b");
    appended.state = "changed";
    const expected = row(0, {
      kind: "step_cursor",
      data: { items: [1, 2], nested: { n: 1 } },
      output: { ids: ["a"] },
    });
    assertRows(await store.loadRun("copy"), [expected], "the row after mutating what was appended");
    // Nor does loadRun() hand out the stored objects.
    const loaded = await store.loadRun("copy");
    (loaded[0]?.data as { items: number[] }).items.push(9);
    (loaded[0]?.output as { ids: string[] }).ids.push("z");
    assertRows(await store.loadRun("copy"), [expected], "the row after mutating a loaded copy");
  });
}
