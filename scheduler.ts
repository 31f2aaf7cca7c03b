/**
 * The scheduler entrypoint (work in progress).
 *
 * @module
 */

/** Placeholder until the scheduler lands. */
export const SCHEDULER_PENDING = true;
