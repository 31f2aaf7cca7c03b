// What attaching an observer (`logTo`, `instrument`) returns: something to detach, by hand or
// with `using`.

/**
 * An observer attached to a workflow or a scheduler: `detach()` (or `using`) takes it off.
 * Detaching twice does nothing.
 *
 * @example Detach on scope exit
 * ```ts
 * import { logTo, Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const workflow = new Workflow<"go" | "done">().register("go", () => "done").addExitState("done");
 * const lines: string[] = [];
 * const sink = { debug: (l: string) => lines.push(l), info: (l: string) => lines.push(l),
 *   warn: (l: string) => lines.push(l), error: (l: string) => lines.push(l) };
 * {
 *   using log = logTo(workflow, sink);
 *   assert.equal(log.attached, true);
 *   await workflow.orchestrate("go");
 * }
 * const seen = lines.length;
 * await workflow.orchestrate("go");
 * assert.equal(lines.length, seen); // detached: nothing more
 * ```
 */
export interface Attachment extends Disposable {
  /** Whether it is still attached. */
  readonly attached: boolean;
  /** Detaches it; later calls do nothing. */
  detach(): void;
}

/** An {@link Attachment} whose detach runs `detach` once. */
export function attachment(detach: () => void): Attachment {
  let attached = true;
  return {
    get attached(): boolean {
      return attached;
    },
    detach(): void {
      if (!attached) return;
      attached = false;
      detach();
    },
    [Symbol.dispose](): void {
      this.detach();
    },
  };
}
