// Split execution: every branch runs concurrently (at most `bulkhead` at once) with its own retry
// policy and its own abort signal; the join strategy decides when to stop waiting, losers are
// aborted, and the outcome is handed to the next state as `ctx.split`.

import { abortable, childController, NEVER_ABORTED, setLongTimeout } from "../../async.ts";
import { safeInstanceOf } from "../../describe.ts";
import type { ProcessingModel } from "../model.ts";
import { CancelledError, CanoError, messageOf } from "../../errors.ts";
import { invoke, type ResourceMap, runResolved, type TaskContext } from "../../task/task.ts";
import { describeResult } from "../attempts.ts";
import { splitBranches } from "../registration.ts";
import { TaskFailureEvent, TaskStartEvent, TaskSuccessEvent } from "../events.ts";
import {
  type BranchResult,
  canStopEarly,
  isSatisfied,
  joinNotMet,
  okValues,
  type SplitOutcome,
} from "../join.ts";
import type { Resources } from "../../resources.ts";
import {
  cancelledError,
  contextFor,
  ids,
  listens,
  retryOptions,
  type Run,
  type SplitBranch,
  type SplitEntry,
} from "../run.ts";

type Verdict = "settled" | "timeout";

/** Runs a split state's branches and returns the join's next state. */
export async function runSplit<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  entry: SplitEntry,
): Promise<string> {
  const { join } = entry;
  const branches = entry.factory === undefined
    ? entry.branches
    : await branchesFrom(run, state, entry.factory);
  const total = branches.length;
  const results: Array<BranchResult | undefined> = new Array(total);
  const counts = { successes: 0, failures: 0 };
  const links = branches.map(() => new BranchContext(run, state));
  const verdict = deferred<Verdict>();
  let open = true; // set to false once decided: late branch outcomes are ignored
  const gate = new Gate(join.bulkhead ?? total, (index) => {
    if (open) launch(run, state, branches[index]!, index, links[index]!, settle);
    else gate.release();
  });
  const settle = (index: number, ok: boolean, outcome: unknown): void => {
    gate.release();
    if (!open) return;
    if (ok) {
      results[index] = { index, status: "ok", value: outcome };
      counts.successes += 1;
    } else {
      results[index] = { index, status: "error", error: outcome };
      counts.failures += 1;
    }
    if (canStopEarly(join, counts.successes, counts.failures, total)) verdict.resolve("settled");
  };
  const timer = join.timeout === undefined
    ? undefined
    : setLongTimeout(() => verdict.resolve("timeout"), join.timeout);
  const onOuterAbort = (): void => verdict.reject(run.signal?.reason);
  if (run.signal?.aborted) onOuterAbort();
  else run.signal?.addEventListener("abort", onOuterAbort, { once: true });
  if (total === 0) verdict.resolve("settled");

  branches.forEach((branch, index) => {
    if (listens(run, "taskstart")) {
      const taskId = branchId(branch, index);
      run.def.events.dispatchEvent(new TaskStartEvent({ ...ids(run), state, taskId }));
    }
    // With a bulkhead, branches beyond the limit wait for a permit before they start.
    gate.enter(index);
  });

  let why: Verdict;
  try {
    why = await verdict.promise;
  } catch (reason) {
    open = false;
    abortUnfinished(links, results, reason);
    reportOuterAbort(run, state, branches, results, reason);
    throw reason;
  } finally {
    open = false;
    timer?.clear();
    run.signal?.removeEventListener("abort", onOuterAbort);
  }
  abortUnfinished(
    links,
    results,
    new CancelledError("Split branch aborted: the join no longer needs it"),
  );
  for (const link of links) link.dispose();
  const outcome = summarise(results, counts);
  reportBranches(run, state, branches, outcome);
  if (why === "timeout" && join.strategy !== "partialTimeout") {
    throw new CanoError("Split task timeout exceeded", { category: "workflow" });
  }
  if (why === "timeout" && counts.successes + counts.failures === 0 && total > 0) {
    throw new CanoError("PartialTimeout: No tasks completed before timeout", {
      category: "workflow",
    });
  }
  if (!isSatisfied(join.strategy, counts.successes, counts.failures, total)) {
    throw joinNotMet(join, outcome, total);
  }
  run.pendingSplit = outcome;
  return join.next;
}

/**
 * Starts one branch and reports its outcome through `settle`. A branch with one attempt and no
 * attempt timeout, breaker or rate limiter is called directly (the common fan-out case stays close to `Promise.all`);
 * anything else goes through the retry loop with the branch's own signal.
 */
function launch<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  branch: SplitBranch,
  index: number,
  link: BranchContext,
  settle: (index: number, ok: boolean, outcome: unknown) => void,
): void {
  const { config } = branch;
  const plain = config.attemptTimeout === undefined && config.retry.maxAttempts() === 1 &&
    config.circuitBreaker === undefined && config.rateLimiter === undefined;
  if (plain) {
    let result: unknown;
    try {
      result = branch.run(link);
    } catch (error) {
      return settle(index, false, error);
    }
    if (safeInstanceOf(result, Promise)) {
      result.then((value) => settle(index, true, value), (error) => settle(index, false, error));
    } else {
      settle(index, true, result);
    }
    return;
  }
  const taskId = branchId(branch, index);
  runResolved(
    config,
    (info) => branch.run(contextFor(run, state, info.signal, info.attempt)),
    retryOptions(run, state, taskId, link.signal),
  ).then((value) => settle(index, true, value), (error) => settle(index, false, error));
}

/**
 * The context of a branch's single attempt, and the branch's abort link. The signal is created
 * only if the branch looks at it (then linked to the run's signal); aborting a branch that never
 * looked only records the reason. Most fan-out branches thus cost one object, not a controller.
 */
class BranchContext implements TaskContext<string, unknown, ResourceMap> {
  readonly state: string;
  data: unknown;
  readonly resources: Resources<ResourceMap>;
  readonly attempt = 1;
  readonly workflowId: string | undefined;
  readonly runId: string;
  readonly split: SplitOutcome | undefined;
  #parent: AbortSignal | undefined;
  #link: ReturnType<typeof childController> | undefined;
  #reason: unknown;
  #aborted = false;

  constructor(run: Run<ResourceMap>, state: string) {
    this.state = state;
    this.data = run.data;
    this.resources = run.def.resources;
    this.workflowId = run.workflowId;
    this.runId = run.runId;
    this.split = run.currentSplit;
    this.#parent = run.signal;
  }

  get signal(): AbortSignal {
    if (this.#link === undefined) {
      this.#link = childController(this.#parent);
      if (this.#aborted) this.#link.controller.abort(this.#reason);
    }
    return this.#link.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.#link !== undefined) {
      if (!this.#link.controller.signal.aborted) this.#link.controller.abort(reason);
    } else if (!this.#aborted) {
      this.#aborted = true;
      this.#reason = reason;
    }
  }

  dispose(): void {
    this.#link?.dispose();
  }
}

/** Aborts the branches still running; finished ones keep their signal untouched. */
function abortUnfinished(
  links: BranchContext[],
  results: Array<BranchResult | undefined>,
  reason: unknown,
): void {
  links.forEach((link, index) => {
    if (results[index] === undefined) link.abort(reason);
  });
}

/** Dynamic fan-out: the branches a factory computes from the context, checked like registration. */
async function branchesFrom<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  factory: (ctx: TaskContext<string, unknown, R>) => unknown,
): Promise<readonly SplitBranch[]> {
  const ctx = contextFor(run, state, run.signal ?? NEVER_ABORTED, 1);
  const tasks = await abortable(invoke(factory, ctx), run.signal);
  if (!Array.isArray(tasks)) {
    throw new CanoError(
      `The branch function of split state "${state}" returned ${
        describeResult(tasks)
      }; expected an array of tasks`,
      { category: "workflow" },
    );
  }
  try {
    return splitBranches(state, tasks);
  } catch (error) {
    throw new CanoError(
      `The branch function of split state "${state}" returned an invalid branch: ${
        messageOf(error)
      }`,
      { category: "workflow", cause: error },
    );
  }
}

function summarise(
  results: Array<BranchResult | undefined>,
  counts: { successes: number; failures: number },
): SplitOutcome {
  const all = Array.from(
    results,
    (result, index): BranchResult => result ?? { index, status: "cancelled" },
  );
  return {
    results: all,
    values: okValues(all),
    successes: counts.successes,
    failures: counts.failures,
    cancelled: all.length - counts.successes - counts.failures,
  };
}

/** Completed branches get their success/failure event after the join; losers get none (cano). */
function reportBranches<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  branches: SplitEntry["branches"],
  outcome: SplitOutcome,
): void {
  const successes = listens(run, "tasksuccess");
  const failures = listens(run, "taskfailure");
  if (!successes && !failures) return;
  for (const result of outcome.results) {
    const taskId = branchId(branches[result.index]!, result.index);
    if (result.status === "ok" && successes) {
      run.def.events.dispatchEvent(new TaskSuccessEvent({ ...ids(run), state, taskId }));
    } else if (result.status === "error" && failures) {
      run.def.events.dispatchEvent(
        new TaskFailureEvent({ ...ids(run), state, taskId, error: result.error }),
      );
    }
  }
}

/** On outer cancellation or total timeout every unfinished branch gets a synthetic failure. */
function reportOuterAbort<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  branches: SplitEntry["branches"],
  results: Array<BranchResult | undefined>,
  reason: unknown,
): void {
  if (!listens(run, "taskfailure")) return;
  const error = run.cancel?.aborted ? cancelledError(reason) : run.timedOut ?? reason;
  branches.forEach((branch, index) => {
    if (results[index] !== undefined) return;
    const taskId = branchId(branch, index);
    run.def.events.dispatchEvent(new TaskFailureEvent({ ...ids(run), state, taskId, error }));
  });
}

/** A branch's task id in events: its name and index, `name[index]` (cano's format). */
function branchId(branch: SplitBranch, index: number): string {
  return `${branch.name}[${index}]`;
}

/** A counting semaphore over branch indices: at most `size` started and not yet settled. */
class Gate {
  #free: number;
  #start: (index: number) => void;
  #waiting: number[] = [];
  #head = 0;

  constructor(size: number, start: (index: number) => void) {
    this.#free = size;
    this.#start = start;
  }

  /** Starts branch `index` now if a permit is free, else when one is released. */
  enter(index: number): void {
    if (this.#free > 0) {
      this.#free -= 1;
      this.#start(index);
    } else {
      this.#waiting.push(index);
    }
  }

  /** Returns a permit: the next waiting branch starts with it. */
  release(): void {
    if (this.#head < this.#waiting.length) {
      this.#start(this.#waiting[this.#head++]!); // an index rather than shift(): O(1)
    } else {
      this.#free += 1;
    }
  }
}

/** `registerSplit`: reports per branch (`name[index]`), so the engine does not frame it as one task. */
export const splitModel: ProcessingModel<SplitEntry> = {
  journaled: true,
  framed: false,
  run: runSplit,
};

/** What `Promise.withResolvers` returns; spelled out because Node 20 lacks it. */
function deferred<T>(): {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (reason: unknown) => void;
} {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
