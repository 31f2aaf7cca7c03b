// What every store contract case runs with: its subject (a fresh store and the manual clock it
// reads), the clock's start and the lease length, and the helpers the case groups share (rows,
// claims, refusal and wrote-nothing assertions, listing every page). Shared by store_contract.ts,
// which builds the cases, and the store_contract_*.ts files that hold them.

import assert from "node:assert/strict";
import type {
  CheckpointRow,
  ClaimMode,
  ClaimResult,
  ListRunsQuery,
  RunInfo,
  RunStore,
} from "../recovery/checkpoint.ts";

/** When every case's clock starts (2030-03-17), far from `Date.now()` on purpose. */
export const START = 1_900_000_000_000;
/** The lease every case's store is made with. */
export const LEASE_MS = 1_000;

/** A case's store and the clock it reads. */
export interface Subject {
  store: RunStore;
  clock: ManualClock;
}

export type Add = (name: string, body: (t: Subject) => Promise<void>) => void;

/** A clock that moves only when the case moves it. */
export class ManualClock {
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
export function row(sequence: number, fields: Partial<CheckpointRow> = {}): CheckpointRow {
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
export function claim(
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

export function assertRows(
  actual: readonly CheckpointRow[],
  expected: readonly CheckpointRow[],
  what: string,
) {
  assert.deepEqual(plain(actual), plain(expected), what);
}

export function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** Whether `error` is an instance of `expected` (or, from another copy of cano, named like it). */
export function isA(error: unknown, expected: ErrorClass): error is Error {
  return error instanceof expected || (error instanceof Error && error.name === expected.name);
}

/**
 * Asserts that `call` returns a promise that rejects with an `expected` error (never a
 * synchronous throw, never a resolution), and returns the error.
 */
export async function refuses(
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
export async function snapshot(store: RunStore, id: string): Promise<unknown> {
  return { rows: plain(await store.loadRun(id)), run: await store.getRun(id) };
}

export async function assertUnchanged(store: RunStore, id: string, before: unknown, what: string) {
  assert.deepEqual(await snapshot(store, id), before, `${what} must write nothing`);
}

export async function requireRun(store: RunStore, id: string): Promise<RunInfo> {
  const info = await store.getRun(id);
  assert.ok(info !== undefined, `getRun(${JSON.stringify(id)}) should find the run's record`);
  return info;
}

/** Every run of a listing, following cursors (at most `pages` pages). */
export async function listAll(
  store: RunStore,
  query: ListRunsQuery,
  pages = 100,
): Promise<RunInfo[][]> {
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

export const idsOf = (runs: readonly RunInfo[]): string[] => runs.map((run) => run.id);
