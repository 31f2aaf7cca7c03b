// Deno's built-in OpenTelemetry exports cano's spans and metrics with no SDK: examples/otel.ts
// runs in a child process with OTEL_DENO=true against a tiny OTLP/HTTP receiver (JSON encoding)
// on a free loopback port, and the receiver must see every span kind, their links and the metrics.

import assert from "node:assert/strict";

interface OtlpSpan {
  name: string;
  spanId: string;
  parentSpanId?: string;
  traceId: string;
  attributes?: Array<{ key: string; value: Record<string, unknown> }>;
  status?: { code?: number; message?: string };
}

/** The spans of every OTLP/JSON trace export. */
function spansOf(bodies: unknown[]): OtlpSpan[] {
  return bodies.flatMap((body) =>
    (body as {
      resourceSpans?: Array<{ scopeSpans?: Array<{ spans?: OtlpSpan[] }> }>;
    }).resourceSpans?.flatMap((resource) =>
      resource.scopeSpans?.flatMap((scope) => scope.spans ?? []) ?? []
    ) ?? []
  );
}

/** The metric names of every OTLP/JSON metrics export. */
function metricNamesOf(bodies: unknown[]): Set<string> {
  return new Set(bodies.flatMap((body) =>
    (body as {
      resourceMetrics?: Array<{ scopeMetrics?: Array<{ metrics?: Array<{ name: string }> }> }>;
    }).resourceMetrics?.flatMap((resource) =>
      resource.scopeMetrics?.flatMap((scope) => scope.metrics?.map((m) => m.name) ?? []) ?? []
    ) ?? []
  ));
}

function attribute(span: OtlpSpan, key: string): unknown {
  const value = span.attributes?.find((a) => a.key === key)?.value;
  return value === undefined ? undefined : Object.values(value)[0];
}

Deno.test("examples/otel.ts exports cano's spans and metrics through Deno's built-in OTLP exporter", async () => {
  const received = { traces: [] as unknown[], metrics: [] as unknown[], other: [] as string[] };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const path = new URL(request.url).pathname;
      const text = await request.text();
      if (path === "/v1/traces") received.traces.push(JSON.parse(text));
      else if (path === "/v1/metrics") received.metrics.push(JSON.parse(text));
      else received.other.push(path);
      return Response.json({});
    },
  );
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-env",
        "--allow-net",
        new URL("../examples/otel.ts", import.meta.url).pathname,
      ],
      env: {
        OTEL_DENO: "true",
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${server.addr.port}`,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_SERVICE_NAME: "cano-otel-example",
      },
      stdout: "piped",
      stderr: "piped",
    });
    const { code, stdout, stderr } = await child.output();
    const output = new TextDecoder().decode(stdout);
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.match(output, /order A-1: done, total 45/);
    assert.match(output, /order A-2: failed .*card declined.*rolled back/);
  } finally {
    await server.shutdown();
  }

  const spans = spansOf(received.traces);
  const names = new Set(spans.map((span) => span.name));
  for (
    const name of [
      "cano.run",
      "cano.state",
      "cano.attempt",
      "cano.branch",
      "cano.compensate",
      "cano.tick",
      "inventory lookup",
    ]
  ) {
    assert.ok(names.has(name), `span ${name} exported (got ${[...names].join(", ")})`);
  }
  const byId = new Map(spans.map((span) => [span.spanId, span]));
  const parent = (span: OtlpSpan): OtlpSpan | undefined =>
    span.parentSpanId ? byId.get(span.parentSpanId) : undefined;
  // The task's own span nests under its attempt, which is in a state of a run.
  const lookup = spans.find((span) => span.name === "inventory lookup")!;
  const attempt = parent(lookup)!;
  assert.equal(attempt.name, "cano.attempt");
  assert.equal(attribute(attempt, "cano.state"), "reserve");
  assert.equal(parent(attempt)?.name, "cano.state");
  assert.equal(parent(parent(attempt)!)?.name, "cano.run");
  // The declined run: a failed root with a compensation under it.
  const compensate = spans.find((span) => span.name === "cano.compensate")!;
  const failedRun = parent(compensate)!;
  assert.equal(failedRun.name, "cano.run");
  assert.equal(failedRun.status?.code, 2);
  assert.equal(attribute(failedRun, "cano.workflow"), "checkout");
  // The retried branch attempt: attempt 2 under the shipping branch.
  const retried = spans.find((span) =>
    span.name === "cano.attempt" && attribute(span, "cano.task") === "shipping[1]" &&
    String(attribute(span, "cano.attempt")) === "2"
  );
  assert.equal(parent(retried!)?.name, "cano.branch");
  // The scheduled run nests under its tick.
  const tick = spans.find((span) => span.name === "cano.tick")!;
  assert.equal(attribute(tick, "cano.flow"), "nightly-report");
  assert.ok(
    spans.some((span) => span.name === "cano.run" && span.parentSpanId === tick.spanId),
  );

  const metrics = metricNamesOf(received.metrics);
  for (
    const name of [
      "cano_runs_total",
      "cano_run_duration_seconds",
      "cano_state_enters_total",
      "cano_state_duration_seconds",
      "cano_task_attempts_total",
      "cano_attempt_duration_seconds",
      "cano_task_retries_total",
      "cano_task_failures_total",
      "cano_split_branch_results_total",
      "cano_compensations_run_total",
      "cano_scheduler_ticks_total",
      "cano_scheduler_tick_lateness_seconds",
    ]
  ) {
    assert.ok(metrics.has(name), `metric ${name} exported (got ${[...metrics].join(", ")})`);
  }
});
