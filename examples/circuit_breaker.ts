/**
 * Circuit breaker: a workflow keeps calling an upstream that is down for a while. After three
 * failures the breaker opens and rejects calls without touching the upstream; once its reset
 * timeout has passed it lets one trial call through, and the trial's success closes it again.
 * Run it with `deno run examples/circuit_breaker.ts`.
 *
 * @module
 */
import { CircuitBreaker, CircuitOpenError, Workflow } from "../mod.ts";

type Step = "call" | "backoff" | "done" | "gave_up";
interface Data {
  attempts: number;
  rejected: number;
}

const breaker = new CircuitBreaker({ failureThreshold: 3, resetTimeout: 100 });
breaker.addEventListener("circuittransition", (e) => {
  const until = e.openUntil === undefined ? "" : ` until ${e.openUntil.toISOString()}`;
  console.log(`  breaker: ${e.from} -> ${e.to}${until}`);
});

// The upstream fails for its first 4 calls, then recovers.
let upstreamCalls = 0;
function upstream(): Promise<string> {
  upstreamCalls += 1;
  return upstreamCalls <= 4
    ? Promise.reject(new Error(`upstream 503 (call ${upstreamCalls})`))
    : Promise.resolve(`payload #${upstreamCalls}`);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

const workflow = new Workflow<Step, Data>()
  .register("call", async (ctx) => {
    ctx.data.attempts += 1;
    const n = ctx.data.attempts;
    try {
      // `breaker.call` = tryAcquire(), run, then recordSuccess()/recordFailure().
      const body = await breaker.call(upstream);
      console.log(`attempt ${n}: ok, got ${body}`);
      return "done";
    } catch (error) {
      if (error instanceof CircuitOpenError) {
        ctx.data.rejected += 1;
        console.log(`attempt ${n}: rejected without calling upstream (${error.message})`);
      } else {
        console.log(`attempt ${n}: failed (${(error as Error).message})`);
      }
      return n >= 20 ? "gave_up" : "backoff";
    }
  })
  .register("backoff", async (ctx) => {
    await sleep(30, ctx.signal);
    return "call";
  })
  .addExitState("done")
  .addExitState("gave_up");

const result = await workflow.orchestrate("call", { data: { attempts: 0, rejected: 0 } });
console.log(
  `finished in "${result.state}" after ${result.data.attempts} attempts: ` +
    `${upstreamCalls} reached the upstream, ${result.data.rejected} were rejected by the breaker`,
);
console.log(`breaker is ${breaker.state}`);
