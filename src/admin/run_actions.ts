// What an operator can do to a run, shared by the web console and the CLI:
//
// - cancel: a durable cancel request (`store.requestCancel`): the owner aborts and rolls back, or
//   whoever claims the run next does;
// - resume: continue a run nobody holds (its process died, or it is parked and due) here, with
//   the registered definition — `resumeFrom` in the background;
// - retry: run a failed run again from its last state. A failed run keeps its log and its record
//   says failed, so a resume claim takes it like any stalled run and re-enters the state of the
//   last row with the last data snapshot (a failed rollback retries its compensations). Two ways:
//   `here` resumes it in this process with the registered definition; `recovery` claims it and
//   releases it at once, which makes it a stalled run that any process running `startRecovery`
//   with its definition picks up (the CLI's way: it has no definitions). A run that failed
//   because it was cancelled is not retried: its cancel request stays on the record and would
//   cancel it again;
// - send an event to a run (`store.sendEvent`), which wakes it when it waits for that event.

import { safeInstanceOf } from "../describe.ts";
import { ConfigurationError, messageOf } from "../errors.ts";
import {
  type CancelOutcome,
  hasWaitMethods,
  NothingToResumeError,
  type RunInfo,
  type RunStore,
  type SendEventOutcome,
} from "../recovery/checkpoint.ts";
import type { ResourceMap } from "../task/task.ts";
import { type Workflow, workflowIdentity } from "../workflow/workflow.ts";
import type { Activity } from "./activity.ts";
import { HttpError } from "./http.ts";
import { type AdminWorkflow, quote } from "./options.ts";

/** How long a resume or retry here is waited for before the answer says "started". */
const START_WAIT_MS = 5_000;

/** What an action may use. */
export interface ActionContext {
  readonly store: RunStore;
  readonly workflows: readonly AdminWorkflow[];
  readonly activity: Activity | undefined;
  /** Keeps a background run's promise until it settles (so a shutdown can wait for it). */
  readonly track: (run: Promise<unknown>) => void;
  readonly readOnly: boolean;
}

/** Whether an action is available on a run, and why not when it is not. */
export interface ActionAvailability {
  readonly allowed: boolean;
  readonly why: string | null;
}

/** The actions of a run, as the page offers them. */
export interface RunActions {
  readonly cancel: ActionAvailability;
  readonly resume: ActionAvailability;
  readonly retry: ActionAvailability & { readonly mode: RetryMode | null };
  readonly sendEvent: ActionAvailability;
}

/** Where a retried run runs: in this process, or by whichever process runs recovery. */
export type RetryMode = "here" | "recovery";

const yes: ActionAvailability = { allowed: true, why: null };
const no = (why: string): ActionAvailability => ({ allowed: false, why });

/**
 * The registered definition of a run's workflow and version.
 *
 * @param workflows The definitions.
 * @param name The run's workflow name.
 * @param version The run's version.
 * @returns The definition, or `undefined`.
 */
export function definitionFor(
  workflows: readonly AdminWorkflow[],
  name: string,
  version: number,
): AdminWorkflow | undefined {
  return workflows.find((workflow) => {
    const identity = identityOf(workflow);
    return identity.name === name && identity.version === version;
  });
}

/**
 * A definition's name and version, as runs record them.
 *
 * @param workflow The definition.
 * @returns Its name (`""` when unnamed) and version.
 */
export function identityOf(workflow: AdminWorkflow): { name: string; version: number } {
  const { name, version } = workflowIdentity(workflow as Workflow<string, never, ResourceMap>);
  return { name, version };
}

/**
 * Which actions a run allows.
 *
 * @param info The run's record.
 * @param context The console's store, definitions and mode.
 * @param now The clock (epoch ms).
 * @returns The actions.
 */
export function actionsOf(info: RunInfo, context: ActionContext, now: number): RunActions {
  if (context.readOnly) {
    const off = no("The console is read-only");
    return { cancel: off, resume: off, retry: { ...off, mode: null }, sendEvent: off };
  }
  const registered = definitionFor(context.workflows, info.workflow, info.version) !== undefined;
  const cancel = info.status === "failed"
    ? no("The run failed: nothing runs to cancel")
    : info.status === "rolling_back"
    ? no("The run is rolling back already")
    : info.cancel !== undefined
    ? no("A cancel request is pending")
    : yes;
  const unregistered = no(
    `No definition of workflow "${info.workflow}" version ${info.version} is registered with ` +
      "the console",
  );
  const refusal = resumeRefusal(info, now);
  const resume = refusal !== undefined ? no(refusal) : registered ? yes : unregistered;
  const retry = info.status !== "failed"
    ? { ...no("Only a failed run is retried"), mode: null }
    : info.cancel !== undefined
    ? { ...no("The run was cancelled: a retry would cancel it again"), mode: null }
    : { ...yes, mode: registered ? "here" as const : "recovery" as const };
  const sendEvent = !hasWaitMethods(context.store)
    ? no("The store does not take events")
    : info.status === "failed"
    ? no("A failed run takes no events")
    : yes;
  return { cancel, resume, retry, sendEvent };
}

/**
 * Why a run cannot be resumed now, whatever the definitions at hand: it failed (retry it), its
 * owner is alive, or it waits for an event or a deadline still ahead. `undefined`: nobody holds it
 * (its process died, or it is parked and due).
 *
 * @param info The run's record.
 * @param now The time, in ms since the epoch.
 * @returns The reason, or `undefined`.
 */
export function resumeRefusal(info: RunInfo, now: number): string | undefined {
  if (info.status === "failed") return "The run failed: retry it instead";
  if (info.owner !== undefined && info.leaseUntil.getTime() > now) {
    return `The run is held by "${info.owner}"`;
  }
  if (info.status === "waiting" && info.leaseUntil.getTime() > now) {
    return "The run waits for an event or its deadline: send it an event";
  }
  return undefined;
}

/**
 * Requests that a run be cancelled.
 *
 * @param store The store.
 * @param id The run id.
 * @param reason Why (shown on the record and in the run's error).
 * @returns What happened, and the record after it.
 */
export async function cancelRun(
  store: RunStore,
  id: string,
  reason: string | undefined,
): Promise<{ outcome: CancelOutcome; run: RunInfo | undefined }> {
  return await store.requestCancel(id, reason ?? "cancelled from the admin console");
}

/** The record of a run, or a 404. */
async function recordOf(store: RunStore, id: string): Promise<RunInfo> {
  const info = await store.getRun(id);
  if (info === undefined) {
    throw new HttpError(
      404,
      `Run ${JSON.stringify(id.slice(0, 200))} has no record (it completed, was cleared, or ` +
        "never started)",
    );
  }
  return info;
}

/**
 * Resumes a run nobody holds here, with its registered definition (see the file comment).
 *
 * @param context The console's store, definitions and background runs.
 * @param id The run id.
 * @returns Once the resumed run's claim took effect (or it settled, or after 5 s).
 */
export async function resumeHere(
  context: ActionContext,
  id: string,
): Promise<{ started: true; workflow: string; version: number }> {
  const info = await recordOf(context.store, id);
  const allowed = actionsOf(info, context, Date.now()).resume;
  if (!allowed.allowed) throw new HttpError(409, `Cannot resume this run: ${allowed.why}`);
  return await startHere(context, info);
}

/**
 * Retries a failed run from its last state (see the file comment for the two modes).
 *
 * @param context The console's store, definitions and background runs.
 * @param id The run id.
 * @param mode `here` or `recovery`; by default `here` when the definition is registered.
 * @returns How it was retried.
 */
export async function retryRun(
  context: ActionContext,
  id: string,
  mode: RetryMode | undefined,
): Promise<{ started: true; mode: RetryMode; workflow: string; version: number }> {
  if (mode !== undefined && mode !== "here" && mode !== "recovery") {
    throw new ConfigurationError(
      `Retry mode must be "here" or "recovery", received ${quote(mode)}`,
    );
  }
  const info = await recordOf(context.store, id);
  const allowed = actionsOf(info, context, Date.now()).retry;
  if (!allowed.allowed) throw new HttpError(409, `Cannot retry this run: ${allowed.why}`);
  const chosen = mode ?? allowed.mode ?? "recovery";
  if (chosen === "here") {
    if (definitionFor(context.workflows, info.workflow, info.version) === undefined) {
      throw new HttpError(
        409,
        `Cannot retry this run here: no definition of workflow "${info.workflow}" version ` +
          `${info.version} is registered with the console (retry with mode "recovery")`,
      );
    }
    return { ...await startHere(context, info), mode: "here" };
  }
  await handToRecovery(context.store, info);
  return { started: true, mode: "recovery", workflow: info.workflow, version: info.version };
}

/**
 * Makes a failed run, or one nobody holds, a stalled one that recovery picks up at its next sweep:
 * a resume claim (which turns it into a running run) released at once.
 *
 * @param store The store.
 * @param info The run's record.
 */
export async function handToRecovery(store: RunStore, info: RunInfo): Promise<void> {
  let lease;
  try {
    ({ lease } = await store.claim(info.id, {
      mode: "resume",
      owner: `cano-admin/${crypto.randomUUID().slice(0, 8)}`,
      workflow: info.workflow,
      version: info.version,
    }));
  } catch (error) {
    throw conflictOf(error, info.id);
  }
  // A failed release leaves the run to expire with the claim's lease: picked up a lease later.
  await store.release(lease).catch(() => {});
}

/**
 * The runs this process is resuming from a console, by store: one at a time per run, so that the
 * `resume` event of a run id is the one of this call (run records name processes, not calls).
 */
const resuming = new WeakMap<RunStore, Set<string>>();

async function startHere(
  context: ActionContext,
  info: RunInfo,
): Promise<{ started: true; workflow: string; version: number }> {
  const workflow = definitionFor(context.workflows, info.workflow, info.version)!;
  let ids = resuming.get(context.store);
  if (ids === undefined) resuming.set(context.store, ids = new Set());
  if (ids.has(info.id)) {
    throw new HttpError(
      409,
      `Run ${JSON.stringify(info.id.slice(0, 200))} is being resumed by this process already`,
    );
  }
  ids.add(info.id);
  const since = Date.now();
  const run = Promise.resolve().then(() => workflow.resumeFrom(info.id, { onWait: "return" }));
  const released = run.then(() => {}, () => {}).then(() => ids.delete(info.id));
  context.track(released);
  let failure: unknown;
  const outcome = run.then(() => {}, (error) => {
    failure = error;
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => timer = setTimeout(resolve, START_WAIT_MS));
  try {
    await Promise.race([
      context.activity?.resumedOrSettled(info.id, outcome) ?? outcome,
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
  // A refusal before the run got going (a live owner elsewhere, a version mismatch) is this
  // call's answer; a run that got going and failed again is reported on the run itself.
  const got = context.activity?.entries(info.id).some((entry) =>
    entry.kind === "resume" && entry.at >= since
  );
  if (failure !== undefined && got !== true) throw conflictOf(failure, info.id);
  return { started: true, workflow: info.workflow, version: info.version };
}

/**
 * Sends an event to a run.
 *
 * @param store The store.
 * @param id The run id.
 * @param name The event's name.
 * @param payload Its payload.
 * @param eventId Its idempotency key.
 * @returns What happened.
 */
export async function sendRunEvent(
  store: RunStore,
  id: string,
  name: string,
  payload: unknown,
  eventId: string | undefined,
): Promise<{ outcome: SendEventOutcome; run: RunInfo }> {
  if (!hasWaitMethods(store)) {
    throw new HttpError(409, "This store does not take events (it has no sendEvent)");
  }
  try {
    return await store.sendEvent(id, name, payload, eventId === undefined ? {} : { eventId });
  } catch (error) {
    if (error instanceof Error && error.name === "CheckpointStoreError") {
      throw new HttpError(400, messageOf(error));
    }
    throw error;
  }
}

/** A run that finished or was cleared between its read and its claim is a conflict, not bad input. */
function conflictOf(error: unknown, id: string): unknown {
  if (!safeInstanceOf(error, NothingToResumeError)) return error;
  return new HttpError(
    409,
    `Run ${JSON.stringify(id.slice(0, 200))} finished or was cleared meanwhile: nothing to resume`,
  );
}
