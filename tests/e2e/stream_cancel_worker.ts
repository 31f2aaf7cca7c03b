// A process of stream_cancel_e2e_test.ts: a checkpointed stream workflow on a Deno KV file, run
// (`run`) or resumed (`resume`) under one run id.
//
// Usage: stream_cancel_worker.ts '<json StreamCancelWorkerConfig>'
//
// The stream reads the numbers 0..items-1 in windows of `window`. Every item appends
// `<mode> start <n>` to the journal when its processItem begins and `<mode> done <n>` when it
// returns; every flush appends `<mode> flush <n,…>`, onClose `<mode> close <reason>`. Item
// `holdAt` prints an `inflight` line, then waits until its ctx.signal aborts — a line on stdin
// (`cancel`, with `stdinCancel`) aborts the run's signal; a durable cancel request (from the
// parent) aborts it through the owner's poll — and then keeps working a little (a timer) before
// it returns: the engine must wait for it. Stdout: one JSON object per line
// ({@link StreamCancelWorkerLine}). Exit 0 whatever the outcome (the parent judges), 2 on bad
// usage, 3 when the safety timeout elapses.

import { KvCheckpointStore } from "../../kv.ts";
import { Workflow } from "../../mod.ts";
import { exitAfter, openKvRetrying, splitLines, workerConfig } from "../_subprocess.ts";

/** What the process does. */
export interface StreamCancelWorkerConfig {
  mode: "run" | "resume";
  kvPath: string;
  journalPath: string;
  id: string;
  items: number;
  window: number;
  /** The item that is in flight when the cancel comes (`-1`: none). */
  holdAt: number;
  /** Abort the run's signal when `cancel` is read on stdin. */
  stdinCancel?: boolean;
  leaseMs: number;
}

/** What the process prints, one per line. */
export type StreamCancelWorkerLine =
  | { t: "ready"; pid: number }
  /** Item `n`'s processItem is running (and waiting for the cancel). */
  | { t: "inflight"; n: number }
  | { t: "result"; state: string }
  | { t: "error"; name: string; category: string | undefined; message: string }
  | { t: "timeout" };

const config = workerConfig<StreamCancelWorkerConfig>(
  "stream_cancel_worker.ts '<json StreamCancelWorkerConfig>'",
);
exitAfter(30_000, JSON.stringify({ t: "timeout" } satisfies StreamCancelWorkerLine));

function print(line: StreamCancelWorkerLine): void {
  console.log(JSON.stringify(line));
}

function journal(event: string): void {
  Deno.writeTextFileSync(config.journalPath, `${config.mode} ${event}\n`, { append: true });
}

async function* numbers(from: number): AsyncGenerator<number> {
  for (let n = from; n < config.items; n++) yield await Promise.resolve(n);
}

/** Resolves once `signal` aborts. */
function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true })
  );
}

const controller = new AbortController();
if (config.stdinCancel === true) {
  void (async () => {
    const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream()).pipeThrough(
      splitLines(),
    );
    for await (const line of lines) {
      if (line.trim() === "cancel") controller.abort("operator stopped the import");
    }
  })();
}

const kv = await openKvRetrying(config.kvPath);
try {
  print({ t: "ready", pid: Deno.pid });
  const workflow = new Workflow<"ingest" | "done">({ name: "import" })
    .registerStream("ingest", {
      window: { count: config.window },
      open: (_ctx, cursor: number | undefined) => numbers(cursor === undefined ? 0 : cursor + 1),
      processItem: async (ctx, n: number) => {
        journal(`start ${n}`);
        if (n === config.holdAt) {
          print({ t: "inflight", n });
          await aborted(ctx.signal);
          // Still working after the cancel: the engine waits for the item in flight.
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        journal(`done ${n}`);
        return { output: n, cursor: n };
      },
      flushWindow: (_ctx, outputs: number[]) => {
        journal(`flush ${outputs.join(",")}`);
        return "continue";
      },
      onClose: (_ctx, reason) => {
        journal(`close ${reason}`);
        return "done";
      },
    })
    .addExitState("done")
    .withCheckpointStore(new KvCheckpointStore(kv, { leaseMs: config.leaseMs }))
    .withWorkflowId(config.id);
  try {
    const result = config.mode === "resume"
      ? await workflow.resumeFrom(config.id)
      : await workflow.orchestrate("ingest", { signal: controller.signal });
    print({ t: "result", state: result.state });
  } catch (error) {
    const { name, category, message } = error as {
      name?: string;
      category?: string;
      message?: string;
    };
    print({ t: "error", name: String(name), category, message: String(message ?? error) });
  }
} finally {
  kv.close();
}
Deno.exit(0);
