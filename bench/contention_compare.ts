// `deno task bench:contention`: several processes checkpointing on one Deno KV file. Worker
// processes (bench/_contention_worker.ts, spawned with Deno.execPath()) share a temporary KV file
// and run, at the same moments:
//
// - phase A: 5-state checkpointed runs (`new Workflow({ name })` + `withCheckpointStore(new
//   KvCheckpointStore(kv))`, states s1 … s5 then the exit state done, `orchestrate("s1", { id })`
//   with a fresh id each) for a fixed duration;
// - phase B: raw commits of the fenced append's shape (`atomic().check(key null).set(key, row)`)
//   for the same duration, retrying `database is locked` themselves with the store's jitter;
//
// alternating A/B and B/A over rounds, then the upkeep of idle runs: runs parked in a task that
// awaits a promise, on a store with a short lease, the heartbeat's KV operations and CPU counted
// while they wait. A transition is one state entered (one row): 6 per run, the exit included.
//
// Targets (from the issue): no run fails (the lock retries absorb the contention); checkpointed
// transitions/s at least 0.75× raw commits/s and at least 1,500/s on this 2-core machine (if raw
// allows it). Timings never fail the process; a failed run exits 1.
//
// Options: --workers=N (default 4), --seconds=S per phase (default 3), --rounds=N (default 4),
// --warmup-seconds=S of both phases first, untimed (default 1), --concurrency=N runs in flight per
// worker (default 1), --idle-runs=N in total (default 200),
// --idle-seconds=S (default 4), --idle-lease-ms=N (default 3000), --dir=PATH for the KV file (default
// the system's temp dir; e.g. /dev/shm for a tmpfs without fsync), --verbose (every worker line).

import { parseArgs } from "node:util";
import {
  type CommitCount,
  type KvCounts,
  kvCounts,
  type PhasePlan,
  type PhaseReport,
  ROWS_PER_RUN,
  type WorkerPlan,
} from "./_contention_worker.ts";
import { median } from "./engine_compare.ts";
import { fmt, table } from "./_format.ts";
import { DEFAULT_LOCK_BUDGET_MS } from "../src/recovery/kv_retry.ts";

const WORKER = new URL("./_contention_worker.ts", import.meta.url).pathname;
const RATIO_TARGET = 0.75;
const RATE_TARGET = 1_500;
/** Between phases: runs in flight at a phase's end finish before the next phase starts. */
const GAP_MS = 1_000;
/** Before the first phase: the workers start and open the file. */
const STARTUP_MS = 2_500;
/** The upkeep window starts once every run is parked; they start parking this long before. */
const PARK_LEAD_MS = 1_500;

type Report<K extends PhaseReport["kind"]> = Extract<PhaseReport, { kind: K }>;

function intOption(values: Record<string, unknown>, name: string, min: number): number {
  const raw = values[name];
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    throw new Error(`--${name} must be an integer ≥ ${min}, received ${String(raw)}`);
  }
  return n;
}

function sum<T>(items: readonly T[], of: (item: T) => number): number {
  return items.reduce((total, item) => total + of(item), 0);
}

function addCommits(into: CommitCount, from: CommitCount): void {
  into.commits += from.commits;
  into.checks += from.checks;
  into.mutations += from.mutations;
  into.ms += from.ms;
  into.threw += from.threw;
}

function addCounts(reports: readonly { kv: KvCounts }[]): KvCounts {
  const total = kvCounts();
  for (const { kv } of reports) {
    total.gets += kv.gets;
    total.getMs += kv.getMs;
    total.lists += kv.lists;
    addCommits(total.claim, kv.claim);
    addCommits(total.append, kv.append);
    addCommits(total.record, kv.record);
    addCommits(total.end, kv.end);
  }
  return total;
}

/** Runs the workers on one file and collects their JSON lines. */
async function runWorkers(
  file: string,
  workers: number,
  concurrency: number,
  phases: (worker: number) => PhasePlan[],
  verbose: boolean,
): Promise<PhaseReport[]> {
  const outputs = await Promise.all(
    Array.from({ length: workers }, (_, worker) => {
      const plan: WorkerPlan = { file, worker, concurrency, phases: phases(worker) };
      return new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--unstable-kv", WORKER, JSON.stringify(plan)],
        stdout: "piped",
        stderr: "piped",
      }).output();
    }),
  );
  const reports: PhaseReport[] = [];
  const decoder = new TextDecoder();
  for (const [worker, output] of outputs.entries()) {
    const stdout = decoder.decode(output.stdout);
    if (!output.success) {
      throw new Error(
        `worker ${worker} exited with ${output.code}:\n${stdout}${decoder.decode(output.stderr)}`,
      );
    }
    for (const line of stdout.split("\n")) {
      if (line.trim() === "") continue;
      if (verbose) console.log(line);
      reports.push(JSON.parse(line) as PhaseReport);
    }
  }
  return reports;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      workers: { type: "string", default: "4" },
      seconds: { type: "string", default: "3" },
      rounds: { type: "string", default: "4" },
      dir: { type: "string" },
      "warmup-seconds": { type: "string", default: "1" },
      concurrency: { type: "string", default: "1" },
      "idle-runs": { type: "string", default: "200" },
      "idle-seconds": { type: "string", default: "4" },
      "idle-lease-ms": { type: "string", default: "3000" },
      verbose: { type: "boolean", default: false },
    },
  });
  const workers = intOption(values, "workers", 1);
  const phaseMs = intOption(values, "seconds", 1) * 1000;
  const rounds = intOption(values, "rounds", 1);
  const warmupMs = intOption(values, "warmup-seconds", 0) * 1000;
  const concurrency = intOption(values, "concurrency", 1);
  const idleRuns = intOption(values, "idle-runs", 0);
  const idleMs = intOption(values, "idle-seconds", 1) * 1000;
  const idleLeaseMs = intOption(values, "idle-lease-ms", 10);
  const verbose = values.verbose;

  console.log(
    `cano on one Deno KV file shared by ${workers} processes: ${rounds} round(s) of ` +
      `${phaseMs / 1000} s checkpointed runs (5 states + exit, ${ROWS_PER_RUN} rows per run) and ` +
      `${phaseMs / 1000} s raw commits, ${concurrency} in flight per process; then ${idleRuns} ` +
      `idle runs (leaseMs ${idleLeaseMs}) for ${idleMs / 1000} s (deno ${Deno.version.deno}, ` +
      `${navigator.hardwareConcurrency} CPUs, ${Deno.build.target})\n`,
  );

  const dir = await Deno.makeTempDir({
    prefix: "cano-bench-contention-",
    ...(values.dir === undefined ? {} : { dir: values.dir }),
  });
  const file = `${dir}/shared.sqlite`;
  try {
    (await Deno.openKv(file)).close(); // created once, before the workers race to open it
    const t0 = Date.now() + STARTUP_MS;
    const schedule: PhasePlan[] = [];
    let at = t0;
    if (warmupMs > 0) {
      // Untimed (round -1): the JIT, the file and SQLite's caches warm up on both workloads.
      for (const kind of ["checkpoint", "raw"] as const) {
        schedule.push({ kind, round: -1, at, ms: warmupMs });
        at += warmupMs + GAP_MS;
      }
    }
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0
        ? ["checkpoint", "raw"] as const
        : ["raw", "checkpoint"] as const;
      for (const kind of order) {
        schedule.push({ kind, round, at, ms: phaseMs });
        at += phaseMs + GAP_MS;
      }
    }
    const upkeep = idleRuns > 0;
    if (upkeep) {
      schedule.push({
        kind: "upkeep",
        round: 0,
        at,
        ms: PARK_LEAD_MS + idleMs,
        runs: Math.ceil(idleRuns / workers),
        leaseMs: idleLeaseMs,
      });
    }
    const reports = await runWorkers(file, workers, concurrency, () => schedule, verbose);
    const of = <K extends PhaseReport["kind"]>(kind: K, round?: number): Report<K>[] =>
      reports.filter((r): r is Report<K> =>
        r.kind === kind && (round === undefined ? r.round >= 0 : r.round === round)
      );

    // ---- Throughput: checkpointed transitions vs raw commits, per round. ----
    const rows: string[][] = [];
    const ratios: number[] = [];
    const rates: number[] = [];
    const raws: number[] = [];
    let failedRuns = 0;
    let worstStore = 0;
    let worstStoreMs = 0;
    let worstRaw = 0;
    let worstRawMs = 0;
    for (let round = 0; round < rounds; round++) {
      const cp = of("checkpoint", round);
      const raw = of("raw", round);
      // Each worker's rate over its own window (its last run may end after the phase), summed.
      const rate = sum(cp, (r) => r.transitions / (r.ms / 1000));
      const rawRate = sum(raw, (r) => r.commits / (r.ms / 1000));
      const failed = sum(cp, (r) => r.failed);
      failedRuns += failed;
      const storeWorst = Math.max(...cp.map((r) => r.lock.worstRetries));
      const storeWorstMs = Math.max(...cp.map((r) => r.lock.worstRetryMs));
      const rawWorst = Math.max(...raw.map((r) => r.worstRetries));
      worstStore = Math.max(worstStore, storeWorst);
      worstStoreMs = Math.max(worstStoreMs, storeWorstMs);
      worstRaw = Math.max(worstRaw, rawWorst);
      worstRawMs = Math.max(worstRawMs, ...raw.map((r) => r.worstRetryMs));
      ratios.push(rate / rawRate);
      rates.push(rate);
      raws.push(rawRate);
      rows.push([
        String(round + 1),
        round % 2 === 0 ? "A, B" : "B, A",
        fmt(rate, 0),
        fmt(sum(cp, (r) => r.runs) / (phaseMs / 1000), 0),
        fmt(rawRate, 0),
        `${fmt(rate / rawRate, 2)}×`,
        String(failed),
        `${sum(cp, (r) => r.lock.retries)} / ${storeWorst} (${fmt(storeWorstMs, 0)} ms)`,
        `${sum(raw, (r) => r.lockErrors)} / ${rawWorst}`,
        cp.map((r) => String(r.runs)).join(" "),
        raw.map((r) => String(r.commits)).join(" "),
      ]);
      for (const r of cp) {
        if (r.firstError !== undefined) {
          console.log(
            `round ${round + 1}, worker ${r.worker}: ${r.failed} failed: ${r.firstError}`,
          );
        }
      }
    }
    console.log(`## Throughput (${workers} processes, ${phaseMs / 1000} s per phase)\n`);
    console.log(table(
      [
        "round",
        "order",
        "transitions/s",
        "runs/s",
        "raw commits/s",
        "× raw",
        "failed runs",
        "store lock retries / worst per op",
        "raw lock errors / worst",
        "runs per process",
        "raw commits per process",
      ],
      rows,
      [true, false, true, true, true, true, true, true, true, false, false],
    ));

    // ---- Where a run's KV time goes. ----
    const cp = of("checkpoint");
    const raw = of("raw");
    const counts = addCounts(cp);
    const runs = sum(cp, (r) => r.runs) + sum(cp, (r) => r.failed);
    const transitions = runs * ROWS_PER_RUN;
    const rawCommits = sum(raw, (r) => r.commits);
    const rawCommitMs = sum(raw, (r) => r.commitMs) / rawCommits;
    const rawCpuUs = (sum(raw, (r) => r.cpuMs) * 1000) / rawCommits;
    const cpCpuUs = (sum(cp, (r) => r.cpuMs) * 1000) / transitions;
    const kinds: [string, CommitCount][] = [
      ["claim (create record)", counts.claim],
      ["append (row)", counts.append],
      ["record rewrite (renew, …)", counts.record],
      ["end (delete rows + record)", counts.end],
    ];
    const commitsPerRun = sum(kinds, ([, c]) => c.commits) / runs;
    const commitMsPerRun = sum(kinds, ([, c]) => c.ms) / runs;
    console.log(`\n## KV operations per run (phase A, all rounds, ${runs} runs)\n`);
    console.log(table(
      [
        "commit",
        "attempts per run",
        "landed per run",
        "checks/commit",
        "mutations/commit",
        "ms/commit (mean, incl. lock waits)",
        "ms per run",
        "threw (locked)",
      ],
      [
        ...kinds.map(([name, c]) => [
          name,
          fmt(c.commits / runs, 2),
          fmt((c.commits - c.threw) / runs, 2),
          fmt(c.checks / c.commits, 1),
          fmt(c.mutations / c.commits, 1),
          fmt(c.ms / c.commits, 3),
          fmt(c.ms / runs, 2),
          String(c.threw),
        ]),
        [
          "raw commit (phase B)",
          fmt((rawCommits + sum(raw, (r) => r.lockErrors)) / (rawCommits / ROWS_PER_RUN), 2),
          `${ROWS_PER_RUN}.00`,
          "1.0",
          "1.0",
          fmt(rawCommitMs, 3),
          fmt(rawCommitMs * ROWS_PER_RUN, 2),
          String(sum(raw, (r) => r.lockErrors)),
        ],
      ],
      [false, true, true, true, true, true, true, true],
    ));
    // Wall time of one run as its process sees it (one run in flight at a time per process).
    const runMs = sum(cp, (r) => r.ms * concurrency) / runs;
    const rawMs = sum(raw, (r) => r.ms * concurrency) / rawCommits;
    const getMsPerRun = counts.getMs / runs;
    console.log(
      `\nper run: ${fmt(commitsPerRun, 2)} commit attempts (${ROWS_PER_RUN} landed: the claim ` +
        `with row 0, ${ROWS_PER_RUN - 2} appends, the end with the exit row) + ${
          fmt(counts.gets / runs, 2)
        } gets + ${fmt(counts.lists / runs, 2)} lists ` +
        `for ${ROWS_PER_RUN} transitions (${
          fmt(commitsPerRun / ROWS_PER_RUN, 3)
        } commit attempts ` +
        `per transition; raw: ${
          fmt((rawCommits + sum(raw, (r) => r.lockErrors)) / rawCommits, 3)
        }).`,
    );
    console.log(
      `wall per run ${fmt(runMs, 2)} ms = ${fmt(commitMsPerRun, 2)} ms awaiting commits + ` +
        `${fmt(getMsPerRun, 2)} ms awaiting gets + ${
          fmt(runMs - commitMsPerRun - getMsPerRun, 2)
        } ` +
        `ms else (engine, store, lock-retry waits); ${ROWS_PER_RUN} raw commits: ` +
        `${fmt(rawMs * ROWS_PER_RUN, 2)} ms (${fmt(rawCommitMs * ROWS_PER_RUN, 2)} ms awaiting ` +
        `commits). CPU: ${fmt(cpCpuUs)} µs per checkpointed transition, ${fmt(rawCpuUs)} µs per ` +
        "raw commit (process user + system, the KV's SQLite thread included).",
    );

    // ---- Upkeep of idle runs. ----
    let upkeepFailed = 0;
    if (upkeep) {
      const idle = of("upkeep");
      const parked = sum(idle, (r) => r.runs);
      const windowS = median(idle.map((r) => r.windowMs)) / 1000;
      const idleCounts = addCounts(idle);
      const renews = idleCounts.record.commits;
      const otherCommits = idleCounts.claim.commits + idleCounts.append.commits +
        idleCounts.end.commits;
      const cpuMs = sum(idle, (r) => r.cpuMs);
      upkeepFailed = sum(idle, (r) => r.failed);
      for (const r of idle) {
        if (r.firstError !== undefined) {
          console.log(`upkeep, worker ${r.worker}: ${r.failed} failed: ${r.firstError}`);
        }
      }
      console.log(
        `\n## Upkeep of idle runs (${parked} runs parked in a task, leaseMs ${idleLeaseMs}: ` +
          `renewed every ${Math.floor(idleLeaseMs / 3)} ms; a ${fmt(windowS, 2)} s window)\n`,
      );
      const opsInWindow = renews + otherCommits + idleCounts.gets + idleCounts.lists;
      console.log(table(
        ["per idle run", "value"],
        [
          ["KV operations per second", fmt(opsInWindow / parked / windowS, 3)],
          [
            "… renew commits per second (landed; attempts incl. locked)",
            `${fmt((renews - idleCounts.record.threw) / parked / windowS, 3)} (${
              fmt(renews / parked / windowS, 3)
            })`,
          ],
          ["… gets (cancel polls) per second", fmt(idleCounts.gets / parked / windowS, 3)],
          ["… lists per second", fmt(idleCounts.lists / parked / windowS, 3)],
          [
            "CPU per second",
            `${fmt((cpuMs * 1000) / parked / windowS)} µs (${
              fmt((cpuMs / parked / windowS / 1000) * 100, 3)
            } % of a core)`,
          ],
        ],
        [false, true],
      ));
      console.log("");
      console.log(table(
        ["per operation", "value"],
        [
          [
            "renew: checks + mutations",
            `${fmt(idleCounts.record.checks / renews, 1)} + ` +
            `${fmt(idleCounts.record.mutations / renews, 1)}`,
          ],
          [
            "renew: ms per commit as awaited (mean, queueing behind the other runs' renewals " +
            "included)",
            fmt(idleCounts.record.ms / renews, 3),
          ],
          ["raw commit: ms (phase B, mean)", fmt(rawCommitMs, 3)],
          [
            "CPU µs per KV operation in the window (process CPU / operations)",
            fmt((cpuMs * 1000) / opsInWindow),
          ],
          ["CPU µs per raw commit (phase B)", fmt(rawCpuUs)],
          ["other commits in the window (must be 0)", String(otherCommits)],
          [
            "store lock retries / worst per operation (whole phase)",
            `${sum(idle, (r) => r.lock.retries)} / ${
              Math.max(...idle.map((r) => r.lock.worstRetries))
            } (${
              fmt(Math.max(...idle.map((r) => r.lock.worstRetryMs)), 0)
            } ms; budget ${DEFAULT_LOCK_BUDGET_MS} ms)`,
          ],
          ["failed runs", String(upkeepFailed)],
        ],
        [false, true],
      ));
    }

    const ratio = median(ratios);
    const rate = median(rates);
    const rawRate = median(raws);
    console.log(
      `\n${ratio >= RATIO_TARGET ? "PASS" : "FAIL"}: checkpointed transitions/s ${fmt(rate, 0)} ` +
        `vs raw commits/s ${fmt(rawRate, 0)}: ${fmt(ratio, 2)}× (median of ${rounds} rounds' ` +
        `ratios, ${fmt(Math.min(...ratios), 2)}–${fmt(Math.max(...ratios), 2)}; all rounds ` +
        `together ${
          fmt(sum(rates, (r) => r) / sum(raws, (r) => r), 2)
        }×; target ≥ ${RATIO_TARGET}×)`,
    );
    console.log(
      `${rate >= RATE_TARGET ? "PASS" : rawRate * RATIO_TARGET < RATE_TARGET ? "N/A " : "FAIL"}: ${
        fmt(rate, 0)
      } transitions/s (target ≥ ${RATE_TARGET}/s if raw allows it: ` +
        `${RATIO_TARGET}× raw is ${fmt(rawRate * RATIO_TARGET, 0)}/s)`,
    );
    const failed = failedRuns + upkeepFailed;
    console.log(
      `${failed === 0 ? "PASS" : "FAIL"}: ${failed} failed runs; worst lock retries of one ` +
        `store operation ${worstStore} (${fmt(worstStoreMs, 0)} ms), of one raw commit ` +
        `${worstRaw} (${fmt(worstRawMs, 0)} ms)`,
    );
    if (failed > 0) Deno.exitCode = 1;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
