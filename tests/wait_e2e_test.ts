// Wait states end to end: real processes share one Deno KV file (a temp file, removed after) and
// each does one thing to the runs of an approval workflow (tests/e2e/wait_worker.ts): wait for a
// run, park runs, send events, or sweep for due runs. The test itself only reads the KV file — the
// run records (`store.getRun`, `listExpired`) and a journal the workflow's side-effect states write
// to the same file (one entry per execution, with the event the state saw) — so what it asserts is
// what a crash, a restart or a race left behind, not what a process said.
//
// Nothing sleeps for a fixed time: the test polls the KV state (every 20 ms) for what it waits for,
// and every wait is bounded by a deadline that fails with a message naming what did not happen.

import assert from "node:assert/strict";
import { KvCheckpointStore } from "../kv.ts";
import type { RunInfo } from "../mod.ts";
import { JsonLineChild, type JsonLineOutcome } from "./_subprocess.ts";
import type { JournalEntry, WaitWorkerConfig, WaitWorkerLine } from "./e2e/wait_worker.ts";

const WORKER = new URL("./e2e/wait_worker.ts", import.meta.url).pathname;
/** Each test, children included, ends within this. */
const BUDGET_MS = 45_000;
/** How often KV state is polled. */
const POLL_MS = 20;

type Child = JsonLineChild<WaitWorkerLine>;
type Outcome = JsonLineOutcome<WaitWorkerLine>;

/** A temp KV file (`Deno.makeTempFile`) with a store and a handle on it; disposing removes it. */
interface Shared extends AsyncDisposable {
  readonly path: string;
  readonly kv: Deno.Kv;
  readonly store: KvCheckpointStore;
  /** Fails with `what` once the test's budget is spent. */
  readonly deadline: number;
  /** Every child spawned, disposed (SIGKILLed if alive) with the file. */
  readonly children: Child[];
}

async function shared(): Promise<Shared> {
  const deadline = Date.now() + BUDGET_MS;
  const path = await Deno.makeTempFile({ prefix: "cano_wait_e2e_", suffix: ".sqlite3" });
  const kv = await Deno.openKv(path);
  const children: Child[] = [];
  return {
    path,
    kv,
    store: new KvCheckpointStore(kv),
    deadline,
    children,
    async [Symbol.asyncDispose]() {
      for (const child of children) await child[Symbol.asyncDispose]();
      kv.close();
      for (const file of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) {
        await Deno.remove(file).catch(() => {});
      }
    },
  };
}

/** Starts a worker process on the shared file. */
function spawn(
  env: Shared,
  config: Omit<WaitWorkerConfig, "kvPath" | "safetyMs">,
): Child {
  const full: WaitWorkerConfig = {
    ...config,
    kvPath: env.path,
    safetyMs: Math.max(1_000, env.deadline - Date.now()),
  };
  const child = new JsonLineChild<WaitWorkerLine>(WORKER, [JSON.stringify(full)], {
    stdin: config.gate === true,
  });
  env.children.push(child);
  return child;
}

/** A child's lines, status and stderr, for a failure message. */
function describe(child: Child, outcome?: Outcome): string {
  return JSON.stringify({
    pid: child.pid,
    status: outcome?.status,
    lines: child.lines.slice(0, 40),
    stderr: outcome?.stderr.slice(0, 2_000),
  });
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

/** Waits for `child` to exit 0; returns its lines. */
async function finished(env: Shared, child: Child, what: string): Promise<WaitWorkerLine[]> {
  const outcome = await before(env.deadline, what, child.done, () => describe(child));
  assert.equal(outcome.status.code, 0, `${what} failed: ${describe(child, outcome)}`);
  return outcome.lines;
}

/** Polls `read` until it returns a value other than `undefined`; fails naming `what` at the deadline. */
async function poll<T>(
  env: Shared,
  what: string,
  read: () => Promise<T | undefined>,
  details: () => string = () => "",
): Promise<T> {
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() >= env.deadline) throw new Error(`timed out waiting for ${what}\n${details()}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** A run's record once its status is `status`. */
function statusIs(env: Shared, id: string, status: RunInfo["status"]) {
  return async (): Promise<RunInfo | undefined> => {
    const run = await env.store.getRun(id);
    return run?.status === status ? run : undefined;
  };
}

/** Whether `listExpired` lists run `id` (it is due: an event, its deadline, a cancel). */
async function isDue(env: Shared, id: string): Promise<boolean> {
  const page = await env.store.listExpired({ limit: 1_000 });
  return page.runs.some((run) => run.id === id);
}

/** The side-effect executions of run `id`, in journal order, with their state. */
async function journal(env: Shared, id: string): Promise<(JournalEntry & { state: string })[]> {
  const entries: (JournalEntry & { state: string })[] = [];
  for await (const entry of env.kv.list<JournalEntry>({ prefix: ["journal", id] })) {
    entries.push({ ...entry.value, state: entry.key[2] as string });
  }
  return entries.sort((a, b) => a.at - b.at);
}

function linesOf<T extends WaitWorkerLine["t"]>(
  lines: WaitWorkerLine[],
  t: T,
): Extract<WaitWorkerLine, { t: T }>[] {
  return lines.filter((line): line is Extract<WaitWorkerLine, { t: T }> => line.t === t);
}

Deno.test("Workflow.registerWait() survives a SIGKILL while parked: a fresh process delivers the event and the run finishes", async () => {
  await using env = await shared();
  const id = "expense-kill";

  // 1. A process starts the run with the default onWait: "wait": the run parks, the process waits.
  const waiter = spawn(env, { mode: "wait", ids: [id] });
  const parked = await poll(
    env,
    "the run to park",
    statusIs(env, id, "waiting"),
    () => describe(waiter),
  );
  assert.equal(
    parked.owner,
    undefined,
    "a parked run holds no lease, even while its process waits",
  );
  assert.equal(parked.state, "ask");
  assert.deepEqual(parked.wait?.events, ["approved", "rejected"]);
  assert.equal(parked.wait?.state, "ask");
  assert.equal(parked.wait?.until, undefined, "no deadline");
  assert.equal(waiter.exited, false, `the waiting process is alive: ${describe(waiter)}`);
  assert.deepEqual(linesOf(waiter.lines, "settled"), [], "its orchestrate call is still pending");

  // 2. SIGKILL it while the run is parked.
  waiter.kill("SIGKILL");
  const killed = await before(env.deadline, "the SIGKILLed waiter to exit", waiter.done);
  assert.equal(killed.status.signal, "SIGKILL", describe(waiter, killed));
  const afterKill = await env.store.getRun(id);
  assert.equal(afterKill?.status, "waiting", "the kill changed nothing: the run is still parked");
  assert.equal(afterKill?.sequence, parked.sequence);
  assert.equal(await isDue(env, id), false, "not due: nothing arrived yet");
  assert.deepEqual(await journal(env, id), [], "no side effect ran yet");

  // 3. A fresh process sends the event: delivered, and the run is due at once.
  const sender = spawn(env, {
    mode: "send",
    ids: [id],
    event: "approved",
    eventId: "mail-1",
    payload: { by: "maria" },
  });
  const sent = linesOf(await finished(env, sender, "the sender"), "sent");
  assert.deepEqual(sent.map((line) => line.outcome), ["delivered"], describe(sender));
  assert.equal(await isDue(env, id), true, "an event it waits for makes the parked run due");

  // 4. A third process's recovery sweep resumes it: "ship" runs, the run ends.
  const sweeper = spawn(env, { mode: "sweep", ids: [id] });
  const swept = await finished(env, sweeper, "the sweeper");
  assert.equal(linesOf(swept, "swept")[0]?.resumed, 1, describe(sweeper));
  assert.deepEqual(
    linesOf(swept, "recovered").map(({ outcome, error }) => ({ outcome, error })),
    [{ outcome: "completed", error: undefined }],
    describe(sweeper),
  );

  // The KV file tells: the record is gone, and "ship" ran exactly once, in the sweeper, with the event.
  assert.equal(await env.store.getRun(id), undefined, "finished: no record left");
  const executions = await journal(env, id);
  assert.equal(executions.length, 1, `exactly one side effect: ${JSON.stringify(executions)}`);
  const [ship] = executions;
  assert.equal(ship?.state, "ship");
  assert.equal(ship?.pid, sweeper.pid, "run by the process that swept");
  assert.deepEqual(ship?.event, {
    name: "approved",
    payload: { by: "maria" },
    eventId: `mail-1:${id}`,
    seq: 1,
  });
});

Deno.test("Workflow.registerWait() keeps its deadline across a restart: past it, a fresh process's sweep takes the timeout edge at once", async () => {
  await using env = await shared();
  const id = "expense-deadline";
  const timeoutMs = 300;

  // 1. A process parks the run with a 300 ms deadline (onWait: "return") and exits.
  const parker = spawn(env, { mode: "park", ids: [id], timeoutMs });
  const line = await before(
    env.deadline,
    "the run to park",
    parker.line((l) => l.t === "parked" || l.t === "error"),
    () => describe(parker),
  );
  // Checked only while the deadline is still ahead (a slow machine may be past it already).
  const early = Date.now();
  const dueEarly = await isDue(env, id);
  if (line?.t === "parked" && line.until !== null && Date.now() < line.until - 20) {
    assert.equal(dueEarly, false, `not due before its deadline (checked at ${early})`);
  }
  const parkedLines = linesOf(await finished(env, parker, "the parking process"), "parked");
  assert.equal(parkedLines.length, 1, describe(parker));
  const until = parkedLines[0]!.until;
  assert.ok(typeof until === "number", "the parked result has a deadline");
  const record = await env.store.getRun(id);
  assert.equal(record?.status, "waiting");
  assert.equal(record?.owner, undefined);
  assert.equal(record?.wait?.until?.getTime(), until, "the record keeps the deadline");

  // 2. Nobody runs: the deadline passes with no process alive (polled, not slept).
  await poll(env, "the parked run to be due at its deadline", async () => {
    return (await isDue(env, id)) ? true : undefined;
  });
  assert.ok(Date.now() >= until, "due only once its deadline passed");

  // 3. A fresh process sweeps: its first sweep resumes the run, which takes the timeout edge at
  // once. (A deadline recomputed on resume — now + 300 ms — would park it again: "waiting".)
  const sweeper = spawn(env, { mode: "sweep", ids: [id], timeoutMs });
  const swept = await finished(env, sweeper, "the sweeper");
  assert.equal(linesOf(swept, "swept")[0]?.resumed, 1, describe(sweeper));
  assert.deepEqual(
    linesOf(swept, "recovered").map(({ outcome, error }) => ({ outcome, error })),
    [{ outcome: "completed", error: undefined }],
    describe(sweeper),
  );
  assert.equal(await env.store.getRun(id), undefined, "finished: no record left");
  const executions = await journal(env, id);
  assert.deepEqual(
    executions.map(({ state, event, pid }) => ({ state, event, pid })),
    [{ state: "expired", event: null, pid: sweeper.pid }],
    "the timeout edge ran once, with no event",
  );
});

Deno.test("store.sendEvent() from two processes at once with one eventId: one delivery, one duplicate, consumed once", async () => {
  await using env = await shared();
  // 20 runs, so that the two senders race 20 times. Each run needs two approvals ("ship" loops back
  // to "ask" once): if the duplicate had been kept, the second wait would take it at once.
  const ids = Array.from({ length: 20 }, (_, i) => `expense-dup-${String(i).padStart(2, "0")}`);
  const parker = spawn(env, { mode: "park", ids, rounds: 2 });
  const parked = linesOf(await finished(env, parker, "the parking process"), "parked");
  assert.deepEqual(parked.map((line) => line.id), ids, describe(parker));

  // Two processes, opened and ready, released at the same moment: same name, same eventId.
  const senders = ["A", "B"].map((from) =>
    spawn(env, {
      mode: "send",
      ids,
      event: "approved",
      eventId: "mail-7",
      payload: { from },
      gate: true,
    })
  );
  await before(
    env.deadline,
    "both senders to be ready",
    Promise.all(senders.map((s) => s.line((l) => l.t === "ready"))),
    () => senders.map((s) => describe(s)).join("\n"),
  );
  await Promise.all(senders.map((s) => s.closeStdin()));
  const [linesA, linesB] = await Promise.all(
    senders.map((s, i) => finished(env, s, `sender ${"AB"[i]}`)),
  );
  const outcomes = new Map<string, { A?: string; B?: string }>();
  for (const [from, lines] of [["A", linesA!], ["B", linesB!]] as const) {
    for (const line of linesOf(lines, "sent")) {
      outcomes.set(line.id, { ...outcomes.get(line.id), [from]: line.outcome });
    }
  }
  const winners = new Map<string, "A" | "B">();
  for (const id of ids) {
    const { A, B } = outcomes.get(id) ?? {};
    const pair = [A, B].sort();
    assert.ok(
      (pair[0] === "delivered" || pair[0] === "queued") && pair[1] === "duplicate",
      `run ${id}: exactly one delivery and one duplicate, got A=${A} B=${B}`,
    );
    winners.set(id, A === "duplicate" ? "B" : "A");
  }
  // How close the race was: which sender won how often, and how far apart their sends ended.
  const endedAt = (lines: WaitWorkerLine[]) => linesOf(lines, "sent").map((line) => line.at);
  const [atA, atB] = [endedAt(linesA!), endedAt(linesB!)];
  console.log(JSON.stringify({
    races: ids.length,
    wonByA: [...winners.values()].filter((w) => w === "A").length,
    wonByB: [...winners.values()].filter((w) => w === "B").length,
    sendersEndedApartMs: Math.abs(Math.max(...atA) - Math.max(...atB)),
  }));

  // One sweep: every run consumes the event once ("ship"), loops back and parks again — the
  // second wait found no second event, so the duplicate was never stored.
  const sweeper = spawn(env, { mode: "sweep", ids, rounds: 2 });
  const swept = await finished(env, sweeper, "the first sweeper");
  assert.equal(linesOf(swept, "swept")[0]?.resumed, ids.length, describe(sweeper));
  const recovered = linesOf(swept, "recovered");
  assert.deepEqual(
    recovered.map((line) => line.outcome),
    ids.map(() => "waiting"),
    `each run parked again for its second approval: ${describe(sweeper)}`,
  );
  for (const id of ids) {
    const record = await env.store.getRun(id);
    assert.equal(record?.status, "waiting", `${id} waits again`);
    assert.equal(record?.wait?.state, "ask");
    assert.equal(await isDue(env, id), false, `${id}: no second event is there to wake it`);
    const executions = await journal(env, id);
    assert.deepEqual(
      executions.map(({ state, event }) => ({ state, event })),
      [{
        state: "ship",
        event: {
          name: "approved",
          payload: { from: winners.get(id) },
          eventId: `mail-7:${id}`,
          seq: 1,
        },
      }],
      `${id}: "ship" ran once, with the delivered sender's payload`,
    );
  }

  // A second, distinct event ends every run: its seq is 2 (the inbox held one event before it).
  const closer = spawn(env, {
    mode: "send",
    ids,
    event: "rejected",
    eventId: "close",
    payload: { reason: "over budget" },
  });
  const closed = linesOf(await finished(env, closer, "the closing sender"), "sent");
  assert.deepEqual(closed.map((line) => line.outcome), ids.map(() => "delivered"));
  const last = spawn(env, { mode: "sweep", ids, rounds: 2 });
  const ended = linesOf(await finished(env, last, "the second sweeper"), "recovered");
  assert.deepEqual(ended.map((line) => line.outcome), ids.map(() => "completed"), describe(last));
  for (const id of ids) {
    assert.equal(await env.store.getRun(id), undefined, `${id} finished`);
    const executions = await journal(env, id);
    assert.deepEqual(
      executions.map(({ state, event }) => [state, event?.seq]),
      [["ship", 1], ["refund", 2]],
      `${id}: one "ship", then one "refund"`,
    );
  }
});

Deno.test("Workflow.orchestrate() waiting in one process wakes its run when another process sends the event", async () => {
  await using env = await shared();
  const id = "expense-wake";
  const waiter = spawn(env, { mode: "wait", ids: [id] });
  await poll(env, "the run to park", statusIs(env, id, "waiting"), () => describe(waiter));

  const sender = spawn(env, {
    mode: "send",
    ids: [id],
    event: "approved",
    eventId: "mail-9",
    payload: { by: "li" },
  });
  const sent = linesOf(await finished(env, sender, "the sender"), "sent");
  assert.deepEqual(sent.map((line) => line.outcome), ["delivered"]);
  const sentAt = Date.now();

  // The waiting process notices within about a second (its one poll per second) and finishes.
  const settled = linesOf(await finished(env, waiter, "the waiting process to settle"), "settled");
  assert.deepEqual(
    settled,
    [{ t: "settled", id, status: "done", state: "done" }],
    describe(waiter),
  );
  const wokeMs = Date.now() - sentAt;
  assert.ok(wokeMs < 5_000, `woken about a second after the event, not much later (${wokeMs} ms)`);
  assert.equal(await env.store.getRun(id), undefined);
  const executions = await journal(env, id);
  assert.deepEqual(
    executions.map(({ state, pid, event }) => ({ state, pid, eventId: event?.eventId })),
    [{ state: "ship", pid: waiter.pid, eventId: `mail-9:${id}` }],
    "ship ran once, in the process that waited",
  );
});
