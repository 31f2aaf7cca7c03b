// One worker process of `deno task bench:contention` (bench/contention_compare.ts): it opens the
// shared KV file and runs the phases of the plan it is given at the times the plan says, so that
// every worker runs the same phase at the same moment, printing one JSON line per phase.
//
//   deno run -A --unstable-kv bench/_contention_worker.ts <plan JSON>
//
// Phases:
// - "checkpoint": 5-state checkpointed runs (s1 … s5, then the exit state done: 6 rows per run),
//   each under a fresh id, `concurrency` at a time, started until the phase's end;
// - "raw": raw commits of the fenced append's shape (`check(key null)` + `set` of a row-sized
//   value) on fresh keys, retrying `database is locked` with the store's jitter and counting;
// - "upkeep": `runs` checkpointed runs parked in a task that awaits a promise, on a store with a
//   short lease; the KV operations and CPU of the heartbeat are counted in a window while they wait.

import process from "node:process";
import { KvCheckpointStore } from "../kv.ts";
import { TaskConfig, Workflow } from "../mod.ts";
import {
  DEFAULT_LOCK_BASE_DELAY,
  DEFAULT_LOCK_MAX_DELAY,
  lockRetryStats,
  type LockStats,
  resetLockRetryStats,
} from "../src/recovery/kv_retry.ts";
import { type CommitShape, CountingKvBase, type Settled } from "./_kv_counting.ts";
import { openKvRetrying } from "../tests/_subprocess.ts";

/** What the parent asks a worker to do. */
export interface WorkerPlan {
  /** The KV file. */
  readonly file: string;
  /** The worker's index (for ids and keys). */
  readonly worker: number;
  /** Runs (or raw commit loops) in flight at once per worker. */
  readonly concurrency: number;
  readonly phases: readonly PhasePlan[];
}

/** One phase: what, when (epoch ms) and for how long. */
export type PhasePlan =
  | {
    readonly kind: "checkpoint" | "raw";
    readonly round: number;
    readonly at: number;
    readonly ms: number;
  }
  | {
    readonly kind: "upkeep";
    readonly round: number;
    readonly at: number;
    /** How long the runs stay parked, in ms (the window is the part after all are parked). */
    readonly ms: number;
    readonly runs: number;
    readonly leaseMs: number;
  };

/** KV operations of one kind of commit. */
export interface CommitCount {
  commits: number;
  checks: number;
  mutations: number;
  /** Wall time awaiting these commits, in ms (lock retries of the store included per attempt). */
  ms: number;
  /** Commits that threw (e.g. `database is locked`, then retried by the store). */
  threw: number;
}

/** The counts of a counting KvLike. */
export interface KvCounts {
  gets: number;
  /** Wall time awaiting gets, in ms. */
  getMs: number;
  lists: number;
  /** A commit that creates a run record (checks it absent). */
  claim: CommitCount;
  /** A commit that sets a row. */
  append: CommitCount;
  /** A commit that rewrites the run record and no row (renew, release, mark failed). */
  record: CommitCount;
  /** A commit that only deletes (the end of a completed run). */
  end: CommitCount;
}

/** One phase's report, printed as a JSON line. */
export type PhaseReport =
  & { kind: PhasePlan["kind"]; round: number; worker: number; pid: number; lateMs: number }
  & (
    | {
      kind: "checkpoint";
      ms: number;
      runs: number;
      transitions: number;
      failed: number;
      firstError: string | undefined;
      cpuMs: number;
      lock: LockStats;
      kv: KvCounts;
    }
    | {
      kind: "raw";
      ms: number;
      commits: number;
      cpuMs: number;
      commitMs: number;
      lockErrors: number;
      worstRetries: number;
      worstRetryMs: number;
    }
    | {
      kind: "upkeep";
      runs: number;
      windowMs: number;
      cpuMs: number;
      kv: KvCounts;
      failed: number;
      firstError: string | undefined;
      lock: LockStats;
    }
  );

/** States of the 5-state workflow. */
export const STATES = ["s1", "s2", "s3", "s4", "s5"] as const;
/** Rows (states entered, the exit state included) per run. */
export const ROWS_PER_RUN = STATES.length + 1;

const ENCODER = new TextEncoder();

function commitCount(): CommitCount {
  return { commits: 0, checks: 0, mutations: 0, ms: 0, threw: 0 };
}

/** Zeroed counts. */
export function kvCounts(): KvCounts {
  return {
    gets: 0,
    getMs: 0,
    lists: 0,
    claim: commitCount(),
    append: commitCount(),
    record: commitCount(),
    end: commitCount(),
  };
}

/** A `KvLike` over a real handle that counts operations and classifies commits by shape. */
class CountingKv extends CountingKvBase {
  counts: KvCounts = kvCounts();

  protected counted(call: "get" | "list"): Settled | void {
    const counts = this.counts;
    if (call === "list") {
      counts.lists += 1;
      return;
    }
    counts.gets += 1;
    return (ms) => counts.getMs += ms;
  }

  protected committing(shape: CommitShape): Settled {
    const counts = this.counts;
    const into = shape.deletes > 0 && shape.sets === 0
      ? counts.end
      : shape.creates
      ? counts.claim
      : shape.rows > 0
      ? counts.append
      : counts.record;
    into.commits += 1;
    into.checks += shape.checks;
    into.mutations += shape.mutations;
    return (ms, threw) => {
      into.ms += ms;
      if (threw) into.threw += 1;
    };
  }
}

/** The 5-state workflow: every task an async no-op returning the next state. */
function fiveStates(store: KvCheckpointStore): Workflow<string, { n: number }> {
  const config = { config: TaskConfig.minimal() };
  let workflow = new Workflow<string, { n: number }>({ name: "contention" });
  for (const [i, state] of STATES.entries()) {
    const next = STATES[i + 1] ?? "done";
    // deno-lint-ignore require-await -- an async no-op task is the point of the benchmark
    workflow = workflow.register(state, async (ctx) => {
      ctx.data.n++;
      return next;
    }, config);
  }
  return workflow.addExitState("done").withCheckpointStore(store);
}

/** A one-state workflow whose task awaits `parked` (then ends in done). */
function parking(
  store: KvCheckpointStore,
  parked: () => void,
  until: Promise<void>,
): Workflow<string, { n: number }> {
  return new Workflow<string, { n: number }>({ name: "parked" })
    .register("park", async () => {
      parked();
      await until;
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store);
}

function sleepUntil(at: number): Promise<void> {
  const ms = at - Date.now();
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

function cpuMs(since: ReturnType<typeof process.cpuUsage>): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** The fields every phase report starts with. */
function reportHead<K extends PhasePlan["kind"]>(
  kind: K,
  plan: WorkerPlan,
  phase: PhasePlan,
  lateMs: number,
) {
  return { kind, round: phase.round, worker: plan.worker, pid: Deno.pid, lateMs };
}

/**
 * A timed phase: waits until it starts, calls `reset`, then runs `loop` `plan.concurrency` times
 * at once, each looping until the phase's end; returns how late it started, and the wall and CPU
 * time the loops took, in ms.
 */
async function loops(
  plan: WorkerPlan,
  phase: PhasePlan,
  reset: () => void,
  loop: (end: number) => Promise<void>,
): Promise<{ lateMs: number; ms: number; cpuMs: number }> {
  await sleepUntil(phase.at);
  const lateMs = Date.now() - phase.at;
  const end = phase.at + phase.ms;
  reset();
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  await Promise.all(Array.from({ length: plan.concurrency }, () => loop(end)));
  return { lateMs, ms: performance.now() - start, cpuMs: cpuMs(cpu0) };
}

async function checkpointPhase(
  kv: CountingKv,
  plan: WorkerPlan,
  phase: PhasePlan,
): Promise<PhaseReport> {
  const workflow = fiveStates(new KvCheckpointStore(kv));
  let runs = 0;
  let failed = 0;
  let firstError: string | undefined;
  let next = 0;
  const reset = (): void => {
    kv.counts = kvCounts();
    resetLockRetryStats();
  };
  const { lateMs, ms, cpuMs } = await loops(plan, phase, reset, async (end) => {
    while (Date.now() < end) {
      const id = `cp-${phase.round}-${plan.worker}-${next++}`;
      try {
        const result = await workflow.orchestrate("s1", { id, data: { n: 0 } });
        if (result.state !== "done" || result.data.n !== STATES.length) {
          throw new Error(`run ${id} ended in ${result.state} after ${result.data.n} tasks`);
        }
        runs++;
      } catch (error) {
        failed++;
        firstError ??= describe(error);
      }
    }
  });
  return {
    ...reportHead("checkpoint", plan, phase, lateMs),
    ms,
    runs,
    transitions: runs * ROWS_PER_RUN,
    failed,
    firstError,
    cpuMs,
    lock: lockRetryStats(),
    kv: kv.counts,
  };
}

/** A row's bytes, about the size of the 5-state workflow's rows. */
function rowBytes(sequence: number): Uint8Array {
  return ENCODER.encode(JSON.stringify({
    sequence,
    state: `s${sequence % 5 + 1}`,
    taskId: `s${sequence % 5 + 1}`,
    kind: "state_entry",
    workflowVersion: 0,
    data: { n: sequence % 5 },
  }));
}

async function rawPhase(kv: Deno.Kv, plan: WorkerPlan, phase: PhasePlan): Promise<PhaseReport> {
  const values = Array.from({ length: ROWS_PER_RUN }, (_, i) => rowBytes(i));
  let commits = 0;
  let commitMs = 0;
  let lockErrors = 0;
  let worstRetries = 0;
  let worstRetryMs = 0;
  let next = 0;
  const { lateMs, ms, cpuMs } = await loops(plan, phase, () => {}, async (end) => {
    while (Date.now() < end) {
      const n = next++;
      const key = ["bench", "raw", phase.round, plan.worker, n];
      let retries = 0;
      let wait = DEFAULT_LOCK_BASE_DELAY;
      let firstLock = 0;
      for (;;) {
        const t0 = performance.now();
        try {
          const result = await kv.atomic().check({ key, versionstamp: null })
            .set(key, values[n % ROWS_PER_RUN]!).commit();
          commitMs += performance.now() - t0;
          if (!result.ok) throw new Error(`raw commit ${n} did not land`);
          break;
        } catch (error) {
          commitMs += performance.now() - t0;
          if (!String(error).includes("database is locked")) throw error;
          lockErrors++;
          if (retries === 0) firstLock = performance.now();
          retries++;
          // The store's schedule: decorrelated jitter between baseDelay and 3× the last wait.
          wait = Math.min(
            DEFAULT_LOCK_MAX_DELAY,
            DEFAULT_LOCK_BASE_DELAY + Math.random() * (wait * 3 - DEFAULT_LOCK_BASE_DELAY),
          );
          await new Promise((resolve) => setTimeout(resolve, wait));
        }
      }
      if (retries > worstRetries) worstRetries = retries;
      if (retries > 0) worstRetryMs = Math.max(worstRetryMs, performance.now() - firstLock);
      commits++;
    }
  });
  return {
    ...reportHead("raw", plan, phase, lateMs),
    ms,
    commits,
    cpuMs,
    commitMs,
    lockErrors,
    worstRetries,
    worstRetryMs,
  };
}

async function upkeepPhase(
  kv: CountingKv,
  plan: WorkerPlan,
  phase: Extract<PhasePlan, { kind: "upkeep" }>,
): Promise<PhaseReport> {
  const store = new KvCheckpointStore(kv, { leaseMs: phase.leaseMs });
  let release!: () => void;
  const until = new Promise<void>((resolve) => release = resolve);
  let parkedCount = 0;
  let allParked!: () => void;
  const everyoneParked = new Promise<void>((resolve) => allParked = resolve);
  const workflow = parking(store, () => {
    if (++parkedCount === phase.runs) allParked();
  }, until);
  await sleepUntil(phase.at);
  const lateMs = Date.now() - phase.at;
  resetLockRetryStats();
  let failed = 0;
  let firstError: string | undefined;
  const runs = Array.from(
    { length: phase.runs },
    (_, i) =>
      workflow.orchestrate("park", {
        id: `idle-${phase.round}-${plan.worker}-${i}`,
        data: { n: 0 },
      })
        .then(
          (result) => {
            if (result.state !== "done") throw new Error(`ended in ${result.state}`);
          },
        ).catch((error: unknown) => {
          failed++;
          firstError ??= describe(error);
          allParked(); // a run that failed before parking must not hold the window up
        }),
  );
  await everyoneParked;
  // The window: from every run parked to the end of the phase, heartbeats only.
  kv.counts = kvCounts();
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  await sleepUntil(phase.at + phase.ms);
  const windowMs = performance.now() - start;
  const cpu = cpuMs(cpu0);
  const counts = kv.counts;
  kv.counts = kvCounts();
  release();
  await Promise.all(runs);
  return {
    ...reportHead("upkeep", plan, phase, lateMs),
    runs: phase.runs,
    windowMs,
    cpuMs: cpu,
    kv: counts,
    failed,
    firstError,
    lock: lockRetryStats(),
  };
}

if (import.meta.main) {
  const plan = JSON.parse(Deno.args[0] ?? "null") as WorkerPlan;
  // Opening can itself meet another process's lock while the file is being created.
  const kv = await openKvRetrying(plan.file, 50, (attempt) => 10 * attempt);
  const counting = new CountingKv(kv);
  try {
    for (const phase of plan.phases) {
      const report = phase.kind === "upkeep"
        ? await upkeepPhase(counting, plan, phase)
        : phase.kind === "checkpoint"
        ? await checkpointPhase(counting, plan, phase)
        : await rawPhase(kv, plan, phase);
      console.log(JSON.stringify(report));
    }
  } finally {
    kv.close();
  }
}
