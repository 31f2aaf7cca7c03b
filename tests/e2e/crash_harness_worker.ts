// An order saga on a Deno KV file, for crash_harness_test.ts: the test runs it in a subprocess
// with runAndKill() (the store wrapped by haltAfterCheckpoint, so CANO_HALT_AFTER=k halts it
// right after checkpoint k), SIGKILLs it, and resumes the run in the test process with the same
// workflow definition (orderWorkflow, exported here).
//
// Usage: crash_harness_worker.ts '<json CrashHarnessWorkerConfig>'
//
// Every side effect is appended to the journal file as `<role> <event>` lines (`child` here,
// `parent` in the test), so the test counts what ran where. Stdout: `in ship` from inside the ship
// task when `hangInShip` (the test kills at that line); `RESULT <json>` / `ERROR <json>` at the
// end. Exits 0 when the run ends either way, 3 when its safety timeout elapses.

import { type RunStore, TaskConfig, Workflow } from "../../mod.ts";
import { KvCheckpointStore } from "../../kv.ts";
import { haltAfterCheckpoint } from "../../testing.ts";
import { exitAfter, openKvRetrying, workerConfig } from "../_subprocess.ts";

/** What one worker run does. */
export interface CrashHarnessWorkerConfig {
  kvPath: string;
  journalPath: string;
  id: string;
  leaseMs: number;
  /** The ship task fails (the saga rolls back). */
  failShip?: boolean;
  /** The ship task prints `in ship` and then waits (for the test to kill it mid-task). */
  hangInShip?: boolean;
  /** Print nothing and wait (for the timeout test). */
  idle?: boolean;
}

export type Step = "reserve" | "charge" | "ship" | "notify" | "done";
export interface Order {
  orderId: string;
  reservation?: string;
  charge?: string;
}

/** How a run behaves: its journal and what the ship task does. */
export interface OrderBehaviour {
  journal: (event: string) => void;
  failShip?: boolean | undefined;
  /** Called inside the ship task (with its signal) after its journal line; awaited. */
  inShip?: ((signal: AbortSignal) => Promise<void>) | undefined;
}

/**
 * The order saga: reserve and charge are compensatable, ship may fail, notify ends it. Its
 * checkpoint rows, in order: 1 reserve entry (with the claim), 2 reserve completion, 3 charge
 * entry, 4 charge completion, 5 ship entry, 6 notify entry — and when ship fails: 6 rollback,
 * 7 charge compensated, 8 reserve compensated.
 */
export function orderWorkflow(store: RunStore, behaviour: OrderBehaviour): Workflow<Step, Order> {
  const { journal } = behaviour;
  return new Workflow<Step, Order>({ name: "order" })
    .registerWithCompensation("reserve", {
      name: "reserve",
      config: TaskConfig.minimal(),
      run: (ctx) => {
        journal("reserve");
        ctx.data.reservation = `res-${ctx.data.orderId}`;
        return { next: "charge", output: ctx.data.reservation };
      },
      compensate: (_ctx, reservation) => journal(`release ${reservation}`),
    })
    .registerWithCompensation("charge", {
      name: "charge",
      config: TaskConfig.minimal(),
      run: (ctx) => {
        journal("charge");
        ctx.data.charge = `ch-${ctx.data.orderId}`;
        return { next: "ship", output: ctx.data.charge };
      },
      compensate: (_ctx, charge) => journal(`refund ${charge}`),
    })
    .register("ship", async (ctx) => {
      journal("ship");
      await behaviour.inShip?.(ctx.signal);
      if (behaviour.failShip === true) throw new Error("courier refused the parcel");
      return "notify";
    }, { config: TaskConfig.minimal() })
    .register("notify", () => {
      journal("notify");
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store);
}

/** A journal writing `<role> <event>` lines to `path`. */
export function fileJournal(path: string, role: string): (event: string) => void {
  return (event) => Deno.writeTextFileSync(path, `${role} ${event}\n`, { append: true });
}

if (import.meta.main) {
  const config = workerConfig<CrashHarnessWorkerConfig>(
    "crash_harness_worker.ts '<json CrashHarnessWorkerConfig>'",
  );
  exitAfter(20_000, "SAFETY TIMEOUT");
  if (config.idle === true) {
    await new Promise((resolve) => setTimeout(resolve, 15_000));
    Deno.exit(0);
  }
  const kv = await openKvRetrying(config.kvPath);
  // CANO_HALT_AFTER (set by runAndKill's `at: k`) arms the halt; without it the store passes through.
  const store = haltAfterCheckpoint(new KvCheckpointStore(kv, { leaseMs: config.leaseMs }));
  const workflow = orderWorkflow(store, {
    journal: fileJournal(config.journalPath, "child"),
    failShip: config.failShip,
    inShip: config.hangInShip === true
      ? async () => {
        console.log("in ship");
        await new Promise((resolve) => setTimeout(resolve, 15_000));
      }
      : undefined,
  });
  try {
    const result = await workflow.orchestrate("reserve", {
      id: config.id,
      data: { orderId: config.id },
    });
    console.log(`RESULT ${JSON.stringify(result)}`);
  } catch (error) {
    const { category, message } = error as { category?: string; message?: string };
    console.log(`ERROR ${JSON.stringify({ category, message })}`);
  } finally {
    kv.close();
  }
  console.error(`worker for ${config.id} finished without being killed`);
}
