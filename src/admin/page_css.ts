// The console page's stylesheet, served as /app.css (no build step, no external fonts).

/** The stylesheet. */
export const PAGE_CSS: string = `
:root {
  --bg: #f6f7f9; --panel: #fff; --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb;
  --accent: #2563eb; --running: #2563eb; --waiting: #b45309; --failed: #dc2626;
  --rolling: #7c3aed; --ok: #15803d; --idle: #6b7280;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
header.top { display: flex; align-items: center; gap: 14px; padding: 10px 18px; background: #111827; color: #f9fafb; }
header.top h1 { font-size: 16px; margin: 0 auto 0 0; font-weight: 600; letter-spacing: .2px; }
header.top .conn { font-size: 12px; color: #9ca3af; }
header.top .conn.bad { color: #fca5a5; }
header.top label { font-size: 13px; display: flex; gap: 5px; align-items: center; }
header.top form { margin: 0; }
main { display: grid; grid-template-columns: minmax(440px, 1fr) minmax(460px, 1.1fr); gap: 14px; padding: 14px 18px; align-items: start; }
.col { display: flex; flex-direction: column; gap: 14px; min-width: 0; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; min-width: 0; }
.panel[hidden] { display: none; }
.panel-head { display: flex; align-items: center; gap: 10px; margin-bottom: 8px; flex-wrap: wrap; }
.panel-head h2 { font-size: 15px; margin: 0 auto 0 0; display: flex; gap: 6px; align-items: baseline; min-width: 0; }
.panel-head h2 code { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; max-width: 420px; }
.filters { display: flex; gap: 10px; }
.filters label { display: flex; gap: 5px; align-items: center; color: var(--muted); font-size: 13px; }
select, input, textarea, button { font: inherit; }
select, input[type=text], input[type=password], textarea { border: 1px solid #d1d5db; border-radius: 5px; padding: 3px 6px; background: #fff; }
button { border: 1px solid #d1d5db; background: #fff; border-radius: 5px; padding: 3px 10px; cursor: pointer; color: var(--ink); }
button:hover:not(:disabled) { border-color: var(--accent); color: var(--accent); }
button:disabled { opacity: .45; cursor: not-allowed; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.danger:not(:disabled) { border-color: #fca5a5; color: var(--failed); }
button.link { border: 0; padding: 0; background: none; color: var(--accent); text-align: left; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; max-width: 190px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; display: block; }
table { width: 100%; border-collapse: collapse; }
th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .3px; padding: 5px 6px; border-bottom: 1px solid var(--line); }
td { padding: 5px 6px; border-bottom: 1px solid #f1f2f4; vertical-align: top; }
td.mono { max-width: 150px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
tr.selected td { background: #eff6ff; }
td.nowrap, .nowrap { white-space: nowrap; }
tr.has-error td { border-bottom: 0; }
tr.flow-error td { padding-top: 0; font-size: 12.5px; }
.group { display: flex; gap: 5px; }
button.small { font-size: 12.5px; padding: 2px 6px; }
#flows .group { flex-wrap: nowrap; }
.small { font-size: 12px; }
.panel table { display: table; }
#flows-panel, #runs-panel, #resilience-panel { overflow-x: auto; }
.empty { color: var(--muted); margin: 8px 0; }
.badge { display: inline-block; border-radius: 999px; padding: 0 8px; font-size: 12px; line-height: 19px; white-space: nowrap; border: 1px solid transparent; }
.st-running { background: #dbeafe; color: #1e40af; }
.st-waiting { background: #fef3c7; color: #92400e; }
.st-failed { background: #fee2e2; color: #991b1b; }
.st-rolling_back { background: #ede9fe; color: #5b21b6; }
.st-completed { background: #dcfce7; color: #166534; }
.st-idle { background: #f3f4f6; color: #374151; }
.st-backoff { background: #ffedd5; color: #9a3412; }
.st-tripped { background: #fee2e2; color: #991b1b; }
.st-open { background: #fee2e2; color: #991b1b; }
.st-half_open { background: #fef3c7; color: #92400e; }
.st-closed { background: #dcfce7; color: #166534; }
.cond { background: #fff; border-color: #d1d5db; color: #374151; margin-left: 4px; }
.cond-cancelled, .cond-cancelling { border-color: #fca5a5; color: var(--failed); }
.cond-stalled, .cond-due { border-color: #fcd34d; color: var(--waiting); }
.muted { color: var(--muted); }
.error-text { color: var(--failed); white-space: pre-wrap; word-break: break-word; }
.summary { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 4px 0 10px; }
.summary dt { color: var(--muted); }
.summary dd { margin: 0; min-width: 0; word-break: break-word; }
.actions { display: flex; gap: 8px; flex-wrap: wrap; align-items: center; margin-bottom: 8px; }
.actions .group { display: flex; gap: 5px; align-items: center; }
.message { min-height: 20px; margin: 4px 0 8px; font-size: 13px; }
.message.ok { color: var(--ok); }
.message.bad { color: var(--failed); }
.graph { overflow: auto; border: 1px solid var(--line); border-radius: 6px; background: #fcfcfd; margin-bottom: 12px; max-height: 520px; }
.graph svg { display: block; margin: 0 auto; }
.graph .note { padding: 6px 10px; color: var(--muted); font-size: 12px; }
.node rect { fill: #fff; stroke: #9ca3af; stroke-width: 1.2; }
.node text { font-size: 12px; fill: #374151; dominant-baseline: central; text-anchor: middle; }
.node.kind-exit rect { stroke-width: 2.4; }
.node.kind-router rect { stroke-dasharray: 4 3; }
.node.kind-wait rect { fill: #fffbeb; }
.node.kind-unknown rect { stroke-dasharray: 2 3; fill: #f9fafb; }
.node.visited rect { fill: #eff6ff; stroke: var(--running); }
.node.visited text { fill: #1e3a8a; }
.node.current rect { stroke-width: 3; }
.node.current.tone-running rect { fill: #dbeafe; stroke: var(--running); }
.node.current.tone-waiting rect { fill: #fef3c7; stroke: var(--waiting); }
.node.current.tone-failed rect { fill: #fee2e2; stroke: var(--failed); }
.node.current.tone-rolling_back rect { fill: #ede9fe; stroke: var(--rolling); }
.edge path { fill: none; stroke: #c3c8d0; stroke-width: 1.4; }
.edge.observed path { stroke-dasharray: 5 4; }
.edge.taken path { stroke: var(--running); stroke-width: 2.4; }
.edge text { font-size: 11px; fill: var(--muted); paint-order: stroke; stroke: #fcfcfd; stroke-width: 4px; text-anchor: middle; }
.timeline ol.rows { list-style: none; margin: 0; padding: 0; }
.timeline ol.rows > li { border-left: 3px solid var(--line); padding: 4px 0 8px 12px; position: relative; }
.timeline ol.rows > li::before { content: ""; position: absolute; left: -7px; top: 9px; width: 9px; height: 9px; border-radius: 50%; background: #fff; border: 2px solid #9ca3af; }
.timeline li.k-rollback, .timeline li.k-compensated, .timeline li.k-compensation_completion { border-left-color: #ddd6fe; }
.timeline li.k-rollback::before, .timeline li.k-compensated::before { border-color: var(--rolling); }
.timeline li.last::before { border-color: var(--running); background: var(--running); }
.timeline .line1 { display: flex; gap: 8px; align-items: baseline; flex-wrap: wrap; }
.timeline .seq { color: var(--muted); font-family: ui-monospace, Menlo, monospace; font-size: 12px; }
.timeline .kind { font-size: 11px; text-transform: uppercase; letter-spacing: .3px; color: var(--muted); }
.timeline .state { font-weight: 600; }
.timeline details { margin-top: 3px; }
.timeline summary { cursor: pointer; color: var(--muted); font-size: 12px; }
.timeline pre { margin: 3px 0 0; padding: 6px 8px; background: #f9fafb; border: 1px solid var(--line); border-radius: 5px; max-height: 240px; overflow: auto; white-space: pre-wrap; word-break: break-word; }
.activity { margin: 0; padding-left: 16px; font-size: 12.5px; }
.retries { margin: 2px 0 0; padding-left: 16px; color: var(--waiting); font-size: 12.5px; }
h3 { font-size: 13px; margin: 12px 0 6px; color: var(--muted); text-transform: uppercase; letter-spacing: .3px; }
.event-form { display: flex; gap: 5px; align-items: center; flex-wrap: wrap; }
.event-form textarea { width: 220px; height: 26px; }
.login { max-width: 360px; margin: 12vh auto; }
.login form { display: flex; flex-direction: column; gap: 10px; }
@media (max-width: 1000px) { main { grid-template-columns: 1fr; } }
`;
