/**
 * Polling: a report job is submitted, then polled every 40 ms until it is ready. The status API is
 * flaky, so one consecutive error is tolerated; an attempt timeout bounds the whole wait. Run it
 * with `deno run examples/poll.ts`.
 *
 * @module
 */
import { pending, pollTask, ready, RetryMode, Workflow } from "../mod.ts";

type Step = "submit" | "wait" | "download" | "done";
interface Job {
  jobId: string;
  checks: number;
}

// A fake remote job service: the job needs 4 status checks to finish, and check 2 fails once.
let statusCalls = 0;
async function jobStatus(jobId: string): Promise<"queued" | "running" | "ready"> {
  await new Promise((resolve) => setTimeout(resolve, 1)); // a network round trip
  statusCalls += 1;
  if (statusCalls === 2) throw new Error(`status API 503 for ${jobId}`);
  return statusCalls < 3 ? "queued" : statusCalls < 5 ? "running" : "ready";
}

const started = Date.now();
const elapsed = (): string => `${String(Date.now() - started).padStart(4)} ms`;

const workflow = new Workflow<Step, Job>()
  .register("submit", (ctx) => {
    ctx.data.jobId = "report-7";
    console.log(`${elapsed()}  submitted job ${ctx.data.jobId}`);
    return "wait";
  })
  .register(
    "wait",
    pollTask({
      // The poll loop as a whole gets 2 s; no outer retry.
      config: { retry: RetryMode.none(), attemptTimeout: 2_000 },
      onPollError: { retryOnError: 1 },
      poll: async (ctx) => {
        ctx.data.checks += 1;
        try {
          const status = await jobStatus(ctx.data.jobId);
          console.log(`${elapsed()}  check ${ctx.data.checks}: ${status}`);
          return status === "ready" ? ready("download") : pending(40);
        } catch (error) {
          console.log(`${elapsed()}  check ${ctx.data.checks}: ${(error as Error).message}`);
          throw error; // tolerated once: polled again at once
        }
      },
    }),
  )
  .register("download", (ctx) => {
    console.log(`${elapsed()}  downloading ${ctx.data.jobId}`);
    return "done";
  })
  .addExitState("done");

const result = await workflow.orchestrate("submit", { data: { jobId: "", checks: 0 } });
console.log(
  `finished in "${result.state}" via ${result.path.join(" → ")} after ${result.data.checks} checks`,
);
