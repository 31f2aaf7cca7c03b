// A stream workflow is SIGKILLed mid-window in a real subprocess and resumed by a fresh one:
// only the window that was not committed is read again.

import assert from "node:assert/strict";
import { leaseExpired } from "./_checkpoint_helpers.ts";

const worker = new URL("./e2e/stream_worker.ts", import.meta.url).pathname;

async function runWorker(args: string[]): Promise<{ hung: boolean; stdout: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-kv", worker, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let stdout = "";
  let hung = false;
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    stdout += chunk;
    if (!hung && stdout.includes("HANG")) {
      hung = true;
      child.kill("SIGKILL");
    }
  }
  const status = await child.status;
  assert.equal(hung ? status.signal : status.code, hung ? "SIGKILL" : 0);
  return { hung, stdout };
}

Deno.test("Workflow.resumeFrom() replays only the uncommitted stream window after a SIGKILL", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cano_stream_crash_" });
  try {
    const kvPath = `${dir}/stream.kv`;
    const journalPath = `${dir}/journal.log`;
    await Deno.writeTextFile(journalPath, "");
    const first = await runWorker(["run", kvPath, journalPath, "stream-7", "7"]);
    assert.equal(first.hung, true);
    await leaseExpired(kvPath, "stream-7");
    const resumed = await runWorker(["resume", kvPath, journalPath, "stream-7", "-1"]);
    assert.match(resumed.stdout, /RESULT \{"state":"done"/);
    const lines = (await Deno.readTextFile(journalPath)).split("\n").filter(Boolean);
    assert.deepEqual(lines.filter((l) => l.includes("flush")), [
      "run flush 0,1,2",
      "run flush 3,4,5",
      "resume flush 6,7,8",
      "resume flush 9,10,11",
    ]);
    const processed = (n: number) => lines.filter((l) => l.endsWith(`process ${n}`)).length;
    for (const n of [0, 1, 2, 3, 4, 5]) assert.equal(processed(n), 1, `item ${n} was committed`);
    assert.equal(processed(6), 2, "item 6 was in the uncommitted window: replayed once");
    assert.equal(processed(7), 2, "item 7 was in flight at the kill: replayed once");
    assert.equal(lines.at(-1), "resume close exhausted");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Workflow.resumeFrom() after a cancelled stream processes no window twice (KV file)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cano_stream_cancel_" });
  try {
    const kvPath = `${dir}/stream.kv`;
    const journalPath = `${dir}/journal.log`;
    await Deno.writeTextFile(journalPath, "");
    const first = await runWorker(["run", kvPath, journalPath, "stream-8", "cancel:7"]);
    assert.match(first.stdout, /ERROR \{"category":"cancelled"/);
    const resumed = await runWorker(["resume", kvPath, journalPath, "stream-8", "-1"]);
    assert.match(resumed.stdout, /RESULT \{"state":"done"/);
    const lines = (await Deno.readTextFile(journalPath)).split("\n").filter(Boolean);
    assert.deepEqual(lines.filter((l) => l.includes("flush") || l.includes("close")), [
      "run flush 0,1,2",
      "run flush 3,4,5",
      // The item in flight (7) finished; the drain flushed and committed the partial window.
      "run flush 6,7",
      "run close cancelled",
      "resume flush 8,9,10",
      "resume flush 11",
      "resume close exhausted",
    ]);
    const flushedItems = lines.filter((l) => l.includes("flush")).flatMap((l) =>
      l.split(" ")[2]!.split(",")
    );
    assert.equal(new Set(flushedItems).size, flushedItems.length, "no item flushed twice");
    const processed = (n: number) => lines.filter((l) => l.endsWith(` process ${n}`)).length;
    for (let n = 0; n < 12; n++) assert.equal(processed(n), 1, `item ${n} processed once`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
