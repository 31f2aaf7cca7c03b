// Test helper: runs an example program as its own process, so examples cannot rot unnoticed.

import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);

/**
 * Runs `examples/<name>.ts` with `deno run` (plus `flags` before the file and `args` after it),
 * asserts it exits with 0, and returns its standard output.
 */
export async function runExample(
  name: string,
  flags: string[] = [],
  args: string[] = [],
): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...flags, `examples/${name}.ts`, ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `examples/${name}.ts failed:\n${stdout}\n${stderr}`);
  return stdout;
}
