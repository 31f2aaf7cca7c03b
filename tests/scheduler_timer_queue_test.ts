// TimerQueue: many due times, one pending setTimeout.

import assert from "node:assert/strict";
import { TimerQueue } from "../src/scheduler/timer_queue.ts";
import { FakeTime } from "../testing.ts";

const T0 = Date.UTC(2026, 0, 1);

Deno.test("TimerQueue runs callbacks in due order with a single timer", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const queue = new TimerQueue();
  const fired: string[] = [];
  const at = (label: string) => () => fired.push(`${label}@${Date.now() - T0}`);
  queue.schedule(T0 + 300, at("c"));
  queue.schedule(T0 + 100, at("a"));
  queue.schedule(T0 + 200, at("b"));
  queue.schedule(T0 + 100, at("a2")); // same due time: scheduling order
  assert.equal(queue.size, 4);
  assert.equal(time.countTimers(), 1);
  assert.equal(queue.nextDue, T0 + 100);
  await time.tickAsync(300);
  assert.deepEqual(fired, ["a@100", "a2@100", "b@200", "c@300"]);
  assert.equal(queue.size, 0);
  assert.equal(time.countTimers(), 0, "an empty queue holds no timer");
});

Deno.test("TimerQueue.cancel() removes an entry; cancelling the last one releases the timer", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const queue = new TimerQueue();
  const fired: number[] = [];
  const entries = [500, 100, 400, 200, 300].map((ms) =>
    queue.schedule(T0 + ms, () => fired.push(ms))
  );
  assert.equal(queue.cancel(entries[1]!), true); // the head
  assert.equal(queue.cancel(entries[1]!), false, "already cancelled");
  assert.equal(queue.cancel(entries[2]!), true); // an inner node
  assert.equal(queue.nextDue, T0 + 200);
  await time.tickAsync(250);
  assert.deepEqual(fired, [200]);
  assert.equal(queue.cancel(entries[3]!), false, "already fired");
  queue.cancel(entries[0]!);
  queue.cancel(entries[4]!);
  assert.equal(queue.size, 0);
  assert.equal(time.countTimers(), 0);
  assert.equal(queue.armed, false);
});

Deno.test("TimerQueue re-arms for an earlier entry and tolerates callbacks that schedule", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const queue = new TimerQueue();
  const fired: string[] = [];
  queue.schedule(T0 + 1_000, () => fired.push(`late@${Date.now() - T0}`));
  queue.schedule(T0 + 10, () => {
    fired.push(`early@${Date.now() - T0}`);
    queue.schedule(Date.now(), () => fired.push(`now@${Date.now() - T0}`));
    queue.schedule(Date.now() + 5, () => fired.push(`soon@${Date.now() - T0}`));
  });
  assert.equal(time.countTimers(), 1);
  await time.tickAsync(1_000);
  // A due-now entry waits for the next timer turn (which the fake clock places 1 ms later).
  assert.deepEqual(fired, ["early@10", "now@11", "soon@15", "late@1000"]);
  assert.equal(time.countTimers(), 0);
});

Deno.test("TimerQueue: a throwing callback is reported and the others still run", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const errors: unknown[] = [];
  const queue = new TimerQueue((error) => errors.push(error));
  const fired: number[] = [];
  queue.schedule(T0 + 1, () => {
    throw new Error("boom");
  });
  queue.schedule(T0 + 1, () => fired.push(1));
  queue.schedule(T0 + 2, () => fired.push(2));
  await time.tickAsync(5);
  assert.deepEqual(fired, [1, 2]);
  assert.equal((errors[0] as Error).message, "boom");
});

Deno.test("TimerQueue sleeps past setTimeout's limit in chunks and fires on time", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const queue = new TimerQueue();
  const due = T0 + 40 * 86_400_000; // 40 days
  let firedAt = 0;
  queue.schedule(due, () => firedAt = Date.now());
  await time.tickAsync(39 * 86_400_000);
  assert.equal(firedAt, 0);
  assert.equal(time.countTimers(), 1);
  await time.tickAsync(86_400_000);
  assert.equal(firedAt, due);
});

Deno.test("TimerQueue.clear() drops every entry and the timer", () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const queue = new TimerQueue();
  for (let i = 0; i < 10_000; i++) queue.schedule(T0 + (i * 7919) % 5_000, () => {});
  assert.equal(queue.size, 10_000);
  assert.equal(time.countTimers(), 1);
  queue.clear();
  assert.equal(queue.size, 0);
  assert.equal(time.countTimers(), 0);
});

Deno.test("TimerQueue keeps heap order under random schedules and cancels", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const queue = new TimerQueue();
  let seed = 42;
  const random = (): number => (seed = (seed * 16807) % 2_147_483_647) / 2_147_483_647;
  const fired: number[] = [];
  const live = new Map<number, ReturnType<TimerQueue["schedule"]>>();
  for (let i = 0; i < 2_000; i++) {
    const due = T0 + Math.floor(random() * 10_000);
    live.set(i, queue.schedule(due, () => fired.push(due)));
    if (random() < 0.3) {
      const victim = Math.floor(random() * i);
      const entry = live.get(victim);
      if (entry !== undefined) {
        queue.cancel(entry);
        live.delete(victim);
      }
    }
  }
  await time.tickAsync(10_000);
  assert.equal(fired.length, live.size);
  assert.deepEqual(fired, [...fired].sort((a, b) => a - b));
});

Deno.test("TimerQueue.reschedule() reuses an entry, before or after it fired", async () => {
  using time = new FakeTime(Date.UTC(2026, 0, 1));
  const queue = new TimerQueue();
  const fired: number[] = [];
  const entry = queue.schedule(T0 + 100, () => fired.push(Date.now() - T0));
  const other = queue.schedule(T0 + 150, () => fired.push(-1));
  queue.reschedule(entry, T0 + 200); // moved while scheduled
  assert.equal(queue.size, 2);
  assert.equal(queue.isScheduled(entry), true);
  await time.tickAsync(200);
  assert.deepEqual(fired, [-1, 200]);
  assert.equal(queue.isScheduled(entry), false);
  assert.equal(queue.isScheduled(other), false);
  queue.reschedule(entry, T0 + 300); // re-armed after it fired
  assert.equal(queue.isScheduled(entry), true);
  assert.equal(entry.due, T0 + 300);
  await time.tickAsync(100);
  assert.deepEqual(fired, [-1, 200, 300]);
  assert.equal(time.countTimers(), 0);
});
