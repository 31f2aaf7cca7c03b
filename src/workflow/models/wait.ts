// A wait state: the run parks durably until an outside event (store.sendEvent) or its deadline.
// Entering it picks the first unconsumed event it waits for from the run's inbox; else, past the
// deadline, it takes the timeout edge; else it asks the store to park the run (which hands back an
// event that arrived meanwhile instead). A parked run holds no lease, timer or process: whoever
// claims it once it is due (an event, the deadline, a cancel) resumes it into this state again.

import { CanoError } from "../../errors.ts";
import type { DeliveredEvent } from "../../recovery/checkpoint.ts";
import type { WaitEvent } from "../../task/wait.ts";
import type { ResourceMap } from "../../task/task.ts";
import { appendRow } from "../journal.ts";
import type { ProcessingModel } from "../model.ts";
import { RunParked } from "../parked.ts";
import type { Run, WaitEntry } from "../run.ts";

async function runWait<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  entry: WaitEntry,
): Promise<string> {
  const ownership = run.ownership;
  if (ownership === undefined || typeof ownership.store.park !== "function") {
    // validate() refuses this; a definition built otherwise still fails typed, not hanging.
    throw new CanoError(
      `Wait state "${state}" needs a checkpoint store that can park runs (park and sendEvent)`,
      { category: "configuration" },
    );
  }
  const cursor = run.cursors.get(state);
  run.cursors.delete(state); // consumed once: a later visit waits afresh
  let until: number | undefined;
  if (entry.timeout !== undefined) {
    const kept = deadlineOf(cursor);
    until = kept ?? Date.now() + entry.timeout.after;
    // The deadline is part of the visit: checkpointed once, so a restart keeps it (and an
    // overdue one fires at once), like a durable timer.
    if (kept === undefined) {
      await appendRow(
        run,
        { kind: "step_cursor", state, taskId: entry.name, output: { until }, data: run.data },
        "Append wait deadline checkpoint",
      );
    }
  }
  const ready = firstAwaited(run.inbox, run.eventSeq, entry.events);
  if (ready !== undefined) return take(run, entry, ready);
  if (until !== undefined && Date.now() >= until) return timedOut(run, entry);
  // Cancelled before parking: the engine rolls back now rather than parking a doomed run.
  run.signal?.throwIfAborted();
  const held = ownership.confirm();
  if (held !== undefined) await held;
  const parked = await ownership.park({
    state,
    events: [...entry.events.keys()],
    until,
    after: run.eventSeq,
  });
  if (!parked.parked) return take(run, entry, parked.event);
  throw new RunParked(state, [...entry.events.keys()], until);
}

/** The earliest event after `seq` whose name the state waits for. */
function firstAwaited(
  inbox: readonly DeliveredEvent[],
  seq: number,
  events: ReadonlyMap<string, string>,
): DeliveredEvent | undefined {
  for (const event of inbox) {
    if (event.seq > seq && events.has(event.name)) return event;
  }
  return undefined;
}

/** Consumes `event`: the next state gets it as `ctx.event` (and its entry row records it). */
function take<R extends ResourceMap>(run: Run<R>, entry: WaitEntry, event: DeliveredEvent): string {
  run.eventSeq = Math.max(run.eventSeq, event.seq);
  run.pendingEvent = waitEvent(event);
  const next = entry.events.get(event.name);
  if (next === undefined) {
    throw new CanoError(`Event "${event.name}" is not awaited here`, { category: "workflow" });
  }
  return next;
}

function timedOut<R extends ResourceMap>(run: Run<R>, entry: WaitEntry): string {
  run.pendingEvent = undefined;
  return entry.timeout!.next;
}

/** The public view of a delivered event. */
export function waitEvent(event: DeliveredEvent): WaitEvent {
  return {
    name: event.name,
    payload: event.payload,
    eventId: event.eventId,
    at: event.at,
    seq: event.seq,
  };
}

/** The deadline a wait state's `step_cursor` row kept, if it is one. */
function deadlineOf(cursor: unknown): number | undefined {
  if (typeof cursor !== "object" || cursor === null) return undefined;
  const until = (cursor as { until?: unknown }).until;
  return typeof until === "number" && Number.isFinite(until) ? until : undefined;
}

/** `registerWait`. Unframed: parking is not a task outcome (no taskstart / tasksuccess). */
export const waitModel: ProcessingModel<WaitEntry> = {
  journaled: true,
  framed: false,
  run: runWait,
};
