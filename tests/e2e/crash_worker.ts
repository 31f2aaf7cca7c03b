// A checkpointed order workflow on a Deno KV file, run as a separate process by crash_test.ts.
//
// Usage: crash_worker.ts <run|resume> <kvPath> <journalPath> <workflowId> <hangAt> [failShip]
//
// Every side effect is appended to the journal file as `<role> <event>` lines, so the parent can
// count what ran in which process. At the point named by `hangAt` the worker prints
// `HANG <point>` and blocks forever, waiting to be SIGKILLed. On completion it prints
// `RESULT <json>`; on failure `ERROR <json>` (and exits 0 either way: the parent judges).

import { KvCheckpointStore } from "../../kv.ts";
import { TaskConfig, Workflow } from "../../mod.ts";

const [mode, kvPath, journalPath, workflowId, hangAt = "none", failShip = "no"] = Deno.args;
if (mode === undefined || kvPath === undefined || journalPath === undefined || !workflowId) {
  console.error("usage: crash_worker.ts <run|resume> <kvPath> <journalPath> <workflowId> <hangAt>");
  Deno.exit(2);
}

type Step = "reserve" | "charge" | "ship" | "notify" | "done";
interface Order {
  orderId: string;
  reservation?: string;
  charge?: string;
  tracking?: string;
}

function journal(event: string): void {
  Deno.writeTextFileSync(journalPath!, `${mode} ${event}\n`, { append: true });
}

/** Prints the marker and blocks the whole process until it is killed. */
function hang(point: string): never {
  console.log(`HANG ${point}`);
  const lock = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(lock, 0, 0, 60_000);
}

function maybeHang(point: string): void {
  if (hangAt === point) hang(point);
}

// A short lease: a SIGKILLed worker's run is claimable again after this long.
const LEASE_MS = Number(Deno.env.get("CANO_LEASE_MS") ?? 500);
const kv = await Deno.openKv(kvPath);
const workflow = new Workflow<Step, Order>()
  .registerWithCompensation("reserve", {
    name: "reserve",
    config: TaskConfig.minimal(),
    run: (ctx) => {
      journal("reserve:run");
      ctx.data.reservation = `res-${ctx.data.orderId}`;
      return { next: "charge", output: { reservation: ctx.data.reservation } };
    },
    compensate: (_ctx, output) => journal(`reserve:compensate ${output.reservation}`),
  })
  .registerWithCompensation("charge", {
    name: "charge",
    config: TaskConfig.minimal(),
    run: (ctx) => {
      journal("charge:start");
      maybeHang("inside-charge");
      ctx.data.charge = `ch-${ctx.data.orderId}`;
      journal("charge:done");
      return { next: "ship", output: { charge: ctx.data.charge } };
    },
    compensate: (_ctx, output) => {
      journal(`charge:compensate-start ${output.charge}`);
      maybeHang("inside-rollback");
      journal(`charge:compensate-done ${output.charge}`);
    },
  })
  .register("ship", (ctx) => {
    journal("ship:start");
    maybeHang("inside-ship");
    if (failShip === "fail-ship") throw new Error("courier refused the parcel");
    ctx.data.tracking = `trk-${ctx.data.orderId}`;
    journal("ship:done");
    return "notify";
  }, { config: TaskConfig.minimal() })
  .register("notify", () => {
    journal("notify:run");
    return "done";
  }, { config: TaskConfig.minimal() })
  .addExitState("done")
  .withCheckpointStore(new KvCheckpointStore(kv, { leaseMs: LEASE_MS }))
  .withWorkflowId(workflowId);

// Hang right after the state_entry row of "notify" is durable (before its task starts).
workflow.addEventListener("stateenter", (event) => {
  if (event.state === "notify") journal("notify:entered");
});
workflow.addEventListener("checkpoint", (event) => {
  journal(`checkpoint ${event.sequence}`);
  if (hangAt === "after-checkpoint-notify" && event.sequence === 5) hang(hangAt);
});

try {
  const result = mode === "resume"
    ? await workflow.resumeFrom(workflowId)
    : await workflow.orchestrate("reserve", { data: { orderId: workflowId } });
  console.log(`RESULT ${JSON.stringify(result)}`);
} catch (error) {
  const { category, message } = error as { category?: string; message?: string };
  console.log(`ERROR ${JSON.stringify({ category, message })}`);
} finally {
  kv.close();
}
