// The store contract's value cases: run data the store's codec cannot keep is refused naming its
// path and writes nothing, and a row above Deno KV's 800 KiB commit limit is refused (or, for a
// store without a row limit, kept). They follow the store's codec, so they live apart.

import assert from "node:assert/strict";
import { CheckpointStoreError } from "../errors.ts";
import type { CheckpointRow, RunStore } from "../recovery/checkpoint.ts";
import { jsonCodec } from "../recovery/codec.ts";
import {
  type Add,
  assertRows,
  assertUnchanged,
  claim,
  refuses,
  row,
  snapshot,
} from "./store_contract_harness.ts";

/** A class instance for the value cases. */
class Point {
  constructor(readonly x: number, readonly y: number) {}
}

export function valueCases(add: Add, rowLimit: boolean): void {
  add(
    "append() refuses run data its codec cannot keep, naming the path, and writes nothing",
    async ({ store }) => {
      const values: { path: string; data: unknown }[] = [
        { path: "data.seen", data: { seen: new Map([["a", 1]]) } },
        { path: "data.at", data: { at: new Date(0) } },
        { path: "data.missing", data: { ok: 1, missing: undefined } },
        { path: "data.ratio", data: { ratio: NaN } },
        { path: "data.point", data: { point: new Point(1, 2) } },
        { path: "data.deep.list[1]", data: { deep: { list: [1, new Set([1])] } } },
      ];
      const strict = store.codec === jsonCodec;
      const { lease } = await claim(store, "values", "start");
      await store.append("values", row(0), lease);
      let next = 1;
      const kept: CheckpointRow[] = [row(0)];
      for (const { path, data } of values) {
        const refusedByCodec = strict || codecRefuses(store, data);
        const candidate = row(next, { data });
        if (!refusedByCodec) {
          // A codec that keeps the value: it must come back equal.
          await store.append("values", candidate, lease);
          const loaded = await store.loadRun("values");
          assert.deepEqual(loaded[next]?.data, data, `${path} as the store's codec keeps it`);
          kept.push(candidate);
          next++;
          continue;
        }
        const before = await snapshot(store, "values");
        await refuses(
          () => store.append("values", candidate, lease),
          CheckpointStoreError,
          `append() of ${path}`,
          strict ? path : undefined,
        );
        await assertUnchanged(store, "values", before, `the refused append of ${path}`);
      }
      // Outputs are checked the same way.
      const output = { when: new Date(0) };
      if (strict || codecRefuses(store, output)) {
        await refuses(
          () => store.append("values", row(next, { kind: "step_cursor", output }), lease),
          CheckpointStoreError,
          "append() of an output holding a Date",
          strict ? "output.when" : undefined,
        );
      }
      // The refusals left the sequence free and the lease valid.
      await store.append("values", row(next), lease);
      kept.push(row(next));
      const loaded = await store.loadRun("values");
      assert.equal(loaded.length, kept.length, "rows after the refusals");
      // Without a lease, nothing is written either.
      if (strict || codecRefuses(store, { seen: new Map() })) {
        await refuses(
          () => store.append("unleased", row(0, { data: { seen: new Map() } })),
          CheckpointStoreError,
          "an append without a lease of a Map",
          strict ? "data.seen" : undefined,
        );
        assert.deepEqual(await store.loadRun("unleased"), []);
      }
    },
  );

  if (rowLimit) {
    add("append() refuses a row above Deno KV's 800 KiB commit limit", async ({ store }) => {
      await store.append("huge", row(0));
      // A large row below the limit is stored (across KV's 64 KiB value limit, multi-byte text).
      const big = row(1, { data: { text: "é🚀x".repeat(24 * 1024), n: 1 } });
      await store.append("huge", big);
      const huge = row(2, { data: "x".repeat(900 * 1024) });
      await refuses(() => store.append("huge", huge), CheckpointStoreError, "a 900 KiB row");
      assertRows(await store.loadRun("huge"), [row(0), big], "the log after the refusal");
      await store.append("huge", row(2));
      assertRows(await store.loadRun("huge"), [row(0), big, row(2)], "sequence 2 was still free");
      // Under a lease too, and the lease stays valid.
      const { lease } = await claim(store, "huge-fenced", "start");
      await store.append("huge-fenced", row(0), lease);
      const before = await snapshot(store, "huge-fenced");
      await refuses(
        () => store.append("huge-fenced", row(1, { data: "y".repeat(900 * 1024) }), lease),
        CheckpointStoreError,
        "a fenced 900 KiB row",
      );
      await assertUnchanged(store, "huge-fenced", before, "the refused fenced append");
      await store.append("huge-fenced", row(1), lease);
    });
  } else {
    add("append() stores a row above 800 KiB (the store has no row limit)", async ({ store }) => {
      await store.append("huge", row(0));
      const huge = row(1, { data: "x".repeat(900 * 1024) });
      await store.append("huge", huge);
      assertRows(await store.loadRun("huge"), [row(0), huge], "the log with the large row");
    });
  }
}

/** Whether the store's codec refuses `data` (for stores without the strict default codec). */
function codecRefuses(store: RunStore, data: unknown): boolean {
  try {
    store.codec.stringify(data, "data");
    return false;
  } catch {
    return true;
  }
}
