// Fixtures of the admin console tests: small named workflows on one store (one that fails at a
// state, one that parks for an event, one that runs until it is cancelled) and request helpers.

import { type MemoryCheckpointStore, type RunStore, TaskConfig, Workflow } from "../mod.ts";
import type { AdminHandler } from "../admin.ts";

/** A loopback URL for a path of the console. */
export const at = (path: string): string => `http://127.0.0.1${path}`;

/** GET a path of the console. */
export function get(
  handler: AdminHandler,
  path: string,
  headers: HeadersInit = {},
): Promise<Response> {
  return handler(new Request(at(path), { headers }));
}

/** POST JSON to a path of the console (as a script would: no Origin). */
export function post(
  handler: AdminHandler,
  path: string,
  body: unknown = {},
  headers: Record<string, string> = {},
): Promise<Response> {
  return handler(
    new Request(at(path), {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
    }),
  );
}

/** The path of a run's API. */
export const runPath = (id: string, action = ""): string =>
  `/api/runs/${encodeURIComponent(id)}${action === "" ? "" : `/${action}`}`;

/** Whether the order workflow's `charge` state fails (it succeeds once set to `false`). */
export const charge = { fails: true };

/** validate → charge → ship → done; `charge` fails while `charge.fails`. */
export function orderWorkflow(store: RunStore | MemoryCheckpointStore) {
  type Step = "validate" | "charge" | "ship" | "done";
  return new Workflow<Step, { order: number; receipt?: string }>({ name: "order" })
    .register("validate", () => "charge", { next: ["charge"] })
    .register("charge", (ctx) => {
      if (charge.fails) throw new Error("card declined");
      ctx.data.receipt = `rcpt-${ctx.data.order}`;
      return "ship";
    }, { next: ["ship"], config: TaskConfig.minimal() })
    .register("ship", () => "done", { next: ["done"] })
    .addExitState("done")
    .withCheckpointStore(store);
}

/** submit → await_manager (approved → pay | rejected → reject) → done. */
export function expenseWorkflow(store: RunStore | MemoryCheckpointStore) {
  type Step = "submit" | "await_manager" | "pay" | "reject" | "done";
  return new Workflow<Step, { amount: number }>({ name: "expense" })
    .register("submit", () => "await_manager", { next: ["await_manager"] })
    .registerWait("await_manager", { events: { approved: "pay", rejected: "reject" } })
    .register("pay", () => "done", { next: ["done"] })
    .register("reject", () => "done", { next: ["done"] })
    .addExitState("done")
    .withCheckpointStore(store);
}

/**
 * start → work (waits for its signal) → done. `started` resolves once `work` runs, so a test
 * can act on a run known to be running.
 */
export function longWorkflow(store: RunStore | MemoryCheckpointStore) {
  const started = Promise.withResolvers<void>();
  const workflow = new Workflow<"start" | "work" | "done", { job: string }>({ name: "long" })
    .register("start", () => "work", { next: ["work"] })
    .register("work", ({ signal }) => {
      started.resolve();
      return new Promise<"done">((_resolve, reject) =>
        signal.addEventListener("abort", () => reject(signal.reason), { once: true })
      );
    }, { next: ["done"], config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store);
  return { workflow, started: started.promise };
}

/** Runs of the order workflow that fail at charge. */
export async function failedOrders(
  workflow: ReturnType<typeof orderWorkflow>,
  ids: readonly string[],
): Promise<void> {
  charge.fails = true;
  for (const [index, id] of ids.entries()) {
    await workflow.orchestrate("validate", { id, data: { order: index } }).catch(() => {});
  }
}

/** Runs of the expense workflow parked at await_manager. */
export async function waitingExpenses(
  workflow: ReturnType<typeof expenseWorkflow>,
  ids: readonly string[],
): Promise<void> {
  for (const id of ids) {
    await workflow.orchestrate("submit", { id, data: { amount: 10 }, onWait: "return" });
  }
}

/** Ids the fuzz tests throw at stores, plus markup meant to run as script if it were parsed. */
export const HOSTILE_IDS: readonly string[] = [
  `<img src=x onerror="globalThis.pwned=1">`,
  `"><svg onload=alert(1)>`,
  "</script><script>globalThis.pwned=2</script>",
  "a/b?c=d#e%2F",
  "a\u0000b",
  "zé🚀 日本語",
  "../../etc/passwd",
];
