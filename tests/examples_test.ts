// Runs every example as its own process, so the examples cannot rot unnoticed.

import assert from "node:assert/strict";
import { runExample } from "./_run_example.ts";

Deno.test("examples/linear.ts processes an order and prints its diagram", async () => {
  const out = await runExample("linear");
  assert.match(out, /finished in "done" via validate → charge → ship → done/);
  assert.match(out, /receipt rcpt-42, tracking trk-42/);
  assert.match(out, /order 43 finished in "rejected"/);
  assert.match(out, /stateDiagram-v2/);
});

Deno.test("examples/retries.ts retries, times out attempts and stops on a non-retryable error", async () => {
  const out = await runExample("retries");
  assert.match(out, /retry flaky: attempt 2 failed/);
  assert.match(out, /retry hanging: attempt 2 failed \(TimeoutError/);
  assert.match(out, /run failed as expected: \[task_execution\] state=permanent/);
  assert.match(out, /flaky task was called 3 times/);
});

Deno.test("examples/cancellation.ts aborts a long download", async () => {
  const out = await runExample("cancellation");
  assert.match(out, /download aborted: user pressed Ctrl-C/);
  assert.match(out, /cancelled in "download"/);
  assert.match(out, /run ended with category "cancelled"/);
});

Deno.test("examples/resources.ts sets up and tears down resources around the run", async () => {
  const out = await runExample("resources");
  assert.match(out, /db: connected\n(.*\n)*db: disconnected/);
  assert.match(out, /db rows after the run: \["Ada"\]; connected: false/);
  assert.match(out, /health: \{"status":"healthy"\}/);
});

Deno.test("examples/recovery.ts resumes a crashed run from its KV checkpoint log", async () => {
  const out = await runExample("recovery", ["--allow-read", "--allow-write"]);
  assert.match(out, /process: attempt 1 — crash!/);
  assert.match(out, /#1 state_entry process data=\{"input":\[1,2,3,4\]\}/);
  assert.match(out, /↺ resuming {4}workflow_id=demo-run-42 from_sequence=1/);
  assert.match(out, /finished in "done" via start → process → finalize → done; total 10/);
  assert.equal(out.match(/start: loading input/g)?.length, 1, "start is not run again");
  assert.match(out, /rows left after success: 0/);
});

Deno.test("examples/saga.ts refunds and releases in reverse order", async () => {
  const out = await runExample("saga");
  assert.match(
    out,
    /undo charge: refunding 42 EUR on ch_3Kx\n.*\n {2}undo reserve: releasing rsv-1001/,
  );
  assert.match(out, /order failed \[task_execution\]: .*no courier available/);
});

Deno.test("examples/stepped.ts continues from the last cursor after a crash", async () => {
  const out = await runExample("stepped");
  assert.equal(out.match(/offset 0\)/g)?.length, 1, "the first page is not imported twice");
  assert.match(out, /── resume ──\n {2}imported row-6, row-7, row-8 \(offset 6\)/);
  assert.match(out, /done: 10 rows imported, none twice/);
});

Deno.test("examples/split_join.ts joins price quotes with three strategies", async () => {
  const out = await runExample("split_join");
  assert.match(
    out,
    /strategy "any":\n(.*aborted.*\n)+ {2}best price 12\.5 \(0:ok 1:cancelled 2:cancelled\)/,
  );
  assert.match(out, /strategy \{"quorum":2\}:\n {2}best price 11\.9 \(0:ok 1:ok 2:error\)/);
  assert.match(out, /best price 11\.9 \(0:ok 1:ok 2:cancelled\)/);
});

Deno.test("examples/circuit_breaker.ts trips, probes and closes a breaker", async () => {
  const out = await runExample("circuit_breaker");
  assert.match(out, /breaker: closed -> open/);
  assert.match(out, /breaker: half_open -> open/);
  assert.match(out, /breaker: half_open -> closed/);
  assert.match(out, /finished in "done"/);
});

Deno.test("examples/rate_limiter.ts throttles with a bucket, a window and tiers", async () => {
  const out = await runExample("rate_limiter");
  assert.match(out, /fetched 12 pages/);
  assert.match(out, /tryAcquire refused by tier "burst"/);
  assert.match(out, /5 upload tokens available again/);
  assert.match(out, /acquire\(10\) refused: Rate limiter cost 10 exceeds its capacity of 5/);
});

Deno.test("examples/stream.ts skips a malformed event and resumes after the committed window", async () => {
  const out = await runExample("stream");
  assert.match(out, /wrote 4 rows: \/home \/pricing \/docs \/blog/);
  assert.match(out, /stream closed: cancelled\n {2}stopped: cancelled/);
  assert.match(out, /── resume ──\n.*\n {2}wrote 4 rows: \/docs \/signup \/home \/docs/);
  assert.match(out, /wrote 2 rows: \/pricing \/about/);
  assert.match(out, /stream closed: exhausted/);
  assert.equal(out.match(/\/blog/g)?.length, 1, "no window written twice");
});
