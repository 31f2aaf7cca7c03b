import assert from "node:assert/strict";
import { MemoryCheckpointStore, timerTask, type TimerWait, Workflow } from "../mod.ts";
import { FakeTime } from "../testing.ts";

type Step = "remind" | "done";

function reminder(store: MemoryCheckpointStore, wait: () => TimerWait, sent: number[]) {
  return new Workflow<Step>()
    .register(
      "remind",
      timerTask({
        wait,
        afterWait: () => {
          sent.push(Date.now());
          return "done";
        },
      }),
    )
    .addExitState("done")
    .withCheckpointStore(store)
    .withWorkflowId("reminder-1");
}

for (const kind of ["duration", "date"] as const) {
  Deno.test(`timerTask() resumed after a crash waits only the time left (${kind})`, async () => {
    using time = new FakeTime(Date.UTC(2026, 0, 1));
    const start = time.now;
    const store = new MemoryCheckpointStore();
    const sent: number[] = [];
    let waits = 0;
    const wait = (): TimerWait => {
      waits += 1;
      return kind === "duration" ? 60_000 : new Date(start + 60_000);
    };
    // The process dies 40 s into the minute (cancellation keeps the log, like a crash).
    const crash = new AbortController();
    const first = reminder(store, wait, sent).orchestrate("remind", { signal: crash.signal });
    await time.tickAsync(40_000);
    crash.abort();
    await assert.rejects(first, { category: "cancelled" });
    const rows = await store.loadRun("reminder-1");
    assert.deepEqual(rows.map((r) => [r.kind, r.output]), [
      ["state_entry", undefined],
      ["step_cursor", { until: start + 60_000 }],
    ]);
    await time.tickAsync(5_000); // downtime before the restart
    const resumed = reminder(store, wait, sent).resumeFrom("reminder-1");
    await time.tickAsync(14_999);
    assert.deepEqual(sent, [], "still 1 ms to go");
    await time.tickAsync(1);
    assert.equal((await resumed).state, "done");
    assert.deepEqual(sent, [start + 60_000], "fired at the original deadline");
    assert.equal(waits, 1, "wait() is not asked again after a resume");
  });
}

Deno.test("timerTask() resumed after its deadline passed fires at once", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const store = new MemoryCheckpointStore();
  const sent: number[] = [];
  const crash = new AbortController();
  const first = reminder(store, () => 1_000, sent).orchestrate("remind", { signal: crash.signal });
  await time.tickAsync(10);
  crash.abort();
  await assert.rejects(first);
  await time.tickAsync(5_000);
  const resumed = await reminder(store, () => 1_000, sent).resumeFrom("reminder-1");
  assert.equal(resumed.state, "done");
  assert.equal(sent.length, 1);
});
