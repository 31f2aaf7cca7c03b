// The lockfile holds the runtime dependencies only. `deno task` installs every npm package the
// lockfile names before it runs any task, so a dev-only package in it (a test's or a benchmark's
// inline `npm:` import) would be downloaded by a new user's first `deno task demo`. Test and bench
// tasks therefore run with `--no-lock`; this test catches a lockfile written without it.

import assert from "node:assert/strict";

/** The packages the published entrypoints import (deno.json "imports"). */
const RUNTIME = ["@opentelemetry/api", "croner"];

Deno.test("deno.lock names only the runtime npm dependencies", async () => {
  const lock = JSON.parse(await Deno.readTextFile(new URL("../deno.lock", import.meta.url)));
  const names = (keys: string[]): string[] =>
    [...new Set(keys.map((key) => key.replace(/^npm:/, "").replace(/@[^@]*$/, "")))].sort();
  const fix = "regenerate it: rm deno.lock && deno cache mod.ts kv.ts scheduler.ts testing.ts " +
    "otel.ts admin.ts examples/*.ts (and run tests with --no-lock, as deno task test does)";
  assert.deepEqual(names(Object.keys(lock.specifiers ?? {})), RUNTIME, `deno.lock: ${fix}`);
  assert.deepEqual(names(Object.keys(lock.npm ?? {})), RUNTIME, `deno.lock: ${fix}`);
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  const imports = Object.values(config.imports as Record<string, string>);
  assert.deepEqual(names(imports.filter((spec) => spec.startsWith("npm:"))), RUNTIME);
  for (const [name, command] of Object.entries(config.tasks as Record<string, string>)) {
    if (/^deno (test|bench|check)\b|bench\//.test(command) || / deno check /.test(command)) {
      assert.match(command, /--no-lock/, `task ${name} must run with --no-lock: ${command}`);
    }
  }
});
