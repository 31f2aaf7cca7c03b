/**
 * Cancellation: a run is aborted through an `AbortSignal` while a long task is in flight. The
 * task's own `ctx.signal` aborts with the same reason, and the run ends at once with a
 * `cancelled` error. Run it with `deno task example:cancellation`.
 *
 * @module
 */
import { Workflow } from "../mod.ts";

type Step = "download" | "done";

const workflow = new Workflow<Step>()
  .register("download", (ctx) =>
    new Promise<"done">((resolve, reject) => {
      const timer = setTimeout(() => resolve("done"), 60_000);
      ctx.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        console.log(`download aborted: ${String(ctx.signal.reason)}`);
        reject(ctx.signal.reason);
      }, { once: true });
    }))
  .addExitState("done");

workflow.addEventListener("cancelled", (event) => console.log(`cancelled in "${event.state}"`));

const controller = new AbortController();
setTimeout(() => controller.abort("user pressed Ctrl-C"), 50);
const started = performance.now();
try {
  await workflow.orchestrate("download", { signal: controller.signal });
} catch (error) {
  const { category } = error as { category: string };
  const elapsed = Math.round(performance.now() - started);
  console.log(`run ended with category "${category}" after ~${elapsed} ms`);
}
