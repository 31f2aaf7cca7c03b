/**
 * Split/join: ask three price services in parallel and keep going with whatever the join strategy
 * allows. `"any"` takes the fastest answer and aborts the rest; `{ quorum: 2 }` needs two answers;
 * `"partialTimeout"` takes what arrived within 100 ms. The join state reads every branch's outcome
 * from `ctx.split` (`registerJoin` types it by what the branches return). Run it with `deno task example:split_join`.
 *
 * @module
 */
import { type JoinStrategy, TaskConfig, type TaskContext, Workflow } from "../mod.ts";

type Step = "quote" | "decide" | "done";
interface Quote {
  best?: number;
  summary?: string;
}

/** A price service that answers after `ms`, or fails; it stops as soon as its signal aborts. */
function service(name: string, ms: number, price: number | Error) {
  return {
    name,
    config: TaskConfig.minimal(),
    run: ({ signal }: TaskContext<Step, Quote>): Promise<number> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => price instanceof Error ? reject(price) : resolve(price), ms);
        signal.addEventListener("abort", () => {
          clearTimeout(timer);
          console.log(`    ${name}: aborted (${String(signal.reason?.message ?? signal.reason)})`);
          reject(signal.reason);
        }, { once: true });
      }),
  };
}

const services = [
  service("acme", 30, 12.5),
  service("globex", 60, 11.9),
  service("initech", 150, new Error("503 from initech")),
];

for (const strategy of ["any", { quorum: 2 }, "partialTimeout"] as JoinStrategy[]) {
  const workflow = new Workflow<Step, Quote>()
    .registerSplit("quote", services, {
      strategy,
      next: "decide",
      ...(strategy === "partialTimeout" ? { timeout: 100 } : {}),
    })
    .registerJoin("decide", (ctx) => {
      // Typed by the branches: ctx.split.values is readonly number[].
      ctx.data.best = Math.min(...ctx.split.values);
      ctx.data.summary = ctx.split.results.map((r) => `${r.index}:${r.status}`).join(" ");
      return "done";
    })
    .addExitState("done");
  console.log(`strategy ${JSON.stringify(strategy)}:`);
  const { data } = await workflow.orchestrate("quote", { data: {} });
  console.log(`  best price ${data.best} (${data.summary})`);
}
