// Split execution: every branch runs concurrently (at most `bulkhead` at once) with its own retry
// policy and its own abort signal; the join strategy decides when to stop waiting, losers are
// aborted, and the outcome is handed to the next state as `ctx.split`.

import { abortable, childController, NEVER_ABORTED, setLongTimeout } from "../../async.ts";
import { safeInstanceOf } from "../../describe.ts";
import type { ProcessingModel } from "../model.ts";
import { CancelledError, CanoError, messageOf } from "../../errors.ts";
import {
  callsDirectly,
  invoke,
  type ResourceMap,
  retryAfter,
  runResolved,
  type TaskContext,
} from "../../task/task.ts";
import { describeResult } from "../attempts.ts";
import { splitBranches } from "../registration.ts";
import {
  type BranchResult,
  canStopEarly,
  isSatisfied,
  joinNotMet,
  type SplitOutcome,
} from "../join.ts";
import type { Resources } from "../../resources.ts";
import type { WaitEvent } from "../../task/wait.ts";
import {
  cancelledError,
  contextFor,
  listens,
  retryOptions,
  type Run,
  type SplitBranch,
  type SplitEntry,
} from "../run.ts";
import type { Spans } from "../../observe/spans.ts";
import { tracedAttempt } from "../traced.ts";

type Verdict = "settled" | "timeout";

/** A branch's state in a {@link Tally}. */
const PENDING = 0, OK = 1, FAILED = 2;

/** What the branches reported, by index: while the join is open, nothing else is allocated. */
interface Tally {
  /** `PENDING`, `OK` or `FAILED`. */
  readonly status: Uint8Array;
  /** The value or the error. */
  readonly outcomes: unknown[];
}

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
  // Per branch, its outcome and whether it is in: the result records are built once the join
  // is decided (`summarise`), so that thousands of in-flight branches do not each hold one.
  const tally: Tally = { status: new Uint8Array(total), outcomes: new Array(total) };
  const counts = { successes: 0, failures: 0 };
  const scope: BranchScope = {
    state,
    resources: run.def.resources,
    workflowId: run.workflowId,
    runId: run.runId,
    split: run.currentSplit,
    event: run.currentEvent,
    parent: run.signal,
  };
  const links = branches.map(() => new BranchContext(scope, run.data));
  const verdict = deferred<Verdict>();
  let open = true; // set to false once decided: late branch outcomes are ignored
  const gate = new Gate(join.bulkhead ?? total, (index) => {
    if (open) launch(run, state, branches[index]!, index, links[index]!, settle);
    else gate.release();
  });
  const settle = (index: number, ok: boolean, outcome: unknown): void => {
    gate.release();
    if (!open) return;
    tally.status[index] = ok ? OK : FAILED;
    tally.outcomes[index] = outcome;
    if (ok) counts.successes += 1;
    else counts.failures += 1;
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
    if (listens(run, "taskstart")) run.reporter.taskStart(run, state, branchId(branch, index));
    // With a bulkhead, branches beyond the limit wait for a permit before they start.
    gate.enter(index);
  });

  let why: Verdict;
  try {
    why = await verdict.promise;
  } catch (reason) {
    open = false;
    abortUnfinished(links, tally, reason);
    reportOuterAbort(run, state, branches, tally, reason);
    throw reason;
  } finally {
    open = false;
    timer?.clear();
    run.signal?.removeEventListener("abort", onOuterAbort);
  }
  // Built only when a branch is left to abort: an error's stack trace costs microseconds.
  if (counts.successes + counts.failures < total) {
    abortUnfinished(
      links,
      tally,
      new CancelledError("Split branch aborted: the join no longer needs it"),
    );
  }
  for (const link of links) link.dispose();
  const outcome = summarise(tally, counts);
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
 * Starts one branch and reports its outcome through `settle`. A branch with no attempt timeout,
 * breaker or rate limiter (see `callsDirectly`) has its first attempt called directly, with its
 * {@link BranchContext}: no signal, timer or retry-loop frame unless the branch reads
 * `ctx.signal` or the attempt fails, so a fan-out stays close to `Promise.all` with cano's
 * default config (retries) as with one attempt. A failure with retries left goes on in the retry
 * loop (`retryAfter`), with the branch's signal, which backoff sleeps and later attempts race.
 * Anything else goes through the retry loop from the start.
 */
function launch<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  branch: SplitBranch,
  index: number,
  link: BranchContext,
  settle: Settle,
): void {
  const { config } = branch;
  if (run.spans !== undefined) {
    return launchTraced(run, run.spans, state, branch, index, link, settle);
  }
  if (callsDirectly(config)) {
    if (config.retry.maxAttempts() === 1) return callOnce(branch, index, link, settle);
    // A branch with retries aborted before it starts takes the loop, which refuses to run it
    // (as it always did); a single attempt is called anyway (as it always was).
    if (!link.aborted()) return callRetrying(run, state, branch, index, link, settle);
  }
  const taskId = branchId(branch, index);
  runResolved(
    config,
    (info) => branch.run(contextFor(run, state, info.signal, info.attempt)),
    retryOptions(run, state, taskId, link.signal),
  ).then((value) => settle(index, true, value), (error) => settle(index, false, error));
}

/**
 * A branch of a traced run: a `cano.branch` span under the state's, and a `cano.attempt` span
 * under it for every attempt, through the retry loop (the fast paths above have no place for
 * spans; they behave the same). A branch the join no longer needs ends `cancelled`.
 */
function launchTraced<R extends ResourceMap>(
  run: Run<R>,
  spans: Spans,
  state: string,
  branch: SplitBranch,
  index: number,
  link: BranchContext,
  settle: Settle,
): void {
  const taskId = branchId(branch, index);
  const span = spans.start({
    kind: "branch",
    workflow: run.def.name,
    runId: run.runId,
    workflowId: run.workflowId,
    state,
    taskId,
    branch: index,
  }, run.stateSpan);
  spans.within(span, () =>
    runResolved(
      branch.config,
      (info) =>
        tracedAttempt(
          run,
          spans,
          span,
          state,
          taskId,
          index,
          info.attempt,
          info.signal,
          () => branch.run(contextFor(run, state, info.signal, info.attempt)),
        ),
      retryOptions(run, state, taskId, link.signal),
    )).then(
      (value) => {
        spans.end(span, { failed: false, outcome: "ok" });
        settle(index, true, value);
      },
      (error) => {
        if (link.aborted()) spans.end(span, { failed: false, error, outcome: "cancelled" });
        else spans.end(span, { failed: true, error, outcome: "error" });
        settle(index, false, error);
      },
    );
}

/** How a branch reports its outcome to the split. */
type Settle = (index: number, ok: boolean, outcome: unknown) => void;

/**
 * A single-attempt branch, called directly. Its own function so that its callbacks close over
 * `index` and `settle` only: they are allocated for every branch of every split.
 */
function callOnce(branch: SplitBranch, index: number, link: BranchContext, settle: Settle): void {
  const failed = (error: unknown): void => settle(index, false, error);
  try {
    const result = branch.run(link);
    // The native `then`: a promise's own `then` could be overridden to call back twice.
    if (safeInstanceOf(result, Promise)) {
      Promise.prototype.then.call(result, (value) => settle(index, true, value), failed);
    } else {
      settle(index, true, result);
    }
  } catch (error) {
    failed(error);
  }
}

/**
 * A branch with retries whose first attempt is called directly; a failure goes on in the retry
 * loop (`retryAfter`) with the branch's signal, made then, which the backoff sleeps and the
 * later attempts race, and which the split aborts when the join no longer needs the branch.
 */
function callRetrying<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  branch: SplitBranch,
  index: number,
  link: BranchContext,
  settle: Settle,
): void {
  const succeeded = (value: unknown): void => settle(index, true, value);
  const failed = (error: unknown): void => {
    retryAfter(
      branch.config,
      (info) => branch.run(contextFor(run, state, info.signal, info.attempt)),
      retryOptions(run, state, branchId(branch, index), link.signal),
      error,
    ).then(succeeded, (final) => settle(index, false, final));
  };
  try {
    // `Promise.resolve` adopts a thenable as the retry loop's `await` does.
    Promise.prototype.then.call(Promise.resolve(branch.run(link)), succeeded, failed);
  } catch (error) {
    // Later, as in the loop: the `retry` event follows every branch's `taskstart`.
    queueMicrotask(() => failed(error));
  }
}

/** What every branch context of one split shares. */
interface BranchScope {
  readonly state: string;
  readonly resources: Resources<ResourceMap>;
  readonly workflowId: string | undefined;
  readonly runId: string;
  readonly split: SplitOutcome | undefined;
  /** The event of the wait state right before the split, if any. */
  readonly event: WaitEvent | undefined;
  /** The run's signal, which a branch's own signal follows. */
  readonly parent: AbortSignal | undefined;
}

/**
 * The context of a branch's first attempt, and the branch's abort link. The signal is created
 * only if the branch looks at it (then linked to the run's signal), or when its attempt failed
 * with retries left; aborting a branch that never needed one only records the reason. What every
 * branch of the split shares is one {@link BranchScope}, read through getters: most fan-out
 * branches thus cost one small object (data, scope, link, reason), not a controller.
 */
class BranchContext implements TaskContext<string, unknown, ResourceMap> {
  data: unknown;
  readonly #scope: BranchScope;
  #link: ReturnType<typeof childController> | undefined = undefined;
  /** Set by `abort()` before the signal exists: why. */
  #abort: { readonly reason: unknown } | undefined = undefined;

  constructor(scope: BranchScope, data: unknown) {
    this.#scope = scope;
    this.data = data;
  }

  get state(): string {
    return this.#scope.state;
  }

  get resources(): Resources<ResourceMap> {
    return this.#scope.resources;
  }

  get attempt(): number {
    return 1;
  }

  get workflowId(): string | undefined {
    return this.#scope.workflowId;
  }

  get runId(): string {
    return this.#scope.runId;
  }

  get split(): SplitOutcome | undefined {
    return this.#scope.split;
  }

  get event(): WaitEvent | undefined {
    return this.#scope.event;
  }

  get signal(): AbortSignal {
    if (this.#link === undefined) {
      // Made after the abort (a late retry, or a late read): it need not follow the run's signal,
      // and no listener is left on that one after the split.
      const aborted = this.#abort;
      this.#link = childController(aborted === undefined ? this.#scope.parent : undefined);
      if (aborted !== undefined) this.#link.controller.abort(aborted.reason);
    }
    return this.#link.controller.signal;
  }

  /** Whether the branch was aborted (by the split, or through the run's signal). */
  aborted(): boolean {
    return this.#abort !== undefined || this.#link?.controller.signal.aborted === true ||
      this.#scope.parent?.aborted === true;
  }

  abort(reason: unknown): void {
    if (this.#link !== undefined) {
      if (!this.#link.controller.signal.aborted) this.#link.controller.abort(reason);
    } else if (this.#abort === undefined) {
      this.#abort = { reason };
    }
  }

  dispose(): void {
    this.#link?.dispose();
  }
}

/** Aborts the branches still running; finished ones keep their signal untouched. */
function abortUnfinished(links: BranchContext[], tally: Tally, reason: unknown): void {
  links.forEach((link, index) => {
    if (tally.status[index] === PENDING) link.abort(reason);
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

/** The join's outcome: one result record per branch, and the values in branch order. */
function summarise(tally: Tally, counts: { successes: number; failures: number }): SplitOutcome {
  const { status, outcomes } = tally;
  const results: BranchResult[] = new Array(status.length);
  const values: unknown[] = new Array(counts.successes);
  let next = 0;
  for (let index = 0; index < status.length; index++) {
    const code = status[index];
    if (code === OK) {
      results[index] = { index, status: "ok", value: outcomes[index] };
      values[next++] = outcomes[index];
    } else if (code === FAILED) {
      results[index] = { index, status: "error", error: outcomes[index] };
    } else {
      results[index] = { index, status: "cancelled" };
    }
  }
  return {
    results,
    values,
    successes: counts.successes,
    failures: counts.failures,
    cancelled: status.length - counts.successes - counts.failures,
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
      run.reporter.taskSuccess(run, state, taskId);
    } else if (result.status === "error" && failures) {
      run.reporter.taskFailure(run, state, taskId, result.error);
    }
  }
}

/** On outer cancellation or total timeout every unfinished branch gets a synthetic failure. */
function reportOuterAbort<R extends ResourceMap>(
  run: Run<R>,
  state: string,
  branches: SplitEntry["branches"],
  tally: Tally,
  reason: unknown,
): void {
  if (!listens(run, "taskfailure")) return;
  const error = run.cancel?.aborted ? cancelledError(reason) : run.timedOut ?? reason;
  branches.forEach((branch, index) => {
    if (tally.status[index] !== PENDING) return;
    run.reporter.taskFailure(run, state, branchId(branch, index), error);
  });
}

/** A branch's task id in events: its name and index, `name[index]` (cano's format). */
function branchId(branch: SplitBranch, index: number): string {
  return `${branch.name}[${index}]`;
}

/**
 * A counting semaphore over branch indices: at most `size` started and not yet settled. Branches
 * enter in index order (0, 1, 2, … from the split's loop), so the waiting ones are always the
 * range from `#next` to `#entered`: two counters, no queue to allocate.
 */
class Gate {
  #free: number;
  #start: (index: number) => void;
  /** How many branches entered. */
  #entered = 0;
  /** The next branch to start. */
  #next = 0;

  constructor(size: number, start: (index: number) => void) {
    this.#free = size;
    this.#start = start;
  }

  /** Starts branch `index` (the next in order) now if a permit is free, else when one is. */
  enter(index: number): void {
    this.#entered = index + 1;
    if (this.#free > 0) {
      this.#free -= 1;
      this.#next = index + 1; // first: a branch that settles at once releases re-entrantly
      this.#start(index);
    }
  }

  /** Returns a permit: the next waiting branch starts with it. */
  release(): void {
    if (this.#next < this.#entered) this.#start(this.#next++);
    else this.#free += 1;
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
