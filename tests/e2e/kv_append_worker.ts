// Test helper run as a subprocess by tests/kv_store_test.ts: appends rows to one workflow id of a
// shared Deno KV file while another process does the same, and reports what happened as JSON.
//
//   deno run -A --unstable-kv tests/e2e/kv_append_worker.ts <file> <id> [count=300] [mode=strict]
//
// mode "strict": every append must succeed (a different id per process).
// mode "race": processes share the id; a duplicate-sequence rejection is expected and counted.
// Output: {"id", "pid", "won": [sequences this process wrote], "lockErrors", "ms"}; every row it
// writes has taskId "pid-<pid>".

import { CheckpointStoreError } from "../../src/errors.ts";
import { KvCheckpointStore, type KvLike } from "../../src/recovery/kv_store.ts";
import { openKvRetrying } from "../_subprocess.ts";

const [file, id, countArg = "300", mode = "strict"] = Deno.args;
if (file === undefined || id === undefined) {
  console.error("usage: kv_append_worker.ts <file> <id> [count] [strict|race]");
  Deno.exit(64);
}
const count = Number(countArg);

// Opening can itself meet another process's lock while the file is being created.
const kv = await openKvRetrying(file, 20, (attempt) => 10 * attempt);
let lockErrors = 0;
// Counts the lock errors the store sees (and retries) without changing behaviour.
const counting: KvLike = {
  atomic() {
    const op = kv.atomic();
    return {
      check: (...checks) => op.check(...checks),
      set: (key, value) => op.set(key, value),
      delete: (key) => op.delete(key),
      commit: async () => {
        try {
          return await op.commit();
        } catch (error) {
          if (String(error).includes("database is locked")) lockErrors++;
          throw error;
        }
      },
    };
  },
  get: (key) => kv.get(key),
  list: (selector) => kv.list(selector),
};

const store = new KvCheckpointStore(counting);
const won: number[] = [];
const started = performance.now();
try {
  for (let sequence = 0; sequence < count; sequence++) {
    try {
      await store.append(id, {
        sequence,
        state: `state-${sequence}`,
        taskId: `pid-${Deno.pid}`,
        kind: "state_entry",
        data: { sequence, pid: Deno.pid },
        workflowVersion: 1,
      });
      won.push(sequence);
    } catch (error) {
      const duplicate = error instanceof CheckpointStoreError &&
        error.message.includes("already has a row");
      if (mode !== "race" || !duplicate) throw error;
    }
  }
  const ms = Math.round(performance.now() - started);
  console.log(JSON.stringify({ id, pid: Deno.pid, won, lockErrors, ms }));
} finally {
  kv.close();
}
