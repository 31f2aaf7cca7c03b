/**
 * A linear order-processing workflow: validate → charge → ship → done, with a router that sends
 * invalid orders to "rejected". Run it with `deno task example:linear`.
 *
 * @module
 */
import { Workflow } from "../mod.ts";

type Step = "validate" | "charge" | "ship" | "done" | "rejected";

interface Order {
  id: string;
  amount: number;
  receipt?: string;
  trackingId?: string;
}

const workflow = new Workflow<Step, Order>()
  .registerRouter("validate", (ctx) => ctx.data.amount > 0 ? "charge" : "rejected", {
    next: ["charge", "rejected"],
  })
  .register("charge", (ctx) => {
    ctx.data.receipt = `rcpt-${ctx.data.id}`;
    return "ship";
  }, { next: ["ship"] })
  .register("ship", async (ctx) => {
    await Promise.resolve(); // a real task would call a carrier API here, passing ctx.signal
    ctx.data.trackingId = `trk-${ctx.data.id}`;
    return "done";
  }, { next: ["done"] })
  .addExitStates("done", "rejected")
  .withWorkflowId("order-42");

workflow.addEventListener("stateenter", (event) => console.log(`→ ${event.state}`));

const result = await workflow.orchestrate("validate", { data: { id: "42", amount: 99.5 } });
console.log(`finished in "${result.state}" via ${result.path.join(" → ")}`);
console.log(`receipt ${result.data.receipt}, tracking ${result.data.trackingId}`);

const rejected = await workflow.orchestrate("validate", { data: { id: "43", amount: 0 } });
console.log(`order 43 finished in "${rejected.state}"`);

console.log("\nMermaid diagram:\n" + workflow.toMermaid("validate"));
