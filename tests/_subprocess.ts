// Test helpers for the multi-process tests: a child's stdout, line by line, and the worker side's
// config, safety timeout and KV opening.

/** Splits a text stream into lines (the last one without its newline). */
export function splitLines(): TransformStream<string, string> {
  let buffer = "";
  return new TransformStream({
    transform(chunk, controller) {
      buffer += chunk;
      const parts = buffer.split("\n");
      buffer = parts.pop() ?? "";
      for (const part of parts) controller.enqueue(part);
    },
    flush(controller) {
      if (buffer) controller.enqueue(buffer);
    },
  });
}

/**
 * Opens a KV file, retrying the transient `database is locked` SQLite can report while another
 * process opens or writes the same file at that moment (opening is not covered by a store's lock
 * retries): up to `attempts` times, waiting `wait(attempt)` ms after each failed one.
 */
export async function openKvRetrying(
  path: string,
  attempts = 50,
  wait: (attempt: number) => number = () => 20 + Math.random() * 30,
): Promise<Deno.Kv> {
  for (let attempt = 1;; attempt++) {
    try {
      return await Deno.openKv(path);
    } catch (error) {
      if (attempt >= attempts || !String(error).includes("database is locked")) throw error;
      await new Promise((resolve) => setTimeout(resolve, wait(attempt)));
    }
  }
}

/**
 * The config of a worker process, the JSON of its first argument; when that is not JSON it prints
 * `usage: <usage>` and exits 2.
 */
export function workerConfig<T>(usage: string): T {
  try {
    return JSON.parse(Deno.args[0] ?? "");
  } catch {
    console.error(`usage: ${usage}`);
    Deno.exit(2);
  }
}

/**
 * A worker's safety net: after `ms` (a timer that keeps nothing alive) it prints `line` and exits
 * 3, so that it never outlives a broken test.
 */
export function exitAfter(ms: number, line: string): void {
  const safety = setTimeout(() => {
    console.log(line);
    Deno.exit(3);
  }, ms);
  Deno.unrefTimer(safety);
}

/** How a {@link LineChild} ended: its stdout lines (parsed), its stderr and its status. */
export interface LineOutcome<T> {
  pid: number;
  lines: T[];
  stderr: string;
  status: Deno.CommandStatus;
}

/** How a {@link JsonLineChild} ended. */
export type JsonLineOutcome<T> = LineOutcome<T>;

/**
 * A `deno run -A --unstable-kv <script> <args…>` child whose stdout is read line by line, each
 * line made a value by `parse`. Disposing SIGKILLs it if still alive and awaits its end, so a
 * failed test never leaks a process.
 */
export class LineChild<T> implements AsyncDisposable {
  readonly pid: number;
  /** Settles once stdout, stderr and the exit status are in (rejects only if `parse` throws). */
  readonly done: Promise<LineOutcome<T>>;
  /** Every line so far, in order. */
  readonly lines: T[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #parse: (text: string) => T;
  readonly #waiters: { test: (line: T) => boolean; resolve: (line: T | undefined) => void }[] = [];
  readonly #listeners: ((line: T) => void)[] = [];
  #ended = false;
  #exited = false;
  #stdinOpen: boolean;

  constructor(
    script: string,
    args: string[],
    options: { stdin?: boolean; parse: (text: string) => T },
  ) {
    this.#stdinOpen = options.stdin === true;
    this.#parse = options.parse;
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--unstable-kv", script, ...args],
      stdin: this.#stdinOpen ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.pid = this.#child.pid;
    this.done = this.#collect();
  }

  /** Whether the process has exited. */
  get exited(): boolean {
    return this.#exited;
  }

  /** Calls `listener` on every line from now on, as it comes. */
  onLine(listener: (line: T) => void): void {
    this.#listeners.push(listener);
  }

  /** The first line matching `test` (seen already or to come); `undefined` if it never comes. */
  line(test: (line: T) => boolean): Promise<T | undefined> {
    const seen = this.lines.find(test);
    if (seen !== undefined || this.#ended) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ test, resolve }));
  }

  /** Writes `text` to the child's stdin (opened with `stdin: true`) and closes it. */
  async send(text: string): Promise<void> {
    if (!this.#stdinOpen) throw new Error(`stdin of ${this.pid} is not open`);
    this.#stdinOpen = false;
    const writer = this.#child.stdin.getWriter();
    try {
      await writer.write(new TextEncoder().encode(text));
      await writer.close();
    } catch {
      // The child died before reading: its outcome tells.
      await writer.abort().catch(() => {});
    }
  }

  /** Closes the child's stdin (a worker reading it sees the end). Idempotent. */
  async closeStdin(): Promise<void> {
    if (!this.#stdinOpen) return;
    this.#stdinOpen = false;
    await this.#child.stdin.close().catch(() => {});
  }

  /** Sends a signal, unless the process already exited. */
  kill(signal: Deno.Signal): void {
    if (this.#exited) return;
    try {
      this.#child.kill(signal);
    } catch {
      // already gone
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.kill("SIGKILL"); // also ends a stopped process
    await this.closeStdin();
    await this.done;
  }

  async #collect(): Promise<LineOutcome<T>> {
    const stderr = new Response(this.#child.stderr).text().catch((error) => String(error));
    try {
      const lines = this.#child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
        splitLines(),
      );
      for await (const text of lines) {
        const line = this.#parse(text);
        this.lines.push(line);
        for (const listener of this.#listeners) listener(line);
        for (const waiter of this.#waiters.filter((w) => w.test(line))) {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    } finally {
      this.#ended = true;
      for (const waiter of this.#waiters.splice(0)) waiter.resolve(undefined);
    }
    const status = await this.#child.status;
    this.#exited = true;
    return { pid: this.pid, lines: this.lines, stderr: await stderr, status };
  }
}

/**
 * A {@link LineChild} whose stdout is one JSON value per line (a line that is not JSON is kept as
 * `{ raw: line }`).
 */
export class JsonLineChild<T = Record<string, unknown>> extends LineChild<T> {
  constructor(script: string, args: string[], options: { stdin?: boolean } = {}) {
    super(script, args, { ...options, parse: parseJsonLine<T> });
  }
}

function parseJsonLine<T>(text: string): T {
  try {
    return JSON.parse(text);
  } catch {
    return { raw: text } as T;
  }
}
