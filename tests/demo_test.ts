// Runs examples/demo.ts (what `deno task demo` runs) as its own process, with the task's flags, and
// checks that what it shows happened: the child was SIGKILLed inside "reserve", another process
// resumed the run and finished it without charging twice, and the second order rolled back.

import assert from "node:assert/strict";
import { runExample } from "./_run_example.ts";

/** The permissions the `demo` task in deno.json gives. */
const TASK_FLAGS = ["--allow-read", "--allow-write", "--allow-run"];

interface Line {
  process: "child" | "parent";
  pid: number;
  state: string;
  attempt: string;
  what: string;
}

/** The demo's timeline rows: `  0.16s  child 11005   charge     1  charged 42 EUR (…)`. */
function timeline(out: string): Line[] {
  const rows: Line[] = [];
  for (const text of out.split("\n")) {
    const row = /^ +\d+\.\d\ds {2}(child|parent) (\d+) +(\S+) +(\d+|·) {2}(.*)$/.exec(text);
    if (row === null) continue;
    const [, process, pid, state = "", attempt = "", what = ""] = row;
    rows.push({ process: process as Line["process"], pid: Number(pid), state, attempt, what });
  }
  return rows;
}

/** The index of the first row from `from` on that matches, failing with the whole output. */
function expectRow(
  rows: Line[],
  from: number,
  expected: Partial<Omit<Line, "what">> & { what: RegExp },
): number {
  const found = rows.findIndex((row, i) =>
    i >= from && expected.what.test(row.what) &&
    Object.entries(expected).every(([key, value]) =>
      key === "what" || row[key as keyof Line] === value
    )
  );
  assert.ok(
    found >= 0,
    `no row ${
      JSON.stringify({ ...expected, what: String(expected.what) })
    } after row ${from} in:\n${rows.map((row) => JSON.stringify(row)).join("\n")}`,
  );
  return found + 1;
}

Deno.test("examples/demo.ts survives a SIGKILL inside reserve and rolls a failed order back", async () => {
  const out = await runExample("demo", TASK_FLAGS);
  const summary = /^demo ok: (\{.*\})$/m.exec(out);
  assert.ok(summary !== null, `no summary line in:\n${out}`);
  const result = JSON.parse(summary[1]!);
  assert.equal(result.killed.signal, "SIGKILL");
  assert.equal(result.killed.state, "reserve");
  assert.notEqual(result.killed.pid, result.resumedBy, "the run finished in another process");
  assert.deepEqual(
    [result.order1, result.order2, result.charges, result.refunds],
    ["done", "rolled back", 1, 1],
  );

  const child = { process: "child", pid: result.killed.pid } as const;
  const parent = { process: "parent", pid: result.resumedBy } as const;
  const rows = timeline(out);
  // order-1: started by the child, killed inside reserve, resumed and finished by the parent.
  let at = expectRow(rows, 0, { ...child, state: "validate", what: /to Berlin: valid/ });
  at = expectRow(rows, at, { ...child, state: "charge", attempt: "1", what: /^charged 42 EUR/ });
  at = expectRow(rows, at, { ...child, state: "reserve", what: /^reserving/ });
  at = expectRow(rows, at, { ...parent, what: new RegExp(`^SIGKILL → child ${child.pid} `) });
  at = expectRow(rows, at, {
    ...parent,
    state: "reserve",
    what: new RegExp(`^KV file: running in "reserve", owner deno-${child.pid}-\\S+ \\(dead\\)`),
  });
  at = expectRow(rows, at, { ...parent, what: /^recovery sweep: order-1's lease ran out/ });
  at = expectRow(rows, at, { ...parent, state: "reserve", what: /^resumed at checkpoint #3/ });
  at = expectRow(rows, at, { ...parent, state: "reserve", what: /^reserved 2 × widget/ });
  at = expectRow(rows, at, { ...parent, state: "ship", what: /^shipped to Berlin/ });
  at = expectRow(rows, at, { ...parent, state: "done", what: /^finished in "done"/ });
  const order1 = rows.slice(0, at);
  assert.equal(order1.filter((row) => /^charged/.test(row.what)).length, 1, "charged once");
  assert.equal(order1.filter((row) => /: valid$/.test(row.what)).length, 1, "validated once");
  assert.ok(
    order1.slice(order1.findIndex((row) => /^SIGKILL/.test(row.what))).every((row) =>
      row.process === "parent"
    ),
    "nothing came from the child after its SIGKILL",
  );

  // order-2: ship is tried three times, then the completed steps are undone, newest first.
  at = expectRow(rows, at, { ...parent, state: "charge", what: /^charged 19 EUR/ });
  for (const attempt of ["1", "2", "3"]) {
    at = expectRow(rows, at, { ...parent, state: "ship", attempt, what: /^courier: no route/ });
  }
  at = expectRow(rows, at, {
    ...parent,
    state: "reserve",
    what: /^rollback: released rsv_order-2/,
  });
  at = expectRow(rows, at, { ...parent, state: "charge", what: /^rollback: refunded 19 EUR/ });
  expectRow(rows, at, { ...parent, what: /^run failed, rolled back/ });
  assert.equal(rows.filter((row) => /^shipped/.test(row.what)).length, 1, "order-2 never shipped");

  assert.match(out, /stateDiagram-v2\n(.*\n)*\s+charge --> reserve\n(.*\n)*\s+ship --> done/);
  // The KV file's temp folder is gone.
  const folder = /on the Deno KV file (\S+)\/orders\.sqlite3/.exec(out)?.[1];
  assert.ok(folder !== undefined, `no KV path in:\n${out}`);
  await assert.rejects(Deno.stat(folder), Deno.errors.NotFound);
});

Deno.test("examples/demo.ts exits non-zero and removes its temp folder when the crash cannot happen", async () => {
  // Without --allow-run the child cannot be started: nothing the demo shows can happen.
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-read", "--allow-write", "examples/demo.ts"],
    cwd: new URL("../", import.meta.url),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(output.stdout);
  const errors = new TextDecoder().decode(output.stderr);
  assert.notEqual(output.code, 0, `the demo succeeded without --allow-run:\n${out}`);
  assert.match(errors, /run access|NotCapable|--allow-run/);
  assert.doesNotMatch(out, /^demo ok/m);
  const folder = /on the Deno KV file (\S+)\/orders\.sqlite3/.exec(out)?.[1];
  assert.ok(folder !== undefined, `no KV path in:\n${out}\n${errors}`);
  await assert.rejects(Deno.stat(folder), Deno.errors.NotFound);
});
