// No thrown value of any kind may break the library: tasks, routers, saga steps, split branches,
// listeners, retry filters, resilience hooks and resource hooks may throw anything at all.

import assert from "node:assert/strict";
import {
  batchTask,
  CanoError,
  categoryOf,
  CircuitBreaker,
  CircuitOpenError,
  CompensationFailedError,
  type ListenerErrorEvent,
  NonRetryableError,
  pollTask,
  ready,
  Resources,
  RetryExhaustedError,
  RetryMode,
  runWithRetries,
  SafeEventTarget,
  StateContextError,
  TaskConfig,
  type TaskContext,
  TimeoutError,
  timerTask,
  Workflow,
} from "../mod.ts";
import {
  MAX_DESCRIPTION_LENGTH,
  safeInstanceOf,
  safeString,
  summarizeError,
} from "../src/describe.ts";
import { messageOf } from "../src/errors.ts";

// ── The hostile values ───────────────────────────────────────────────────────────────────────

const trap = (): never => {
  throw new Error("trap");
};

/** A Proxy whose every trap throws: property reads, `in`, `instanceof` (getPrototypeOf)… */
function everyTrapThrows(): object {
  return new Proxy({}, {
    get: trap,
    set: trap,
    has: trap,
    deleteProperty: trap,
    ownKeys: trap,
    getOwnPropertyDescriptor: trap,
    defineProperty: trap,
    getPrototypeOf: trap,
    setPrototypeOf: trap,
    isExtensible: trap,
    preventExtensions: trap,
    apply: trap,
    construct: trap,
  });
}

/** A Proxy that was revoked: every operation on it throws a TypeError. */
function revokedProxy(): object {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

/** An Error subclass instance whose `message` getter throws (no own `message` shadows it). */
class MessageGetterThrows extends Error {
  constructor() {
    super();
    Object.defineProperty(this, "message", { get: trap, configurable: true });
  }
}

/** An Error subclass whose `name` getter throws (Error.prototype.toString reads it). */
class NameGetterThrows extends Error {}
Object.defineProperty(NameGetterThrows.prototype, "name", { get: trap, configurable: true });

const LONG_STRING_LENGTH = 10_000_000;

interface Hostile {
  readonly label: string;
  /** A fresh value (a revoked proxy, for one, cannot be shared safely across tests). */
  readonly make: () => unknown;
  /** What `safeString` must return, when it is fully determined. */
  readonly text?: string;
}

const HOSTILE: readonly Hostile[] = [
  { label: "Object.create(null)", make: () => Object.create(null), text: "[object Object]" },
  {
    label: "an object whose toString throws",
    make: () => ({ toString: trap }),
    text: "[object Object]",
  },
  {
    label: "an object whose message getter throws",
    make: () => ({
      get message(): string {
        return trap();
      },
    }),
    text: "[object Object]",
  },
  {
    label: "an Error subclass whose message getter throws",
    make: () => new MessageGetterThrows(),
    text: "Error: [unreadable message]",
  },
  {
    label: "an Error subclass whose name getter throws",
    make: () => new NameGetterThrows("named badly"),
    text: "Error: named badly",
  },
  {
    label: "an object whose Symbol.toPrimitive throws",
    make: () => ({ [Symbol.toPrimitive]: trap }),
    text: "[object Object]",
  },
  { label: "a Proxy whose every trap throws", make: everyTrapThrows, text: "[unprintable value]" },
  { label: "a Symbol", make: () => Symbol("hostile"), text: "Symbol(hostile)" },
  { label: "undefined", make: () => undefined, text: "undefined" },
  { label: "null", make: () => null, text: "null" },
  { label: "a BigInt", make: () => 12_345_678_901_234_567_890n, text: "12345678901234567890" },
  { label: "a revoked Proxy", make: revokedProxy, text: "[unprintable value]" },
  {
    label: "a frozen object",
    make: () => Object.freeze({ message: "frozen solid" }),
    text: "[object Object]",
  },
  { label: "a 10 MB string", make: () => "x".repeat(LONG_STRING_LENGTH) },
];

/** Every description is capped: the cap plus a short "… [n more characters]" note. */
const MAX_TEXT = MAX_DESCRIPTION_LENGTH + 40;

/** Whether `actual` is `expected`, compared without touching either (no traps run). */
function same(actual: unknown, expected: unknown): boolean {
  return Object.is(actual, expected);
}

/**
 * Awaits a rejection and returns the reason, boxed: resolving a promise with a hostile value
 * would read its `then` (which throws for a Proxy). Fails when `promise` resolves.
 */
async function rejection(promise: unknown): Promise<{ error: unknown }> {
  try {
    await promise;
  } catch (error) {
    return { error };
  }
  assert.fail("expected the promise to reject");
}

/** Replaces `console.error` with a recorder (that never inspects its arguments) until disposed. */
function quietConsole(): { calls: unknown[][] } & Disposable {
  const original = console.error;
  const calls: unknown[][] = [];
  console.error = (...args: unknown[]) => void calls.push(args);
  return {
    calls,
    [Symbol.dispose]: () => {
      console.error = original;
    },
  };
}

/** Asserts that `error` is a CanoError with a usable string message (and returns it). */
function assertCanoError(error: unknown, label = ""): CanoError {
  assert.ok(error instanceof CanoError, `${label}: expected a CanoError, got ${safeString(error)}`);
  assert.equal(typeof error.message, "string");
  assert.ok(error.message.length <= 4 * MAX_TEXT, "the message is capped");
  assert.equal(typeof String(error), "string");
  return error;
}

const PROXY = "a Proxy whose every trap throws";
const REVOKED = "a revoked Proxy";

/**
 * Hostile values that src/workflow/ (not edited with this test file) still mishandles when they
 * reach it raw: engine.ts `instanceof`-tests the raw error (`classify`, `withContext`,
 * `attemptsOf`), so a Proxy escapes as its trap's error and skips the rollback; compensation.ts
 * returns a compensator's error from an async function (a Proxy's `then` is read) and takes
 * `undefined` for success. Their steps are ignored until those sites use the helpers of
 * src/describe.ts (see the hostile-values report); then empty these lists.
 */
const ENGINE_PENDING: readonly string[] = [];
const COMPENSATION_PENDING: readonly string[] = [];

/** One test step per hostile value (a fresh value each), `pending` labels being ignored. */
function eachHostile(
  fn: (value: unknown, label: string) => void | Promise<void>,
  pending: readonly string[] = [],
): (t: Deno.TestContext) => Promise<void> {
  return async (t) => {
    for (const { label, make } of HOSTILE) {
      await t.step({ name: label, ignore: pending.includes(label), fn: () => fn(make(), label) });
    }
  };
}

// ── safeString / summarizeError / messageOf / categoryOf ─────────────────────────────────────

Deno.test("safeString() describes every hostile value without throwing", () => {
  for (const { label, make, text } of HOSTILE) {
    const description = safeString(make());
    assert.equal(typeof description, "string", label);
    assert.ok(description.length <= MAX_TEXT, `${label}: capped`);
    if (text !== undefined) assert.equal(description, text, label);
  }
});

Deno.test("safeString() formats errors as 'Name: message' and keeps strings as they are", () => {
  assert.equal(safeString(new TypeError("bad input")), "TypeError: bad input");
  assert.equal(safeString(new TimeoutError("slow")), "TimeoutError: slow");
  assert.equal(safeString(new Error("")), "Error");
  assert.equal(safeString("plain words"), "plain words");
  assert.equal(safeString(42), "42");
  assert.equal(safeString({ toString: () => "custom" }), "custom");
  const nameless = new Error("no name");
  nameless.name = "";
  assert.equal(safeString(nameless), "no name");
});

Deno.test("safeString() caps a 10 MB string and says how much it dropped", () => {
  const description = safeString("y".repeat(LONG_STRING_LENGTH));
  assert.ok(description.startsWith("y".repeat(MAX_DESCRIPTION_LENGTH)));
  assert.match(description, new RegExp(`${LONG_STRING_LENGTH - MAX_DESCRIPTION_LENGTH} more`));
  assert.ok(description.length <= MAX_TEXT);
  // A surrogate pair straddling the cap is kept whole rather than cut in half.
  const emoji = safeString("a".repeat(MAX_DESCRIPTION_LENGTH - 1) + "😀".repeat(10));
  assert.equal(emoji.charCodeAt(MAX_DESCRIPTION_LENGTH - 2), "a".charCodeAt(0));
  assert.ok(!emoji.includes("\ud83d…"));
});

Deno.test("summarizeError() returns a JSON-safe summary of every hostile value", () => {
  for (const { label, make } of HOSTILE) {
    const summary = summarizeError(make());
    assert.equal(typeof summary.name, "string", label);
    assert.equal(typeof summary.message, "string", label);
    assert.ok(summary.name.length > 0, label);
    assert.ok(summary.message.length <= MAX_TEXT, `${label}: capped`);
    assert.deepEqual(JSON.parse(JSON.stringify(summary)), summary, label);
  }
  assert.deepEqual(summarizeError(everyTrapThrows()), {
    name: "Error",
    message: "[unprintable value]",
  });
  assert.deepEqual(summarizeError(new MessageGetterThrows()), {
    name: "Error",
    message: "Error: [unreadable message]",
  });
  assert.deepEqual(summarizeError(new NameGetterThrows("named badly")), {
    name: "Error",
    message: "named badly",
  });
});

Deno.test("summarizeError() keeps the name, message and category of a CanoError", () => {
  assert.deepEqual(summarizeError(new RetryExhaustedError(2, new Error("flaky"))), {
    name: "RetryExhaustedError",
    message: "Retries exhausted after 2 attempts: flaky",
    category: "retry_exhausted",
  });
  assert.deepEqual(summarizeError(new RangeError("out")), { name: "RangeError", message: "out" });
  assert.deepEqual(summarizeError("thrown text"), { name: "Error", message: "thrown text" });
  assert.deepEqual(summarizeError({ name: 7, message: { nested: true }, category: 3 }), {
    name: "Error",
    message: "[object Object]",
  });
});

Deno.test("messageOf() returns a capped string for every hostile value", () => {
  for (const { label, make, text } of HOSTILE) {
    const message = messageOf(make());
    assert.equal(typeof message, "string", label);
    assert.ok(message.length <= MAX_TEXT, `${label}: capped`);
    if (text === "[unprintable value]") assert.equal(message, text, label);
  }
  assert.equal(messageOf(new Error("boom")), "boom");
  assert.equal(messageOf(Object.freeze({ message: "frozen solid" })), "frozen solid");
  assert.equal(messageOf(new NameGetterThrows("named badly")), "named badly");
  assert.equal(messageOf(Symbol("s")), "Symbol(s)");
});

Deno.test("categoryOf() is task_execution for every hostile value and keeps CanoError's", () => {
  for (const { label, make } of HOSTILE) {
    assert.equal(categoryOf(make()), "task_execution", label);
  }
  assert.equal(categoryOf(new TimeoutError("slow")), "timeout");
  // A CanoError whose category getter throws is treated like any other task failure.
  const broken = new CanoError("broken", { category: "workflow" });
  Object.defineProperty(broken, "category", { get: trap });
  assert.equal(categoryOf(broken), "task_execution");
});

Deno.test("safeInstanceOf() is false when instanceof itself throws", () => {
  assert.equal(safeInstanceOf(everyTrapThrows(), Error), false);
  assert.equal(safeInstanceOf(revokedProxy(), Object), false);
  assert.equal(safeInstanceOf(new TimeoutError("x"), CanoError), true);
  assert.equal(safeInstanceOf(undefined, Error), false);
});

Deno.test("StateContextError, RetryExhaustedError and CompensationFailedError accept hostile causes", () => {
  for (const { label, make } of HOSTILE) {
    const value = make();
    const context = new StateContextError("work", 1, ["start", "work"], value);
    assert.equal(typeof context.message, "string", label);
    assert.ok(context.message.startsWith("state=work attempt=1 path=[start, work] caused by: "));
    assert.equal(context.category, "task_execution", label);
    assert.ok(same(context.cause, value), label);

    const exhausted = new RetryExhaustedError(3, value);
    assert.ok(exhausted.message.startsWith("Retries exhausted after 3 attempts: "), label);
    assert.ok(same(exhausted.cause, value), label);

    const compensation = new CompensationFailedError([value, make(), new Error("undo failed")]);
    assert.equal(typeof compensation.message, "string", label);
    assert.equal(compensation.errors.length, 3, label);
    assert.ok(same(compensation.errors[0], value), label);
    assert.match(compensation.message, /compensation #2: undo failed/, label);
  }
});

// ── Workflows: plain tasks, routers, saga steps, split branches ──────────────────────────────

type Step = "start" | "work" | "done";

for (const { label, make } of HOSTILE) {
  Deno.test(`Workflow.orchestrate() survives a task throwing ${label}`, async () => {
    const value = make();
    let calls = 0;
    const workflow = new Workflow<Step>()
      .register("start", () => "work", { config: TaskConfig.minimal() })
      .register("work", () => {
        calls += 1;
        throw value;
      }, { config: { retry: RetryMode.fixed(1, 0) } })
      .addExitState("done");
    const error = assertCanoError((await rejection(workflow.orchestrate("start"))).error, label);
    assert.ok(error instanceof StateContextError);
    assert.equal(error.state, "work");
    assert.equal(error.attempt, 2);
    assert.deepEqual(error.path, ["start", "work"]);
    assert.equal(error.category, "retry_exhausted");
    assert.ok(error.cause instanceof RetryExhaustedError);
    assert.ok(same(error.cause.cause, value));
    assert.match(error.message, /caused by: Retries exhausted after 2 attempts: /);
    assert.equal(calls, 2);
  });
}

Deno.test(
  "Workflow.orchestrate() survives a router throwing any hostile value",
  eachHostile(async (value, label) => {
    const workflow = new Workflow<Step>()
      .registerRouter("start", () => {
        throw value;
      }, { config: TaskConfig.minimal() })
      .addExitState("done");
    const error = assertCanoError((await rejection(workflow.orchestrate("start"))).error, label);
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "task_execution");
    assert.equal(error.attempt, 1);
    assert.ok(same(error.cause, value));
  }, ENGINE_PENDING),
);

type Saga = "reserve" | "charge" | "ship" | "done";

/** A saga whose compensations log to `log`; `fail` decides what throws where. */
function saga(log: string[], fail: {
  ship?: () => never;
  charge?: () => never;
  undoReserve?: () => never;
}): Workflow<Saga> {
  return new Workflow<Saga>()
    .registerWithCompensation("reserve", {
      name: "reserve",
      config: TaskConfig.minimal(),
      run: () => ({ next: "charge", output: "r-1" }),
      compensate: (_ctx, output) => {
        log.push(`undo reserve ${output}`);
        fail.undoReserve?.();
      },
    })
    .registerWithCompensation("charge", {
      name: "charge",
      config: TaskConfig.minimal(),
      run: () => {
        fail.charge?.();
        return { next: "ship", output: "c-1" };
      },
      compensate: (_ctx, output) => void log.push(`undo charge ${output}`),
    })
    .register("ship", () => {
      fail.ship?.();
      return "done";
    }, { config: TaskConfig.minimal() })
    .addExitState("done");
}

Deno.test(
  "A saga rolls back every step when a later task throws any hostile value",
  eachHostile(async (value, label) => {
    const log: string[] = [];
    const workflow = saga(log, {
      ship: () => {
        throw value;
      },
    });
    const error = assertCanoError((await rejection(workflow.orchestrate("reserve"))).error, label);
    assert.ok(error instanceof StateContextError);
    assert.equal(error.state, "ship");
    assert.equal(error.category, "task_execution");
    assert.ok(same(error.cause, value));
    assert.deepEqual(log, ["undo charge c-1", "undo reserve r-1"]);
  }, ENGINE_PENDING),
);

Deno.test(
  "A compensatable run throwing any hostile value rolls back the earlier steps",
  eachHostile(async (value, label) => {
    const log: string[] = [];
    const workflow = saga(log, {
      charge: () => {
        throw value;
      },
    });
    const error = assertCanoError((await rejection(workflow.orchestrate("reserve"))).error, label);
    assert.ok(error instanceof StateContextError);
    assert.equal(error.state, "charge");
    assert.equal(error.category, "task_execution");
    assert.ok(same(error.cause, value));
    assert.deepEqual(log, ["undo reserve r-1"]); // charge never completed: nothing to undo
  }, ENGINE_PENDING),
);

Deno.test(
  "A compensate throwing any hostile value still runs the other compensations",
  eachHostile(async (value, label) => {
    const log: string[] = [];
    const workflow = saga(log, {
      ship: () => {
        throw new Error("no courier");
      },
      undoReserve: () => {
        throw value;
      },
    });
    const error = assertCanoError((await rejection(workflow.orchestrate("reserve"))).error, label);
    assert.ok(error instanceof CompensationFailedError);
    assert.equal(error.category, "compensation_failed");
    assert.deepEqual(log, ["undo charge c-1", "undo reserve r-1"]);
    assert.equal(error.errors.length, 2);
    const original = error.errors[0];
    assert.ok(original instanceof StateContextError);
    assert.equal(
      original.message,
      "state=ship attempt=1 path=[reserve, charge, ship] caused by: no courier",
    );
    assert.ok(same(error.errors[1], value));
    assert.match(
      error.message,
      /^Compensation failed \(1 error\(s\)\); original: .*compensation #1: /,
    );
  }, COMPENSATION_PENDING),
);

type Fan = "fan" | "join" | "done";

Deno.test(
  "A split branch throwing any hostile value fails the join with a readable error",
  eachHostile(async (value, label) => {
    const workflow = new Workflow<Fan>()
      .registerSplit("fan", [
        { config: TaskConfig.minimal(), run: () => 1 },
        {
          config: TaskConfig.minimal(),
          run: () => {
            throw value;
          },
        },
        // Through the retry loop rather than the direct call of plain branches.
        { config: { retry: RetryMode.fixed(1, 0) }, run: () => Promise.reject(value) },
      ], { strategy: "all", next: "join" })
      .register("join", () => "done", { config: TaskConfig.minimal() })
      .addExitState("done");
    const error = assertCanoError((await rejection(workflow.orchestrate("fan"))).error, label);
    assert.ok(error instanceof StateContextError);
    assert.equal(error.category, "workflow");
    assert.match(error.message, /Join condition not met: 1 of 3 tasks completed successfully/);
    // The join error lists both failures; the context error's copy of it may be capped.
    const join = error.cause as CanoError;
    assert.match(join.message, /task 1: .*, task 2: Retries exhausted after 2 attempts: /s);
  }),
);

Deno.test(
  "The state after a split reads a hostile branch error from ctx.split",
  eachHostile(async (value) => {
    let seen: unknown = "not set";
    const workflow = new Workflow<Fan>()
      .registerSplit("fan", [
        { config: TaskConfig.minimal(), run: () => "ok" },
        {
          config: TaskConfig.minimal(),
          run: () => {
            throw value;
          },
        },
      ], { strategy: { quorum: 1 }, next: "join" })
      .register("join", (ctx) => {
        const failed = ctx.split?.results.find((r) => r.status === "error");
        seen = failed?.status === "error" ? failed.error : "no error";
        return "done";
      }, { config: TaskConfig.minimal() })
      .addExitState("done");
    const result = await workflow.orchestrate("fan");
    assert.equal(result.state, "done");
    assert.ok(same(seen, value));
  }),
);

// ── Listeners ────────────────────────────────────────────────────────────────────────────────

for (const { label, make } of HOSTILE) {
  Deno.test(`A workflow listener throwing ${label} is reported and changes nothing`, async () => {
    using logged = quietConsole();
    const value = make();
    const reported: ListenerErrorEvent[] = [];
    const workflow = new Workflow<Step, { n: number }>()
      .register("start", (ctx) => {
        ctx.data.n += 1;
        return "done";
      }, { config: TaskConfig.minimal() })
      .addExitState("done");
    workflow.addEventListener("listenererror", (e) => void reported.push(e));
    workflow.addEventListener("stateenter", () => {
      throw value;
    });
    workflow.addEventListener("runend", () => Promise.reject(value));
    const result = await workflow.orchestrate("start", { data: { n: 0 } });
    assert.equal(result.state, "done");
    assert.deepEqual(result.data, { n: 1 });
    assert.deepEqual(result.path, ["start", "done"]);
    await Promise.resolve(); // the async listener's rejection is reported a microtask later
    await Promise.resolve();
    assert.deepEqual(reported.map((e) => e.eventType), ["stateenter", "stateenter", "runend"]);
    for (const event of reported) assert.ok(same(event.error, value));
    assert.equal(logged.calls.length, 3);
    for (const [line] of logged.calls) {
      assert.equal(typeof line, "string");
      assert.match(line as string, /^cano: a "(stateenter|runend)" event listener threw: /);
      assert.ok((line as string).length <= MAX_TEXT + 100);
    }
  });
}

Deno.test(
  "SafeEventTarget survives hostile listeners, a throwing listenererror listener and console",
  eachHostile((value) => {
    const original = console.error;
    console.error = trap; // even a console.error that throws must not escape the dispatch
    try {
      const target = new SafeEventTarget<{ ping: Event }>();
      let reported = 0;
      target.addEventListener("listenererror", () => {
        reported += 1;
        throw value; // only logged, never reported again
      });
      target.addEventListener("ping", { handleEvent: () => everyTrapThrows() }); // returns junk
      target.addEventListener("ping", () => {
        throw value;
      });
      assert.equal(target.dispatchEvent(new Event("ping")), true);
      assert.equal(reported, 1);
    } finally {
      console.error = original;
    }
  }),
);

// ── Retries, retryIf, circuit breaker, rate limiter ──────────────────────────────────────────

Deno.test(
  "runWithRetries() retries every hostile value and wraps the last one",
  eachHostile(async (value) => {
    let calls = 0;
    const { error } = await rejection(runWithRetries({ retry: RetryMode.fixed(2, 0) }, () => {
      calls += 1;
      throw value;
    }));
    assert.ok(error instanceof RetryExhaustedError);
    assert.equal(error.attempts, 3);
    assert.ok(same(error.cause, value));
    assert.equal(typeof error.message, "string");
    assert.equal(calls, 3);
  }),
);

Deno.test(
  "A retryIf that throws any hostile value fails the dispatch with what it threw",
  eachHostile(async (value) => {
    const seen: unknown[] = [];
    let calls = 0;
    const { error } = await rejection(runWithRetries({
      retry: RetryMode.fixed(3, 0),
      retryIf: (e) => {
        seen.push(e);
        throw value; // the filter itself is broken
      },
    }, () => {
      calls += 1;
      throw new Error(`attempt ${calls}`);
    }));
    assert.ok(same(error, value)); // as thrown: not retried, not wrapped
    assert.equal(calls, 1);
    assert.equal(seen.length, 1);
    assert.equal((seen[0] as Error).message, "attempt 1");
  }),
);

Deno.test(
  "retryIf receives hostile values as they were thrown",
  eachHostile(async (value) => {
    const seen: unknown[] = [];
    const { error } = await rejection(runWithRetries({
      retry: RetryMode.fixed(3, 0),
      retryIf: (e) => {
        seen.push(e);
        return seen.length < 2;
      },
    }, () => {
      throw value;
    }));
    assert.ok(same(error, value)); // filtered out on the second attempt: raw, not wrapped
    assert.equal(seen.length, 2);
    assert.ok(seen.every((e) => same(e, value)));
  }),
);

Deno.test("A workflow task whose retryIf throws fails its state with the retryIf's error", async () => {
  const filterBug = Object.create(null);
  let calls = 0;
  const task = (): never => {
    calls += 1;
    throw new TypeError("flaky");
  };
  // A truthy (if odd) filter result retries; the last failure is then wrapped as usual.
  const odd = new Workflow<Step>()
    .register("start", task, { config: { retry: RetryMode.fixed(5, 0), retryIf: () => filterBug } })
    .addExitState("done");
  const first = assertCanoError((await rejection(odd.orchestrate("start"))).error);
  assert.equal(first.category, "retry_exhausted");
  assert.equal(calls, 6);

  calls = 0;
  const retryIf = (): boolean => {
    throw filterBug;
  };
  const broken = new Workflow<Step>()
    .register("start", task, { config: { retry: RetryMode.fixed(5, 0), retryIf } })
    .addExitState("done");
  const error = assertCanoError((await rejection(broken.orchestrate("start"))).error);
  assert.ok(error instanceof StateContextError);
  assert.equal(error.category, "task_execution");
  assert.equal(error.attempt, 1);
  assert.ok(same(error.cause, filterBug));
  assert.equal(error.message, "state=start attempt=1 path=[start] caused by: [object Object]");
  assert.equal(calls, 1);
});

Deno.test("NonRetryableError and hostile values mix in one retry loop", async () => {
  let calls = 0;
  const hostile = everyTrapThrows();
  const { error } = await rejection(runWithRetries({ retry: RetryMode.fixed(5, 0) }, () => {
    calls += 1;
    if (calls < 3) throw hostile;
    throw new NonRetryableError("give up", { cause: hostile });
  }));
  assert.ok(error instanceof NonRetryableError);
  assert.ok(same(error.cause, hostile));
  assert.equal(calls, 3);
});

Deno.test("The circuit breaker counts hostile failures and opens", async () => {
  const breaker = new CircuitBreaker({ failureThreshold: HOSTILE.length, resetTimeout: 60_000 });
  for (const { label, make } of HOSTILE) {
    const value = make();
    const config = { retry: RetryMode.none(), circuitBreaker: breaker };
    const { error } = await rejection(runWithRetries(config, () => {
      throw value;
    }));
    assert.ok(same(error, value), label);
  }
  assert.equal(breaker.state, "open");
  const { error } = await rejection(runWithRetries({ circuitBreaker: breaker }, () => "never"));
  assert.ok(error instanceof CircuitOpenError);
});

Deno.test(
  "A circuit breaker or rate limiter throwing any hostile value fails the dispatch as-is",
  eachHostile(async (value) => {
    let calls = 0;
    const attempt = (): string => {
      calls += 1;
      return "ran";
    };
    const refusing = {
      tryAcquire: () => {
        throw value;
      },
    } as unknown as CircuitBreaker;
    const breakerConfig = { retry: RetryMode.fixed(3, 0), circuitBreaker: refusing };
    const { error: fromBreaker } = await rejection(runWithRetries(breakerConfig, attempt));
    assert.ok(same(fromBreaker, value));

    const limiter = { acquire: () => Promise.reject(value) };
    const limiterConfig = { retry: RetryMode.fixed(3, 0), rateLimiter: limiter };
    const { error: fromLimiter } = await rejection(runWithRetries(limiterConfig, attempt));
    assert.ok(same(fromLimiter, value)); // a refusal is not retried
    assert.equal(calls, 0);
  }),
);

Deno.test("A breaker that throws while recording a success does not rerun the attempt", async () => {
  const bookkeepingBug = everyTrapThrows();
  let calls = 0;
  const breaker = {
    tryAcquire: () => ({
      settled: false,
      recordSuccess: () => {
        throw bookkeepingBug;
      },
      recordFailure: () => {},
      [Symbol.dispose]: () => {},
    }),
  } as unknown as CircuitBreaker;
  const config = { retry: RetryMode.fixed(3, 0), circuitBreaker: breaker };
  const { error } = await rejection(runWithRetries(config, () => {
    calls += 1;
    return "charged";
  }));
  assert.ok(same(error, bookkeepingBug));
  assert.equal(calls, 1); // the successful, side-effecting attempt ran exactly once
});

// ── Processing models ────────────────────────────────────────────────────────────────────────

/** A task context for calling a processing-model task's `run` directly. */
function directContext(): TaskContext<Step> {
  return {
    state: "start",
    data: undefined,
    resources: Resources.empty(),
    signal: new AbortController().signal,
    attempt: 1,
    runId: "run-1",
  };
}

Deno.test(
  "pollTask tolerates poll errors that are hostile values",
  eachHostile(async (value) => {
    let polls = 0;
    const poller = pollTask<"done", Step>({
      poll: () => {
        polls += 1;
        if (polls === 1) throw value;
        return ready("done");
      },
      onPollError: { retryOnError: 1 },
    });
    assert.equal(await poller.run(directContext()), "done");
    assert.equal(polls, 2);
    const strict = pollTask<"done", Step>({
      poll: () => {
        throw value;
      },
    });
    assert.ok(same((await rejection(strict.run(directContext()))).error, value));
  }),
);

Deno.test(
  "batchTask records hostile item errors in the results",
  eachHostile(async (value) => {
    const batch = batchTask<number, number, "done", Step>({
      load: () => [1, 2],
      processItem: (_ctx, n) => {
        if (n === 2) throw value;
        return n * 10;
      },
      finish: (_ctx, results) => {
        assert.deepEqual(results[0], { ok: true, value: 10 });
        const failed = results[1];
        assert.ok(failed !== undefined && !failed.ok && same(failed.error, value));
        return "done";
      },
      itemRetry: RetryMode.fixed(1, 0),
    });
    assert.equal(await batch.run(directContext()), "done");
  }),
);

Deno.test(
  "timerTask rejects a hostile wait() result with a ConfigurationError",
  eachHostile(async (value) => {
    const timer = timerTask<"done", Step>({ wait: () => value as number, afterWait: () => "done" });
    const { error } = await rejection(timer.run(directContext()));
    assert.ok(error instanceof CanoError);
    assert.equal(error.category, "configuration");
    assert.match(error.message, /^timerTask wait\(\) must return a finite number .*, received /);
    assert.ok(error.message.length <= MAX_TEXT + 200);
    // Awaiting a Proxy reads its `then`, which throws before timerTask sees the value; and a string
    // is not hostile as a return value (it is simply not a number).
  }, [PROXY, REVOKED, "a 10 MB string"]),
);

// ── Resources ────────────────────────────────────────────────────────────────────────────────

Deno.test(
  "A resource setup throwing any hostile value rolls back and rejects with it",
  eachHostile(async (value) => {
    const log: string[] = [];
    const resources = new Resources({
      a: { setup: () => void log.push("setup a"), teardown: () => void log.push("teardown a") },
      b: {
        setup: () => {
          throw value;
        },
        teardown: () => void log.push("teardown b"),
      },
    });
    const workflow = new Workflow<Step>({ resources })
      .register("start", () => "done", { config: TaskConfig.minimal() })
      .addExitState("done");
    const { error } = await rejection(workflow.orchestrate("start"));
    assert.ok(same(error, value)); // setup errors reject raw, by design
    assert.deepEqual(log, ["setup a", "teardown a"]);
  }),
);

Deno.test(
  "A resource teardown throwing any hostile value is reported and returned",
  eachHostile(async (value) => {
    using logged = quietConsole();
    const log: string[] = [];
    const resources = new Resources({
      a: { teardown: () => void log.push("teardown a") },
      b: {
        teardown: () => {
          throw value;
        },
      },
      c: { teardown: () => Promise.reject(value) },
    });
    const failures = await resources.teardownAll();
    assert.deepEqual(failures.map((f) => f.key), ["c", "b"]);
    for (const failure of failures) assert.ok(same(failure.error, value));
    assert.deepEqual(log, ["teardown a"]); // the others still ran
    assert.equal(logged.calls.length, 2);
    for (const [line] of logged.calls) {
      assert.match(line as string, /^cano: teardown of resource "[bc]" failed/);
    }
  }),
);

Deno.test("Teardown reports survive a console that cannot inspect the error", async () => {
  const original = console.error;
  const lines: string[] = [];
  // Like Deno's own console given a revoked Proxy: inspecting a non-string argument throws.
  console.error = (...args: unknown[]) => {
    if (args.some((arg) => typeof arg !== "string")) throw new TypeError("cannot inspect");
    lines.push(args.join(" "));
  };
  try {
    const proxy = revokedProxy();
    const failures = await new Resources({
      db: {
        teardown: () => {
          throw proxy;
        },
      },
    }).teardownAll();
    assert.equal(failures.length, 1);
    assert.deepEqual(lines, [
      'cano: teardown of resource "db" failed (continuing with the remaining resources): ' +
      "[unprintable value]",
    ]);
    console.error = trap; // a console that throws on everything
    assert.equal((await new Resources({ x: { teardown: trap } }).teardownAll()).length, 1);
  } finally {
    console.error = original;
  }
});

Deno.test("A workflow whose resource teardowns throw hostile values still returns its result", async () => {
  using logged = quietConsole();
  const resources = new Resources({
    revoked: {
      teardown: () => {
        throw revokedProxy();
      },
    },
    proxy: { teardown: () => Promise.reject(everyTrapThrows()) },
  });
  const workflow = new Workflow<Step>({ resources })
    .register("start", () => "done", { config: TaskConfig.minimal() })
    .addExitState("done");
  assert.equal((await workflow.orchestrate("start")).state, "done");
  assert.equal(logged.calls.length, 2);
});

Deno.test(
  "A resource health check throwing any hostile value is unhealthy with a string reason",
  eachHostile(async (value) => {
    const resources = new Resources({
      db: {
        health: () => {
          throw value;
        },
      },
      lookupFails: everyTrapThrows(), // even reading its `health` property throws
    });
    const health = await resources.checkAllHealth();
    assert.deepEqual([...health.keys()], ["db", "lookupFails"]);
    for (const status of health.values()) {
      assert.equal(status.status, "unhealthy");
      const reason = (status as { reason: unknown }).reason;
      assert.equal(typeof reason, "string");
      assert.ok((reason as string).length <= MAX_TEXT);
    }
    assert.equal((await resources.aggregateHealth()).status, "unhealthy");
  }),
);

Deno.test("Option validators name a Symbol or a throwing object instead of throwing a TypeError", () => {
  const hostile = [Symbol("n"), {
    toString: () => {
      throw new Error("no");
    },
  }, 10n];
  for (const value of hostile) {
    const cases: Array<() => unknown> = [
      () => RetryMode.fixed(value as never, 0),
      () => RetryMode.fixed(1, value as never),
      () => new Workflow<"a" | "b">().withWorkflowVersion(value as never),
      () =>
        new Workflow<"a" | "b">().registerSplit("a", [() => 1], {
          strategy: { quorum: value as never },
          next: "b",
        }),
      () =>
        new Workflow<"a" | "b">().registerSplit("a", [() => 1], {
          strategy: { percentage: value as never },
          next: "b",
        }),
      () =>
        new Workflow<"a" | "b">().registerSplit("a", [() => 1], {
          strategy: "all",
          next: "b",
          bulkhead: value as never,
        }),
      () =>
        pollTask({
          poll: () => ready("b"),
          onPollError: { retryOnError: value as never },
        }),
    ];
    for (const make of cases) {
      assert.throws(make, (error: unknown) => {
        assert.ok(error instanceof CanoError, `a CanoError, got ${String(error)}`);
        assert.equal(error.category, "configuration");
        assert.match(error.message, /received /);
        return true;
      });
    }
  }
});
