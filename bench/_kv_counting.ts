// The counting `KvLike` the KV benchmarks share: it passes every call on to a real handle and
// tells its subclass what each get, list and commit was, so that the subclass only decides where
// to count it.

import type { KvKey, KvLike } from "../kv.ts";

/** What one atomic operation holds, as its commit sees it. */
export interface CommitShape {
  readonly checks: number;
  /** Sets and deletes. */
  readonly mutations: number;
  readonly sets: number;
  readonly deletes: number;
  /** Sets of a log row (a key with a `"rows"` segment). */
  readonly rows: number;
  /** Sets of a run record (a key with a `"runs"` segment). */
  readonly records: number;
  /** Whether a check asks a run record's key to be absent: the commit creates the run. */
  readonly creates: boolean;
}

/** Told how long an awaited call took, in ms, and whether it threw. */
export type Settled = (ms: number, threw: boolean) => void;

/** A `KvLike` over a real handle that reports each operation to {@link counted} and {@link committing}. */
export abstract class CountingKvBase implements KvLike {
  readonly #kv: Deno.Kv;

  constructor(kv: Deno.Kv) {
    this.#kv = kv;
  }

  /** A get or a list is made; the returned callback (if any) hears when a get settles. */
  protected abstract counted(call: "get" | "list"): Settled | void;

  /** An atomic operation of `shape` is committed; the callback hears when the commit settles. */
  protected abstract committing(shape: CommitShape): Settled;

  get(key: KvKey): Promise<Deno.KvEntryMaybe<unknown>> {
    const settled = this.counted("get");
    const start = performance.now();
    const read = this.#kv.get(key as Deno.KvKey);
    if (settled) read.then(() => settled(performance.now() - start, false), () => {});
    return read;
  }

  list(
    selector: Parameters<KvLike["list"]>[0],
    options?: { limit?: number; reverse?: boolean },
  ): AsyncIterable<{ readonly key: readonly unknown[]; readonly value: unknown }> {
    this.counted("list");
    return this.#kv.list(selector as Deno.KvListSelector, options);
  }

  atomic(): ReturnType<KvLike["atomic"]> {
    const op = this.#kv.atomic();
    const shape = {
      checks: 0,
      mutations: 0,
      sets: 0,
      deletes: 0,
      rows: 0,
      records: 0,
      creates: false,
    };
    return {
      check: (...list) => {
        shape.checks += list.length;
        if (list.some((c) => c.versionstamp === null && c.key.includes("runs"))) {
          shape.creates = true;
        }
        return op.check(...(list as Deno.AtomicCheck[]));
      },
      set: (key, value) => {
        shape.mutations += 1;
        shape.sets += 1;
        if (key.includes("rows")) shape.rows += 1;
        if (key.includes("runs")) shape.records += 1;
        return op.set(key as Deno.KvKey, value);
      },
      delete: (key) => {
        shape.mutations += 1;
        shape.deletes += 1;
        return op.delete(key as Deno.KvKey);
      },
      commit: () => {
        const settled = this.committing(shape);
        const start = performance.now();
        const committed = op.commit();
        committed.then(
          () => settled(performance.now() - start, false),
          () => settled(performance.now() - start, true),
        );
        return committed;
      },
    };
  }
}

/**
 * The KV operations a store made: gets, list calls, the entries those lists yielded, and commits
 * (what the parked-runs and recovery-sweep benchmarks count).
 */
export class CountingKv extends CountingKvBase {
  gets = 0;
  lists = 0;
  entries = 0;
  commits = 0;

  /** Reads: gets plus listed entries. */
  get reads(): number {
    return this.gets + this.entries;
  }

  reset(): void {
    this.gets =
      this.lists =
      this.entries =
      this.commits =
        0;
  }

  protected counted(call: "get" | "list"): void {
    if (call === "get") this.gets += 1;
    else this.lists += 1;
  }

  protected committing(): Settled {
    this.commits += 1;
    return () => {};
  }

  override list(
    selector: Parameters<KvLike["list"]>[0],
    options?: { limit?: number; reverse?: boolean },
  ): AsyncIterable<{ readonly key: readonly unknown[]; readonly value: unknown }> {
    const inner = super.list(selector, options);
    const count = (): void => void (this.entries += 1);
    return {
      async *[Symbol.asyncIterator]() {
        for await (const entry of inner) {
          count();
          yield entry;
        }
      },
    };
  }
}
