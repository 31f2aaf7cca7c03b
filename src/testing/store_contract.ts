// The checkpoint store contract (v1 rows and v2 run records) as test cases a user runs against
// their own RunStore. Every case gets a fresh store with a manual clock, so lease expiry is tested
// without sleeping.
// The cases are in store_contract_rows.ts, _values, _claims, _fencing, _finish, _listing, _cancel,
// _expiry, _wait and _events, one file a group, sharing the helpers of store_contract_harness.ts.

import assert from "node:assert/strict";
import type { RunStore } from "../recovery/checkpoint.ts";
import { cancelCases } from "./store_contract_cancel.ts";
import { claimCases } from "./store_contract_claims.ts";
import { expiryCases } from "./store_contract_expiry.ts";
import { fencingCases } from "./store_contract_fencing.ts";
import { finishCases } from "./store_contract_finish.ts";
import { LEASE_MS, ManualClock, START, type Subject } from "./store_contract_harness.ts";
import { listingCases } from "./store_contract_listing.ts";
import { rowCases } from "./store_contract_rows.ts";
import { valueCases } from "./store_contract_values.ts";
import { eventCases } from "./store_contract_events.ts";
import { waitCases } from "./store_contract_wait.ts";

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
 * (`completed`, `failed`, bad arguments), listing (paging, filters, bad queries, `getRun`), durable
 * cancel (`requestCancel` outcomes, forward rows refused with `CancelledError` while the rollback
 * goes on under the same lease, `pollCancel`, claims of a cancelled run, races with the owner),
 * recovery (`listExpired` order, paging and bounds; `noteRun` only on runs nobody holds) and
 * durable waits (`park`: parking, an event already in the inbox, stale leases, a pending cancel;
 * `sendEvent`: delivered, queued, duplicates, refusals with `EventRefusedError`, bad input, a full
 * inbox, concurrent senders; parked runs in `claim`, `listExpired`, `listRuns`, `requestCancel`,
 * `noteRun`, `finish` and `clear`).
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
 * case then checks that a 900 KiB row is stored and read back instead. `waits` says whether the
 * store implements the optional `park` and `sendEvent` (durable waits): `true` fails the wait
 * cases on a store without them, `false` leaves them out; by default they check a store that has
 * both, pass on a store that has neither (it has no durable waits), and fail on a store that has
 * only one.
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
    waits?: boolean | undefined;
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
  cancelCases(add);
  expiryCases(add);
  waitCases(add, options.waits);
  eventCases(add, options.waits);
  return cases;
}
