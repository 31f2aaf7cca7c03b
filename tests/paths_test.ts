import assert from "node:assert/strict";
import { ConfigurationError, pollTask, ready, TaskConfig, timerTask, Workflow } from "../mod.ts";
import { type Path, pathCoverage, paths, RecordingObserver } from "../testing.ts";

type Step = "a" | "b" | "c" | "d" | "done" | "failed";

/** The state lists of `list`, for compact comparisons. */
function states<S extends string>(list: readonly Path<S>[]): (readonly S[])[] {
  return list.map((path) => path.states);
}

/** A never-called task, so graphs can be declared without behaviour. */
const idle = (): never => {
  throw new Error("not run");
};

Deno.test("paths() enumerates every simple path to an exit state", () => {
  const linear = new Workflow<Step>()
    .register("a", idle, { next: ["b"] })
    .register("b", idle, { next: ["done"] })
    .addExitStates("done", "failed");
  assert.deepEqual(paths(linear), [{ states: ["a", "b", "done"], initial: "a", exit: "done" }]);
});

Deno.test("paths() follows branches shortest first, ties in declared next order", () => {
  const workflow = new Workflow<Step>()
    .registerRouter("a", idle, { next: ["b", "failed", "c"] })
    .register("b", idle, { next: ["d", "done"] })
    .register("c", idle, { next: ["done"] })
    .register("d", idle, { next: ["done"] })
    .addExitStates("done", "failed");
  assert.deepEqual(states(paths(workflow)), [
    ["a", "failed"],
    ["a", "b", "done"],
    ["a", "c", "done"],
    ["a", "b", "d", "done"],
  ]);
});

Deno.test("paths() bounds cycles with maxRevisits (default 1: a state at most twice)", () => {
  const workflow = new Workflow<Step>()
    .register("a", idle, { next: ["b", "done"] })
    .register("b", idle, { next: ["a"] })
    .addExitState("done");
  assert.deepEqual(states(paths(workflow)), [["a", "done"], ["a", "b", "a", "done"]]);
  assert.deepEqual(states(paths(workflow, { maxRevisits: 0 })), [["a", "done"]]);
  assert.deepEqual(states(paths(workflow, { maxRevisits: 2 })), [
    ["a", "done"],
    ["a", "b", "a", "done"],
    ["a", "b", "a", "b", "a", "done"],
  ]);
});

Deno.test("paths() with the default bound puts every edge of a cycle on some path", () => {
  // wait → charge is only taken by re-entering charge: simple paths alone would miss it.
  const workflow = new Workflow<"charge" | "wait" | "done">()
    .register("charge", idle, { next: ["wait", "done"] })
    .register("wait", idle, { next: ["charge"] })
    .addExitState("done");
  const edges = new Set(
    paths(workflow).flatMap((p) => p.states.slice(1).map((to, i) => `${p.states[i]}>${to}`)),
  );
  assert.deepEqual([...edges].sort(), ["charge>done", "charge>wait", "wait>charge"]);
  assert.equal(paths(workflow, { maxRevisits: 0 }).some((p) => p.states.includes("wait")), false);
});

Deno.test("paths() bounds self-loops like any cycle", () => {
  const workflow = new Workflow<"poll" | "done">()
    .register("poll", pollTask({ poll: () => ready("done") }), { next: ["poll", "done"] })
    .addExitState("done");
  assert.deepEqual(states(paths(workflow)), [["poll", "done"], ["poll", "poll", "done"]]);
  assert.deepEqual(states(paths(workflow, { maxRevisits: 0 })), [["poll", "done"]]);
});

Deno.test("paths() follows a split to its join state and every model's declared next", () => {
  type Flow = "timer" | "split" | "join" | "stepped" | "stream" | "saga" | "done" | "failed";
  const workflow = new Workflow<Flow>()
    .register("timer", timerTask({ wait: () => 0, afterWait: () => "split" as const }), {
      next: ["split"],
    })
    .registerSplit("split", [() => 1, () => 2], { strategy: "all", next: "join" })
    .register("join", idle, { next: ["stepped", "failed"] })
    .registerStepped("stepped", { step: () => ({ done: "stream" as const }) }, {
      next: ["stream"],
    })
    .registerStream("stream", {
      open: async function* () {},
      processItem: () => ({ output: 0, cursor: 0 }),
      flushWindow: () => "continue",
      onClose: () => "saga",
    }, { next: ["saga"] })
    .registerWithCompensation("saga", {
      name: "saga",
      run: () => ({ next: "done" as const, output: 0 }),
      compensate: () => {},
    }, { next: ["done"] })
    .addExitStates("done", "failed");
  assert.deepEqual(states(paths(workflow)), [
    ["timer", "split", "join", "failed"],
    ["timer", "split", "join", "stepped", "stream", "saga", "done"],
  ]);
});

Deno.test("paths() leaves out unreachable exits and states that never reach an exit", () => {
  const workflow = new Workflow<Step>()
    .register("a", idle, { next: ["b", "c"] })
    .register("b", idle, { next: ["b"] }) // spins forever: no path through it ends
    .register("c", idle, { next: ["done"] })
    .addExitStates("done", "failed");
  assert.deepEqual(states(paths(workflow)), [["a", "c", "done"]]);
  assert.deepEqual(paths(workflow, { to: "failed" }), []);
  assert.deepEqual(paths(workflow, { from: "b" }), []);
});

Deno.test("paths() starts from the first registered state and every state nothing enters", () => {
  const workflow = new Workflow<Step>()
    .register("b", idle, { next: ["done"] })
    .register("a", idle, { next: ["b", "failed"] })
    .register("c", idle, { next: ["c", "done"] }) // a self-loop is no incoming edge
    .addExitStates("done", "failed");
  const all = paths(workflow, { maxRevisits: 0 });
  assert.deepEqual(all.map((p) => p.initial), ["b", "a", "a", "c"]);
  assert.deepEqual(states(all), [["b", "done"], ["a", "failed"], ["a", "b", "done"], [
    "c",
    "done",
  ]]);
});

Deno.test("paths() takes from and to as a state or a list, in the order given", () => {
  const workflow = new Workflow<Step>()
    .register("a", idle, { next: ["b", "c"] })
    .register("b", idle, { next: ["done", "failed"] })
    .register("c", idle, { next: ["failed"] })
    .addExitStates("done", "failed");
  assert.deepEqual(states(paths(workflow, { from: ["c", "b", "c"] })), [
    ["c", "failed"],
    ["b", "done"],
    ["b", "failed"],
  ]);
  assert.deepEqual(states(paths(workflow, { to: "failed" })), [
    ["a", "b", "failed"],
    ["a", "c", "failed"],
  ]);
  // An exit state as the initial state: the run ends where it starts.
  assert.deepEqual(paths(workflow, { from: "done" }), [
    { states: ["done"], initial: "done", exit: "done" },
  ]);
  assert.deepEqual(paths(workflow, { from: "done", to: "failed" }), []);
});

Deno.test("paths() ends a path at an exit state that also has a handler", () => {
  const workflow = new Workflow<Step>()
    .register("a", idle, { next: ["done"] })
    .register("done", idle, { next: ["b"] })
    .register("b", idle, { next: ["failed"] })
    .addExitStates("done", "failed");
  assert.deepEqual(states(paths(workflow)), [["a", "done"], ["b", "failed"]]);
});

Deno.test("paths() refuses states without declared next, naming them, unless undeclared is any", () => {
  const workflow = new Workflow<Step>()
    .register("a", idle, { next: ["b", "c"] })
    .register("b", () => "done")
    .register("c", () => "done")
    .register("d", () => "done") // unreachable from "a": not named when from is "a"
    .addExitStates("done");
  assert.throws(() => paths(workflow, { from: "a" }), {
    name: "ConfigurationError",
    message:
      /"b", "c" declare no next states: register them with \{ next: \[\.\.\.\] \}, or pass \{ undeclared: "any" \}/,
  });
  assert.throws(() => paths(workflow), /"b", "c", "d" declare no next states/);
  // With "any", an undeclared state may go to every state, itself included.
  const any = paths(workflow, { from: "a", undeclared: "any", maxRevisits: 0 });
  assert.deepEqual(states(any).slice(0, 2), [["a", "b", "done"], ["a", "c", "done"]]);
  assert.ok(any.some((p) => p.states.join() === "a,b,c,d,done"));
  assert.ok(any.every((p) => p.exit === "done" && new Set(p.states).size === p.states.length));
});

Deno.test("paths() throws past limit, naming it and how to raise it", () => {
  // Ten diamonds in a row: 2^10 = 1024 paths.
  let workflow = new Workflow<string>();
  for (let i = 0; i < 10; i++) {
    workflow = workflow
      .register(`s${i}`, idle, { next: [`l${i}`, `r${i}`] })
      .register(`l${i}`, idle, { next: [`s${i + 1}`] })
      .register(`r${i}`, idle, { next: [`s${i + 1}`] });
  }
  workflow = workflow.addExitState("s10");
  assert.equal(paths(workflow).length, 1024);
  assert.equal(paths(workflow, { limit: 1024 }).length, 1024);
  assert.throws(() => paths(workflow, { limit: 1000 }), {
    name: "ConfigurationError",
    message: /found more than 1000 paths \(the limit\); raise \{ limit \}/,
  });
});

Deno.test("paths() gives up on a huge graph within its search budget instead of hanging", () => {
  // A complete graph of 12 states: billions of simple paths, almost none ending (exit from s11).
  const names = Array.from({ length: 12 }, (_, i) => `s${i}`);
  let workflow = new Workflow<string>();
  for (const name of names) workflow = workflow.register(name, idle, { next: names });
  workflow = workflow.register("s11", idle, { next: [...names, "end"] }).addExitState("end");
  const started = performance.now();
  assert.throws(() => paths(workflow, { maxRevisits: 0, limit: 1 }), {
    name: "ConfigurationError",
    message: /paths\(\) (gave up after 1000000 search steps|found more than 1 paths)/,
  });
  assert.throws(() => paths(workflow, { maxRevisits: 0 }), /gave up after 1000000 search steps/);
  assert.throws(() => paths(workflow, { maxRevisits: 9_000_000 }), /gave up|found more than/);
  assert.ok(performance.now() - started < 10_000, "the search is bounded");
});

Deno.test("paths() rejects hostile inputs with a ConfigurationError naming the value", () => {
  const workflow = new Workflow<Step>()
    .register("a", idle, { next: ["done"] })
    .addExitState("done");
  const bad = (value: unknown) => value as Workflow<Step>;
  const options = (value: unknown) => value as Parameters<typeof paths<Step>>[1];
  for (const value of [undefined, null, 42, "a", {}, { registeredStates: () => [] }]) {
    assert.throws(() => paths(bad(value)), {
      name: "ConfigurationError",
      message: /^paths\(\) needs a Workflow, received /,
    });
  }
  const revoked = Proxy.revocable({}, {});
  revoked.revoke();
  assert.throws(() => paths(bad(revoked.proxy)), ConfigurationError);
  assert.throws(() => paths(new Workflow<Step>()), /no registered state handlers/);
  assert.throws(() => paths(new Workflow<Step>().register("a", idle)), /no exit states/);
  assert.throws(() => paths(workflow, options(7)), /paths\(\) options must be an object/);
  const getter = {
    get limit(): number {
      throw new Error("nope");
    },
  };
  assert.throws(() => paths(workflow, options(getter)), /limit could not be read \(nope\)/);
  for (const maxRevisits of [NaN, -1, 1.5, Infinity, "1", 2 ** 60]) {
    assert.throws(() => paths(workflow, options({ maxRevisits })), {
      name: "ConfigurationError",
      message: /option maxRevisits must be an integer ≥ 0, received /,
    });
  }
  for (const limit of [0, NaN, -5, 0.5, Infinity, null]) {
    assert.throws(() => paths(workflow, options({ limit })), /option limit must be an integer ≥ 1/);
  }
  assert.throws(
    () => paths(workflow, options({ undeclared: "all" })),
    /undeclared must be "error" or "any", received all/,
  );
  assert.throws(
    () => paths(workflow, options({ from: "zzz" })),
    /option from: zzz is not a registered or exit state of this workflow/,
  );
  assert.throws(() => paths(workflow, options({ from: [] })), /non-empty array of states/);
  assert.throws(() => paths(workflow, options({ from: [1] })), /option from: 1 is not/);
  assert.throws(() => paths(workflow, options({ from: 3 })), /option from must be a state/);
  assert.throws(
    () => paths(workflow, { to: "a" }),
    /option to: a is not an exit state of this workflow/,
  );
  assert.throws(() => paths(workflow, options({ to: [] })), /option to must be a state/);
});

Deno.test("paths() is deterministic and returns fresh lists", () => {
  const build = () =>
    new Workflow<Step>()
      .register("a", idle, { next: ["c", "b", "done"] })
      .register("b", idle, { next: ["a", "done"] })
      .register("c", idle, { next: ["b", "failed"] })
      .addExitStates("done", "failed");
  const workflow = build();
  const first = paths(workflow);
  assert.deepEqual(paths(workflow), first);
  assert.deepEqual(paths(build()), first);
  (first[0]!.states as Step[]).push("d");
  assert.notDeepEqual(paths(workflow), first);
  assert.deepEqual(states(paths(workflow, { maxRevisits: 0 })), [
    ["a", "done"],
    ["a", "c", "failed"],
    ["a", "b", "done"],
    ["a", "c", "b", "done"],
  ]);
});

Deno.test("paths() reads states whose names Mermaid cannot hold", () => {
  type Odd = "start here" | 'say "hi"' | "state" | "x-y" | "done.ok";
  const workflow = new Workflow<Odd>()
    .register("start here", idle, { next: ['say "hi"', "state"] })
    .register('say "hi"', idle, { next: ["done.ok"] })
    .register("state", idle, { next: ["x-y"] })
    .register("x-y", idle, { next: ["done.ok"] })
    .addExitState("done.ok");
  assert.deepEqual(states(paths(workflow)), [
    ["start here", 'say "hi"', "done.ok"],
    ["start here", "state", "x-y", "done.ok"],
  ]);
});

Deno.test("paths() types its paths by the workflow's state union", () => {
  const workflow = new Workflow<Step, { n: number }>()
    .register("a", idle, { next: ["done"] })
    .addExitState("done");
  const all: Path<Step>[] = paths(workflow, { from: "a", to: ["done"] });
  assert.equal(all.length, 1);
  // @ts-expect-error: "zzz" is not a state of the workflow
  assert.throws(() => paths(workflow, { from: "zzz" }), ConfigurationError);
});

Deno.test("paths() drives a model-based test: every path is run and observed", async () => {
  type Flow = "fetch" | "backoff" | "parse" | "done" | "gaveUp" | "invalid";
  type Data = { script: Flow[] };
  // Each task follows the run data's script, so any path can be driven.
  const follow = (ctx: { data: Data }) => ctx.data.script.shift() as never;
  const workflow = new Workflow<Flow, Data>()
    .register("fetch", follow, { next: ["parse", "backoff", "gaveUp"] })
    .register("backoff", follow, { next: ["fetch"], config: TaskConfig.minimal() })
    .registerRouter("parse", follow, { next: ["done", "invalid"] })
    .addExitStates("done", "gaveUp", "invalid");
  using observer = new RecordingObserver(workflow); // one run at a time
  using everything = new RecordingObserver(workflow); // all runs
  const all = paths(workflow);
  const runs: (readonly string[])[] = [];
  for (const path of all) {
    observer.clear();
    const result = await workflow.orchestrate(path.initial, {
      data: { script: path.states.slice(1) },
    });
    observer.assertPath(path.states);
    assert.equal(result.state, path.exit);
    runs.push(result.path);
  }
  assert.deepEqual(pathCoverage(all, runs).missing, []);
  everything.assertStateCoverage(workflow, { includeExits: true });
});

Deno.test("pathCoverage() splits paths into covered and missing", () => {
  const workflow = new Workflow<Step>()
    .register("a", idle, { next: ["b", "failed"] })
    .register("b", idle, { next: ["done"] })
    .addExitStates("done", "failed");
  const all = paths(workflow);
  const report = pathCoverage(all, [["a", "b", "done"], ["a", "b"], ["a", "b", "done"]]);
  assert.deepEqual(states(report.covered), [["a", "b", "done"]]);
  assert.deepEqual(states(report.missing), [["a", "failed"]]);
  assert.deepEqual(pathCoverage(all, []).covered, []);
  assert.deepEqual(pathCoverage([], [["a"]]), { covered: [], missing: [] });
});

Deno.test("pathCoverage() rejects what is not paths and runs", () => {
  const all = [{ states: ["a"], initial: "a", exit: "a" }] as const;
  const cast = <T>(value: unknown) => value as T;
  assert.throws(() => pathCoverage(cast<Path<string>[]>(null), []), /needs an array of paths/);
  assert.throws(
    () => pathCoverage(cast<Path<string>[]>([{ states: [1] }]), []),
    ConfigurationError,
  );
  assert.throws(() => pathCoverage(all, cast("a")), /needs an array of runs/);
  assert.throws(() => pathCoverage(all, cast([[1]])), ConfigurationError);
});
