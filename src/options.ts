// Reading an options object the user passed, field by field: a missing object is `{}`, anything
// but an object is refused, and a field whose read throws (a hostile getter or Proxy) becomes a
// ConfigurationError naming it — so validation never lets an untyped error escape.

import { safeString } from "./describe.ts";
import { ConfigurationError, messageOf } from "./errors.ts";

/**
 * The listed fields of an options object (`undefined` fields left out).
 *
 * @param value The options, as passed.
 * @param what How the options are named in messages, e.g. `"orchestrate options"`.
 * @param keys The fields to read.
 * @returns A plain copy holding those fields.
 * @throws {ConfigurationError} When `value` is not an object, or a field cannot be read.
 */
export function readOptions<T extends object>(
  value: unknown,
  what: string,
  keys: readonly (keyof T & string)[],
): Partial<T> {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null) {
    throw new ConfigurationError(`${what} must be an object, received ${safeString(value)}`);
  }
  const copy: Partial<T> = {};
  for (const key of keys) {
    let field: unknown;
    try {
      field = (value as Record<string, unknown>)[key];
    } catch (error) {
      throw new ConfigurationError(`${what}: ${key} could not be read (${messageOf(error)})`, {
        cause: error,
      });
    }
    if (field !== undefined) copy[key] = field as T[keyof T & string];
  }
  return copy;
}
