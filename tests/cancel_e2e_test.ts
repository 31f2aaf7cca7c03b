// Durable cancel end to end: a run owned by one process is cancelled by a request made from
// another process on the same Deno KV file. The owner sees the request at its next poll (about a
// second; its lease is far longer, so expiry plays no part), aborts, and runs its compensations in
// reverse order; nothing is left in the store. A run whose owner was SIGKILLed is cancelled the
// same way by the recovery sweep that claims it, which never runs it forward. A cancel of a run
// that finished (or never was) is a typed no-op: `not_found`.

import assert from "node:assert/strict";
import { KvCheckpointStore } from "../kv.ts";
import { leaseExpired } from "./_checkpoint_helpers.ts";
import { JsonLineChild, type JsonLineOutcome } from "./_subprocess.ts";
import type { CancelWorkerConfig, CancelWorkerLine, PrintedError } from "./e2e/cancel_worker.ts";

const WORKER = new URL("./e2e/cancel_worker.ts", import.meta.url).pathname;
/** The owner keeps the run: a cancel is seen by the poll, never through an expired lease. */
const LONG_LEASE = 10_000;
/** The lease of an owner the test kills: it must expire soon. */
const SHORT_LEASE = 500;
/** A cancelled run must have ended this long after the request (the poll is about 1 s). */
const ENDED_WITHIN_MS = 5_000;

type Child = JsonLineChild<CancelWorkerLine>;
type Line<T extends CancelWorkerLine["t"]> = Extract<CancelWorkerLine, { t: T }>;

function spawn(config: CancelWorkerConfig): Child {
  return new JsonLineChild<CancelWorkerLine>(WORKER, [JSON.stringify(config)]);
}

function describe(outcome: JsonLineOutcome<CancelWorkerLine>): string {
  return JSON.stringify(outcome);
}

/** The line of type `t` the child prints, or a failure with what it printed instead. */
async function expectLine<T extends CancelWorkerLine["t"]>(child: Child, t: T): Promise<Line<T>> {
  const line = await child.line((l) => l.t === t);
  if (line === undefined) assert.fail(`no "${t}" line: ${describe(await child.done)}`);
  return line as Line<T>;
}

/** Awaits the child's exit; it must exit 0. */
async function exited(child: Child): Promise<JsonLineOutcome<CancelWorkerLine>> {
  const outcome = await child.done;
  assert.equal(outcome.status.code, 0, describe(outcome));
  return outcome;
}

/** A fresh KV file, a journal and a run id; removed on dispose. */
async function files(label: string) {
  const dir = await Deno.makeTempDir({ prefix: `cano_cancel_${label}_` });
  const kvPath = `${dir}/runs.kv`;
  const journalPath = `${dir}/journal.log`;
  const id = `order-${label}-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.writeTextFile(journalPath, "");
  (await Deno.openKv(kvPath)).close(); // created once, before processes open it
  return {
    kvPath,
    id,
    /** The settings of a process that runs the saga (`owner`, `recover`). */
    base: { kvPath, journalPath, id },
    /** The journal as `[pid, event]` pairs, the run id in events read as `ID`. */
    async journal(): Promise<[number, string][]> {
      return (await Deno.readTextFile(journalPath)).split("\n").filter(Boolean).map((line) => {
        const [pid = "", ...event] = line.split(" ");
        return [Number(pid), event.join(" ").replaceAll(id, "ID")];
      });
    },
    /** The run's record and rows left in the store. */
    async leftovers(): Promise<{ record: unknown; rows: unknown[] }> {
      using kv = await Deno.openKv(kvPath);
      const store = new KvCheckpointStore(kv);
      return { record: await store.getRun(id), rows: await store.loadRun(id) };
    },
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

type RunFiles = Awaited<ReturnType<typeof files>>;

/**
 * Requests the cancel of `ids` from a process of its own, which must exit 0 having answered for
 * each of them, in order; resolves with its answers.
 */
async function cancelFrom(run: RunFiles, ids: string[], reason: string): Promise<Line<"cancel">[]> {
  await using canceller = spawn({ mode: "cancel", kvPath: run.kvPath, ids, reason });
  const outcome = await exited(canceller);
  const answers = outcome.lines.filter((l): l is Line<"cancel"> => l.t === "cancel");
  assert.deepEqual(answers.map((a) => a.id), ids, describe(outcome));
  return answers;
}

/**
 * The journal says `owner` reserved, charged and entered `wait`, then `compensator` refunded and
 * released (in reverse order, once each); nothing is left in the store.
 */
async function assertRolledBack(run: RunFiles, owner: number, compensator: number): Promise<void> {
  assert.deepEqual(await run.journal(), [
    [owner, "reserve"],
    [owner, "charge"],
    [owner, "wait"],
    [compensator, "refund c-ID"],
    [compensator, "release r-ID"],
  ]);
  assert.deepEqual(await run.leftovers(), { record: undefined, rows: [] });
}

/**
 * The run's error is the cancellation a durable request causes: a StateContextError whose cause is
 * a CancelledError, with the request's reason down the cause chain.
 */
function assertCancelled(error: PrintedError | undefined, reason: string): void {
  assert.equal(error?.name, "StateContextError", JSON.stringify(error));
  assert.equal(error?.cause?.name, "CancelledError", JSON.stringify(error));
  assert.equal(error?.cause?.category, "cancelled", JSON.stringify(error));
  const messages: string[] = [];
  for (let e: PrintedError | undefined = error; e !== undefined; e = e.cause) {
    messages.push(e.message);
  }
  assert.ok(
    messages.some((m) => m.endsWith(`was cancelled: ${reason}`)),
    `the reason is in the cause chain: ${JSON.stringify(error)}`,
  );
}

Deno.test("A cancel requested from another process ends the owner's run cancelled within a poll, its compensations run in reverse", async () => {
  await using run = await files("live");
  await using owner = spawn({ mode: "owner", ...run.base, leaseMs: LONG_LEASE });
  await expectLine(owner, "waiting");

  const [request] = await cancelFrom(run, [run.id], "from another process");
  assert.ok(request !== undefined);
  assert.equal(request.outcome, "requested", JSON.stringify(request));
  assert.equal(request.run?.status, "running");
  assert.match(request.run?.owner ?? "", new RegExp(`^deno-${owner.pid}-`), "the owner is alive");
  assert.equal(request.run?.cancel, "from another process");

  const timer = setTimeout(() => owner.kill("SIGKILL"), ENDED_WITHIN_MS + 2_000);
  let ended: Line<"error">;
  try {
    ended = await expectLine(owner, "error");
  } finally {
    clearTimeout(timer);
  }
  await exited(owner);
  assertCancelled(ended.error, "from another process");
  const took = ended.at - request.at;
  assert.ok(took < ENDED_WITHIN_MS, `ended ${took} ms after the request (lease ${LONG_LEASE} ms)`);
  console.log(`cancelled ${took} ms after the request`);

  await assertRolledBack(run, owner.pid, owner.pid);
});

Deno.test("A cancel requested while nobody owns the run (its owner SIGKILLed) is carried out by the recovery sweep that claims it", async () => {
  await using run = await files("dead");
  await using owner = spawn({ mode: "owner", ...run.base, leaseMs: SHORT_LEASE });
  await expectLine(owner, "waiting");
  owner.kill("SIGKILL");
  assert.equal((await owner.done).status.signal, "SIGKILL");
  await leaseExpired(run.kvPath, run.id);

  const [request] = await cancelFrom(run, [run.id], "owner is gone");
  assert.ok(request !== undefined);
  assert.equal(request.outcome, "requested", JSON.stringify(request));
  assert.ok((request.run?.leaseUntil ?? Infinity) < request.at, "nobody held the run");

  await using recoverer = spawn({ mode: "recover", ...run.base, leaseMs: SHORT_LEASE });
  const recovered = await expectLine(recoverer, "recovered");
  await exited(recoverer);
  assert.equal(recovered.outcome, "cancelled", JSON.stringify(recovered));
  assertCancelled(recovered.error, "owner is gone");

  // The dead owner reserved, charged and entered `wait`; the sweeper only compensated, in
  // reverse order, once each — it never ran `wait` (or anything) forward.
  await assertRolledBack(run, owner.pid, recoverer.pid);
});

Deno.test("A cancel requested from another process for a finished run, or an unknown one, is not_found", async () => {
  await using run = await files("finished");
  await using owner = spawn({ mode: "owner", ...run.base, leaseMs: LONG_LEASE, finish: true });
  const result = await expectLine(owner, "result");
  await exited(owner);
  assert.equal(result.state, "done");

  const answers = await cancelFrom(run, [run.id, `${run.id}-never`], "too late");
  assert.deepEqual(answers.map((a) => [a.id, a.outcome, a.run]), [
    [run.id, "not_found", undefined],
    [`${run.id}-never`, "not_found", undefined],
  ]);
  assert.deepEqual((await run.journal()).map(([, event]) => event), ["reserve", "charge", "wait"]);
  assert.deepEqual(await run.leftovers(), { record: undefined, rows: [] });
});
