// The command-line options the comparison scripts share: how many timed runs, how many warm-up
// runs, how many transitions per run, and whether to print every run.

import { parseArgs } from "node:util";

/** The checked options. */
export interface RunOptions {
  readonly runs: number;
  readonly warmup: number;
  readonly transitions: number;
  readonly verbose: boolean;
}

/** Parses `--runs`, `--warmup`, `--transitions` (even, ≥ 2) and `--verbose` from `Deno.args`. */
export function runOptions(
  defaults: { runs: number; warmup: number; transitions: number },
): RunOptions {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      runs: { type: "string", default: String(defaults.runs) },
      warmup: { type: "string", default: String(defaults.warmup) },
      transitions: { type: "string", default: String(defaults.transitions) },
      verbose: { type: "boolean", default: false },
    },
  });
  const runs = Number(values.runs);
  const warmup = Number(values.warmup);
  const transitions = Number(values.transitions);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new Error(`--runs must be an integer ≥ 1, received ${values.runs}`);
  }
  if (!Number.isInteger(warmup) || warmup < 0) {
    throw new Error(`--warmup must be an integer ≥ 0, received ${values.warmup}`);
  }
  if (!Number.isInteger(transitions) || transitions < 2 || transitions % 2 !== 0) {
    throw new Error(`--transitions must be an even integer ≥ 2, received ${values.transitions}`);
  }
  return { runs, warmup, transitions, verbose: values.verbose };
}
