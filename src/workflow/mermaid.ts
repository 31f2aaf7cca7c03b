// Renders a workflow's declared structure as a Mermaid stateDiagram-v2.

import type { StateEntry } from "./run.ts";

const PLAIN_ID = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Builds the diagram from the registered entries, the exit states and an optional initial state. */
export function toMermaid(
  entries: ReadonlyMap<string, StateEntry>,
  exits: ReadonlySet<string>,
  initial?: string,
): string {
  const ids = new Map<string, string>();
  const lines = ["stateDiagram-v2"];
  // Mermaid ids cannot hold spaces, dashes or dots: such states get an alias and a label.
  const idOf = (state: string): string => {
    let id = ids.get(state);
    if (id === undefined) {
      id = PLAIN_ID.test(state) && state !== "state" ? state : `s${ids.size}`;
      ids.set(state, id);
      if (id !== state) lines.push(`    state "${state.replaceAll('"', "#quot;")}" as ${id}`);
    }
    return id;
  };
  if (initial !== undefined) lines.push(`    [*] --> ${idOf(initial)}`);
  for (const [state, entry] of entries) {
    const aliased = ids.has(state);
    const from = idOf(state);
    if (entry.next === undefined) {
      if (!aliased && from === state) lines.push(`    ${from}`); // a state with no declared edges
      continue;
    }
    if (entry.kind === "wait") {
      // A wait state's edges are its events (and its deadline), labelled.
      for (const [event, target] of entry.events) {
        lines.push(`    ${from} --> ${idOf(target)} : ${label(event)}`);
      }
      if (entry.timeout !== undefined) {
        lines.push(`    ${from} --> ${idOf(entry.timeout.next)} : after ${entry.timeout.after} ms`);
      }
      continue;
    }
    for (const target of entry.next) lines.push(`    ${from} --> ${idOf(target)}`);
  }
  for (const state of exits) lines.push(`    ${idOf(state)} --> [*]`);
  for (const [state, entry] of entries) {
    if (entry.kind === "router") lines.push(`    note right of ${idOf(state)} : router`);
    if (entry.kind === "wait") lines.push(`    note right of ${idOf(state)} : waits for an event`);
  }
  return lines.join("\n") + "\n";
}

/** An edge label: Mermaid ends a label at a line break and reads `#…;` as an entity. */
function label(text: string): string {
  return text.replaceAll(/[\r\n]+/g, " ").replaceAll("#", "#35;").replaceAll(":", "#58;");
}
