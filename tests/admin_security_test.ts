// The admin console's security, with plain requests: cross-origin POSTs refused, loopback only
// without a token (by address and by Host, against DNS rebinding), the token required on a
// non-loopback bind (bearer or login cookie), state changes only by POST, and hostile ids and
// data kept inert (JSON with nosniff, a page without data, a strict CSP, no innerHTML).

import assert from "node:assert/strict";
import { ConfigurationError, MemoryCheckpointStore } from "../mod.ts";
import { adminHandler, serveAdmin } from "../admin.ts";
import { PAGE_JS } from "../src/admin/page_js.ts";
import { constantTimeEqual, sessionValue } from "../src/admin/security.ts";
import {
  at,
  expenseWorkflow,
  failedOrders,
  get,
  HOSTILE_IDS,
  orderWorkflow,
  post,
  runPath,
  waitingExpenses,
} from "./admin_fixtures.ts";

const TOKEN = "s3cret-token-for-tests-0123456789";

Deno.test("adminHandler() refuses a cross-origin POST and leaves the run alone", async () => {
  const store = new MemoryCheckpointStore();
  const expenses = expenseWorkflow(store);
  await waitingExpenses(expenses, ["e-1"]);
  await using handler = adminHandler({ store, workflows: [expenses] });
  const crossOrigin = await post(handler, runPath("e-1", "cancel"), {}, {
    origin: "https://evil.example",
  });
  assert.equal(crossOrigin.status, 403);
  assert.match(
    (await crossOrigin.json()).error.message,
    /Cross-origin request refused: Origin "https:\/\/evil\.example"/,
  );
  const crossSite = await post(handler, runPath("e-1", "cancel"), {}, {
    "sec-fetch-site": "cross-site",
  });
  assert.equal(crossSite.status, 403);
  const sameSiteOtherPort = await post(handler, runPath("e-1", "cancel"), {}, {
    origin: "http://127.0.0.1:9999",
  });
  assert.equal(sameSiteOtherPort.status, 403, "another port is another origin");
  assert.equal((await store.getRun("e-1"))?.cancel, undefined, "nothing was requested");
  // A form post (the one cross-site request a browser sends without asking) is not JSON: refused.
  const form = await handler(
    new Request(at(runPath("e-1", "cancel")), {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "reason=x",
    }),
  );
  assert.equal(form.status, 415);

  const sameOrigin = await post(handler, runPath("e-1", "cancel"), {}, {
    origin: "http://127.0.0.1",
    "sec-fetch-site": "same-origin",
  });
  assert.equal(sameOrigin.status, 200);
  assert.equal((await store.getRun("e-1"))?.cancel?.reason, "cancelled from the admin console");
});

Deno.test("adminHandler() changes state only by POST", async () => {
  const store = new MemoryCheckpointStore();
  const expenses = expenseWorkflow(store);
  await waitingExpenses(expenses, ["e-1"]);
  await using handler = adminHandler({ store, workflows: [expenses] });
  assert.equal((await get(handler, runPath("e-1", "cancel"))).status, 404);
  for (const method of ["PUT", "DELETE", "PATCH"]) {
    const response = await handler(new Request(at(runPath("e-1", "cancel")), { method }));
    assert.equal(response.status, 405, method);
    assert.equal(response.headers.get("allow"), "GET, HEAD, POST");
  }
  assert.equal((await store.getRun("e-1"))?.cancel, undefined);
});

Deno.test("adminHandler() without a token serves this machine only, under a loopback Host", async () => {
  await using handler = adminHandler({ store: new MemoryCheckpointStore() });
  const remote = await handler(new Request(at("/api/runs")), {
    remoteAddr: { hostname: "192.168.1.20", transport: "tcp" },
  });
  assert.equal(remote.status, 403);
  assert.match((await remote.json()).error.message, /no token, so it serves this machine only/);
  const local = await handler(new Request(at("/api/runs")), {
    remoteAddr: { hostname: "127.0.0.1", transport: "tcp" },
  });
  assert.equal(local.status, 200);
  // DNS rebinding: a page of evil.example resolved to 127.0.0.1 asks with its own name.
  const rebound = await handler(new Request("http://evil.example:8787/api/runs"), {
    remoteAddr: { hostname: "127.0.0.1", transport: "tcp" },
  });
  assert.equal(rebound.status, 403);
  assert.match((await rebound.json()).error.message, /loopback host/);
  for (const host of ["localhost:8787", "[::1]:8787", "127.0.0.2", "app.localhost"]) {
    const response = await handler(new Request(at("/api/runs"), { headers: { host } }));
    assert.equal(response.status, 200, host);
  }
});

Deno.test("serveAdmin() refuses a non-loopback address without a token", () => {
  for (const hostname of ["0.0.0.0", "::", "192.168.1.20", "example.com"]) {
    assert.throws(
      () => serveAdmin({ store: new MemoryCheckpointStore(), hostname }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigurationError);
        assert.match(
          error.message,
          new RegExp(
            `hostname "${hostname.replace(".", "\\.")}" is not a loopback address: set token`,
          ),
        );
        return true;
      },
    );
  }
});

Deno.test("serveAdmin() bound to a non-loopback address refuses requests without the token", async () => {
  const store = new MemoryCheckpointStore();
  const orders = orderWorkflow(store);
  await failedOrders(orders, ["order-1"]);
  await using server = serveAdmin({
    store,
    workflows: [orders],
    hostname: "0.0.0.0",
    token: TOKEN,
  });
  const port = server.addr.port;
  // Every address of this machine the server listens on: loopback and, when there is one, a LAN one.
  const hosts = [
    "127.0.0.1",
    ...Deno.networkInterfaces().filter((i) => i.family === "IPv4" && !i.address.startsWith("127."))
      .map((i) => i.address).slice(0, 1),
  ];
  for (const host of hosts) {
    const base = `http://${host}:${port}`;
    const bare = await fetch(`${base}/api/runs`);
    assert.equal(bare.status, 401, host);
    assert.match(bare.headers.get("www-authenticate") ?? "", /^Bearer/);
    await bare.body?.cancel();
    const wrong = await fetch(`${base}/api/runs`, {
      headers: { authorization: "Bearer nope-nope-nope-nope" },
    });
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();
    const cancel = await fetch(`${base}${runPath("order-1", "cancel")}`, { method: "POST" });
    assert.equal(cancel.status, 401, "an action without the token");
    await cancel.body?.cancel();
    const right = await fetch(`${base}/api/runs`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(right.status, 200);
    assert.equal((await right.json()).runs[0].id, "order-1");
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 401);
    assert.match(await page.text(), /<form method="post" action="\/login">/);
  }
});

Deno.test("adminHandler() with a token logs in with a session cookie that is not the token", async () => {
  await using handler = adminHandler({ store: new MemoryCheckpointStore(), token: TOKEN });
  const login = (token: string, origin = "http://127.0.0.1") =>
    handler(
      new Request(at("/login"), {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", origin },
        body: new URLSearchParams({ token }).toString(),
      }),
    );
  const wrong = await login("not-the-token-at-all");
  assert.equal(wrong.status, 401);
  assert.match(await wrong.text(), /That token is not right/);
  assert.equal(wrong.headers.get("set-cookie"), null);
  assert.equal((await login(TOKEN, "https://evil.example")).status, 403, "login CSRF");

  const ok = await login(TOKEN);
  assert.equal(ok.status, 303);
  const cookie = ok.headers.get("set-cookie") ?? "";
  assert.match(cookie, /^cano_admin_session=[0-9a-f]{64}; Path=\/; HttpOnly; SameSite=Strict$/);
  assert.ok(!cookie.includes(TOKEN));
  const session = cookie.split(";")[0]!;
  assert.equal(session, `cano_admin_session=${await sessionValue(TOKEN)}`);
  const page = await get(handler, "/", { cookie: session });
  assert.equal(page.status, 200);
  assert.match(await page.text(), /action="\/logout"/);
  assert.equal(
    (await get(handler, "/api/runs", { cookie: "cano_admin_session=forged" })).status,
    401,
  );
  const logout = await handler(
    new Request(at("/logout"), { method: "POST", headers: { cookie: session } }),
  );
  assert.equal(logout.status, 303);
  assert.match(logout.headers.get("set-cookie") ?? "", /Max-Age=0/);
});

Deno.test("constantTimeEqual() compares whatever the lengths", async () => {
  assert.equal(await constantTimeEqual(TOKEN, TOKEN), true);
  assert.equal(await constantTimeEqual(TOKEN.slice(0, -1), TOKEN), false);
  assert.equal(await constantTimeEqual(`${TOKEN}x`, TOKEN), false);
  assert.equal(await constantTimeEqual("", TOKEN), false);
});

Deno.test("adminHandler() keeps hostile ids and data inert", async () => {
  const store = new MemoryCheckpointStore();
  const expenses = expenseWorkflow(store);
  await waitingExpenses(expenses, HOSTILE_IDS);
  await using handler = adminHandler({ store, workflows: [expenses] });

  // The page holds no data at all (the script fetches it), and forbids inline script.
  const page = await get(handler, "/");
  const html = await page.text();
  for (const id of HOSTILE_IDS) assert.ok(!html.includes(id), `${id} is not in the page`);
  const policy = page.headers.get("content-security-policy") ?? "";
  assert.match(policy, /default-src 'none'/);
  assert.match(policy, /script-src 'self'(;|$)/);
  assert.doesNotMatch(html, /<script>|<script [^>]*>[^<]/, "no inline script");
  assert.equal(page.headers.get("x-frame-options"), "DENY");
  // The script builds the DOM from text: nothing parses data as HTML.
  for (const sink of ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("]) {
    assert.ok(!PAGE_JS.includes(sink), `app.js uses no ${sink}`);
  }

  // Data travels as JSON, never sniffed as HTML, and every id comes back exactly.
  const list = await get(handler, "/api/runs");
  assert.equal(list.headers.get("content-type"), "application/json; charset=utf-8");
  assert.equal(list.headers.get("x-content-type-options"), "nosniff");
  const ids = (await list.json()).runs.map((run: { id: string }) => run.id).sort();
  assert.deepEqual(ids, [...HOSTILE_IDS].sort());
  for (const id of HOSTILE_IDS) {
    const one = await get(handler, runPath(id));
    assert.equal(one.status, 200, id);
    assert.equal((await one.json()).run.id, id);
    const exported = await get(handler, runPath(id, "export"));
    assert.match(
      exported.headers.get("content-disposition") ?? "",
      /^attachment; filename="run-[A-Za-z0-9._-]*\.json"$/,
    );
    await exported.body?.cancel();
  }
  assert.equal((await get(handler, "/api/runs/%E0%A4%A")).status, 400, "malformed escapes");
});
