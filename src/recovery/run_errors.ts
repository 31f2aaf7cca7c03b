// The errors of durable run ownership: a run id already taken, a run another process is working
// on, and the moment a process learns that it no longer owns the run it was executing.

import { safeString } from "../describe.ts";
import { CanoError } from "../errors.ts";

/**
 * `orchestrate` was asked to start a run under an id whose run is unfinished (running, rolling
 * back, or failed with its log kept). Pass `ifExists: "resume"` to continue that run instead, or
 * pick another id. Category `"conflict"`.
 *
 * @example Branch on a taken id
 * ```ts
 * import { RunExistsError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const error = new RunExistsError("order-42", "failed");
 * assert.equal(error.category, "conflict");
 * assert.equal(error.id, "order-42");
 * assert.equal(error.status, "failed");
 * ```
 */
export class RunExistsError extends CanoError {
  /** The run id that is taken. */
  readonly id: string;
  /** The status of the existing run, when the store knows it. */
  readonly status: string | undefined;

  /**
   * Creates the error.
   *
   * @param id The run id.
   * @param status The existing run's status, when known.
   */
  constructor(id: string, status?: string) {
    super(
      `A run with id "${shortId(id)}" already exists${
        status === undefined ? "" : ` (${status})`
      }; ` +
        'pass ifExists: "resume" to continue it, or start the new run under another id',
      { category: "conflict" },
    );
    this.name = "RunExistsError";
    this.id = id;
    this.status = status;
  }
}

/**
 * `resumeFrom` (or `orchestrate` with `ifExists: "resume"`) found the run owned by a live process:
 * its lease has not expired. Retry after `leaseUntil`, or let that process finish. Category
 * `"conflict"`.
 *
 * @example Read who owns the run
 * ```ts
 * import { RunOwnedError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const error = new RunOwnedError("order-42", "worker-7", new Date(Date.now() + 30_000));
 * assert.equal(error.category, "conflict");
 * assert.equal(error.owner, "worker-7");
 * ```
 */
export class RunOwnedError extends CanoError {
  /** The run id. */
  readonly id: string;
  /** The owner holding the run's lease. */
  readonly owner: string;
  /** When that lease expires unless renewed. */
  readonly leaseUntil: Date;

  /**
   * Creates the error.
   *
   * @param id The run id.
   * @param owner The current owner.
   * @param leaseUntil The end of its lease.
   */
  constructor(id: string, owner: string, leaseUntil: Date) {
    super(
      `Run "${shortId(id)}" is owned by ${owner} until ${
        isoOrInvalid(leaseUntil)
      }; it can be resumed once that lease expires`,
      { category: "conflict" },
    );
    this.name = "RunOwnedError";
    this.id = id;
    this.owner = owner;
    this.leaseUntil = leaseUntil;
  }
}

/**
 * This process no longer owns the run it was executing: another process claimed it after the
 * lease expired, the run was cleared, or the lease could not be renewed in time. The process stops
 * the run dead — the in-flight task's signal aborts with this error, and no compensation, log
 * clear or other write follows; the new owner carries on. Category `"ownership_lost"`.
 *
 * @example Tell a lost run from a failed one
 * ```ts
 * import { OwnershipLostError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const error = new OwnershipLostError("order-42", "another process claimed it");
 * assert.equal(error.category, "ownership_lost");
 * assert.match(error.message, /another process claimed it/);
 * ```
 */
export class OwnershipLostError extends CanoError {
  /** The run id. */
  readonly id: string;
  /** Why ownership was lost. */
  readonly reason: string;

  /**
   * Creates the error.
   *
   * @param id The run id.
   * @param reason Why ownership was lost.
   */
  constructor(id: string, reason: string) {
    super(
      `Lost ownership of run "${shortId(id)}": ${reason}; this process stopped the run (no ` +
        "further task, compensation or write); whoever claims it next carries on",
      { category: "ownership_lost" },
    );
    this.name = "OwnershipLostError";
    this.id = id;
    this.reason = reason;
  }
}

/**
 * Why {@link EventRefusedError} refused an event: the run has no record (`not_found`: it
 * completed, was cleared, or never started), it `failed`, or its inbox holds the most events a
 * run keeps (`inbox_full`).
 */
export type EventRefusalReason = "not_found" | "failed" | "inbox_full";

/**
 * `sendEvent` could not deliver an event to a run: the run has no record (it completed, was
 * cleared, or never started), it failed, or its inbox is full (a run keeps at most 64 events
 * until it ends).
 * Nothing was written. Category `"conflict"`.
 *
 * @example Tell a finished run from a full inbox
 * ```ts
 * import { EventRefusedError, MemoryCheckpointStore } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryCheckpointStore();
 * await assert.rejects(store.sendEvent("order-42", "approved", { by: "ana" }), (error) => {
 *   assert.ok(error instanceof EventRefusedError);
 *   assert.equal(error.category, "conflict");
 *   assert.equal(error.id, "order-42");
 *   assert.equal(error.reason, "not_found");
 *   return true;
 * });
 * ```
 */
export class EventRefusedError extends CanoError {
  /** The run id. */
  readonly id: string;
  /** Why the event was refused. */
  readonly reason: EventRefusalReason;
  /** The event's name. */
  readonly event: string;

  /**
   * Creates the error.
   *
   * @param id The run id.
   * @param reason Why the event was refused.
   * @param event The event's name.
   * @param limit The inbox limit (for `inbox_full`).
   */
  constructor(id: string, reason: EventRefusalReason, event = "", limit = 64) {
    const run = `run "${shortId(id)}"`;
    const what = event === "" ? "An event" : `Event "${shortId(event)}"`;
    const detail = reason === "not_found"
      ? `${run} has no record (it completed, was cleared, or never started); send events to a ` +
        "run that is running or waiting, or start the run first"
      : reason === "failed"
      ? `${run} failed and takes no events; resume it (its log is kept) or clear it first`
      : `the inbox of ${run} is full (a run keeps at most ${limit} events until it ends); ` +
        "send fewer events to one run (reuse an eventId to make a repeated send a no-op)";
    super(`${what} was refused: ${detail}`, { category: "conflict" });
    this.name = "EventRefusedError";
    this.id = id;
    this.reason = reason;
    this.event = event;
  }
}

/** An id for an error message, cut to 80 characters. */
export function shortId(id: string): string {
  const text = typeof id === "string" ? id : safeString(id);
  return text.length <= 80 ? text : `${text.slice(0, 80)}…`;
}

function isoOrInvalid(date: Date): string {
  return Number.isNaN(date.getTime()) ? "an unknown time" : date.toISOString();
}
