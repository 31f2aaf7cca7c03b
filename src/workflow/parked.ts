// A run that reached a wait state and parked: the signal that stops the engine without a failure,
// and the result `orchestrate(…, { onWait: "return" })` resolves with.

import { CanoError } from "../errors.ts";

/**
 * What a run that parked in a wait state resolves with (`orchestrate(initial, { onWait:
 * "return" })`, and recovery's view of a resumed run that parked again): the run is durable and
 * ownerless, waiting for one of `events` until `until`; `store.sendEvent(workflowId, name,
 * payload)` from any process wakes it (see `Workflow.registerWait`).
 *
 * @typeParam S The state union. @typeParam D The run data.
 */
export interface WaitingResult<S extends string, D> {
  /** Always `"waiting"`: tells this result from a finished run's. */
  readonly status: "waiting";
  /** The wait state the run is parked in. */
  readonly state: S;
  /** The run's id. */
  readonly workflowId: string;
  /** The event names it waits for. */
  readonly events: string[];
  /** Its deadline, when it has one. */
  readonly until: Date | undefined;
  /** The run data as of parking. */
  readonly data: D;
  /** Every state entered so far, ending with the wait state. */
  readonly path: S[];
}

/** Thrown by the wait model once the store parked the run: the engine stops, writing nothing. */
export class RunParked {
  /**
   * @param state The wait state.
   * @param events The event names it waits for.
   * @param until Its deadline (epoch ms), if any.
   */
  constructor(
    readonly state: string,
    readonly events: readonly string[],
    readonly until: number | undefined,
  ) {}
}

/**
 * `orchestrate` was waiting for a parked run that another process (a recovery sweep, say)
 * continued: this process cannot know its result. `status` is `undefined` when the run finished
 * there (its record is gone), `"failed"` when it failed there (`error` is its recorded error).
 * Category `"conflict"`.
 *
 * @example Read what happened elsewhere
 * ```ts
 * import { RunContinuedElsewhereError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const error = new RunContinuedElsewhereError("expense-7", undefined);
 * assert.equal(error.category, "conflict");
 * assert.equal(error.id, "expense-7");
 * ```
 */
export class RunContinuedElsewhereError extends CanoError {
  /** The run's id. */
  readonly id: string;
  /** `"failed"` when it failed elsewhere; `undefined` when it finished there. */
  readonly status: "failed" | undefined;

  /**
   * Creates the error.
   *
   * @param id The run id.
   * @param status `"failed"`, or `undefined` for a run that finished.
   * @param error The error recorded on a failed run.
   */
  constructor(id: string, status: "failed" | undefined, error?: string) {
    super(
      `Run "${id}" was continued by another process while this one waited for it, and ` +
        (status === "failed"
          ? `failed there: ${error ?? "(no error recorded)"}; resumeFrom("${id}") to retry it`
          : "finished there: its result is that process's (listen to its runend events)"),
      { category: "conflict" },
    );
    this.name = "RunContinuedElsewhereError";
    this.id = id;
    this.status = status;
  }
}
