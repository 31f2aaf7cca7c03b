// The in-memory Coordination: fire-once keys and flow records in maps, for schedulers sharing one
// process (and the MemoryCheckpointStore's `coordination`).

import type { Coordination, FlowRecord, FlowRecordRead } from "./coordination.ts";

/** Claims kept before expired ones are swept (a sweep costs one pass over the map). */
const SWEEP_EVERY = 1_024;

/**
 * A {@link Coordination} in memory: every scheduler of one process that shares the object fires
 * each tick once and shares each flow's state. Records are stored as JSON text, so what comes back
 * is a copy. `MemoryCheckpointStore` provides one as its `coordination` property.
 *
 * @example Two schedulers, one coordination: a run on one is a run on both
 * ```ts
 * import { MemoryCoordination, Scheduler } from "@cano/cano/scheduler";
 * import { Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const { promise: gate, resolve: release } = Promise.withResolvers<void>();
 * const workflow = new Workflow<"go" | "done">()
 *   .register("go", async () => {
 *     await gate;
 *     return "done";
 *   })
 *   .addExitState("done");
 * const coordination = new MemoryCoordination();
 * const a = await new Scheduler().manual("report", workflow, "go").start({ coordination });
 * const b = await new Scheduler().manual("report", workflow, "go").start({ coordination });
 * await a.trigger("report");
 * await assert.rejects(b.trigger("report"), /already running/);
 * release();
 * await a.stop();
 * await b.stop();
 * assert.equal(b.status("report")?.runCount, 1);
 * ```
 */
export class MemoryCoordination implements Coordination {
  readonly #ticks = new Map<string, number>();
  readonly #flows = new Map<string, { json: string; stamp: number }>();
  #stamps = 0;
  #claims = 0;

  /**
   * Claims a tick unless a live claim exists.
   *
   * @param flowId The flow.
   * @param tick The tick, epoch ms.
   * @param _owner The claiming instance (not kept).
   * @param expiresAt When the claim may be forgotten.
   * @returns `true` for the first live claim.
   */
  claimTick(flowId: string, tick: number, _owner: string, expiresAt: number): Promise<boolean> {
    const key = `${tick}\n${flowId}`;
    const now = Date.now();
    const existing = this.#ticks.get(key);
    if (existing !== undefined && existing > now) return Promise.resolve(false);
    this.#ticks.set(key, expiresAt);
    if (++this.#claims % SWEEP_EVERY === 0) {
      for (const [claim, until] of this.#ticks) if (until <= now) this.#ticks.delete(claim);
    }
    return Promise.resolve(true);
  }

  /**
   * Reads a flow's record (a copy).
   *
   * @param flowId The flow.
   * @returns The record and its stamp.
   */
  readFlow(flowId: string): Promise<FlowRecordRead> {
    const entry = this.#flows.get(flowId);
    if (entry === undefined) return Promise.resolve({ record: undefined, stamp: null });
    return Promise.resolve({ record: JSON.parse(entry.json), stamp: String(entry.stamp) });
  }

  /**
   * Writes a flow's record if it is still at `stamp`.
   *
   * @param flowId The flow.
   * @param next The record.
   * @param stamp The stamp it was read with (`null`: none).
   * @returns Whether it was written.
   */
  writeFlow(flowId: string, next: FlowRecord, stamp: string | null): Promise<boolean> {
    try {
      const entry = this.#flows.get(flowId);
      const current = entry === undefined ? null : String(entry.stamp);
      if (current !== stamp) return Promise.resolve(false);
      this.#flows.set(flowId, { json: JSON.stringify(next), stamp: ++this.#stamps });
      return Promise.resolve(true);
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
