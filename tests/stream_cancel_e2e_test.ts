// Stream cancel end to end on a Deno KV file: a child process runs a checkpointed stream
// workflow and is cancelled while an item is in flight; the item finishes, the drain flushes and
// commits the partial window, and the child exits. A second child resumes the run with
// `resumeFrom` on the same file: it starts right after the item that was in flight, so every item
// is processed — and flushed — exactly once (the journal file every callback appends to says
// so). A durable cancel request (`requestCancel` from this process) ends the run the same way,
// and for good: a later `resumeFrom` cancels it without running anything.

import assert from "node:assert/strict";
import { KvCheckpointStore } from "../kv.ts";
import { JsonLineChild, type JsonLineOutcome, openKvRetrying } from "./_subprocess.ts";
import type {
  StreamCancelWorkerConfig,
  StreamCancelWorkerLine,
} from "./e2e/stream_cancel_worker.ts";

const WORKER = new URL("./e2e/stream_cancel_worker.ts", import.meta.url).pathname;
const ITEMS = 10;
const WINDOW = 4;
const HOLD_AT = 5; // window [4, 5] is partial when the cancel comes
/** Long enough that the lease never expires during a test (the poll is at most a second). */
const LEASE_MS = 3_000;

type Child = JsonLineChild<StreamCancelWorkerLine>;
type Line<T extends StreamCancelWorkerLine["t"]> = Extract<StreamCancelWorkerLine, { t: T }>;

function describe(outcome: JsonLineOutcome<StreamCancelWorkerLine>): string {
  return JSON.stringify(outcome);
}

/** The first line of type `t` the child prints, or a failure with what it printed instead. */
async function expectLine<T extends StreamCancelWorkerLine["t"]>(
  child: Child,
  t: T,
): Promise<Line<T>> {
  const line = await child.line((l) => l.t === t);
  if (line === undefined) assert.fail(`no "${t}" line: ${describe(await child.done)}`);
  return line as Line<T>;
}

/** Awaits the child's exit; it must exit 0. */
async function exited(child: Child): Promise<JsonLineOutcome<StreamCancelWorkerLine>> {
  const outcome = await child.done;
  assert.equal(outcome.status.code, 0, describe(outcome));
  return outcome;
}

/** A temp KV file and journal for one run; removed (with SQLite's side files) on dispose. */
async function files(label: string) {
  const kvPath = await Deno.makeTempFile({ prefix: `cano_stream_cancel_${label}_`, suffix: ".kv" });
  const journalPath = await Deno.makeTempFile({ prefix: `cano_stream_cancel_${label}_` });
  const id = `import-${label}-${crypto.randomUUID().slice(0, 8)}`;
  (await Deno.openKv(kvPath)).close(); // initialised once, before processes open it
  return {
    kvPath,
    id,
    spawn(mode: "run" | "resume", extra: Partial<StreamCancelWorkerConfig> = {}): Child {
      const config: StreamCancelWorkerConfig = {
        mode,
        kvPath,
        journalPath,
        id,
        items: ITEMS,
        window: WINDOW,
        holdAt: mode === "run" ? HOLD_AT : -1,
        leaseMs: LEASE_MS,
        ...extra,
      };
      return new JsonLineChild<StreamCancelWorkerLine>(WORKER, [JSON.stringify(config)], {
        stdin: config.stdinCancel === true,
      });
    },
    async journal(): Promise<string[]> {
      return (await Deno.readTextFile(journalPath)).split("\n").filter(Boolean);
    },
    async store<T>(use: (store: KvCheckpointStore) => Promise<T>): Promise<T> {
      using kv = await openKvRetrying(kvPath);
      return await use(new KvCheckpointStore(kv));
    },
    async [Symbol.asyncDispose](): Promise<void> {
      for (const path of [kvPath, `${kvPath}-wal`, `${kvPath}-shm`, journalPath]) {
        await Deno.remove(path).catch((error) => {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        });
      }
    },
  };
}

/** How many journal lines say `<any mode> <event>`. */
function count(lines: string[], event: string): number {
  return lines.filter((line) => line.slice(line.indexOf(" ") + 1) === event).length;
}

/** The items of every flush line, in order. */
function flushedItems(lines: string[]): number[] {
  return lines.filter((l) => l.includes(" flush ")).flatMap((l) =>
    l.split(" ")[2]!.split(",").map(Number)
  );
}

Deno.test("Workflow.resumeFrom() after a stream cancelled mid-item processes every item exactly once (KV file)", async () => {
  await using run = await files("local");
  {
    await using first = run.spawn("run", { stdinCancel: true });
    await expectLine(first, "inflight");
    await first.send("cancel\n");
    const ended = await expectLine(first, "error");
    await exited(first);
    assert.equal(ended.category, "cancelled", JSON.stringify(ended));
    assert.equal(ended.name, "StateContextError");
  }
  // The drained window holds the item that was in flight; its cursor is in the KV file.
  assert.deepEqual(
    (await run.journal()).filter((l) => l.includes(" flush ") || l.includes(" close ")),
    ["run flush 0,1,2,3", "run flush 4,5", "run close cancelled"],
  );
  const cursors = await run.store(async (store) =>
    (await store.loadRun(run.id)).filter((r) => r.kind === "step_cursor").map((r) => r.output)
  );
  assert.deepEqual(cursors, [3, 5]);

  {
    await using second = run.spawn("resume");
    const result = await expectLine(second, "result");
    await exited(second);
    assert.equal(result.state, "done");
  }
  const lines = await run.journal();
  assert.deepEqual(lines.filter((l) => l.includes(" flush ") || l.includes(" close ")), [
    "run flush 0,1,2,3",
    "run flush 4,5",
    "run close cancelled",
    "resume flush 6,7,8,9",
    "resume close exhausted",
  ]);
  assert.equal(lines.find((l) => l.startsWith("resume start")), "resume start 6");
  for (let n = 0; n < ITEMS; n++) {
    assert.equal(count(lines, `start ${n}`), 1, `item ${n} started once`);
    assert.equal(count(lines, `done ${n}`), 1, `item ${n} finished once`);
  }
  assert.deepEqual(flushedItems(lines), [...Array(ITEMS).keys()], "every output, once, in order");
  // The run reached its exit state: nothing is left in the store.
  assert.deepEqual(
    await run.store(async (store) => ({
      record: await store.getRun(run.id),
      rows: await store.loadRun(run.id),
    })),
    { record: undefined, rows: [] },
  );
});

Deno.test("A durable cancel request ends a stream run mid-item, the item in flight flushed once, and for good (KV file)", async () => {
  await using run = await files("durable");
  {
    await using first = run.spawn("run");
    await expectLine(first, "inflight");
    const { outcome } = await run.store((store) => store.requestCancel(run.id, "operator"));
    assert.equal(outcome, "requested");
    const ended = await expectLine(first, "error");
    await exited(first);
    assert.equal(ended.category, "cancelled", JSON.stringify(ended));
  }
  const lines = await run.journal();
  assert.deepEqual(lines.filter((l) => l.includes(" flush ") || l.includes(" close ")), [
    "run flush 0,1,2,3",
    "run flush 4,5", // the item in flight finished and was drained
    "run close cancelled",
  ]);
  for (let n = 0; n <= HOLD_AT; n++) assert.equal(count(lines, `done ${n}`), 1, `item ${n}`);

  // A durably cancelled run is never run forward again: the resume cancels it at once.
  {
    await using second = run.spawn("resume");
    const ended = await expectLine(second, "error");
    await exited(second);
    assert.equal(ended.category, "cancelled", JSON.stringify(ended));
  }
  assert.deepEqual(await run.journal(), lines, "nothing ran in the resuming process");
});
