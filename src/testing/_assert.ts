// Private helpers shared by the testing kit's assertions.

/** -1 when equal, else the first index where they differ (including a length mismatch). */
export function firstDifference(a: readonly string[], b: readonly string[]): number {
  const length = Math.max(a.length, b.length);
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** Renders a list of labels as `["a", "b"]`. */
export function format(values: readonly string[]): string {
  return JSON.stringify(values);
}

/** An `Error` named `AssertionError`, as `node:assert` throws. */
export function assertionError(message: string): Error {
  const error = new Error(message);
  error.name = "AssertionError";
  return error;
}
