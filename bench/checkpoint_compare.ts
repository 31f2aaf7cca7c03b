// `deno task bench:checkpoint`: the cost of a checkpointed transition on Deno KV. One workflow run
// of N transitions (the two-state loop of variants.ts, `TaskConfig.minimal()`, run data
// `{ counter }`) on a `KvCheckpointStore` — on a KV file and on `:memory:` — against the same KV
// doing one raw `atomic().check(key null).set(key, row bytes).commit()` per row the run appends, on
// fresh keys. Then the KV operations per transition (a counting `KvLike`), the cost of one lease
// renewal (the engine's heartbeat) and a run whose lease is renewed every 10 ms, and, for
// reference, the in-memory store against no store at all.
//
// Target (from the issue): a checkpointed transition on the file at most 1.15× the raw commit;
// 1 commit and 0 reads per transition (but the owner's cancel poll: one record read a second, see
// DESIGN §3.9's durable cancel). Timings never fail the process: the exit code is 0 unless a
// run did not perform the expected transitions (or a raw commit did not land).
//
// Options: --runs=N (timed rounds, default 5), --warmup=N (untimed rounds first, default 1),
// --transitions=N (per KV run, default 2000, even; the reference runs do 10×), --verbose (print
// every run).

import process from "node:process";
import { runOptions } from "./_run_options.ts";
import { KvCheckpointStore, type RunLease } from "../kv.ts";
import { type CommitShape, CountingKvBase, type Settled } from "./_kv_counting.ts";
import { type CheckpointStore, MemoryCheckpointStore, TaskConfig, Workflow } from "../mod.ts";
import { median } from "./engine_compare.ts";
import { fmt, table } from "./_format.ts";

/** The ratio the issue allows a checkpointed transition on a KV file over a raw commit. */
const FILE_TARGET = 1.15;
/** Renewals timed per backend. */
const RENEWS = 200;
/** The short lease of the heartbeat-under-load run: renewed every 10 ms. */
const SHORT_LEASE_MS = 30;
const ENCODER = new TextEncoder();

type Step = "a" | "b" | "done";
interface Counter {
  counter: number;
}
type Backend = "file" | ":memory:";

/** Throws unless `actual` is `expected`: a run that did not do its work must not be timed. */
function expect(label: string, what: string, actual: unknown, expected: unknown): void {
  if (actual !== expected) {
    throw new Error(`${label}: expected ${what} ${String(expected)}, got ${String(actual)}`);
  }
}

/** The loop as a checkpointed (or plain) workflow of `transitions` transitions. */
function loopWorkflow(
  transitions: number,
  store: CheckpointStore | undefined,
): Workflow<Step, Counter> {
  const config = { config: TaskConfig.minimal() };
  const workflow = new Workflow<Step, Counter>({ name: "bench" })
    // deno-lint-ignore require-await -- an async no-op task is the point of the benchmark
    .register("a", async (ctx) => {
      ctx.data.counter++;
      return "b";
    }, config)
    // deno-lint-ignore require-await -- an async no-op task is the point of the benchmark
    .register("b", async (ctx) => {
      ctx.data.counter++;
      return ctx.data.counter >= transitions ? "done" : "a";
    }, config)
    .addExitState("done");
  return store === undefined ? workflow : workflow.withCheckpointStore(store);
}

let runIds = 0;

/** Runs the loop once under a fresh id and checks it did every transition; returns ms. */
async function timeWorkflow(
  label: string,
  workflow: Workflow<Step, Counter>,
  transitions: number,
  checkpointed: boolean,
): Promise<number> {
  const id = `bench-${++runIds}`;
  const start = performance.now();
  const result = checkpointed
    ? await workflow.orchestrate("a", { id, data: { counter: 0 } })
    : await workflow.orchestrate("a", { data: { counter: 0 } });
  const ms = performance.now() - start;
  expect(label, "final state", result.state, "done");
  expect(label, "counter", result.data.counter, transitions);
  // The path holds every state entered: the initial one, then one per transition.
  expect(label, "path length", result.path.length, transitions + 1);
  return ms;
}

/** A row's bytes as the store writes them (≈ 100 bytes of JSON). */
function rowBytes(sequence: number): Uint8Array {
  return ENCODER.encode(JSON.stringify({
    sequence,
    state: sequence % 2 === 0 ? "a" : "b",
    taskId: sequence % 2 === 0 ? "a" : "b",
    kind: "state_entry",
    workflowVersion: 0,
    data: { counter: sequence },
  }));
}

/**
 * `commits` raw commits on fresh keys, each `check(key null)` + `set`; returns ms. With `fenced`,
 * the commit has the shape of a fenced append: keys as long as the store's
 * (`["cano", "checkpoints", …, id, n]`) and a second check, on the versionstamp of an existing
 * record. The keys are deleted afterwards, off the clock.
 */
async function timeRaw(kv: Deno.Kv, commits: number, fenced: boolean): Promise<number> {
  const id = `bench-${++runIds}`;
  const prefix = fenced ? ["cano", "checkpoints", "raw", id] : ["bench", "raw", id];
  const recordKey = ["cano", "checkpoints", "raw-runs", id];
  const record = await kv.set(recordKey, rowBytes(0));
  const values = Array.from({ length: commits }, (_, i) => rowBytes(i));
  const start = performance.now();
  for (let i = 0; i < commits; i++) {
    const key = [...prefix, i];
    const op = kv.atomic();
    if (fenced) op.check({ key: recordKey, versionstamp: record.versionstamp });
    const result = await op.check({ key, versionstamp: null }).set(key, values[i]!).commit();
    if (!result.ok) throw new Error(`raw commit ${i} did not land`);
  }
  const ms = performance.now() - start;
  for (let i = 0; i < commits; i += 500) {
    const op = kv.atomic();
    for (let j = i; j < Math.min(commits, i + 500); j++) op.delete([...prefix, j]);
    await op.commit();
  }
  await kv.delete(recordKey);
  return ms;
}

/** KV operations of one phase of a run. */
interface Ops {
  commits: number;
  gets: number;
  lists: number;
  checks: number;
  mutations: number;
  /** Wall time spent awaiting this phase's commits, in ms. */
  commitMs: number;
}

function ops(): Ops {
  return { commits: 0, gets: 0, lists: 0, checks: 0, mutations: 0, commitMs: 0 };
}

/**
 * A `KvLike` that counts operations by phase: `claim` until the first commit that writes a row,
 * then `steady` (row appends; a commit that writes the run record and no row is a renewal), then
 * `end` from the first commit that deletes.
 */
class CountingKv extends CountingKvBase {
  readonly claim: Ops = ops();
  readonly steady: Ops = ops();
  readonly end: Ops = ops();
  readonly renewals: Ops = ops();
  #phase: "claim" | "steady" | "end" = "claim";

  #current(): Ops {
    return this.#phase === "claim" ? this.claim : this.#phase === "steady" ? this.steady : this.end;
  }

  protected counted(call: "get" | "list"): void {
    if (call === "get") this.#current().gets += 1;
    else this.#current().lists += 1;
  }

  protected committing({ checks, mutations, rows, records, deletes }: CommitShape): Settled {
    if (rows > 0 && this.#phase === "claim") this.#phase = "steady";
    if (deletes > 0 && rows === 0 && records === 0 && this.#phase === "steady") {
      this.#phase = "end";
    }
    const into = this.#phase === "steady" && rows === 0 && records > 0
      ? this.renewals
      : this.#current();
    into.commits += 1;
    into.checks += checks;
    into.mutations += mutations;
    return (ms, threw) => {
      if (!threw) into.commitMs += ms;
    };
  }
}

/** A KV store that counts its lease renewals. */
class RenewCountingStore extends KvCheckpointStore {
  renews = 0;

  override renew(lease: RunLease): Promise<void> {
    this.renews += 1;
    return super.renew(lease);
  }
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

/** One backend's KV handle and what runs on it. */
interface Bench {
  readonly backend: Backend;
  readonly kv: Deno.Kv;
  readonly workflow: Workflow<Step, Counter>;
}

/** A timed variant of the main table. */
interface Timed {
  readonly name: string;
  readonly backend: Backend;
  readonly run: () => Promise<number>;
  readonly times: number[];
}

if (import.meta.main) {
  const { runs, warmup, transitions, verbose } = runOptions({
    runs: 5,
    warmup: 1,
    transitions: 2000,
  });
  const rows = transitions + 1; // one state_entry row per state entered, the exit state included
  // Commits that write rows: the claim carries row 0; the exit row is folded into the end (no
  // commit of its own) when the log's delete fits one commit (< 990 rows), else appended first.
  const rowCommits = rows - 1 < 990 ? rows - 1 : rows;
  const started = performance.now();
  console.log(
    `cano checkpointed transitions on Deno KV: ${transitions} transitions per run (${rows} rows), ` +
      `median of ${runs} interleaved rounds after ${warmup} warm-up round(s) (deno ` +
      `${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs, ${Deno.build.target})\n`,
  );

  const dir = await Deno.makeTempDir({ prefix: "cano-bench-checkpoint-" });
  const handles: Deno.Kv[] = [];
  try {
    const open = async (backend: Backend): Promise<Deno.Kv> => {
      const kv = await Deno.openKv(backend === "file" ? `${dir}/bench.sqlite` : ":memory:");
      handles.push(kv);
      return kv;
    };
    const benches: Bench[] = [];
    for (const backend of ["file", ":memory:"] as const) {
      const kv = await open(backend);
      benches.push({
        backend,
        kv,
        workflow: loopWorkflow(transitions, new KvCheckpointStore(kv)),
      });
    }

    // ---- 1. Time per transition: cano vs raw commits, interleaved in rounds. ----
    const timed: Timed[] = [];
    for (const { backend, kv, workflow } of benches) {
      const label = `cano KvCheckpointStore (${backend})`;
      timed.push(
        {
          name: "raw commit: check(key null) + set",
          backend,
          run: () => timeRaw(kv, rows, false),
          times: [],
        },
        {
          name: "raw commit, fenced shape: 2 checks + set, long keys",
          backend,
          run: () => timeRaw(kv, rows, true),
          times: [],
        },
        {
          name: "cano KvCheckpointStore",
          backend,
          run: () => timeWorkflow(label, workflow, transitions, true),
          times: [],
        },
      );
    }
    for (let round = 0; round < warmup + runs; round++) {
      // Alternate the order so that neither variant always runs right after the other's garbage.
      const order = round % 2 === 0 ? timed : [...timed].reverse();
      for (const variant of order) {
        const ms = await variant.run();
        if (round >= warmup) variant.times.push(ms);
      }
    }
    const rawOf = (backend: Backend): Timed => timed.find((t) => t.backend === backend)!;
    const mainRows: string[][] = [];
    const fileRatios: number[] = [];
    for (const variant of timed) {
      const raw = rawOf(variant.backend);
      const ms = median(variant.times);
      const ratio = ms / median(raw.times);
      const isCano = variant.name.startsWith("cano");
      let target = "—";
      let result = "—";
      if (isCano && variant.backend === "file") {
        target = `≤ ${FILE_TARGET}×`;
        result = ratio <= FILE_TARGET ? "PASS" : "FAIL";
        fileRatios.push(ratio);
      }
      // The ratio of each round (same round, same conditions), as a spread.
      const perRound = variant.times.map((t, i) => t / (raw.times[i] ?? NaN));
      mainRows.push([
        variant.name,
        variant.backend,
        fmt(ms),
        fmt((ms * 1000) / transitions),
        `${fmt(ratio, 2)}×`,
        variant === raw
          ? "—"
          : `${fmt(median(perRound), 2)}× (${fmt(Math.min(...perRound), 2)}–${
            fmt(Math.max(...perRound), 2)
          })`,
        target,
        result,
      ]);
    }
    console.log(
      `## Time per transition (ms per run of ${transitions} transitions; raw: ${rows} commits, ` +
        `one per row the run appends)\n`,
    );
    console.log(table(
      [
        "variant",
        "KV",
        "ms/run (median)",
        "µs/transition",
        "× raw",
        "× raw per round: median (min–max)",
        "target",
        "result",
      ],
      mainRows,
      [false, false, true, true, true, true, true, false],
    ));
    if (verbose) {
      for (const { name, backend, times } of timed) {
        console.log(`${name} (${backend}): ${times.map((ms) => fmt(ms)).join(", ")} ms`);
      }
    }

    // ---- 2. KV operations per transition. ----
    console.log(`\n## KV operations (one run of ${transitions} transitions per KV)\n`);
    const opRows: string[][] = [];
    let opsOk = true;
    for (const { backend, kv } of benches) {
      const counting = new CountingKv(kv);
      const workflow = loopWorkflow(transitions, new KvCheckpointStore(counting));
      const ms = await timeWorkflow(`counting (${backend})`, workflow, transitions, true);
      const { claim, steady, end, renewals } = counting;
      const committing = claim.commitMs + steady.commitMs + end.commitMs + renewals.commitMs;
      expect(`counting (${backend})`, "row appends", steady.commits, rowCommits);
      // The only reads allowed: the owner's cancel poll, one record read a second.
      const polls = Math.ceil(ms / 1_000) + 1;
      opsOk &&= steady.gets <= polls && steady.lists === 0 && steady.commits === rowCommits &&
        renewals.commits === 0;
      const per = (n: number): string => fmt(n / transitions, 3);
      opRows.push([
        backend,
        per(steady.commits),
        per(steady.gets),
        per(steady.lists),
        fmt(steady.checks / steady.commits, 1),
        fmt(steady.mutations / steady.commits, 1),
        String(renewals.commits),
        `${claim.gets} get + ${claim.lists} list + ${claim.commits} commit`,
        `${end.gets} get + ${end.lists} list + ${end.commits} commits`,
        fmt((steady.commitMs * 1000) / steady.commits),
        `${fmt(end.commitMs)} ms (${fmt((end.commitMs * 1000) / transitions)} µs/transition)`,
        fmt(((ms - committing) * 1000) / transitions),
      ]);
    }
    console.log(table(
      [
        "KV",
        "commits/transition",
        "gets/transition",
        "lists/transition",
        "checks/commit",
        "mutations/commit",
        "renewals",
        "per run: claim",
        "per run: end",
        "µs/append commit",
        "end commits",
        "µs/transition outside commits",
      ],
      opRows,
      [false, true, true, true, true, true, true, false, false, true, true, true],
    ));
    console.log(
      `\n(${rows} appends per run = ${transitions} transitions + the exit state's entry; the end ` +
        `deletes the ${rows} rows and the record in batches of ≤ 990 deletes. µs/append commit ` +
        "is the mean wall time of an append's commit() as the store awaits it, counting wrapper " +
        "included; end commits is the time the end's deletes add to a run; outside commits is " +
        "the rest of the run's time (the engine, encoding the row, the store's and the KV " +
        "binding's JavaScript, the claim's get, the counting wrapper) per transition.)",
    );
    console.log(
      `${
        opsOk ? "PASS" : "FAIL"
      }: target 1 commit per row appended in the steady state, and no read but the cancel ` +
        "poll's (one record read a second)",
    );
    {
      // The same on the file with the heartbeat firing every 10 ms: what one renewal costs in KV
      // operations, and that appends stay 1 commit and 0 reads between renewals.
      const counting = new CountingKv(benches[0]!.kv);
      const store = new KvCheckpointStore(counting, { leaseMs: SHORT_LEASE_MS });
      await timeWorkflow(
        "counting, short lease",
        loopWorkflow(transitions, store),
        transitions,
        true,
      );
      const { steady, renewals } = counting;
      expect("counting, short lease", "row appends", steady.commits, rowCommits);
      console.log(
        `file, leaseMs ${SHORT_LEASE_MS}: ${renewals.commits} renewals, each 1 commit of ` +
          `${fmt(renewals.checks / renewals.commits)} check + ` +
          `${fmt(renewals.mutations / renewals.commits)} mutations (record, status index, expiry ` +
          `index delete + set), ${fmt((renewals.commitMs * 1000) / renewals.commits)} µs; ` +
          `appends: ${fmt(steady.commits / transitions, 3)} commits, ` +
          `${fmt((steady.gets + steady.lists) / transitions, 3)} reads per transition`,
      );
    }

    // ---- 3. Heartbeat: one renewal, and runs with and without renewals. ----
    console.log(`\n## Heartbeat: one store.renew(lease) (median of ${RENEWS})\n`);
    const renewRows: string[][] = [];
    for (const { backend, kv } of benches) {
      const store = new KvCheckpointStore(kv);
      const { lease } = await store.claim(`renew-${++runIds}`, {
        mode: "start",
        owner: "bench",
        workflow: "bench",
        version: 0,
      });
      for (let i = 0; i < 20; i++) await store.renew(lease);
      const times: number[] = [];
      const cpu0 = process.cpuUsage();
      for (let i = 0; i < RENEWS; i++) {
        const start = performance.now();
        await store.renew(lease);
        times.push(performance.now() - start);
      }
      const cpu = process.cpuUsage(cpu0);
      await store.finish(lease, { status: "completed" });
      const wallUs = median(times) * 1000;
      const cpuUs = (cpu.user + cpu.system) / RENEWS;
      const intervalUs = (store.leaseMs / 3) * 1000;
      renewRows.push([
        backend,
        fmt(wallUs),
        fmt(percentile(times, 0.9) * 1000),
        fmt(cpuUs),
        `${fmt(store.leaseMs / 3 / 1000, 0)} s`,
        `${(wallUs / intervalUs * 100).toPrecision(2)} %`,
      ]);
    }
    console.log(table(
      [
        "KV",
        "µs/renew (median)",
        "p90 µs",
        "CPU µs/renew",
        "renewed every",
        "wall share of a core per running run",
      ],
      renewRows,
      [false, true, true, true, true, true],
    ));
    console.log(
      "\n(CPU µs is the process's user + system time over the renewals, i.e. including the KV's " +
        "SQLite work on its threads.)",
    );

    console.log(
      `\n## Heartbeat during runs (${transitions} transitions; default lease renewed every 10 s, ` +
        `vs leaseMs: ${SHORT_LEASE_MS}, renewed every ${Math.floor(SHORT_LEASE_MS / 3)} ms)\n`,
    );
    const leaseRows: string[][] = [];
    let defaultRenewsOk = true;
    let shortRenewsOk = true;
    for (const { backend, kv } of benches) {
      const long = new RenewCountingStore(kv);
      const short = new RenewCountingStore(kv, { leaseMs: SHORT_LEASE_MS });
      const variants = [
        {
          name: "default lease (30 s)",
          store: long,
          times: [] as number[],
          renews: [] as number[],
        },
        {
          name: `leaseMs: ${SHORT_LEASE_MS}`,
          store: short,
          times: [] as number[],
          renews: [] as number[],
        },
      ].map((v) => ({ ...v, workflow: loopWorkflow(transitions, v.store) }));
      for (let round = 0; round < warmup + runs; round++) {
        const order = round % 2 === 0 ? variants : [...variants].reverse();
        for (const variant of order) {
          const before = variant.store.renews;
          const ms = await timeWorkflow(
            `${variant.name} (${backend})`,
            variant.workflow,
            transitions,
            true,
          );
          if (round >= warmup) {
            variant.times.push(ms);
            variant.renews.push(variant.store.renews - before);
          }
        }
      }
      const base = median(variants[0]!.times);
      for (const [i, variant] of variants.entries()) {
        const ms = median(variant.times);
        const renews = variant.renews;
        if (i === 0) {
          // A run shorter than leaseMs / 3 never renews.
          defaultRenewsOk &&= renews.every((n, r) => n === 0 || (variant.times[r] ?? 0) >= 10_000);
        } else {
          // Renewed every 10 ms: at least one per 20 ms of run on average.
          shortRenewsOk &&= renews.every((n, r) => n >= Math.floor((variant.times[r] ?? 0) / 20));
        }
        leaseRows.push([
          variant.name,
          backend,
          fmt(ms),
          fmt((ms * 1000) / transitions),
          `${Math.min(...renews)}–${Math.max(...renews)}`,
          i === 0 ? "—" : `${ms / base >= 1 ? "+" : ""}${fmt((ms / base - 1) * 100)} %`,
        ]);
      }
      if (verbose) {
        for (const { name, times, renews } of variants) {
          console.log(
            `${name} (${backend}): ${times.map((ms) => fmt(ms)).join(", ")} ms, renews ${
              renews.join(", ")
            }`,
          );
        }
      }
    }
    console.log(table(
      ["lease", "KV", "ms/run (median)", "µs/transition", "renews per run", "vs default lease"],
      leaseRows,
      [false, false, true, true, true, true],
    ));
    console.log(
      `\n${defaultRenewsOk ? "PASS" : "FAIL"}: no renewal inside a run shorter than leaseMs / 3` +
        `\n${shortRenewsOk ? "PASS" : "FAIL"}: with leaseMs ${SHORT_LEASE_MS} the heartbeat ` +
        `renewed about every ${Math.floor(SHORT_LEASE_MS / 3)} ms and every run completed`,
    );

    // ---- 4. Reference: the in-memory store vs no store. ----
    const refTransitions = transitions * 10;
    const reference = [
      {
        name: "no store",
        workflow: loopWorkflow(refTransitions, undefined),
        checkpointed: false,
        times: [] as number[],
      },
      {
        name: "MemoryCheckpointStore",
        workflow: loopWorkflow(refTransitions, new MemoryCheckpointStore()),
        checkpointed: true,
        times: [] as number[],
      },
    ];
    for (let round = 0; round < warmup + 2 + runs; round++) {
      const order = round % 2 === 0 ? reference : [...reference].reverse();
      for (const variant of order) {
        const ms = await timeWorkflow(
          variant.name,
          variant.workflow,
          refTransitions,
          variant.checkpointed,
        );
        if (round >= warmup + 2) variant.times.push(ms);
      }
    }
    const noStore = median(reference[0]!.times);
    console.log(`\n## Reference: in-memory store vs no store (${refTransitions} transitions)\n`);
    console.log(table(
      ["variant", "ms/run (median)", "µs/transition", "× no store"],
      reference.map(({ name, times }) => {
        const ms = median(times);
        return [name, fmt(ms, 2), fmt((ms * 1000) / refTransitions, 2), `${fmt(ms / noStore)}×`];
      }),
      [false, true, true, true],
    ));
    if (verbose) {
      for (const { name, times } of reference) {
        console.log(`${name}: ${times.map((ms) => fmt(ms, 2)).join(", ")} ms`);
      }
    }

    const fileOk = fileRatios.every((r) => r <= FILE_TARGET);
    console.log(
      `\n${
        fileOk
          ? `PASS: a checkpointed transition on the KV file is within ${FILE_TARGET}× a raw commit`
          : `FAIL: a checkpointed transition on the KV file is over ${FILE_TARGET}× a raw commit ` +
            "(the exit code stays 0)"
      } — took ${fmt((performance.now() - started) / 1000)} s`,
    );
  } finally {
    for (const kv of handles) kv.close();
    await Deno.remove(dir, { recursive: true });
  }
}
