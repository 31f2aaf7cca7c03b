// Recovery end to end: four processes share one Deno KV file, each starting its share of 200
// checkpointed runs and sweeping for expired runs (`startRecovery`) at the same time. Two of them
// are SIGKILLed at random moments, mid-work. The other two finish every run.
//
// The proof is a journal in the same KV file: every execution of a state's task writes its intent,
// then (if its run's signal has not aborted) performs a short side effect and writes when it began
// and stopped; every claim a process wins is written with the store's time of the claim. From it:
// - no two executions of one run overlap in time (a run is one state machine);
// - no process performs a side effect for a run after another process claimed it (since its own
//   last claim): a claim is granted only once the previous lease has expired, so such an effect
//   ran without ownership — the engine must abort the run's signal before its lease runs out;
// - every state of every run was executed to its end at least once (re-executions after a crash
//   are allowed: at least once, never twice at once), and no run record is left: 0 lost.

import assert from "node:assert/strict";
import { KvCheckpointStore } from "../kv.ts";
import { JsonLineChild, type JsonLineOutcome, openKvRetrying } from "./_subprocess.ts";
import type {
  ClaimEntry,
  JournalEntry,
  RecoveryWorkerConfig,
  WorkerLine,
} from "./e2e/recovery_worker.ts";

const WORKER = new URL("./e2e/recovery_worker.ts", import.meta.url).pathname;
const STATES = ["s1", "s2", "s3", "s4", "s5"];
const RUNS = 200;
const WORKERS = 4;
const KILLS = 2;
/** Short, so the killed processes' runs are claimable soon after the kill. */
const LEASE_MS = 1_000;
/** Side effects a worker performs at once (its other runs wait, their leases renewed). */
const SLOTS = 10;
/** The whole test, children included, ends within this. */
const BUDGET_MS = 60_000;

type Worker = JsonLineChild<WorkerLine>;
type Seen =
  & Pick<JsonLineOutcome<WorkerLine>, "pid" | "lines">
  & Partial<JsonLineOutcome<WorkerLine>>;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function randomInt(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}

/** `promise`, or a failure naming `what` (and `details()`) once `deadline` (epoch ms) passes. */
async function before<T>(
  deadline: number,
  what: string,
  promise: Promise<T>,
  details: () => string = () => "",
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${what}\n${details()}`)),
      Math.max(0, deadline - Date.now()),
    );
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A worker's unusual lines, status and stderr, for a failure message. */
function summary(seen: Seen): string {
  const routine = ["progress", "completed", "recover", "recovered", "slow", "stall"];
  const notable = seen.lines.filter((l) =>
    !routine.includes(l.t) ||
    (l.t === "recovered" && l.outcome !== "completed" && l.outcome !== "skipped")
  );
  return JSON.stringify({
    pid: seen.pid,
    status: seen.status,
    lines: seen.lines.length,
    notable: notable.slice(0, 20),
    stderr: seen.stderr?.slice(0, 2_000),
  });
}

/** One execution of one state's task, from the journal. */
interface Execution {
  runId: string;
  state: string;
  id: string;
  pid: number;
  worker: string;
  /** The intent, before the `start` entry was written. */
  intent?: number;
  /** When the side effect began (absent: it never did, or the process died first). */
  began?: number;
  /** When it stopped (absent: the process died first). */
  end?: number;
  aborted?: boolean;
}

interface Claim {
  runId: string;
  decidedAt: number;
  pid: number;
  worker: string;
}

async function readJournal(kv: Deno.Kv): Promise<Execution[]> {
  const byId = new Map<string, Execution>();
  for await (const entry of kv.list<JournalEntry>({ prefix: ["journal"] })) {
    const [, runId, state, id, kind] = entry.key as string[];
    const key = `${runId}/${id}`;
    const { pid, worker, at, began, aborted } = entry.value;
    const execution = byId.get(key) ??
      { runId: runId!, state: state!, id: id!, pid, worker };
    if (kind === "start") {
      execution.intent = at;
    } else {
      execution.end = at;
      execution.aborted = aborted === true;
      if (began !== undefined) execution.began = began;
    }
    byId.set(key, execution);
  }
  return [...byId.values()];
}

async function readClaims(kv: Deno.Kv): Promise<Claim[]> {
  const claims: Claim[] = [];
  for await (const entry of kv.list<ClaimEntry>({ prefix: ["claims"] })) {
    const [, runId, decidedAt] = entry.key as [string, string, number];
    claims.push({ runId, decidedAt, pid: entry.value.pid, worker: entry.value.worker });
  }
  return claims;
}

function describeExecution(e: Execution): string {
  return `${e.state} by ${e.worker} (pid ${e.pid}) intent ${e.intent} began ${e.began} end ${e.end}`;
}

Deno.test("startRecovery() in 4 processes, 2 SIGKILLed mid-work: all 200 runs finish, no state runs in two processes at once", async () => {
  const began = Date.now();
  const deadline = began + BUDGET_MS - 5_000;
  const dir = await Deno.makeTempDir({ prefix: "cano_recovery_e2e_" });
  const kvPath = `${dir}/runs.kv`;
  (await Deno.openKv(kvPath)).close(); // created once, before the workers open it at once
  const ids = Array.from({ length: RUNS }, (_, i) => `job-${String(i).padStart(3, "0")}`);
  const workers: Worker[] = [];
  let kv: Deno.Kv | undefined;
  try {
    for (let w = 0; w < WORKERS; w++) {
      const config: RecoveryWorkerConfig = {
        name: `w${w}`,
        kvPath,
        ids: ids.filter((_, i) => i % WORKERS === w),
        leaseMs: LEASE_MS,
        slots: SLOTS,
        every: 200,
        concurrency: 8,
        safetyMs: BUDGET_MS,
      };
      workers.push(
        new JsonLineChild<WorkerLine>(WORKER, [JSON.stringify(config)], { stdin: true }),
      );
    }
    const names = new Map(workers.map((w, i) => [w.pid, `w${i}`]));
    const everyone = () => workers.map((w) => summary(w)).join("\n");

    // Every run exists (its record written) before anyone is killed: none is left unstarted.
    const allStarted = await before(
      deadline,
      "every worker to start its runs",
      Promise.all(workers.map((w) => w.line((l) => l.t === "allStarted"))),
      everyone,
    );
    for (const [i, line] of allStarted.entries()) {
      if (line === undefined) assert.fail(`w${i} ended early: ${summary(await workers[i]!.done)}`);
    }
    const startedAt = Date.now();

    // Two victims, each killed after a random number of its side effects (of its 250; fewer when
    // the others took some of its runs over), or at a random moment if that comes first, plus a
    // random few ms: the kill lands anywhere — inside a task, a commit, a journal write, a recovery.
    const victims = [...workers].sort(() => Math.random() - 0.5).slice(0, KILLS);
    const killedAt = new Map<number, number>();
    const killPoints: Record<string, { effects: number; orAfterMs: number; at: number }> = {};
    await before(
      deadline,
      "the kills",
      Promise.all(victims.map(async (victim) => {
        const effects = randomInt(10, 200);
        const orAfterMs = randomInt(300, 3_000);
        const progressed = victim.line((l) => l.t === "progress" && l.n >= effects);
        await before(Date.now() + orAfterMs, "", progressed).catch(() => {});
        await sleep(randomInt(0, 15));
        if (victim.exited) {
          assert.fail(`victim ended before the kill: ${summary(await victim.done)}`);
        }
        const last = victim.lines.findLast((l) => l.t === "progress");
        killPoints[names.get(victim.pid)!] = {
          effects,
          orAfterMs,
          at: last?.t === "progress" ? last.n : 0,
        };
        victim.kill("SIGKILL");
        await victim.done;
        killedAt.set(victim.pid, Date.now()); // it is dead by now
      })),
      everyone,
    );
    const killsDone = Date.now();
    const survivors = workers.filter((w) => !killedAt.has(w.pid));

    // Until no run record is left: every run completed (a failed run would keep its record).
    kv = await openKvRetrying(kvPath);
    const store = new KvCheckpointStore(kv);
    for (let left = Infinity; left > 0;) {
      if (Date.now() > deadline) {
        const { runs } = await store.listRuns({ limit: 1_000 });
        assert.fail(
          `${runs.length} runs still unfinished, e.g. ${JSON.stringify(runs.slice(0, 3))}\n` +
            survivors.map((w) => summary(w)).join("\n"),
        );
      }
      left = (await store.listRuns({ limit: 1_000 })).runs.length;
      if (left > 0) await sleep(200);
    }
    const allDone = Date.now();

    // The survivors shut down cleanly when told.
    for (const survivor of survivors) await survivor.closeStdin();
    const outcomes = await before(
      deadline,
      "the survivors to exit",
      Promise.all(workers.map((w) => w.done)),
      everyone,
    );
    for (const outcome of outcomes) {
      if (killedAt.has(outcome.pid)) {
        assert.equal(outcome.status.signal, "SIGKILL", summary(outcome));
      } else {
        assert.equal(outcome.status.code, 0, summary(outcome));
        assert.ok(outcome.lines.some((l) => l.t === "exit"), summary(outcome));
      }
    }
    const lines = outcomes.flatMap((o) => o.lines.map((line) => ({ pid: o.pid, line })));

    // The journal and the claims.
    const executions = await readJournal(kv);
    const claims = await readClaims(kv);
    const problems: string[] = [];
    for (const e of executions) {
      if (e.intent === undefined) problems.push(`${e.runId} ${describeExecution(e)}: no start`);
      if (e.end === undefined && !killedAt.has(e.pid)) {
        problems.push(`${e.runId} ${describeExecution(e)}: unfinished in a live process`);
      }
    }
    const executionsOf = Map.groupBy(executions, (e) => e.runId);
    const claimsOf = Map.groupBy(claims, (c) => c.runId);
    let reexecuted = 0;
    let overlaps = 0;
    let unowned = 0;
    for (const id of ids) {
      const ofRun = executionsOf.get(id) ?? [];
      const missed: string[] = [];
      for (const state of STATES) {
        const ofState = ofRun.filter((e) => e.state === state);
        if (!ofState.some((e) => e.began !== undefined && e.end !== undefined && !e.aborted)) {
          missed.push(state);
        }
        if (ofState.filter((e) => e.began !== undefined || e.end === undefined).length > 1) {
          reexecuted += 1;
        }
      }
      if (missed.length > 0) problems.push(`${id}: never executed to its end: ${missed}`);
      // A run is one state machine: two of its side effects never overlap in time. An execution a
      // kill interrupted may have begun as early as its intent, and lasted until the death.
      const spans = ofRun.filter((e) => e.began !== undefined || e.end === undefined).map((e) => ({
        e,
        from: e.began ?? e.intent ?? -Infinity,
        to: e.end ?? killedAt.get(e.pid) ?? Infinity,
      })).sort((a, b) => a.from - b.from);
      for (let i = 1; i < spans.length; i++) {
        for (let j = 0; j < i; j++) {
          const [prev, next] = [spans[j]!, spans[i]!];
          if (next.from < prev.to) {
            overlaps += 1;
            problems.push(
              `${id}: OVERLAP ${describeExecution(prev.e)} / ${describeExecution(next.e)}`,
            );
          }
        }
      }
      // No side effect after another process claimed the run since this process's last claim.
      const runClaims = (claimsOf.get(id) ?? []).sort((a, b) => a.decidedAt - b.decidedAt);
      for (const e of ofRun) {
        if (e.began === undefined) continue;
        const mine = runClaims.filter((c) => c.pid === e.pid && c.decidedAt <= e.began!).at(-1);
        if (mine === undefined) {
          if (!killedAt.has(e.pid)) problems.push(`${id}: no claim before ${describeExecution(e)}`);
          continue;
        }
        const taker = runClaims.find((c) =>
          c.pid !== e.pid && c.decidedAt > mine.decidedAt && c.decidedAt < e.began!
        );
        if (taker !== undefined) {
          unowned += 1;
          problems.push(
            `${id}: UNOWNED ${describeExecution(e)}, ${e.began! - taker.decidedAt} ms after ` +
              `${taker.worker} (pid ${taker.pid}) claimed the run at ${taker.decidedAt} (own claim ` +
              `${mine.decidedAt})`,
          );
        }
      }
    }

    // Completion marks: every run has one, except a run whose process died between finishing it
    // and writing the mark (then a victim executed its last state).
    const marks = new Map<string, string>();
    for await (const entry of kv.list<{ via: string }>({ prefix: ["completed"] })) {
      marks.set(entry.key[1] as string, entry.value.via);
    }
    for (const id of ids) {
      if (marks.has(id)) continue;
      const last = (executionsOf.get(id) ?? []).filter((e) => e.state === "s5" && e.end);
      if (last.some((e) => killedAt.has(e.pid))) continue;
      const about = lines.filter(({ line }) => "id" in line && line.id === id).map((
        { pid, line },
      ) => `${names.get(pid)}: ${JSON.stringify(line)}`);
      const runClaims = (claimsOf.get(id) ?? []).map((c) => `${c.worker}@${c.decidedAt}`);
      problems.push(
        `${id}: finished by nobody; claims ${runClaims.join(", ")}; lines ${about.join("; ")}`,
      );
    }

    const recovered = lines.filter(({ line }) => line.t === "recovered");
    const outcomesOf = (outcome: string) =>
      recovered.filter(({ line }) => line.t === "recovered" && line.outcome === outcome);
    const runErrors = lines.filter(({ line }) => line.t === "runerror");
    const lostOwnership = runErrors.filter(({ line }) =>
      line.t === "runerror" && line.error.name === "OwnershipLostError"
    );
    // A run another process finished between this sweep's listing and its claim (a run that
    // vanished unfinished is a lost run, reported above).
    const vanished = outcomesOf("failed").filter(({ line }) =>
      line.t === "recovered" && /No checkpoint rows/.test(line.error?.message ?? "") &&
      marks.has(line.id)
    );
    const rowless = outcomesOf("failed").filter(({ line }) =>
      line.t === "recovered" && /No checkpoint rows/.test(line.error?.message ?? "") &&
      !marks.has(line.id)
    );
    // Anything else that went wrong: a run failed, a sweep failed, a definition was missing.
    const troubles = lines.filter(({ line }) =>
      (line.t === "runerror" && line.error.name !== "OwnershipLostError") ||
      ["sweeperror", "unknownworkflow", "timeout"].includes(line.t) ||
      (line.t === "recovered" && line.outcome === "failed" &&
        ![...vanished, ...rowless].some((v) => v.line === line))
    );
    const slow = lines.filter(({ line }) => line.t === "slow");
    const report = {
      runs: RUNS,
      workers: WORKERS,
      killed: [...killedAt.keys()].map((pid) => names.get(pid)),
      killPoints,
      recovered: {
        completed: outcomesOf("completed").length,
        skipped: outcomesOf("skipped").length,
        lost: outcomesOf("lost").length,
        failedFinishedElsewhere: vanished.length,
        failedNoRows: rowless.length,
      },
      lostOwnershipOfOwnRuns: lostOwnership.length,
      executions: executions.length,
      sideEffects: executions.filter((e) => e.began !== undefined).length,
      interrupted: executions.filter((e) => e.end === undefined).length,
      abortedBeforeActing: executions.filter((e) => e.end !== undefined && e.began === undefined)
        .length,
      reexecutedStates: reexecuted,
      overlaps,
      unownedSideEffects: unowned,
      troubles: troubles.length,
      slowestCommitMs: Math.max(0, ...slow.map(({ line }) => line.t === "slow" ? line.ms : 0)),
      slowRenewals: slow.filter(({ line }) => line.t === "slow" && line.op === "renew").length,
      maxEventLoopLagMs: Math.max(
        0,
        ...lines.map(({ line }) => line.t === "exit" ? line.maxLagMs : 0),
      ),
      marks: {
        total: marks.size,
        recovery: [...marks.values()].filter((v) => v === "recovery").length,
      },
      ms: {
        toAllStarted: startedAt - began,
        toKills: killsDone - began,
        killsToAllDone: allDone - killsDone,
        total: Date.now() - began,
      },
    };
    console.log(JSON.stringify(report));

    if (problems.length > 0) console.log(problems.slice(0, 100).join("\n"));
    assert.deepEqual(problems.slice(0, 20), [], `${problems.length} problems`);
    assert.equal((await store.listRuns()).runs.length, 0);
    assert.deepEqual(await store.listExpired(), { runs: [], cursor: undefined });
    // The victims had runs in flight: someone finished them.
    assert.ok(report.recovered.completed > 0, "some runs were recovered");
    assert.deepEqual(troubles, [], "no run, sweep or definition went wrong");
    assert.deepEqual(
      vanished.map(({ line }) => line),
      [],
      "a run finished elsewhere between a sweep's listing and its claim is not a failed recovery",
    );
  } finally {
    kv?.close();
    for (const worker of workers) await worker[Symbol.asyncDispose]();
    await Deno.remove(dir, { recursive: true });
  }
});
