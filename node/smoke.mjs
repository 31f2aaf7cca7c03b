// Node smoke test of the JavaScript build in node/dist (made by node/run.sh): the store contract on
// `@deno/kv` files, a run a Deno process started and was SIGKILLed in resumed under Node (and one
// Node left failed resumed by Deno), the scheduler for a few ticks, and the README's Node snippet.
// Prints one line per check and ends with "node smoke: N passed, M failed"; exits 1 on a failure.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { openKv } from "@deno/kv";
import { smokeWorkflow } from "./_smoke_workflow.mjs";
// The build (node/dist, made by run.sh) is imported by computed URL, so `deno check` of this file
// does not need the build to exist.
const built = (name) => import(new URL(`./dist/${name}.js`, import.meta.url).href);
const { ConfigurationError, RunOwnedError, TaskConfig, Workflow } = await built("mod");
const { KvCheckpointStore } = await built("kv");
const { Scheduler } = await built("scheduler");
const { checkpointStoreContract } = await built("testing");

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(HERE);
const DENO = process.env.DENO_BIN ?? "deno";
const started = performance.now();
let passed = 0;
let failed = 0;

async function check(name, fn) {
  const t0 = performance.now();
  try {
    const note = await fn();
    passed += 1;
    const ms = Math.round(performance.now() - t0);
    console.log(`ok   ${name}${note ? ` — ${note}` : ""} (${ms} ms)`);
  } catch (error) {
    failed += 1;
    console.log(`FAIL ${name}\n${error?.stack ?? error}`);
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what, condition, timeout = 5_000) {
  const end = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Runs `deno run -A node/_deno_writer.ts ...args`; `onLine` may kill it. */
function denoWriter(args, onLine = () => {}) {
  const child = spawn(
    DENO,
    ["run", "-A", "--unstable-kv", join(HERE, "_deno_writer.ts"), ...args],
    {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 60_000, // SIGTERM if it neither hangs as told nor exits
    },
  );
  const lines = [];
  let stderr = "";
  let buffer = "";
  child.stdout.setEncoding("utf8").on("data", (chunk) => {
    buffer += chunk;
    const parts = buffer.split("\n");
    buffer = parts.pop() ?? "";
    for (const line of parts) {
      lines.push(line);
      onLine(line, child);
    }
  });
  child.stderr.setEncoding("utf8").on("data", (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, lines, stderr }));
  });
}

/** The smoke workflow as Node runs it (see _smoke_workflow.mjs). */
function importWorkflow(store) {
  return smokeWorkflow({ Workflow, TaskConfig }, store, "node");
}

const dir = await mkdtemp(join(tmpdir(), "cano-node-smoke-"));
try {
  // 1. The store contract, each case on a fresh @deno/kv file.
  const handles = new WeakMap();
  let file = 0;
  const cases = checkpointStoreContract(async (options) => {
    const kv = await openKv(join(dir, `contract-${file++}.kv`));
    const store = new KvCheckpointStore(kv, { ...options, prefix: ["app", "runs"] });
    handles.set(store, kv);
    return store;
  }, { cleanup: (store) => handles.get(store)?.close() });
  for (const c of cases) await check(`contract: ${c.name}`, () => c.fn());

  // 2. One copy of each class behind all four entrypoints.
  await check("errors from ./kv are instances of the classes of .", () => {
    assert.throws(() => new KvCheckpointStore({}), ConfigurationError);
  });

  await check(
    "a split state joins its branches (no Promise.withResolvers on Node 20)",
    async () => {
      const quotes = new Workflow()
        .registerSplit("quote", [() => 12, () => 9, () => 15], { strategy: "all", next: "pick" })
        .register("pick", (ctx) => {
          ctx.data.best = Math.min(...ctx.split.results.map((r) => r.value));
          return "done";
        })
        .addExitState("done");
      const result = await quotes.orchestrate("quote", { data: {} });
      assert.equal(result.data.best, 9);
    },
  );

  // 3. A run started by Deno, killed mid-run, resumed by Node; a Node failure resumed by Deno.
  const path = join(dir, "shared.kv");
  const crash = await denoWriter(["crash", path], (line, child) => {
    if (line.startsWith("HANG ")) child.kill("SIGKILL");
  });
  const kv = await openKv(path);
  try {
    const store = new KvCheckpointStore(kv, { leaseMs: 1_000 });
    const workflow = importWorkflow(store);
    let crashed;
    await check(
      "a Deno process checkpointed two runs and was SIGKILLed in the middle of one",
      () => {
        assert.equal(crash.signal, "SIGKILL", `the Deno writer was not killed: ${crash.stderr}`);
        assert.match(crash.lines.join("\n"), /^FAILED .*transform failed in deno$/m);
        return `exit by ${crash.signal}`;
      },
    );
    await check("listRuns() and getRun() under Node read the run records Deno wrote", async () => {
      const { runs } = await store.listRuns({ workflow: "node-smoke" });
      assert.deepEqual(runs.map((r) => [r.id, r.status, r.state]), [
        ["crash-1", "running", "transform"],
        ["fail-1", "failed", "transform"],
      ]);
      crashed = runs[0];
      assert.match(crashed.owner, /^deno-\d+-/);
      assert.match(String(runs[1].error?.message ?? JSON.stringify(runs[1].error)), /in deno/);
      assert.deepEqual(await store.getRun("crash-1"), crashed);
      return `owner ${crashed.owner}`;
    });
    await check("rows Deno wrote are JSON bytes that @deno/kv reads as Uint8Array", async () => {
      // @deno/kv hands back a Buffer (a Uint8Array) for each value, a plain one when it is empty.
      let json = 0;
      let empty = 0;
      for await (const entry of kv.list({ prefix: ["cano", "checkpoints"] })) {
        assert.ok(entry.value instanceof Uint8Array, `${entry.key.join("/")} is not bytes`);
        if (entry.value.length === 0) empty += 1; // an index entry: the key is the data
        else json += JSON.parse(new TextDecoder().decode(entry.value)) ? 1 : 0;
      }
      const rows = await store.loadRun("crash-1");
      assert.deepEqual(rows.map((r) => r.state), ["fetch", "transform"]);
      assert.deepEqual(rows.at(-1).data.visited, ["fetch:deno"]);
      return `${json} JSON values, ${empty} empty index entries`;
    });
    await check("resumeFrom() of the killed run is refused while Deno's lease lasts", async () => {
      const leaseUntil = new Date(crashed.leaseUntil).getTime();
      if (Date.now() > leaseUntil - 100) return "skipped: the lease had already expired";
      await assert.rejects(workflow.resumeFrom("crash-1"), (error) => {
        assert.ok(error instanceof RunOwnedError, `not a RunOwnedError: ${error}`);
        assert.equal(error.owner, crashed.owner);
        return true;
      });
      return "RunOwnedError";
    });
    await check("Node resumes the killed run once the lease expired, after fetch", async () => {
      const leaseUntil = new Date(crashed.leaseUntil).getTime();
      await sleep(Math.max(0, leaseUntil - Date.now() + 20));
      const result = await workflow.resumeFrom("crash-1");
      assert.equal(result.state, "done");
      assert.deepEqual(result.data.visited, ["fetch:deno", "transform:node", "load:node"]);
      assert.equal(await store.getRun("crash-1"), undefined);
      assert.deepEqual(await store.loadRun("crash-1"), []);
      return result.data.visited.join(" → ");
    });
    await check("Node resumes the run that failed under Deno", async () => {
      const result = await workflow.resumeFrom("fail-1");
      assert.deepEqual(result.data.visited, ["fetch:deno", "transform:node", "load:node"]);
      return result.data.visited.join(" → ");
    });
    await check("Deno resumes a run that failed under Node (file shared by both)", async () => {
      await assert.rejects(
        workflow.orchestrate("fetch", { id: "node-1", data: { visited: [], failIn: "node" } }),
        /transform failed in node/,
      );
      assert.equal((await store.getRun("node-1"))?.status, "failed");
      const resumed = await denoWriter(["resume", path, "node-1"]);
      const line = resumed.lines.find((l) => l.startsWith("RESULT "));
      assert.ok(line, `no RESULT from Deno (exit ${resumed.code}): ${resumed.stderr}`);
      const result = JSON.parse(line.slice("RESULT ".length));
      assert.deepEqual(result.data.visited, ["fetch:node", "transform:deno", "load:deno"]);
      assert.deepEqual((await store.listRuns({})).runs, []);
      return result.data.visited.join(" → ");
    });

    // 4. The scheduler: an interval flow (checkpointed on the same file), a cron flow (croner is
    // bundled) and a manual trigger.
    await check("the scheduler runs interval, cron and manual flows under Node", async () => {
      const plain = new Workflow().register("start", () => "done").addExitState("done");
      const ends = [];
      const running = await new Scheduler()
        .every("tick", workflow, "fetch", 20, { data: () => ({ visited: [] }) })
        .cron("cron", plain, "start", "* * * * * *")
        .manual("adhoc", plain, "start")
        .start();
      try {
        running.addEventListener("flowend", (e) => ends.push(`${e.id}:${e.outcome}`));
        await until(
          "three ticks and a cron run",
          () => running.status("tick").runCount >= 3 && running.status("cron").runCount >= 1,
        );
        await running.trigger("adhoc");
        await until("the manual run", () => ends.includes("adhoc:completed"));
        // Stop between two ticks: stop() aborts a run in flight, which would then be kept as failed.
        await until("a moment without a run", () => !running.hasRunningFlows());
      } finally {
        await running.stop({ timeout: 2_000 });
      }
      assert.ok(ends.every((end) => end.endsWith(":completed")), ends.join(", "));
      assert.deepEqual((await store.listRuns({})).runs, [], "scheduled runs left records");
      return `${ends.length} runs (${running.status("tick").runCount} ticks)`;
    });
  } finally {
    kv.close();
  }

  // 5. The README's Node snippet, with its imports pointed at the build.
  await check("the README's Node snippet runs", async () => {
    const readme = await readFile(join(ROOT, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("### Node and Bun"));
    const snippet = /```js ignore\n([\s\S]*?)```/.exec(section)?.[1];
    assert.ok(snippet, "no ```js ignore block under ### Node and Bun in README.md");
    const script = join(HERE, "dist", "readme_snippet.mjs");
    await writeFile(
      script,
      snippet.replace(/"@cano\/cano(\/\w+)?"/g, (_, sub) => `"./${sub?.slice(1) ?? "mod"}.js"`),
    );
    const run = spawn(process.execPath, [script], {
      cwd: dir,
      stdio: ["ignore", "pipe", "inherit"],
      timeout: 30_000,
    });
    let out = "";
    run.stdout.setEncoding("utf8").on("data", (chunk) => (out += chunk));
    const code = await new Promise((resolve) => run.on("close", resolve));
    assert.equal(code, 0);
    assert.match(out, /done/);
    return out.trim();
  });
} finally {
  await rm(dir, { recursive: true, force: true });
}

const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(
  `node smoke (Node ${process.version}): ${passed} passed, ${failed} failed (${seconds}s)`,
);
process.exit(failed === 0 ? 0 : 1);
