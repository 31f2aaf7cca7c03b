// Runs every example as its own process, so the examples cannot rot unnoticed.

import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);

async function runExample(name: string): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", `examples/${name}.ts`],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `examples/${name}.ts failed:\n${stdout}\n${stderr}`);
  return stdout;
}

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
