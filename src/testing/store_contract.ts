// The checkpoint store contract (v1 rows and v2 run records) as test cases a user runs against
// their own RunStore. Every case gets a fresh store with a manual clock, so lease expiry is tested
// without sleeping.

import assert from "node:assert/strict";
import { CanoError, CheckpointStoreError } from "../errors.ts";
import type {
  CheckpointRow,
  ClaimMode,
  ClaimResult,
  ListRunsQuery,
  RunEnd,
  RunInfo,
  RunLease,
  RunStatus,
  RunStore,
} from "../recovery/checkpoint.ts";
import { jsonCodec } from "../recovery/codec.ts";
import { OwnershipLostError, RunExistsError, RunOwnedError } from "../recovery/run_errors.ts";

/**
 * What {@link checkpointStoreContract} passes to the factory of each case: the store must use
 * exactly this lease length and read lease times from this clock (the case moves it).
 *
 * @example Pass the options through
 * ```ts
 * import { MemoryCheckpointStore } from "@cano/cano";
 * import { checkpointStoreContract, type StoreFactoryOptions } from "@cano/cano/testing";
 * import assert from "node:assert/strict";
 *
 * const seen: StoreFactoryOptions[] = [];
 * const cases = checkpointStoreContract((options) => {
 *   seen.push(options);
 *   return new MemoryCheckpointStore({ leaseMs: options.leaseMs, now: options.now });
 * });
 * const first = cases[0];
 * assert.ok(first !== undefined);
 * await first.fn();
 * assert.equal(seen.length, 1);
 * assert.equal(typeof seen[0]?.now(), "number");
 * ```
 */
export interface StoreFactoryOptions {
  /** The lease length the store must use (its `leaseMs`). */
  leaseMs: number;
  /** The clock the store must read lease times from (epoch milliseconds). */
  now: () => number;
}

/**
 * Makes a fresh, empty store for one contract case. A store sharing a database with other cases
 * must start empty (use a fresh database, or a fresh key prefix).
 *
 * @example A factory with a codec that keeps Maps and Dates
 * ```ts
 * import { MemoryCheckpointStore, typedJsonCodec } from "@cano/cano";
 * import { checkpointStoreContract, type StoreFactory } from "@cano/cano/testing";
 *
 * // The value cases follow the store's codec: what it refuses must be refused, what it keeps
 * // must come back equal.
 * const make: StoreFactory = (options) =>
 *   new MemoryCheckpointStore({ ...options, codec: typedJsonCodec });
 * for (const c of checkpointStoreContract(make)) await c.fn();
 * ```
 */
export type StoreFactory = (options: StoreFactoryOptions) => RunStore | Promise<RunStore>;

/**
 * One case of the contract: a name (without a store prefix; add your own) and the test body,
 * which rejects with an `AssertionError` (or the store's own error) when the store breaks the
 * contract.
 *
 * @example Register the claim cases only
 * ```ts
 * import { MemoryCheckpointStore } from "@cano/cano";
 * import { checkpointStoreContract, type ContractCase } from "@cano/cano/testing";
 * import assert from "node:assert/strict";
 *
 * const claims: ContractCase[] = checkpointStoreContract(
 *   (options) => new MemoryCheckpointStore(options),
 * ).filter((c) => c.name.startsWith("claim()"));
 * assert.ok(claims.length > 0);
 * for (const c of claims) await c.fn();
 * ```
 */
export interface ContractCase {
  /** What the case checks, e.g. `"append() rejects a duplicate sequence"`. */
  readonly name: string;
  /**
   * Runs the case on a fresh store.
   *
   * @returns When the store kept the contract.
   */
  fn(): Promise<void>;
}

/** When every case's clock starts (2030-03-17), far from `Date.now()` on purpose. */
const START = 1_900_000_000_000;
/** The lease every case's store is made with. */
const LEASE_MS = 1_000;

/**
 * The checkpoint store contract as test cases, for users' own stores:
 * `for (const c of checkpointStoreContract(make)) Deno.test(c.name, c.fn)`.
 *
 * The cases cover the whole {@link RunStore} contract: the rows of a log (append, load, clear,
 * duplicates, gaps, ordering, hostile and invalid ids, no shared references), values (what the
 * store's codec refuses is refused naming its path and writes nothing; rows above Deno KV's
 * 800 KiB commit limit are refused), claims (`start`, `resume`, `startOrResume`, live owners,
 * expiry, other workflows, concurrent claims), fencing (a lease that was taken over, cleared,
 * released or belongs to another run writes nothing; rollback rows; renew; release), finishing
 * (`completed`, `failed`, bad arguments) and listing (paging, filters, bad queries, `getRun`).
 *
 * Each case makes a fresh store with `makeStore({ leaseMs: 1_000, now })`, where `now` is a
 * manual clock the case advances (lease expiry is tested without sleeping), and calls `cleanup`
 * with the store when it ends, pass or fail. Every refusal must be a rejected promise, never a
 * synchronous throw.
 *
 * The value case follows the store's `codec`: with the strict `jsonCodec` (the built-in stores'
 * default) a `Map`, a `Date`, an `undefined` field, `NaN` and a class instance must be refused
 * with a `CheckpointStoreError` naming the path (`data.seen`); with another codec, each value
 * the codec's `stringify` refuses must be refused by `append`, and each it accepts must come
 * back equal from `loadRun`.
 *
 * @param makeStore Makes a fresh, empty store for one case.
 * @param options `cleanup` releases what a store holds (e.g. closes its KV handle). `rowLimit`
 * (default `true`) says the store refuses rows Deno KV could not commit (above about 800 KiB of
 * JSON), as both built-in stores do; pass `false` for a store without a row limit, and the size
 * case then checks that a 900 KiB row is stored and read back instead.
 * @returns The cases, in a stable order.
 * @throws {TypeError} When `makeStore` is not a function.
 *
 * @example Run the contract on the in-memory store
 * ```ts
 * import { MemoryCheckpointStore } from "@cano/cano";
 * import { checkpointStoreContract } from "@cano/cano/testing";
 * import assert from "node:assert/strict";
 *
 * const cases = checkpointStoreContract((options) => new MemoryCheckpointStore(options));
 * assert.ok(cases.some((c) => c.name === "append() rejects a duplicate sequence"));
 * // In a test file: for (const c of cases) Deno.test(`memory: ${c.name}`, c.fn);
 * for (const c of cases) await c.fn();
 * ```
 */
export function checkpointStoreContract(
  makeStore: StoreFactory,
  options: {
    cleanup?: ((store: RunStore) => void | Promise<void>) | undefined;
    rowLimit?: boolean | undefined;
  } = {},
): ContractCase[] {
  if (typeof makeStore !== "function") {
    throw new TypeError("checkpointStoreContract needs a store factory function");
  }
  const cleanup = options.cleanup;
  const rowLimit = options.rowLimit ?? true;
  const cases: ContractCase[] = [];
  const add = (name: string, body: (t: Subject) => Promise<void>): void => {
    cases.push({
      name,
      fn: async () => {
        const clock = new ManualClock(START);
        const store = await makeStore({ leaseMs: LEASE_MS, now: clock.now });
        try {
          assert.ok(
            typeof store === "object" && store !== null,
            "the factory must return a store",
          );
          assert.equal(store.leaseMs, LEASE_MS, "the store must use the factory's leaseMs");
          await body({ store, clock });
        } finally {
          await cleanup?.(store);
        }
      },
    });
  };
  rowCases(add);
  valueCases(add, rowLimit);
  claimCases(add);
  fencingCases(add);
  finishCases(add);
  listingCases(add);
  return cases;
}

// ---------------------------------------------------------------------------------------------
// Harness

/** A case's store and the clock it reads. */
interface Subject {
  store: RunStore;
  clock: ManualClock;
}

type Add = (name: string, body: (t: Subject) => Promise<void>) => void;

/** A clock that moves only when the case moves it. */
class ManualClock {
  #time: number;
  constructor(start: number) {
    this.#time = start;
  }
  /** The store's `now` option. */
  readonly now = (): number => this.#time;
  /** Moves the clock forward. */
  advance(ms: number): number {
    this.#time += ms;
    return this.#time;
  }
  /** Moves the clock just past a lease's end. */
  expire(leaseUntil: number | Date): number {
    const until = typeof leaseUntil === "number" ? leaseUntil : leaseUntil.getTime();
    this.#time = Math.max(this.#time, until + 1);
    return this.#time;
  }
}

/** A `state_entry` row of state `s<sequence>` unless `fields` say otherwise. */
function row(sequence: number, fields: Partial<CheckpointRow> = {}): CheckpointRow {
  return {
    sequence,
    state: `s${sequence}`,
    taskId: "task",
    kind: "state_entry",
    workflowVersion: 1,
    ...fields,
  };
}

/** Claims `id` as `owner` for the workflow `"order"` (version 1) unless told otherwise. */
function claim(
  store: RunStore,
  id: string,
  mode: ClaimMode,
  owner = "worker-1",
  workflow = "order",
  version = 1,
): Promise<ClaimResult> {
  return store.claim(id, { mode, owner, workflow, version });
}

/** Rows without keys whose value is `undefined` (a store may or may not keep such keys). */
function plain(rows: readonly CheckpointRow[]): Record<string, unknown>[] {
  return rows.map((r) =>
    Object.fromEntries(Object.entries(r).filter(([, value]) => value !== undefined))
  );
}

function assertRows(
  actual: readonly CheckpointRow[],
  expected: readonly CheckpointRow[],
  what: string,
) {
  assert.deepEqual(plain(actual), plain(expected), what);
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** Whether `error` is an instance of `expected` (or, from another copy of cano, named like it). */
function isA(error: unknown, expected: ErrorClass): error is Error {
  return error instanceof expected || (error instanceof Error && error.name === expected.name);
}

/**
 * Asserts that `call` returns a promise that rejects with an `expected` error (never a
 * synchronous throw, never a resolution), and returns the error.
 */
async function refuses(
  call: () => Promise<unknown>,
  expected: ErrorClass | readonly ErrorClass[],
  what: string,
  message?: RegExp | string,
): Promise<Error> {
  const classes: readonly ErrorClass[] = Array.isArray(expected)
    ? expected
    : [expected as ErrorClass];
  const names = classes.map((c) => c.name).join(" or ");
  let promise: Promise<unknown>;
  try {
    promise = call();
  } catch (error) {
    assert.fail(
      `${what} threw synchronously (${describe(error)}); it must return a rejected promise`,
    );
  }
  assert.ok(
    promise !== null && typeof promise === "object" && typeof promise.then === "function",
    `${what} did not return a promise`,
  );
  let outcome: { error: unknown } | undefined;
  try {
    await promise;
  } catch (error) {
    outcome = { error };
  }
  assert.ok(outcome !== undefined, `${what} resolved; it must reject with ${names}`);
  const error = outcome.error;
  if (!(error instanceof Error) || !classes.some((c) => isA(error, c))) {
    assert.fail(`${what} rejected with ${describe(error)}; expected ${names}`);
  }
  if (typeof message === "string") {
    assert.ok(
      error.message.includes(message),
      `${what}: the message should contain ${JSON.stringify(message)}: ${error.message}`,
    );
  } else if (message !== undefined) {
    assert.match(error.message, message, `${what}: unexpected message`);
  }
  return error;
}

/** The rows and record of a run, to show that a refused call wrote nothing. */
async function snapshot(store: RunStore, id: string): Promise<unknown> {
  return { rows: plain(await store.loadRun(id)), run: await store.getRun(id) };
}

async function assertUnchanged(store: RunStore, id: string, before: unknown, what: string) {
  assert.deepEqual(await snapshot(store, id), before, `${what} must write nothing`);
}

async function requireRun(store: RunStore, id: string): Promise<RunInfo> {
  const info = await store.getRun(id);
  assert.ok(info !== undefined, `getRun(${JSON.stringify(id)}) should find the run's record`);
  return info;
}

/** Every run of a listing, following cursors (at most `pages` pages). */
async function listAll(store: RunStore, query: ListRunsQuery, pages = 100): Promise<RunInfo[][]> {
  const result: RunInfo[][] = [];
  let cursor: string | undefined;
  for (let page = 0; page < pages; page++) {
    const listed = await store.listRuns({ ...query, cursor });
    assert.ok(Array.isArray(listed.runs), "listRuns() must return { runs: [...] }");
    result.push(listed.runs);
    if (listed.cursor === undefined) return result;
    assert.equal(typeof listed.cursor, "string", "a listRuns() cursor must be a string");
    cursor = listed.cursor;
  }
  assert.fail(`listRuns(${JSON.stringify(query)}) did not end after ${pages} pages`);
}

const idsOf = (runs: readonly RunInfo[]): string[] => runs.map((run) => run.id);

/** A class instance for the value cases. */
class Point {
  constructor(readonly x: number, readonly y: number) {}
}

// ---------------------------------------------------------------------------------------------
// v1: rows

function rowCases(add: Add): void {
  add("append() and loadRun() round-trip every row kind and field", async ({ store }) => {
    const rows: CheckpointRow[] = [
      row(0, {
        state: 'charge "card"\n\u0000',
        data: { items: [1, 2.5, -3], name: "zé🚀", nested: { ok: true, none: null }, empty: {} },
      }),
      row(1, {
        kind: "compensation_completion",
        taskId: "charge",
        output: { chargeId: "ch_1", amount: 12.5 },
      }),
      row(2, { kind: "step_cursor", output: 41, data: [{ page: 2 }] }),
      row(3, { kind: "step_cursor", output: null }),
      row(4, { kind: "step_cursor", output: 0, data: false }),
      row(5, { kind: "step_cursor", output: "", data: 0 }),
      row(6, { state: "s5", resumed: true, workflowVersion: 0, taskId: "", data: "" }),
      row(7, {
        kind: "rollback",
        taskId: "",
        output: { cause: "boom", compensations: [{ taskId: "charge", index: 1 }] },
      }),
      row(8, { kind: "compensated", taskId: "charge", output: { index: 0 } }),
    ];
    for (const r of rows) await store.append("kinds", r);
    const loaded = await store.loadRun("kinds");
    assertRows(loaded, rows, "loadRun() must return every field as appended");
    assert.equal(loaded[3]?.output, null, "an output of null is kept (it is not absent)");
  });

  add("append() rejects a duplicate sequence", async ({ store }) => {
    await store.append("order-1", row(0, { state: "charge" }));
    await refuses(
      () => store.append("order-1", row(0, { state: "ship" })),
      CheckpointStoreError,
      "a second append of sequence 0",
    );
    assertRows(await store.loadRun("order-1"), [row(0, { state: "charge" })], "the original row");
    // Under a lease too: a duplicate is a conflict, not a lost lease, and the lease stays valid.
    const { lease } = await claim(store, "order-2", "start");
    await store.append("order-2", row(0), lease);
    await refuses(
      () => store.append("order-2", row(0, { state: "again" }), lease),
      CheckpointStoreError,
      "a fenced append of a duplicate sequence",
    );
    await store.append("order-2", row(1), lease);
    assertRows(await store.loadRun("order-2"), [row(0), row(1)], "rows after the duplicate");
  });

  add("append() rejects a gap in the sequence", async ({ store }) => {
    await refuses(() => store.append("run", row(1)), CheckpointStoreError, "row 1 of an empty log");
    assertRows(await store.loadRun("run"), [], "nothing is stored after a refused gap");
    await store.append("run", row(0));
    await refuses(() => store.append("run", row(2)), CheckpointStoreError, "row 2 after row 0");
    await store.append("run", row(1));
    await store.append("run", row(2));
    assertRows(await store.loadRun("run"), [row(0), row(1), row(2)], "the dense log");
  });

  add("append() under a lease rejects a gap in the sequence", async ({ store }) => {
    const { lease } = await claim(store, "run", "start");
    await store.append("run", row(0), lease);
    await refuses(
      () => store.append("run", row(2), lease),
      CheckpointStoreError,
      "a fenced append of row 2 after row 0",
    );
    assertRows(await store.loadRun("run"), [row(0)], "nothing is stored after a refused gap");
    await store.append("run", row(1), lease);
    assertRows(await store.loadRun("run"), [row(0), row(1)], "the lease still appends row 1");
  });

  add("loadRun() returns rows ascending by sequence", async ({ store }) => {
    // As strings, 10 and 100 sort before 2: the order must be numeric. Another log is written in
    // between, so a store that keeps one global order is caught too.
    for (let sequence = 0; sequence <= 120; sequence++) {
      await store.append("run", row(sequence, { state: `run-${sequence}` }));
      if (sequence % 20 === 0) await store.append("other", row(sequence / 20));
    }
    const loaded = await store.loadRun("run");
    assert.deepEqual(
      loaded.map((r) => r.sequence),
      Array.from({ length: 121 }, (_, i) => i),
      "sequences in ascending numeric order",
    );
    assert.deepEqual(loaded.map((r) => r.state), Array.from({ length: 121 }, (_, i) => `run-${i}`));
    assert.deepEqual((await store.loadRun("other")).map((r) => r.sequence), [0, 1, 2, 3, 4, 5, 6]);
  });

  add("clear() removes only that id", async ({ store }) => {
    for (let sequence = 0; sequence < 3; sequence++) {
      await store.append("a", row(sequence));
      await store.append("b", row(sequence));
    }
    const { lease } = await claim(store, "c", "start");
    await store.append("c", row(0), lease);
    await store.clear("a");
    assertRows(await store.loadRun("a"), [], "the cleared log");
    assertRows(await store.loadRun("b"), [row(0), row(1), row(2)], "another log");
    assert.equal((await requireRun(store, "c")).owner, "worker-1", "another run's record is kept");
    await store.clear("c");
    assertRows(await store.loadRun("c"), [], "a cleared run's log");
    assert.equal(await store.getRun("c"), undefined, "clear() removes the run record too");
    // A cleared id starts again from sequence 0.
    await store.append("a", row(0, { state: "again" }));
    assertRows(await store.loadRun("a"), [row(0, { state: "again" })], "the id written again");
  });

  add("loadRun() of an unknown id is [] and clear() of it is a no-op", async ({ store }) => {
    await store.append("known", row(0));
    assert.deepEqual(await store.loadRun("unknown"), []);
    await store.clear("unknown");
    assertRows(await store.loadRun("known"), [row(0)], "another log after clear(unknown)");
    assert.equal(await store.getRun("unknown"), undefined);
  });

  add("hostile ids are kept apart", async ({ store }) => {
    const ids = [
      "a",
      "ab",
      "a/b",
      "a/",
      "/a",
      "a\u0000",
      "a\u0000b",
      "\u0000",
      " ",
      "rows",
      "runs",
      "zé🚀",
      "z",
      "日本語",
      "\u{1F600}",
      "\uFFFF",
      "x".repeat(1024),
      "x".repeat(1023),
    ];
    for (const [i, id] of ids.entries()) {
      await store.append(id, row(0, { state: `owner-${i}` }));
      await store.append(id, row(1, { state: `owner-${i}` }));
    }
    for (const [i, id] of ids.entries()) {
      const rows = await store.loadRun(id);
      assert.deepEqual(
        rows.map((r) => `${r.sequence}:${r.state}`),
        [`0:owner-${i}`, `1:owner-${i}`],
        `rows of ${JSON.stringify(id)}`,
      );
    }
    // Records are kept apart too: resuming each log sees only its own rows.
    for (const [i, id] of ids.entries()) {
      if (i % 3 !== 0) continue;
      const { rows, lease } = await claim(store, id, "resume");
      assert.deepEqual(rows.map((r) => r.state), [`owner-${i}`, `owner-${i}`], JSON.stringify(id));
      assert.equal(lease.sequence, 2, `lease.sequence of ${JSON.stringify(id)}`);
      assert.equal((await requireRun(store, id)).id, id);
    }
    // Clearing ids that are prefixes of others (as strings or paths) touches nothing else.
    const cleared = new Set(["a", "a\u0000", "x".repeat(1023), "zé🚀"]);
    for (const id of cleared) await store.clear(id);
    for (const [i, id] of ids.entries()) {
      const rows = await store.loadRun(id);
      assert.equal(rows.length, cleared.has(id) ? 0 : 2, `rows left of ${JSON.stringify(id)}`);
      if (!cleared.has(id)) assert.equal(rows[0]?.state, `owner-${i}`, JSON.stringify(id));
    }
  });

  add("an id with a lone surrogate is refused", async ({ store }) => {
    for (const id of ["a\uD800", "\uDC00b", "x\uDBFF"]) {
      const what = `id ${JSON.stringify(id)}`;
      await refuses(() => store.append(id, row(0)), CheckpointStoreError, `append() of ${what}`);
      await refuses(() => store.loadRun(id), CheckpointStoreError, `loadRun() of ${what}`);
      await refuses(() => store.clear(id), CheckpointStoreError, `clear() of ${what}`);
      await refuses(() => claim(store, id, "start"), CheckpointStoreError, `claim() of ${what}`);
      await refuses(() => store.getRun(id), CheckpointStoreError, `getRun() of ${what}`);
    }
    // Nothing landed under the id a UTF-8 store would have turned it into.
    assert.deepEqual(await store.loadRun("a\uFFFD"), []);
    assert.equal(await store.getRun("a\uFFFD"), undefined);
  });

  add("the empty id is refused with a rejected promise", async ({ store }) => {
    await refuses(() => store.append("", row(0)), CheckpointStoreError, 'append("")');
    await refuses(() => store.loadRun(""), CheckpointStoreError, 'loadRun("")');
    await refuses(() => store.clear(""), CheckpointStoreError, 'clear("")');
    await refuses(() => claim(store, "", "start"), CheckpointStoreError, 'claim("")');
    await refuses(() => store.getRun(""), CheckpointStoreError, 'getRun("")');
    assert.deepEqual((await store.listRuns()).runs, [], "no run was created");
  });

  add("append() does not keep a reference to row.data or row.output", async ({ store }) => {
    const data = { items: [1, 2], nested: { n: 1 } };
    const output = { ids: ["a"] };
    const appended = row(0, { kind: "step_cursor", data, output });
    await store.append("copy", appended);
    data.items.push(3);
    data.nested.n = 2;
    output.ids.push("b");
    appended.state = "changed";
    const expected = row(0, {
      kind: "step_cursor",
      data: { items: [1, 2], nested: { n: 1 } },
      output: { ids: ["a"] },
    });
    assertRows(await store.loadRun("copy"), [expected], "the row after mutating what was appended");
    // Nor does loadRun() hand out the stored objects.
    const loaded = await store.loadRun("copy");
    (loaded[0]?.data as { items: number[] }).items.push(9);
    (loaded[0]?.output as { ids: string[] }).ids.push("z");
    assertRows(await store.loadRun("copy"), [expected], "the row after mutating a loaded copy");
  });
}

// ---------------------------------------------------------------------------------------------
// Values

function valueCases(add: Add, rowLimit: boolean): void {
  add(
    "append() refuses run data its codec cannot keep, naming the path, and writes nothing",
    async ({ store }) => {
      const values: { path: string; data: unknown }[] = [
        { path: "data.seen", data: { seen: new Map([["a", 1]]) } },
        { path: "data.at", data: { at: new Date(0) } },
        { path: "data.missing", data: { ok: 1, missing: undefined } },
        { path: "data.ratio", data: { ratio: NaN } },
        { path: "data.point", data: { point: new Point(1, 2) } },
        { path: "data.deep.list[1]", data: { deep: { list: [1, new Set([1])] } } },
      ];
      const strict = store.codec === jsonCodec;
      const { lease } = await claim(store, "values", "start");
      await store.append("values", row(0), lease);
      let next = 1;
      const kept: CheckpointRow[] = [row(0)];
      for (const { path, data } of values) {
        const refusedByCodec = strict || codecRefuses(store, data);
        const candidate = row(next, { data });
        if (!refusedByCodec) {
          // A codec that keeps the value: it must come back equal.
          await store.append("values", candidate, lease);
          const loaded = await store.loadRun("values");
          assert.deepEqual(loaded[next]?.data, data, `${path} as the store's codec keeps it`);
          kept.push(candidate);
          next++;
          continue;
        }
        const before = await snapshot(store, "values");
        await refuses(
          () => store.append("values", candidate, lease),
          CheckpointStoreError,
          `append() of ${path}`,
          strict ? path : undefined,
        );
        await assertUnchanged(store, "values", before, `the refused append of ${path}`);
      }
      // Outputs are checked the same way.
      const output = { when: new Date(0) };
      if (strict || codecRefuses(store, output)) {
        await refuses(
          () => store.append("values", row(next, { kind: "step_cursor", output }), lease),
          CheckpointStoreError,
          "append() of an output holding a Date",
          strict ? "output.when" : undefined,
        );
      }
      // The refusals left the sequence free and the lease valid.
      await store.append("values", row(next), lease);
      kept.push(row(next));
      const loaded = await store.loadRun("values");
      assert.equal(loaded.length, kept.length, "rows after the refusals");
      // Without a lease, nothing is written either.
      if (strict || codecRefuses(store, { seen: new Map() })) {
        await refuses(
          () => store.append("unleased", row(0, { data: { seen: new Map() } })),
          CheckpointStoreError,
          "an append without a lease of a Map",
          strict ? "data.seen" : undefined,
        );
        assert.deepEqual(await store.loadRun("unleased"), []);
      }
    },
  );

  if (rowLimit) {
    add("append() refuses a row above Deno KV's 800 KiB commit limit", async ({ store }) => {
      await store.append("huge", row(0));
      // A large row below the limit is stored (across KV's 64 KiB value limit, multi-byte text).
      const big = row(1, { data: { text: "é🚀x".repeat(24 * 1024), n: 1 } });
      await store.append("huge", big);
      const huge = row(2, { data: "x".repeat(900 * 1024) });
      await refuses(() => store.append("huge", huge), CheckpointStoreError, "a 900 KiB row");
      assertRows(await store.loadRun("huge"), [row(0), big], "the log after the refusal");
      await store.append("huge", row(2));
      assertRows(await store.loadRun("huge"), [row(0), big, row(2)], "sequence 2 was still free");
      // Under a lease too, and the lease stays valid.
      const { lease } = await claim(store, "huge-fenced", "start");
      await store.append("huge-fenced", row(0), lease);
      const before = await snapshot(store, "huge-fenced");
      await refuses(
        () => store.append("huge-fenced", row(1, { data: "y".repeat(900 * 1024) }), lease),
        CheckpointStoreError,
        "a fenced 900 KiB row",
      );
      await assertUnchanged(store, "huge-fenced", before, "the refused fenced append");
      await store.append("huge-fenced", row(1), lease);
    });
  } else {
    add("append() stores a row above 800 KiB (the store has no row limit)", async ({ store }) => {
      await store.append("huge", row(0));
      const huge = row(1, { data: "x".repeat(900 * 1024) });
      await store.append("huge", huge);
      assertRows(await store.loadRun("huge"), [row(0), huge], "the log with the large row");
    });
  }
}

/** Whether the store's codec refuses `data` (for stores without the strict default codec). */
function codecRefuses(store: RunStore, data: unknown): boolean {
  try {
    store.codec.stringify(data, "data");
    return false;
  } catch {
    return true;
  }
}

// ---------------------------------------------------------------------------------------------
// Claims

function claimCases(add: Add): void {
  add("claim() start creates a run with an empty log and a live lease", async ({ store }) => {
    const result = await claim(store, "order-1", "start", "worker-1", "order", 3);
    assert.equal(result.created, true, "created");
    assert.deepEqual(result.rows, [], "rows");
    const { lease } = result;
    assert.equal(lease.id, "order-1");
    assert.equal(lease.owner, "worker-1");
    assert.equal(lease.sequence, 0, "lease.sequence of a new run");
    assert.equal(lease.state, "", "lease.state of a new run");
    assert.equal(typeof lease.fence, "string", "lease.fence");
    assert.equal(lease.leaseUntil, START + LEASE_MS, "leaseUntil = now() + leaseMs");
    const info = await requireRun(store, "order-1");
    assert.equal(info.status, "running");
    assert.equal(info.owner, "worker-1");
    assert.equal(info.workflow, "order");
    assert.equal(info.version, 3);
    assert.equal(info.leaseUntil.getTime(), START + LEASE_MS);
    await store.append("order-1", row(0), lease);
    assertRows(await store.loadRun("order-1"), [row(0)], "the new run's first row");
  });

  add("claim() start refuses an unfinished run with RunExistsError", async ({ store, clock }) => {
    const { lease } = await claim(store, "order-1", "start");
    await store.append("order-1", row(0), lease);
    let before = await snapshot(store, "order-1");
    await refuses(() => claim(store, "order-1", "start"), RunExistsError, "a second start");
    await refuses(
      () => claim(store, "order-1", "start", "worker-2"),
      RunExistsError,
      "a start by another owner",
    );
    await assertUnchanged(store, "order-1", before, "a refused start");
    clock.expire(lease.leaseUntil);
    await refuses(
      () => claim(store, "order-1", "start", "worker-2"),
      RunExistsError,
      "a start after the lease expired",
    );
    await store.finish(lease, { status: "failed", error: "boom" });
    before = await snapshot(store, "order-1");
    await refuses(
      () => claim(store, "order-1", "start", "worker-2"),
      RunExistsError,
      "a start over a failed run",
    );
    await assertUnchanged(store, "order-1", before, "a refused start over a failed run");
  });

  add("claim() start refuses a log written without a lease", async ({ store }) => {
    await store.append("legacy", row(0));
    await store.append("legacy", row(1));
    await refuses(() => claim(store, "legacy", "start"), RunExistsError, "a start over a log");
    assertRows(await store.loadRun("legacy"), [row(0), row(1)], "the log");
    assert.equal(await store.getRun("legacy"), undefined, "no record was created");
  });

  add("claim() resume of an unknown id is refused", async ({ store }) => {
    await refuses(
      () => claim(store, "nothing", "resume"),
      CheckpointStoreError,
      "a resume of an unknown id",
    );
    assert.equal(await store.getRun("nothing"), undefined, "no record was created");
    assert.deepEqual(await store.loadRun("nothing"), []);
  });

  add("claim() resume refuses a live owner with RunOwnedError", async ({ store, clock }) => {
    const { lease } = await claim(store, "order-1", "start");
    await store.append("order-1", row(0), lease);
    clock.advance(LEASE_MS - 1);
    const before = await snapshot(store, "order-1");
    for (const mode of ["resume", "startOrResume"] as const) {
      const error = await refuses(
        () => claim(store, "order-1", mode, "worker-2"),
        RunOwnedError,
        `a ${mode} claim of a live run`,
      );
      const owned = error as RunOwnedError;
      assert.equal(owned.owner, "worker-1", "RunOwnedError.owner");
      assert.ok(owned.leaseUntil instanceof Date, "RunOwnedError.leaseUntil is a Date");
      assert.ok(owned.leaseUntil.getTime() > clock.now(), "RunOwnedError.leaseUntil is ahead");
      assert.equal(owned.leaseUntil.getTime(), lease.leaseUntil, "the owner's leaseUntil");
    }
    await assertUnchanged(store, "order-1", before, "a refused claim");
    await store.append("order-1", row(1), lease);
    assertRows(await store.loadRun("order-1"), [row(0), row(1)], "the owner still appends");
  });

  add("claim() resume takes over once the lease expired", async ({ store, clock }) => {
    const first = await claim(store, "order-1", "start");
    for (let sequence = 0; sequence < 3; sequence++) {
      await store.append("order-1", row(sequence), first.lease);
    }
    const at = clock.expire(first.lease.leaseUntil);
    const result = await claim(store, "order-1", "resume", "worker-2");
    assert.equal(result.created, false, "created");
    assertRows(result.rows, [row(0), row(1), row(2)], "the rows as of the claim");
    assert.equal(result.lease.owner, "worker-2");
    assert.equal(result.lease.sequence, 3, "lease.sequence = the log's length");
    assert.equal(result.lease.state, "s2", "lease.state = the last row's state");
    assert.equal(result.lease.leaseUntil, at + LEASE_MS, "leaseUntil = now() + leaseMs");
    const info = await requireRun(store, "order-1");
    assert.equal(info.owner, "worker-2");
    assert.equal(info.status, "running");
    assert.equal(info.leaseUntil.getTime(), at + LEASE_MS);
    await store.append("order-1", row(3), result.lease);
    assert.equal((await store.loadRun("order-1")).length, 4, "the new owner appends");
  });

  add(
    "claim() startOrResume creates when absent and resumes when present",
    async ({ store, clock }) => {
      const created = await claim(store, "order-1", "startOrResume");
      assert.equal(created.created, true, "created when absent");
      assert.deepEqual(created.rows, []);
      await store.append("order-1", row(0), created.lease);
      await store.append("order-1", row(1), created.lease);
      clock.expire(created.lease.leaseUntil);
      const resumed = await claim(store, "order-1", "startOrResume", "worker-2");
      assert.equal(resumed.created, false, "created when present");
      assertRows(resumed.rows, [row(0), row(1)], "the rows");
      assert.equal(resumed.lease.sequence, 2);
      assert.equal((await requireRun(store, "order-1")).owner, "worker-2");
      // A log written without a lease is resumed too, under a record created for it.
      await store.append("legacy", row(0));
      await store.append("legacy", row(1));
      for (const [id, mode] of [["legacy", "startOrResume"], ["legacy-2", "resume"]] as const) {
        if (id === "legacy-2") {
          await store.append(id, row(0));
          await store.append(id, row(1));
        }
        const taken = await claim(store, id, mode, "worker-3");
        assert.equal(taken.created, false, `${mode} of a log without a record`);
        assertRows(taken.rows, [row(0), row(1)], `the rows of ${id}`);
        assert.equal(taken.lease.sequence, 2, `lease.sequence of ${id}`);
        const info = await requireRun(store, id);
        assert.equal(info.owner, "worker-3");
        assert.equal(info.sequence, 2, `the record of ${id} counts its rows`);
        assert.equal(info.state, "s1");
        await store.append(id, row(2), taken.lease);
      }
    },
  );

  add("claim() refuses a run of another named workflow", async ({ store, clock }) => {
    const { lease } = await claim(store, "order-1", "start", "worker-1", "order");
    await store.append("order-1", row(0), lease);
    clock.expire(lease.leaseUntil);
    const before = await snapshot(store, "order-1");
    for (const mode of ["resume", "startOrResume"] as const) {
      const error = await refuses(
        () => claim(store, "order-1", mode, "worker-2", "invoice"),
        CanoError,
        `a ${mode} claim by workflow "invoice" of a run of "order"`,
      );
      assert.equal((error as CanoError).category, "workflow", "the error's category");
    }
    await assertUnchanged(store, "order-1", before, "a refused claim");
    const taken = await claim(store, "order-1", "resume", "worker-2", "order");
    assert.equal(taken.lease.owner, "worker-2", "the same workflow may resume it");
  });

  add(
    "concurrent resume claims: exactly one wins, the rest get RunOwnedError",
    async ({ store, clock }) => {
      const { lease } = await claim(store, "race", "start");
      await store.append("race", row(0), lease);
      clock.expire(lease.leaseUntil);
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => claim(store, "race", "resume", `worker-${i + 10}`)),
      );
      const won = results.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
      assert.equal(won.length, 1, "exactly one claim succeeds");
      const winner = won[0]!.lease.owner;
      for (const r of results) {
        if (r.status === "fulfilled") continue;
        assert.ok(isA(r.reason, RunOwnedError), `a losing claim: ${describe(r.reason)}`);
        assert.equal((r.reason as RunOwnedError).owner, winner, "RunOwnedError names the winner");
      }
      assert.equal((await requireRun(store, "race")).owner, winner, "the record names the winner");
      await store.append("race", row(1), won[0]!.lease);
    },
  );

  add(
    "concurrent start claims: exactly one wins, the rest get RunExistsError",
    async ({ store }) => {
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => claim(store, "race", "start", `worker-${i}`)),
      );
      const won = results.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
      assert.equal(won.length, 1, "exactly one claim succeeds");
      assert.equal(won[0]!.created, true);
      for (const r of results) {
        if (r.status === "rejected") {
          assert.ok(isA(r.reason, RunExistsError), `a losing claim: ${describe(r.reason)}`);
        }
      }
      assert.equal((await requireRun(store, "race")).owner, won[0]!.lease.owner);
      await store.append("race", row(0), won[0]!.lease);
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Fencing

function fencingCases(add: Add): void {
  add(
    "a lease that was taken over can no longer append, renew, release or finish",
    async ({ store, clock }) => {
      const old = await claim(store, "order-1", "start");
      await store.append("order-1", row(0), old.lease);
      await store.append("order-1", row(1), old.lease);
      clock.expire(old.lease.leaseUntil);
      const taken = await claim(store, "order-1", "resume", "worker-2");
      const before = await snapshot(store, "order-1");
      const stale: [string, () => Promise<unknown>][] = [
        ["append()", () => store.append("order-1", row(2), old.lease)],
        ["renew()", () => store.renew(old.lease)],
        ["release()", () => store.release(old.lease)],
        ["finish(failed)", () => store.finish(old.lease, { status: "failed", error: "x" })],
        ["finish(completed)", () => store.finish(old.lease, { status: "completed" })],
      ];
      for (const [what, call] of stale) {
        await refuses(call, OwnershipLostError, `${what} with the lease that was taken over`);
        await assertUnchanged(store, "order-1", before, `the stale ${what}`);
      }
      assert.equal((await requireRun(store, "order-1")).owner, "worker-2");
      await store.append("order-1", row(2), taken.lease);
      assertRows(await store.loadRun("order-1"), [row(0), row(1), row(2)], "the new owner's log");
    },
  );

  add("clear() fences out the owner", async ({ store }) => {
    const { lease } = await claim(store, "order-1", "start");
    await store.append("order-1", row(0), lease);
    await store.append("order-1", row(1), lease);
    await store.clear("order-1");
    await refuses(
      () => store.append("order-1", row(2), lease),
      OwnershipLostError,
      "the owner's append after clear()",
    );
    // Sequence 0 is free again after the clear: the lease must still not write it.
    await refuses(
      () => store.append("order-1", row(0), lease),
      OwnershipLostError,
      "the owner's append of row 0 after clear()",
    );
    await refuses(() => store.renew(lease), OwnershipLostError, "renew() after clear()");
    await refuses(
      () => store.finish(lease, { status: "failed", error: "x" }),
      OwnershipLostError,
      "finish(failed) after clear()",
    );
    assert.deepEqual(await store.loadRun("order-1"), [], "nothing was written");
    assert.equal(await store.getRun("order-1"), undefined, "no record came back");
    const again = await claim(store, "order-1", "start", "worker-2");
    assert.equal(again.created, true, "the cleared id starts again");
  });

  add(
    "append() without a lease is refused for a run that has a record",
    async ({ store }) => {
      await store.append("free", row(0));
      await store.append("free", row(1));
      assertRows(
        await store.loadRun("free"),
        [row(0), row(1)],
        "appends to a run without a record",
      );
      const { lease } = await claim(store, "owned", "start");
      await store.append("owned", row(0), lease);
      const before = await snapshot(store, "owned");
      await refuses(
        () => store.append("owned", row(1)),
        CheckpointStoreError,
        "an append without a lease to a live run",
      );
      await assertUnchanged(store, "owned", before, "the refused append");
      await store.append("owned", row(1), lease);
    },
  );

  add(
    "a fenced rollback row marks the run rolling_back and keeps the lease",
    async ({ store, clock }) => {
      const { lease } = await claim(store, "saga", "start");
      await store.append("saga", row(0), lease);
      await store.append(
        "saga",
        row(1, { kind: "rollback", taskId: "", output: { cause: "x" } }),
        lease,
      );
      let info = await requireRun(store, "saga");
      assert.equal(info.status, "rolling_back", "the status after a rollback row");
      assert.equal(info.owner, "worker-1");
      await store.append("saga", row(2, { kind: "compensated", output: { index: 0 } }), lease);
      await store.renew(lease);
      info = await requireRun(store, "saga");
      assert.equal(info.status, "rolling_back", "the status after the next append and a renew");
      assert.equal(info.sequence, 3);
      assert.equal((await store.loadRun("saga")).length, 3);
      // Whoever takes the run over goes on rolling back.
      clock.expire(lease.leaseUntil);
      const taken = await claim(store, "saga", "resume", "worker-2");
      assert.equal((await requireRun(store, "saga")).status, "rolling_back", "after a takeover");
      assert.equal(taken.lease.sequence, 3);
    },
  );

  add(
    "renew() moves leaseUntil to now + leaseMs and keeps the lease valid",
    async ({ store, clock }) => {
      const { lease } = await claim(store, "order-1", "start");
      await store.append("order-1", row(0), lease);
      await store.append("order-1", row(1), lease);
      const at = clock.advance(600);
      await store.renew(lease);
      assert.equal(lease.leaseUntil, at + LEASE_MS, "lease.leaseUntil after renew()");
      const info = await requireRun(store, "order-1");
      assert.equal(info.leaseUntil.getTime(), at + LEASE_MS, "the record's leaseUntil");
      assert.equal(info.sequence, 2, "the record's sequence after renew()");
      assert.equal(info.state, "s1", "the record's state after renew()");
      // Past the first lease's end, the renewed lease still holds the run.
      clock.advance(600);
      await refuses(
        () => claim(store, "order-1", "resume", "worker-2"),
        RunOwnedError,
        "a claim within the renewed lease",
      );
      await store.append("order-1", row(2), lease);
      await store.renew(lease);
      assert.equal(lease.leaseUntil, clock.now() + LEASE_MS, "a second renew()");
      assertRows(await store.loadRun("order-1"), [row(0), row(1), row(2)], "the log");
    },
  );

  add("release() makes the run claimable at once", async ({ store, clock }) => {
    const { lease } = await claim(store, "order-1", "start");
    await store.append("order-1", row(0), lease);
    await store.release(lease);
    const info = await requireRun(store, "order-1");
    assert.equal(info.owner, undefined, "owner after release()");
    assert.ok(info.leaseUntil.getTime() <= clock.now(), "leaseUntil is not ahead after release()");
    assert.equal(info.status, "running");
    assert.equal(info.sequence, 1, "the record's sequence after release()");
    const taken = await claim(store, "order-1", "resume", "worker-2");
    assertRows(taken.rows, [row(0)], "the rows");
    assert.equal(taken.lease.sequence, 1);
    assert.equal((await requireRun(store, "order-1")).owner, "worker-2");
    await refuses(
      () => store.append("order-1", row(1), lease),
      OwnershipLostError,
      "the released lease after another claim",
    );
  });

  add("a lease of another run does not fence this one", async ({ store }) => {
    const a = await claim(store, "a", "start");
    const b = await claim(store, "b", "start");
    await store.append("b", row(0), b.lease);
    const before = await snapshot(store, "b");
    await refuses(
      () => store.append("b", row(1), a.lease),
      [OwnershipLostError, CheckpointStoreError],
      "an append to b with a's lease",
    );
    const forged: RunLease = { ...a.lease, id: "b" };
    await refuses(
      () => store.renew(forged),
      [OwnershipLostError, CheckpointStoreError],
      "renew() of a copy of a's lease relabelled b",
    );
    await refuses(
      () => store.finish(forged, { status: "completed" }),
      [OwnershipLostError, CheckpointStoreError],
      "finish() of a copy of a's lease relabelled b",
    );
    await assertUnchanged(store, "b", before, "the refused writes");
    assert.deepEqual(await store.loadRun("a"), [], "a's log");
    await store.append("a", row(0), a.lease);
    await store.append("b", row(1), b.lease);
  });
}

// ---------------------------------------------------------------------------------------------
// Finish

function finishCases(add: Add): void {
  add("finish() completed removes the rows and the record", async ({ store }) => {
    const { lease } = await claim(store, "order-1", "start");
    await store.append("order-1", row(0), lease);
    await store.append("order-1", row(1, { data: { text: "é🚀x".repeat(24 * 1024) } }), lease);
    await store.append("order-1", row(2), lease);
    await store.finish(lease, { status: "completed" });
    assert.equal(await store.getRun("order-1"), undefined, "getRun() after completion");
    assert.deepEqual(await store.loadRun("order-1"), [], "loadRun() after completion");
    assert.deepEqual(idsOf((await store.listRuns()).runs), [], "listRuns() after completion");
    const again = await claim(store, "order-1", "start", "worker-2");
    assert.equal(again.created, true, "the id starts again");
    assert.deepEqual(again.rows, []);
    await store.append("order-1", row(0, { state: "again" }), again.lease);
    assertRows(await store.loadRun("order-1"), [row(0, { state: "again" })], "the new log");
  });

  add(
    "finish() completed also removes rows appended without the lease",
    async ({ store, clock }) => {
      const { lease } = await claim(store, "order-1", "start");
      await store.append("order-1", row(0), lease);
      clock.expire(lease.leaseUntil);
      // Once the lease expired, an append without a lease may land (nobody holds the run).
      let appended = true;
      try {
        await store.append("order-1", row(1));
      } catch (error) {
        assert.ok(isA(error, CheckpointStoreError), `the unleased append: ${describe(error)}`);
        appended = false;
      }
      try {
        await store.finish(lease, { status: "completed" });
      } catch (error) {
        // Refusing the finish (the log moved on without this owner) keeps the contract too.
        assert.ok(isA(error, OwnershipLostError), `finish(completed): ${describe(error)}`);
        assert.equal((await store.loadRun("order-1")).length, appended ? 2 : 1, "the kept log");
        return;
      }
      assert.equal(await store.getRun("order-1"), undefined, "getRun() after completion");
      assert.deepEqual(
        await store.loadRun("order-1"),
        [],
        "loadRun() after completion: no row may outlive the run",
      );
    },
  );

  add("finish() failed keeps the log, records the error and frees the run", async ({ store }) => {
    const { lease } = await claim(store, "order-1", "start");
    await store.append("order-1", row(0), lease);
    await store.append("order-1", row(1), lease);
    await store.finish(lease, { status: "failed", error: "card declined" });
    const info = await requireRun(store, "order-1");
    assert.equal(info.status, "failed");
    assert.equal(info.error, "card declined");
    assert.equal(info.owner, undefined, "owner of a failed run");
    assert.equal(info.sequence, 2, "the record's sequence");
    assertRows(await store.loadRun("order-1"), [row(0), row(1)], "the kept log");
    assert.deepEqual(idsOf((await store.listRuns({ status: "failed" })).runs), ["order-1"]);
  });

  add("a failed run can be resumed at once", async ({ store }) => {
    const plainRun = await claim(store, "plain", "start");
    await store.append("plain", row(0), plainRun.lease);
    await store.finish(plainRun.lease, { status: "failed", error: "boom" });
    const resumed = await claim(store, "plain", "resume", "worker-2");
    assertRows(resumed.rows, [row(0)], "the failed run's rows");
    assert.equal(resumed.lease.sequence, 1);
    let info = await requireRun(store, "plain");
    assert.equal(info.status, "running", "a resumed failed run is running again");
    assert.equal(info.owner, "worker-2");
    // A failed run whose log holds a rollback row resumes its rollback.
    const saga = await claim(store, "saga", "start");
    await store.append("saga", row(0), saga.lease);
    await store.append("saga", row(1, { kind: "rollback", taskId: "", output: {} }), saga.lease);
    await store.finish(saga.lease, { status: "failed", error: "compensation failed" });
    assert.equal((await requireRun(store, "saga")).status, "failed");
    const again = await claim(store, "saga", "startOrResume", "worker-2");
    assert.equal(again.created, false);
    info = await requireRun(store, "saga");
    assert.equal(info.status, "rolling_back", "a resumed failed rollback is rolling_back");
    assert.equal(info.owner, "worker-2");
    await store.append("saga", row(2, { kind: "compensated", output: { index: 0 } }), again.lease);
  });

  add("finish() refuses a bad argument and writes nothing", async ({ store }) => {
    const { lease } = await claim(store, "order-1", "start");
    await store.append("order-1", row(0), lease);
    const before = await snapshot(store, "order-1");
    const bad: unknown[] = [
      undefined,
      null,
      "completed",
      {},
      { status: "done" },
      { status: "failed" },
      { status: "failed", error: 42 },
    ];
    for (const end of bad) {
      await refuses(
        () => store.finish(lease, end as RunEnd),
        CheckpointStoreError,
        `finish(${JSON.stringify(end) ?? "undefined"})`,
      );
    }
    await assertUnchanged(store, "order-1", before, "the refused finish() calls");
    await store.append("order-1", row(1), lease);
    await store.finish(lease, { status: "completed" });
    assert.equal(await store.getRun("order-1"), undefined);
  });
}

// ---------------------------------------------------------------------------------------------
// Listing

function listingCases(add: Add): void {
  add("listRuns() pages by id with limit and cursor", async ({ store }) => {
    const ids = Array.from({ length: 25 }, (_, i) => `run-${String(i).padStart(2, "0")}`);
    // Claimed out of order: the listing orders by id, not by creation.
    for (let i = 0; i < 25; i++) await claim(store, ids[(i * 7) % 25]!, "start");
    const pages = await listAll(store, { limit: 10 });
    assert.deepEqual(pages.map((page) => page.length), [10, 10, 5], "page sizes");
    assert.deepEqual(pages.flat().map((run) => run.id), ids, "every id once, ascending");
    const first = await store.listRuns({ limit: 10 });
    assert.equal(typeof first.cursor, "string", "a full page has a cursor");
    const last = await store.listRuns({
      limit: 10,
      cursor: (await store.listRuns({ limit: 20 })).cursor,
    });
    assert.equal(last.cursor, undefined, "the last page has no cursor");
    assert.deepEqual(idsOf(last.runs), ids.slice(20));
    const all = await store.listRuns();
    assert.deepEqual(idsOf(all.runs), ids, "the default page holds all 25");
    assert.equal(all.cursor, undefined);
    assert.equal((await store.listRuns({ limit: 1 })).runs.length, 1, "limit 1");
    assert.equal((await store.listRuns({ limit: 1000 })).runs.length, 25, "limit 1000");
  });

  add("listRuns() filters by status and by workflow", async ({ store }) => {
    const make = async (id: string, workflow: string, end: RunStatus) => {
      const { lease } = await claim(store, id, "start", "worker-1", workflow);
      await store.append(id, row(0), lease);
      if (end === "rolling_back") {
        await store.append(id, row(1, { kind: "rollback", taskId: "", output: {} }), lease);
      }
      if (end === "failed") await store.finish(lease, { status: "failed", error: "boom" });
    };
    await make("a-1", "order", "running");
    await make("a-2", "order", "failed");
    await make("a-3", "invoice", "running");
    await make("a-4", "invoice", "rolling_back");
    await make("a-5", "order", "rolling_back");
    await make("a-6", "invoice", "failed");
    await make("a-7", "", "running");
    const list = async (query: ListRunsQuery) => idsOf((await listAll(store, query)).flat());
    assert.deepEqual(await list({ status: "running" }), ["a-1", "a-3", "a-7"], "running");
    assert.deepEqual(await list({ status: "failed" }), ["a-2", "a-6"], "failed");
    assert.deepEqual(await list({ status: "rolling_back" }), ["a-4", "a-5"], "rolling_back");
    assert.deepEqual(await list({ workflow: "order" }), ["a-1", "a-2", "a-5"], "order");
    assert.deepEqual(await list({ workflow: "" }), ["a-7"], "unnamed");
    assert.deepEqual(await list({ status: "failed", workflow: "invoice" }), ["a-6"], "both");
    assert.deepEqual(await list({ status: "running", workflow: "nope" }), [], "no match");
    const pages = await listAll(store, { workflow: "invoice", limit: 1 });
    assert.deepEqual(idsOf(pages.flat()), ["a-3", "a-4", "a-6"], "a filtered listing in pages");
    const statuses = (await store.listRuns({ workflow: "invoice" })).runs.map((run) => run.status);
    assert.deepEqual(statuses, ["running", "rolling_back", "failed"], "the listed statuses");
  });

  add("listRuns() status filter follows every transition", async ({ store }) => {
    const statusesOf = async (id: string): Promise<string[]> => {
      const found: string[] = [];
      for (const status of ["running", "rolling_back", "failed"] as const) {
        const runs = (await listAll(store, { status })).flat();
        if (runs.some((run) => run.id === id)) found.push(status);
      }
      return found;
    };
    const first = await claim(store, "t", "start");
    await store.append("t", row(0), first.lease);
    assert.deepEqual(await statusesOf("t"), ["running"], "after start");
    await store.renew(first.lease);
    await store.append("t", row(1, { kind: "rollback", taskId: "", output: {} }), first.lease);
    assert.deepEqual(await statusesOf("t"), ["rolling_back"], "after a rollback row");
    await store.finish(first.lease, { status: "failed", error: "boom" });
    assert.deepEqual(await statusesOf("t"), ["failed"], "after finish(failed)");
    const second = await claim(store, "t", "resume", "worker-2");
    assert.deepEqual(await statusesOf("t"), ["rolling_back"], "after resuming the rollback");
    await store.release(second.lease);
    assert.deepEqual(await statusesOf("t"), ["rolling_back"], "after release()");
    const third = await claim(store, "t", "resume", "worker-3");
    await store.finish(third.lease, { status: "completed" });
    assert.deepEqual(await statusesOf("t"), [], "after finish(completed)");
    const other = await claim(store, "u", "start");
    await store.append("u", row(0), other.lease);
    await store.finish(other.lease, { status: "failed", error: "boom" });
    await claim(store, "u", "resume", "worker-2");
    assert.deepEqual(await statusesOf("u"), ["running"], "a failed run resumed");
  });

  add("listRuns() refuses a bad limit or a foreign cursor", async ({ store }) => {
    await claim(store, "order-1", "start");
    for (const limit of [0, 1001, 1.5, -1, Number.NaN]) {
      await refuses(
        () => store.listRuns({ limit }),
        CheckpointStoreError,
        `listRuns({ limit: ${limit} })`,
      );
    }
    for (const cursor of ["not-a-cursor", "order-1"]) {
      await refuses(
        () => store.listRuns({ cursor }),
        CheckpointStoreError,
        `listRuns({ cursor: ${JSON.stringify(cursor)} })`,
      );
    }
    await refuses(
      () => store.listRuns({ status: "done" as RunStatus }),
      CheckpointStoreError,
      'listRuns({ status: "done" })',
    );
    assert.deepEqual(idsOf((await store.listRuns()).runs), ["order-1"]);
  });

  add("listRuns() pages through hostile ids without duplicates or gaps", async ({ store }) => {
    const ids = [
      "a",
      "a\u0000",
      "a\u0000b",
      "a/b",
      "ab",
      "b",
      "zé",
      "z🚀",
      "\u00e9",
      "\uFFFF",
      "\u{1F600}",
      "%",
      "after:x",
    ];
    for (const id of ids) await claim(store, id, "start");
    for (const limit of [1, 2, 5]) {
      const listed = (await listAll(store, { limit })).flat().map((run) => run.id);
      assert.equal(listed.length, ids.length, `limit ${limit}: one entry per run`);
      assert.deepEqual([...listed].sort(), [...ids].sort(), `limit ${limit}: every id`);
    }
    for (const id of ids) assert.equal((await requireRun(store, id)).id, id);
  });

  add("getRun() of an unknown id is undefined", async ({ store }) => {
    assert.equal(await store.getRun("nothing"), undefined);
    await store.append("log-only", row(0));
    assert.equal(await store.getRun("log-only"), undefined, "a log without a record has none");
    await claim(store, "known", "start");
    assert.equal(await store.getRun("know"), undefined, "a prefix of a known id");
    assert.equal(await store.getRun("known!"), undefined, "an id a known id is a prefix of");
  });

  add(
    "getRun() fields have the right types, and state and sequence follow the log",
    async ({ store, clock }) => {
      const { lease } = await claim(store, "order-1", "start", "worker-1", "order", 3);
      let info = await requireRun(store, "order-1");
      assert.equal(info.id, "order-1");
      assert.equal(info.workflow, "order");
      assert.equal(info.version, 3);
      assert.equal(info.status, "running");
      assert.equal(info.owner, "worker-1");
      assert.equal(info.state, "");
      assert.equal(info.sequence, 0);
      for (const field of ["leaseUntil", "createdAt", "updatedAt"] as const) {
        assert.ok(info[field] instanceof Date, `${field} is a Date`);
      }
      assert.equal(info.leaseUntil.getTime(), START + LEASE_MS);
      assert.equal(info.createdAt.getTime(), START);
      assert.equal(info.updatedAt.getTime(), START);
      assert.equal(info.error, undefined, "a running run has no error");
      for (let sequence = 0; sequence < 3; sequence++) {
        await store.append("order-1", row(sequence), lease);
      }
      info = await requireRun(store, "order-1");
      assert.equal(info.sequence, 3, "sequence = the log's length, with no record write since");
      assert.equal(info.state, "s2", "state = the log's last row");
      assert.deepEqual(
        (await store.listRuns()).runs.map((run) => [run.state, run.sequence]),
        [["s2", 3]],
        "listRuns() follows the log too",
      );
      const renewedAt = clock.advance(100);
      await store.renew(lease);
      info = await requireRun(store, "order-1");
      assert.equal(info.sequence, 3, "sequence as of the renew");
      assert.equal(info.state, "s2", "state as of the renew");
      assert.equal(info.createdAt.getTime(), START, "createdAt is kept");
      assert.equal(info.updatedAt.getTime(), renewedAt, "updatedAt is the renew time");
      assert.equal(info.leaseUntil.getTime(), renewedAt + LEASE_MS);
      const takenAt = clock.expire(lease.leaseUntil);
      await claim(store, "order-1", "resume", "worker-2", "order", 4);
      info = await requireRun(store, "order-1");
      assert.equal(info.version, 4, "the version of the last owner");
      assert.equal(info.owner, "worker-2");
      assert.equal(info.createdAt.getTime(), START, "createdAt survives a takeover");
      assert.equal(info.updatedAt.getTime(), takenAt, "updatedAt is the takeover time");
      assert.equal(info.leaseUntil.getTime(), takenAt + LEASE_MS);
      assert.equal(info.sequence, 3, "the log's length");
      const page = await store.listRuns();
      assert.deepEqual(page.runs, [info], "listRuns() shows the same record");
    },
  );
}
