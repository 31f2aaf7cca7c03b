/**
 * Batch processing: eight images are resized three at a time. One upload is flaky and succeeds on
 * its third attempt; one image is corrupt and fails for good, which `finish` tolerates. Run it
 * with `deno run examples/batch.ts`.
 *
 * @module
 */
import { batchTask, RetryMode, Workflow } from "../mod.ts";

type Step = "resize" | "publish" | "published" | "review";
interface Gallery {
  thumbnails: string[];
  failed: string[];
}

const images = ["a.jpg", "b.jpg", "flaky.jpg", "d.jpg", "corrupt.jpg", "f.jpg", "g.jpg", "h.jpg"];
const tries = new Map<string, number>();
let inFlight = 0;
let maxInFlight = 0;

async function resize(image: string, signal: AbortSignal): Promise<string> {
  const attempt = (tries.get(image) ?? 0) + 1;
  tries.set(image, attempt);
  inFlight += 1;
  maxInFlight = Math.max(maxInFlight, inFlight);
  try {
    await new Promise((resolve) => setTimeout(resolve, 10 + image.length)); // some work
    signal.throwIfAborted();
    if (image === "corrupt.jpg") throw new Error("not a JPEG");
    if (image === "flaky.jpg" && attempt < 3) throw new Error(`upload timed out (try ${attempt})`);
    return image.replace(".jpg", "-thumb.jpg");
  } finally {
    inFlight -= 1;
  }
}

const workflow = new Workflow<Step, Gallery>()
  .register(
    "resize",
    batchTask({
      load: () => images,
      processItem: async (ctx, image) => {
        try {
          const thumbnail = await resize(image, ctx.signal);
          console.log(`  ✓ ${image} → ${thumbnail}`);
          return thumbnail;
        } catch (error) {
          console.log(`  ✗ ${image}: ${(error as Error).message}`);
          throw error;
        }
      },
      finish: (ctx, results) => {
        results.forEach((result, i) => {
          if (result.ok) ctx.data.thumbnails.push(result.value);
          else ctx.data.failed.push(images[i]!);
        });
        // Partial-failure policy: publish when at most one image failed.
        return ctx.data.failed.length <= 1 ? "publish" : "review";
      },
      concurrency: 3,
      itemRetry: RetryMode.fixed(2, 20),
    }),
  )
  .register("publish", (ctx) => {
    console.log(`publishing ${ctx.data.thumbnails.length} thumbnails`);
    return "published";
  })
  .addExitStates("published", "review");

const result = await workflow.orchestrate("resize", { data: { thumbnails: [], failed: [] } });
console.log(`thumbnails (input order): ${result.data.thumbnails.join(", ")}`);
console.log(`failed: ${result.data.failed.join(", ")}`);
console.log(
  `flaky.jpg took ${tries.get("flaky.jpg")} attempts; corrupt.jpg ${tries.get("corrupt.jpg")}`,
);
console.log(`at most ${maxInFlight} images in flight; finished in "${result.state}"`);
