// A process of cancel_e2e_test.ts on a shared Deno KV file: it owns an order saga (`owner`),
// requests a cancel of runs it does not own (`cancel`), or sweeps for expired runs and resumes
// them (`recover`).
//
// Usage: cancel_worker.ts '<json CancelWorkerConfig>'
//
// The saga reserves, charges, then waits in `wait` until its signal aborts (or, with `finish`,
// goes on to `done`). Side effects and compensations are appended to the journal file as
// `<pid> <event>`. Stdout: one JSON object per line ({@link CancelWorkerLine}). Exit 0 whatever
// the outcome (the parent judges), 2 on bad usage, 3 when the safety timeout elapses.

import { KvCheckpointStore } from "../../kv.ts";
import { startRecovery, TaskConfig, Workflow } from "../../mod.ts";
import { exitAfter, openKvRetrying, workerConfig } from "../_subprocess.ts";

/** What the process does. */
export type CancelWorkerConfig =
  | {
    mode: "owner";
    kvPath: string;
    journalPath: string;
    id: string;
    leaseMs: number;
    /** `wait` returns at once: the run completes. */
    finish?: boolean;
  }
  | { mode: "cancel"; kvPath: string; ids: string[]; reason: string }
  | { mode: "recover"; kvPath: string; journalPath: string; id: string; leaseMs: number };

/** An error as printed: its name, category, message, and the same of its cause. */
export interface PrintedError {
  name: string;
  category?: string;
  message: string;
  cause?: PrintedError;
}

/** What the process prints, one per line. */
export type CancelWorkerLine =
  | { t: "ready"; pid: number }
  /** The run is in `wait` (the owner's first row of it is durable). */
  | { t: "waiting"; at: number }
  | { t: "result"; state: string; path: string[]; at: number }
  | { t: "error"; error: PrintedError; at: number }
  | {
    t: "cancel";
    id: string;
    outcome: string;
    run?: { status: string; owner: string | undefined; cancel?: string; leaseUntil: number };
    at: number;
  }
  | { t: "recovered"; id: string; outcome: string; error?: PrintedError; at: number }
  | { t: "timeout" };

const config = workerConfig<CancelWorkerConfig>("cancel_worker.ts '<json CancelWorkerConfig>'");
exitAfter(30_000, JSON.stringify({ t: "timeout" } satisfies CancelWorkerLine));

function print(line: CancelWorkerLine): void {
  console.log(JSON.stringify(line));
}

function printed(error: unknown, depth = 0): PrintedError {
  const e = error as { name?: unknown; category?: unknown; message?: unknown; cause?: unknown };
  const out: PrintedError = { name: String(e?.name), message: String(e?.message ?? e) };
  if (typeof e?.category === "string") out.category = e.category;
  if (e?.cause !== undefined && depth < 3) out.cause = printed(e.cause, depth + 1);
  return out;
}

type Step = "reserve" | "charge" | "wait" | "done";

function saga(store: KvCheckpointStore, journalPath: string, finish: boolean) {
  const journal = (event: string): void => {
    Deno.writeTextFileSync(journalPath, `${Deno.pid} ${event}\n`, { append: true });
  };
  return new Workflow<Step, { id: string }>({ name: "order" })
    .registerWithCompensation("reserve", {
      name: "reserve",
      config: TaskConfig.minimal(),
      run: (ctx) => {
        journal("reserve");
        return { next: "charge" as const, output: `r-${ctx.data.id}` };
      },
      compensate: (_ctx, output: string) => journal(`release ${output}`),
    })
    .registerWithCompensation("charge", {
      name: "charge",
      config: TaskConfig.minimal(),
      run: (ctx) => {
        journal("charge");
        return { next: "wait" as const, output: `c-${ctx.data.id}` };
      },
      compensate: (_ctx, output: string) => journal(`refund ${output}`),
    })
    .register("wait", (ctx) => {
      journal("wait");
      print({ t: "waiting", at: Date.now() });
      if (finish) return "done";
      return new Promise<never>((_, reject) => {
        if (ctx.signal.aborted) reject(ctx.signal.reason);
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true });
      });
    }, { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store);
}

const kv = await openKvRetrying(config.kvPath);
try {
  print({ t: "ready", pid: Deno.pid });
  if (config.mode === "owner") {
    const store = new KvCheckpointStore(kv, { leaseMs: config.leaseMs });
    const workflow = saga(store, config.journalPath, config.finish === true);
    try {
      const result = await workflow.orchestrate("reserve", {
        id: config.id,
        data: { id: config.id },
      });
      print({ t: "result", state: result.state, path: result.path, at: Date.now() });
    } catch (error) {
      print({ t: "error", error: printed(error), at: Date.now() });
    }
  } else if (config.mode === "cancel") {
    const store = new KvCheckpointStore(kv);
    for (const id of config.ids) {
      const { outcome, run } = await store.requestCancel(id, config.reason);
      print({
        t: "cancel",
        id,
        outcome,
        ...(run === undefined ? {} : {
          run: {
            status: run.status,
            owner: run.owner,
            ...(run.cancel === undefined ? {} : { cancel: run.cancel.reason }),
            leaseUntil: run.leaseUntil.getTime(),
          },
        }),
        at: Date.now(),
      });
    }
  } else {
    const store = new KvCheckpointStore(kv, { leaseMs: config.leaseMs });
    const workflow = saga(store, config.journalPath, false);
    const recovery = startRecovery({ store, workflows: [workflow], every: 100 });
    const id = config.id;
    await new Promise<void>((resolve) => {
      recovery.addEventListener("recovered", (event) => {
        if (event.runId !== id) return;
        print({
          t: "recovered",
          id,
          outcome: event.outcome,
          ...(event.error === undefined ? {} : { error: printed(event.error) }),
          at: Date.now(),
        });
        resolve();
      });
    });
    await recovery.stop();
  }
} finally {
  kv.close();
}
Deno.exit(0);
