// `logTo()`: structured log lines, one per lifecycle point of a workflow's runs (or a scheduler's
// flows), at cano's TracingObserver levels (spec §10.2), to a console-like sink. Off unless
// attached; a point below the chosen level costs one comparison.

import { categoryOf, ConfigurationError, messageOf } from "../errors.ts";
import { readOptions } from "../options.ts";
import type { FlowEndInit, FlowErrorOperation, FlowRunSource } from "../scheduler/events.ts";
import type { FlowInfo, FlowStatus } from "../scheduler/flow_info.ts";
import type { FlowSkipReason } from "../coordination/shared_flow.ts";
import type { CanoError } from "../errors.ts";
import {
  type FlowObserver,
  type OwnershipChange,
  type RunObserver,
  type RunScope,
  shown,
} from "./consumer.ts";
import { type Attachment, attachment } from "./attachment.ts";
import { attachToParts, targetParts } from "./targets.ts";

/**
 * A log level, from the most verbose.
 *
 * @example Only warnings and errors
 * ```ts
 * import { type LogLevel, logTo, Workflow } from "@cano/cano";
 *
 * const level: LogLevel = "warn";
 * const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
 * logTo(workflow, console, { level }).detach();
 * ```
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * Where {@link logTo} writes: one method per level, each taking one line (`console` is one).
 *
 * @example Collect lines in memory
 * ```ts
 * import type { LogSink } from "@cano/cano";
 *
 * const lines: string[] = [];
 * const sink: LogSink = {
 *   debug: (line) => lines.push(line),
 *   info: (line) => lines.push(line),
 *   warn: (line) => lines.push(line),
 *   error: (line) => lines.push(line),
 * };
 * sink.info("cano level=info event=run_start");
 * ```
 */
export interface LogSink {
  /** Writes a `debug` line. */
  debug(line: string): void;
  /** Writes an `info` line. */
  info(line: string): void;
  /** Writes a `warn` line. */
  warn(line: string): void;
  /** Writes an `error` line. */
  error(line: string): void;
}

/** Options of {@link logTo}. */
export interface LogToOptions {
  /**
   * The least level written: `"info"` leaves out state entries, task starts and checkpoints.
   *
   * @default {"debug"} every lifecycle point
   */
  level?: LogLevel;
  /**
   * `"text"`: `cano level=info event=task_success workflow=orders state=charge …` (logfmt);
   * `"json"`: one JSON object per line, with the same fields.
   *
   * @default {"text"}
   */
  format?: "text" | "json";
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

type Fields = Record<string, string | number | boolean | undefined>;

/** A value as logfmt writes it: bare when it can be, else quoted with JSON escapes. */
function logfmtValue(value: string | number | boolean): string {
  const text = String(value);
  return text !== "" && /^[^\s"=\\]+$/.test(text) ? text : JSON.stringify(text);
}

/** One line per point, formatted, filtered by level and written to the sink. */
class LineWriter implements RunObserver, FlowObserver {
  readonly #sink: LogSink;
  readonly #least: number;
  readonly #json: boolean;

  constructor(sink: LogSink, level: LogLevel, json: boolean) {
    this.#sink = sink;
    this.#least = RANK[level];
    this.#json = json;
  }

  /** Whether lines of `level` are written (checked before a line's fields are gathered). */
  #on(level: LogLevel): boolean {
    return RANK[level] >= this.#least;
  }

  #write(level: LogLevel, event: string, fields: () => Fields): void {
    if (!this.#on(level)) return;
    const all: Fields = { level, event, ...fields() };
    let line: string;
    if (this.#json) {
      line = JSON.stringify({ logger: "cano", ...all });
    } else {
      line = "cano";
      for (const [key, value] of Object.entries(all)) {
        if (value !== undefined) line += ` ${key}=${logfmtValue(value)}`;
      }
    }
    this.#sink[level](line);
  }

  #run(run: RunScope, more: Fields): Fields {
    return { workflow: run.def.name, run_id: run.runId, workflow_id: run.workflowId, ...more };
  }

  #error(error: unknown): Fields {
    return { error: messageOf(error), category: categoryOf(error) };
  }

  runStart(run: RunScope, initial: string): void {
    this.#write("info", "run_start", () => this.#run(run, { state: initial }));
  }

  runEnd(run: RunScope, state: string | undefined, error: unknown): void {
    if (state !== undefined) this.#write("info", "run_end", () => this.#run(run, { state }));
    else this.#write("error", "run_end", () => this.#run(run, this.#error(error)));
  }

  runParked(run: RunScope, state: string): void {
    this.#write("info", "run_parked", () => this.#run(run, { state }));
  }

  stateEnter(run: RunScope, state: string): void {
    if (!this.#on("debug")) return; // the hot points: not even the closure
    this.#write("debug", "state_enter", () => this.#run(run, { state }));
  }

  taskStart(run: RunScope, state: string, taskId: string): void {
    if (!this.#on("debug")) return; // the hot points: not even the closure
    this.#write("debug", "task_start", () => this.#run(run, { state, task: taskId }));
  }

  taskSuccess(run: RunScope, state: string, taskId: string): void {
    if (!this.#on("info")) return; // the hot points: not even the closure
    this.#write("info", "task_success", () => this.#run(run, { state, task: taskId }));
  }

  taskFailure(run: RunScope, state: string, taskId: string, error: unknown): void {
    this.#write(
      "error",
      "task_failure",
      () => this.#run(run, { state, task: taskId, ...this.#error(error) }),
    );
  }

  retry(
    run: RunScope,
    state: string,
    taskId: string,
    attempt: number,
    delay: number,
    error: unknown,
  ): void {
    this.#write("warn", "retry", () =>
      this.#run(run, {
        state,
        task: taskId,
        attempt,
        delay_ms: delay,
        ...this.#error(error),
      }));
  }

  circuitOpen(run: RunScope, state: string, taskId: string): void {
    this.#write("warn", "circuit_open", () => this.#run(run, { state, task: taskId }));
  }

  checkpoint(run: RunScope, sequence: number): void {
    if (!this.#on("debug")) return; // the hot points: not even the closure
    this.#write("debug", "checkpoint", () => this.#run(run, { sequence }));
  }

  resume(run: RunScope, sequence: number): void {
    this.#write("info", "resume", () => this.#run(run, { sequence }));
  }

  workflowTimeout(run: RunScope, elapsed: number, limit: number): void {
    this.#write(
      "warn",
      "workflow_timeout",
      () => this.#run(run, { elapsed_ms: elapsed, limit_ms: limit }),
    );
  }

  cancelled(run: RunScope, state: string): void {
    this.#write("warn", "cancelled", () => this.#run(run, { state }));
  }

  checkpointClearFailed(run: RunScope, error: unknown): void {
    this.#write("warn", "checkpoint_clear_failed", () => this.#run(run, this.#error(error)));
  }

  unknownResumeState(run: RunScope, sequence: number, state: string): void {
    this.#write("warn", "unknown_resume_state", () => this.#run(run, { sequence, state }));
  }

  compensate(run: RunScope, taskId: string, ok: boolean, error: unknown): void {
    if (ok) this.#write("info", "compensate", () => this.#run(run, { task: taskId, ok }));
    else {
      this.#write(
        "error",
        "compensate",
        () => this.#run(run, { task: taskId, ok, ...this.#error(error) }),
      );
    }
  }

  ownership(run: RunScope, change: OwnershipChange): void {
    this.#write(
      change === "lost" ? "warn" : "debug",
      change === "lost" ? "ownership_lost" : "ownership_claimed",
      () => this.#run(run, {}),
    );
  }

  flowStart(
    id: string,
    source: FlowRunSource,
    runCount: number,
    scheduledAt: Date | undefined,
  ): void {
    this.#write("info", "flow_start", () => ({
      flow: id,
      source,
      run_count: runCount,
      due: scheduledAt?.toISOString(),
    }));
  }

  flowEnd(id: string, end: FlowEndInit): void {
    const level = end.outcome === "failed"
      ? "error"
      : end.outcome === "cancelled"
      ? "warn"
      : "info";
    this.#write(level, "flow_end", () => ({
      flow: id,
      outcome: end.outcome,
      duration_ms: end.duration,
      state: end.state,
      ...(end.outcome === "failed" ? this.#error(end.error) : {}),
    }));
  }

  flowSkip(id: string, scheduledAt: Date, reason: FlowSkipReason): void {
    this.#write("debug", "flow_skip", () => ({
      flow: id,
      due: scheduledAt.toISOString(),
      reason,
    }));
  }

  flowError(id: string, operation: FlowErrorOperation, error: CanoError): void {
    this.#write("error", "flow_error", () => ({ flow: id, operation, ...this.#error(error) }));
  }

  flowStatus(info: FlowInfo, previous: FlowStatus): void {
    this.#write(info.status === "tripped" ? "warn" : "debug", "flow_status", () => ({
      flow: info.id,
      status: info.status,
      previous,
    }));
  }
}

function checkSink(value: unknown): LogSink {
  for (const level of ["debug", "info", "warn", "error"] as const) {
    let method: unknown;
    try {
      method = (value as Partial<LogSink> | null | undefined)?.[level];
    } catch {
      method = undefined; // a hostile getter: refused like a missing method
    }
    if (typeof method !== "function") {
      throw new ConfigurationError(
        `logTo sink must have debug, info, warn and error methods (console does), received ${
          shown(value)
        }`,
      );
    }
  }
  return value as LogSink;
}

/**
 * Writes one structured line per lifecycle point of `target`'s runs — a `Workflow`, or a
 * `Scheduler` / `RunningScheduler` (its flows' workflows, those registered later included, and its
 * flow events) — to `sink`, at cano's levels: state entries, task starts and checkpoints at
 * `debug`; run starts and ends, task successes, resumes and compensations at `info`; retries,
 * circuit rejections, timeouts, cancellations and lost ownership at `warn`; failures at
 * `error`. Off unless attached: detach the result (or `using`) to stop. Lines look like
 * `cano level=warn event=retry workflow=orders run_id=… state=charge task=charge attempt=1
 * delay_ms=100 error="card declined" category=task_execution`.
 *
 * @param target A Workflow, a Scheduler or a RunningScheduler.
 * @param sink Where lines go: `debug`, `info`, `warn`, `error` methods.
 * @param options The least level and the format.
 * @returns The attachment: `detach()` (or `using`) stops the lines.
 * @throws {ConfigurationError} When `target` is none of those, `sink` lacks a method, or an
 * option is invalid.
 *
 * @example Log a run's points at info and above
 * ```ts
 * import { logTo, Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const workflow = new Workflow<"charge" | "done">({ name: "checkout" })
 *   .register("charge", () => "done")
 *   .addExitState("done");
 * const lines: string[] = [];
 * const sink = { debug: (l: string) => lines.push(l), info: (l: string) => lines.push(l),
 *   warn: (l: string) => lines.push(l), error: (l: string) => lines.push(l) };
 * using _log = logTo(workflow, sink, { level: "info" });
 * await workflow.orchestrate("charge");
 * assert.deepEqual(lines.map((line) => line.split(" ").slice(1, 3).join(" ")), [
 *   "level=info event=run_start",
 *   "level=info event=task_success",
 *   "level=info event=run_end",
 * ]);
 * ```
 *
 * @example Everything, to the console
 * ```ts
 * import { logTo, Workflow } from "@cano/cano";
 *
 * const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
 * const log = logTo(workflow, console);
 * log.detach(); // (a doc test keeps quiet)
 * await workflow.orchestrate("go");
 * ```
 */
export function logTo(
  target: unknown,
  sink: LogSink = console,
  options: LogToOptions = {},
): Attachment {
  const parts = targetParts(target, "logTo");
  const checked = checkSink(sink);
  const given = readOptions<LogToOptions>(options, "logTo options", ["level", "format"]);
  const level = given.level ?? "debug";
  if (!Object.hasOwn(RANK, level)) {
    throw new ConfigurationError(
      `logTo option level must be "debug", "info", "warn" or "error", received ${shown(level)}`,
    );
  }
  const format = given.format ?? "text";
  if (format !== "text" && format !== "json") {
    throw new ConfigurationError(
      `logTo option format must be "text" or "json", received ${shown(format)}`,
    );
  }
  const writer = new LineWriter(checked, level, format === "json");
  return attachment(attachToParts(parts, { runs: writer, flows: writer }));
}
