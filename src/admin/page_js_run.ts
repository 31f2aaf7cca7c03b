// The console page's run view, spliced into /app.js by page_js.ts (it runs inside the same
// closure, using its helpers): the summary, the actions, the graph drawn as SVG from the laid-out
// definition with the run's path on it, and the timeline of the run's rows. As in the rest of the
// script, data only ever reaches the DOM as text or through setAttribute.

/** The run view's part of the page's script. */
export const PAGE_JS_RUN: string = String.raw`
  // ── One run ───────────────────────────────────────────────────────────────────────────
  var view = { id: null, actionsKey: null, graphKey: null };

  app.loadRun = function () {
    var id = app.selected;
    if (id === null) return Promise.resolve();
    return api("/runs/" + enc(id)).then(function (answer) {
      if (id === app.selected) renderRun(id, answer);
    }, function (error) {
      if (id !== app.selected) return;
      if (error.status === 404) renderGone(id, error.message);
      else throw error;
    });
  };

  function showPanel(id) {
    if (view.id !== id) { view.id = id; view.actionsKey = null; view.graphKey = null; $("run-message").textContent = ""; }
    $("run-panel").hidden = false;
    $("run-placeholder").hidden = true;
    $("run-id").textContent = id;
    $("run-id").setAttribute("title", id);
    $("run-export").setAttribute("href", base + "/api/runs/" + enc(id) + "/export");
  }

  function pair(list, label, value) {
    if (value === null || value === undefined || value === "") return;
    list.appendChild(h("dt", null, label));
    list.appendChild(h("dd", null, value));
  }

  function renderGone(id, message) {
    showPanel(id);
    $("run-panel").setAttribute("data-status", "gone");
    var summary = $("run-summary");
    clear(summary);
    pair(summary, "Status", h("span", { "class": "muted" }, "no record"));
    pair(summary, "", message);
    clear($("run-actions"));
    view.actionsKey = null;
    view.graphKey = null;
    clear($("graph"));
    clear($("timeline"));
  }

  function renderRun(id, answer) {
    showPanel(id);
    var run = answer.run;
    var ending = answer.ending;
    var status = run ? (run.condition === "cancelled" ? "cancelled" : run.status)
      : ending ? (ending.error ? "failed" : "completed") : "gone";
    $("run-panel").setAttribute("data-status", status);
    var summary = $("run-summary");
    clear(summary);
    if (run) {
      pair(summary, "Status", [badge(run.status), run.condition ? badge(run.condition, "cond cond-") : null]);
      pair(summary, "Workflow", [run.workflow || "(unnamed)", h("span", { "class": "muted" }, " version " + run.version +
        (answer.definition ? " · definition registered" : " · definition not registered here"))]);
      pair(summary, "State", h("span", { "class": "mono" }, run.state || "—"));
      pair(summary, "Rows", String(run.sequence));
      pair(summary, "Owner", run.owner ? [h("span", { "class": "mono" }, run.owner), h("span", { "class": "muted" }, run.live ? " · lease until " : " · lease over "), when(run.leaseUntil)]
        : h("span", { "class": "muted" }, run.status === "waiting" ? "nobody (parked)" : "nobody"));
      if (run.wait) {
        pair(summary, "Waits for", [h("span", { "class": "mono" }, run.wait.events.join(" | ")), " in ", h("span", { "class": "mono" }, run.wait.state),
          run.wait.until ? [" until ", when(run.wait.until)] : " (no deadline)"]);
      }
      if (run.cancel) pair(summary, "Cancel", [run.cancel.reason, " · ", when(run.cancel.requestedAt)]);
      pair(summary, "Created", when(run.createdAt));
      pair(summary, "Updated", when(run.updatedAt));
      if (run.error) pair(summary, "Error", h("div", { "class": "error-text" }, run.error));
    } else if (ending) {
      pair(summary, "Status", badge(ending.error ? "failed" : "completed"));
      pair(summary, "Ended", [when(ending.at), ending.state ? [" in ", h("span", { "class": "mono" }, ending.state)] : null,
        h("span", { "class": "muted" }, " · seen by this console; a finished run leaves no record")]);
      if (ending.error) pair(summary, "Error", h("div", { "class": "error-text" }, ending.error));
    } else {
      pair(summary, "Status", h("span", { "class": "muted" }, "log without a record"));
    }
    renderActions(id, answer);
    renderGraph(answer.graph, run);
    renderTimeline(answer.rows, answer.activity, answer.hideData, answer.rowsOmitted);
  }

  // ── Actions ─────────────────────────────────────────────────────────────────────────────
  function renderActions(id, answer) {
    var box = $("run-actions");
    var actions = answer.actions;
    var events = answer.run && answer.run.wait ? answer.run.wait.events : [];
    var key = JSON.stringify([id, actions, events, app.info && app.info.events]);
    if (key === view.actionsKey) return;
    view.actionsKey = key;
    clear(box);
    if (!actions) return;
    function button(name, label, availability, css, handler) {
      return h("button", { type: "button", "class": css, "data-action": name, disabled: !availability.allowed,
        title: availability.why, onclick: handler }, label);
    }
    box.appendChild(button("cancel", "Cancel run", actions.cancel, "danger", function () {
      if (!window.confirm("Cancel this run? It stops and its compensations run.")) return;
      act(id, "cancel", { reason: "cancelled from the admin console" });
    }));
    box.appendChild(button("resume", "Resume here", actions.resume, null, function () { act(id, "resume", {}); }));
    box.appendChild(button("retry", actions.retry.mode === "recovery" ? "Retry (hand to recovery)" : "Retry from last state",
      actions.retry, "primary", function () { act(id, "retry", {}); }));
    if (app.info && app.info.events) {
      var name = events.length > 0 ? h("select", { "aria-label": "Event name" }) : h("input", { type: "text", placeholder: "event name", "aria-label": "Event name" });
      events.forEach(function (event) { name.appendChild(new Option(event, event)); });
      var payload = h("textarea", { placeholder: "payload (JSON, optional)", "aria-label": "Event payload" });
      var send = h("button", { type: "button", "data-action": "event", disabled: !actions.sendEvent.allowed, title: actions.sendEvent.why,
        onclick: function () {
          var body = { name: name.value };
          if (payload.value.trim() !== "") {
            try { body.payload = JSON.parse(payload.value); } catch (error) { say(false, "The payload is not JSON: " + error.message); return; }
          }
          act(id, "events", body);
        } }, "Send event");
      box.appendChild(h("div", { "class": "event-form" }, name, payload, send));
    }
  }

  function say(ok, text) {
    var message = $("run-message");
    message.textContent = text;
    message.className = ok ? "message ok" : "message bad";
  }

  function act(id, action, body) {
    var message = $("run-message");
    message.textContent = action + "…";
    message.className = "message";
    return api("/runs/" + enc(id) + "/" + action, { body: body }).then(function (answer) {
      var text = action === "cancel" ? "Cancel: " + answer.outcome.replace("_", " ")
        : action === "events" ? "Event: " + answer.outcome
        : action === "retry" ? (answer.mode === "here" ? "Retrying here from the last state" : "Handed to recovery: a process running startRecovery picks it up")
        : "Resumed here";
      say(true, text);
    }, function (error) { say(false, error.message); }).then(function () {
      view.actionsKey = null;
      return app.refresh();
    });
  }

  // ── Graph ───────────────────────────────────────────────────────────────────────────────
  function edgePath(points, back, loop) {
    var p = points.map(function (point) { return point[0].toFixed(1) + "," + point[1].toFixed(1); });
    if (loop && points.length === 4) return "M" + p[0] + " C" + p[1] + " " + p[2] + " " + p[3];
    if (back) return "M" + p.join(" L");
    var d = "M" + p[0];
    for (var i = 1; i < points.length; i++) {
      var a = points[i - 1], b = points[i], dy = (b[1] - a[1]) / 2;
      d += " C" + a[0].toFixed(1) + "," + (a[1] + dy).toFixed(1) + " " + b[0].toFixed(1) + "," + (b[1] - dy).toFixed(1) + " " + p[i];
    }
    return d;
  }

  function renderGraph(graph, run) {
    var box = $("graph");
    var key = JSON.stringify([graph, run ? run.status : null]);
    if (key === view.graphKey) return;
    view.graphKey = key;
    clear(box);
    if (!graph) {
      box.appendChild(h("p", { "class": "note" }, "No graph: the run has no rows and no definition of its workflow is registered."));
      return;
    }
    var tone = run ? run.status : "none";
    var svg = s("svg", { viewBox: "0 0 " + graph.width + " " + graph.height, width: graph.width, height: graph.height,
      role: "img", "aria-label": "Workflow graph", "data-source": graph.source });
    svg.appendChild(s("defs", null,
      s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
        s("path", { d: "M0,0 L10,5 L0,10 z", fill: "#b6bcc6" })),
      s("marker", { id: "arrow-taken", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
        s("path", { d: "M0,0 L10,5 L0,10 z", fill: "#2563eb" }))));
    graph.edges.forEach(function (edge) {
      var css = "edge" + (edge.taken ? " taken" : "") + (edge.observed ? " observed" : "") + (edge.back ? " back" : "");
      var group = s("g", { "class": css, "data-from": edge.from, "data-to": edge.to },
        s("path", { d: edgePath(edge.points, edge.back, edge.from === edge.to), "marker-end": edge.taken ? "url(#arrow-taken)" : "url(#arrow)" }));
      if (edge.label) {
        var middle = edge.points.length % 2 === 0
          ? [(edge.points[edge.points.length / 2 - 1][0] + edge.points[edge.points.length / 2][0]) / 2,
            (edge.points[edge.points.length / 2 - 1][1] + edge.points[edge.points.length / 2][1]) / 2]
          : edge.points[(edge.points.length - 1) / 2];
        group.appendChild(s("text", { x: middle[0].toFixed(1), y: (middle[1] + 4).toFixed(1), text: edge.label }));
      }
      svg.appendChild(group);
    });
    graph.nodes.forEach(function (node) {
      var css = "node kind-" + node.kind + (node.visited ? " visited" : "") + (node.current ? " current tone-" + tone : "");
      svg.appendChild(s("g", { "class": css, "data-state": node.id, transform: "translate(" + node.x.toFixed(1) + "," + node.y.toFixed(1) + ")" },
        s("title", { text: node.id + " (" + node.kind + (node.exit ? ", exit" : "") + ")" }),
        s("rect", { width: node.width, height: node.height, rx: node.exit ? node.height / 2 : 6 }),
        s("text", { x: (node.width / 2).toFixed(1), y: (node.height / 2).toFixed(1), text: node.label })));
    });
    box.appendChild(svg);
    box.appendChild(h("p", { "class": "note" }, graph.source === "path"
      ? "Drawn from the run's log alone: no definition of this workflow version is registered with the console."
      : "Blue: the run's path. Thick border: where it is now. Dashed edge: taken, not declared; dashed box: a router."));
  }

  // ── Timeline ────────────────────────────────────────────────────────────────────────────
  function details(label, value, key, open) {
    var element = h("details", { "data-key": key, open: open.has(key) }, h("summary", null, label),
      h("pre", null, JSON.stringify(value, null, 2)));
    return element;
  }

  function renderTimeline(rows, activity, hideData, omitted) {
    var box = $("timeline");
    var open = new Set();
    Array.prototype.forEach.call(box.querySelectorAll("details[open]"), function (element) { open.add(element.getAttribute("data-key")); });
    clear(box);
    if (hideData) box.appendChild(h("p", { "class": "muted" }, "Run data is hidden by this console (hideData)."));
    if (rows.length === 0) box.appendChild(h("p", { "class": "muted" }, "No rows in the log."));
    if (omitted > 0) box.appendChild(h("p", { "class": "muted" }, omitted + " earlier rows are not shown here: export the run for all of them."));
    var list = h("ol", { "class": "rows" });
    rows.forEach(function (row, index) {
      list.appendChild(h("li", { "class": "k-" + row.kind + (index === rows.length - 1 ? " last" : ""), "data-seq": row.sequence },
        h("div", { "class": "line1" },
          h("span", { "class": "seq" }, "#" + row.sequence),
          h("span", { "class": "kind" }, row.kind.replace(/_/g, " ")),
          h("span", { "class": "state mono" }, row.state),
          row.taskId && row.taskId !== row.state ? h("span", { "class": "muted mono" }, "task " + row.taskId) : null,
          row.resumed ? h("span", { "class": "badge cond" }, "resumed") : null,
          row.at ? when(row.at) : h("span", { "class": "muted", title: "Rows carry no time; this console saw it written elsewhere or before it started" }, "time not seen"),
          h("span", { "class": "muted" }, "v" + row.workflowVersion)),
        row.note ? h("div", { "class": "muted" }, row.note) : null,
        row.retries.length > 0 ? h("ul", { "class": "retries" }, row.retries.map(function (retry) {
          return h("li", null, "attempt " + retry.attempt + " failed: " + retry.error);
        })) : null,
        row.data !== undefined ? details("data snapshot", row.data, row.sequence + "/data", open) : null,
        row.output !== undefined ? details("output", row.output, row.sequence + "/output", open) : null));
    });
    box.appendChild(list);
    var seen = activity.filter(function (entry) { return entry.kind !== "row" && entry.kind !== "retry"; });
    if (seen.length > 0) {
      box.appendChild(h("h3", null, "Seen by this console"));
      box.appendChild(h("ul", { "class": "activity" }, seen.map(function (entry) {
        var text = entry.kind === "compensate" ? "compensation " + entry.taskId + (entry.ok ? " ran" : " failed: " + entry.error)
          : entry.kind === "taskfailure" ? "task in " + entry.state + " failed: " + entry.error
          : entry.kind === "resume" ? "resumed from row " + entry.sequence
          : entry.error ? "ended failed: " + entry.error : "completed in " + entry.state;
        return h("li", { "data-kind": entry.kind }, when(entry.at), " ", text);
      })));
    }
  }
`;
