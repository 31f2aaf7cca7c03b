// Coordinated schedulers end to end: four real processes on one Deno KV file run the same flows
// (a 100 ms interval, a per-second cron, one that trips) for 30 s of real time. Every
// tick in the window when all four were up must be claimed once and run once (fire lines and a
// side-effect journal in KV both say so), and the trip must hold on every instance.

import assert from "node:assert/strict";
import { JsonLineChild } from "./_subprocess.ts";
import type { SchedulerWorkerConfig } from "./e2e/scheduler_worker.ts";

const WORKER = new URL("./e2e/scheduler_worker.ts", import.meta.url).pathname;
const INSTANCES = 4;
/**
 * How long the instances run together, in ms (after the slowest one is up): the 30 s (about
 * 300 interval ticks and 30 cron ticks); `CANO_E2E_SCHEDULER_MS` shortens it for a quick local run.
 */
const RUN_MS = Number(Deno.env.get("CANO_E2E_SCHEDULER_MS") ?? 30_000);

/** One line a worker printed. */
interface Line {
  type: string;
  flow?: string;
  tick?: string;
  at?: number;
  reason?: string;
  operation?: string;
  message?: string;
  flows?: { id: string; status: string; failureStreak: number }[];
}

/** A worker process; disposing SIGKILLs it if still alive. */
class Worker extends JsonLineChild<Line> {
  readonly role: string;
  /** When it was up (epoch ms), from its `ready` line; `NaN` if it ended without one. */
  readonly ready: Promise<number>;

  constructor(config: SchedulerWorkerConfig) {
    super(WORKER, [JSON.stringify(config)]);
    this.role = config.role;
    this.ready = this.line((line) => line.type === "ready").then((line) => line?.at ?? NaN);
  }

  of(type: string): Line[] {
    return this.lines.filter((line) => line.type === type);
  }
}

Deno.test({
  name:
    "Scheduler.start({ coordination }) runs each tick once across four processes on one KV file",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "cano_sched_e2e_" });
    try {
      const kvPath = `${dir}/sched.kv`;
      (await Deno.openKv(kvPath)).close(); // created once, before the workers open it at once
      // Processes take a second or so to start; they all stop at the same moment.
      const stopAt = Date.now() + 1_500 + RUN_MS;
      const tripAfter = stopAt - 2_500;
      await using stack = new AsyncDisposableStack();
      const workers: Worker[] = [];
      for (let i = 0; i < INSTANCES; i++) {
        workers.push(stack.use(
          new Worker({ role: `w${i}`, kvPath, stopAt, tripAfter, pollInterval: 200 }),
        ));
      }
      const readyAt = await Promise.all(workers.map((worker) => worker.ready));
      const ends = await Promise.all(workers.map((worker) => worker.done));
      for (const [i, end] of ends.entries()) {
        assert.equal(
          end.status.code,
          0,
          `w${i}: ${end.stderr}\n${JSON.stringify(workers[i]!.lines)}`,
        );
      }
      assert.ok(readyAt.every(Number.isFinite), "every worker started");
      // The window in which all four instances were up (with a margin for the stop).
      const from = Math.max(...readyAt) + 200;
      const to = stopAt - 300;
      assert.ok(to - from >= 2_500, `a window of ${to - from} ms`);

      const fires = workers.flatMap((w) => w.of("fire").map((line) => ({ ...line, role: w.role })));
      const skips = workers.flatMap((w) => w.of("skip").map((line) => ({ ...line, role: w.role })));
      const errors = workers.flatMap((w) => w.of("error"));
      const kv = await Deno.openKv(kvPath);
      const keys = async (prefix: Deno.KvKey): Promise<Deno.KvEntry<unknown>[]> =>
        await Array.fromAsync(kv.list({ prefix }));
      const sideFast = await keys(["e2e", "side", "fast"]);
      const sideSecond = await keys(["e2e", "side", "second"]);
      const sideTrip = await keys(["e2e", "side", "trip"]);
      const dups = await keys(["e2e", "dup"]);
      const claims = await keys(["cano", "checkpoints", "sched", "tick"]);
      kv.close();

      const expected = {
        fast: gridTicks(100, from, to),
        second: gridTicks(1_000, from, to),
      };
      const report: Record<string, unknown> = { window: to - from, errors: errors.length };
      for (const flow of ["fast", "second"] as const) {
        const inWindow = (tick: string): boolean => expected[flow].includes(tick);
        const fired = fires.filter((f) => f.flow === flow).map((f) => f.tick as string);
        const firedInWindow = fired.filter(inWindow);
        const skipped = skips.filter((s) => s.flow === flow && inWindow(s.tick as string));
        const claimed = claims.filter((c) => c.key[4] === flow)
          .map((c) => new Date(c.key[5] as number).toISOString());
        const duplicates = fired.filter((tick, i) => fired.indexOf(tick) !== i);
        assert.deepEqual(duplicates, [], `${flow}: no tick fired twice, across all instances`);
        for (const tick of expected[flow]) {
          assert.ok(claimed.includes(tick), `${flow}: tick ${tick} was claimed`);
        }
        assert.deepEqual(
          [...firedInWindow].sort(),
          expected[flow],
          `${flow}: every tick in the window ran once (skipped: ${JSON.stringify(skipped)})`,
        );
        const side = (flow === "fast" ? sideFast : sideSecond).map((e) => e.key[3] as string);
        const sideTicks = flow === "fast" ? side : side.map((id) => id.slice("second@".length));
        // One side effect per run (a run the stop aborted at the very end may have none).
        assert.deepEqual(
          sideTicks.filter((tick) => !fired.includes(tick)),
          [],
          `${flow}: no stray effect`,
        );
        assert.deepEqual(
          firedInWindow.filter((tick) => !sideTicks.includes(tick)),
          [],
          `${flow}: every run in the window had its effect`,
        );
        report[flow] = {
          ticks: expected[flow].length,
          fired: firedInWindow.length,
          firedTotal: fired.length,
          claimed: claimed.length,
          skipped: skipped.length,
          byInstance: Object.fromEntries(
            workers.map((
              w,
            ) => [w.role, fires.filter((f) => f.flow === flow && f.role === w.role).length]),
          ),
        };
      }
      assert.deepEqual(dups.map((d) => d.key), [], "no side effect happened twice");
      assert.ok(sideSecond.every((e) => /^second@\d{4}-.*T.*\.000Z$/.test(e.key[3] as string)));

      // The trip: two failures after tripAfter, then no instance runs the flow again.
      assert.equal(
        sideTrip.length,
        2,
        `trip failed twice: ${JSON.stringify(sideTrip.map((e) => e.key))}`,
      );
      const failingFires = fires.filter((f) => f.flow === "trip" && (f.at as number) >= tripAfter);
      assert.equal(failingFires.length, 2, "no run of the flow after it tripped");
      for (const worker of workers) {
        const [status] = worker.of("status");
        const tripped = status?.flows?.find((flow) => flow.id === "trip");
        assert.equal(tripped?.status, "tripped", `${worker.role} sees the trip`);
        assert.equal(tripped?.failureStreak, 2);
      }
      report.trip = { failures: sideTrip.length, trippedOn: workers.length };
      console.log(`scheduler e2e: ${JSON.stringify(report)}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

function gridTicks(interval: number, from: number, to: number): string[] {
  const ticks: string[] = [];
  for (let t = Math.ceil(from / interval) * interval; t <= to; t += interval) {
    ticks.push(new Date(t).toISOString());
  }
  return ticks;
}
