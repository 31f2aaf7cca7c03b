// The console page's script, served as /app.js: plain browser JavaScript, no build step, no
// dependency. Every piece of data reaches the DOM through textContent, attributes set with
// setAttribute, or `new Option` — never innerHTML — so a hostile run id or payload renders as
// text. This part: the API client, the runs table, the flows and the breakers; the run view
// (timeline, graph, actions) is page_js_run.ts.

import { PAGE_JS_RUN } from "./page_js_run.ts";

const CORE = String.raw`"use strict";
(function () {
  var base = document.body.getAttribute("data-base") || "";
  var SVG = "http://www.w3.org/2000/svg";
  var app = {
    info: null,
    selected: null,
    limit: 50,
    cursor: null,
    workflows: new Set(),
    busy: false,
    timer: null,
  };
  window.canoAdmin = app;

  function $(id) { return document.getElementById(id); }

  /** Builds an element: attrs set with setAttribute, children appended (strings as text). */
  function h(tag, attrs) {
    var element = document.createElement(tag);
    setAttrs(element, attrs);
    for (var i = 2; i < arguments.length; i++) append(element, arguments[i]);
    return element;
  }
  function s(tag, attrs) {
    var element = document.createElementNS(SVG, tag);
    setAttrs(element, attrs);
    for (var i = 2; i < arguments.length; i++) append(element, arguments[i]);
    return element;
  }
  function setAttrs(element, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (key) {
      var value = attrs[key];
      if (value === undefined || value === null || value === false) return;
      if (key === "onclick") element.addEventListener("click", value);
      else if (key === "text") element.textContent = String(value);
      else element.setAttribute(key, value === true ? "" : String(value));
    });
  }
  function append(element, child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(element, c); }); return; }
    element.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
  function clear(element) { while (element.firstChild) element.removeChild(element.firstChild); }

  function relative(iso) {
    var seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
    var size = Math.abs(seconds);
    var text = size < 60 ? size + " s" : size < 3600 ? Math.round(size / 60) + " min"
      : size < 86400 ? Math.round(size / 3600) + " h" : Math.round(size / 86400) + " d";
    return seconds >= 0 ? text + " ago" : "in " + text;
  }
  /** A time: clock time and how long ago (or ahead); the ISO time on hover. */
  function when(iso) {
    if (!iso) return h("span", { "class": "muted" }, "—");
    return h("span", { title: iso }, new Date(iso).toLocaleTimeString() + " (" + relative(iso) + ")");
  }
  /** A time as "4 s ago" alone, for tables. */
  function ago(iso) {
    if (!iso) return h("span", { "class": "muted" }, "—");
    return h("span", { title: new Date(iso).toLocaleString() }, relative(iso));
  }
  function badge(status, prefix) {
    return h("span", { "class": "badge " + (prefix || "st-") + status, "data-status": status }, String(status).replace("_", " "));
  }

  function api(path, options) {
    var init = { credentials: "same-origin", headers: { accept: "application/json" } };
    if (options && options.body !== undefined) {
      init.method = "POST";
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    return fetch(base + "/api" + path, init).then(function (response) {
      if (response.status === 401) { location.reload(); throw new Error("Logged out"); }
      return response.json().then(function (body) {
        if (!response.ok) {
          var error = new Error(body && body.error ? body.error.message : "HTTP " + response.status);
          error.status = response.status;
          throw error;
        }
        return body;
      });
    });
  }
  function enc(id) { return encodeURIComponent(id); }

  function connection(ok, message) {
    var element = $("conn");
    element.textContent = message;
    element.className = ok ? "conn" : "conn bad";
  }

  // ── Runs ────────────────────────────────────────────────────────────────────────────────
  function runsQuery() {
    var query = new URLSearchParams();
    var status = $("f-status").value;
    var workflow = $("f-workflow").value;
    if (status) query.set("status", status);
    if (workflow) query.set("workflow", workflow);
    query.set("limit", String(app.limit));
    return "/runs?" + query.toString();
  }
  function loadRuns() {
    return api(runsQuery()).then(function (page) {
      renderRuns(page.runs);
      app.cursor = page.cursor;
      $("more").hidden = !page.cursor || app.limit >= 1000;
    });
  }
  function renderRuns(runs) {
    var body = $("runs").querySelector("tbody");
    clear(body);
    runs.forEach(function (run) {
      if (run.workflow && !app.workflows.has(run.workflow)) {
        app.workflows.add(run.workflow);
        $("f-workflow").appendChild(new Option(run.workflow, run.workflow));
      }
      var row = h("tr", { "data-run": run.id, "class": run.id === app.selected ? "selected" : null },
        h("td", null, h("button", { type: "button", "class": "link", title: run.id, text: run.id, onclick: function () { select(run.id); } })),
        h("td", null, run.workflow || h("span", { "class": "muted" }, "(unnamed)"), h("span", { "class": "muted" }, " v" + run.version)),
        h("td", null, badge(run.status), run.condition ? badge(run.condition, "cond cond-") : null),
        h("td", { "class": "mono" }, run.state),
        h("td", null, String(run.sequence)),
        h("td", { "class": "nowrap" }, ago(run.updatedAt)));
      body.appendChild(row);
    });
    $("runs-empty").hidden = runs.length > 0;
  }

  function select(id) {
    app.selected = id;
    location.hash = "run=" + enc(id);
    Array.prototype.forEach.call($("runs").querySelectorAll("tr[data-run]"), function (row) {
      row.classList.toggle("selected", row.getAttribute("data-run") === id);
    });
    return app.loadRun();
  }
  function fromHash() {
    var match = /^#run=(.*)$/.exec(location.hash);
    if (!match) return null;
    try { return decodeURIComponent(match[1]); } catch (_) { return null; }
  }

  // ── Flows and resilience ───────────────────────────────────────────────────────────────
  function schedule(flow) {
    var kind = flow.schedule.kind;
    if (kind === "every") return "every " + (flow.schedule.interval >= 1000 ? flow.schedule.interval / 1000 + " s" : flow.schedule.interval + " ms");
    if (kind === "cron") return flow.schedule.expression + " (" + flow.schedule.timezone + ")";
    return "manual";
  }
  function loadFlows() {
    if (!app.info || !app.info.scheduler) return Promise.resolve();
    return api("/flows").then(function (answer) {
      var body = $("flows").querySelector("tbody");
      clear(body);
      answer.flows.forEach(function (flow) {
        var action = function (name, label, enabled, css) {
          return h("button", { type: "button", "class": "small" + (css ? " " + css : ""), disabled: !enabled || app.info.readOnly, "data-action": name,
            onclick: function () { flowAction(flow.id, name); } }, label);
        };
        body.appendChild(h("tr", { "data-flow": flow.id, "class": flow.lastError ? "has-error" : null },
          h("td", null, h("div", { "class": "mono" }, flow.id), h("div", { "class": "muted small" }, schedule(flow))),
          h("td", null, badge(flow.status)),
          h("td", { "class": "runs" }, String(flow.runCount)),
          h("td", null, String(flow.failureStreak)),
          h("td", { "class": "nowrap", title: flow.status === "backoff" ? "backing off: no scheduled run before then" : null },
            flow.status === "backoff" && flow.nextEligible ? ago(flow.nextEligible) : ago(flow.nextRun)),
          h("td", null, h("div", { "class": "group" },
            action("trigger", "Trigger", flow.status !== "running" && flow.status !== "tripped", "primary"),
            action("reset", "Reset", flow.failureStreak > 0 || flow.status === "tripped" || flow.status === "backoff"),
            action("cancel", "Cancel", flow.status === "running", "danger")))));
        if (flow.lastError) {
          body.appendChild(h("tr", { "class": "flow-error" }, h("td", { colspan: 6 },
            h("div", { "class": "error-text", title: flow.lastError }, "last error: " + flow.lastError.slice(0, 300)))));
        }
      });
    });
  }
  function flowAction(id, action) {
    var message = $("flows-message");
    message.textContent = action + " " + id + "…";
    message.className = "message";
    return api("/flows/" + enc(id) + "/" + action, { body: {} }).then(function () {
      message.textContent = "Flow " + id + ": " + action + " done";
      message.className = "message ok";
    }, function (error) {
      message.textContent = "Flow " + id + ": " + error.message;
      message.className = "message bad";
    }).then(function () { return refresh(); });
  }
  function loadResilience() {
    if (!app.info || !app.info.resilience) return Promise.resolve();
    return api("/resilience").then(function (answer) {
      var body = $("resilience").querySelector("tbody");
      clear(body);
      answer.breakers.forEach(function (breaker) {
        body.appendChild(h("tr", null, h("td", { "class": "mono" }, breaker.name), h("td", null, "circuit breaker"),
          h("td", null, badge(breaker.state)),
          h("td", null, breaker.openUntil ? ["open until ", when(breaker.openUntil)] :
            "opens after " + breaker.policy.failureThreshold + " failures; retries after " + breaker.policy.resetTimeout / 1000 + " s")));
      });
      answer.limiters.forEach(function (limiter) {
        limiter.tiers.forEach(function (tier) {
          body.appendChild(h("tr", null, h("td", { "class": "mono" }, limiter.name + (tier.name ? " / " + tier.name : "")),
            h("td", null, "rate limiter"),
            h("td", null, tier.used + " / " + tier.limit + " used"),
            h("td", null, tier.availableIn > 0 ? "next unit in " + Math.ceil(tier.availableIn) + " ms" : "available now",
              tier.resetsAt ? [", resets ", when(tier.resetsAt)] : null)));
        });
      });
    });
  }

  // ── Refresh loop ───────────────────────────────────────────────────────────────────────
  function refresh() {
    if (app.busy) return Promise.resolve();
    app.busy = true;
    return Promise.all([loadRuns(), app.selected !== null ? app.loadRun() : null, loadFlows(), loadResilience()])
      .then(function () { connection(true, "updated " + new Date().toLocaleTimeString()); },
        function (error) { connection(false, error.message); })
      .then(function () { app.busy = false; });
  }
  function arm() {
    if (app.timer !== null) clearInterval(app.timer);
    app.timer = $("live").checked ? setInterval(refresh, app.info ? app.info.refreshMs : 2000) : null;
  }

  app.h = h; app.s = s; app.clear = clear; app.when = when; app.ago = ago; app.badge = badge; app.api = api;
  app.enc = enc; app.base = base; app.refresh = refresh; app.select = select; app.$ = $;

  function start() {
    api("/info").then(function (info) {
      app.info = info;
      info.workflows.forEach(function (workflow) {
        if (app.workflows.has(workflow.name)) return;
        app.workflows.add(workflow.name);
        $("f-workflow").appendChild(new Option(workflow.name, workflow.name));
      });
      $("flows-panel").hidden = !info.scheduler;
      $("resilience-panel").hidden = !info.resilience;
      var hashed = fromHash();
      if (hashed !== null) app.selected = hashed;
      arm();
      return refresh();
    }).catch(function (error) { connection(false, error.message); });
    $("f-status").addEventListener("change", function () { app.limit = 50; refresh(); });
    $("f-workflow").addEventListener("change", function () { app.limit = 50; refresh(); });
    $("more").addEventListener("click", function () { app.limit = Math.min(1000, app.limit * 2); refresh(); });
    $("refresh").addEventListener("click", function () { refresh(); });
    $("live").addEventListener("change", arm);
    $("run-close").addEventListener("click", function () {
      app.selected = null;
      history.replaceState(null, "", location.pathname + location.search);
      $("run-panel").hidden = true;
      $("run-placeholder").hidden = false;
      refresh();
    });
    window.addEventListener("hashchange", function () {
      var id = fromHash();
      if (id !== null && id !== app.selected) select(id);
    });
  }
`;

const END = String.raw`
  start();
})();
`;

/** The page's script. */
export const PAGE_JS: string = CORE + PAGE_JS_RUN + END;
