// The console's HTTP plumbing: JSON and text answers with the security headers, a refusal type
// the routes throw (turned into its status), errors turned into statuses by their kind, and
// bounded body reading.

import { safeInstanceOf } from "../describe.ts";
import { CanoError, categoryOf, ConfigurationError, messageOf } from "../errors.ts";
import { EventRefusedError, RunExistsError, RunOwnedError } from "../recovery/run_errors.ts";
import { SECURITY_HEADERS } from "./security.ts";

/** The largest request body the console reads (an event payload is at most 16 KiB). */
const MAX_BODY_BYTES = 64 * 1024;

/** A refusal with its HTTP status, thrown by the routes. */
export class HttpError extends CanoError {
  /** The HTTP status. */
  readonly status: number;

  /**
   * Creates the refusal.
   *
   * @param status The HTTP status.
   * @param message What was refused and why.
   */
  constructor(status: number, message: string) {
    super(message, { category: status === 409 ? "conflict" : "workflow" });
    this.name = "HttpError";
    this.status = status;
  }
}

/** Headers of every answer, with a content type. */
function headers(type: string, extra: Record<string, string> = {}): Headers {
  return new Headers({ ...SECURITY_HEADERS, "content-type": type, ...extra });
}

/**
 * A JSON answer.
 *
 * @param body The value (JSON-safe).
 * @param status The status.
 * @param extra More headers.
 * @returns The response.
 */
export function json(body: unknown, status = 200, extra: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: headers("application/json; charset=utf-8", extra),
  });
}

/**
 * A text-like answer (HTML, CSS, JS) with its content type.
 *
 * @param body The text.
 * @param type The content type.
 * @param status The status.
 * @param extra More headers.
 * @returns The response.
 */
export function text(
  body: string,
  type: string,
  status = 200,
  extra: Record<string, string> = {},
): Response {
  return new Response(body, { status, headers: headers(type, extra) });
}

/**
 * The JSON answer of an error: a refusal keeps its status; other errors map by kind (bad input
 * 400, a run owned or in the wrong state 409, anything else 500), with their message.
 *
 * @param error What was thrown.
 * @returns The response.
 */
export function errorResponse(error: unknown): Response {
  const status = statusOf(error);
  const name = safeInstanceOf(error, Error) ? error.name : "Error";
  return json({ error: { name, message: messageOf(error), category: categoryOf(error) } }, status);
}

function statusOf(error: unknown): number {
  if (safeInstanceOf(error, HttpError)) return error.status;
  if (safeInstanceOf(error, ConfigurationError)) return 400;
  if (
    safeInstanceOf(error, RunOwnedError) || safeInstanceOf(error, RunExistsError) ||
    safeInstanceOf(error, EventRefusedError)
  ) return 409;
  const category = categoryOf(error);
  if (category === "conflict" || category === "workflow_version_mismatch") return 409;
  // The store refuses bad input (an id, a cursor) with a plain CheckpointStoreError; a failure of
  // the store itself (KV unreachable, locked past its budget) carries the cause it wraps.
  if (category === "checkpoint_store") return causeOf(error) === undefined ? 400 : 503;
  return 500;
}

function causeOf(error: unknown): unknown {
  try {
    return (error as { cause?: unknown }).cause;
  } catch {
    return undefined;
  }
}

/**
 * Reads a POST's JSON body (an empty body is `{}`); refuses other content types (415), a body
 * over 64 KiB (413) and JSON that is not an object (400).
 *
 * @param request The request.
 * @returns The parsed object.
 */
export async function readJsonBody(request: Request): Promise<Record<string, unknown>> {
  const type = request.headers.get("content-type");
  const length = Number(request.headers.get("content-length") ?? "0");
  if (length > MAX_BODY_BYTES) throw new HttpError(413, "Request body too large (64 KiB at most)");
  const bytes = await readBounded(request);
  if (bytes.length === 0) return {};
  if (type === null || !/^application\/json\s*(;|$)/i.test(type)) {
    throw new HttpError(415, "Send the request body as application/json");
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new HttpError(400, `Request body is not JSON: ${messageOf(error)}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new HttpError(400, "Request body must be a JSON object");
  }
  return parsed as Record<string, unknown>;
}

async function readBounded(request: Request): Promise<Uint8Array> {
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => {});
      throw new HttpError(413, "Request body too large (64 KiB at most)");
    }
    parts.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
}

/**
 * Reads a urlencoded form body (the login form), bounded like {@link readJsonBody}.
 *
 * @param request The request.
 * @returns The fields.
 */
export async function readFormBody(request: Request): Promise<URLSearchParams> {
  const bytes = await readBounded(request);
  return new URLSearchParams(new TextDecoder().decode(bytes));
}

/**
 * A string field of a JSON body: absent is `undefined`; anything but a string of at most `max`
 * characters is a 400.
 *
 * @param body The body.
 * @param name The field.
 * @param max The longest value accepted.
 * @returns The value.
 */
export function optionalString(
  body: Record<string, unknown>,
  name: string,
  max = 1_000,
): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || value.length > max) {
    throw new HttpError(400, `Field "${name}" must be a string of at most ${max} characters`);
  }
  return value;
}
