// What the console saw happen to runs in this process. Checkpoint rows carry no timestamps and no
// attempt counts, so the console listens to the events of the workflows it was given: when each
// row was written, each failed attempt, each compensation, and how a run ended (a completed run
// leaves nothing in the store, so this is how the page can say it completed). Bounded: the most
// recent runs only, a bounded number of entries each.

import { messageOf } from "../errors.ts";
import type {
  CheckpointEvent,
  CompensateEvent,
  ResumeEvent,
  RetryEvent,
  RunEndEvent,
  TaskFailureEvent,
} from "../workflow/events.ts";
import type { AdminWorkflow } from "./options.ts";

/** Runs remembered at most (the oldest is forgotten first). */
const MAX_RUNS = 2_000;
/** Entries remembered per run at most (the oldest are dropped). */
const MAX_ENTRIES = 500;
/** Errors are cut to this many characters. */
const MAX_ERROR = 500;

/** One thing the console saw happen to a run. */
export type ActivityEntry =
  | { readonly kind: "row"; readonly at: number; readonly sequence: number }
  | {
    readonly kind: "retry";
    readonly at: number;
    readonly state: string;
    readonly attempt: number;
    readonly delay: number;
    readonly error: string;
  }
  | {
    readonly kind: "taskfailure";
    readonly at: number;
    readonly state: string;
    readonly error: string;
  }
  | {
    readonly kind: "compensate";
    readonly at: number;
    readonly taskId: string;
    readonly ok: boolean;
    readonly error?: string;
  }
  | { readonly kind: "resume"; readonly at: number; readonly sequence: number }
  | {
    readonly kind: "end";
    readonly at: number;
    readonly state?: string;
    readonly error?: string;
  };

/** How a run ended, as this process saw it. */
export interface RunEnding {
  /** When. */
  readonly at: number;
  /** The exit state reached (completed runs). */
  readonly state?: string;
  /** The error it ended with. */
  readonly error?: string;
}

type Listener = (event: Event) => void;

/** The journal of the runs of the console's workflows (see the file comment). */
export class Activity {
  readonly #runs = new Map<string, ActivityEntry[]>();
  readonly #resumed = new Map<string, Set<() => void>>();
  readonly #detach: (() => void)[] = [];
  readonly #now: () => number;

  /**
   * Starts listening to the workflows' events.
   *
   * @param workflows The definitions.
   * @param now The clock (epoch ms).
   */
  constructor(workflows: readonly AdminWorkflow[], now: () => number = Date.now) {
    this.#now = now;
    for (const workflow of workflows) {
      const listen = (type: string, listener: Listener): void => {
        workflow.addEventListener(type, listener);
        this.#detach.push(() => workflow.removeEventListener(type, listener));
      };
      listen("checkpoint", (event) => {
        const { workflowId, sequence } = event as CheckpointEvent;
        this.#add(workflowId, { kind: "row", at: this.#now(), sequence });
      });
      listen("retry", (event) => {
        const { workflowId, state, attempt, delay, error } = event as RetryEvent;
        this.#add(workflowId, {
          kind: "retry",
          at: this.#now(),
          state,
          attempt,
          delay,
          error: clip(messageOf(error)),
        });
      });
      listen("taskfailure", (event) => {
        const { workflowId, state, error } = event as TaskFailureEvent;
        this.#add(workflowId, {
          kind: "taskfailure",
          at: this.#now(),
          state,
          error: clip(messageOf(error)),
        });
      });
      listen("compensate", (event) => {
        const { workflowId, taskId, ok, error } = event as CompensateEvent;
        this.#add(workflowId, {
          kind: "compensate",
          at: this.#now(),
          taskId,
          ok,
          ...(ok ? {} : { error: clip(messageOf(error)) }),
        });
      });
      listen("resume", (event) => {
        const { workflowId, sequence } = event as ResumeEvent;
        this.#add(workflowId, { kind: "resume", at: this.#now(), sequence });
        if (workflowId === undefined) return;
        for (const wake of this.#resumed.get(workflowId) ?? []) wake();
      });
      listen("runend", (event) => {
        const { workflowId, state, error } = event as RunEndEvent;
        if (state === undefined && error === undefined) return; // parked, not ended
        this.#add(workflowId, {
          kind: "end",
          at: this.#now(),
          ...(state === undefined ? {} : { state }),
          ...(error === undefined ? {} : { error: clip(messageOf(error)) }),
        });
      });
    }
  }

  /**
   * What was seen of a run, oldest first.
   *
   * @param id The run id.
   * @returns The entries (empty when nothing was seen).
   */
  entries(id: string): readonly ActivityEntry[] {
    return this.#runs.get(id) ?? [];
  }

  /**
   * How a run ended here, when this process saw it end (and nothing happened to it since).
   *
   * @param id The run id.
   * @returns The ending, or `undefined`.
   */
  ending(id: string): RunEnding | undefined {
    const last = this.#runs.get(id)?.at(-1);
    if (last?.kind !== "end") return undefined;
    return {
      at: last.at,
      ...(last.state === undefined ? {} : { state: last.state }),
      ...(last.error === undefined ? {} : { error: last.error }),
    };
  }

  /**
   * Resolves once a `resume` event of run `id` is seen (its claim took effect and its log was
   * read), or when `settled` settles, whichever is first.
   *
   * @param id The run id.
   * @param settled The resumed run's promise.
   * @returns When either happened.
   */
  resumedOrSettled(id: string, settled: Promise<unknown>): Promise<void> {
    return new Promise<void>((resolve) => {
      const wakers = this.#resumed.get(id) ?? new Set<() => void>();
      const wake = (): void => {
        wakers.delete(wake);
        if (wakers.size === 0) this.#resumed.delete(id);
        resolve();
      };
      wakers.add(wake);
      this.#resumed.set(id, wakers);
      settled.then(wake, wake);
    });
  }

  /** Stops listening. */
  close(): void {
    for (const detach of this.#detach.splice(0)) detach();
    for (const wakers of this.#resumed.values()) for (const wake of [...wakers]) wake();
  }

  #add(id: string | undefined, entry: ActivityEntry): void {
    if (id === undefined) return;
    let entries = this.#runs.get(id);
    if (entries === undefined) {
      entries = [];
      if (this.#runs.size >= MAX_RUNS) {
        const oldest = this.#runs.keys().next().value;
        if (oldest !== undefined) this.#runs.delete(oldest);
      }
    } else {
      this.#runs.delete(id); // re-inserted below: most recently active last
    }
    if (entry.kind === "row" && entry.sequence === 0) entries.length = 0; // a new run of the id
    entries.push(entry);
    if (entries.length > MAX_ENTRIES) entries.splice(0, entries.length - MAX_ENTRIES);
    this.#runs.set(id, entries);
  }
}

function clip(text: string): string {
  return text.length <= MAX_ERROR ? text : `${text.slice(0, MAX_ERROR)}…`;
}
