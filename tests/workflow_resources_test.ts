import assert from "node:assert/strict";
import { MemoryStore, ResourceNotFoundError, Resources, TaskConfig, Workflow } from "../mod.ts";

/** A resource that records its lifecycle calls into a shared log. */
function tracked(name: string, log: string[], failSetup = false): {
  setup(): void;
  teardown(): void;
} {
  return {
    setup: () => {
      log.push(`setup ${name}`);
      if (failSetup) throw new Error(`${name} is down`);
    },
    teardown: () => void log.push(`teardown ${name}`),
  };
}

Deno.test("Workflow.orchestrate() sets resources up FIFO and tears them down LIFO after success", async () => {
  const log: string[] = [];
  const resources = new Resources({ a: tracked("a", log), b: tracked("b", log) });
  const workflow = new Workflow<"run" | "done">({ resources })
    .register("run", () => {
      log.push("task");
      return "done";
    })
    .addExitState("done");
  await workflow.orchestrate("run");
  assert.deepEqual(log, ["setup a", "setup b", "task", "teardown b", "teardown a"]);
});

Deno.test("Workflow.orchestrate() tears resources down after a failure", async () => {
  const log: string[] = [];
  const workflow = new Workflow<"run" | "done">({
    resources: new Resources({ a: tracked("a", log) }),
  })
    .register("run", () => {
      throw new Error("boom");
    }, { config: TaskConfig.minimal() })
    .addExitState("done");
  await assert.rejects(workflow.orchestrate("run"), /boom/);
  assert.deepEqual(log, ["setup a", "teardown a"]);
});

Deno.test("Workflow.orchestrate() tears resources down after a cancel", async () => {
  const log: string[] = [];
  const controller = new AbortController();
  const workflow = new Workflow<"run" | "done">({
    resources: new Resources({ a: tracked("a", log) }),
  })
    .register("run", (ctx) => {
      controller.abort();
      return new Promise<"done">((_, reject) =>
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))
      );
    })
    .addExitState("done");
  await assert.rejects(workflow.orchestrate("run", { signal: controller.signal }), {
    category: "cancelled",
  });
  assert.deepEqual(log, ["setup a", "teardown a"]);
});

Deno.test("Workflow.orchestrate() rolls back a failed setup and throws its error raw", async () => {
  const log: string[] = [];
  const resources = new Resources({
    a: tracked("a", log),
    b: tracked("b", log),
    c: tracked("c", log, true),
    d: tracked("d", log),
  });
  let ran = false;
  const workflow = new Workflow<"run" | "done">({ resources })
    .register("run", () => {
      ran = true;
      return "done";
    })
    .addExitState("done");
  await assert.rejects(workflow.orchestrate("run"), (error: unknown) => {
    assert.ok(error instanceof Error);
    assert.equal(error.message, "c is down");
    assert.equal(error.name, "Error", "setup errors are not wrapped");
    return true;
  });
  assert.equal(ran, false);
  assert.deepEqual(log, ["setup a", "setup b", "setup c", "teardown b", "teardown a"]);
});

Deno.test("Workflow.orchestrate() reports teardown errors without changing the result", async () => {
  const original = console.error;
  const logged: string[] = [];
  console.error = (...args: unknown[]) => void logged.push(args.map(String).join(" "));
  try {
    const workflow = new Workflow<"run" | "done">({
      resources: new Resources({
        flaky: {
          teardown: () => {
            throw new Error("socket already closed");
          },
        },
      }),
    })
      .register("run", () => "done")
      .addExitState("done");
    assert.equal((await workflow.orchestrate("run")).state, "done");
  } finally {
    console.error = original;
  }
  assert.equal(logged.length, 1);
  assert.match(logged[0] ?? "", /flaky/);
});

Deno.test("Workflow.orchestrate() accepts Symbol.asyncDispose as teardown", async () => {
  let disposed = 0;
  const workflow = new Workflow<"run" | "done">({
    resources: new Resources({
      handle: { [Symbol.asyncDispose]: () => Promise.resolve(void disposed++) },
    }),
  })
    .register("run", () => "done")
    .addExitState("done");
  await workflow.orchestrate("run");
  await workflow.orchestrate("run");
  assert.equal(disposed, 2, "per-run lifecycle: one teardown per orchestrate");
});

Deno.test("TaskContext.resources gives typed access and fails clearly on a missing key", async () => {
  const store = new MemoryStore();
  type Res = { store: MemoryStore };
  const workflow = new Workflow<"write" | "read" | "done", Record<string, never>, Res>({
    resources: new Resources<Res>({ store }),
  })
    .register("write", (ctx) => {
      ctx.resources.get("store").put("n", 41);
      return "read";
    })
    .register("read", (ctx) => {
      const n = ctx.resources.get("store").get<number>("n");
      ctx.resources.get("store").put("n", n + 1);
      return "done";
    })
    .addExitState("done");
  await workflow.orchestrate("write");
  assert.equal(store.get("n"), 42);

  const missing = new Workflow<"run" | "done">()
    .register("run", (ctx) => {
      ctx.resources.get("db");
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done");
  await assert.rejects(missing.orchestrate("run"), (error: unknown) => {
    assert.equal((error as { category: string }).category, "resource_not_found");
    assert.ok((error as Error).cause instanceof ResourceNotFoundError);
    return true;
  });
});
