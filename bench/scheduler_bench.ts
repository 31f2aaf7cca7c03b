// `deno run -A --v8-flags=--expose-gc bench/scheduler_bench.ts`: 10 000 scheduled no-op workflows
// for 10 s of real time, cano's Scheduler next to 10 000 croner jobs doing the same, in one run.
//
// Phases, one after the other in this process:
//   1. idle     — 10 000 flows registered and started but asleep (1 h interval, no first run;
//                 then a daily cron): heap per flow (heapUsed delta after GC / flows) and CPU
//                 while idle.
//   2. every    — 10 000 `every(1 000 ms)` flows: CPU, dispatches, lateness of each dispatch
//                 (dispatch time − the due time the scheduler planned, from `flowstart` events).
//                 Twice: with the first runs staggered over the first second (`initialDelay`),
//                 and with all 10 000 first runs due at start (cano's default), a burst that
//                 takes ~200 ms to drain and keeps the runs bunched for several rounds.
//   3. cron     — 10 000 `cron("* * * * * *")` flows: all due on the same second boundary.
//   4. croner   — 10 000 `new Cron("* * * * * *", { protect: true }, fn)` jobs running the same
//                 workflow with `orchestrate`, the way a croner user would: idle and active.
//
// Lateness is measured with Date.now() (1 ms resolution). "steady" counts dispatches from 3 s on.
// CPU is user + system time from process.cpuUsage(). Numbers never fail the process.
//
// Under `deno bench` (which `deno task bench` runs on every *_bench.ts file) the file only
// registers two quick micro-benchmarks; the table above is printed by `deno run` alone.
//
// The rows of issue 15 (CPU per dispatch, 100 000 flows every second, 10 000 per-second cron
// flows), each one command measured after a warm-up with its peer beside it, are in
// bench/scheduler_rows.ts. The CPU figures here include each phase's start (the first runs and
// the JIT) and, for the active phases, a `flowstart` listener.
//
// Options: --flows=N (default 10000), --seconds=N (active phase length, default 10),
// --idle-seconds=N (default 3), --only=idle,idle-cron,staggered,burst,cron,croner-idle,croner.

import { Cron } from "croner";
import { parseArgs } from "node:util";
import { TaskConfig, Workflow } from "../mod.ts";
import { Scheduler } from "../scheduler.ts";
import { cpuMs, Samples } from "./_measure.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    flows: { type: "string", default: "10000" },
    seconds: { type: "string", default: "10" },
    "idle-seconds": { type: "string", default: "3" },
    only: { type: "string" },
  },
});
const FLOWS = Number(args.values.flows);
const SECONDS = Number(args.values.seconds);
const IDLE_SECONDS = Number(args.values["idle-seconds"]);
/** Dispatches this long after the start count as steady state (the start is a 10 000-run burst). */
const STEADY_AFTER = 3_000;

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.warn("note: run with --v8-flags=--expose-gc for stable memory numbers");
}

type Step = "start" | "done";

/** The no-op workflow every flow runs. */
function noop(): Workflow<Step> {
  return new Workflow<Step>()
    .register("start", () => "done", { config: TaskConfig.minimal() })
    .addExitState("done");
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function collect(): void {
  gc?.();
  gc?.();
}

function heapUsed(): number {
  collect();
  return Deno.memoryUsage().heapUsed;
}

/** CPU used (ms) and wall time (ms) while `body` runs. */
async function measure(body: () => Promise<void>): Promise<{ cpu: number; wall: number }> {
  const cpu0 = cpuMs();
  const wall0 = performance.now();
  await body();
  return { cpu: cpuMs() - cpu0, wall: performance.now() - wall0 };
}

interface Row {
  name: string;
  dispatches?: number;
  cpuPercent: number;
  cpuPerDispatchUs?: number;
  p50?: number;
  p99?: number;
  max?: number;
  steadyP99?: number;
  bytesPerFlow?: number;
  timers?: string;
}

const rows: Row[] = [];

// --- 1. cano idle: memory per flow and idle CPU -----------------------------------------------

async function canoIdle(kind: "every" | "cron"): Promise<void> {
  const workflow = noop();
  const before = heapUsed();
  const scheduler = new Scheduler();
  for (let i = 0; i < FLOWS; i++) {
    if (kind === "every") {
      scheduler.every(`flow-${i}`, workflow, "start", 3_600_000, { initialDelay: 3_600_000 });
    } else {
      scheduler.cron(`flow-${i}`, workflow, "start", "0 3 * * *");
    }
  }
  const running = await scheduler.start();
  await sleep(100);
  const after = heapUsed();
  const idle = await measure(() => sleep(IDLE_SECONDS * 1_000));
  await running.stop();
  rows.push({
    name: kind === "every" ? "cano: idle, every 1 h" : "cano: idle, cron 0 3 * * *",
    cpuPercent: (idle.cpu / idle.wall) * 100,
    bytesPerFlow: (after - before) / FLOWS,
    timers: "1",
  });
}

// --- 2 & 3. cano active --------------------------------------------------------------------------

type ActiveKind = "every-staggered" | "every-burst" | "cron";

async function canoActive(kind: ActiveKind): Promise<void> {
  const lateness = new Samples({ capacity: FLOWS * (SECONDS + 2) });
  const steady = new Samples({ capacity: FLOWS * (SECONDS + 2) });
  const workflow = noop();
  const scheduler = new Scheduler();
  for (let i = 0; i < FLOWS; i++) {
    if (kind === "cron") {
      scheduler.cron(`flow-${i}`, workflow, "start", "* * * * * *");
    } else {
      const initialDelay = kind === "every-staggered" ? Math.floor((i * 1_000) / FLOWS) : 0;
      scheduler.every(`flow-${i}`, workflow, "start", 1_000, { initialDelay });
    }
  }
  const start = Date.now();
  const running = await scheduler.start();
  // Lateness = dispatch time − the due time the scheduler planned (the listener's cost, an event
  // per dispatch, is included in the CPU numbers).
  running.addEventListener("flowstart", (e) => {
    const now = Date.now();
    const late = now - e.scheduledAt!.getTime();
    lateness.push(late);
    if (now - start >= STEADY_AFTER) steady.push(late);
  });
  const active = await measure(() => sleep(SECONDS * 1_000));
  await running.stop();
  const dispatches = lateness.length;
  rows.push({
    name: kind === "every-staggered"
      ? "cano: every 1 s, first runs staggered"
      : kind === "every-burst"
      ? "cano: every 1 s, all first runs at start"
      : "cano: cron * * * * * *",
    dispatches,
    cpuPercent: (active.cpu / active.wall) * 100,
    cpuPerDispatchUs: (active.cpu * 1_000) / dispatches,
    p50: lateness.percentile(50),
    p99: lateness.percentile(99),
    max: lateness.percentile(100),
    steadyP99: steady.percentile(99),
    timers: "1",
  });
}

// --- 4. croner ---------------------------------------------------------------------------------

async function cronerIdle(): Promise<void> {
  const workflow = noop();
  const before = heapUsed();
  const jobs: Cron[] = [];
  for (let i = 0; i < FLOWS; i++) {
    jobs.push(new Cron("0 3 * * *", { protect: true }, () => void workflow.orchestrate("start")));
  }
  await sleep(100);
  const after = heapUsed();
  const idle = await measure(() => sleep(IDLE_SECONDS * 1_000));
  for (const job of jobs) job.stop();
  rows.push({
    name: "croner: idle, 0 3 * * *",
    cpuPercent: (idle.cpu / idle.wall) * 100,
    bytesPerFlow: (after - before) / FLOWS,
    timers: String(FLOWS),
  });
}

async function cronerActive(): Promise<void> {
  const lateness = new Samples({ capacity: FLOWS * (SECONDS + 2) });
  const steady = new Samples({ capacity: FLOWS * (SECONDS + 2) });
  let dispatches = 0;
  const workflow = noop();
  const jobs: Cron[] = [];
  const start = Date.now();
  for (let i = 0; i < FLOWS; i++) {
    jobs.push(
      new Cron("* * * * * *", { protect: true }, async () => {
        const now = Date.now();
        lateness.push(now % 1_000);
        if (now - start >= STEADY_AFTER) steady.push(now % 1_000);
        dispatches++;
        await workflow.orchestrate("start");
      }),
    );
  }
  const active = await measure(() => sleep(SECONDS * 1_000));
  for (const job of jobs) job.stop();
  rows.push({
    name: "croner: * * * * * *",
    dispatches,
    cpuPercent: (active.cpu / active.wall) * 100,
    cpuPerDispatchUs: (active.cpu * 1_000) / dispatches,
    p50: lateness.percentile(50),
    p99: lateness.percentile(99),
    max: lateness.percentile(100),
    steadyP99: steady.percentile(99),
    timers: String(FLOWS),
  });
}

// --- run and print -----------------------------------------------------------------------------

/** Runs every phase and prints the table (`deno run`). */
async function main(): Promise<void> {
  console.log(
    `scheduler bench: ${FLOWS} flows, ${SECONDS} s active, ${IDLE_SECONDS} s idle, ` +
      `Deno ${Deno.version.deno}, V8 ${Deno.version.v8}, ${Deno.build.os}/${Deno.build.arch}`,
  );
  const only = args.values.only;
  const phases: [string, () => Promise<void>][] = [
    ["idle", () => canoIdle("every")],
    ["idle-cron", () => canoIdle("cron")],
    ["staggered", () => canoActive("every-staggered")],
    ["burst", () => canoActive("every-burst")],
    ["cron", () => canoActive("cron")],
    ["croner-idle", cronerIdle],
    ["croner", cronerActive],
  ];
  for (const [name, phase] of phases) {
    if (only === undefined || only.split(",").includes(name)) {
      await phase();
      collect();
      await sleep(500); // let the previous phase's garbage and timers settle
    }
  }

  const fmt = (value: number | undefined, digits = 1): string =>
    value === undefined || Number.isNaN(value) ? "-" : value.toFixed(digits);
  const header = [
    "phase",
    "dispatches",
    "CPU %",
    "CPU µs/dispatch",
    "late p50 ms",
    "late p99 ms",
    "late max ms",
    "steady p99 ms",
    "heap B/flow",
    "timers",
  ];
  const table = rows.map((row) => [
    row.name,
    row.dispatches === undefined ? "-" : String(row.dispatches),
    fmt(row.cpuPercent, 2),
    fmt(row.cpuPerDispatchUs),
    fmt(row.p50, 0),
    fmt(row.p99, 0),
    fmt(row.max, 0),
    fmt(row.steadyP99, 0),
    fmt(row.bytesPerFlow, 0),
    row.timers ?? "-",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    `| ${
      cells.map((c, i) => i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)).join(" | ")
    } |`;
  console.log(line(header));
  console.log(
    `| ${widths.map((w, i) => i === 0 ? "-".repeat(w) : `${"-".repeat(w - 1)}:`).join(" | ")} |`,
  );
  for (const row of table) console.log(line(row));

  const idle = rows.find((r) => r.name === "cano: idle, every 1 h");
  const every = rows.find((r) => r.name === "cano: every 1 s, first runs staggered");
  if (idle !== undefined && every !== undefined) {
    console.log(
      `\nbudgets: idle CPU < 1 %: ${fmt(idle.cpuPercent, 2)} % ${
        idle.cpuPercent < 1 ? "✓" : "✗"
      }; ` +
        `p99 lateness < 5 ms (every 1 s, staggered): ${fmt(every.p99, 0)} ms ${
          every.p99! < 5 ? "✓" : "✗"
        }; ` +
        `< 2 KiB per flow: ${fmt(idle.bytesPerFlow, 0)} B ${
          idle.bytesPerFlow! < 2_048 ? "✓" : "✗"
        }`,
    );
  }
}

if (import.meta.main) {
  await main();
} else {
  // Under `deno bench` (`deno task bench` runs every *_bench.ts), only quick micro-benchmarks.
  const workflow = noop();
  const manual = new Scheduler();
  for (let i = 0; i < 1_000; i++) manual.manual(`flow-${i}`, workflow, "start");
  const running = await manual.start(); // manual flows arm no timer: nothing keeps the process up
  let ended = 0;
  let allEnded: () => void = () => {};
  running.addEventListener("flowend", () => {
    if (++ended === 1_000) allEnded();
  });

  Deno.bench("scheduler: trigger 1 000 manual flows and await their no-op runs", async () => {
    ended = 0;
    const done = new Promise<void>((resolve) => allEnded = resolve);
    for (let i = 0; i < 1_000; i++) await running.trigger(`flow-${i}`);
    await done;
  });

  Deno.bench("scheduler: start and stop 10 000 interval flows (1 h)", async () => {
    const scheduler = new Scheduler();
    for (let i = 0; i < 10_000; i++) {
      scheduler.every(`flow-${i}`, workflow, "start", 3_600_000, { initialDelay: 3_600_000 });
    }
    await (await scheduler.start()).stop();
  });
}
