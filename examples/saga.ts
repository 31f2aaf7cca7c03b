/**
 * A payment-style saga: reserve stock, charge the card, then book a courier. Booking fails, so the
 * completed steps are compensated in reverse order — the charge is refunded, then the stock is
 * released — and the run fails with the original error. Compensation outputs are checkpointed,
 * so the same rollback would happen after a crash, in another process. Run it with
 * `deno task example:saga`.
 *
 * @module
 */
import { KvCheckpointStore } from "../kv.ts";
import { NonRetryableError, RetryMode, Workflow } from "../mod.ts";

type Step = "reserve" | "charge" | "ship" | "done";
interface Order {
  orderId: string;
  amount: number;
}

const kv = await Deno.openKv(":memory:");
const workflow = new Workflow<Step, Order>()
  .registerWithCompensation("reserve", {
    name: "reserve-stock",
    run: (ctx) => {
      console.log(`reserve: 1 × widget for ${ctx.data.orderId}`);
      return { next: "charge", output: { reservationId: `rsv-${ctx.data.orderId}` } };
    },
    compensate: (_ctx, output) => console.log(`  undo reserve: releasing ${output.reservationId}`),
  })
  .registerWithCompensation("charge", {
    name: "charge-card",
    config: { retry: RetryMode.exponential(2, { baseDelay: 10 }) },
    run: (ctx) => {
      console.log(`charge: ${ctx.data.amount} EUR`);
      return { next: "ship", output: { chargeId: "ch_3Kx", amount: ctx.data.amount } };
    },
    compensate: (_ctx, output) =>
      console.log(`  undo charge: refunding ${output.amount} EUR on ${output.chargeId}`),
  })
  .register("ship", () => {
    console.log("ship: booking a courier…");
    throw new NonRetryableError("no courier available for this address");
  })
  .addExitState("done")
  .withCheckpointStore(new KvCheckpointStore(kv))
  .withWorkflowId("order-1001");

workflow.addEventListener("compensate", (e) => {
  console.log(`  compensate ${e.taskId}: ${e.ok ? "ok" : `failed (${String(e.error)})`}`);
});

try {
  await workflow.orchestrate("reserve", { data: { orderId: "1001", amount: 42 } });
} catch (error) {
  const { category, message } = error as { category: string; message: string };
  console.log(`order failed [${category}]: ${message}`);
} finally {
  kv.close();
}
