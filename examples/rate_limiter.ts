/**
 * Rate limiting: a workflow fetches 12 pages from an API that allows short bursts (a token
 * bucket of 3, refilled at 30 per second) and at most 8 calls per 500 ms window. A
 * `MultiRateLimiter` enforces both: each fetch waits for whichever tier binds. Then a refused
 * `tryAcquire`, a refunded reservation and an impossible cost. Run it with
 * `deno run examples/rate_limiter.ts`.
 *
 * @module
 */
import {
  ConfigurationError,
  MultiRateLimiter,
  RateLimitedError,
  RateLimiter,
  WindowedRateLimiter,
  Workflow,
} from "../mod.ts";

const burst = new RateLimiter({ maxTokens: 3, tokensPerPeriod: 3, refillPeriod: 100 });
const quota = new WindowedRateLimiter({ limit: 8, window: 500 });
const limiter = new MultiRateLimiter().withTier("burst", burst).withTier("quota", quota);

type Step = "fetch" | "done";
interface Data {
  next: number;
  pages: string[];
}

const started = Date.now();
const elapsed = (): string => `${String(Date.now() - started).padStart(4)} ms`;

const workflow = new Workflow<Step, Data>()
  .register("fetch", async (ctx) => {
    await limiter.acquire(1, { signal: ctx.signal });
    const page = `page-${ctx.data.next}`;
    ctx.data.pages.push(page);
    console.log(`${elapsed()}  fetched ${page} (quota used ${quota.used}/8)`);
    ctx.data.next += 1;
    return ctx.data.next > 12 ? "done" : "fetch";
  })
  .addExitState("done");

const result = await workflow.orchestrate("fetch", { data: { next: 1, pages: [] } });
console.log(`fetched ${result.data.pages.length} pages in ${Date.now() - started} ms`);

// A non-waiting check names the binding tier and how long to back off.
try {
  limiter.tryAcquire();
  limiter.tryAcquire();
  limiter.tryAcquire();
  limiter.tryAcquire();
  limiter.tryAcquire();
} catch (error) {
  if (!(error instanceof RateLimitedError)) throw error;
  console.log(`tryAcquire refused by tier "${error.tier}", retry after ${error.retryAfter} ms`);
}

// A reservation is refunded unless committed: the upload below never happens.
const uploads = new RateLimiter({ maxTokens: 5, refillPeriod: 60_000 });
{
  using reservation = uploads.tryReserve(2)!;
  console.log(`reserved ${reservation.cost} upload tokens, ${uploads.tokensAvailable} left`);
  // ... validation fails before the upload: no commit() ...
}
console.log(`reservation dropped, ${uploads.tokensAvailable} upload tokens available again`);

// A cost the bucket can never hold is refused at once instead of waiting forever.
try {
  await uploads.acquire(10);
} catch (error) {
  if (!(error instanceof ConfigurationError)) throw error;
  console.log(`acquire(10) refused: ${error.message}`);
}
