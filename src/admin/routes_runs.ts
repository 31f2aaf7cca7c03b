// The run routes of the console's API: the list (filters and cursor), one run (record, rows,
// what this process saw, its graph and the actions it allows), its export, and the actions.

import type { RunStatus } from "../recovery/checkpoint.ts";
import { HttpError, json, optionalString, readJsonBody } from "./http.ts";
import { quote } from "./options.ts";
import type { ActionContext } from "./run_actions.ts";
import {
  actionsOf,
  cancelRun,
  definitionFor,
  identityOf,
  resumeHere,
  type RetryMode,
  retryRun,
  sendRunEvent,
} from "./run_actions.ts";
import { currentOf, graphView, pathOf } from "./graph.ts";
import { rowViews, runView } from "./views.ts";

/** What the run routes need: the action context, and whether run data is hidden. */
export interface RunRoutesContext extends ActionContext {
  readonly hideData: boolean;
}

const STATUSES: ReadonlySet<string> = new Set(["running", "rolling_back", "failed", "waiting"]);
/**
 * Rows a run's view shows at most: the latest ones (a long stepped run writes a row per cursor,
 * and the page asks again every couple of seconds); the export has them all.
 */
const MAX_ROWS = 500;

/**
 * `GET /api/runs?status=&workflow=&limit=&cursor=`: a page of run records.
 *
 * @param context The console.
 * @param url The request's URL.
 * @returns The page: `{ runs, cursor }`.
 */
export async function listRuns(context: RunRoutesContext, url: URL): Promise<Response> {
  const status = url.searchParams.get("status") || undefined;
  if (status !== undefined && !STATUSES.has(status)) {
    throw new HttpError(
      400,
      `Filter status must be "running", "rolling_back", "failed" or "waiting", received ${
        quote(status.slice(0, 100))
      }`,
    );
  }
  const workflow = url.searchParams.get("workflow") ?? undefined;
  const cursor = url.searchParams.get("cursor") || undefined;
  const limitText = url.searchParams.get("limit");
  const limit = limitText === null || limitText === "" ? 50 : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1_000) {
    throw new HttpError(
      400,
      `Filter limit must be an integer from 1 to 1000, received ${quote(limitText)}`,
    );
  }
  const page = await context.store.listRuns({
    limit,
    ...(status === undefined ? {} : { status: status as RunStatus }),
    ...(workflow === undefined || workflow === "" ? {} : { workflow }),
    ...(cursor === undefined ? {} : { cursor }),
  });
  const now = Date.now();
  return json({ runs: page.runs.map((info) => runView(info, now)), cursor: page.cursor ?? null });
}

/**
 * `GET /api/runs/:id`: a run's record, rows, graph and actions. A run with no record but seen
 * ending here answers with how it ended; one with neither is a 404.
 *
 * @param context The console.
 * @param id The run id.
 * @returns The run.
 */
export async function showRun(context: RunRoutesContext, id: string): Promise<Response> {
  const [info, rows] = await Promise.all([context.store.getRun(id), context.store.loadRun(id)]);
  const activity = context.activity?.entries(id) ?? [];
  const ending = info === undefined && rows.length === 0 ? context.activity?.ending(id) : undefined;
  if (info === undefined && rows.length === 0 && ending === undefined) {
    throw new HttpError(
      404,
      `Run ${JSON.stringify(id.slice(0, 200))} has no record and no log: it completed (a ` +
        "finished run leaves nothing behind), was cleared, or never started",
    );
  }
  const now = Date.now();
  const name = info?.workflow ?? "";
  const version = info?.version ?? rows.at(-1)?.workflowVersion ?? 0;
  const definition = definitionFor(context.workflows, name, version);
  const path = pathOf(rows);
  return json({
    run: info === undefined ? null : runView(info, now),
    ending: ending === undefined ? null : {
      at: new Date(ending.at).toISOString(),
      state: ending.state ?? null,
      error: ending.error ?? null,
    },
    rows: rowViews(
      rows.length > MAX_ROWS ? rows.slice(-MAX_ROWS) : rows,
      activity,
      context.hideData,
    ),
    rowsOmitted: Math.max(0, rows.length - MAX_ROWS),
    activity: activity.map((entry) => ({ ...entry, at: new Date(entry.at).toISOString() })),
    path,
    definition: definition === undefined ? null : { name, version },
    graph: rows.length === 0 && definition === undefined
      ? null
      : graphView(definition, path, info === undefined ? undefined : currentOf(rows, info.state)),
    actions: info === undefined ? null : actionsOf(info, context, now),
    hideData: context.hideData,
  });
}

/**
 * `GET /api/runs/:id/export`: the run's record and rows as a JSON document to download.
 *
 * @param context The console.
 * @param id The run id.
 * @returns The document, as an attachment.
 */
export async function exportRun(context: RunRoutesContext, id: string): Promise<Response> {
  const document = await exportDocument(context.store, id, context.hideData);
  if (document.run === null && document.rows.length === 0) {
    throw new HttpError(404, `Run ${JSON.stringify(id.slice(0, 200))} has no record and no log`);
  }
  const file = `run-${id.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 80) || "export"}.json`;
  return json(document, 200, { "content-disposition": `attachment; filename="${file}"` });
}

/**
 * A run's record and rows as a JSON-safe document (the console's export and the CLI's).
 *
 * @param store The store.
 * @param id The run id.
 * @param hideData Whether to leave run data out.
 * @returns The document.
 */
export async function exportDocument(
  store: ActionContext["store"],
  id: string,
  hideData: boolean,
): Promise<{
  format: "cano-run/1";
  exportedAt: string;
  id: string;
  run: ReturnType<typeof runView> | null;
  rows: ReturnType<typeof rowViews>;
}> {
  const [info, rows] = await Promise.all([store.getRun(id), store.loadRun(id)]);
  return {
    format: "cano-run/1",
    exportedAt: new Date().toISOString(),
    id,
    run: info === undefined ? null : runView(info, Date.now()),
    rows: rowViews(rows, [], hideData),
  };
}

/**
 * `POST /api/runs/:id/<action>`: cancel, resume, retry, events.
 *
 * @param context The console.
 * @param id The run id.
 * @param action The action.
 * @param request The request (its JSON body).
 * @returns What the action did.
 */
export async function runAction(
  context: RunRoutesContext,
  id: string,
  action: string,
  request: Request,
): Promise<Response> {
  const body = await readJsonBody(request);
  if (context.readOnly) throw new HttpError(403, "The console is read-only");
  switch (action) {
    case "cancel": {
      const result = await cancelRun(context.store, id, optionalString(body, "reason", 500));
      if (result.outcome === "not_found") {
        throw new HttpError(404, `Run ${JSON.stringify(id.slice(0, 200))} has no record`);
      }
      return json({
        outcome: result.outcome,
        run: result.run === undefined ? null : runView(result.run, Date.now()),
      });
    }
    case "resume":
      return json(await resumeHere(context, id), 202);
    case "retry": {
      const mode = optionalString(body, "mode", 20) as RetryMode | undefined;
      return json(await retryRun(context, id, mode), 202);
    }
    case "events": {
      const name = optionalString(body, "name", 200);
      if (name === undefined || name === "") {
        throw new HttpError(400, 'Field "name" (the event name) is required');
      }
      const result = await sendRunEvent(
        context.store,
        id,
        name,
        body.payload,
        optionalString(body, "eventId", 200),
      );
      return json({ outcome: result.outcome, run: runView(result.run, Date.now()) });
    }
    default:
      throw new HttpError(404, `Unknown run action ${JSON.stringify(action.slice(0, 40))}`);
  }
}

/**
 * `GET /api/workflows`: the registered definitions, each with its graph.
 *
 * @param context The console.
 * @returns `{ workflows: [{ name, version, graph }] }`.
 */
export function listWorkflows(context: RunRoutesContext): Response {
  return json({
    workflows: context.workflows.map((workflow) => {
      const { name, version } = identityOf(workflow);
      return { name, version, graph: graphView(workflow, [], undefined) };
    }),
  });
}
