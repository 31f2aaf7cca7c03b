// The store-facing contract of a scheduler shared by several instances: fire-once keys per
// (flow, tick) and one compare-and-set record per flow. The Deno KV and in-memory implementations
// live beside it; the scheduler logic that uses it is shared_flow.ts.

import { safeInstanceOf, safeString } from "../describe.ts";
import { CanoError, CheckpointStoreError, ConfigurationError, messageOf } from "../errors.ts";

/**
 * A flow's state as every instance of a coordinated scheduler shares it (JSON-safe: times are
 * epoch milliseconds, `null` when unset). Written by the scheduler through
 * {@link Coordination.writeFlow}; an implementation stores it as it is and returns it unchanged.
 *
 * @example The record of a flow that never ran
 * ```ts
 * import type { FlowRecord } from "@cano/cano/scheduler";
 * import assert from "node:assert/strict";
 *
 * const fresh: FlowRecord = {
 *   version: 1,
 *   createdAt: Date.UTC(2026, 0, 1),
 *   status: "idle",
 *   runCount: 0,
 *   failureStreak: 0,
 *   lastRun: null,
 *   lastEnd: null,
 *   nextEligible: null,
 *   lastError: null,
 *   lastTick: null,
 *   running: null,
 *   cancel: null,
 * };
 * assert.deepEqual(JSON.parse(JSON.stringify(fresh)), fresh);
 * ```
 */
export interface FlowRecord {
  /** The record's format. */
  readonly version: 1;
  /** When the first instance registered the flow in this store. */
  readonly createdAt: number;
  /** The status the last settled run (or reset) left the flow in. */
  readonly status: "idle" | "completed" | "backoff" | "tripped";
  /** Runs started so far, by every instance. */
  readonly runCount: number;
  /** Consecutive failed runs since the last success or reset. */
  readonly failureStreak: number;
  /** When the last run started. */
  readonly lastRun: number | null;
  /** When the last run ended. */
  readonly lastEnd: number | null;
  /** While backing off: no scheduled tick before this time runs. */
  readonly nextEligible: number | null;
  /** The message of the failure behind the current streak. */
  readonly lastError: string | null;
  /** The latest scheduled tick an instance handled (ran or skipped). */
  readonly lastTick: number | null;
  /** The run in flight, if any: who runs it, and until when its claim holds without renewal. */
  readonly running: FlowRunMarker | null;
  /** A `cancelFlow` request for the run in flight, addressed to the instance running it. */
  readonly cancel: FlowCancelRequest | null;
}

/**
 * The run of a coordinated flow in flight, as recorded in its {@link FlowRecord}.
 *
 * @example A marker is plain data
 * ```ts
 * import type { FlowRunMarker } from "@cano/cano/scheduler";
 * import assert from "node:assert/strict";
 *
 * const marker: FlowRunMarker = {
 *   owner: "web-1",
 *   key: "cron@1767225600000@web-1",
 *   runId: "nightly@2026-01-01T00:00:00.000Z",
 *   scheduledAt: Date.UTC(2026, 0, 1),
 *   source: "cron",
 *   startedAt: Date.UTC(2026, 0, 1),
 *   until: Date.UTC(2026, 0, 1) + 5_000,
 * };
 * assert.ok(marker.until > marker.startedAt);
 * ```
 */
export interface FlowRunMarker {
  /** The instance running it. */
  readonly owner: string;
  /** Identifies this run among the flow's runs. */
  readonly key: string;
  /** The run's id, for a checkpointed workflow. */
  readonly runId: string | null;
  /** The tick it runs for; `null` for a triggered run. */
  readonly scheduledAt: number | null;
  /** What started it. */
  readonly source: "interval" | "cron" | "trigger";
  /** When it started. */
  readonly startedAt: number;
  /** The owner renews the marker while the run lasts; past this time it is stale (owner died). */
  readonly until: number;
}

/**
 * A request to cancel a coordinated run, left in the flow's record by `cancelFlow` on any
 * instance and acted on by the instance running it.
 *
 * @example A cancel request names the run it cancels
 * ```ts
 * import type { FlowCancelRequest } from "@cano/cano/scheduler";
 * import assert from "node:assert/strict";
 *
 * const request: FlowCancelRequest = { key: "trigger@1767225600000@web-1", by: "web-2", at: 1767225601000 };
 * assert.equal(request.by, "web-2");
 * ```
 */
export interface FlowCancelRequest {
  /** The {@link FlowRunMarker.key} of the run to cancel. */
  readonly key: string;
  /** The instance that asked. */
  readonly by: string;
  /** When it asked. */
  readonly at: number;
}

/**
 * A flow's shared record and the stamp to write it back with.
 *
 * @example Nothing stored yet
 * ```ts
 * import type { FlowRecordRead } from "@cano/cano/scheduler";
 * import assert from "node:assert/strict";
 *
 * const none: FlowRecordRead = { record: undefined, stamp: null };
 * assert.equal(none.stamp, null);
 * ```
 */
export interface FlowRecordRead {
  /** The record, `undefined` when none is stored. */
  readonly record: FlowRecord | undefined;
  /** Its version (opaque), `null` when none is stored. */
  readonly stamp: string | null;
}

/**
 * What a scheduler shared by several instances needs from a store. `KvCheckpointStore` and
 * `MemoryCheckpointStore` provide one as their `coordination` property; implement it to put the
 * coordination on another database. All three methods must be atomic across every instance.
 *
 * @example Fire-once keys and a compare-and-set record
 * ```ts
 * import { MemoryCoordination } from "@cano/cano/scheduler";
 * import assert from "node:assert/strict";
 *
 * const coordination = new MemoryCoordination();
 * const tick = Date.UTC(2026, 0, 1);
 * const expiresAt = Date.now() + 60_000; // a claim whose expiry has passed counts as absent
 * assert.equal(await coordination.claimTick("sync", tick, "a", expiresAt), true);
 * assert.equal(await coordination.claimTick("sync", tick, "b", expiresAt), false);
 * const { stamp } = await coordination.readFlow("sync");
 * assert.equal(stamp, null);
 * ```
 */
export interface Coordination {
  /**
   * Claims one tick of one flow, if no live claim exists: create-if-absent. A claim whose
   * `expiresAt` has passed counts as absent.
   *
   * @param flowId The flow.
   * @param tick The tick, epoch ms.
   * @param owner The claiming instance.
   * @param expiresAt When the claim may be forgotten, epoch ms.
   * @returns `true` for the one caller that claimed it.
   */
  claimTick(flowId: string, tick: number, owner: string, expiresAt: number): Promise<boolean>;
  /**
   * Reads a flow's shared record.
   *
   * @param flowId The flow.
   * @returns The record and its stamp.
   */
  readFlow(flowId: string): Promise<FlowRecordRead>;
  /**
   * Writes a flow's record if it is still at `stamp` (`null`: only if none exists).
   *
   * @param flowId The flow.
   * @param next The new record.
   * @param stamp The stamp read with the record being replaced.
   * @returns `true` when written, `false` when the record changed in between.
   */
  writeFlow(flowId: string, next: FlowRecord, stamp: string | null): Promise<boolean>;
}

/**
 * What the `coordination` option of `Scheduler.start` (and `registerDenoCron`'s `store`) takes: a
 * checkpoint store that provides a {@link Coordination} (`KvCheckpointStore`,
 * `MemoryCheckpointStore`), or a `Coordination` itself.
 *
 * @example Either form
 * ```ts
 * import { type CoordinationSource, MemoryCoordination } from "@cano/cano/scheduler";
 * import { MemoryCheckpointStore } from "@cano/cano";
 *
 * const sources: CoordinationSource[] = [new MemoryCheckpointStore(), new MemoryCoordination()];
 * sources.length;
 * ```
 */
export type CoordinationSource = Coordination | { readonly coordination: Coordination };

/**
 * The {@link Coordination} of a source, checked.
 *
 * @param source What the caller passed.
 * @param what How the option is named in messages.
 * @returns The coordination.
 * @throws {ConfigurationError} When `source` is neither a coordination nor a store with one.
 */
export function resolveCoordination(source: unknown, what: string): Coordination {
  let candidate: unknown = source;
  try {
    if (!isCoordination(source) && typeof source === "object" && source !== null) {
      candidate = (source as { coordination?: unknown }).coordination;
    }
  } catch (error) {
    throw new ConfigurationError(
      `${what} could not be read: ${messageOf(error)}`,
      { cause: error },
    );
  }
  if (isCoordination(candidate)) return candidate;
  throw new ConfigurationError(
    `${what} must be a checkpoint store with a coordination (KvCheckpointStore, ` +
      `MemoryCheckpointStore) or an object with claimTick(), readFlow() and writeFlow(), ` +
      `received ${describeSource(source)}`,
  );
}

function isCoordination(value: unknown): value is Coordination {
  try {
    const candidate = value as Partial<Coordination> | null;
    return typeof candidate === "object" && candidate !== null &&
      typeof candidate.claimTick === "function" && typeof candidate.readFlow === "function" &&
      typeof candidate.writeFlow === "function";
  } catch {
    return false;
  }
}

function describeSource(value: unknown): string {
  if (typeof value === "object" && value !== null) {
    try {
      const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
      if (typeof name === "string" && name !== "Object") return `a ${name}`;
    } catch {
      // fall through
    }
  }
  return safeString(value);
}

/**
 * A typed error for a failed coordination call: cano errors pass through, anything else becomes
 * a `CheckpointStoreError` naming the operation and the flow.
 */
export function coordinationError(what: string, flowId: string, error: unknown): CanoError {
  if (safeInstanceOf(error, CanoError)) return error;
  return new CheckpointStoreError(
    `Coordination store failed to ${what} of flow "${flowId}": ${messageOf(error)}`,
    { cause: error },
  );
}

/** A fresh record, for a flow first seen at `now`. */
export function freshRecord(now: number): FlowRecord {
  return {
    version: 1,
    createdAt: now,
    status: "idle",
    runCount: 0,
    failureStreak: 0,
    lastRun: null,
    lastEnd: null,
    nextEligible: null,
    lastError: null,
    lastTick: null,
    running: null,
    cancel: null,
  };
}

const STATUSES = new Set(["idle", "completed", "backoff", "tripped"]);
const SOURCES = new Set(["interval", "cron", "trigger"]);

/**
 * Checks a record read back from a coordination (a corrupt or foreign value is refused).
 *
 * @throws {CheckpointStoreError} Naming the flow and the first bad field.
 */
export function checkRecord(flowId: string, value: unknown): FlowRecord {
  const bad = (field: string): never => {
    throw new CheckpointStoreError(
      `Corrupt shared state of flow "${flowId}": field ${field} is missing or invalid`,
    );
  };
  if (typeof value !== "object" || value === null) return bad("(record)");
  const record = value as Record<string, unknown>;
  if (record.version !== 1) bad("version");
  if (!isTime(record.createdAt)) bad("createdAt");
  if (!STATUSES.has(record.status as string)) bad("status");
  if (!isCount(record.runCount)) bad("runCount");
  if (!isCount(record.failureStreak)) bad("failureStreak");
  for (const field of ["lastRun", "lastEnd", "nextEligible", "lastTick"]) {
    if (record[field] !== null && !isTime(record[field])) bad(field);
  }
  if (record.lastError !== null && typeof record.lastError !== "string") bad("lastError");
  const running = record.running;
  if (running !== null) {
    const marker = running as Record<string, unknown> | undefined;
    if (
      typeof marker !== "object" || marker === null || typeof marker.owner !== "string" ||
      typeof marker.key !== "string" ||
      (marker.runId !== null && typeof marker.runId !== "string") ||
      (marker.scheduledAt !== null && !isTime(marker.scheduledAt)) ||
      !SOURCES.has(marker.source as string) || !isTime(marker.startedAt) || !isTime(marker.until)
    ) bad("running");
  }
  const cancel = record.cancel;
  if (cancel !== null) {
    const request = cancel as Record<string, unknown> | undefined;
    if (
      typeof request !== "object" || request === null || typeof request.key !== "string" ||
      typeof request.by !== "string" || !isTime(request.at)
    ) bad("cancel");
  }
  return value as FlowRecord;
}

function isTime(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
