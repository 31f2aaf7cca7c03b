// Runs the scheduler examples as their own processes, so they cannot rot unnoticed.

import assert from "node:assert/strict";
import { runExample } from "./_run_example.ts";

Deno.test("examples/scheduler.ts runs interval, cron and manual flows and stops by itself", async () => {
  const out = await runExample("scheduler", [], ["--seconds", "3"]);
  assert.match(out, /^db: connected \(once, at start\)\n/);
  assert.match(out, /sync: stored 3 items as row 1\n/);
  assert.match(out, /sync: stored 3 items as row 2\n/);
  assert.match(out, /report: \d+ rows so far\n/);
  assert.match(out, /adhoc-report: running → completed\n/);
  assert.match(out, /db: disconnected \(once, at stop\) after \d+ rows\nstopped\n/);
  assert.match(
    out,
    /stopped\n {2}flow +status +runs +last run +next run\n {2}sync +completed +\d+ /,
  );
  assert.equal(out.match(/db: connected/g)?.length, 1, "resources are set up once");
  assert.equal(out.match(/db: disconnected/g)?.length, 1, "and torn down once");
});

Deno.test({
  name: "examples/scheduler.ts stops gracefully on SIGINT",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "examples/scheduler.ts", "--seconds", "0"],
      cwd: new URL("../", import.meta.url),
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    let out = "";
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    // Wait until the scheduler is up and the first run has happened, then press Ctrl-C.
    while (!out.includes("sync: stored 3 items as row 1")) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
    }
    child.kill("SIGINT");
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
    }
    const status = await child.status;
    assert.equal(status.code, 0, `${out}\n${await stderr}`);
    assert.match(out, /Ctrl-C: stopping gracefully…\n/);
    assert.match(out, /db: disconnected \(once, at stop\) after \d+ rows\nstopped\n/);
  },
});

Deno.test("examples/scheduler_backoff.ts backs off, trips, and recovers after a reset", async () => {
  const out = await runExample("scheduler_backoff");
  assert.match(out, /api-sync: failed #1, 503 Service Unavailable \(call 1\) → backing off until/);
  assert.match(out, /api-sync: failed #3, 503 Service Unavailable \(call 3\) → backing off/);
  assert.match(out, /dependent: failed #3 → TRIPPED, no more runs/);
  assert.match(
    out,
    /trigger refused: Flow "dependent" is tripped — call resetFlow before triggering/,
  );
  assert.match(out, /dependent: ok again, streak reset to 0/);
  assert.match(out, /api-sync: ok again, streak reset to 0/);
  assert.match(out, /api-sync: 3 failed calls in \d+ ms of outage/);
});
