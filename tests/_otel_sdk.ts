// A recording OpenTelemetry SDK for the tests: spans to an in-memory exporter, metrics to a
// reader collected on demand, and the AsyncLocalStorage context manager (so a span made inside
// a task finds its parent). Dev-only packages, as inline npm: specifiers (never in the core).

import { context, type Meter, type Tracer } from "npm:@opentelemetry/api@^1";
import {
  BasicTracerProvider,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
} from "npm:@opentelemetry/sdk-trace-base@^2";
import { AsyncLocalStorageContextManager } from "npm:@opentelemetry/context-async-hooks@^2";
import {
  type DataPoint,
  type Histogram,
  MeterProvider,
  MetricReader,
} from "npm:@opentelemetry/sdk-metrics@^2";

export type { ReadableSpan };

/**
 * Keeps the spans it is given, at once (the SDK's InMemorySpanExporter reports each export
 * through a timer, which the tests' sanitizers would see).
 */
class RecordingExporter implements SpanExporter {
  readonly finished: ReadableSpan[] = [];
  export(spans: ReadableSpan[], done: (result: { code: number }) => void): void {
    this.finished.push(...spans);
    done({ code: 0 });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** A metric reader collected by hand: no export timer. */
class ManualReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** One recorded data point: its attributes and value (a histogram's count and sum). */
export interface Point {
  readonly attributes: Record<string, unknown>;
  readonly value: number;
  /** Histograms: how many values were recorded. */
  readonly count?: number;
}

/** The SDK of one test: dispose of it (`using`) to shut it down and drop the context manager. */
export class RecordingSdk implements Disposable {
  readonly #spans = new RecordingExporter();
  readonly #tracerProvider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(this.#spans)],
  });
  readonly #reader = new ManualReader();
  readonly #meterProvider = new MeterProvider({ readers: [this.#reader] });
  readonly #contexts = new AsyncLocalStorageContextManager();
  #started = 0;
  /** A tracer for the test's own spans (a task's `fetch`). */
  readonly userTracer: Tracer = this.#tracerProvider.getTracer("user");
  /**
   * The tracer to hand to `instrument`: it numbers the spans it starts (`test.seq`), so that a
   * tree lists siblings in start order even when they start in the same microsecond.
   */
  readonly tracer: Tracer = ((inner: Tracer): Tracer => ({
    startSpan: (name, options, parent) =>
      inner.startSpan(
        name,
        { ...options, attributes: { ...options?.attributes, "test.seq": this.#started++ } },
        parent,
      ),
    startActiveSpan: inner.startActiveSpan.bind(inner) as Tracer["startActiveSpan"],
  }))(this.#tracerProvider.getTracer("test"));
  /** The meter to hand to `instrument`. */
  readonly meter: Meter = this.#meterProvider.getMeter("test");

  constructor() {
    this.#contexts.enable();
    context.setGlobalContextManager(this.#contexts);
  }

  /** The spans ended so far, in the order they ended. */
  spans(): ReadableSpan[] {
    return [...this.#spans.finished];
  }

  /** The data points of every metric recorded so far, by metric name. */
  async metrics(): Promise<Map<string, Point[]>> {
    const { resourceMetrics } = await this.#reader.collect();
    const byName = new Map<string, Point[]>();
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        const points = (metric.dataPoints as DataPoint<number | Histogram>[]).map((point) => {
          const value = point.value;
          return typeof value === "number"
            ? { attributes: { ...point.attributes }, value }
            : { attributes: { ...point.attributes }, value: value.sum ?? 0, count: value.count };
        });
        byName.set(metric.descriptor.name, points);
      }
    }
    return byName;
  }

  [Symbol.dispose](): void {
    context.disable();
    this.#contexts.disable();
    void this.#tracerProvider.shutdown();
    void this.#meterProvider.shutdown();
  }
}

/** The span's parent among `spans`, by id. */
export function parentOf(
  span: ReadableSpan,
  spans: readonly ReadableSpan[],
): ReadableSpan | undefined {
  const id = span.parentSpanContext?.spanId;
  return id === undefined ? undefined : spans.find((other) => other.spanContext().spanId === id);
}

/**
 * The span tree as lines, depth-first in start order: `name key=value …` with the attributes
 * asked for, indented two spaces per level, `!` after the name of a span whose status is ERROR.
 */
export function tree(spans: readonly ReadableSpan[], keys: readonly string[]): string[] {
  const order = (span: ReadableSpan): number => Number(span.attributes["test.seq"] ?? Infinity);
  const started = [...spans].sort((a, b) =>
    order(a) - order(b) || a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]
  );
  const lines: string[] = [];
  const walk = (parent: ReadableSpan | undefined, depth: number): void => {
    for (const span of started) {
      if (parentOf(span, spans) !== parent) continue;
      const attributes = keys.filter((key) => span.attributes[key] !== undefined)
        .map((key) => `${key.replace(/^cano\./, "")}=${String(span.attributes[key])}`);
      const status = span.status.code === 2 ? "!" : "";
      lines.push(`${"  ".repeat(depth)}${span.name}${status} ${attributes.join(" ")}`.trimEnd());
      walk(span, depth + 1);
    }
  };
  walk(undefined, 0);
  return lines;
}
