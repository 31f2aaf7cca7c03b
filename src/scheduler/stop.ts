// The stop side of the running scheduler: its options, checked, and the teardown of every
// workflow's resources once the last run has ended.

import { safeString } from "../describe.ts";
import { type CanoError, ConfigurationError } from "../errors.ts";
import type { Resources } from "../resources.ts";

/** Options of {@link RunningScheduler.stop}. */
export interface StopOptions {
  /**
   * How long `stop()` waits for the runs in flight to end after they were aborted, in ms, before
   * it rejects. Default 30 000; `0` gives them only until the next turn of the event loop;
   * `Infinity` waits for ever. It bounds the wait, not the teardown: resources are torn down only
   * once every run has ended, however long that takes.
   */
  timeout?: number;
}

/** The longest `setTimeout` delay; a longer stop timeout would fire at once. */
const MAX_TIMEOUT = 2_147_483_647;

/** Checks the stop timeout (default 30 000 ms). */
export function checkTimeout(options: StopOptions): number {
  if (typeof options !== "object" || options === null) {
    throw new ConfigurationError(`Stop options must be an object, received ${safeString(options)}`);
  }
  const timeout = options.timeout ?? 30_000;
  if (
    typeof timeout !== "number" || Number.isNaN(timeout) || timeout < 0 ||
    (timeout > MAX_TIMEOUT && timeout !== Infinity)
  ) {
    throw new ConfigurationError(
      `Stop timeout must be a number of ms between 0 and ${MAX_TIMEOUT}, or Infinity, received ${
        safeString(timeout)
      }`,
    );
  }
  return timeout;
}

/** Throws a stop's error, if any. */
export function raise(error: CanoError | undefined): void {
  if (error !== undefined) throw error;
}

/** Tears every workflow's resources down, in reverse registration order. Never rejects. */
export async function teardown(all: readonly Resources[]): Promise<void> {
  for (const resources of [...all].reverse()) {
    try {
      await resources.teardownAll(); // reports its own failures and carries on
    } catch (error) {
      console.error(`cano: tearing the scheduler's resources down failed: ${safeString(error)}`);
    }
  }
}
