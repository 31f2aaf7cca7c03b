/**
 * Crash recovery: a `start → process → finalize → done` workflow checkpoints to a Deno KV file.
 * `process` fails the first time (standing in for a crash), so `orchestrate` rejects — but the log
 * already holds the `process` entry (rows are written before each task runs) with a snapshot of
 * the run data. `resumeFrom` re-enters `process`, which now succeeds, and finishes at `done`;
 * `start` is not run again. Run it with `deno task example:recovery`.
 *
 * @module
 */
import { KvCheckpointStore } from "../kv.ts";
import { TaskConfig, Workflow } from "../mod.ts";

type Step = "start" | "process" | "finalize" | "done";
interface Job {
  input: number[];
  total?: number;
}

const dir = await Deno.makeTempDir({ prefix: "cano_recovery_" });
const kv = await Deno.openKv(`${dir}/checkpoints.kv`);
const store = new KvCheckpointStore(kv);
const runId = "demo-run-42";
let processAttempts = 0;

const workflow = new Workflow<Step, Job>({ name: "import" })
  .register("start", (ctx) => {
    console.log("  start: loading input");
    ctx.data.input = [1, 2, 3, 4];
    return "process";
  })
  .register("process", (ctx) => {
    processAttempts += 1;
    if (processAttempts === 1) {
      console.log(`  process: attempt ${processAttempts} — crash!`);
      throw new Error("simulated crash in process");
    }
    ctx.data.total = ctx.data.input.reduce((a, b) => a + b, 0);
    console.log(`  process: attempt ${processAttempts} — total ${ctx.data.total}`);
    return "finalize";
  }, { config: TaskConfig.minimal() })
  .register("finalize", (ctx) => {
    console.log(`  finalize: publishing total ${ctx.data.total}`);
    return "done";
  })
  .addExitState("done")
  .withCheckpointStore(store);

workflow.addEventListener("checkpoint", (e) => {
  console.log(`  ✓ checkpoint  workflow_id=${e.workflowId} sequence=${e.sequence}`);
});
workflow.addEventListener("resume", (e) => {
  console.log(`  ↺ resuming    workflow_id=${e.workflowId} from_sequence=${e.sequence}`);
});

try {
  console.log("── run 1: orchestrate (process will crash) ──");
  // Each run has its own id: the key of its log and of its run record.
  await workflow.orchestrate("start", { id: runId, data: { input: [] } }).catch((error: Error) => {
    console.log(`  stopped: ${error.message}`);
  });
  const rows = await store.loadRun(runId);
  const info = await store.getRun(runId);
  console.log(
    `run record: status=${info?.status} state=${info?.state} owner=${info?.owner ?? "none"}`,
  );
  console.log("checkpoint log after run 1 (the crash left it intact):");
  for (const row of rows) {
    console.log(`  #${row.sequence} ${row.kind} ${row.state} data=${JSON.stringify(row.data)}`);
  }

  console.log("── run 2: resumeFrom ──");
  const result = await workflow.resumeFrom(runId);
  console.log(
    `finished in "${result.state}" via ${result.path.join(" → ")}; total ${result.data.total}`,
  );
  console.log(`rows left after success: ${(await store.loadRun(runId)).length}`);
} finally {
  kv.close();
  await Deno.remove(dir, { recursive: true });
}
