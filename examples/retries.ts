/**
 * Retries: a flaky call succeeds on its third attempt under exponential backoff; a hanging call is
 * cut off by a per-attempt timeout; a permanent failure opts out of retries with
 * `NonRetryableError`. Run it with `deno task example:retries`.
 *
 * @module
 */
import { NonRetryableError, RetryMode, Workflow } from "../mod.ts";

type Step = "flaky" | "hanging" | "permanent" | "done";

let flakyCalls = 0;
const workflow = new Workflow<Step>()
  .register("flaky", {
    config: { retry: RetryMode.exponential(4, { baseDelay: 20, jitter: 0.2 }) },
    run: () => {
      flakyCalls += 1;
      if (flakyCalls < 3) throw new Error(`upstream 503 (call ${flakyCalls})`);
      return "hanging";
    },
  })
  .register("hanging", {
    config: { retry: RetryMode.fixed(2, 10), attemptTimeout: 50 },
    run: (ctx) => {
      if (ctx.attempt < 3) {
        // Never settles on its own: the attempt timeout aborts ctx.signal and the engine retries.
        return new Promise<"permanent">((_, reject) =>
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))
        );
      }
      return "permanent";
    },
  })
  .register("permanent", () => {
    throw new NonRetryableError("card declined", { cause: { code: 402 } });
  })
  .addExitState("done");

workflow.addEventListener("retry", (e) => {
  console.log(
    `retry ${e.taskId}: attempt ${e.attempt} failed (${String(e.error)}), waiting ${e.delay} ms`,
  );
});

try {
  await workflow.orchestrate("flaky");
} catch (error) {
  const { category, message } = error as { category: string; message: string };
  console.log(`run failed as expected: [${category}] ${message}`);
}
console.log(`flaky task was called ${flakyCalls} times`);
