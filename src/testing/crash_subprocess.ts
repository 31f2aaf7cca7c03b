// Crash injection across processes, for end-to-end tests: the child wraps its store so that it
// halts (prints a marker, then blocks without a single further write) right after checkpoint k,
// and the parent runs the child, waits for the marker and SIGKILLs it — a real crash, at a known
// point, with nothing left to chance or timing. Nothing hangs: every wait has a deadline.

import { safeString } from "../describe.ts";
import { CanoError, ConfigurationError, messageOf } from "../errors.ts";
import { readOptions } from "../options.ts";
import type { RunInfo, RunStore } from "../recovery/checkpoint.ts";
import { type CrashFilter, CrashingStore, type CrashPoint } from "./crash.ts";
import { checkEnv, checkK, checkMs, checkRunStore, strings } from "./crash_checks.ts";

/** The environment variable {@link runAndKill} sets to `at` for {@link haltAfterCheckpoint}. */
export const HALT_AFTER_ENV = "CANO_HALT_AFTER";

/** The start of the line {@link haltAfterCheckpoint} prints when it halts (then a JSON `CrashPoint`). */
export const HALT_MARKER = "cano:halted";

/** Options of {@link haltAfterCheckpoint}. */
export interface HaltOptions extends CrashFilter {
  /**
   * How long a halted process blocks before exiting with code 3 on its own, in milliseconds — a
   * safety net so that a child whose parent died never lingers.
   *
   * @default {60_000}
   */
  maxHaltMs?: number | undefined;
}

/**
 * For the child process of an end-to-end crash test: wraps `store` so that right after the
 * `k`-th checkpoint row is committed (counted as {@link CrashingStore} counts), the process prints
 * `cano:halted <CrashPoint JSON>` to stdout and blocks its only thread — no timer, heartbeat or
 * write runs again — until the parent SIGKILLs it. `k` defaults to the `CANO_HALT_AFTER`
 * environment variable ({@link runAndKill} sets it from `at`); with neither, the store only passes
 * through, so the same worker module also serves the run that resumes.
 *
 * @param store The child's `RunStore` (typically a `KvCheckpointStore` on a file the parent shares).
 * @param k How many checkpoint rows to commit before halting (a positive integer).
 * @param options Which rows count, and the safety exit.
 * @returns The store to pass to `withCheckpointStore`.
 * @throws {ConfigurationError} When `store` is not a `RunStore`, `k` (or `CANO_HALT_AFTER`) is not
 * a positive integer, the variable cannot be read, or an option is invalid.
 *
 * @example A worker module that halts where its parent says
 * ```ts
 * import { haltAfterCheckpoint, InMemoryCheckpointStore } from "@cano/cano/testing";
 * import { Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * // In a real worker: a KvCheckpointStore on the file the parent passed. Without k and without
 * // CANO_HALT_AFTER (the resuming run), the store simply passes through.
 * const store = haltAfterCheckpoint(new InMemoryCheckpointStore());
 * const workflow = new Workflow<"go" | "done">()
 *   .register("go", () => "done")
 *   .addExitState("done")
 *   .withCheckpointStore(store);
 * assert.equal((await workflow.orchestrate("go", { id: "job-1" })).state, "done");
 * assert.equal(store.crashed, false);
 * ```
 */
export function haltAfterCheckpoint(
  store: RunStore,
  k?: number,
  options: HaltOptions = {},
): CrashingStore {
  const read = readOptions<HaltOptions>(options, "haltAfterCheckpoint options", [
    "kinds",
    "id",
    "maxHaltMs",
  ]);
  checkRunStore(store, "haltAfterCheckpoint");
  const after = checkK(k, "haltAfterCheckpoint k") ?? haltFromEnv();
  const maxHaltMs = checkMs(read.maxHaltMs ?? 60_000, "haltAfterCheckpoint maxHaltMs");
  return new CrashingStore(store, {
    kinds: read.kinds,
    id: read.id,
    after,
    onCrash: (point) => halt(point, maxHaltMs),
  });
}

/** `CANO_HALT_AFTER` as a count, `undefined` when unset. */
function haltFromEnv(): number | undefined {
  let text: string | undefined;
  try {
    text = Deno.env.get(HALT_AFTER_ENV);
  } catch (error) {
    throw new ConfigurationError(
      `haltAfterCheckpoint could not read ${HALT_AFTER_ENV} (${messageOf(error)}); run the ` +
        `worker with --allow-env=${HALT_AFTER_ENV}, or pass k`,
      { cause: error },
    );
  }
  if (text === undefined || text === "") return undefined;
  return checkK(Number(text), `${HALT_AFTER_ENV} (${JSON.stringify(text)})`);
}

/** Prints the marker, then blocks the thread: the process is frozen until it is killed. */
function halt(point: CrashPoint, maxHaltMs: number): never {
  // console.log writes to stdout synchronously: the line is out before the thread blocks.
  console.log(`${HALT_MARKER} ${JSON.stringify(point)}`);
  const cell = new Int32Array(new SharedArrayBuffer(4));
  // Counted in real one-second waits, not read from a clock: a fake clock in the worker (which
  // may replace Date and performance.now) must not stretch or shrink the safety net.
  for (let waited = 0; waited < maxHaltMs; waited += 1_000) {
    Atomics.wait(cell, 0, 0, Math.min(1_000, maxHaltMs - waited));
  }
  Deno.exit(3);
}

/** Options of {@link runAndKill}. */
export interface RunAndKillOptions {
  /** The worker module: a path (relative to `cwd`) or a URL. */
  module: string | URL;
  /** Arguments after the module (`Deno.args` in the worker). */
  args?: readonly string[] | undefined;
  /**
   * When to kill: a number k sets `CANO_HALT_AFTER=k` for the worker's
   * {@link haltAfterCheckpoint} and kills at its `cano:halted` line; a function kills at the first
   * stdout line it accepts (for a worker that prints its own markers, e.g. from inside a task).
   */
  at: number | ((line: string) => boolean);
  /**
   * How long the whole child may take until it is killed and has exited, in milliseconds; past
   * it the child is SIGKILLed and the call rejects with {@link CrashHarnessError}.
   *
   * @default {30_000}
   */
  timeoutMs?: number | undefined;
  /**
   * The `deno run` flags before the module.
   *
   * @default {["-A", "--unstable-kv"]}
   */
  flags?: readonly string[] | undefined;
  /** Extra environment variables for the child (the parent's environment is inherited). */
  env?: Readonly<Record<string, string>> | undefined;
  /** The child's working directory. Default: the parent's. */
  cwd?: string | URL | undefined;
}

/** How a child killed by {@link runAndKill} ended. */
export interface KilledChild {
  /** The child's process id. */
  readonly pid: number;
  /** Its exit code (`137` or similar after SIGKILL, by platform). */
  readonly code: number;
  /** The signal that ended it: `"SIGKILL"`, unless it exited on its own right after the line. */
  readonly signal: Deno.Signal | null;
  /** The stdout line the child was killed at. */
  readonly line: string;
  /** The crash point of a `cano:halted` line, `undefined` for a line of the worker's own. */
  readonly point: CrashPoint | undefined;
  /** Every stdout line, in order. */
  readonly stdout: readonly string[];
  /** Everything the child wrote to stderr. */
  readonly stderr: string;
}

/**
 * A crash harness wait that could not end as asked: {@link runAndKill}'s child ran past the
 * timeout (category `"timeout"`) or exited before printing the line (category `"generic"`: the
 * worker failed, or wrote fewer rows than `at`) — the message then ends with the tail of its
 * stderr — or {@link waitUntilClaimable} found the run still held at its timeout (`"timeout"`).
 *
 * @example Read why a child was not killed
 * ```ts
 * import { CrashHarnessError } from "@cano/cano/testing";
 * import assert from "node:assert/strict";
 *
 * const error = new CrashHarnessError("exited", "worker.ts exited with code 1", [], "boom");
 * assert.equal(error.category, "generic");
 * assert.match(error.message, /stderr: boom/);
 * ```
 */
export class CrashHarnessError extends CanoError {
  /** `timeout`, `exited`, or `spawn` (the child could not be started: see `cause`). */
  readonly reason: "timeout" | "exited" | "spawn";
  /** The child's stdout lines (empty when no child was involved). */
  readonly stdout: readonly string[];
  /** The child's stderr (`""` when no child was involved). */
  readonly stderr: string;

  /**
   * Creates the error.
   *
   * @param reason What went wrong.
   * @param message What happened, naming the module or run.
   * @param stdout The child's stdout lines.
   * @param stderr The child's stderr; its tail is appended to the message when given.
   * @param options The underlying error, as `cause`.
   */
  constructor(
    reason: "timeout" | "exited" | "spawn",
    message: string,
    stdout: readonly string[] = [],
    stderr?: string,
    options?: { cause?: unknown },
  ) {
    const tail = stderr === undefined
      ? ""
      : `; stderr: ${
        stderr.trim() === ""
          ? "(empty)"
          : stderr.length > 2_000
          ? `…${stderr.slice(-2_000)}`
          : stderr
      }`;
    super(`${message}${tail}`, {
      category: reason === "timeout" ? "timeout" : "generic",
      ...(options === undefined ? {} : { cause: options.cause }),
    });
    this.name = "CrashHarnessError";
    this.reason = reason;
    this.stdout = stdout;
    this.stderr = stderr ?? "";
  }
}

/**
 * Runs a worker module in a subprocess (`deno run -A --unstable-kv <module> <args…>`) and
 * SIGKILLs it at the chosen point: after the worker's {@link haltAfterCheckpoint} store committed
 * checkpoint `at`, or at the first stdout line `at` accepts. Resolves once the child is dead and
 * its output is in. Pair it with {@link waitUntilClaimable} to resume the run in the parent.
 *
 * @param options The module, its arguments, the kill point and the timeout.
 * @returns How the child ended.
 * @throws {CrashHarnessError} When the child exits before the point, or the timeout passes.
 * @throws {ConfigurationError} When an option is invalid.
 *
 * @example Kill a worker after its second checkpoint, resume the run here
 * ```ts
 * import { runAndKill, waitUntilClaimable } from "@cano/cano/testing";
 * import { KvCheckpointStore } from "@cano/cano/kv";
 * import { Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const module = `${dir}/worker.ts`;
 * await Deno.writeTextFile(module, `
 *   import { haltAfterCheckpoint } from "${import.meta.resolve("@cano/cano/testing")}";
 *   import { KvCheckpointStore } from "${import.meta.resolve("@cano/cano/kv")}";
 *   import { Workflow } from "${import.meta.resolve("@cano/cano")}";
 *   const kv = await Deno.openKv(Deno.args[0]);
 *   const store = haltAfterCheckpoint(new KvCheckpointStore(kv, { leaseMs: 300 }));
 *   await new Workflow({ name: "job" })
 *     .register("a", () => "b").register("b", () => "c").register("c", () => "done")
 *     .addExitState("done").withCheckpointStore(store)
 *     .orchestrate("a", { id: "job-1" });
 * `);
 * const child = await runAndKill({ module, args: [`${dir}/runs.kv`], at: 2 });
 * assert.equal(child.signal, "SIGKILL");
 * assert.equal(child.point?.last?.state, "b");
 *
 * const kv = await Deno.openKv(`${dir}/runs.kv`);
 * const store = new KvCheckpointStore(kv, { leaseMs: 300 });
 * await waitUntilClaimable(store, "job-1"); // the dead child's lease runs out
 * const job = new Workflow<"a" | "b" | "c" | "done">({ name: "job" })
 *   .register("a", () => "b").register("b", () => "c").register("c", () => "done")
 *   .addExitState("done").withCheckpointStore(store);
 * assert.deepEqual((await job.resumeFrom("job-1")).path, ["a", "b", "c", "done"]);
 * kv.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function runAndKill(options: RunAndKillOptions): Promise<KilledChild> {
  const checked = checkRunOptions(options);
  const env: Record<string, string> = { ...checked.env };
  if (typeof checked.at === "number") env[HALT_AFTER_ENV] = String(checked.at);
  const matches = typeof checked.at === "number"
    ? (line: string) => line.startsWith(`${HALT_MARKER} `)
    : checked.at;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...checked.flags, checked.module, ...checked.args],
      env,
      ...(checked.cwd === undefined ? {} : { cwd: checked.cwd }),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (error) {
    // e.g. NotCapable without --allow-run, or a cwd that does not exist.
    throw new CrashHarnessError(
      "spawn",
      `runAndKill could not start ${checked.module} (${messageOf(error)}); the test needs ` +
        "--allow-run (and --allow-read for the module)",
      [],
      undefined,
      { cause: error },
    );
  }
  const kill = (): void => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
  };
  let timedOut = false;
  // The deadline covers everything, a child that ignores its stdout being closed included.
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, checked.timeoutMs);
  const stderr = new Response(child.stderr).text().catch((error) => String(error));
  const stdout: string[] = [];
  let line: string | undefined;
  let failure: unknown;
  try {
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(splitLines());
    for await (const text of lines) {
      stdout.push(text);
      if (line !== undefined || failure !== undefined) continue;
      try {
        if (matches(text)) {
          line = text;
          kill();
        }
      } catch (error) {
        // A throwing `at`: kill the child anyway and report the error once it is gone.
        failure = error;
        kill();
      }
    }
  } finally {
    await child.status;
    clearTimeout(timer);
  }
  const status = await child.status;
  const errors = await stderr;
  if (failure !== undefined) throw failure;
  const name = safeString(checked.module);
  if (line === undefined) {
    if (timedOut) {
      throw new CrashHarnessError(
        "timeout",
        `runAndKill: ${name} did not reach the kill point within ${checked.timeoutMs} ms; it ` +
          "was killed",
        stdout,
        errors,
      );
    }
    throw new CrashHarnessError(
      "exited",
      `runAndKill: ${name} exited with code ${status.code} before the kill point${
        typeof checked.at === "number"
          ? ` (no "${HALT_MARKER}" line: did the worker wrap its store with ` +
            `haltAfterCheckpoint, and write ${checked.at} checkpoint rows?)`
          : " (no stdout line matched at)"
      }`,
      stdout,
      errors,
    );
  }
  return {
    pid: child.pid,
    code: status.code,
    signal: status.signal,
    line,
    point: pointOf(line),
    stdout,
    stderr: errors,
  };
}

/**
 * Waits until run `id` can be claimed: it has no record, nobody holds it, or its lease is over —
 * after a SIGKILL, the dead process holds the run until its lease expires. Reads the record, then
 * sleeps (on the global `setTimeout`) until its `leaseUntil` and reads again.
 *
 * @param store The store the run is in.
 * @param id The run id.
 * @param options How long to wait at most (default 30 s).
 * @returns The run's record when claimable, `undefined` when it has none.
 * @throws {CrashHarnessError} When the run is still held after `timeoutMs`.
 * @throws {ConfigurationError} When an argument is invalid.
 *
 * @example Wait for a lease that is already over
 * ```ts
 * import { InMemoryCheckpointStore, waitUntilClaimable } from "@cano/cano/testing";
 * import assert from "node:assert/strict";
 *
 * assert.equal(await waitUntilClaimable(new InMemoryCheckpointStore(), "nobody"), undefined);
 * ```
 */
export async function waitUntilClaimable(
  store: RunStore,
  id: string,
  options: { timeoutMs?: number | undefined } = {},
): Promise<RunInfo | undefined> {
  checkRunStore(store, "waitUntilClaimable");
  if (typeof id !== "string" || id.length === 0) {
    throw new ConfigurationError(
      `waitUntilClaimable needs a run id as a non-empty string, received ${safeString(id)}`,
    );
  }
  const read = readOptions<{ timeoutMs: number }>(options, "waitUntilClaimable options", [
    "timeoutMs",
  ]);
  const timeoutMs = checkMs(read.timeoutMs ?? 30_000, "waitUntilClaimable timeoutMs");
  const until = Date.now() + timeoutMs;
  for (;;) {
    const run = await store.getRun(id);
    const now = Date.now();
    if (run === undefined || run.owner === undefined || run.leaseUntil.getTime() <= now) {
      return run;
    }
    if (now >= until) {
      throw new CrashHarnessError(
        "timeout",
        `waitUntilClaimable: run "${id}" is still held by ${run.owner} until ` +
          `${run.leaseUntil.toISOString()} after ${timeoutMs} ms; is its owner alive, or its ` +
          "leaseMs longer than the timeout?",
      );
    }
    const wait = Math.min(until, run.leaseUntil.getTime()) - now + 1;
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

interface CheckedRun {
  module: string;
  args: string[];
  at: number | ((line: string) => boolean);
  timeoutMs: number;
  flags: string[];
  env: Record<string, string>;
  cwd: string | URL | undefined;
}

function checkRunOptions(options: RunAndKillOptions): CheckedRun {
  const read = readOptions<RunAndKillOptions>(options, "runAndKill options", [
    "module",
    "args",
    "at",
    "timeoutMs",
    "flags",
    "env",
    "cwd",
  ]);
  const { module, at } = read;
  let specifier: string;
  if (module instanceof URL) specifier = module.href;
  else if (typeof module === "string" && module.length > 0) specifier = module;
  else {
    throw new ConfigurationError(
      `runAndKill needs module as a path or URL of the worker to run, received ${
        safeString(module)
      }; e.g. new URL("./worker.ts", import.meta.url)`,
    );
  }
  if (typeof at !== "function") {
    checkK(at, "runAndKill at");
    if (at === undefined) {
      throw new ConfigurationError(
        "runAndKill needs at: a checkpoint count for the worker's haltAfterCheckpoint (e.g. " +
          "at: 2), or a function that picks the stdout line to kill at",
      );
    }
  }
  return {
    module: specifier,
    args: strings(read.args ?? [], "args"),
    at: at as CheckedRun["at"],
    timeoutMs: checkMs(read.timeoutMs ?? 30_000, "runAndKill timeoutMs"),
    flags: strings(read.flags ?? ["-A", "--unstable-kv"], "flags"),
    env: checkEnv(read.env),
    cwd: read.cwd,
  };
}

/** The crash point of a halt marker line. */
function pointOf(line: string): CrashPoint | undefined {
  if (!line.startsWith(`${HALT_MARKER} `)) return undefined;
  try {
    return JSON.parse(line.slice(HALT_MARKER.length + 1)) as CrashPoint;
  } catch {
    return undefined;
  }
}

/** Splits a text stream into lines (the last one without its newline). */
function splitLines(): TransformStream<string, string> {
  let buffer = "";
  return new TransformStream({
    transform(chunk, controller): void {
      buffer += chunk;
      const parts = buffer.split("\n");
      buffer = parts.pop() ?? "";
      for (const part of parts) controller.enqueue(part.endsWith("\r") ? part.slice(0, -1) : part);
    },
    flush(controller): void {
      if (buffer !== "") controller.enqueue(buffer);
    },
  });
}
