// Ownership end to end: several real processes on one Deno KV file contend for one run. Owners are
// SIGKILLed, SIGSTOPped or stalled; the journal of side effects (one line per effect, with the
// process's role and pid) shows that every effect past the resume point ran once, in one process,
// and that a process which lost the run stopped dead.

import assert from "node:assert/strict";
import { LineChild, type LineOutcome } from "./_subprocess.ts";
import { KvCheckpointStore } from "../kv.ts";
import { leaseExpired } from "./_checkpoint_helpers.ts";
import type { WorkerConfig, WorkerError, WorkerStats } from "./e2e/ownership_worker.ts";

const WORKER = new URL("./e2e/ownership_worker.ts", import.meta.url).pathname;
/** The lease of a process the test will kill or stall: it must expire quickly. */
const SHORT_LEASE = 300;
/**
 * The lease of a process that must keep the run until it finishes: long, so that a machine busy
 * with a dozen starting processes cannot make it expire (which would be a legitimate takeover,
 * and a second run of the effect in flight).
 */
const LONG_LEASE = 10_000;

/** The effects of a whole run, in order, when shipping works. */
const FORWARD = [
  "reserve:start",
  "reserve:done",
  "charge:start",
  "charge:done",
  "ship:start",
  "ship:done",
  "notify:start",
  "notify:done",
];
/** The effects up to a failed shipment. */
const FAILED = [...FORWARD.slice(0, 5), "ship:fail"];
/** The saga rollback after it: refund the charge, then release the reservation. */
const ROLLBACK = [
  "charge:compensate-start ch-ID",
  "charge:compensate-done ch-ID",
  "reserve:compensate-start res-ID",
  "reserve:compensate-done res-ID",
];
const PATH = ["reserve", "charge", "ship", "notify", "done"];

interface RunResult {
  state: string;
  data: Record<string, string>;
  workflowId: string;
  path: string[];
}

/** What a worker process printed, and how it ended. */
interface Outcome {
  role: string;
  pid: number;
  /** `HANG`, `PAUSED`, `BLOCKED` and `HELD` lines: marker → point. */
  marks: Map<string, string>;
  result?: RunResult;
  errors: WorkerError[];
  /** When it retried after a RunOwnedError (epoch ms). */
  retries: number[];
  stats?: WorkerStats;
  status: Deno.CommandStatus;
  stderr: string;
}

/** One line of the side-effect journal; the run id in an event reads `ID`. */
interface Effect {
  role: string;
  pid: number;
  event: string;
}

/** The lines that mark where a worker got to: marker → point. */
const MARKS = ["HANG", "PAUSED", "BLOCKED", "HELD"];

/** A worker subprocess. It is SIGKILLed when it prints `HANG`; disposing kills it if still alive. */
class WorkerProcess implements AsyncDisposable {
  readonly role: string;
  readonly pid: number;
  /** Settles (never rejects) once stdout, stderr and the exit status are in. */
  readonly done: Promise<Outcome>;
  readonly #child: LineChild<string>;

  constructor(config: WorkerConfig) {
    this.role = config.role;
    this.#child = new LineChild(WORKER, [JSON.stringify(config)], {
      stdin: config.barrier === true,
      parse: (text) => text,
    });
    this.pid = this.#child.pid;
    this.#child.onLine((line) => {
      if (line.split(" ")[0] === "HANG") this.kill("SIGKILL");
    });
    this.done = this.#child.done.then((outcome) => outcomeOf(this.role, outcome));
  }

  /** The first line starting with `prefix`, or `undefined` if the process ends without one. */
  line(prefix: string): Promise<string | undefined> {
    return this.#child.line((line) => line.startsWith(prefix));
  }

  /** Like {@link line}, but the line must come. */
  async expect(prefix: string): Promise<string> {
    const line = await this.line(prefix);
    if (line === undefined) {
      const outcome = await this.done;
      assert.fail(`${this.role} ended without "${prefix}": ${describe(outcome)}`);
    }
    return line;
  }

  /** Writes `text` to the worker's stdin and closes it. */
  send(text: string): Promise<void> {
    return this.#child.send(text);
  }

  /** Sends a signal, unless the process already exited. */
  kill(signal: Deno.Signal): void {
    this.#child.kill(signal);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#child[Symbol.asyncDispose]();
    await this.done;
  }
}

/** What a worker's lines say. */
function outcomeOf(role: string, { pid, lines, status, stderr }: LineOutcome<string>): Outcome {
  const outcome: Outcome = { role, pid, marks: new Map(), errors: [], retries: [], status, stderr };
  for (const line of lines) {
    const [word = "", ...rest] = line.split(" ");
    const payload = rest.join(" ");
    if (MARKS.includes(word)) outcome.marks.set(word, payload);
    if (word === "RESULT") outcome.result = JSON.parse(payload);
    if (word === "ERROR") outcome.errors.push(JSON.parse(payload));
    if (word === "RETRY") outcome.retries.push(JSON.parse(payload).at);
    if (word === "STATS") outcome.stats = JSON.parse(payload);
  }
  return outcome;
}

function describe(outcome: Outcome): string {
  const { role, pid, marks, result, errors, status, stderr } = outcome;
  return JSON.stringify({ role, pid, marks: [...marks], result, errors, status, stderr });
}

/** Asserts the worker exited normally (or, when it hung, was SIGKILLed). */
function assertExited(outcome: Outcome): void {
  if (outcome.marks.has("HANG")) {
    assert.equal(outcome.status.signal, "SIGKILL", describe(outcome));
  } else {
    assert.equal(outcome.status.code, 0, describe(outcome));
  }
}

/** One run's files: a KV database, a journal, a release file; removed on dispose. */
interface RunFiles extends AsyncDisposable {
  readonly id: string;
  readonly kvPath: string;
  readonly journalPath: string;
  /** The release file of the processes configured with `base` (e.g. a held one). */
  readonly releaseFile: string;
  /** The worker settings every process of this run shares. */
  readonly base: Pick<WorkerConfig, "kvPath" | "journalPath" | "id" | "releaseFile">;
  /** A release file of its own, for a process to be released apart from the others. */
  releaseFileOf(role: string): string;
  /** Ends the `holdAt` / `blockAt` waits on `file` (default: {@link releaseFile}). */
  release(file?: string): Promise<void>;
  /** The journal, parsed. */
  effects(): Promise<Effect[]>;
  /** The events of one role, in order. */
  eventsOf(role: string): Promise<string[]>;
  /** The log rows and the run record left in the store. */
  leftovers(): Promise<{ rows: unknown[]; record: unknown; running: unknown[] }>;
  /** The run record. */
  record(): ReturnType<KvCheckpointStore["getRun"]>;
}

async function runFiles(label: string, parent?: string): Promise<RunFiles> {
  const prefix = `cano_own_${label}_`;
  const dir = await Deno.makeTempDir(parent === undefined ? { prefix } : { prefix, dir: parent });
  const id = `order-${label}-${crypto.randomUUID().slice(0, 8)}`;
  const kvPath = `${dir}/checkpoints.kv`;
  const journalPath = `${dir}/journal.log`;
  const releaseFile = `${dir}/release`;
  await Deno.writeTextFile(journalPath, "");
  (await Deno.openKv(kvPath)).close(); // created once, before workers open it at once
  const withStore = async <T>(use: (store: KvCheckpointStore) => Promise<T>): Promise<T> => {
    using kv = await Deno.openKv(kvPath);
    return await use(new KvCheckpointStore(kv));
  };
  const effects = async (): Promise<Effect[]> =>
    (await Deno.readTextFile(journalPath)).split("\n").filter(Boolean).map((line) => {
      const [role = "", pid = "", ...event] = line.split(" ");
      return { role, pid: Number(pid), event: event.join(" ").replaceAll(id, "ID") };
    });
  return {
    id,
    kvPath,
    journalPath,
    releaseFile,
    base: { kvPath, journalPath, id, releaseFile },
    releaseFileOf: (role) => `${dir}/release-${role}`,
    release: (file = releaseFile) => Deno.writeTextFile(file, "go"),
    effects,
    eventsOf: async (role) =>
      (await effects()).filter((effect) => effect.role === role).map((e) => e.event),
    leftovers: () =>
      withStore(async (store) => ({
        rows: await store.loadRun(id),
        record: await store.getRun(id),
        running: (await store.listRuns()).runs,
      })),
    record: () => withStore((store) => store.getRun(id)),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** The run finished: no rows, no record, nothing listed. */
async function assertGone(files: RunFiles): Promise<void> {
  assert.deepEqual(await files.leftovers(), { rows: [], record: undefined, running: [] });
}

function assertFinished(result: RunResult | undefined, files: RunFiles): void {
  assert.ok(result !== undefined);
  assert.equal(result.state, "done");
  assert.deepEqual(result.path, PATH);
  assert.deepEqual(result.data, {
    orderId: files.id,
    reservation: `res-${files.id}`,
    charge: `ch-${files.id}`,
    tracking: `trk-${files.id}`,
  });
}

/** The run's own error after a clean saga rollback. */
function assertRolledBack(error: WorkerError | undefined): void {
  assert.equal(error?.category, "task_execution", JSON.stringify(error));
  assert.match(error?.message ?? "", /courier refused the parcel/);
}

/** The reason a process gives when its own lease deadline passes (lease.ts). */
const OWN_DEADLINE = /lease expired \d+ ms ago while the process was stalled|lease ran out before/;

/** A process that lost the run: it stopped dead with OwnershipLostError. */
function assertLost(outcome: Outcome, reason: RegExp): void {
  assert.equal(outcome.result, undefined, describe(outcome));
  assert.equal(outcome.errors.length, 1, describe(outcome));
  const [error] = outcome.errors;
  assert.equal(error?.name, "OwnershipLostError");
  assert.equal(error?.category, "ownership_lost");
  // Woken after its lease ran out, a process may give the run up on its own deadline before its
  // next fenced write is refused: either reason is a correct stop.
  const given = error?.reason ?? "";
  assert.ok(reason.test(given) || OWN_DEADLINE.test(given), `${given} matches neither ${reason}`);
  assert.equal(outcome.stats?.writesAfterPause, 0, "no KV write after it lost the run");
}

function ownerOf(pid: number): RegExp {
  return new RegExp(`^deno-${pid}-`);
}

/** Waits until the process is stopped (Linux's /proc; elsewhere, a short grace period). */
async function stopped(pid: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    let state: string;
    try {
      state = (await Deno.readTextFile(`/proc/${pid}/stat`)).split(") ")[1]?.[0] ?? "";
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
      return;
    }
    if (state === "T" || state === "t") return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`process ${pid} did not stop`);
}

// ---------------------------------------------------------------------------------------------
// 1. Three resumers at once on a crashed run, over 20 kill points.

interface Trial {
  /** Where the first process is SIGKILLed. */
  point: string;
  /** `ok`: shipping works; `fails-first`: it fails in the first process only; `fails`: always. */
  ship: "ok" | "fails-first" | "fails";
  /** The first process's effects before the kill. */
  first: string[];
  /** The winning resumer's effects: exactly the rest of the run. */
  winner: string[];
  /** How the winner ends: the exit state, or the run's error after the rollback. */
  end: "done" | "rolled-back";
  /**
   * The run had ended when the first process was killed (the exit state's row is recorded by the
   * end itself): no resumer has anything to resume.
   */
  finished?: true;
}

// Rows: 0 reserve entry (written with the claim), 1 reserve's saga step, 2 charge entry, 3
// charge's saga step, 4 ship entry, then 5 notify entry and 6 done entry (recorded by the end, in
// the commit that deletes the log), or 5 rollback, 6 charge refunded, 7 reservation released. A
// resumed run re-enters the state of the last row, whose task runs again in full.
const TRIALS: Trial[] = [
  { point: "inside-reserve", ship: "ok", first: FORWARD.slice(0, 1), winner: FORWARD, end: "done" },
  { point: "after-row-0", ship: "ok", first: [], winner: FORWARD, end: "done" },
  // The saga step was recorded, but not where it went next: reserve runs again.
  { point: "after-row-1", ship: "ok", first: FORWARD.slice(0, 2), winner: FORWARD, end: "done" },
  {
    point: "after-row-2",
    ship: "ok",
    first: FORWARD.slice(0, 2),
    winner: FORWARD.slice(2),
    end: "done",
  },
  {
    point: "inside-charge",
    ship: "ok",
    first: FORWARD.slice(0, 3),
    winner: FORWARD.slice(2),
    end: "done",
  },
  {
    point: "after-row-3",
    ship: "ok",
    first: FORWARD.slice(0, 4),
    winner: FORWARD.slice(2),
    end: "done",
  },
  {
    point: "after-row-4",
    ship: "ok",
    first: FORWARD.slice(0, 4),
    winner: FORWARD.slice(4),
    end: "done",
  },
  {
    point: "inside-ship",
    ship: "ok",
    first: FORWARD.slice(0, 5),
    winner: FORWARD.slice(4),
    end: "done",
  },
  {
    point: "after-row-5",
    ship: "ok",
    first: FORWARD.slice(0, 6),
    winner: FORWARD.slice(6),
    end: "done",
  },
  {
    point: "inside-notify",
    ship: "ok",
    first: FORWARD.slice(0, 7),
    winner: FORWARD.slice(6),
    end: "done",
  },
  { point: "after-row-6", ship: "ok", first: FORWARD, winner: [], end: "done", finished: true },
  // Shipping failed before its rollback was recorded: the resumer ships (it works now), no refund.
  {
    point: "ship-failed",
    ship: "fails-first",
    first: FAILED,
    winner: FORWARD.slice(4),
    end: "done",
  },
  // Once the rollback row is durable the run never goes forward, though shipping would work now.
  {
    point: "after-row-5",
    ship: "fails-first",
    first: FAILED,
    winner: ROLLBACK,
    end: "rolled-back",
  },
  {
    point: "inside-compensate-charge",
    ship: "fails-first",
    first: [...FAILED, ...ROLLBACK.slice(0, 1)],
    winner: ROLLBACK,
    end: "rolled-back",
  },
  {
    point: "after-row-6",
    ship: "fails-first",
    first: [...FAILED, ...ROLLBACK.slice(0, 2)],
    winner: ROLLBACK.slice(2),
    end: "rolled-back",
  },
  {
    point: "inside-compensate-reserve",
    ship: "fails-first",
    first: [...FAILED, ...ROLLBACK.slice(0, 3)],
    winner: ROLLBACK.slice(2),
    end: "rolled-back",
  },
  {
    point: "after-row-7",
    ship: "fails-first",
    first: [...FAILED, ...ROLLBACK],
    winner: [],
    end: "rolled-back",
  },
  {
    point: "inside-ship",
    ship: "fails",
    first: FORWARD.slice(0, 5),
    winner: [...FAILED.slice(4), ...ROLLBACK],
    end: "rolled-back",
  },
  {
    point: "after-row-4",
    ship: "fails",
    first: FORWARD.slice(0, 4),
    winner: [...FAILED.slice(4), ...ROLLBACK],
    end: "rolled-back",
  },
  {
    point: "inside-compensate-charge",
    ship: "fails",
    first: [...FAILED, ...ROLLBACK.slice(0, 1)],
    winner: ROLLBACK,
    end: "rolled-back",
  },
];

/** A resumer that lost the race: the run was owned, or already finished and gone. */
function isLoser(outcome: Outcome): boolean {
  const [error] = outcome.errors;
  if (outcome.result !== undefined || outcome.errors.length !== 1 || error === undefined) {
    return false;
  }
  return (error.name === "RunOwnedError" && error.category === "conflict") ||
    (error.category === "checkpoint_store" && /No checkpoint rows/.test(error.message));
}

/** Run-wide invariants, whoever ran what. */
function assertOnce(events: string[], end: Trial["end"]): void {
  const count = (event: string): number => events.filter((e) => e === event).length;
  assert.ok(count("ship:done") <= 1, "shipped at most once");
  assert.equal(count("notify:done"), end === "done" ? 1 : 0, "notified once, or never");
  const compensated = events.filter((e) => e.includes(":compensate-"));
  if (end === "done") {
    assert.deepEqual(compensated, [], "a finished order is never refunded");
  } else {
    assert.equal(count("ship:done"), 0, "a rolled-back order was never shipped");
    assert.equal(count("charge:compensate-done ch-ID"), 1, "refunded exactly once");
    assert.equal(count("reserve:compensate-done res-ID"), 1, "released exactly once");
  }
}

async function crashAndRace(trial: Trial, index: number, parent: string): Promise<string> {
  await using files = await runFiles(`t${index}`, parent);
  let firstPid: number;
  {
    await using first = new WorkerProcess({
      ...files.base,
      role: "first",
      mode: "start",
      leaseMs: SHORT_LEASE,
      hangAt: trial.point,
      failShip: trial.ship !== "ok",
    });
    firstPid = first.pid;
    const outcome = await first.done;
    assertExited(outcome);
    assert.equal(outcome.marks.get("HANG"), trial.point, describe(outcome));
  }
  await leaseExpired(files.kvPath, files.id); // the dead owner's lease
  const roles = ["r0", "r1", "r2"];
  await using r0 = resumer(files, roles[0]!, trial);
  await using r1 = resumer(files, roles[1]!, trial);
  await using r2 = resumer(files, roles[2]!, trial);
  const resumers = [r0, r1, r2];
  await Promise.all(resumers.map((r) => r.expect("READY")));
  await Promise.all(resumers.map((r) => r.send("GO\n"))); // all three claim at once
  const outcomes = await Promise.all(resumers.map((r) => r.done));
  const all = outcomes.map(describe).join("\n");
  for (const outcome of outcomes) assertExited(outcome);
  if (trial.finished) {
    assert.ok(
      outcomes.every((o) => isLoser(o) && /No checkpoint rows/.test(o.errors[0]!.message)),
      `nothing left to resume:\n${all}`,
    );
    assert.deepEqual(await files.eventsOf("first"), trial.first, "the first process ran it all");
    assertOnce((await files.effects()).map((e) => e.event), trial.end);
    await assertGone(files);
    return outcomes.map((o) => o.errors[0]!.name).join(",");
  }
  const winners = outcomes.filter((o) => !isLoser(o));
  assert.equal(winners.length, 1, `exactly one resumer ran the run:\n${all}`);
  const winner = winners[0]!;
  if (trial.end === "done") {
    assert.equal(winner.errors.length, 0, all);
    assertFinished(winner.result, files);
  } else {
    assert.equal(winner.result, undefined, all);
    assert.equal(winner.errors.length, 1, all);
    assertRolledBack(winner.errors[0]);
  }
  const effects = await files.effects();
  assert.deepEqual(await files.eventsOf("first"), trial.first, "the first process, up to the kill");
  assert.deepEqual(await files.eventsOf(winner.role), trial.winner, "the winner: the rest, once");
  const others = effects.filter((e) => e.role !== "first" && e.role !== winner.role);
  assert.deepEqual(others, [], "the losers ran nothing");
  assert.ok(effects.every((e) => e.pid === (e.role === "first" ? firstPid : winner.pid)));
  assertOnce(effects.map((e) => e.event), trial.end);
  await assertGone(files);
  return outcomes.filter(isLoser).map((o) => o.errors[0]!.name).join(",");
}

function resumer(files: RunFiles, role: string, trial: Trial): WorkerProcess {
  return new WorkerProcess({
    ...files.base,
    role,
    mode: "resume",
    leaseMs: LONG_LEASE,
    barrier: true,
    failShip: trial.ship === "fails",
  });
}

Deno.test("Workflow.resumeFrom() from 3 processes at once on a crashed run: no side effect runs twice", async () => {
  const parent = await Deno.makeTempDir({ prefix: "cano_own_race_" });
  try {
    // A few trials at a time: each runs four processes, the three resumers at once.
    const queue = TRIALS.map((trial, index) => ({ trial, index }));
    const failures: string[] = [];
    const losses: string[] = [];
    const lane = async (): Promise<void> => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
        const { trial, index } = next;
        try {
          losses.push(await crashAndRace(trial, index, parent));
        } catch (error) {
          failures.push(`trial ${index} (${trial.point}, ship ${trial.ship}): ${error}`);
        }
      }
    };
    await Promise.all([lane(), lane(), lane()]);
    assert.deepEqual(failures, []);
    assert.equal(losses.length, TRIALS.length);
    if (Deno.env.get("CANO_E2E_VERBOSE")) console.log(losses.join(" "));
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------
// 2. A dead owner's lease holds the run until it expires; then another process takes over.

Deno.test("A SIGKILLed owner's run is claimed by another process after its lease expires, and finishes", async () => {
  await using files = await runFiles("expiry");
  await using a = new WorkerProcess({
    ...files.base,
    role: "A",
    mode: "start",
    leaseMs: 500,
    hangAt: "inside-ship",
  });
  await using b = new WorkerProcess({
    ...files.base,
    role: "B",
    mode: "resume",
    leaseMs: LONG_LEASE,
    barrier: true,
    retryOwned: true,
  });
  await b.expect("READY");
  await a.expect("HANG inside-ship"); // …and A is SIGKILLed
  await b.send("GO\n"); // at once: A's lease has not expired yet
  const killed = await a.done;
  assertExited(killed);
  const outcome = await b.done;
  assertExited(outcome);
  assert.equal(outcome.errors.length, 1, describe(outcome));
  const [owned] = outcome.errors;
  assert.equal(owned?.name, "RunOwnedError");
  assert.equal(owned?.category, "conflict");
  assert.match(owned?.owner ?? "", ownerOf(a.pid), "the dead process still held the run");
  assert.ok(owned.leaseUntil! > owned.at, "refused while the lease was in the future");
  assert.equal(outcome.retries.length, 1);
  assert.ok(outcome.retries[0]! >= owned.leaseUntil!, "retried once it expired");
  assertFinished(outcome.result, files);
  assert.deepEqual(await files.eventsOf("A"), FORWARD.slice(0, 5));
  assert.deepEqual(await files.eventsOf("B"), FORWARD.slice(4), "ship re-ran once, nothing before");
  await assertGone(files);
});

// ---------------------------------------------------------------------------------------------
// 3. A process that was paused past its lease, while another took the run over, stops dead.

Deno.test("A process whose lease was taken over stops dead: no writes, no compensation", async () => {
  await using files = await runFiles("stopped");
  // A has reserved and charged (two saga steps to undo) when it is frozen inside ship.
  await using a = new WorkerProcess({
    ...files.base,
    role: "A",
    mode: "start",
    leaseMs: SHORT_LEASE,
    stopAt: "inside-ship",
  });
  await a.expect("PAUSED inside-ship");
  await stopped(a.pid);
  await leaseExpired(files.kvPath, files.id);
  // B takes the run over and works on it (held inside notify) while A wakes up.
  await using b = new WorkerProcess({
    ...files.base,
    role: "B",
    mode: "resume",
    leaseMs: LONG_LEASE,
    holdAt: "inside-notify",
  });
  await b.expect("HELD inside-notify");
  a.kill("SIGCONT");
  const lost = await a.done;
  assertExited(lost);
  assertLost(lost, ownerOf(b.pid));
  const record = await files.record();
  assert.match(record?.owner ?? "", ownerOf(b.pid), "B's run is untouched");
  assert.equal(record?.status, "running");
  await files.release();
  const finished = await b.done;
  assertExited(finished);
  assertFinished(finished.result, files);
  assert.deepEqual(await files.eventsOf("A"), FORWARD.slice(0, 5), "A: nothing after the pause");
  assert.deepEqual(await files.eventsOf("B"), FORWARD.slice(4));
  assertOnce((await files.effects()).map((e) => e.event), "done");
  await assertGone(files);
});

Deno.test("A process whose event loop stalled inside a compensation past its lease does not finish the rollback", async () => {
  await using files = await runFiles("blocked");
  await using a = new WorkerProcess({
    ...files.base,
    role: "A",
    mode: "start",
    leaseMs: SHORT_LEASE,
    failShip: true,
    blockAt: "inside-compensate-charge",
  });
  await a.expect("BLOCKED inside-compensate-charge"); // its heartbeat cannot run
  await leaseExpired(files.kvPath, files.id);
  assert.equal((await files.record())?.status, "rolling_back");
  {
    await using b = new WorkerProcess({
      ...files.base,
      role: "B",
      mode: "resume",
      leaseMs: LONG_LEASE,
    });
    const outcome = await b.done;
    assertExited(outcome);
    assert.equal(outcome.errors.length, 1, describe(outcome));
    assertRolledBack(outcome.errors[0]);
  }
  assert.equal(await files.record(), undefined, "B finished the rollback");
  await files.release();
  const lost = await a.done;
  assertExited(lost);
  assertLost(lost, /record is gone/);
  assert.deepEqual(await files.eventsOf("A"), [...FAILED, ...ROLLBACK.slice(0, 1)]);
  assert.deepEqual(await files.eventsOf("B"), ROLLBACK, "B refunded (again) and released once");
  assertOnce((await files.effects()).map((e) => e.event), "rolled-back");
  await assertGone(files);
});

Deno.test("A process stalled past its lease has its next checkpoint refused while the new owner works", async () => {
  await using files = await runFiles("refused");
  await using a = new WorkerProcess({
    ...files.base,
    role: "A",
    mode: "start",
    leaseMs: SHORT_LEASE,
    blockAt: "notify-returned", // notify's task returned; the row of "done" is next
    releaseFile: files.releaseFileOf("A"),
  });
  await a.expect("BLOCKED notify-returned");
  await leaseExpired(files.kvPath, files.id);
  await using b = new WorkerProcess({
    ...files.base,
    role: "B",
    mode: "resume",
    leaseMs: LONG_LEASE,
    holdAt: "inside-notify",
  });
  await b.expect("HELD inside-notify");
  await files.release(files.releaseFileOf("A")); // A's stall ends; B is held until A is done
  const lost = await a.done;
  assertExited(lost);
  assertLost(lost, ownerOf(b.pid));
  assert.match((await files.record())?.owner ?? "", ownerOf(b.pid), "B's run is untouched");
  await files.release();
  const finished = await b.done;
  assertExited(finished);
  assertFinished(finished.result, files);
  assert.deepEqual(await files.eventsOf("A"), FORWARD, "A's notify ran before its stall");
  assert.deepEqual(await files.eventsOf("B"), FORWARD.slice(6), "notify re-ran, nothing else");
  await assertGone(files);
});

// ---------------------------------------------------------------------------------------------
// 4. Fresh ids started by several processes at once.

/** Three processes start one fresh id at once; the owner holds inside reserve until the others are done. */
async function startRace(mode: "start" | "startOrResume"): Promise<{
  files: RunFiles;
  winner: Outcome;
  losers: Outcome[];
}> {
  const files = await runFiles(mode);
  try {
    await using p0 = starter(files, "p0", mode);
    await using p1 = starter(files, "p1", mode);
    await using p2 = starter(files, "p2", mode);
    const starters = [p0, p1, p2];
    await Promise.all(starters.map((p) => p.expect("READY")));
    await Promise.all(starters.map((p) => p.send("GO\n")));
    // Each one either owns the run (held) or has been refused and exited.
    const held = await Promise.all(starters.map((p) => p.line("HELD inside-reserve")));
    assert.equal(held.filter(Boolean).length, 1, "exactly one process started the run");
    const owner = starters[held.findIndex(Boolean)]!;
    assert.match((await files.record())?.owner ?? "", ownerOf(owner.pid));
    await files.release();
    const outcomes = await Promise.all(starters.map((p) => p.done));
    for (const outcome of outcomes) assertExited(outcome);
    const winner = outcomes.find((o) => o.role === owner.role)!;
    assertFinished(winner.result, files);
    assert.deepEqual(await files.eventsOf(owner.role), FORWARD);
    assert.equal((await files.effects()).length, FORWARD.length, "the others ran nothing");
    await assertGone(files);
    return { files, winner, losers: outcomes.filter((o) => o !== winner) };
  } catch (error) {
    await files[Symbol.asyncDispose]();
    throw error;
  }
}

function starter(files: RunFiles, role: string, mode: "start" | "startOrResume"): WorkerProcess {
  return new WorkerProcess({
    ...files.base,
    role,
    mode,
    leaseMs: LONG_LEASE,
    barrier: true,
    holdAt: "inside-reserve",
  });
}

Deno.test("Workflow.orchestrate() of one fresh id from 3 processes at once: one runs it, the others get RunExistsError", async () => {
  const { files, losers } = await startRace("start");
  await using _ = files;
  for (const loser of losers) {
    assert.equal(loser.result, undefined, describe(loser));
    assert.deepEqual(loser.errors.map((e) => [e.name, e.category]), [
      ["RunExistsError", "conflict"],
    ]);
    assert.match(loser.errors[0]!.message, /already exists \(running\)/);
  }
});

Deno.test('orchestrate(initial, { id, ifExists: "resume" }) from 3 processes at once: one starts it, the others find it owned', async () => {
  const { files, winner, losers } = await startRace("startOrResume");
  await using _ = files;
  for (const loser of losers) {
    assert.equal(loser.result, undefined, describe(loser));
    assert.deepEqual(loser.errors.map((e) => [e.name, e.category]), [[
      "RunOwnedError",
      "conflict",
    ]]);
    assert.match(loser.errors[0]!.owner ?? "", ownerOf(winner.pid));
  }
});

// ---------------------------------------------------------------------------------------------
// Known gap, kept as ignored regression tests: a process learns that it lost the run only when a
// write is refused or its heartbeat fails. After an event-loop stall past its lease that ends
// right after a checkpoint, the engine's continuation starts the next task (or compensation)
// before the overdue heartbeat timer can run, though the lease has visibly expired. Unignore once
// the engine confirms its lease before starting a task or a compensation.

async function stallAfterCheckpoint(
  point: string,
  failShip: boolean,
): Promise<{ files: RunFiles; a: string[]; b: string[] }> {
  const files = await runFiles("stall");
  try {
    await using a = new WorkerProcess({
      ...files.base,
      role: "A",
      mode: "start",
      leaseMs: SHORT_LEASE,
      failShip,
      blockAt: point,
    });
    await a.expect(`BLOCKED ${point}`);
    await leaseExpired(files.kvPath, files.id);
    {
      await using b = new WorkerProcess({
        ...files.base,
        role: "B",
        mode: "resume",
        leaseMs: LONG_LEASE,
        failShip,
      });
      assertExited(await b.done);
    }
    assert.equal(await files.record(), undefined, "B finished the run");
    await files.release();
    const lost = await a.done;
    assertExited(lost);
    assertLost(lost, /record is gone/);
    await assertGone(files);
    return { files, a: await files.eventsOf("A"), b: await files.eventsOf("B") };
  } catch (error) {
    await files[Symbol.asyncDispose]();
    throw error;
  }
}

Deno.test({
  name: "A process stalled past its lease right after a checkpoint starts no task",
  ignore: false,
  fn: async () => {
    const { files, a, b } = await stallAfterCheckpoint("after-row-4", false);
    await using _ = files;
    assert.deepEqual(b, FORWARD.slice(4));
    assert.deepEqual(a, FORWARD.slice(0, 4), "A did not ship after its lease expired");
  },
});

Deno.test({
  name: "A process stalled past its lease right after a compensation starts no other compensation",
  ignore: false,
  fn: async () => {
    const { files, a, b } = await stallAfterCheckpoint("after-row-6", true);
    await using _ = files;
    assert.deepEqual(b, ROLLBACK.slice(2));
    assert.deepEqual(a, [...FAILED, ...ROLLBACK.slice(0, 2)], "A did not release the reservation");
  },
});
