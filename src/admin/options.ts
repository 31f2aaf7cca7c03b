// The options of the admin console (`adminHandler`, `serveAdmin`) and the one place they are
// checked: every bad value is a ConfigurationError naming the option (a token is described by its
// length only, never echoed: it is a secret).

import { safeInstanceOf, safeString } from "../describe.ts";
import { CanoError, ConfigurationError, messageOf } from "../errors.ts";
import { readOptions } from "../options.ts";
import type { CheckpointStore, RunStore } from "../recovery/checkpoint.ts";
import { runStoreFor } from "../recovery/local_leases.ts";
import { CircuitBreaker } from "../resilience/circuit_breaker.ts";
import type { MeterStatus } from "../resilience/rate_limiter.ts";
import type { RunningScheduler } from "../scheduler/running.ts";
import type { ResourceMap } from "../task/task.ts";
import { type Workflow, workflowIdentity } from "../workflow/workflow.ts";

/**
 * A value for a message: a string in double quotes (cut at 200 characters), anything else as
 * `safeString` describes it.
 *
 * @param value Any value.
 * @returns The text.
 */
export function quote(value: unknown): string {
  if (typeof value !== "string") return safeString(value);
  return JSON.stringify(value.length <= 200 ? value : `${value.slice(0, 200)}…`);
}

/**
 * Any workflow, whatever its states, data and resources (the console's `workflows`).
 *
 * @example A list of different workflows
 * ```ts
 * import type { AdminWorkflow } from "@cano/cano/admin";
 * import { MemoryCheckpointStore, Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryCheckpointStore();
 * const workflows: AdminWorkflow[] = [
 *   new Workflow<"a" | "done">({ name: "one" }).register("a", () => "done").addExitState("done")
 *     .withCheckpointStore(store),
 *   new Workflow<"b" | "end", { n: number }>({ name: "two" }).register("b", () => "end")
 *     .addExitState("end").withCheckpointStore(store),
 * ];
 * assert.equal(workflows.length, 2);
 * ```
 */
// deno-lint-ignore no-explicit-any
export type AdminWorkflow = Workflow<any, any, any>;

/**
 * A rate limiter the console shows: a meter with `snapshot()` (`RateLimiter`,
 * `WindowedRateLimiter`) or a `MultiRateLimiter` (its tiers).
 *
 * @example Limiters of each kind
 * ```ts
 * import type { AdminLimiter } from "@cano/cano/admin";
 * import { MultiRateLimiter, RateLimiter } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const limiters: Record<string, AdminLimiter> = {
 *   api: RateLimiter.perSecond(10),
 *   partner: new MultiRateLimiter().withTier("second", RateLimiter.perSecond(5)),
 * };
 * assert.equal(Object.keys(limiters).length, 2);
 * ```
 */
export type AdminLimiter =
  | { snapshot(): MeterStatus }
  | {
    readonly tiers: readonly {
      readonly name: string;
      readonly meter: { snapshot(): MeterStatus };
    }[];
  };

/**
 * Options of `adminHandler`.
 *
 * @example A read-only console that hides run data
 * ```ts
 * import { adminHandler, type AdminOptions } from "@cano/cano/admin";
 * import { MemoryCheckpointStore } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const options: AdminOptions = {
 *   store: new MemoryCheckpointStore(),
 *   hideData: true,
 *   readOnly: true,
 *   basePath: "/admin",
 * };
 * await using handler = adminHandler(options);
 * const info = await (await handler(new Request("http://127.0.0.1/admin/api/info"))).json();
 * assert.equal(info.readOnly, true);
 * ```
 */
export interface AdminOptions {
  /**
   * The store the runs live in: the same store object the workflows were given
   * (`KvCheckpointStore`, `MemoryCheckpointStore` or any `RunStore`).
   */
  store: CheckpointStore;
  /**
   * The definitions the console may resume and retry runs with and draws graphs from, matched
   * to runs by name and version (each a named workflow checkpointing to `store`; one definition
   * per name and version). The console also listens to their events, so the timeline of a run
   * executed in this process shows when each row was written, retries and compensations.
   *
   * @default {[]}
   */
  workflows?: readonly AdminWorkflow[] | undefined;
  /**
   * A started scheduler whose flows the console shows and can trigger, reset and cancel.
   *
   * @default {undefined}
   */
  scheduler?: RunningScheduler | undefined;
  /**
   * A shared secret (16 to 512 printable ASCII characters, no spaces). Without it the console
   * serves loopback clients only (and only under a loopback `Host`, which stops DNS-rebinding
   * pages); with it every request must carry it, as `Authorization: Bearer <token>` or as the
   * session cookie the login page sets, and any address may be served.
   *
   * @default {undefined}
   */
  token?: string | undefined;
  /**
   * Leaves run data out of every answer: row snapshots, outputs (compensation outputs, cursors,
   * rollback plans) and event payloads. Ids, states, statuses and errors are still shown.
   *
   * @default {false}
   */
  hideData?: boolean | undefined;
  /**
   * Refuses every action (cancel, resume, retry, events, flow trigger / reset / cancel): a
   * console that only looks.
   *
   * @default {false}
   */
  readOnly?: boolean | undefined;
  /**
   * Circuit breakers to show, by name.
   *
   * @default {{}}
   */
  breakers?: Readonly<Record<string, CircuitBreaker>> | undefined;
  /**
   * Rate limiters to show, by name.
   *
   * @default {{}}
   */
  limiters?: Readonly<Record<string, AdminLimiter>> | undefined;
  /**
   * Where the console is mounted, e.g. `"/admin"` (starts with `/`, no trailing `/`): requests
   * outside it get a 404, and the page calls its API under it.
   *
   * @default {""}
   */
  basePath?: string | undefined;
  /**
   * The page's title.
   *
   * @default {"cano admin"}
   */
  title?: string | undefined;
  /**
   * How often the page refreshes while "live" is on, in milliseconds (500 to 60,000).
   *
   * @default {2_000}
   */
  refreshMs?: number | undefined;
}

/**
 * Options of `serveAdmin`: those of `adminHandler`, plus where to listen.
 *
 * @example Stop the server with a signal
 * ```ts
 * import { serveAdmin, type ServeAdminOptions } from "@cano/cano/admin";
 * import { MemoryCheckpointStore } from "@cano/cano";
 *
 * const controller = new AbortController();
 * const options: ServeAdminOptions = { store: new MemoryCheckpointStore(), port: 0, signal: controller.signal };
 * const server = serveAdmin(options);
 * controller.abort();
 * await server.finished;
 * ```
 */
export interface ServeAdminOptions extends AdminOptions {
  /**
   * The address to listen on. A non-loopback address (`"0.0.0.0"`, a LAN address) requires a
   * `token`.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string | undefined;
  /**
   * The port (0 to 65,535; 0 lets the system pick a free one, read it from `url`).
   *
   * @default {0}
   */
  port?: number | undefined;
  /**
   * Shuts the server down when aborted (like `shutdown()`).
   *
   * @default {undefined}
   */
  signal?: AbortSignal | undefined;
}

/** {@link AdminOptions}, checked, with every default applied. */
export interface CheckedAdminOptions {
  readonly store: RunStore;
  readonly workflows: readonly AdminWorkflow[];
  readonly scheduler: RunningScheduler | undefined;
  readonly token: string | undefined;
  readonly hideData: boolean;
  readonly readOnly: boolean;
  readonly breakers: ReadonlyMap<string, CircuitBreaker>;
  readonly limiters: ReadonlyMap<string, AdminLimiter>;
  readonly basePath: string;
  readonly title: string;
  readonly refreshMs: number;
}

const ADMIN_KEYS = [
  "store",
  "workflows",
  "scheduler",
  "token",
  "hideData",
  "readOnly",
  "breakers",
  "limiters",
  "basePath",
  "title",
  "refreshMs",
] as const;

const TOKEN = /^[\x21-\x7e]{16,512}$/;
const BASE_PATH = /^(\/[A-Za-z0-9._~-]+)*$/;
const SCHEDULER_METHODS = ["list", "status", "trigger", "resetFlow", "cancelFlow"] as const;

/**
 * Checks the console's options, naming the first bad value; whatever a hostile value throws
 * comes out as a ConfigurationError.
 *
 * @param given The options, as passed.
 * @param what How the caller is named in messages (`"adminHandler"`, `"serveAdmin"`).
 * @returns The options, checked.
 */
export function checkAdminOptions(given: AdminOptions, what: string): CheckedAdminOptions {
  try {
    return check(given, what);
  } catch (error) {
    if (safeInstanceOf(error, CanoError)) throw error;
    throw new ConfigurationError(`${what} options could not be read: ${messageOf(error)}`, {
      cause: error,
    });
  }
}

function check(given: AdminOptions, what: string): CheckedAdminOptions {
  if (given === undefined) {
    throw new ConfigurationError(`${what} needs options with a store: ${what}({ store })`);
  }
  const options = readOptions<AdminOptions>(given, `${what} options`, ADMIN_KEYS);
  const raw = options.store;
  if (typeof raw !== "object" || raw === null || typeof raw.append !== "function") {
    throw new ConfigurationError(
      `${what} store must be a checkpoint store, received ${quote(raw)}`,
    );
  }
  const store = runStoreFor(raw);
  return {
    store,
    workflows: checkWorkflows(options.workflows, store, what),
    scheduler: checkScheduler(options.scheduler, what),
    token: checkToken(options.token, what),
    hideData: checkFlag(options.hideData, "hideData", what),
    readOnly: checkFlag(options.readOnly, "readOnly", what),
    breakers: checkNamed(
      options.breakers,
      "breakers",
      what,
      (value) => safeInstanceOf(value, CircuitBreaker) ? undefined : "a CircuitBreaker",
    ),
    limiters: checkNamed(options.limiters, "limiters", what, limiterProblem),
    basePath: checkBasePath(options.basePath, what),
    title: checkTitle(options.title, what),
    refreshMs: checkRefresh(options.refreshMs, what),
  };
}

function checkWorkflows(
  value: unknown,
  store: RunStore,
  what: string,
): readonly AdminWorkflow[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw new ConfigurationError(
      `${what} workflows must be an array of workflows, received ${quote(value)}`,
    );
  }
  const seen = new Set<string>();
  for (const workflow of value) {
    let identity: ReturnType<typeof workflowIdentity>;
    try {
      identity = workflowIdentity(workflow as Workflow<string, never, ResourceMap>);
    } catch {
      throw new ConfigurationError(
        `${what} workflows must be Workflow instances, received ${quote(workflow)}`,
      );
    }
    const { name, version, store: own } = identity;
    if (name === "") {
      throw new ConfigurationError(
        `${what} needs named workflows (runs are matched to definitions by name): create each ` +
          'with new Workflow({ name: "…" })',
      );
    }
    if (own !== store) {
      throw new ConfigurationError(
        `Workflow "${name}" given to ${what} does not checkpoint to the store given to it; call ` +
          "withCheckpointStore(store) with that same store object",
      );
    }
    const key = `${version}\u0000${name}`;
    if (seen.has(key)) {
      throw new ConfigurationError(
        `${what} was given two definitions of workflow "${name}" version ${version}`,
      );
    }
    seen.add(key);
  }
  return [...value];
}

function checkScheduler(value: unknown, what: string): RunningScheduler | undefined {
  if (value === undefined) return undefined;
  const candidate = value as Partial<Record<string, unknown>> | null;
  if (
    typeof candidate !== "object" || candidate === null ||
    !SCHEDULER_METHODS.every((method) => typeof candidate[method] === "function")
  ) {
    throw new ConfigurationError(
      `${what} scheduler must be a started scheduler (await scheduler.start()), received ${
        quote(value)
      }`,
    );
  }
  return value as RunningScheduler;
}

function checkToken(value: unknown, what: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") {
    throw new ConfigurationError(`${what} token must be a string, received ${quote(value)}`);
  }
  if (!TOKEN.test(value)) {
    // The token is a secret: describe it, never echo it.
    throw new ConfigurationError(
      `${what} token must be 16 to 512 printable ASCII characters without spaces, received a ` +
        `string of ${value.length} characters${/[^\x21-\x7e]/.test(value) ? " with others" : ""}`,
    );
  }
  return value;
}

function checkFlag(value: unknown, name: string, what: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") {
    throw new ConfigurationError(
      `${what} ${name} must be a boolean, received ${quote(value)}`,
    );
  }
  return value;
}

function checkNamed<T>(
  value: unknown,
  name: string,
  what: string,
  problem: (value: unknown) => string | undefined,
): ReadonlyMap<string, T> {
  const found = new Map<string, T>();
  if (value === undefined) return found;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigurationError(
      `${what} ${name} must be an object of name → instance, received ${quote(value)}`,
    );
  }
  for (const [key, entry] of Object.entries(value)) {
    const expected = problem(entry);
    if (expected !== undefined) {
      throw new ConfigurationError(
        `${what} ${name}[${JSON.stringify(key)}] must be ${expected}, received ${quote(entry)}`,
      );
    }
    found.set(key, entry as T);
  }
  return found;
}

function limiterProblem(value: unknown): string | undefined {
  const candidate = value as Partial<Record<string, unknown>> | null;
  if (typeof candidate !== "object" || candidate === null) return LIMITER;
  if (typeof candidate.snapshot === "function") return undefined;
  return Array.isArray(candidate.tiers) ? undefined : LIMITER;
}

const LIMITER = "a RateLimiter, WindowedRateLimiter or MultiRateLimiter";

function checkBasePath(value: unknown, what: string): string {
  if (value === undefined) return "";
  if (typeof value !== "string" || !BASE_PATH.test(value) || value.length > 200) {
    throw new ConfigurationError(
      `${what} basePath must be "" or a path like "/admin" (segments of letters, digits and ` +
        `._~-, no trailing slash), received ${quote(value)}`,
    );
  }
  return value;
}

function checkTitle(value: unknown, what: string): string {
  if (value === undefined) return "cano admin";
  if (typeof value !== "string" || value.length === 0 || value.length > 120) {
    throw new ConfigurationError(
      `${what} title must be a string of 1 to 120 characters, received ${quote(value)}`,
    );
  }
  return value;
}

function checkRefresh(value: unknown, what: string): number {
  if (value === undefined) return 2_000;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 500 || value > 60_000) {
    throw new ConfigurationError(
      `${what} refreshMs must be an integer from 500 to 60000, received ${quote(value)}`,
    );
  }
  return value;
}

/** The serve options (address, port, signal), checked; the console's are checked separately. */
export function checkServeOptions(
  given: ServeAdminOptions,
  token: string | undefined,
): { hostname: string; port: number; signal: AbortSignal | undefined } {
  const options = readOptions<ServeAdminOptions>(given, "serveAdmin options", [
    "hostname",
    "port",
    "signal",
  ]);
  const hostname = options.hostname ?? "127.0.0.1";
  if (typeof hostname !== "string" || hostname.length === 0 || hostname.length > 255) {
    throw new ConfigurationError(
      `serveAdmin hostname must be a non-empty string, received ${quote(hostname)}`,
    );
  }
  if (token === undefined && !isLoopbackHost(hostname)) {
    throw new ConfigurationError(
      `serveAdmin hostname ${
        quote(hostname)
      } is not a loopback address: set token to serve the console beyond this machine, or ` +
        'listen on "127.0.0.1"',
    );
  }
  const port = options.port ?? 0;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new ConfigurationError(
      `serveAdmin port must be an integer from 0 to 65535, received ${quote(port)}`,
    );
  }
  const signal = options.signal;
  if (signal !== undefined && !safeInstanceOf(signal, AbortSignal)) {
    throw new ConfigurationError(
      `serveAdmin signal must be an AbortSignal, received ${quote(signal)}`,
    );
  }
  return { hostname, port, signal };
}

/**
 * Whether a host name or address is this machine's loopback: `localhost` (and `*.localhost`),
 * `127.0.0.0/8`, `::1` (bracketed or not). `0.0.0.0` and `::` listen on every interface: no.
 *
 * @param host A host name or address, without a port.
 * @returns Whether it is loopback.
 */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, "");
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  if (name === "::1" || name === "[::1]") return true;
  const v4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(name);
  if (v4 !== null) return v4.slice(1).every((part) => Number(part) <= 255);
  const mapped = /^\[?::ffff:(127\.\d{1,3}\.\d{1,3}\.\d{1,3})\]?$/.exec(name);
  return mapped !== null && isLoopbackHost(mapped[1]!);
}
