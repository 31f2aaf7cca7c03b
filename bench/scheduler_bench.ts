// `deno run -A --v8-flags=--expose-gc bench/scheduler_bench.ts`: 10 000 scheduled no-op workflows
// for 10 s of real time, cano's Scheduler next to 10 000 croner jobs doing the same, in one run.
//
// Phases, one after the other in this process:
//   1. idle     — 10 000 flows registered and started but asleep (1 h interval, no first run):
//                 heap per flow (heapUsed delta after GC / flows) and CPU while idle.
//   2. every    — 10 000 `every(1 000 ms)` flows: CPU, dispatches, lateness of each dispatch
//                 (dispatch time − due time, where due = end of the previous run + 1 000 ms,
//                 taken from a flowend listener whose cost is included).
//   3. cron     — 10 000 `cron("* * * * * *")` flows: all due on the same second boundary.
//   4. croner   — 10 000 `new Cron("* * * * * *", { protect: true }, fn)` jobs running the same
//                 workflow with `orchestrate`, the way a croner user would: idle and active.
//
// Lateness is measured with Date.now() (1 ms resolution) and is conservative by up to 1 ms. CPU
// is user + system time from process.cpuUsage(). Numbers never fail the process.
//
// Options: --flows=N (default 10000), --seconds=N (active phase length, default 10),
// --idle-seconds=N (default 3).

import { Cron } from "croner";
import process from "node:process";
import { parseArgs } from "node:util";
import { TaskConfig, Workflow } from "../mod.ts";
import { Scheduler } from "../scheduler.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    flows: { type: "string", default: "10000" },
    seconds: { type: "string", default: "10" },
    "idle-seconds": { type: "string", default: "3" },
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

function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1_000;
}

/** CPU used (ms) and wall time (ms) while `body` runs. */
async function measure(body: () => Promise<void>): Promise<{ cpu: number; wall: number }> {
  const cpu0 = cpuMs();
  const wall0 = performance.now();
  await body();
  return { cpu: cpuMs() - cpu0, wall: performance.now() - wall0 };
}

class Samples {
  #values: Float64Array;
  #length = 0;
  constructor(capacity: number) {
    this.#values = new Float64Array(capacity);
  }
  push(value: number): void {
    if (this.#length === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#length++] = value;
  }
  get length(): number {
    return this.#length;
  }
  percentile(p: number): number {
    if (this.#length === 0) return NaN;
    const sorted = this.#values.slice(0, this.#length).sort();
    return sorted[Math.min(this.#length - 1, Math.floor((p / 100) * this.#length))]!;
  }
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

async function canoIdle(): Promise<void> {
  const workflow = noop();
  const before = heapUsed();
  const scheduler = new Scheduler();
  for (let i = 0; i < FLOWS; i++) {
    scheduler.every(`flow-${i}`, workflow, "start", 3_600_000, { immediate: false });
  }
  const running = await scheduler.start();
  await sleep(100);
  const after = heapUsed();
  const idle = await measure(() => sleep(IDLE_SECONDS * 1_000));
  await running.stop();
  rows.push({
    name: "cano: idle (1 h interval)",
    cpuPercent: (idle.cpu / idle.wall) * 100,
    bytesPerFlow: (after - before) / FLOWS,
    timers: "1",
  });
}

// --- 2 & 3. cano active --------------------------------------------------------------------------

async function canoActive(kind: "every" | "cron"): Promise<void> {
  const lateness = new Samples(FLOWS * (SECONDS + 2));
  const steady = new Samples(FLOWS * (SECONDS + 2));
  const taskEnd = new Float64Array(FLOWS);
  let dispatches = 0;
  const workflow = noop();
  const scheduler = new Scheduler();
  const start = Date.now();
  for (let i = 0; i < FLOWS; i++) {
    const onDispatch = (): undefined => {
      const now = Date.now();
      const due = kind === "cron"
        ? now - (now % 1_000)
        : taskEnd[i] === 0
        ? start
        : taskEnd[i]! + 1_000;
      lateness.push(now - due);
      if (now - start >= STEADY_AFTER) steady.push(now - due);
      dispatches++;
      return undefined;
    };
    if (kind === "every") {
      scheduler.every(`flow-${i}`, workflow, "start", 1_000, { data: onDispatch });
    } else {
      scheduler.cron(`flow-${i}`, workflow, "start", "* * * * * *", { data: onDispatch });
    }
  }
  const running = await scheduler.start();
  // A run's end is its next due time − 1 000 ms (the listener's cost is in the CPU numbers).
  running.addEventListener("flowend", (e) => {
    taskEnd[Number(e.id.slice(5))] = Date.now();
  });
  const active = await measure(() => sleep(SECONDS * 1_000));
  await running.stop();
  rows.push({
    name: kind === "every" ? "cano: every 1 s" : "cano: cron * * * * * *",
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
    jobs.push(new Cron("0 0 * * *", { protect: true }, () => void workflow.orchestrate("start")));
  }
  await sleep(100);
  const after = heapUsed();
  const idle = await measure(() => sleep(IDLE_SECONDS * 1_000));
  for (const job of jobs) job.stop();
  rows.push({
    name: "croner: idle (daily)",
    cpuPercent: (idle.cpu / idle.wall) * 100,
    bytesPerFlow: (after - before) / FLOWS,
    timers: String(FLOWS),
  });
}

async function cronerActive(): Promise<void> {
  const lateness = new Samples(FLOWS * (SECONDS + 2));
  const steady = new Samples(FLOWS * (SECONDS + 2));
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

console.log(
  `scheduler bench: ${FLOWS} flows, ${SECONDS} s active, ${IDLE_SECONDS} s idle, ` +
    `Deno ${Deno.version.deno}, V8 ${Deno.version.v8}, ${Deno.build.os}/${Deno.build.arch}`,
);
await canoIdle();
await canoActive("every");
await canoActive("cron");
await cronerIdle();
await cronerActive();

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
  `| ${cells.map((c, i) => i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)).join(" | ")} |`;
console.log(line(header));
console.log(`| ${widths.map((w, i) => i === 0 ? "-".repeat(w) : `${"-".repeat(w - 1)}:`).join(" | ")} |`);
for (const row of table) console.log(line(row));

const idle = rows.find((r) => r.name.startsWith("cano: idle"))!;
const every = rows.find((r) => r.name === "cano: every 1 s")!;
console.log(
  `\nbudgets: idle CPU < 1 %: ${fmt(idle.cpuPercent, 2)} % ${idle.cpuPercent < 1 ? "✓" : "✗"}; ` +
    `p99 lateness < 5 ms (every 1 s, steady state): ${fmt(every.steadyP99, 0)} ms ${
      every.steadyP99! < 5 ? "✓" : "✗"
    } (all dispatches, start burst included: ${fmt(every.p99, 0)} ms); ` +
    `< 2 KiB per flow: ${fmt(idle.bytesPerFlow, 0)} B ${idle.bytesPerFlow! < 2_048 ? "✓" : "✗"}`,
);
