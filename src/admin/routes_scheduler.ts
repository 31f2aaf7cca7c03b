// The scheduler and resilience routes of the console's API: the flows with their status, next
// run and failure streak, trigger / reset / cancel, and the circuit breakers' and rate limiters'
// state.

import { safeInstanceOf } from "../describe.ts";
import { CanoError } from "../errors.ts";
import type { CircuitBreaker } from "../resilience/circuit_breaker.ts";
import type { MeterStatus } from "../resilience/rate_limiter.ts";
import type { FlowInfo } from "../scheduler/flow_info.ts";
import type { RunningScheduler } from "../scheduler/running.ts";
import { HttpError, json, readJsonBody } from "./http.ts";
import type { AdminLimiter } from "./options.ts";

/** How long a flow cancel is waited for before the answer says the run is still ending. */
const CANCEL_WAIT_MS = 5_000;

/** What the scheduler routes need. */
export interface SchedulerRoutesContext {
  readonly scheduler: RunningScheduler | undefined;
  readonly breakers: ReadonlyMap<string, CircuitBreaker>;
  readonly limiters: ReadonlyMap<string, AdminLimiter>;
  readonly readOnly: boolean;
  readonly track: (work: Promise<unknown>) => void;
}

function iso(date: Date | undefined): string | null {
  return date === undefined || !Number.isFinite(date.getTime()) ? null : date.toISOString();
}

/**
 * A flow as the API shows it.
 *
 * @param info The flow's snapshot.
 * @returns The view.
 */
export function flowView(info: FlowInfo): Record<string, unknown> {
  return {
    id: info.id,
    status: info.status,
    schedule: { ...info.schedule },
    runCount: info.runCount,
    lastRun: iso(info.lastRun),
    failureStreak: info.failureStreak,
    nextEligible: iso(info.nextEligible),
    lastError: info.lastError ?? null,
    nextRun: iso(info.nextRun),
  };
}

/**
 * `GET /api/flows`: the scheduler's flows (`scheduler: false` when none is registered).
 *
 * @param context The console.
 * @returns `{ scheduler, flows }`.
 */
export function listFlows(context: SchedulerRoutesContext): Response {
  const scheduler = context.scheduler;
  if (scheduler === undefined) return json({ scheduler: false, flows: [] });
  return json({ scheduler: true, flows: scheduler.list().map(flowView) });
}

/**
 * `POST /api/flows/:id/<action>`: trigger, reset, cancel.
 *
 * @param context The console.
 * @param id The flow's id.
 * @param action The action.
 * @param request The request.
 * @returns The flow after the action.
 */
export async function flowAction(
  context: SchedulerRoutesContext,
  id: string,
  action: string,
  request: Request,
): Promise<Response> {
  await readJsonBody(request);
  if (context.readOnly) throw new HttpError(403, "The console is read-only");
  const scheduler = context.scheduler;
  if (scheduler === undefined) {
    throw new HttpError(404, "No scheduler is registered with the console");
  }
  if (scheduler.status(id) === undefined) {
    throw new HttpError(404, `No flow with id ${JSON.stringify(id.slice(0, 200))}`);
  }
  try {
    switch (action) {
      case "trigger":
        await scheduler.trigger(id);
        break;
      case "reset":
        await scheduler.resetFlow(id);
        break;
      case "cancel": {
        const cancelled = scheduler.cancelFlow(id);
        context.track(cancelled);
        let timer: ReturnType<typeof setTimeout> | undefined;
        const ended = await Promise.race([
          cancelled.then(() => true),
          new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), CANCEL_WAIT_MS)),
        ]).finally(() => clearTimeout(timer));
        const info = scheduler.status(id);
        return json({ ended, flow: info === undefined ? null : flowView(info) }, ended ? 200 : 202);
      }
      default:
        throw new HttpError(404, `Unknown flow action ${JSON.stringify(action.slice(0, 40))}`);
    }
  } catch (error) {
    // The scheduler refuses a trigger of a running or tripped flow, and any call once stopped.
    if (safeInstanceOf(error, CanoError) && error.category === "workflow") {
      throw new HttpError(409, error.message);
    }
    throw error;
  }
  const info = scheduler.status(id);
  return json({ flow: info === undefined ? null : flowView(info) });
}

/**
 * `GET /api/resilience`: the registered circuit breakers and rate limiters.
 *
 * @param context The console.
 * @returns `{ breakers, limiters }`.
 */
export function resilience(context: SchedulerRoutesContext): Response {
  const breakers = [...context.breakers].map(([name, breaker]) => ({
    name,
    state: breaker.state,
    openUntil: iso(breaker.openUntil),
    policy: breaker.policy,
  }));
  const limiters = [...context.limiters].map(([name, limiter]) => ({
    name,
    tiers: "tiers" in limiter
      ? limiter.tiers.map((tier) => ({ name: tier.name, ...meterView(tier.meter.snapshot()) }))
      : [{ name: null, ...meterView(limiter.snapshot()) }],
  }));
  return json({ breakers, limiters });
}

function meterView(status: MeterStatus): Record<string, unknown> {
  return {
    used: status.used,
    limit: status.limit,
    availableIn: status.availableIn,
    resetsAt: iso(status.resetsAt),
  };
}
