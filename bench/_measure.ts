// What the scheduler benchmarks measure with: the process's CPU time, and latency samples (a
// growable Float64Array and percentiles over it).

import process from "node:process";

/** User + system CPU time of the whole process (GC threads included), in ms. */
export function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1_000;
}

/** Samples (ms), recorded while `open`; percentiles over what was recorded. */
export class Samples {
  #values: Float64Array;
  #length = 0;
  /** Whether `push` records (a benchmark opens it for its measured window only). */
  open: boolean;

  /**
   * @param options `capacity`: the initial size (it grows as needed; default 65,536);
   * `open`: whether samples are recorded from the start (default `true`).
   */
  constructor(options: { capacity?: number; open?: boolean } = {}) {
    this.#values = new Float64Array(options.capacity ?? 1 << 16);
    this.open = options.open ?? true;
  }

  /** Records `value`, if open. */
  push(value: number): void {
    if (!this.open) return;
    if (this.#length === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#length++] = value;
  }

  /** How many samples were recorded. */
  get length(): number {
    return this.#length;
  }

  /** The `p`th percentile (0–100) of the samples, `NaN` when there are none. */
  percentile(p: number): number {
    if (this.#length === 0) return NaN;
    const sorted = this.#values.slice(0, this.#length).sort();
    return sorted[Math.min(this.#length - 1, Math.floor((p / 100) * this.#length))]!;
  }
}
