// `deno task bench:wait`: what 10,000 runs cost while they wait. The claim (issue 12): a run parked
// in a wait state (`registerWait`, `orchestrate(…, { onWait: "return" })`) costs this process
// nothing while it waits — no timer, no lease upkeep, no KV operation, no CPU — because it is only
// a record in the store. Measured next to the same 10,000 runs parked through `orchestrate`'s
// default `onWait: "wait"` (this process waits for them: one wake-up timer per store, one
// `listExpired` page a second and a few record reads per tick), and next to 10,000 *running* runs
// blocked in a plain task, the peer: each one owned, its lease heartbeat polling for a cancel
// request once a second and renewing the lease every `leaseMs / 3` (10 s by default).
//
// Each scenario runs in its own child process (this script with `--child=<kind>:<store>`), so
// that no scenario's timers, heap or leftover runs leak into another:
//   1. heap used (after two GCs: the children run with --v8-flags=--expose-gc) before the runs;
//   2. N runs started and parked (or blocked) — `orchestrate` calls a few hundred at a time;
//   3. every run checked where it must be — parked runs by `listRuns({ status: "waiting" })`
//      pages (N of them), running ones by their tasks (N entered, none settled) — heap again;
//   4. after a short settle (500 ms), an idle window (3 s): process CPU time
//      (`process.cpuUsage()`), timers created (`setTimeout` / `setInterval` wrapped to count) and
//      KV operations (a counting `KvLike`, bench/_kv_counting.ts: gets, list calls and the
//      entries they yielded, commits).
//
// Scenarios (`--scenarios=<kind>:<store>,…`, or `all`): by default `idle:memory` (the same child
// with no run at all: the CPU floor of an idle Deno process), `return:file` and `return:memory`
// (the claim), `wait:memory` and `running:memory` (the peers). The peers run on `:memory:` only
// by default: 10,000 running runs on a KV file on a disk could not be kept alive on the 2-vCPU
// machine this was written on (their once-a-second cancel polls outran SQLite and leases were
// lost while the runs were still being started), and each file scenario is 10,000–30,000 commits
// of setup (`wait:file` and `running:file` are there, slower).
//
// Nothing is enforced but the work: the exit code is 1 only if a parked scenario did not find all N
// runs parked (the claim's PASS/FAIL lines are printed, never enforced).
//
// Options: --runs=N (default 10000), --window=MS (3000), --settle=MS (500), --scenarios=…,
// --dir=PATH (where the KV files go; default a temp dir in /dev/shm when there is one, else in the
// system temp dir), --batch=N (orchestrate calls in flight while setting up, 1000), --lease-ms=MS
// (the store's lease; 30000, its default: a running run polls its record once a second and renews
// its lease every 10 s).

import process from "node:process";
import { parseArgs } from "node:util";
import { KvCheckpointStore } from "../kv.ts";
import { TaskConfig, Workflow } from "../mod.ts";
import { CountingKv } from "./_kv_counting.ts";
import { fmt, table } from "./_format.ts";

type Kind = "idle" | "return" | "wait" | "running";
type Backend = "file" | "memory";

const KINDS: Record<Kind, string> = {
  idle: "none (the idle process)",
  return: 'parked, onWait: "return"',
  wait: 'parked, onWait: "wait"',
  running: "running, blocked in a task",
};

/** What a child reports, one JSON line. */
interface Report {
  kind: Kind;
  store: Backend;
  runs: number;
  /** Runs found where they must be (parked, or running). */
  found: number;
  setupMs: number;
  /** Listing the runs to check them. */
  checkMs: number;
  heapBefore: number;
  heapAfter: number;
  windowMs: number;
  cpuMs: number;
  timers: number;
  gets: number;
  lists: number;
  entries: number;
  commits: number;
  /** Runs whose orchestrate settled or failed during the window (none should). */
  settled: number;
  /** …and before it, while setting up. */
  settledBefore: number;
  /** KV commits and gets while setting the runs up (and checking them), per run. */
  setupCommits: number;
  setupGets: number;
  error?: string;
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "10000" },
    window: { type: "string", default: "3000" },
    scenarios: {
      type: "string",
      default: "idle:memory,return:file,return:memory,wait:memory,running:memory",
    },
    batch: { type: "string", default: "1000" },
    "lease-ms": { type: "string", default: "30000" },
    settle: { type: "string", default: "500" },
    child: { type: "string" },
    dir: { type: "string" },
  },
});

function int(name: string, text: string, min: number): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min) {
    throw new Error(`--${name} must be an integer ≥ ${min}, received ${text}`);
  }
  return value;
}

const RUNS = int("runs", values.runs, 1);
const WINDOW_MS = int("window", values.window, 100);
const BATCH = int("batch", values.batch, 1);
const LEASE_MS = int("lease-ms", values["lease-ms"], 100);
const SETTLE_MS = int("settle", values.settle, 0);

// ---- Child: one scenario. ---------------------------------------------------------------------

/** Counts the timers created while `counting` is on (wraps the globals every module calls). */
const timers = { counting: false, created: 0 };
function countTimers(): void {
  const realTimeout = globalThis.setTimeout;
  const realInterval = globalThis.setInterval;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    if (timers.counting) timers.created += 1;
    return realTimeout(...args);
  }) as typeof setTimeout;
  globalThis.setInterval = ((...args: Parameters<typeof setInterval>) => {
    if (timers.counting) timers.created += 1;
    return realInterval(...args);
  }) as typeof setInterval;
}

/** A store that counts the runs it parked (to know when N `onWait: "wait"` runs are parked). */
class CountingStore extends KvCheckpointStore {
  parked = 0;

  override async park(
    ...args: Parameters<KvCheckpointStore["park"]>
  ): ReturnType<KvCheckpointStore["park"]> {
    const result = await super.park(...args);
    if (result.parked) this.parked += 1;
    return result;
  }
}

const gc = (globalThis as { gc?: () => void }).gc;

function heapUsed(): number {
  gc?.();
  gc?.();
  return Deno.memoryUsage().heapUsed;
}

function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1_000;
}

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

/** Resolves once `done()` holds, checking after each macrotask; rejects after `ms`. */
async function until(what: string, done: () => boolean, ms = 60_000): Promise<void> {
  const end = performance.now() + ms;
  while (!done()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await tick();
  }
}

/** How many runs the store lists with `status` (every page). */
async function countRuns(store: KvCheckpointStore, status: "waiting"): Promise<number> {
  let count = 0;
  let cursor: string | undefined;
  do {
    const page = await store.listRuns({ status, limit: 1_000, cursor });
    count += page.runs.length;
    cursor = page.cursor;
  } while (cursor !== undefined);
  return count;
}

async function child(spec: string): Promise<void> {
  const [kind, backend] = spec.split(":") as [Kind, Backend];
  if (!(kind in KINDS) || (backend !== "file" && backend !== "memory")) {
    throw new Error(`--child must be <idle|return|wait|running>:<file|memory>, received ${spec}`);
  }
  if (gc === undefined) console.error("note: run with --v8-flags=--expose-gc for heap numbers");
  countTimers();
  const kv = await Deno.openKv(
    backend === "memory" ? ":memory:" : `${values.dir ?? "."}/wait-${kind}.sqlite3`,
  );
  const counting = new CountingKv(kv);
  const store = new CountingStore(counting, { leaseMs: LEASE_MS });

  type Step = "ask" | "work" | "ship" | "expired" | "done";
  let entered = 0;
  let settled = 0;
  const gate = new Promise<never>(() => {}); // the blocked task never ends during the benchmark
  const workflow = new Workflow<Step>({ name: "bench-wait" })
    .registerWait("ask", {
      events: { approved: "ship" },
      timeout: { after: 48 * 3_600_000, next: "expired" },
    })
    .register("work", () => {
      entered += 1;
      return gate; // a plain task that is still working: its run is owned, its lease renewed
    }, { config: TaskConfig.minimal() })
    .register("ship", () => "done")
    .register("expired", () => "done")
    .addExitState("done")
    .withCheckpointStore(store);

  const runs = kind === "idle" ? 0 : RUNS; // the baseline: the same process with no run at all
  const heapBefore = heapUsed();
  const started = performance.now();
  let notParked = 0;
  let firstError: string | undefined;
  const noteError = (error: unknown): void => {
    settled += 1;
    firstError ??= String((error as Error)?.message ?? error);
  };
  for (let start = 0; start < runs; start += BATCH) {
    const ids = Array.from({ length: Math.min(BATCH, runs - start) }, (_, i) => `run-${start + i}`);
    if (kind === "return") {
      await Promise.all(ids.map(async (id) => {
        const result = await workflow.orchestrate("ask", { id, onWait: "return" });
        if (result.status !== "waiting") notParked += 1;
      }));
    } else {
      // These calls stay pending: count the parks (or the blocked tasks) instead.
      const target = start + ids.length;
      for (const id of ids) {
        const run = kind === "wait"
          ? workflow.orchestrate("ask", { id })
          : workflow.orchestrate("work", { id });
        run.then(() => void (settled += 1), noteError);
      }
      const reached = kind === "wait" ? () => store.parked >= target : () => entered >= target;
      await until(`${target} runs to ${kind === "wait" ? "park" : "block"}`, () => {
        // A parked run must not settle; a running one that does (its lease lost) is reported.
        if (settled > 0 && kind === "wait") {
          throw new Error(`a run settled while setting up: ${firstError}`);
        }
        return reached();
      });
    }
  }
  await tick(); // the last parked "wait" runs hand themselves to the waker
  const setupMs = performance.now() - started;
  const checkStarted = performance.now();
  // Parked runs are counted in the store; running ones by their tasks (listing 10,000 records
  // while 10,000 heartbeats poll takes many seconds): each entered it, owned and checkpointed.
  const found = kind === "running" ? entered - settled : await countRuns(store, "waiting");
  const checkMs = performance.now() - checkStarted;
  if (notParked > 0) firstError ??= `${notParked} runs ended instead of parking`;
  const heapAfter = heapUsed();
  const setupCommits = counting.commits / Math.max(1, runs);
  const setupGets = counting.gets / Math.max(1, runs);

  // ---- The idle window: nothing is due, nothing should run. ----
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS)); // setup's GC and I/O settle
  counting.reset();
  const windowEnd = new Promise((resolve) => setTimeout(resolve, WINDOW_MS)); // not counted
  timers.created = 0;
  timers.counting = true;
  const cpu0 = cpuMs();
  const wall0 = performance.now();
  const settledBefore = settled;
  await windowEnd;
  const cpu = cpuMs() - cpu0;
  const windowMs = performance.now() - wall0;
  timers.counting = false;
  const report: Report = {
    kind,
    store: backend,
    runs,
    found,
    setupMs,
    checkMs,
    heapBefore,
    heapAfter,
    windowMs,
    cpuMs: cpu,
    timers: timers.created,
    gets: counting.gets,
    lists: counting.lists,
    entries: counting.entries,
    commits: counting.commits,
    settled: settled - settledBefore,
    settledBefore,
    setupCommits,
    setupGets,
    ...(firstError === undefined ? {} : { error: firstError }),
  };
  console.log(JSON.stringify(report));
  // The pending runs, leases and timers die with the process: nothing to clean up.
  Deno.exit(0);
}

// ---- Parent: every scenario in its own process, then the table. ------------------------------

async function runChild(kind: Kind, backend: Backend, dir: string): Promise<Report> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      new URL(import.meta.url).pathname,
      `--child=${kind}:${backend}`,
      `--runs=${RUNS}`,
      `--window=${WINDOW_MS}`,
      `--batch=${BATCH}`,
      `--lease-ms=${LEASE_MS}`,
      `--settle=${SETTLE_MS}`,
      `--dir=${dir}`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout).trim();
  const stderr = new TextDecoder().decode(output.stderr).trim();
  const line = stdout.split("\n").findLast((text) => text.startsWith("{"));
  if (output.code !== 0 || line === undefined) {
    throw new Error(
      `scenario ${kind}:${backend} failed (exit ${output.code}):\n${stdout}\n${stderr}`,
    );
  }
  return JSON.parse(line) as Report;
}

const mb = (bytes: number): string => fmt(bytes / 1_048_576, 1);

async function parent(): Promise<void> {
  const began = performance.now();
  const text = values.scenarios === "all"
    ? "idle:memory,return:file,wait:file,running:file,return:memory,wait:memory,running:memory"
    : values.scenarios;
  const scenarios = text.split(",").map((part) => part.trim().split(":") as [Kind, Backend]);
  for (const [kind, backend] of scenarios) {
    if (!(kind in KINDS) || (backend !== "file" && backend !== "memory")) {
      throw new Error(
        `--scenarios: bad scenario ${kind}:${backend} (<idle|return|wait|running>:<file|memory>)`,
      );
    }
  }
  console.log(
    `cano wait states: ${RUNS.toLocaleString("en-US")} runs per scenario, then an idle window ` +
      `of ${WINDOW_MS} ms; leaseMs ${LEASE_MS}; each scenario in its own process (deno ` +
      `${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs, ${Deno.build.target})\n`,
  );
  // The KV files go to tmpfs when there is one: parking 10,000 runs is 30,000 commits, which on a
  // shared VM disk takes 15–30 s; the idle window does not touch the file either way.
  const shm = values.dir === undefined &&
    await Deno.stat("/dev/shm").then((i) => i.isDirectory, () => false);
  const dir = await Deno.makeTempDir({
    prefix: "cano-bench-wait-",
    ...(values.dir !== undefined ? { dir: values.dir } : shm ? { dir: "/dev/shm" } : {}),
  });
  console.log(`KV files in ${dir}${shm ? " (tmpfs; --dir=<path> to put them elsewhere)" : ""}`);
  const reports: Report[] = [];
  try {
    for (const [kind, backend] of scenarios) {
      const report = await runChild(kind, backend, dir);
      reports.push(report);
      console.log(
        `${backend.padEnd(6)} ${KINDS[kind].padEnd(28)} set up in ${
          fmt(report.setupMs / 1_000, 1)
        } s (${fmt(report.setupCommits, 1)} commits per run), checked in ${
          fmt(report.checkMs / 1_000, 1)
        } s`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const seconds = (r: Report): number => r.windowMs / 1_000;
  const label = (backend: Backend): string => (backend === "file" ? "KV file" : ":memory:");
  const perRun = (r: Report): string =>
    r.runs === 0 ? "—" : fmt((r.heapAfter - r.heapBefore) / r.runs, 0);
  const rows = reports.map((r) => [
    KINDS[r.kind],
    label(r.store),
    `${r.found.toLocaleString("en-US")}/${r.runs.toLocaleString("en-US")}`,
    mb(r.heapBefore),
    mb(r.heapAfter),
    perRun(r),
    fmt(r.cpuMs, 1),
    fmt((100 * r.cpuMs) / r.windowMs, 2),
    String(r.timers),
    fmt(r.timers / seconds(r), 1),
    String(r.gets),
    `${r.lists} (${r.entries})`,
    String(r.commits),
  ]);
  const header = [
    "runs",
    "store",
    "where they must be",
    "heap before MB",
    "heap after MB",
    "heap B/run",
    "window CPU ms",
    "CPU %",
    "timers",
    "timers/s",
    "KV gets",
    "KV lists (entries)",
    "KV commits",
  ];
  console.log(`\n${table(header, rows, header.map((_, c) => c > 1))}\n`);

  let ok = true;
  for (const r of reports) {
    const what = `${label(r.store)}, ${KINDS[r.kind]}`;
    if (r.found !== r.runs) {
      const where = r.kind === "running" ? "running" : "parked";
      console.log(`${what}: only ${r.found} of ${r.runs} runs were ${where}`);
      if (r.kind === "return" || r.kind === "wait") ok = false;
    }
    if (r.settled > 0 || r.settledBefore > 0 || r.error !== undefined) {
      console.log(
        `${what}: ${r.settledBefore} runs settled while setting up, ${r.settled} during the ` +
          `window (first error: ${r.error ?? "none"})`,
      );
    }
  }
  // The claim: parked runs cost what the same process with no run costs (an idle Deno process
  // still spends a few ms of CPU per second in V8's background work), and no timer or KV op.
  const idle = reports.find((r) => r.kind === "idle");
  const floor = idle === undefined ? 0 : (100 * idle.cpuMs) / idle.windowMs;
  for (const parked of reports.filter((r) => r.kind === "return")) {
    const ops = parked.gets + parked.lists + parked.commits;
    const cpu = (100 * parked.cpuMs) / parked.windowMs;
    const pass = parked.timers === 0 && ops === 0 && cpu < floor + 1;
    console.log(
      `${label(parked.store)}: ${parked.runs.toLocaleString("en-US")} parked runs (onWait ` +
        `"return") over ${fmt(seconds(parked), 1)} s: ${parked.timers} timers, ${ops} KV ` +
        `operations, ${fmt(cpu, 2)}% CPU${
          idle === undefined ? "" : ` (no runs: ${fmt(floor, 2)}%)`
        }` +
        ` → ${pass ? "PASS" : "FAIL"} (0 timers, 0 KV ops, CPU within 1 point of no runs)`,
    );
  }
  const base = reports.find((r) => r.kind === "return" && r.store === "memory") ??
    reports.find((r) => r.kind === "return");
  for (const other of reports.filter((r) => r.kind === "wait" || r.kind === "running")) {
    const per = (n: number): string => fmt(n / seconds(other), 1);
    const ratio = base === undefined || base.cpuMs <= 0
      ? ""
      : ` (${fmt(other.cpuMs / base.cpuMs, 0)}× the parked runs')`;
    console.log(
      `vs ${label(other.store)}, ${KINDS[other.kind]}: ${per(other.timers)} timers/s, ` +
        `${per(other.gets)} gets/s, ${per(other.lists)} lists/s, ` +
        `${per(other.commits)} commits/s, ` +
        `${fmt((100 * other.cpuMs) / other.windowMs, 1)}% CPU${ratio}, ` +
        `${perRun(other)} B/run of heap`,
    );
  }
  console.log(`\n(${fmt((performance.now() - began) / 1_000, 1)} s in all)`);
  if (!ok) Deno.exit(1);
}

if (import.meta.main) {
  if (values.child !== undefined) await child(values.child);
  else await parent();
}
