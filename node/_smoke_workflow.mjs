// The workflow of the Node smoke test, shared by node/smoke.mjs (under Node, on the build) and
// node/_deno_writer.ts (under Deno, on the source), so that both runtimes run the same states of
// one run through one KV file. Plain JavaScript, so that Node runs it as it is.

/** @typedef {typeof import("../mod.ts")} Cano */

/**
 * The `node-smoke` workflow on `store`: fetch → transform → load → done, each state recording
 * `<state>:<runtime>` in `data.visited`. `transform` fails when `data.failIn` is this runtime,
 * and awaits `hang()` when `data.hangIn` is.
 *
 * @param {Pick<Cano, "Workflow" | "TaskConfig">} cano cano's classes: the source's under Deno,
 *   the build's under Node.
 * @param {import("../mod.ts").CheckpointStore} store The shared KV file's store.
 * @param {"deno" | "node"} runtime The runtime this process is.
 * @param {() => Promise<void>} [hang] How `transform` hangs (only under Deno: Node never hangs).
 */
export function smokeWorkflow({ Workflow, TaskConfig }, store, runtime, hang) {
  return new Workflow({ name: "node-smoke" })
    .register("fetch", (ctx) => {
      ctx.data.visited.push(`fetch:${runtime}`);
      return "transform";
    })
    .register("transform", async (ctx) => {
      ctx.data.visited.push(`transform:${runtime}`);
      if (ctx.data.failIn === runtime) throw new Error(`transform failed in ${runtime}`);
      if (ctx.data.hangIn === runtime) await hang?.();
      return "load";
    }, { config: TaskConfig.minimal() })
    .register("load", (ctx) => {
      ctx.data.visited.push(`load:${runtime}`);
      return "done";
    })
    .addExitState("done")
    .withWorkflowVersion(1)
    .withCheckpointStore(store);
}
