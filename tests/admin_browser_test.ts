// The admin console in a real headless Chromium (Debian's `chromium`, driven by playwright-core):
// the demo of examples/admin.ts plus a run with a hostile id; the page shows failed, running and
// waiting runs, draws a failed run's path on its graph, cancels the running import until it ends
// cancelled, triggers a flow, retries the failed order and wakes the waiting expense. Screenshots
// go to test-artifacts/admin/ (git-ignored); CANO_UPDATE_SCREENSHOT=1 also refreshes
// docs/admin.png, the README's picture.
//
// CI installs Chromium (.ci/run); without it (and without CANO_CHROMIUM pointing at one) this
// test is skipped with a message saying so.

import assert from "node:assert/strict";
import { chromium, type Page } from "npm:playwright-core@^1";
import { DEMO_IDS, startDemo } from "../examples/admin.ts";
import { HOSTILE_IDS } from "./admin_fixtures.ts";

const ARTIFACTS = new URL("../test-artifacts/admin/", import.meta.url);
const CANDIDATES = [
  Deno.env.get("CANO_CHROMIUM"),
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/snap/bin/chromium",
].filter((path): path is string => path !== undefined && path !== "");
const CHROMIUM = CANDIDATES.find((path) => {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
});
const found = CHROMIUM !== undefined;
if (!found) {
  console.warn(
    `admin browser test SKIPPED: no Chromium found (looked at ${CANDIDATES.join(", ")}); ` +
      "install it with apt-get install -y chromium, or set CANO_CHROMIUM to its path",
  );
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: new URL(name, ARTIFACTS).pathname, fullPage: true });
}

/** The locator of a run's row in the runs table. */
const runRow = (page: Page, id: string) =>
  page.locator("#runs tbody tr").filter({
    has: page.getByRole("button", { name: id, exact: true }),
  });

Deno.test({
  name: "admin console in Chromium: runs, a run's path on its graph, cancel, flows, retry, events",
  ignore: !found,
}, async (t) => {
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  const demo = await startDemo({ port: 0 });
  const hostile = HOSTILE_IDS[0]!;
  const browser = await chromium.launch({ executablePath: CHROMIUM! });
  const errors: string[] = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("dialog", (dialog) => void dialog.accept());
    await page.goto(demo.server.url);

    await t.step("the runs table shows a failed, a running and a waiting run", async () => {
      await runRow(page, DEMO_IDS.failed).locator('[data-status="failed"]').waitFor();
      await runRow(page, DEMO_IDS.running).locator('[data-status="running"]').waitFor();
      await runRow(page, DEMO_IDS.waiting).locator('[data-status="waiting"]').waitFor();
      await page.selectOption("#f-status", "failed");
      await runRow(page, DEMO_IDS.running).waitFor({ state: "detached" });
      assert.equal(await runRow(page, DEMO_IDS.failed).count(), 1);
      await page.selectOption("#f-status", "");
      await runRow(page, DEMO_IDS.running).waitFor();
      await shot(page, "01-runs.png");
    });

    await t.step(
      "opening a failed run shows its path and where it stopped on the graph",
      async () => {
        await page.getByRole("button", { name: DEMO_IDS.failed, exact: true }).click();
        const graph = page.locator("#graph svg");
        await graph.locator('g.node.current.tone-failed[data-state="charge"]').waitFor();
        assert.equal(await graph.locator('g.node.visited[data-state="validate"]').count(), 1);
        assert.equal(await graph.locator('g.node.visited[data-state="ship"]').count(), 0);
        assert.equal(
          await graph.locator('g.edge.taken[data-from="validate"][data-to="charge"]').count(),
          1,
        );
        await page.locator("#timeline", {
          hasText: "attempt 1 failed: payment provider unavailable",
        }).waitFor();
        await page.locator("#run-summary", { hasText: "payment provider unavailable" }).waitFor();
        await shot(page, "02-failed-run.png");
        if (Deno.env.get("CANO_UPDATE_SCREENSHOT") === "1") {
          // The README's picture: the viewport only, small enough to commit.
          await page.screenshot({
            path: new URL("../docs/admin.png", import.meta.url).pathname,
            clip: { x: 0, y: 0, width: 1280, height: 820 },
          });
        }
      },
    );

    await t.step("a hostile id renders as text", async () => {
      await demo.expenses.orchestrate("submit", {
        id: hostile,
        data: { amount: 1 },
        onWait: "return",
      });
      const link = page.getByRole("button", { name: hostile, exact: true });
      await link.waitFor();
      assert.equal(await link.textContent(), hostile);
      assert.equal(await page.locator("#runs img, #runs svg").count(), 0, "no markup from the id");
      await link.click();
      await page.locator("#run-id", { hasText: hostile }).waitFor();
      assert.equal(await page.evaluate(() => (globalThis as { pwned?: unknown }).pwned), undefined);
    });

    await t.step("cancelling the running import ends it cancelled", async () => {
      await page.getByRole("button", { name: DEMO_IDS.running, exact: true }).click();
      await page.locator('#run-panel[data-status="running"]').waitFor();
      await page.locator('#graph g.node.current.tone-running[data-state="transform"]').waitFor();
      await page.locator('#run-actions button[data-action="cancel"]:not([disabled])').click();
      await page.locator('#run-panel[data-status="cancelled"]').waitFor({ timeout: 20_000 });
      await runRow(page, DEMO_IDS.running).locator('[data-status="cancelled"]').waitFor();
      await page.locator("#run-summary", { hasText: "cancelled from the admin console" }).waitFor();
      assert.equal(
        await page.locator('#run-actions button[data-action="retry"]').isDisabled(),
        true,
      );
      await shot(page, "03-cancelled.png");
    });

    await t.step("triggering a flow runs it", async () => {
      const flow = page.locator('#flows tr[data-flow="nightly-report"]');
      await flow.locator("td.runs", { hasText: "0" }).waitFor();
      await flow.locator('button[data-action="trigger"]').click();
      await flow.locator("td.runs", { hasText: "1" }).waitFor();
      await page.locator("#flows-message", { hasText: "nightly-report: trigger done" }).waitFor();
      await flow.locator('[data-status="completed"]').waitFor();
      await shot(page, "04-flow.png");
    });

    await t.step("retrying the failed order runs it to its end", async () => {
      await page.getByRole("button", { name: DEMO_IDS.failed, exact: true }).click();
      await page.locator('#run-panel[data-status="failed"]').waitFor();
      await page.locator('#run-actions button[data-action="retry"]:not([disabled])').click();
      await page.locator('#run-panel[data-status="completed"]').waitFor({ timeout: 20_000 });
      await runRow(page, DEMO_IDS.failed).waitFor({ state: "detached" });
      await shot(page, "05-retried.png");
    });

    await t.step("an event wakes the waiting expense", async () => {
      await page.getByRole("button", { name: DEMO_IDS.waiting, exact: true }).click();
      await page.locator('#run-panel[data-status="waiting"]').waitFor();
      await page.selectOption('#run-actions select[aria-label="Event name"]', "approved");
      await page.locator('#run-actions button[data-action="event"]').click();
      await page.locator("#run-message", { hasText: "Event: delivered" }).waitFor();
      await page.locator('#run-panel[data-status="completed"]').waitFor({ timeout: 20_000 });
      await shot(page, "06-event.png");
    });
    assert.deepEqual(errors, [], "no error in the page");
  } finally {
    await browser.close();
    await demo.stop();
  }
});
