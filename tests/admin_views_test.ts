// What the console's API makes of records and rows: values JSON cannot hold made displayable,
// times and failed attempts joined to rows from what the console saw, row notes, conditions.

import assert from "node:assert/strict";
import type { CheckpointRow, RunInfo } from "../mod.ts";
import { displayable, rowViews, runView } from "../src/admin/views.ts";
import type { ActivityEntry } from "../src/admin/activity.ts";

Deno.test("displayable() tags what JSON cannot hold and cuts what is too big", () => {
  const cycle: Record<string, unknown> = { name: "loop" };
  cycle.self = cycle;
  const shared = { n: 1 };
  const shown = displayable({
    when: new Date(Date.UTC(2026, 0, 2)),
    tags: new Set(["a"]),
    byId: new Map([[1, "one"]]),
    big: 12n,
    missing: undefined,
    nan: NaN,
    bytes: new Uint8Array(3),
    error: new RangeError("far"),
    cycle,
    twice: [shared, shared],
    long: "x".repeat(10_005),
  }) as Record<string, unknown>;
  assert.deepEqual(shown.when, { "[Date]": "2026-01-02T00:00:00.000Z" });
  assert.deepEqual(shown.tags, { "[Set]": ["a"] });
  assert.deepEqual(shown.byId, { "[Map]": [[1, "one"]] });
  assert.equal(shown.big, "12n");
  assert.equal(shown.missing, "[undefined]");
  assert.equal(shown.nan, "[NaN]");
  assert.deepEqual(shown.bytes, { "[Uint8Array]": "3 bytes" });
  assert.deepEqual(shown.error, { "[Error]": "RangeError: far" });
  assert.deepEqual(shown.cycle, { name: "loop", self: "[circular]" });
  assert.deepEqual(shown.twice, [{ n: 1 }, { n: 1 }], "a shared value is not a cycle");
  assert.match(shown.long as string, /…\[5 more characters\]$/);
  JSON.stringify(shown); // and it is JSON now
});

Deno.test("rowViews() joins times and failed attempts to rows, and notes what rows record", () => {
  const rows: CheckpointRow[] = [
    {
      sequence: 0,
      state: "charge",
      taskId: "charge",
      kind: "state_entry",
      data: { a: 1 },
      workflowVersion: 2,
    },
    {
      sequence: 1,
      state: "charge",
      taskId: "charge",
      kind: "compensation_completion",
      output: { id: "ch_1" },
      workflowVersion: 2,
    },
    {
      sequence: 2,
      state: "ship",
      taskId: "",
      kind: "rollback",
      output: { error: { name: "Error", message: "no courier" }, stack: [{}] },
      workflowVersion: 2,
    },
    {
      sequence: 3,
      state: "charge",
      taskId: "",
      kind: "compensated",
      output: { index: 0 },
      workflowVersion: 2,
    },
    {
      sequence: 4,
      state: "approve",
      taskId: "approve",
      kind: "state_entry",
      output: { event: { seq: 1, name: "approved", at: 1 } },
      workflowVersion: 2,
    },
  ];
  const activity: ActivityEntry[] = [
    { kind: "row", at: 1_000, sequence: 0 },
    { kind: "retry", at: 1_100, state: "charge", attempt: 1, delay: 10, error: "503" },
    { kind: "row", at: 1_200, sequence: 1 },
    { kind: "retry", at: 1_300, state: "charge", attempt: 1, delay: 10, error: "later visit" },
  ];
  const views = rowViews(rows, activity, false);
  assert.equal(views[0]!.at, new Date(1_000).toISOString());
  assert.deepEqual(views[0]!.retries, [{
    attempt: 1,
    error: "503",
    at: new Date(1_100).toISOString(),
  }]);
  assert.deepEqual(views[0]!.data, { a: 1 });
  assert.equal(views[2]!.at, null, "not seen here");
  assert.match(views[1]!.note!, /saga step "charge" done/);
  assert.equal(views[2]!.note, "saga rollback began: Error: no courier (1 compensation(s) to run)");
  assert.equal(views[3]!.note, "compensation #0 done");
  assert.equal(views[4]!.note, 'woken by event "approved"');
  const hidden = rowViews(rows, activity, true);
  assert.ok(hidden.every((row) => !("data" in row) && !("output" in row)));
  assert.equal(hidden[2]!.note, views[2]!.note, "notes stay when data is hidden");
});

Deno.test("runView() tells stalled, due, cancelling and cancelled runs apart", () => {
  const now = Date.UTC(2026, 0, 1, 12);
  const base: RunInfo = {
    id: "r",
    workflow: "w",
    version: 1,
    status: "running",
    state: "s",
    sequence: 1,
    owner: "p1",
    leaseUntil: new Date(now + 1_000),
    createdAt: new Date(now - 5_000),
    updatedAt: new Date(now - 1_000),
  };
  const cancel = { reason: "ops", requestedAt: new Date(now) };
  assert.equal(runView(base, now).condition, null);
  assert.equal(runView(base, now).live, true);
  assert.equal(runView({ ...base, leaseUntil: new Date(now - 1) }, now).condition, "stalled");
  assert.equal(runView({ ...base, owner: undefined }, now).condition, "stalled");
  assert.equal(runView({ ...base, cancel }, now).condition, "cancelling");
  assert.equal(
    runView({ ...base, status: "failed", owner: undefined, cancel }, now).condition,
    "cancelled",
  );
  assert.equal(runView({ ...base, status: "failed", owner: undefined }, now).condition, null);
  const wait = { state: "s", events: ["go"], until: undefined, since: new Date(now) };
  const parked = { ...base, status: "waiting" as const, owner: undefined, wait };
  const forever = runView({ ...parked, leaseUntil: new Date(8.64e15) }, now);
  assert.equal(forever.condition, null);
  assert.equal(forever.leaseUntil, null, "no deadline");
  assert.equal(runView({ ...parked, leaseUntil: new Date(now) }, now).condition, "due");
});
