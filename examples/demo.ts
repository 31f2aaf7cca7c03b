/**
 * The headline in one file: a durable workflow on a local Deno KV file — no server — that finishes
 * even though the process running it is killed.
 *
 * 1. A child process (this file, re-run with `--child`) starts order-1 on a KV file in a temp
 *    folder: `validate → charge → reserve → ship`. Inside `reserve` it tells the parent, which
 *    SIGKILLs it there.
 * 2. The parent runs a recovery sweep: once the dead child's lease runs out, the sweep claims the
 *    run and resumes it from its last checkpoint — `reserve` — so the card is charged once, not twice.
 * 3. order-2's courier can never deliver: `ship` fails for good and the saga rolls back, releasing
 *    the stock and refunding the charge, newest step first.
 *
 * It prints the timeline of both runs (which process did what, in which state and attempt), the
 * workflow's Mermaid graph and a final `demo ok: {…}` line, and exits non-zero if any of it did not
 * happen. Run it with `deno task demo` (needs `--allow-read --allow-write --allow-run`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { KvCheckpointStore } from "../kv.ts";
import { RetryMode, startRecovery, TaskConfig, Workflow } from "../mod.ts";
import { runAndKill } from "../testing.ts";
import { runCli } from "../admin.ts";

/** How long a killed process keeps its runs locked (the store's default is 30 s). */
const LEASE_MS = 400;
/** The line the child prints from inside `reserve`; the parent kills it when it reads it. */
const INSIDE_RESERVE = "demo: inside reserve";

// ── The timeline: every process notes what it does; the child prints its notes for the parent ───

interface Note {
  /** Milliseconds since the demo began (both processes measure from the parent's start). */
  at: number;
  process: string;
  state: string;
  attempt: number | undefined;
  what: string;
}

const child = Deno.args[0] === "--child";
const [kvPath, began] = child ? [Deno.args[1]!, Number(Deno.args[2])] : ["", Date.now()];
const me = `${child ? "child" : "parent"} ${Deno.pid}`;
const notes: Note[] = [];

function note(state: string, attempt: number | undefined, what: string): void {
  const entry = { at: Date.now() - began, process: me, state, attempt, what };
  if (child) console.log(`note ${JSON.stringify(entry)}`);
  else show(entry);
}

function show(entry: Note): void {
  notes.push(entry);
  const at = `${(entry.at / 1_000).toFixed(2)}s`.padStart(6);
  const attempt = String(entry.attempt ?? "·").padStart(3);
  console.log(
    `  ${at}  ${entry.process.padEnd(13)} ${entry.state.padEnd(9)}${attempt}  ${entry.what}`,
  );
}

// ── The workflow ────────────────────────────────────────────────────────────────────────────────

type Step = "validate" | "charge" | "reserve" | "ship" | "done" | "rejected";
interface Order {
  items: number;
  amount: number;
  address: string;
}

function orders(store: KvCheckpointStore) {
  const workflow = new Workflow<Step, Order>({ name: "order" })
    .register("validate", (ctx) => {
      const { items, amount, address } = ctx.data;
      const valid = items > 0 && amount > 0;
      note(
        ctx.state,
        ctx.attempt,
        `${items} × widget, ${amount} EUR, to ${address}: ${valid ? "valid" : "rejected"}`,
      );
      return valid ? "charge" : "rejected";
    }, { next: ["charge", "rejected"], config: TaskConfig.minimal() })
    // A saga step: if a later state fails for good, `compensate` undoes it with its `output`.
    .registerWithCompensation("charge", {
      name: "charge",
      config: TaskConfig.minimal(),
      run: (ctx) => {
        const chargeId = `ch_${ctx.workflowId}`;
        note(ctx.state, ctx.attempt, `charged ${ctx.data.amount} EUR (${chargeId})`);
        return { next: "reserve", output: { chargeId, amount: ctx.data.amount } };
      },
      compensate: (_ctx, charge) =>
        note("charge", undefined, `rollback: refunded ${charge.amount} EUR (${charge.chargeId})`),
    }, { next: ["reserve"] })
    .registerWithCompensation("reserve", {
      name: "reserve",
      config: TaskConfig.minimal(),
      run: async (ctx) => {
        if (child) {
          note(ctx.state, ctx.attempt, `reserving ${ctx.data.items} × widget…`);
          console.log(INSIDE_RESERVE); // the parent SIGKILLs this process on this line,
          await new Promise(() => {}); // so this never resolves
        }
        const reservation = `rsv_${ctx.workflowId}`;
        note(ctx.state, ctx.attempt, `reserved ${ctx.data.items} × widget (${reservation})`);
        return { next: "ship", output: reservation };
      },
      compensate: (_ctx, reservation) =>
        note("reserve", undefined, `rollback: released ${reservation}`),
    }, { next: ["ship"] })
    .register("ship", (ctx) => {
      if (ctx.data.address === "Atlantis") {
        note(ctx.state, ctx.attempt, "courier: no route to Atlantis");
        throw new Error("courier: no route to Atlantis");
      }
      note(ctx.state, ctx.attempt, `shipped to ${ctx.data.address}`);
      return "done";
    }, { next: ["done"], config: { retry: RetryMode.fixed(2, 25) } })
    .addExitStates("done", "rejected")
    .withCheckpointStore(store);

  // What the engine does around the tasks, from its events.
  workflow.addEventListener("taskfailure", (e) => {
    note(e.state, undefined, "no retries left: the saga rolls back, newest step first");
  });
  workflow.addEventListener("runend", (e) => {
    note(
      e.state ?? "·",
      undefined,
      e.state ? `finished in "${e.state}"` : "run failed, rolled back",
    );
  });
  return workflow;
}

// ── The child: start order-1 and get killed inside `reserve` ────────────────────────────────────

if (child) {
  // A child whose parent vanished must not linger.
  setTimeout(() => Deno.exit(70), 30_000);
  const kv = await Deno.openKv(kvPath);
  const workflow = orders(new KvCheckpointStore(kv, { leaseMs: LEASE_MS }));
  await workflow.orchestrate("validate", {
    id: "order-1",
    data: { items: 2, amount: 42, address: "Berlin" },
  });
  throw new Error("unreachable: the parent kills this process inside reserve");
}

// ── The parent ──────────────────────────────────────────────────────────────────────────────────

const dir = await Deno.makeTempDir({ prefix: "cano_demo_" });
const path = `${dir}/orders.sqlite3`;
const kv = await Deno.openKv(path);
try {
  const store = new KvCheckpointStore(kv, { leaseMs: LEASE_MS });
  const workflow = orders(store);
  console.log(`cano demo: an order workflow on the Deno KV file ${path} (no server)\n`);
  console.log("    time  process       state    try  what happened");

  // 1. order-1 in a child process, SIGKILLed inside `reserve`.
  console.log('── order-1: a child process starts it and is SIGKILLed inside "reserve" ──');
  const killed = await runAndKill({
    module: new URL(import.meta.url),
    args: ["--child", path, String(began)],
    at: (line) => line === INSIDE_RESERVE,
    flags: ["--quiet", "--unstable-kv", `--allow-read=${dir}`, `--allow-write=${dir}`],
    cwd: new URL("../", import.meta.url), // where deno.json is
    timeoutMs: 20_000,
  });
  for (const line of killed.stdout) {
    if (line.startsWith("note ")) show(JSON.parse(line.slice(5)));
  }
  // Windows has no signals: there the kill ends the child with exit code 1.
  const bySigkill = killed.signal === "SIGKILL" ||
    (Deno.build.os === "windows" && killed.code !== 0);
  assert.ok(bySigkill, `the child was SIGKILLed (it ended with ${killed.signal ?? killed.code})`);
  note("reserve", undefined, `SIGKILL → child ${killed.pid} (exit code ${killed.code})`);
  const left = await store.getRun("order-1");
  assert.ok(left?.state === "reserve", "the dead child's last checkpoint is reserve's");
  assert.ok(left.owner?.startsWith(`deno-${killed.pid}-`), "the dead child still holds the run");
  const lockedFor = Math.max(0, left.leaseUntil.getTime() - Date.now());
  note(
    left.state,
    undefined,
    `KV file: ${left.status} in "${left.state}", owner ${left.owner} (dead), lease ends in ` +
      `${lockedFor} ms`,
  );

  // What the admin CLI (`deno run -A admin.ts --kv FILE list`) shows of the file meanwhile.
  const listed: string[] = [];
  await runCli(["--kv", path, "list", "--json"], {
    out: (line) => listed.push(line),
    err: (line) => console.error(line),
    env: () => undefined,
    stopped: () => Promise.resolve(),
  });
  const stuck = listed.map((line) => JSON.parse(line)).find((run) => run.id === "order-1");
  assert.ok(stuck?.status === "running", "the admin CLI lists order-1 as running");
  note(left.state, undefined, `admin CLI list: order-1 ${stuck.status} in "${stuck.state}"`);

  // 2. Recovery in the parent: finishes order-1 once the dead child's lease has run out.
  const recovered = Promise.withResolvers<string>();
  await using recovery = startRecovery({ store, workflows: [workflow], every: 50 });
  recovery.addEventListener("recover", (e) => {
    note(left.state, undefined, `recovery sweep: ${e.runId}'s lease ran out; claiming it`);
  });
  workflow.addEventListener("resume", (e) => {
    note(left.state, undefined, `resumed at checkpoint #${e.sequence}: validate, charge not rerun`);
  });
  recovery.addEventListener("recovered", (e) => recovered.resolve(e.outcome));
  const deadline = setTimeout(
    () => recovered.reject(new Error("order-1 was not recovered")),
    10_000,
  );
  const outcome = await recovered.promise.finally(() => clearTimeout(deadline));
  await recovery.stop(); // (also on the way out, by `await using`, when something failed)
  assert.equal(outcome, "completed", "recovery finished order-1");
  assert.equal(await store.getRun("order-1"), undefined, "order-1 is finished: nothing left");

  // 3. order-2: shipping fails for good, so the saga undoes reserve, then charge.
  console.log('── order-2: "ship" fails for good; the saga rolls back ──');
  const failure = await workflow.orchestrate("validate", {
    id: "order-2",
    data: { items: 1, amount: 19, address: "Atlantis" },
  }).then(() => undefined, (error: unknown) => error);
  assert.ok(failure !== undefined, "order-2 failed");
  assert.equal(await store.getRun("order-2"), undefined, "order-2 is rolled back: nothing left");

  // What the timeline must show, or the demo fails.
  const of = (what: RegExp) => notes.filter((entry) => what.test(entry.what));
  const charged = of(/^charged 42 EUR/);
  assert.equal(charged.length, 1, "order-1 was charged exactly once");
  assert.equal(charged[0]!.process, `child ${killed.pid}`, "the child charged order-1");
  assert.equal(of(/to Berlin: valid/).length, 1, "order-1 was validated once");
  assert.equal(of(/^resumed at checkpoint/)[0]?.process, me, "this process resumed order-1");
  const shipped = of(/^shipped to Berlin/);
  assert.equal(shipped.length, 1, "order-1 shipped once");
  assert.equal(shipped[0]!.process, me, "the parent finished order-1");
  const rollback = of(/^rollback: /).map((entry) => entry.state);
  assert.deepEqual(rollback, ["reserve", "charge"], "order-2 rolled back, newest step first");
  assert.equal(of(/^courier: no route/).length, 3, "ship was tried three times");

  console.log(`\nThe workflow (Mermaid):\n${workflow.toMermaid("validate").trimEnd()}`);
  const summary = {
    killed: { pid: killed.pid, signal: killed.signal, state: left.state },
    resumedBy: Deno.pid,
    order1: "done",
    order2: "rolled back",
    charges: charged.length,
    refunds: of(/^rollback: refunded/).length,
  };
  console.log(`\ndemo ok: ${JSON.stringify(summary)}`);
} finally {
  kv.close();
  await Deno.remove(dir, { recursive: true });
}
