// examples/admin.ts as its own process: it starts the demo runs and the console, stops by itself
// after --seconds, and leaves its runs in the KV file given with --kv for the CLI to read.

import assert from "node:assert/strict";
import { type CliIo, runCli } from "../admin.ts";
import { runExample } from "./_run_example.ts";

Deno.test("examples/admin.ts starts the console over failed, running and waiting runs", async () => {
  const path = await Deno.makeTempFile({ suffix: ".kv" });
  await Deno.remove(path);
  try {
    const out = await runExample(
      "admin",
      ["--allow-net=127.0.0.1", `--allow-read=${path}`, `--allow-write=${path}`],
      ["--seconds", "1", "--port", "0", "--kv", path],
    );
    assert.match(out, /admin console on http:\/\/127\.0\.0\.1:\d+\//);
    assert.match(out, /order-1002 +order +failed in charge/);
    assert.match(out, /import-2024-06 +import +running in (fetch|transform)/);
    assert.match(out, /expense-31 +expense +waiting in await_manager/);
    assert.match(out, /stopped/);

    const lines: string[] = [];
    const io: CliIo = {
      out: (line) => lines.push(line),
      err: (line) => lines.push(line),
      env: () => undefined,
      stopped: () => Promise.resolve(),
    };
    assert.equal(await runCli(["--kv", path, "list", "--json"], io), 0, lines.join("\n"));
    const runs = Object.fromEntries(
      lines.map((line) => JSON.parse(line)).map((run) => [run.id, run]),
    );
    assert.equal(runs["order-1002"].status, "failed");
    assert.equal(runs["import-2024-06"].status, "failed");
    assert.match(runs["import-2024-06"].error, /cancelled/, "the demo aborts it when it stops");
    assert.equal(runs["expense-31"].status, "waiting");
  } finally {
    for (const file of [path, `${path}-wal`, `${path}-shm`]) {
      await Deno.remove(file).catch(() => {});
    }
  }
});
