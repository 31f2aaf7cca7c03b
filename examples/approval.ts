/**
 * An expense approval that waits for a person: `submit → await_manager → pay | reject | expire`.
 * `await_manager` is a wait state (`registerWait`): the run parks durably in a Deno KV file until
 * a manager's `"approved"` or `"rejected"` event arrives (`store.sendEvent`, from any process) or
 * its 48-hour deadline passes. A parked run holds no process, lease or timer: the command that
 * started it returns at once, another command sends the decision, and whoever runs a recovery
 * sweep (`startRecovery`) continues the runs that are due.
 *
 * Run the self-contained demo (it starts a run, approves it from a second process, finishes it,
 * then lets a second run expire) with `deno task example:approval`, or drive it yourself:
 *
 * ```sh
 * deno task example:approval start expense-7 120   # submits; prints "waiting … until …"
 * deno task example:approval approve expense-7 maria
 * deno task example:approval finish                # continues the runs that are due
 * deno task example:approval reject expense-8 "no receipt"
 * deno task example:approval status expense-7
 * ```
 *
 * The KV file is `--kv <path>`, else `$APPROVAL_KV`, else `cano-approval.sqlite3` in the temp
 * directory (the demo uses a fresh temp file and removes it). `APPROVAL_DEADLINE_MS` shortens the
 * deadline of the runs a command starts, e.g. `APPROVAL_DEADLINE_MS=2000 … start expense-9 40`,
 * then `finish` after two seconds takes the `expire` edge. Permissions: `--allow-read
 * --allow-write --allow-env` (and `--allow-run` for the demo's second process).
 *
 * @module
 */
import { tmpdir } from "node:os";
import { parseArgs } from "node:util";
import { KvCheckpointStore } from "../kv.ts";
import {
  EventRefusedError,
  type RecoveredEvent,
  startRecovery,
  TaskConfig,
  Workflow,
} from "../mod.ts";

const HOURS_48 = 48 * 3_600_000;
const DEADLINE_MS = Number(Deno.env.get("APPROVAL_DEADLINE_MS") ?? HOURS_48);

// ── The workflow ────────────────────────────────────────────────────────────────────────────────

type Step = "submit" | "await_manager" | "pay" | "reject" | "expire" | "done";
interface Expense {
  amount: number;
  submittedAt?: string;
}
/** What each decision carries (declared once: the states after the wait see it typed). */
interface Decisions {
  approved: { by: string };
  rejected: { reason: string };
}

function expenses(store: KvCheckpointStore) {
  const once = { config: TaskConfig.minimal() };
  return new Workflow<Step, Expense>({ name: "expense" })
    .register("submit", (ctx) => {
      ctx.data.submittedAt = new Date().toISOString();
      return "await_manager";
    }, once)
    // Parks here: "approved" → pay, "rejected" → reject, no answer in time → expire.
    .registerWait("await_manager", {
      events: { approved: "pay", rejected: "reject" },
      payloads: {} as Decisions,
      timeout: { after: DEADLINE_MS, next: "expire" },
    })
    .register("pay", (ctx) => {
      // ctx.event is the event that woke the wait state, typed: payload is { by: string }.
      say(
        `${ctx.workflowId} → pay: paid ${ctx.data.amount} EUR, approved by ${ctx.event?.payload.by}`,
      );
      return "done";
    }, once)
    .register("reject", (ctx) => {
      say(`${ctx.workflowId} → reject: not paid (${ctx.event?.payload.reason})`);
      return "done";
    }, once)
    .register("expire", (ctx) => {
      // After the deadline there is no event: ctx.event is undefined.
      say(`${ctx.workflowId} → expire: no decision in time (event: ${ctx.event ?? "none"})`);
      return "done";
    }, once)
    .addExitState("done")
    .withCheckpointStore(store);
}
type Expenses = ReturnType<typeof expenses>;

// ── The commands ────────────────────────────────────────────────────────────────────────────────

/** Submits an expense; returns as soon as the run is parked (`onWait: "return"`). */
async function start(workflow: Expenses, id: string, amount: number): Promise<void> {
  const result = await workflow.orchestrate("submit", { id, data: { amount }, onWait: "return" });
  if (result.status === "waiting") {
    say(
      `start ${id} (${amount} EUR): waiting for ${result.events.join(" | ")} until ` +
        `${result.until?.toISOString()}`,
    );
  } else {
    say(`start ${id}: finished at once in "${result.state}"`);
  }
}

/** Sends a manager's decision. The eventId makes a repeated command a no-op ("duplicate"). */
async function decide<K extends keyof Decisions>(
  workflow: Expenses,
  id: string,
  event: K,
  payload: Decisions[K],
): Promise<void> {
  try {
    const eventId = `${event}/${id}/${Object.values(payload).join("/")}`;
    // Typed by the wait state: the name must be one it waits for, the payload its type.
    const sent = await workflow.sendEvent(id, event, payload, { eventId });
    say(`${event} ${id}: ${sent.outcome}`);
  } catch (error) {
    // The run has no record (finished, never started), failed, or its inbox is full.
    if (!(error instanceof EventRefusedError)) throw error;
    say(`${event} ${id}: refused (${error.reason})`);
  }
}

/** Prints where a run stands. */
async function status(store: KvCheckpointStore, id: string): Promise<void> {
  const run = await store.getRun(id);
  if (run === undefined) say(`status ${id}: no record (finished, or never started)`);
  else if (run.status === "waiting" && run.wait !== undefined) {
    const due = run.leaseUntil.getTime() <= Date.now() ? ", due now" : "";
    say(
      `status ${id}: waiting in ${run.wait.state} for ${run.wait.events.join(" | ")} until ` +
        `${run.wait.until?.toISOString() ?? "forever"}${due}`,
    );
  } else say(`status ${id}: ${run.status} in ${run.state}${run.error ? ` (${run.error})` : ""}`);
}

/** One recovery sweep: continues every run that is due (an event arrived, a deadline passed). */
async function finish(store: KvCheckpointStore, workflow: Expenses): Promise<void> {
  await using recovery = startRecovery({ store, workflows: [workflow], every: 86_400_000 });
  recovery.addEventListener("recovered", (e: RecoveredEvent) => {
    say(`finish: ${e.runId} ${e.outcome}${e.error === undefined ? "" : ` (${e.error})`}`);
  });
  const { resumed } = await recovery.sweep();
  if (resumed === 0) say("finish: nothing is due");
  // Disposing the sweeper waits for the runs it resumed to end.
}

// ── The demo: both runs, one of them approved from a second process ─────────────────────────────

/** Runs this file with `args` in another process, on the same KV file; returns its output. */
async function inAnotherProcess(
  path: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<string> {
  const child = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--unstable-kv",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      import.meta.filename!,
      "--kv",
      path,
      ...args,
    ],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(child.stdout).trim();
  if (!child.success) {
    throw new Error(`${args.join(" ")} failed: ${new TextDecoder().decode(child.stderr)}`);
  }
  return out;
}

async function demo(store: KvCheckpointStore, workflow: Expenses, path: string): Promise<void> {
  say(`demo on ${path}`);
  // 1. Submit: the run parks for 48 hours and this call returns.
  await start(workflow, "expense-1", 120);
  // 2. The manager approves from another process: the run is due at once.
  const approved = await inAnotherProcess(path, ["approve", "expense-1", "maria"]);
  say(`second process › ${approved}`);
  // 3. A sweep here continues it: pay.
  await finish(store, workflow);
  await status(store, "expense-1");

  // 4. A second expense, submitted by another process with a 300 ms deadline; nobody decides.
  const env = { APPROVAL_DEADLINE_MS: "300" };
  say(`second process › ${await inAnotherProcess(path, ["start", "expense-2", "80"], env)}`);
  // Wait until its deadline (read from its record) has passed.
  const until = (await store.getRun("expense-2"))?.wait?.until?.getTime() ?? Date.now();
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, until - Date.now()) + 20));
  await status(store, "expense-2");
  // 5. The deadline was checkpointed with the run: this process's sweep takes the expire edge.
  await finish(store, workflow);
  await status(store, "expense-2");
}

// ── Main ────────────────────────────────────────────────────────────────────────────────────────

const began = performance.now();
let timeline = false;
/** Prints a line; the demo stamps each one with the time since it began. */
function say(text: string): void {
  const stamp = timeline
    ? `[${((performance.now() - began) / 1_000).toFixed(2).padStart(5)} s] `
    : "";
  console.log(`${stamp}${text}`);
}

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: { kv: { type: "string" } },
  allowPositionals: true,
});
const [command, id, arg] = positionals;
const isDemo = command === undefined;
const path = values.kv ?? Deno.env.get("APPROVAL_KV") ??
  (isDemo
    ? await Deno.makeTempFile({ prefix: "cano_approval_", suffix: ".sqlite3" })
    : `${tmpdir()}/cano-approval.sqlite3`);
const kv = await Deno.openKv(path);
const store = new KvCheckpointStore(kv);
const workflow = expenses(store);
try {
  if (isDemo) {
    timeline = true;
    await demo(store, workflow, path);
  } else if (command === "start" && id !== undefined && Number(arg) > 0) {
    await start(workflow, id, Number(arg));
  } else if (command === "approve" && id !== undefined) {
    await decide(workflow, id, "approved", { by: arg ?? "a manager" });
  } else if (command === "reject" && id !== undefined && arg !== undefined) {
    await decide(workflow, id, "rejected", { reason: arg });
  } else if (command === "status" && id !== undefined) {
    await status(store, id);
  } else if (command === "finish") {
    await finish(store, workflow);
  } else {
    console.error(
      "usage: approval.ts [--kv path] [start <id> <amount> | approve <id> [by] | " +
        "reject <id> <reason> | status <id> | finish]   (no command: the demo)",
    );
    Deno.exitCode = 2;
  }
} finally {
  kv.close();
  if (isDemo && values.kv === undefined && Deno.env.get("APPROVAL_KV") === undefined) {
    for (const file of [path, `${path}-wal`, `${path}-shm`]) {
      await Deno.remove(file).catch(() => {});
    }
  }
}
