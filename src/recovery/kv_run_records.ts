// What processes other than a run's owner do on Deno KV: read a record, list records (by id, by
// status, by lease expiry), write the three things anyone may write — a cancel request, a note
// and an event, each a compare-and-set of the record — and append to a log no record manages.
// The owner's fenced writes live in kv_store.ts; the keys in kv_layout.ts.

import { CheckpointStoreError } from "../errors.ts";
import {
  type CancelResult,
  conflictError,
  gapError,
  type RunInfo,
  type RunPage,
  type SendEventResult,
} from "./checkpoint.ts";
import type { KvKey, KvLike } from "./kv_like.ts";
import { decodeValue, type KvLayout, type RunKeys } from "./kv_layout.ts";
import type { LockRetry } from "./kv_retry.ts";
import { shortId } from "./run_errors.ts";
import { decideSend, encodeEvent, MAX_INBOX } from "./run_events.ts";
import {
  cancelNoop,
  cursorAfter,
  expiredCursorAfter,
  type ExpiredQuery,
  infoOf,
  isExpired,
  matches,
  noteAllowed,
  notedRun,
  ownedAppendError,
  parseRun,
  type RunQuery,
  type StoredRun,
  toRunInfo,
  withCancel,
} from "./run_record.ts";

const ENCODER = new TextEncoder();

/** The record reads and outside writes of one store (one prefix on one KV handle). */
export class KvRunRecords {
  readonly #kv: KvLike;
  readonly #layout: KvLayout;
  readonly #lock: LockRetry;
  readonly #now: () => number;

  constructor(kv: KvLike, layout: KvLayout, lock: LockRetry, now: () => number) {
    this.#kv = kv;
    this.#layout = layout;
    this.#lock = lock;
    this.#now = now;
  }

  /** One run's record, with the progress of its log's last row. */
  get(id: string): Promise<RunInfo | undefined> {
    const keys = this.#layout.keys(id);
    return this.#lock.run("Read run record", id, async () => {
      const current = await this.#layout.readRecord(id, keys);
      if (current === undefined) return undefined;
      return toRunInfo(current.run, await this.#layout.lastRow(id, keys));
    });
  }

  /** A page of records by id: the records, or one status's index. */
  list(query: RunQuery): Promise<RunPage> {
    return this.#lock.run("List runs", "*", async () => {
      const prefix = this.#layout.listPrefix(query.status);
      const selector = query.after === undefined
        ? { prefix }
        : { prefix, start: [...prefix, query.after] };
      const runs: RunInfo[] = [];
      for await (const entry of this.#kv.list(selector)) {
        const id = entry.key[entry.key.length - 1];
        if (typeof id !== "string" || id === query.after) continue;
        const run = parseRun(id, decodeValue(id, entry.value));
        if (!matches(run, query)) continue;
        if (runs.length === query.limit) {
          return { runs, cursor: cursorAfter(runs[runs.length - 1]!.id) };
        }
        runs.push(toRunInfo(run, await this.#layout.lastRow(id, this.#layout.keys(id))));
      }
      return { runs, cursor: undefined };
    });
  }

  /** A page of expired runs: the expiry index up to the bound, and the records it names. */
  listExpired(query: ExpiredQuery): Promise<RunPage> {
    return this.#lock.run("List expired runs", "*", async () => {
      const entries = await this.#layout.expired(query.now, query.limit, query.after);
      const page = entries.slice(0, query.limit);
      const runs: RunInfo[] = [];
      for (const { id } of page) {
        const current = await this.#layout.readRecord(id, this.#layout.keys(id));
        if (current !== undefined && isExpired(current.run, query.now)) {
          runs.push(toRunInfo(current.run));
        }
      }
      const last = page[page.length - 1];
      return {
        runs,
        cursor: entries.length > query.limit && last !== undefined
          ? expiredCursorAfter(last)
          : undefined,
      };
    });
  }

  /** Puts a cancel request on the record (see `RunStore.requestCancel`). */
  requestCancel(id: string, reason: string): Promise<CancelResult> {
    return this.#update(id, "Request cancel", (current, now) => {
      const noop = cancelNoop(current);
      if (noop !== undefined || current === undefined) {
        return { result: { outcome: noop ?? "not_found", run: infoOf(current) } };
      }
      const next = withCancel(current, reason, now);
      return { next, result: { outcome: "requested", run: toRunInfo(next) } };
    });
  }

  /** Notes a problem on a run nobody holds (see `RunStore.noteRun`). */
  note(id: string, note: string): Promise<boolean> {
    return this.#update(id, "Note on run", (current, now) => {
      if (!noteAllowed(current, now)) return { result: false };
      if (current.error === note) return { result: true };
      return { next: notedRun(current, note, now), result: true };
    });
  }

  /**
   * Sends an event to a run (see `RunStore.sendEvent`): a compare-and-set of the record (its inbox
   * counter, and its due time when the run waits for the event) that sets the event's key and its
   * eventId's key in the same commit. The record's versionstamp orders every sender, so each
   * event gets the next seq; a record that changed before the commit is read again — for up to
   * `attempts` passes more than the inbox holds, as every event that lands (64 at most) can
   * refuse each concurrent sender once.
   */
  sendEvent(
    id: string,
    keys: RunKeys,
    name: string,
    eventId: string | undefined,
    payload: string | undefined,
  ): Promise<SendEventResult> {
    const idKey: KvKey | undefined = eventId === undefined
      ? undefined
      : [...keys.eventIds, eventId];
    return this.#lock.run(`Send event "${shortId(name)}"`, id, async () => {
      for (let pass = 1;; pass++) {
        // The record first: an eventId key read after it is at least as new as the record read.
        const current = await this.#layout.readRecord(id, keys);
        const duplicate = idKey !== undefined && (await this.#kv.get(idKey)).versionstamp !== null;
        const now = this.#now();
        const decision = decideSend(id, current?.run, name, eventId, duplicate, now);
        const record = current as NonNullable<typeof current>; // decideSend refuses none
        if (decision.outcome === "duplicate") {
          return { outcome: "duplicate", run: toRunInfo(record.run) };
        }
        const { next, seq } = decision;
        const op = this.#kv.atomic();
        op.check({ key: keys.record, versionstamp: record.versionstamp });
        this.#layout.writeRecord(op, keys, record.run, next, ENCODER.encode(JSON.stringify(next)));
        const text = encodeEvent({ seq, name, eventId, at: now }, payload);
        op.set([...keys.events, seq], ENCODER.encode(text));
        if (idKey !== undefined) {
          op.check({ key: idKey, versionstamp: null });
          op.set(idKey, ENCODER.encode(String(seq)));
        }
        if ((await op.commit()).ok) return { outcome: decision.outcome, run: toRunInfo(next) };
        if (pass >= this.#lock.attempts + MAX_INBOX) {
          throw new CheckpointStoreError(
            `Send event "${shortId(name)}" to run "${shortId(id)}" failed: its record changed ` +
              `during each of ${pass} attempts`,
          );
        }
      }
    });
  }

  /**
   * Appends a row to a log no run record manages (seeded by hand or by a tool): refused for a run
   * with a record, checked against the previous row (a gap is refused) and the row's own key (a
   * duplicate is refused).
   */
  async appendUnfenced(
    id: string,
    keys: RunKeys,
    sequence: number,
    head: KvKey,
    headValue: Uint8Array,
    chunks: { key: KvKey; value: Uint8Array }[],
  ): Promise<void> {
    const previous: KvKey | undefined = sequence > 0 ? [...keys.rows, sequence - 1] : undefined;
    await this.#lock.run(`Append checkpoint row ${sequence}`, id, async () => {
      // Bounded: each pass ends in success, an error, or a previous row or record that changed
      // between the read and the commit, which is re-read.
      for (let pass = 1;; pass++) {
        // A run with a record is the engine's: writing around its lease would leave the owner's
        // view of the log (and its delete at the end) out of date.
        if (await this.#layout.readRecord(id, keys) !== undefined) throw ownedAppendError(id);
        let previousStamp: string | null = null;
        if (previous !== undefined) {
          previousStamp = (await this.#kv.get(previous)).versionstamp;
          if (previousStamp === null) {
            if ((await this.#kv.get(head)).versionstamp !== null) throw conflictError(id, sequence);
            throw gapError(id, sequence);
          }
        }
        const op = this.#kv.atomic();
        op.check({ key: head, versionstamp: null }, { key: keys.record, versionstamp: null });
        if (previous !== undefined) op.check({ key: previous, versionstamp: previousStamp });
        op.set(head, headValue);
        for (const chunk of chunks) op.set(chunk.key, chunk.value);
        const result = await op.commit();
        if (result.ok) return;
        if ((await this.#kv.get(head)).versionstamp !== null) throw conflictError(id, sequence);
        if (pass >= this.#lock.attempts) {
          throw new CheckpointStoreError(
            `Append checkpoint row ${sequence} for workflow "${shortId(id)}" failed: the log ` +
              `changed during each of ${pass} attempts`,
          );
        }
      }
    });
  }

  /**
   * A compare-and-set of a run's record by someone other than its owner: `decide` sees the record
   * as read and says what to write, if anything; a record that changed before the commit is read
   * again.
   */
  #update<T>(
    id: string,
    what: string,
    decide: (current: StoredRun | undefined, now: number) => { next?: StoredRun; result: T },
  ): Promise<T> {
    const keys = this.#layout.keys(id);
    return this.#lock.run(what, id, async () => {
      for (let pass = 1;; pass++) {
        const current = await this.#layout.readRecord(id, keys);
        const { next, result } = decide(current?.run, this.#now());
        if (next === undefined || current === undefined) return result;
        const op = this.#kv.atomic();
        op.check({ key: keys.record, versionstamp: current.versionstamp });
        this.#layout.writeRecord(op, keys, current.run, next, ENCODER.encode(JSON.stringify(next)));
        if ((await op.commit()).ok) return result;
        if (pass >= this.#lock.attempts) {
          throw new CheckpointStoreError(
            `${what} of run "${shortId(id)}" failed: its record changed during each of ${pass} ` +
              "attempts",
          );
        }
      }
    });
  }
}
