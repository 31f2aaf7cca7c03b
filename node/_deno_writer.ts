// The Deno side of node/smoke.mjs: the same workflow as the smoke test's, on the KV file the smoke
// test names, so that Deno and Node share runs through one file.
//
//   deno run -A node/_deno_writer.ts crash <kv file>   leaves "fail-1" failed (its log kept), then
//                                                      starts "crash-1", prints HANG and hangs in
//                                                      `transform` until it is SIGKILLed
//   deno run -A node/_deno_writer.ts resume <kv file> <id>   resumes run <id>, prints RESULT <json>

import { KvCheckpointStore } from "../kv.ts";
import { TaskConfig, Workflow } from "../mod.ts";
import { smokeWorkflow } from "./_smoke_workflow.mjs";

/** The lease of the process the smoke test kills: short, so Node may take over soon after. */
const LEASE_MS = 1_000;

const [mode, path, id] = Deno.args;
if (path === undefined || (mode !== "crash" && mode !== "resume")) {
  console.error("usage: _deno_writer.ts crash <kv file> | resume <kv file> <id>");
  Deno.exit(2);
}

const kv = await Deno.openKv(path);
const store = new KvCheckpointStore(kv, { leaseMs: LEASE_MS });
const runtime = "deno";
const workflow = smokeWorkflow({ Workflow, TaskConfig }, store, runtime, async () => {
  console.log(`HANG ${Deno.pid}`);
  await new Promise(() => {}); // the heartbeat keeps the lease until the process is killed
});

if (mode === "crash") {
  const failed = await workflow
    .orchestrate("fetch", { id: "fail-1", data: { visited: [], failIn: runtime } })
    .then(() => "completed", (error: Error) => error.message);
  console.log(`FAILED ${failed}`);
  await workflow.orchestrate("fetch", { id: "crash-1", data: { visited: [], hangIn: runtime } });
  console.error("crash-1 was meant to hang");
  Deno.exit(1);
} else {
  const result = await workflow.resumeFrom(id ?? "");
  console.log(`RESULT ${JSON.stringify(result)}`);
  kv.close();
}
