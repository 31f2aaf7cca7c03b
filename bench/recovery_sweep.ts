// `deno task bench:recovery`: what a recovery sweep costs as healthy runs pile up. On a temp KV
// file, a `KvCheckpointStore` holds E expired runs (their process "died": claimed, one row, lease
// over) among H healthy ones (claimed, lease live), for H = 0, 1,000 and 10,000. Measured, with a
// counting `KvLike` for the KV reads (gets, and entries yielded by lists):
//
// 1. one `store.listExpired()` call (the page a sweep reads), median of N;
// 2. one full sweep of `startRecovery()` (`recovery.sweep()`, with a workflow whose runs finish at
//    once): the sweep call itself, and until all E recovered runs have ended;
// 3. the naive alternative without the lease-expiry index: every `listRuns({ status: "running" })`
//    page, filtered by `leaseUntil`;
// 4. to explain the rest: the expiry index read alone (as `listExpired()` reads it, and bounded by
//    an end key at now), and a what-if `listExpired()` through a `KvLike` that bounds that list.
//
// Target (from the issue): flat cost — one listExpired() with 10,000 healthy runs less than 1.5×
// the cost with none (PASS/FAIL is printed, never enforced). The exit code is 0 unless a listing
// or a sweep did not find exactly the expired runs.
//
// Options: --healthy=0,1000,10000  --expired=10  --runs=301 (listExpired calls timed)
// --sweeps=31 (sweeps timed)  --naive-runs=5  --warmup=5  --verbose

import { parseArgs } from "node:util";
import { KvCheckpointStore, type KvLike } from "../kv.ts";
import { CountingKv } from "./_kv_counting.ts";
import { type RecoveredEvent, type Recovery, startRecovery, TaskConfig, Workflow } from "../mod.ts";
import { median } from "./engine_compare.ts";
import { table } from "./_format.ts";

/** The bound on (cost with 10,000 healthy runs) / (cost with none). */
const FLAT_TARGET = 1.5;
/** Long enough that no healthy lease runs out (and no heartbeat is due) during the benchmark. */
const LEASE_MS = 3_600_000;
/** Healthy runs claimed at once while setting up. */
const CLAIM_BATCH = 250;

/**
 * A what-if, not the store's behaviour: a `KvLike` over `kv` that bounds the store's list of the
 * expiry index by an end key at `Date.now()`, so Deno KV never fetches entries of healthy runs
 * (a prefix list fetches a batch of up to 100 entries before the store can stop at the first live
 * lease).
 */
function boundedIndexKv(kv: Deno.Kv): KvLike {
  return {
    get: (key) => kv.get(key as Deno.KvKey),
    atomic: () => kv.atomic(),
    list: (selector, options) => {
      const prefix = selector.prefix as Deno.KvKey;
      if (prefix.at(-1) !== "expiry") return kv.list(selector as Deno.KvListSelector, options);
      const end = [...prefix, Date.now()];
      return kv.list({ start: (selector.start ?? prefix) as Deno.KvKey, end }, options);
    },
  };
}

/** One population of runs (H healthy) on its own KV file, with its store and sweeper. */
interface Scenario {
  readonly healthy: number;
  readonly kv: Deno.Kv;
  readonly counting: CountingKv;
  readonly store: KvCheckpointStore;
  /** The same runs through {@link boundedIndexKv} (the what-if). */
  readonly bounded: KvCheckpointStore;
  readonly recovery: Recovery;
  /** `offset` is added to `Date.now()` by the store's clock: negative while runs are "killed". */
  readonly clock: { offset: number };
  readonly recovered: RecoveredEvent[];
  list: { ms: number[]; reads: number[]; boundedMs: number[] };
  sweep: { ms: number[]; allMs: number[]; reads: number[]; commits: number[] };
  naive: { ms: number[]; reads: number[] };
  /** The expiry index read alone, as the store reads it and bounded by an end key. */
  index: { prefixMs: number[]; boundedMs: number[] };
}

let deadRuns = 0;

/** Creates `count` runs whose lease ran out a minute ago (off the clock); returns their ids. */
async function killRuns(scenario: Scenario, count: number): Promise<string[]> {
  const { store } = scenario;
  const ids = Array.from({ length: count }, () => `dead-${++deadRuns}`);
  scenario.clock.offset = -(LEASE_MS + 60_000);
  try {
    for (const id of ids) {
      const { lease } = await store.claim(id, {
        mode: "start",
        owner: "dead-process",
        workflow: "job",
        version: 0,
      });
      await store.append(id, {
        sequence: 0,
        state: "a",
        taskId: "a",
        kind: "state_entry",
        data: { id },
        workflowVersion: 0,
      }, lease);
    }
  } finally {
    scenario.clock.offset = 0;
  }
  return ids;
}

const idsOfPage = (runs: readonly { id: string }[]): string[] => runs.map((run) => run.id);

/** Throws unless `actual` holds exactly the ids `expected` (a benchmark must check its work). */
function expectIds(label: string, actual: readonly string[], expected: readonly string[]): void {
  const a = [...actual].sort().join(",");
  const e = [...expected].sort().join(",");
  if (a !== e) throw new Error(`${label}: expected runs [${e}], got [${a}]`);
}

async function makeScenario(dir: string, healthy: number): Promise<Scenario> {
  const kv = await Deno.openKv(`${dir}/healthy-${healthy}.sqlite3`);
  const counting = new CountingKv(kv);
  const clock = { offset: 0 };
  const store = new KvCheckpointStore(counting, {
    leaseMs: LEASE_MS,
    now: () => Date.now() + clock.offset,
  });
  const request = { mode: "start", owner: "alive", workflow: "job", version: 0 } as const;
  for (let start = 0; start < healthy; start += CLAIM_BATCH) {
    const batch = Array.from({ length: Math.min(CLAIM_BATCH, healthy - start) }, (_, i) => i);
    await Promise.all(batch.map((i) => store.claim(`healthy-${start + i}`, request)));
  }
  const workflow = new Workflow<"a" | "done", { id: string }>({ name: "job" })
    .register("a", () => "done", { config: TaskConfig.minimal() })
    .addExitState("done")
    .withCheckpointStore(store);
  const recovery = startRecovery({
    store,
    workflows: [workflow],
    every: 86_400_000,
    concurrency: 64,
  });
  const scenario: Scenario = {
    healthy,
    kv,
    counting,
    store,
    bounded: new KvCheckpointStore(boundedIndexKv(kv), { leaseMs: LEASE_MS }),
    recovery,
    clock,
    recovered: [],
    list: { ms: [], reads: [], boundedMs: [] },
    sweep: { ms: [], allMs: [], reads: [], commits: [] },
    naive: { ms: [], reads: [] },
    index: { prefixMs: [], boundedMs: [] },
  };
  recovery.addEventListener("recovered", (event) => scenario.recovered.push(event));
  // The sweep startRecovery starts at once (nothing has expired yet): let it end.
  await new Promise((resolve) => setTimeout(resolve, 20));
  await recovery.sweep();
  return scenario;
}

/** The expired runs as a sweeper without the index would find them: every running record. */
async function naiveExpired(store: KvCheckpointStore): Promise<string[]> {
  const now = Date.now();
  const found: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.listRuns({ status: "running", limit: 1_000, cursor });
    for (const run of page.runs) if (run.leaseUntil.getTime() < now) found.push(run.id);
    cursor = page.cursor;
  } while (cursor !== undefined);
  return found;
}

/** The store's lease-expiry index (`[…prefix, "expiry", leaseUntil, id]`, default prefix). */
const EXPIRY: Deno.KvKey = ["cano", "checkpoints", "expiry"];

/**
 * Reads the expiry index the way `listExpired()` does (a prefix list, `limit` = page + 2, stopping
 * at the first lease not yet over) or bounded by an end key at `now`; returns the ids found.
 */
async function readIndex(kv: Deno.Kv, bounded: boolean): Promise<string[]> {
  const now = Date.now();
  const selector = bounded ? { start: EXPIRY, end: [...EXPIRY, now] } : { prefix: EXPIRY };
  const ids: string[] = [];
  for await (const entry of kv.list(selector, { limit: 102 })) {
    if (!((entry.key.at(-2) as number) < now)) break;
    ids.push(entry.key.at(-1) as string);
  }
  return ids;
}

/** Waits until `count` more runs of the scenario have been recovered. */
async function recoveredCount(scenario: Scenario, count: number): Promise<RecoveredEvent[]> {
  while (scenario.recovered.length < count) await new Promise((resolve) => setTimeout(resolve, 0));
  return scenario.recovered.splice(0, count);
}

function fmt(value: number, digits = 2): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "—";
}

function options(): {
  healthy: number[];
  expired: number;
  runs: number;
  sweeps: number;
  naiveRuns: number;
  warmup: number;
  verbose: boolean;
} {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      healthy: { type: "string", default: "0,1000,10000" },
      expired: { type: "string", default: "10" },
      runs: { type: "string", default: "301" },
      sweeps: { type: "string", default: "31" },
      "naive-runs": { type: "string", default: "5" },
      warmup: { type: "string", default: "5" },
      verbose: { type: "boolean", default: false },
    },
  });
  const int = (name: string, text: string, min: number): number => {
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < min) {
      throw new Error(`--${name} must be an integer ≥ ${min}, received ${text}`);
    }
    return value;
  };
  const healthy = values.healthy.split(",").map((part) => int("healthy", part.trim(), 0));
  return {
    healthy,
    expired: int("expired", values.expired, 1),
    runs: int("runs", values.runs, 1),
    sweeps: int("sweeps", values.sweeps, 1),
    naiveRuns: int("naive-runs", values["naive-runs"], 1),
    warmup: int("warmup", values.warmup, 0),
    verbose: values.verbose,
  };
}

if (import.meta.main) {
  const { healthy, expired, runs, sweeps, naiveRuns, warmup, verbose } = options();
  console.log(
    `cano recovery sweep on a Deno KV file: ${expired} expired runs among ${
      healthy.join(" / ")
    } healthy ones; listExpired() median of ${runs}, sweeps median of ${sweeps}, naive scans ` +
      `median of ${naiveRuns}, after ${warmup} warm-up round(s) (deno ${Deno.version.deno}, ` +
      `${navigator.hardwareConcurrency} CPUs, ${Deno.build.target})\n`,
  );
  const dir = await Deno.makeTempDir({ prefix: "cano-bench-recovery-" });
  const scenarios: Scenario[] = [];
  try {
    for (const count of healthy) {
      const started = performance.now();
      scenarios.push(await makeScenario(dir, count));
      console.log(`set up ${count} healthy runs in ${fmt(performance.now() - started, 0)} ms`);
    }
    const dead = new Map<Scenario, string[]>();
    for (const s of scenarios) dead.set(s, await killRuns(s, expired));
    /** Rounds over every scenario, alternating their order, timing only after the warm-up. */
    const rounds = async (count: number, step: (s: Scenario, timed: boolean) => Promise<void>) => {
      for (let round = 0; round < warmup + count; round++) {
        const order = round % 2 === 0 ? scenarios : [...scenarios].reverse();
        for (const s of order) await step(s, round >= warmup);
      }
    };

    // ---- 1. One listExpired() call (and the what-if with a bounded index list). ----
    let calls = 0;
    await rounds(runs, async (s, timed) => {
      const time = async (store: KvCheckpointStore): Promise<number> => {
        const start = performance.now();
        const page = await store.listExpired();
        const ms = performance.now() - start;
        expectIds(`listExpired() with ${s.healthy} healthy`, idsOfPage(page.runs), dead.get(s)!);
        return ms;
      };
      // Alternate which of the two goes first, so that neither always finds a warmer cache.
      const whatIfFirst = (calls++ & 1) === 1;
      let boundedMs = whatIfFirst ? await time(s.bounded) : 0;
      s.counting.reset();
      const ms = await time(s.store);
      const reads = s.counting.reads;
      if (!whatIfFirst) boundedMs = await time(s.bounded);
      if (!timed) return;
      s.list.ms.push(ms);
      s.list.reads.push(reads);
      s.list.boundedMs.push(boundedMs);
      if (verbose) {
        console.log(
          `listExpired ${s.healthy}: ${fmt(ms, 3)} ms, ${reads} reads; bounded ${
            fmt(boundedMs, 3)
          } ms`,
        );
      }
    });

    // ---- 1b. Where listExpired()'s time goes: the index read alone, unbounded and bounded. ----
    await rounds(runs, async (s, timed) => {
      for (const bounded of [false, true]) {
        const start = performance.now();
        const ids = await readIndex(s.kv, bounded);
        const ms = performance.now() - start;
        expectIds(`the index read with ${s.healthy} healthy`, ids, dead.get(s)!);
        if (timed) (bounded ? s.index.boundedMs : s.index.prefixMs).push(ms);
      }
    });

    // ---- 2. The naive scan of every running record. ----
    await rounds(naiveRuns, async (s, timed) => {
      s.counting.reset();
      const start = performance.now();
      const found = await naiveExpired(s.store);
      const ms = performance.now() - start;
      expectIds(`the naive scan with ${s.healthy} healthy`, found, dead.get(s)!);
      if (!timed) return;
      s.naive.ms.push(ms);
      s.naive.reads.push(s.counting.reads);
      if (verbose) console.log(`naive ${s.healthy}: ${fmt(ms, 1)} ms, ${s.counting.reads} reads`);
    });

    // ---- 3. Full sweeps: list, claim and resume the expired runs (which end at once). ----
    await rounds(sweeps, async (s, timed) => {
      const ids = dead.get(s) ?? await killRuns(s, expired);
      dead.delete(s);
      s.counting.reset();
      const start = performance.now();
      const result = await s.recovery.sweep();
      const swept = performance.now();
      const events = await recoveredCount(s, expired);
      const ended = performance.now();
      if (result.resumed !== expired) {
        throw new Error(`a sweep with ${s.healthy} healthy resumed ${result.resumed} runs`);
      }
      expectIds(`the sweep with ${s.healthy} healthy`, events.map((e) => e.runId), ids);
      const failed = events.filter((e) => e.outcome !== "completed");
      if (failed.length > 0) {
        throw new Error(`recovered runs did not complete: ${failed[0]?.error}`);
      }
      if ((await s.store.getRun(ids[0]!)) !== undefined) throw new Error("a run was left behind");
      if (!timed) return;
      s.sweep.ms.push(swept - start);
      s.sweep.allMs.push(ended - start);
      s.sweep.reads.push(s.counting.reads);
      s.sweep.commits.push(s.counting.commits);
      if (verbose) {
        console.log(
          `sweep ${s.healthy}: ${fmt(swept - start)} ms, all ended ${fmt(ended - start)} ms, ` +
            `${s.counting.reads} reads`,
        );
      }
    });

    const rows = scenarios.map((s) => [
      s.healthy.toLocaleString("en-US"),
      fmt(median(s.list.ms), 3),
      fmt(median(s.list.reads), 0),
      fmt(median(s.sweep.ms)),
      fmt(median(s.sweep.allMs)),
      fmt(median(s.sweep.reads), 0),
      fmt(median(s.sweep.commits), 0),
      fmt(median(s.naive.ms), 1),
      fmt(median(s.naive.reads), 0),
    ]);
    console.log(
      `\n${
        table([
          "healthy runs",
          "listExpired() ms",
          "reads",
          "sweep() ms",
          "sweep → all ended ms",
          "reads",
          "commits",
          "naive scan ms",
          "reads",
        ], rows)
      }\n`,
    );
    const indexRows = scenarios.map((s) => [
      s.healthy.toLocaleString("en-US"),
      fmt(median(s.index.prefixMs), 3),
      fmt(median(s.index.boundedMs), 3),
      fmt(median(s.list.boundedMs), 3),
    ]);
    console.log(
      `${
        table([
          "healthy runs",
          "index read as listExpired() does it ms",
          "bounded by an end key ms",
          "what-if: listExpired() with it bounded ms",
        ], indexRows)
      }\n`,
    );
    const base = scenarios.find((s) => s.healthy === 0) ?? scenarios[0]!;
    const most = scenarios.reduce((a, b) => (b.healthy > a.healthy ? b : a));
    const ratio = (of: (s: Scenario) => number[]): number => median(of(most)) / median(of(base));
    const verdict = (value: number): string => (value < FLAT_TARGET ? "PASS" : "FAIL");
    const versus = `${most.healthy.toLocaleString("en-US")} healthy vs ${base.healthy}`;
    const listRatio = ratio((s) => s.list.ms);
    const sweepRatio = ratio((s) => s.sweep.ms);
    const allRatio = ratio((s) => s.sweep.allMs);
    console.log(`listExpired(), ${versus}: ${fmt(listRatio)}× → ${verdict(listRatio)} (< 1.5×)`);
    const whatIf = ratio((s) => s.list.boundedMs);
    console.log(
      `what-if listExpired() with the index list bounded, ${versus}: ${fmt(whatIf)}× → ${
        verdict(whatIf)
      }`,
    );
    const middle = scenarios.filter((s) => s !== base && s !== most).at(-1);
    if (middle !== undefined) {
      const flat = median(most.list.ms) / median(middle.list.ms);
      console.log(
        `listExpired(), ${most.healthy.toLocaleString("en-US")} healthy vs ${
          middle.healthy.toLocaleString("en-US")
        }: ${fmt(flat)}×`,
      );
    }
    console.log(`sweep(), ${versus}: ${fmt(sweepRatio)}× → ${verdict(sweepRatio)} (< 1.5×)`);
    console.log(`sweep → all ended, ${versus}: ${fmt(allRatio)}× → ${verdict(allRatio)} (< 1.5×)`);
    console.log(
      `naive scan, ${versus}: ${fmt(ratio((s) => s.naive.ms))}×; with ${most.healthy} healthy ` +
        `it costs ${fmt(median(most.naive.ms) / median(most.list.ms), 0)}× one listExpired()`,
    );
  } finally {
    for (const s of scenarios) {
      await s.recovery.stop();
      s.kv.close();
    }
    await Deno.remove(dir, { recursive: true });
  }
}
