/**
 * Scheduler backoff: a flaky API sync backs off 300 ms, 600 ms, 1.2 s between failures instead of
 * hammering the API every 100 ms, then recovers; a flow whose dependency is down trips after three
 * failures in a row, refuses manual triggers until `resetFlow`, and runs again after the reset.
 * Runs for about four seconds. Run it with `deno task example:scheduler_backoff`.
 *
 * @module
 */
import { TaskConfig, Workflow } from "../mod.ts";
import { Scheduler } from "../scheduler.ts";

const started = Date.now();
const at = (date: number | Date = Date.now()): string =>
  `+${String(Math.round((Number(date) - started) / 10) * 10).padStart(4)}ms`;

type Step = "call" | "done";

// Fails its first three calls, then works.
let apiCalls = 0;
const flakyApi = new Workflow<Step>()
  .register("call", () => {
    apiCalls++;
    if (apiCalls <= 3) throw new Error(`503 Service Unavailable (call ${apiCalls})`);
    return "done";
  }, { config: TaskConfig.minimal() }) // the scheduler's backoff is the only retry layer here
  .addExitState("done");

// Down until `dependencyUp` is set.
let dependencyUp = false;
const dependent = new Workflow<Step>()
  .register("call", () => {
    if (!dependencyUp) throw new Error("connection refused");
    return "done";
  }, { config: TaskConfig.minimal() })
  .addExitState("done");

const scheduler = new Scheduler()
  .every("api-sync", flakyApi, "call", 100)
  .setBackoff("api-sync", { initial: 300, multiplier: 2, maxDelay: 5_000, jitter: 0 })
  .every("dependent", dependent, "call", 100, {
    backoff: { initial: 200, multiplier: 1, jitter: 0, streakLimit: 3 },
  });

await using running = await scheduler.start();

const failing = new Set<string>();
let recoveredAt = 0;
running.addEventListener("flowend", (e) => {
  const flow = running.status(e.id)!;
  if (e.outcome === "completed") {
    // Only the first success after failures is worth a line.
    if (failing.delete(e.id)) {
      console.log(`${at()} ${e.id}: ok again, streak reset to ${flow.failureStreak}`);
      if (e.id === "api-sync") recoveredAt = Date.now();
    }
    return;
  }
  failing.add(e.id);
  if (flow.status === "backoff") {
    console.log(
      `${at()} ${e.id}: failed #${flow.failureStreak}, ${
        (e.error as Error).message.replace(/.*: /, "")
      }` +
        ` → backing off until ${at(flow.nextEligible)}`,
    );
  } else if (flow.status === "tripped") {
    console.log(`${at()} ${e.id}: failed #${flow.failureStreak} → TRIPPED, no more runs`);
  }
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

await sleep(1_500);
try {
  await running.trigger("dependent");
} catch (error) {
  console.log(`${at()} trigger refused: ${(error as Error).message}`);
}

await sleep(500);
dependencyUp = true;
console.log(`${at()} dependency is back; resetFlow("dependent")`);
await running.resetFlow("dependent");

await sleep(2_000);
for (const flow of running.list()) {
  console.log(
    `${flow.id}: ${flow.status}, ${flow.runCount} runs, streak ${flow.failureStreak}`,
  );
}
const outage = recoveredAt - started;
console.log(
  `api-sync: 3 failed calls in ${outage} ms of outage, where a plain 100 ms interval would ` +
    `have made ${Math.round(outage / 100)}; every 100 ms again since`,
);
