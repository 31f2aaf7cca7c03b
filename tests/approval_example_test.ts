// Runs examples/approval.ts's demo as its own process (as examples_test.ts does for the others) and
// checks its timeline: a run started and parked here, approved from a second process, finished by
// a sweep here; a second run started by another process with a short deadline, expired here.

import assert from "node:assert/strict";
import { runExample } from "./_run_example.ts";

/** The demo's timeline, in order; each line is stamped `[ 0.23 s] `. */
const TIMELINE = [
  /start expense-1 \(120 EUR\): waiting for approved \| rejected until \d{4}-\d\d-\d\dT/,
  /second process › approved expense-1: delivered/,
  /expense-1 → pay: paid 120 EUR, approved by maria/,
  /finish: expense-1 completed/,
  /status expense-1: no record \(finished, or never started\)/,
  /second process › start expense-2 \(80 EUR\): waiting for approved \| rejected until /,
  /status expense-2: waiting in await_manager for approved \| rejected until \S+, due now/,
  /expense-2 → expire: no decision in time \(event: none\)/,
  /finish: expense-2 completed/,
  /status expense-2: no record \(finished, or never started\)/,
];

Deno.test("examples/approval.ts parks an expense, approves it from a second process and lets another expire", async () => {
  const out = await runExample("approval", [
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-run",
  ]);
  const stamped = out.split("\n").filter((line) => /^\[ *\d+\.\d\d s\] /.test(line));
  let at = 0;
  for (const expected of TIMELINE) {
    const found = stamped.findIndex((line, i) => i >= at && expected.test(line));
    assert.ok(found >= 0, `timeline line ${expected} (after line ${at}) missing in:\n${out}`);
    at = found + 1;
  }
  assert.equal(out.match(/→ pay/g)?.length, 1, "paid once");
  assert.equal(out.match(/→ expire/g)?.length, 1, "expired once");
  // The 300 ms deadline set by the process that started expense-2 was kept: it expired seconds
  // after its start here, with the 48-hour definition, not 48 hours later.
  const seconds = (pattern: RegExp): number => {
    const line = stamped.find((text) => pattern.test(text)) ?? "";
    return Number(/^\[ *(\d+\.\d\d) s\]/.exec(line)?.[1]);
  };
  const waited = seconds(/→ expire/) - seconds(/second process › start expense-2/);
  assert.ok(waited < 10, `expired ${waited} s after its start, not hours`);
});
