// Runs the processing-model examples as their own processes, so they cannot rot unnoticed.

import assert from "node:assert/strict";
import { runExample } from "./_run_example.ts";

Deno.test("examples/poll.ts polls a job until it is ready, tolerating one status error", async () => {
  const out = await runExample("poll");
  assert.match(out, /submitted job report-7/);
  assert.match(out, /check 1: queued/);
  assert.match(out, /check 2: status API 503 for report-7\n.*check 3: running/);
  assert.match(out, /check 5: ready\n.*downloading report-7/);
  assert.match(out, /finished in "done" via submit → wait → download → done after 5 checks/);
});

Deno.test("examples/batch.ts resizes images three at a time and retries the flaky one", async () => {
  const out = await runExample("batch");
  assert.match(out, /✗ flaky\.jpg: upload timed out \(try 1\)/);
  assert.match(out, /✓ flaky\.jpg → flaky-thumb\.jpg/);
  assert.equal(out.match(/✗ corrupt\.jpg: not a JPEG/g)?.length, 3, "1 attempt + 2 retries");
  assert.match(out, /publishing 7 thumbnails/);
  assert.match(
    out,
    /thumbnails \(input order\): a-thumb\.jpg, b-thumb\.jpg, flaky-thumb\.jpg, d-thumb\.jpg, f-thumb/,
  );
  assert.match(out, /failed: corrupt\.jpg/);
  assert.match(out, /flaky\.jpg took 3 attempts; corrupt\.jpg 3/);
  assert.match(out, /at most 3 images in flight; finished in "published"/);
});
