// Starting a run: an unjournaled run goes straight to the engine; a checkpointed one is first
// claimed in its store (a new run, or an existing one to resume), so that exactly one process
// executes it, and its log is turned into a resume point.

import { safeInstanceOf } from "../describe.ts";
import { CanoError, CheckpointStoreError, ConfigurationError, messageOf } from "../errors.ts";
import type { CheckpointRow, ClaimMode, ClaimResult, RunStore } from "../recovery/checkpoint.ts";
import { RunOwnership } from "../recovery/lease.ts";
import { checkRunId } from "../recovery/limits.ts";
import type { ResourceMap } from "../task/task.ts";
import { freshStart, runFsm, type WorkflowResult } from "./engine.ts";
import { modelOf } from "./models.ts";
import { resumePoint } from "./resume.ts";
import type { Definition } from "./run.ts";

/** What one `orchestrate` / `resumeFrom` call asks for. */
export interface RunRequest<S extends string, D> {
  /** The run id (`undefined` only for a workflow without a store). */
  readonly id: string | undefined;
  /** How to treat an existing run of that id. */
  readonly mode: ClaimMode;
  /** The initial state of a new run. */
  readonly initial: S;
  /** The run data of a new run. */
  readonly data: D;
  /** Cancels the run. */
  readonly signal: AbortSignal | undefined;
}

/** This process, as run records name their owner. */
const PROCESS_OWNER: string = `deno-${processId()}-${crypto.randomUUID().slice(0, 8)}`;

/**
 * Runs a request to its end: claims the run when the workflow has a store (`RunExistsError`,
 * `RunOwnedError` and store failures reject before any state runs), then runs it fresh, resumes
 * it forward, or finishes its rollback, as its log says.
 */
export function startRun<S extends string, D, R extends ResourceMap>(
  def: Definition<R>,
  request: RunRequest<S, D>,
): Promise<WorkflowResult<S, D>> {
  const runId = crypto.randomUUID();
  if (def.store === undefined) {
    // Not async: an unjournaled run (thousands a second under the scheduler) costs no extra frame.
    return runFsm(
      def,
      request.initial,
      request.data,
      request.signal,
      freshStart(request.id),
      runId,
      undefined,
    );
  }
  return startClaimed(def, def.store, request, runId);
}

async function startClaimed<S extends string, D, R extends ResourceMap>(
  def: Definition<R>,
  store: RunStore,
  request: RunRequest<S, D>,
  runId: string,
): Promise<WorkflowResult<S, D>> {
  const id = request.id as string;
  let claim: ClaimResult;
  try {
    claim = await store.claim(id, {
      mode: request.mode,
      owner: PROCESS_OWNER,
      workflow: def.name,
      version: def.version,
      first: request.mode === "resume" ? undefined : firstRow(def, request),
    });
  } catch (error) {
    if (safeInstanceOf(error, CanoError)) throw error;
    throw new CheckpointStoreError(`Claim run "${id}": ${messageOf(error)}`, { cause: error });
  }
  const ownership = new RunOwnership(store, claim.lease);
  const inbox = claim.events ?? [];
  if (claim.rows.length === 0) {
    const start = claim.firstWritten === true
      ? { ...freshStart(id), sequence: 1, journaledFirst: true, inbox }
      : { ...freshStart(id), inbox };
    return await runFsm(
      def,
      request.initial,
      request.data,
      request.signal,
      start,
      runId,
      ownership,
    );
  }
  let point;
  try {
    point = resumePoint(def, claim.rows, id, runId);
  } catch (error) {
    // Nothing was run: give the run up at once so a matching definition can take it.
    await ownership.release().catch(() => {});
    throw error;
  }
  return await runFsm(
    def,
    point.state as S,
    point.data as D,
    request.signal,
    { ...point, inbox },
    runId,
    ownership,
  );
}

/**
 * The row a new run's first state writes, for the claim to write in its own commit (so a run's
 * record never exists without a row). `undefined` when that state writes none.
 */
function firstRow<S extends string, D, R extends ResourceMap>(
  def: Definition<R>,
  request: RunRequest<S, D>,
): CheckpointRow | undefined {
  const entry = def.entries.get(request.initial);
  if (entry !== undefined && modelOf(entry).journaled === false) return undefined;
  if (entry === undefined && !def.exits.has(request.initial)) return undefined;
  const row: CheckpointRow = {
    sequence: 0,
    state: request.initial,
    taskId: entry?.name ?? "",
    kind: "state_entry",
    workflowVersion: def.version,
  };
  if (request.data !== undefined) row.data = request.data;
  return row;
}

/**
 * Validates a run id passed to `orchestrate`, `resumeFrom` or `withWorkflowId`.
 *
 * @param id The id.
 * @param what What it is called in the message.
 * @returns The id.
 */
export function checkIdOption(id: unknown, what: string): string {
  try {
    checkRunId(id, what);
  } catch (error) {
    throw new ConfigurationError(messageOf(error), { cause: error });
  }
  return id;
}

function processId(): number {
  try {
    return Deno.pid;
  } catch {
    // Node and Bun (the package runs there with npm:@deno/kv).
    const pid = (globalThis as { process?: { pid?: unknown } }).process?.pid;
    return typeof pid === "number" ? pid : 0;
  }
}
