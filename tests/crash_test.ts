// Crash tests: a checkpointed workflow runs in a real subprocess on a Deno KV file, is SIGKILLed
// at a chosen point, and is resumed by a fresh process. The side-effect journal shows what ran.

import assert from "node:assert/strict";
import { KvCheckpointStore } from "../kv.ts";
import { leaseExpired } from "./_checkpoint_helpers.ts";
import { splitLines } from "./_subprocess.ts";

const worker = new URL("./e2e/crash_worker.ts", import.meta.url).pathname;

interface Outcome {
  /** The `HANG` point reached (the process was then killed), if any. */
  hung?: string;
  result?: { state: string; data: Record<string, string>; path: string[] };
  error?: { category: string; message: string };
}

interface Scenario extends AsyncDisposable {
  readonly kvPath: string;
  readonly journalPath: string;
  readonly id: string;
  /** Runs the worker to completion, or until it hangs at `hangAt` and is SIGKILLed. */
  worker(mode: "run" | "resume", hangAt?: string, failShip?: boolean): Promise<Outcome>;
  /** Journal lines, e.g. "run ship:start". */
  journal(): Promise<string[]>;
  /** The rows left in the checkpoint log. */
  rows(): Promise<unknown[]>;
}

async function scenario(): Promise<Scenario> {
  const dir = await Deno.makeTempDir({ prefix: "cano_crash_" });
  const kvPath = `${dir}/checkpoints.kv`;
  const journalPath = `${dir}/journal.log`;
  await Deno.writeTextFile(journalPath, "");
  const id = `order-${crypto.randomUUID().slice(0, 8)}`;
  return {
    kvPath,
    journalPath,
    id,
    worker: async (mode, hangAt = "none", failShip = false) => {
      if (mode === "resume") await leaseExpired(kvPath, id); // the killed owner's lease
      return await runWorker([
        mode,
        kvPath,
        journalPath,
        id,
        hangAt,
        failShip ? "fail-ship" : "no",
      ]);
    },
    journal: async () => (await Deno.readTextFile(journalPath)).split("\n").filter(Boolean),
    rows: async () => {
      using kv = await Deno.openKv(kvPath);
      return await new KvCheckpointStore(kv).loadRun(id);
    },
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

async function runWorker(args: string[]): Promise<Outcome> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-kv", worker, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const outcome: Outcome = {};
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(splitLines());
  for await (const line of lines) {
    if (line.startsWith("HANG ")) {
      outcome.hung = line.slice(5);
      child.kill("SIGKILL");
    } else if (line.startsWith("RESULT ")) {
      outcome.result = JSON.parse(line.slice(7));
    } else if (line.startsWith("ERROR ")) {
      outcome.error = JSON.parse(line.slice(6));
    }
  }
  const status = await child.status;
  const errors = await stderr;
  if (outcome.hung === undefined) {
    assert.equal(status.code, 0, `worker ${args.join(" ")} failed:\n${errors}`);
  } else {
    assert.equal(status.signal, "SIGKILL");
  }
  return outcome;
}

function count(lines: string[], line: string): number {
  return lines.filter((l) => l === line).length;
}

Deno.test("Workflow.resumeFrom() finishes a run killed inside a task, re-running only that state", async () => {
  await using s = await scenario();
  assert.equal((await s.worker("run", "inside-ship")).hung, "inside-ship");
  const resumed = await s.worker("resume");
  assert.equal(resumed.result?.state, "done");
  assert.deepEqual(resumed.result?.path, ["reserve", "charge", "ship", "notify", "done"]);
  assert.equal(resumed.result?.data.reservation, `res-${s.id}`, "run data restored");
  assert.equal(resumed.result?.data.charge, `ch-${s.id}`, "run data restored");
  assert.equal(resumed.result?.data.tracking, `trk-${s.id}`);
  const journal = await s.journal();
  assert.equal(count(journal, "run reserve:run") + count(journal, "resume reserve:run"), 1);
  assert.equal(count(journal, "resume charge:start"), 0, "no state before the resume point re-ran");
  assert.equal(count(journal, "run ship:start") + count(journal, "resume ship:start"), 2);
  assert.equal(count(journal, "resume notify:run"), 1);
  assert.deepEqual(await s.rows(), [], "log cleared at the exit state");
});

Deno.test("Workflow.resumeFrom() after a kill right after a checkpoint does not re-run finished states", async () => {
  await using s = await scenario();
  assert.equal((await s.worker("run", "after-checkpoint-notify")).hung, "after-checkpoint-notify");
  const resumed = await s.worker("resume");
  assert.equal(resumed.result?.state, "done");
  const journal = await s.journal();
  assert.equal(count(journal, "run ship:done"), 1);
  assert.equal(count(journal, "resume ship:start"), 0);
  assert.equal(count(journal, "run notify:run"), 0, "killed before notify's task started");
  assert.equal(count(journal, "resume notify:run"), 1);
  assert.equal(resumed.result?.data.tracking, `trk-${s.id}`, "data snapshot of notify's entry");
});

Deno.test("Workflow.resumeFrom() re-runs a compensatable step killed mid-run at most once more", async () => {
  await using s = await scenario();
  assert.equal((await s.worker("run", "inside-charge")).hung, "inside-charge");
  const resumed = await s.worker("resume");
  assert.equal(resumed.result?.state, "done");
  const journal = await s.journal();
  assert.equal(count(journal, "run charge:start"), 1);
  assert.equal(count(journal, "run charge:done"), 0);
  assert.equal(count(journal, "resume charge:start"), 1);
  assert.equal(count(journal, "resume reserve:run"), 0);
  assert.deepEqual(await s.rows(), []);
});

Deno.test("Workflow.resumeFrom() completes a saga rollback interrupted by a crash", async () => {
  await using s = await scenario();
  const crashed = await s.worker("run", "inside-rollback", true);
  assert.equal(crashed.hung, "inside-rollback");
  const resumed = await s.worker("resume", "none", true);
  assert.equal(resumed.error?.category, "task_execution");
  assert.match(resumed.error?.message ?? "", /courier refused the parcel/);
  const journal = await s.journal();
  assert.equal(count(journal, `run charge:compensate-start ch-${s.id}`), 1);
  assert.equal(count(journal, `resume charge:compensate-done ch-${s.id}`), 1);
  assert.equal(count(journal, `resume reserve:compensate res-${s.id}`), 1);
  const order = journal.filter((line) => line.startsWith("resume") && line.includes("compensate"));
  assert.deepEqual(order, [
    `resume charge:compensate-start ch-${s.id}`,
    `resume charge:compensate-done ch-${s.id}`,
    `resume reserve:compensate res-${s.id}`,
  ]);
  assert.deepEqual(await s.rows(), [], "log cleared after a clean rollback");
});

Deno.test("Workflow.resumeFrom() lets exactly one of two racing processes resume a run", async () => {
  await using s = await scenario();
  assert.equal((await s.worker("run", "inside-ship")).hung, "inside-ship");
  const [a, b] = await Promise.all([s.worker("resume"), s.worker("resume")]);
  const outcomes = [a, b];
  const winners = outcomes.filter((o) => o.result?.state === "done");
  const losers = outcomes.filter((o) => o.error !== undefined);
  assert.equal(winners.length, 1, JSON.stringify(outcomes));
  assert.equal(losers.length, 1, JSON.stringify(outcomes));
  // The loser found a live owner, or (when it came after the winner finished) nothing to resume.
  const loser = losers[0]?.error;
  assert.ok(
    loser?.category === "conflict" ||
      (loser?.category === "checkpoint_store" && /No checkpoint rows/.test(loser.message)),
    JSON.stringify(loser),
  );
  const journal = await s.journal();
  assert.equal(
    count(journal, "resume notify:run"),
    1,
    "the loser ran nothing past its failed append",
  );
  assert.deepEqual(await s.rows(), [], "log consistent: cleared by the winner");
});
