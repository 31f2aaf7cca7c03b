// The admin CLI on KV files: list (table and JSON lines), show, cancel, retry by recovery, send,
// export, and clear typed errors for a missing file, a file that is not KV, and a KV database
// that is not cano's; plus the entrypoint run as a program.

import assert from "node:assert/strict";
import { KvCheckpointStore } from "../kv.ts";
import { startRecovery } from "../mod.ts";
import { crashAfterCheckpoint, FakeTime, SimulatedCrashError } from "../testing.ts";
import { type CliIo, KvFileError, openCanoKv, runCli } from "../admin.ts";
import {
  charge,
  expenseWorkflow,
  failedOrders,
  orderWorkflow,
  waitingExpenses,
} from "./admin_fixtures.ts";

/** Runs the CLI in this process; returns its exit code and output lines. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    env: () => undefined,
    stopped: () => Promise.resolve(),
  };
  const code = await runCli(args, io);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

/** A temp KV file with two failed orders and a waiting expense (closed again). */
async function seeded(): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".kv" });
  await Deno.remove(path); // openKv makes the database
  const kv = await Deno.openKv(path);
  try {
    const store = new KvCheckpointStore(kv);
    await failedOrders(orderWorkflow(store), ["order-1", "order-2"]);
    await waitingExpenses(expenseWorkflow(store), ["expense-\u001b[31mred"]);
  } finally {
    kv.close();
  }
  return path;
}

async function removeKv(path: string): Promise<void> {
  for (const file of [path, `${path}-wal`, `${path}-shm`]) await Deno.remove(file).catch(() => {});
}

Deno.test("runCli() lists runs as a table for people and as JSON lines for scripts", async () => {
  const path = await seeded();
  try {
    const table = await cli(["--kv", path, "list"]);
    assert.equal(table.code, 0, table.err);
    const lines = table.out.split("\n");
    assert.match(lines[0]!, /^ID\s+WORKFLOW\s+STATUS\s+STATE\s+ROWS\s+UPDATED\s+ERROR$/);
    assert.match(table.out, /order-1\s+order v0\s+failed\s+charge\s+2\s+\d+s ago\s+state=charge/);
    assert.ok(!table.out.includes("\u001b"), "a hostile id cannot reach the terminal raw");
    assert.match(table.out, /"expense-\\u001b\[31mred"/);

    const json = await cli(["--kv", path, "list", "--status", "failed", "--json"]);
    const runs = json.out.split("\n").map((line) => JSON.parse(line));
    assert.deepEqual(runs.map((run) => run.id), ["order-1", "order-2"]);
    assert.equal(runs[0].status, "failed");
    const limited = await cli(["--kv", path, "list", "--limit", "1", "--json"]);
    assert.equal(limited.out.split("\n").length, 1);
    const bad = await cli(["--kv", path, "list", "--status", "done"]);
    assert.equal(bad.code, 2);
    assert.match(
      bad.err,
      /--status must be running, waiting, failed or rolling_back, received done/,
    );
  } finally {
    await removeKv(path);
  }
});

Deno.test("runCli() shows, exports, cancels and sends an event to a run", async () => {
  const path = await seeded();
  try {
    const show = await cli(["--kv", path, "show", "order-1"]);
    assert.equal(show.code, 0, show.err);
    assert.match(show.out, /status: {3}failed in state charge/);
    assert.match(show.out, /#1 state_entry charge v0 {2}data=\{"order":0\}/);
    const json = JSON.parse(
      (await cli(["--kv", path, "show", "order-1", "--json", "--hide-data"])).out,
    );
    assert.deepEqual(json.path, ["validate", "charge"]);
    assert.ok(json.rows.every((row: object) => !("data" in row)));
    assert.equal(json.actions.retry.mode, "recovery");

    const exported = JSON.parse((await cli(["--kv", path, "export", "order-2"])).out);
    assert.equal(exported.format, "cano-run/1");
    assert.equal(exported.rows.length, 2);

    const id = "expense-\u001b[31mred";
    const sent = await cli([
      "--kv",
      path,
      "send",
      id,
      "approved",
      "--payload",
      '{"by":"ana"}',
      "--json",
    ]);
    assert.equal(sent.code, 0, sent.err);
    assert.equal(JSON.parse(sent.out).outcome, "delivered");
    const cancel = await cli(["--kv", path, "cancel", id, "--reason", "duplicate claim"]);
    assert.equal(cancel.code, 0, cancel.err);
    assert.match(cancel.out, /cancel "expense-\\u001b\[31mred": requested/);
    const failed = await cli(["--kv", path, "cancel", "order-1"]);
    assert.equal(failed.code, 1);
    assert.match(failed.out, /failed/);

    const missing = await cli(["--kv", path, "show", "nope"]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /Run nope has no record and no log/);
    assert.equal((await cli(["--kv", path, "show"])).code, 2);
    assert.equal((await cli(["--kv", path, "frobnicate"])).code, 2);
  } finally {
    await removeKv(path);
  }
});

Deno.test("runCli() retry hands a failed run to recovery, which runs it again", async () => {
  const path = await seeded();
  try {
    const retry = await cli(["--kv", path, "retry", "order-1"]);
    assert.equal(retry.code, 0, retry.err);
    assert.match(retry.out, /handed to recovery/);
    const refused = await cli(["--kv", path, "retry", "order-1"]);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /refused: Only a failed run is retried/);
    const kv = await Deno.openKv(path);
    try {
      const store = new KvCheckpointStore(kv);
      const orders = orderWorkflow(store);
      charge.fails = false;
      await using recovery = startRecovery({ store, workflows: [orders], every: 86_400_000 });
      assert.equal((await recovery.sweep()).resumed, 1);
      await recovery.stop();
      assert.equal(await store.getRun("order-1"), undefined, "completed");
      assert.equal((await store.getRun("order-2"))?.status, "failed", "left alone");
    } finally {
      kv.close();
    }
  } finally {
    await removeKv(path);
  }
});

Deno.test("runCli() resume hands a run nobody holds to recovery, and refuses held, failed and waiting runs", async () => {
  const path = await seeded();
  const kv = await Deno.openKv(path);
  try {
    const store = new KvCheckpointStore(kv, { leaseMs: 60_000 });
    // order-3 dies right after its first row: its record still names this process's dead claim.
    charge.fails = false;
    const crashing = crashAfterCheckpoint(store, 1);
    await assert.rejects(
      orderWorkflow(crashing).orchestrate("validate", { id: "order-3", data: { order: 3 } }),
      SimulatedCrashError,
    );
    const held = await cli(["--kv", path, "resume", "order-3"]);
    assert.equal(held.code, 1);
    assert.match(held.err, /resume order-3: refused: The run is held by "deno-/);
    const failed = await cli(["--kv", path, "resume", "order-1"]);
    assert.match(failed.err, /refused: The run failed: retry it instead/);
    const waiting = await cli(["--kv", path, "resume", "expense-\u001b[31mred"]);
    assert.match(waiting.err, /refused: The run waits for an event or its deadline/);
    assert.equal((await cli(["--kv", path, "resume", "nobody"])).code, 1);

    // A minute later the dead claim has lapsed: resume hands the run over at once.
    {
      using time = new FakeTime(Date.now() + 61_000);
      const resumed = await cli(["--kv", path, "resume", "order-3", "--json"]);
      assert.equal(resumed.code, 0, resumed.err);
      assert.deepEqual(JSON.parse(resumed.out), { started: true, mode: "recovery", id: "order-3" });
      const after = await store.getRun("order-3");
      assert.equal(after?.owner, undefined, "released: any sweep claims it");
      assert.ok(after !== undefined && after.leaseUntil.getTime() <= Date.now(), "due now");
      // Any process running recovery continues it (here, in the same fake minute).
      const recovery = startRecovery({
        store,
        workflows: [orderWorkflow(store)],
        every: 86_400_000,
      });
      assert.equal((await recovery.sweep()).resumed, 1);
      await recovery.stop();
      assert.equal(await store.getRun("order-3"), undefined, "recovery finished it");
      time.restore();
    }
  } finally {
    kv.close();
    await removeKv(path);
  }
});

Deno.test("openCanoKv() refuses a missing file, a file that is not KV, and a foreign KV", async () => {
  const dir = await Deno.makeTempDir();
  const refuses = async (path: string, problem: string, message: RegExp) => {
    await assert.rejects(openCanoKv(path), (error: unknown) => {
      assert.ok(error instanceof KvFileError, String(error));
      assert.equal(error.problem, problem);
      assert.equal(error.path, path);
      assert.match(error.message, message);
      return true;
    });
  };
  try {
    await refuses(`${dir}/none.kv`, "missing", /none\.kv": no such file/);
    await assert.rejects(Deno.stat(`${dir}/none.kv`), Deno.errors.NotFound, "nothing was created");
    await Deno.writeTextFile(`${dir}/text.kv`, "hello, I am a text file\n");
    await refuses(`${dir}/text.kv`, "not_kv", /is not a KV database \(not an SQLite file\)/);
    await Deno.writeFile(`${dir}/empty.kv`, new Uint8Array());
    await refuses(`${dir}/empty.kv`, "not_kv", /is empty/);
    await refuses(dir, "not_kv", /is not a file/);

    const write = async (name: string, key: Deno.KvKey) => {
      const kv = await Deno.openKv(`${dir}/${name}`);
      await kv.set(key, "x");
      kv.close();
      return `${dir}/${name}`;
    };
    await refuses(await write("foreign.kv", ["users", 1]), "foreign", /none of cano's/);
    await refuses(
      await write("prefixed.kv", ["cano", "other", "runs", "a"]),
      "foreign",
      /pass the store's prefix with --prefix/,
    );
    await refuses(
      await write("layout.kv", ["cano", "checkpoints", "weird", 1]),
      "layout",
      /\["cano","checkpoints","weird",1\]/,
    );

    // An empty database is fine: every run completed (a finished run leaves nothing).
    const kv = await Deno.openKv(`${dir}/fresh.kv`);
    kv.close();
    const fresh = await openCanoKv(`${dir}/fresh.kv`);
    fresh.kv.close();
    const list = await cli(["--kv", `${dir}/fresh.kv`, "list"]);
    assert.equal(list.code, 0);
    assert.match(list.out, /No unfinished runs/);
    const foreign = await cli(["--kv", `${dir}/foreign.kv`, "list"]);
    assert.equal(foreign.code, 1);
    assert.match(
      foreign.err,
      /^KvFileError: KV file ".*foreign\.kv": holds keys, but none of cano's/,
    );
    const prefixed = await cli([
      "--kv",
      `${dir}/prefixed.kv`,
      "--prefix",
      '["cano","other"]',
      "list",
    ]);
    assert.equal(prefixed.code, 1, "a record that is not one is reported, not thrown");
    assert.match(prefixed.err, /CheckpointStoreError/);
    assert.equal((await cli(["list"])).code, 2, "--kv is required");
    assert.equal((await cli(["--kv", `${dir}/fresh.kv`, "--prefix", "cano", "list"])).code, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("admin.ts runs as a program: deno run admin.ts --kv FILE list --json", async () => {
  const path = await seeded();
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        "-A",
        "admin.ts",
        "--kv",
        path,
        "list",
        "--status",
        "failed",
        "--json",
      ],
      cwd: new URL("../", import.meta.url),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    assert.deepEqual(stdout.trim().split("\n").map((line) => JSON.parse(line).id), [
      "order-1",
      "order-2",
    ]);
    const missing = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--quiet", "-A", "admin.ts", "--kv", `${path}.missing`, "list"],
      cwd: new URL("../", import.meta.url),
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(missing.code, 1);
    assert.match(new TextDecoder().decode(missing.stderr), /KvFileError: KV file .*: no such file/);
  } finally {
    await removeKv(path);
  }
});

Deno.test("runCli() serve starts the console on the KV file until stopped", async () => {
  const path = await seeded();
  try {
    const lines: string[] = [];
    const listening = Promise.withResolvers<string>();
    const stop = Promise.withResolvers<void>();
    const io: CliIo = {
      out: (line) => {
        lines.push(line);
        const url = /on (http:\S+)/.exec(line)?.[1];
        if (url !== undefined) listening.resolve(url.replace(/;$/, ""));
      },
      err: (line) => lines.push(line),
      env: () => undefined,
      stopped: () => stop.promise,
    };
    const served = runCli(["--kv", path, "serve", "--port", "0", "--read-only"], io);
    const url = await listening.promise;
    const runs = await (await fetch(`${url}api/runs?status=failed`)).json();
    assert.deepEqual(runs.runs.map((run: { id: string }) => run.id), ["order-1", "order-2"]);
    const refused = await fetch(`${url}api/runs/order-1/retry`, { method: "POST" });
    assert.equal(refused.status, 403, "--read-only");
    await refused.body?.cancel();
    stop.resolve();
    assert.equal(await served, 0, lines.join("\n"));
    const open = await cli(["--kv", path, "serve", "--hostname", "0.0.0.0", "--port", "0"]);
    assert.equal(open.code, 1, "no token: refused off loopback");
    assert.match(open.err, /is not a loopback address: set token/);
  } finally {
    await removeKv(path);
  }
});
