// Test helpers for the coordinated-scheduler suites: a Coordination wrapper that counts calls in
// flight and injects faults, stores of both kinds, and a fake-clock driver that lets real KV I/O
// finish between steps (a `:memory:` KV answers on Deno's I/O loop, not on the fake clock).

import { KvCheckpointStore } from "../kv.ts";
import { MemoryCheckpointStore } from "../mod.ts";
import type { Coordination, FlowRecord, FlowRecordRead, RunningScheduler } from "../scheduler.ts";
import type { FakeTime } from "../testing.ts";

/** The real setTimeout, captured before any test installs a fake clock. */
const realSetTimeout = globalThis.setTimeout;

/** One Coordination method. */
export type CoordinationCall = "claimTick" | "readFlow" | "writeFlow";

/** A Coordination that counts calls in flight and fails the calls `failing` selects. */
export class TrackedCoordination implements Coordination {
  readonly inner: Coordination;
  inFlight = 0;
  /** Calls made, by method. */
  readonly calls: Record<CoordinationCall, number> = { claimTick: 0, readFlow: 0, writeFlow: 0 };
  /** Fails a call (rejecting with `new Error("store is down")`) while it returns true. */
  failing: (call: CoordinationCall, flowId: string) => boolean = () => false;

  constructor(inner: Coordination) {
    this.inner = inner;
  }

  claimTick(flowId: string, tick: number, owner: string, expiresAt: number): Promise<boolean> {
    return this.#track(
      "claimTick",
      flowId,
      () => this.inner.claimTick(flowId, tick, owner, expiresAt),
    );
  }

  readFlow(flowId: string): Promise<FlowRecordRead> {
    return this.#track("readFlow", flowId, () => this.inner.readFlow(flowId));
  }

  writeFlow(flowId: string, next: FlowRecord, stamp: string | null): Promise<boolean> {
    return this.#track("writeFlow", flowId, () => this.inner.writeFlow(flowId, next, stamp));
  }

  async #track<T>(call: CoordinationCall, flowId: string, run: () => Promise<T>): Promise<T> {
    this.calls[call]++;
    this.inFlight++;
    try {
      if (this.failing(call, flowId)) throw new Error("store is down");
      return await run();
    } finally {
      this.inFlight--;
    }
  }
}

/** A shared store for one test: its coordinations (one per instance) and its disposal. */
export interface SharedStore extends AsyncDisposable {
  readonly kind: "memory" | "kv";
  /** The store itself (a valid `coordination` option). */
  readonly store: MemoryCheckpointStore | KvCheckpointStore;
  /** A tracked view of the store's coordination, for one instance. */
  instance(): TrackedCoordination;
  /** Every tracked view handed out. */
  readonly views: TrackedCoordination[];
}

/** A MemoryCheckpointStore, or a KvCheckpointStore on a `:memory:` KV. */
export async function sharedStore(kind: "memory" | "kv"): Promise<SharedStore> {
  const kv = kind === "kv" ? await Deno.openKv(":memory:") : undefined;
  const store = kv === undefined ? new MemoryCheckpointStore() : new KvCheckpointStore(kv);
  const views: TrackedCoordination[] = [];
  return {
    kind,
    store,
    views,
    instance: () => {
      const view = new TrackedCoordination(store.coordination);
      views.push(view);
      return view;
    },
    [Symbol.asyncDispose]: async () => {
      await settle(views);
      kv?.close();
    },
  };
}

/**
 * Waits until no tracked coordination call is in flight: runs what is due on the (fake) clock,
 * and yields to real I/O (a KV answer) only while a call is pending.
 */
export async function settle(
  views: readonly TrackedCoordination[],
  time?: FakeTime,
): Promise<void> {
  for (;;) {
    if (time !== undefined) await time.tickAsync(0);
    else await Promise.resolve();
    if (views.every((view) => view.inFlight === 0)) return;
    await new Promise((resolve) => realSetTimeout(resolve, 0));
  }
}

/**
 * Advances the fake clock by `ms` in steps of `step`, letting the coordination calls each step
 * starts finish (in real time) before the next: the fake time at which everything happens is the
 * same however fast the KV answers.
 */
export async function advance(
  time: FakeTime,
  views: readonly TrackedCoordination[],
  ms: number,
  step = 50,
): Promise<void> {
  await settle(views, time);
  for (let done = 0; done < ms; done += step) {
    await time.tickAsync(Math.min(step, ms - done));
    await settle(views, time);
  }
}

/** Each instance's runs: `flowstart` events as `flowId@tick ISO` (or `flowId@trigger`). */
export function recordStarts(
  instances: Record<string, RunningScheduler>,
): { starts: Map<string, string[]>; all(): string[] } {
  const starts = new Map<string, string[]>();
  for (const [name, running] of Object.entries(instances)) {
    const mine: string[] = [];
    starts.set(name, mine);
    running.addEventListener("flowstart", (e) => {
      mine.push(`${e.id}@${e.scheduledAt?.toISOString() ?? "trigger"}`);
    });
  }
  return { starts, all: () => [...starts.values()].flat().sort() };
}

/** The ISO ticks of an interval grid in [from, to]. */
export function gridTicks(id: string, interval: number, from: number, to: number): string[] {
  const ticks: string[] = [];
  for (let t = Math.ceil(from / interval) * interval; t <= to; t += interval) {
    ticks.push(`${id}@${new Date(t).toISOString()}`);
  }
  return ticks;
}
