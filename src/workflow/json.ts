/** A JSON round-trip: exactly what a durable checkpoint store keeps of a value. */
export function jsonCopy(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}
