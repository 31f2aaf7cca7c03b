/**
 * A stream task: page views arrive as an `AsyncIterable`, are parsed one by one, and written in
 * windows of 4 to a (pretend) warehouse. Each flushed window commits its last item's cursor, so
 * a restarted run continues after it. A malformed event is skipped. Halfway through, the run is
 * cancelled: the partial window is flushed and committed, and `resumeFrom` picks up right after
 * it. Run it with `deno task example:stream`.
 *
 * @module
 */
import { MemoryCheckpointStore, Workflow } from "../mod.ts";

type Step = "ingest" | "done";
const events = [
  "home",
  "pricing",
  "docs",
  "{broken",
  "blog",
  "docs",
  "signup",
  "home",
  "docs",
  "pricing",
  "about",
];

/** The source: events after the cursor, one every 5 ms. */
async function* pageViews(after: number): AsyncGenerator<{ offset: number; raw: string }> {
  for (let offset = after + 1; offset < events.length; offset++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    yield { offset, raw: events[offset]! };
  }
}

const store = new MemoryCheckpointStore();
const controller = new AbortController();
const workflow = new Workflow<Step>()
  .registerStream("ingest", {
    window: { count: 4 },
    onItemError: "skipAndContinue",
    open: (_ctx, cursor: number | undefined) => pageViews(cursor ?? -1),
    processItem: (_ctx, event: { offset: number; raw: string }) => {
      if (event.raw.startsWith("{")) throw new Error(`malformed event at ${event.offset}`);
      return { output: `/${event.raw}`, cursor: event.offset };
    },
    flushWindow: (_ctx, pages: string[]) => {
      console.log(`  wrote ${pages.length} rows: ${pages.join(" ")}`);
      if (pages.length === 4 && !controller.signal.aborted) controller.abort("deploy in progress");
      return "continue";
    },
    onClose: (_ctx, reason) => {
      console.log(`  stream closed: ${reason}`);
      return "done";
    },
  })
  .addExitState("done")
  .withCheckpointStore(store)
  .withWorkflowId("page-views");

workflow.addEventListener(
  "checkpoint",
  (e) => console.log(`  ✓ cursor committed (#${e.sequence})`),
);

console.log("── first run (cancelled after the first window) ──");
await workflow.orchestrate("ingest", { signal: controller.signal }).catch((error: Error) => {
  console.log(`  stopped: ${(error as { category?: string }).category}`);
});
console.log("── resume ──");
const result = await workflow.resumeFrom("page-views");
console.log(`finished in "${result.state}"`);
