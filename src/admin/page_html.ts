// The console's HTML: the page shell (no data in it: the script fetches everything from the API
// and builds the DOM with textContent) and the login form of a console with a token.

/**
 * Escapes text for HTML content and attribute values.
 *
 * @param text Any text.
 * @returns The escaped text.
 */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (char) =>
      char === "&"
        ? "&amp;"
        : char === "<"
        ? "&lt;"
        : char === ">"
        ? "&gt;"
        : char === '"'
        ? "&quot;"
        : "&#39;",
  );
}

function head(title: string, base: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="${escapeHtml(base)}/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="${escapeHtml(base)}/app.css">
</head>`;
}

/**
 * The console page.
 *
 * @param title The page's title.
 * @param base The base path.
 * @param withToken Whether the console has a token (then it offers a logout).
 * @returns The HTML.
 */
export function mainPage(title: string, base: string, withToken: boolean): string {
  const logout = withToken
    ? `<form method="post" action="${
      escapeHtml(base)
    }/logout"><button type="submit">Log out</button></form>`
    : "";
  return `${head(title, base)}
<body data-base="${escapeHtml(base)}">
<header class="top">
  <h1>${escapeHtml(title)}</h1>
  <span id="conn" class="conn">connecting…</span>
  <label><input type="checkbox" id="live" checked> live</label>
  <button type="button" id="refresh">Refresh</button>
  ${logout}
</header>
<main>
  <div class="col">
    <section id="runs-panel" class="panel" aria-labelledby="runs-title">
      <div class="panel-head">
        <h2 id="runs-title">Runs</h2>
        <div class="filters">
          <label>Status
            <select id="f-status">
              <option value="">all</option>
              <option value="running">running</option>
              <option value="waiting">waiting</option>
              <option value="failed">failed</option>
              <option value="rolling_back">rolling back</option>
            </select>
          </label>
          <label>Workflow <select id="f-workflow"><option value="">all</option></select></label>
        </div>
      </div>
      <table id="runs">
        <thead><tr><th>Run</th><th>Workflow</th><th>Status</th><th>State</th><th>Rows</th><th>Updated</th></tr></thead>
        <tbody></tbody>
      </table>
      <p id="runs-empty" class="empty" hidden>No unfinished runs. Completed runs leave nothing behind.</p>
      <p><button type="button" id="more" hidden>Load more</button></p>
    </section>
    <section id="flows-panel" class="panel" hidden aria-labelledby="flows-title">
      <div class="panel-head"><h2 id="flows-title">Scheduler flows</h2></div>
      <table id="flows">
        <thead><tr><th>Flow</th><th>Status</th><th>Runs</th><th>Streak</th><th>Next run</th><th></th></tr></thead>
        <tbody></tbody>
      </table>
      <div id="flows-message" class="message" role="status"></div>
    </section>
    <section id="resilience-panel" class="panel" hidden aria-labelledby="resilience-title">
      <div class="panel-head"><h2 id="resilience-title">Breakers and limiters</h2></div>
      <table id="resilience">
        <thead><tr><th>Name</th><th>Kind</th><th>State</th><th>Detail</th></tr></thead>
        <tbody></tbody>
      </table>
    </section>
  </div>
  <div class="col">
    <section id="run-panel" class="panel" hidden aria-labelledby="run-title">
      <div class="panel-head">
        <h2 id="run-title">Run <code id="run-id"></code></h2>
        <a id="run-export" download>Export JSON</a>
        <button type="button" id="run-close" aria-label="Close">×</button>
      </div>
      <dl id="run-summary" class="summary"></dl>
      <div id="run-actions" class="actions"></div>
      <div id="run-message" class="message" role="status"></div>
      <h3>Graph</h3>
      <div id="graph" class="graph"></div>
      <h3>Timeline</h3>
      <div id="timeline" class="timeline"></div>
    </section>
    <section id="run-placeholder" class="panel">
      <p class="empty">Select a run to see its timeline, its data and its path on the workflow's graph.</p>
    </section>
  </div>
</main>
<script src="${escapeHtml(base)}/app.js" defer></script>
</body>
</html>
`;
}

/**
 * The login page of a console with a token.
 *
 * @param title The page's title.
 * @param base The base path.
 * @param problem What went wrong with the last attempt, if anything.
 * @returns The HTML.
 */
export function loginPage(title: string, base: string, problem: string | undefined): string {
  return `${head(title, base)}
<body>
<section class="panel login">
  <h2>${escapeHtml(title)}</h2>
  <form method="post" action="${escapeHtml(base)}/login">
    <label for="token">Token</label>
    <input type="password" id="token" name="token" autocomplete="current-password" required autofocus>
    <button type="submit" class="primary">Log in</button>
    ${problem === undefined ? "" : `<p class="error-text" role="alert">${escapeHtml(problem)}</p>`}
  </form>
</section>
</body>
</html>
`;
}
