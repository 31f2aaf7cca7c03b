/**
 * Safe description of any value. A task, listener or resource hook may throw anything: a string,
 * `undefined`, a Symbol, an object without a prototype, an object whose `toString` or `message`
 * getter throws, even a `Proxy` whose every trap throws (so that `instanceof` throws too). The
 * helpers here turn such a value into text without ever throwing themselves: every property read
 * and every `instanceof` is guarded, and descriptions are capped at
 * {@link MAX_DESCRIPTION_LENGTH} characters so that a 10 MB string never ends up in a message.
 *
 * @module
 */

/**
 * The longest description the helpers of this module return, in UTF-16 code units (a longer text
 * is cut there and ends with a short `… [n more characters]` note).
 *
 * @example Descriptions are capped
 * ```ts
 * import { MAX_DESCRIPTION_LENGTH, safeString } from "./describe.ts";
 * import assert from "node:assert/strict";
 *
 * const text = safeString("z".repeat(MAX_DESCRIPTION_LENGTH + 500));
 * assert.ok(text.startsWith("z".repeat(MAX_DESCRIPTION_LENGTH)));
 * assert.ok(text.endsWith("… [500 more characters]"));
 * ```
 */
export const MAX_DESCRIPTION_LENGTH = 2_000;

/** Returned when a value cannot be turned into text at all (e.g. a revoked `Proxy`). */
const UNPRINTABLE = "[unprintable value]";

/**
 * A JSON-safe summary of a thrown value, as recorded in checkpoint logs and events: only strings.
 *
 * @example A summary survives a JSON round-trip
 * ```ts
 * import { type ErrorSummary, summarizeError } from "./describe.ts";
 * import assert from "node:assert/strict";
 *
 * const summary: ErrorSummary = summarizeError(new RangeError("too far"));
 * assert.deepEqual(JSON.parse(JSON.stringify(summary)), { name: "RangeError", message: "too far" });
 * ```
 */
export interface ErrorSummary {
  /** The error's `name` (`"Error"` when it has none that can be read). */
  name: string;
  /** The error's message, or a description of the value when it is not an error. */
  message: string;
  /** The value's `category`, when it has a string one (every `CanoError` has). */
  category?: string;
}

/**
 * `value instanceof ctor`, or `false` when the check itself throws (a `Proxy` whose
 * `getPrototypeOf` trap throws, a revoked `Proxy`, a `Symbol.hasInstance` that throws).
 *
 * @typeParam T The instance type.
 * @param value Any value.
 * @param ctor The class to test against.
 * @returns Whether `value` is an instance of `ctor`; never throws.
 *
 * @example Test a value that makes `instanceof` throw
 * ```ts
 * import { safeInstanceOf } from "./describe.ts";
 * import assert from "node:assert/strict";
 *
 * const hostile = new Proxy({}, {
 *   getPrototypeOf() {
 *     throw new Error("no prototype for you");
 *   },
 * });
 * assert.equal(safeInstanceOf(hostile, Error), false);
 * assert.equal(safeInstanceOf(new TypeError("x"), Error), true);
 * ```
 */
export function safeInstanceOf<T>(
  value: unknown,
  // deno-lint-ignore no-explicit-any
  ctor: abstract new (...args: any[]) => T,
): value is T {
  try {
    return value instanceof ctor;
  } catch {
    return false;
  }
}

/**
 * Best-effort text for any value, never throwing: an `Error` as `Name: message`, a string as it
 * is, a Symbol as `Symbol(description)`, other primitives as `String()` gives them, and any other
 * object through a guarded `String()` falling back to `[object Object]`-style tags and finally to
 * `[unprintable value]`. The result is capped at {@link MAX_DESCRIPTION_LENGTH} characters.
 *
 * @param value Any value, typically something that was thrown.
 * @returns A description of at most {@link MAX_DESCRIPTION_LENGTH} characters (plus a short
 * truncation note).
 *
 * @example Describe hostile values
 * ```ts
 * import { safeString } from "./describe.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(safeString(new TypeError("bad input")), "TypeError: bad input");
 * assert.equal(safeString(Object.create(null)), "[object Object]");
 * assert.equal(safeString(Symbol("oops")), "Symbol(oops)");
 * assert.equal(safeString(undefined), "undefined");
 * const { proxy, revoke } = Proxy.revocable({}, {});
 * revoke();
 * assert.equal(safeString(proxy), "[unprintable value]");
 * assert.ok(safeString("x".repeat(10_000_000)).length < 2_100);
 * ```
 */
export function safeString(value: unknown): string {
  return cap(describe(value));
}

/**
 * A plain, JSON-safe `{ name, message, category? }` summary of any thrown value, never throwing:
 * the form in which errors are recorded in checkpoint logs and events. `name` defaults to
 * `"Error"`, `message` is the error's message (or a description of a non-error value) and
 * `category` is kept only when the value has a string one. Every field is capped at
 * {@link MAX_DESCRIPTION_LENGTH} characters.
 *
 * @param value Any value, typically something that was thrown.
 * @returns The summary; its fields are always strings.
 *
 * @example Summarise errors for a log
 * ```ts
 * import { summarizeError } from "./describe.ts";
 * import { TimeoutError } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(summarizeError(new TimeoutError("slow")), {
 *   name: "TimeoutError",
 *   message: "slow",
 *   category: "timeout",
 * });
 * assert.deepEqual(summarizeError("boom"), { name: "Error", message: "boom" });
 * assert.deepEqual(summarizeError(Object.create(null)), {
 *   name: "Error",
 *   message: "[object Object]",
 * });
 * ```
 */
export function summarizeError(value: unknown): ErrorSummary {
  const name = readString(value, "name");
  const category = readString(value, "category");
  const summary: ErrorSummary = {
    name: name === undefined || name.length === 0 ? "Error" : cap(name),
    message: describeMessage(value),
  };
  if (category !== undefined) summary.category = cap(category);
  return summary;
}

/**
 * The message of any value, never throwing: an `Error`'s `message` when it can be read as a
 * string, else {@link safeString}'s description of the value. Capped like {@link safeString}.
 *
 * @param value Any value.
 * @returns The message.
 *
 * @example Messages of errors and non-errors
 * ```ts
 * import { describeMessage } from "./describe.ts";
 * import assert from "node:assert/strict";
 *
 * assert.equal(describeMessage(new Error("boom")), "boom");
 * assert.equal(describeMessage(42n), "42");
 * const broken = Object.defineProperty(new Error(), "message", {
 *   get() {
 *     throw new Error("no message");
 *   },
 * });
 * assert.equal(describeMessage(broken), "Error: [unreadable message]");
 * ```
 */
export function describeMessage(value: unknown): string {
  if (isError(value)) {
    const message = readString(value, "message");
    if (message !== undefined) return cap(message);
  } else {
    // Error-like objects (`{ message }`, errors of another realm) keep their message too.
    const message = isObject(value) ? readString(value, "message") : undefined;
    if (message !== undefined) return cap(message);
  }
  return safeString(value);
}

function describe(value: unknown): string {
  switch (typeof value) {
    case "string":
      return value;
    case "symbol":
      // String() of a Symbol never consults its prototype, so it cannot throw.
      return String(value);
    case "object":
    case "function":
      if (value === null) return "null";
      return isError(value) ? describeError(value) : describeObject(value);
    default:
      // undefined, booleans, numbers, bigints: String() uses no user code for these.
      return String(value);
  }
}

/** `Name: message` as `Error.prototype.toString` builds it, but from guarded reads. */
function describeError(error: object): string {
  const name = readString(error, "name") ?? "Error";
  let message: string;
  try {
    const raw: unknown = (error as { message?: unknown }).message;
    message = raw === undefined ? "" : typeof raw === "string" ? raw : describePrimitive(raw);
  } catch {
    message = "[unreadable message]";
  }
  if (name.length === 0) return message;
  if (message.length === 0) return name;
  return `${name}: ${message}`;
}

function describeObject(value: object): string {
  try {
    return String(value);
  } catch {
    // No usable toString / Symbol.toPrimitive: the built-in tag, e.g. "[object Object]".
  }
  try {
    return Object.prototype.toString.call(value);
  } catch {
    return UNPRINTABLE;
  }
}

/** A non-string property value, described without calling any user code. */
function describePrimitive(value: unknown): string {
  if (typeof value === "object" || typeof value === "function") {
    return value === null ? "null" : UNPRINTABLE;
  }
  return String(value);
}

function isObject(value: unknown): value is object {
  return (typeof value === "object" && value !== null) || typeof value === "function";
}

function isError(value: unknown): value is Error {
  if (!isObject(value)) return false;
  try {
    // Error.isError also recognises errors of other realms and never runs user code.
    const native = (Error as { isError?: (value: unknown) => boolean }).isError;
    if (typeof native === "function" && native(value)) return true;
  } catch {
    // fall through to instanceof
  }
  return safeInstanceOf(value, Error);
}

/** A string property of any value, or `undefined` when absent, not a string, or unreadable. */
function readString(value: unknown, key: string): string | undefined {
  if (!isObject(value)) return undefined;
  try {
    const raw: unknown = (value as Record<string, unknown>)[key];
    return typeof raw === "string" ? raw : undefined;
  } catch {
    return undefined;
  }
}

/** Caps `text` at the maximum length without splitting a surrogate pair. */
function cap(text: string): string {
  if (text.length <= MAX_DESCRIPTION_LENGTH) return text;
  let end = MAX_DESCRIPTION_LENGTH;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1; // a high surrogate: keep the pair together
  return `${text.slice(0, end)}… [${text.length - end} more characters]`;
}
