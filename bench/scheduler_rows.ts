// The scheduler rows of issue 15, one command each, every figure measured in one run with its peer
// beside it (same process, one phase after the other):
//
//   deno run -A --v8-flags=--expose-gc bench/scheduler_rows.ts --row=dispatch
//     10 000 `every(1 s)` no-op flows, first runs staggered over the first second: CPU per
//     dispatch with no listener (the scheduler's own cost plus the engine's run) and with a
//     `flowstart` listener (lateness). Peer: the floor, one `setTimeout` per flow re-armed after
//     each run, running the same engine entry point with its own `AbortController`.
//   deno run -A --v8-flags=--expose-gc bench/scheduler_rows.ts --row=every100k
//     100 000 `every(1 s)` flows, staggered the same way, with a `flowstart` listener: CPU (share
//     of one core) and lateness. Peer: the same floor with 100 000 timers.
//   deno run -A --v8-flags=--expose-gc bench/scheduler_rows.ts --row=cron
//     10 000 `cron("* * * * * *")` flows (all due on the same second boundary), with a
//     `flowstart` listener: CPU and lateness. Peer: croner's own scheduling, 10 000
//     `new Cron("* * * * * *", { protect: true }, fn)` jobs running the same workflow with
//     `orchestrate` (as a croner user would); and a floor, one `setTimeout` a second noting the
//     lateness of all 10 000 flows, then running them.
//
// CPU is user + system time of the whole process (GC threads included) from process.cpuUsage(),
// over the measured window only: each phase runs `--warmup` seconds (default 3: the JIT, and the
// bunching of the first runs) before its `--seconds` (default 10) are measured. Lateness is
// dispatch time − due time in whole ms (Date.now()): for cano the due time the scheduler planned
// (`flowstart`'s `scheduledAt`), for the floor the time its timer was armed for, for croner the ms
// past the second boundary. A dispatch counts when its run starts (its no-op task runs). The cron
// row also gives "task start p99": how far past the tick the task itself ran, the same measure
// for cano (whose runs a turn starts one after another, after all their flowstart events) and
// croner (whose callback runs orchestrate).
// Options: --flows=N (default per row), --seconds=N, --warmup=N, --peer=false (cano only).

import { Cron } from "croner";
import { parseArgs } from "node:util";
import { TaskConfig, Workflow } from "../mod.ts";
import { Scheduler } from "../scheduler.ts";
import { runWithExternalResources } from "../src/workflow/workflow.ts";
import { fmt, table } from "./_format.ts";
import { cpuMs, Samples } from "./_measure.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    row: { type: "string", default: "dispatch" },
    flows: { type: "string" },
    seconds: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    peer: { type: "string", default: "true" },
  },
});
const ROW = args.values.row;
const SECONDS = Number(args.values.seconds);
const WARMUP = Number(args.values.warmup);
const PEER = args.values.peer !== "false";
const DEFAULT_FLOWS: Record<string, number> = {
  dispatch: 10_000,
  every100k: 100_000,
  cron: 10_000,
};
if (DEFAULT_FLOWS[ROW] === undefined) {
  throw new Error(`--row must be one of ${Object.keys(DEFAULT_FLOWS).join(", ")}`);
}
const FLOWS = Number(args.values.flows ?? DEFAULT_FLOWS[ROW]);

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) console.warn("note: run with --v8-flags=--expose-gc");

type Step = "start" | "done";

/** Counts the runs that really started: the no-op task increments it. */
let started = 0;
/** Cron rows: how far past the second boundary each task ran (its tick), in ms. */
let taskLateness: Samples | undefined;

/** The no-op workflow every flow runs. */
function noop(): Workflow<Step> {
  return new Workflow<Step>()
    .register("start", () => {
      started++;
      taskLateness?.push(Date.now() % 1_000);
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done");
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Row {
  name: string;
  dispatches: number;
  cpuPercent: number;
  cpuPerDispatchUs: number;
  p50: number;
  p99: number;
  max: number;
  /** Cron rows: p99 of the time from the tick to the task's start. */
  taskP99: number;
  timers: string;
}

const rows: Row[] = [];

/** Runs `arm`'s flows for the warm-up, then measures `SECONDS`; `disarm` stops them. */
async function phase(
  name: string,
  timers: string,
  lateness: Samples | undefined,
  arm: () => Promise<void>,
  disarm: () => Promise<void>,
): Promise<void> {
  gc?.();
  await arm();
  await sleep(WARMUP * 1_000);
  const runs0 = started;
  const cpu0 = cpuMs();
  const wall0 = performance.now();
  if (lateness !== undefined) lateness.open = true;
  if (taskLateness !== undefined) taskLateness.open = true;
  await sleep(SECONDS * 1_000);
  if (lateness !== undefined) lateness.open = false;
  if (taskLateness !== undefined) taskLateness.open = false;
  const cpu = cpuMs() - cpu0;
  const wall = performance.now() - wall0;
  const dispatches = started - runs0;
  await disarm();
  rows.push({
    name,
    dispatches,
    cpuPercent: (cpu / wall) * 100,
    cpuPerDispatchUs: (cpu * 1_000) / dispatches,
    p50: lateness?.percentile(50) ?? NaN,
    p99: lateness?.percentile(99) ?? NaN,
    max: lateness?.percentile(100) ?? NaN,
    taskP99: taskLateness?.percentile(99) ?? NaN,
    timers,
  });
  if (taskLateness !== undefined) taskLateness = new Samples({ open: false });
  gc?.();
  await sleep(500); // let the phase's garbage and timers settle
}

/** cano: FLOWS `every(1 s)` flows staggered over the first second, or per-second cron flows. */
function cano(kind: "every" | "cron", listener: boolean): Promise<void> {
  const lateness = listener ? new Samples({ open: false }) : undefined;
  const workflow = noop();
  let stop = (): Promise<void> => Promise.resolve();
  const label = kind === "every" ? "every 1 s, staggered" : "cron * * * * * *";
  return phase(
    `cano: ${FLOWS} × ${label}, ${listener ? "flowstart listener" : "no listener"}`,
    "1",
    lateness,
    async () => {
      const scheduler = new Scheduler();
      for (let i = 0; i < FLOWS; i++) {
        if (kind === "cron") scheduler.cron(`flow-${i}`, workflow, "start", "* * * * * *");
        else {
          const initialDelay = Math.floor((i * 1_000) / FLOWS);
          scheduler.every(`flow-${i}`, workflow, "start", 1_000, { initialDelay });
        }
      }
      const running = await scheduler.start();
      if (lateness !== undefined) {
        running.addEventListener("flowstart", (e) => {
          lateness.push(Date.now() - e.scheduledAt!.getTime());
        });
      }
      stop = () => running.stop();
    },
    () => stop(),
  );
}

/** The floor: a `setTimeout` per flow, re-armed 1 s after each run ends (cano's fixed delay). */
function floor(): Promise<void> {
  const lateness = new Samples({ open: false });
  const workflow = noop();
  let stopped = false;
  const handles = new Set<ReturnType<typeof setTimeout>>();
  const arm = (due: number): void => {
    const handle = setTimeout(async () => {
      handles.delete(handle);
      if (stopped) return;
      lateness.push(Date.now() - due);
      const controller = new AbortController(); // cancellable, like a scheduled run
      try {
        await runWithExternalResources(workflow, "start", { signal: controller.signal });
      } catch { /* a no-op run does not fail */ }
      if (!stopped) arm(Date.now() + 1_000);
    }, Math.max(0, due - Date.now()));
    handles.add(handle);
  };
  return phase(
    `floor: ${FLOWS} × setTimeout loop, 1 s`,
    String(FLOWS),
    lateness,
    () => {
      const start = Date.now();
      for (let i = 0; i < FLOWS; i++) arm(start + Math.floor((i * 1_000) / FLOWS));
      return Promise.resolve();
    },
    () => {
      stopped = true;
      for (const handle of handles) clearTimeout(handle);
      return Promise.resolve();
    },
  );
}

/**
 * The floor of the cron row: one `setTimeout` per second boundary, whose callback notes each
 * flow's lateness (as cano's `flowstart` listener does) and then starts the flows' runs one after
 * another: the least any scheduler of 10,000 per-second flows can do, so its p99 is what the
 * machine's timer and GC leave to anyone.
 */
function cronFloor(): Promise<void> {
  const lateness = new Samples({ open: false });
  const workflow = noop();
  let stopped = false;
  let handle: ReturnType<typeof setTimeout> | undefined;
  const arm = (): void => {
    const due = (Math.floor(Date.now() / 1_000) + 1) * 1_000;
    handle = setTimeout(async () => {
      if (stopped) return;
      for (let i = 0; i < FLOWS; i++) lateness.push(Date.now() - due);
      arm();
      for (let i = 0; i < FLOWS && !stopped; i++) {
        try {
          await runWithExternalResources(workflow, "start", {
            signal: new AbortController().signal,
          });
        } catch { /* a no-op run does not fail */ }
      }
    }, due - Date.now());
  };
  return phase(
    `floor: 1 setTimeout a second, ${FLOWS} runs each`,
    "1",
    lateness,
    () => {
      arm();
      return Promise.resolve();
    },
    () => {
      stopped = true;
      clearTimeout(handle);
      return Promise.resolve();
    },
  );
}

/** croner's own scheduling: a job per flow, running the workflow with `orchestrate`. */
function croner(): Promise<void> {
  const lateness = new Samples({ open: false });
  const workflow = noop();
  const jobs: Cron[] = [];
  return phase(
    `croner: ${FLOWS} × new Cron("* * * * * *", { protect: true })`,
    String(FLOWS),
    lateness,
    () => {
      for (let i = 0; i < FLOWS; i++) {
        jobs.push(
          new Cron("* * * * * *", { protect: true }, async () => {
            lateness.push(Date.now() % 1_000);
            await workflow.orchestrate("start");
          }),
        );
      }
      return Promise.resolve();
    },
    () => {
      for (const job of jobs) job.stop();
      return Promise.resolve();
    },
  );
}

console.log(
  `scheduler rows (--row=${ROW}): ${FLOWS} flows, ${WARMUP} s warm-up + ${SECONDS} s measured, ` +
    `Deno ${Deno.version.deno}, V8 ${Deno.version.v8}, ${Deno.build.os}/${Deno.build.arch}, ` +
    `load average ${Deno.loadavg().map((n) => n.toFixed(2)).join(" ")}`,
);
if (ROW === "dispatch") {
  await cano("every", false);
  await cano("every", true);
  if (PEER) await floor();
} else if (ROW === "every100k") {
  await cano("every", true);
  if (PEER) await floor();
} else {
  taskLateness = new Samples({ open: false });
  await cano("cron", true);
  if (PEER) await cronFloor();
  if (PEER) await croner();
}
console.log(table(
  [
    "phase",
    "dispatches",
    "CPU % of a core",
    "CPU µs/dispatch",
    "late p50 ms",
    "p99",
    "max",
    "task start p99",
    "timers",
  ],
  rows.map((row) => [
    row.name,
    String(row.dispatches),
    fmt(row.cpuPercent, 1),
    fmt(row.cpuPerDispatchUs, 2),
    fmt(row.p50, 0),
    fmt(row.p99, 0),
    fmt(row.max, 0),
    fmt(row.taskP99, 0),
    row.timers,
  ]),
));
const first = rows[0]!;
const target = ROW === "dispatch"
  ? `CPU per dispatch ≤ 5 µs: ${fmt(rows[0]!.cpuPerDispatchUs, 2)} µs ${
    rows[0]!.cpuPerDispatchUs <= 5 ? "✓" : "✗"
  }`
  : ROW === "every100k"
  ? `< 60 % of a core: ${fmt(first.cpuPercent, 1)} % ${first.cpuPercent < 60 ? "✓" : "✗"}; ` +
    `p99 < 20 ms: ${fmt(first.p99, 0)} ms ${first.p99 < 20 ? "✓" : "✗"}`
  : `≤ 15 % CPU: ${fmt(first.cpuPercent, 1)} % ${first.cpuPercent <= 15 ? "✓" : "✗"}; ` +
    `p99 < 10 ms: ${fmt(first.p99, 0)} ms ${first.p99 < 10 ? "✓" : "✗"}`;
console.log(`\ntarget (issue 15): ${target}`);
Deno.exit(0); // croner's stopped jobs and the floor's cleared timers hold nothing, but be sure
