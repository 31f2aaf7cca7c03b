/**
 * A stepped task: an import processes a list in pages of 3. Every page's cursor is checkpointed,
 * so when the process "crashes" halfway, `resumeFrom` continues from the last cursor instead of
 * starting over. Run it with `deno task example:stepped`.
 *
 * @module
 */
import { MemoryCheckpointStore, TaskConfig, Workflow } from "../mod.ts";

type Step = "import" | "done";
interface ImportData {
  imported: number;
}

const rows = Array.from({ length: 10 }, (_, i) => `row-${i}`);
const PAGE = 3;
let crashAfterPages = 2;

const workflow = new Workflow<Step, ImportData>()
  .registerStepped("import", {
    config: TaskConfig.minimal(),
    step: (ctx, cursor: number | undefined) => {
      const offset = cursor ?? 0;
      if (crashAfterPages-- === 0) throw new Error("process killed (simulated)");
      const page = rows.slice(offset, offset + PAGE);
      ctx.data.imported += page.length;
      console.log(`  imported ${page.join(", ")} (offset ${offset})`);
      const next = offset + PAGE;
      return next < rows.length ? { more: next } : { done: "done" };
    },
  })
  .addExitState("done")
  .withCheckpointStore(new MemoryCheckpointStore())
  .withWorkflowId("import-2026-11-22");

console.log("── first run ──");
await workflow.orchestrate("import", { data: { imported: 0 } }).catch((error: Error) => {
  console.log(`  stopped: ${error.message}`);
});
console.log("── resume ──");
crashAfterPages = Infinity;
const result = await workflow.resumeFrom("import-2026-11-22");
console.log(`done: ${result.data.imported} rows imported, none twice`);
