// A checkpointed stream workflow on a Deno KV file, run as a subprocess by stream_crash_test.ts.
//
// Usage: stream_worker.ts <run|resume> <kvPath> <journalPath> <workflowId> <hangAtItem>
//
// Reads the numbers 0..11 in windows of 3; every processed item and every flushed window is
// appended to the journal. On item `hangAtItem` it prints `HANG` and blocks until SIGKILLed; with
// `cancel:N` it aborts the run's signal while processing item N instead.

import { KvCheckpointStore } from "../../kv.ts";
import { Workflow } from "../../mod.ts";

const [mode, kvPath, journalPath, workflowId, hangAt = "-1"] = Deno.args;
if (mode === undefined || kvPath === undefined || journalPath === undefined || !workflowId) {
  console.error(
    "usage: stream_worker.ts <run|resume> <kvPath> <journalPath> <workflowId> <hangAt>",
  );
  Deno.exit(2);
}

function journal(line: string): void {
  Deno.writeTextFileSync(journalPath!, `${mode} ${line}\n`, { append: true });
}

async function* numbers(from: number): AsyncGenerator<number> {
  for (let n = from; n < 12; n++) yield await Promise.resolve(n);
}

// A short lease: a SIGKILLed worker's run is claimable again after this long.
const LEASE_MS = Number(Deno.env.get("CANO_LEASE_MS") ?? 500);
const kv = await Deno.openKv(kvPath);
const controller = new AbortController();
const workflow = new Workflow<"ingest" | "done">()
  .registerStream("ingest", {
    window: { count: 3 },
    open: (_ctx, cursor: number | undefined) => numbers(cursor === undefined ? 0 : cursor + 1),
    processItem: (_ctx, n: number) => {
      journal(`process ${n}`);
      if (hangAt === `cancel:${n}`) controller.abort("operator stopped the import");
      if (n === Number(hangAt)) {
        console.log("HANG");
        const lock = new Int32Array(new SharedArrayBuffer(4));
        for (;;) Atomics.wait(lock, 0, 0, 60_000);
      }
      return { output: n, cursor: n };
    },
    flushWindow: (_ctx, outputs: number[]) => {
      journal(`flush ${outputs.join(",")}`);
      return "continue";
    },
    onClose: (_ctx, reason) => {
      journal(`close ${reason}`);
      return "done";
    },
  })
  .addExitState("done")
  .withCheckpointStore(new KvCheckpointStore(kv, { leaseMs: LEASE_MS }))
  .withWorkflowId(workflowId);

try {
  const result = mode === "resume"
    ? await workflow.resumeFrom(workflowId)
    : await workflow.orchestrate("ingest", { signal: controller.signal });
  console.log(`RESULT ${JSON.stringify(result)}`);
} catch (error) {
  const { category, message } = error as { category?: string; message?: string };
  console.log(`ERROR ${JSON.stringify({ category, message })}`);
} finally {
  kv.close();
}
