// Opening a KV file for the admin CLI without harming it: a missing path is refused (Deno.openKv
// would create an empty database there), a file that is not SQLite is refused before it is
// opened, and a database whose keys are not cano's — none under the store's prefix while others
// exist, or keys under the prefix in a layout the store does not write — is refused by name.

import { CanoError, messageOf } from "../errors.ts";
import { KvCheckpointStore } from "../recovery/kv_store.ts";
import type { KvKey } from "../recovery/kv_like.ts";

/**
 * Why a KV file cannot be used: `missing` (no such file), `not_kv` (not a KV database),
 * `foreign` (a KV database with no cano keys under the prefix, but other keys), `layout` (keys
 * under the prefix that are not cano's layout).
 *
 * @example Explain a problem
 * ```ts
 * import type { KvFileProblem } from "@cano/cano/admin";
 * import assert from "node:assert/strict";
 *
 * const hint = (problem: KvFileProblem): string =>
 *   problem === "foreign" ? "wrong file, or pass --prefix" : "check the path";
 * assert.equal(hint("missing"), "check the path");
 * ```
 */
export type KvFileProblem = "missing" | "not_kv" | "foreign" | "layout";

/**
 * A KV file the admin CLI cannot use, with the reason.
 *
 * @example Tell a missing file from a foreign one
 * ```ts
 * import { KvFileError } from "@cano/cano/admin";
 * import assert from "node:assert/strict";
 *
 * const error = new KvFileError("/tmp/none.kv", "missing", "no such file");
 * assert.equal(error.problem, "missing");
 * assert.equal(error.category, "checkpoint_store");
 * assert.match(error.message, /none\.kv/);
 * ```
 */
export class KvFileError extends CanoError {
  /** The path given. */
  readonly path: string;
  /** What is wrong with it. */
  readonly problem: KvFileProblem;

  /**
   * Creates the error.
   *
   * @param path The path given.
   * @param problem What is wrong with it.
   * @param detail The explanation.
   */
  constructor(path: string, problem: KvFileProblem, detail: string) {
    super(`KV file ${JSON.stringify(path)}: ${detail}`, { category: "checkpoint_store" });
    this.name = "KvFileError";
    this.path = path;
    this.problem = problem;
  }
}

/** What the checkpoint store and its coordination write under the prefix. */
const LAYOUT: ReadonlySet<string> = new Set([
  "rows",
  "chunks",
  "runs",
  "status",
  "expiry",
  "events",
  "eventids",
  "sched",
]);
const SQLITE_MAGIC = "SQLite format 3\u0000";
/** Keys under the prefix checked for the layout. */
const LAYOUT_SAMPLE = 200;

/**
 * Opens a cano KV file: checks it exists, is SQLite, and holds cano's keys (or none at all).
 *
 * @example Refuse a file that is not KV, without touching it
 * ```ts
 * import { KvFileError, openCanoKv } from "@cano/cano/admin";
 * import assert from "node:assert/strict";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "not a database");
 * await assert.rejects(openCanoKv(path), (error) => error instanceof KvFileError && error.problem === "not_kv");
 * assert.equal(await Deno.readTextFile(path), "not a database");
 * await Deno.remove(path);
 * ```
 *
 * @param path The file.
 * @param prefix The store's key prefix.
 * @returns The handle (close it) and the store on it.
 * @throws {KvFileError} When the file is missing, not a KV database, or not cano's.
 */
export async function openCanoKv(
  path: string,
  prefix: KvKey = ["cano", "checkpoints"],
): Promise<{ kv: Deno.Kv; store: KvCheckpointStore }> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new KvFileError(path, "missing", "no such file (give the path of an existing KV file)");
    }
    throw new KvFileError(path, "not_kv", `cannot be read: ${messageOf(error)}`);
  }
  if (!info.isFile) throw new KvFileError(path, "not_kv", "is not a file");
  await checkSqlite(path, info.size);
  let kv: Deno.Kv;
  try {
    kv = await Deno.openKv(path);
  } catch (error) {
    throw new KvFileError(path, "not_kv", `is not a Deno KV database: ${messageOf(error)}`);
  }
  try {
    await checkLayout(kv, path, prefix);
    return { kv, store: new KvCheckpointStore(kv, { prefix }) };
  } catch (error) {
    kv.close();
    throw error;
  }
}

async function checkSqlite(path: string, size: number): Promise<void> {
  if (size === 0) throw new KvFileError(path, "not_kv", "is empty, not a KV database");
  const file = await Deno.open(path, { read: true });
  try {
    const header = new Uint8Array(16);
    let read = 0;
    while (read < header.length) {
      const count = await file.read(header.subarray(read));
      if (count === null) break;
      read += count;
    }
    if (new TextDecoder().decode(header.subarray(0, read)) !== SQLITE_MAGIC) {
      throw new KvFileError(path, "not_kv", "is not a KV database (not an SQLite file)");
    }
  } finally {
    file.close();
  }
}

async function checkLayout(kv: Deno.Kv, path: string, prefix: KvKey): Promise<void> {
  let ours = 0;
  for await (const entry of kv.list({ prefix: [...prefix] }, { limit: LAYOUT_SAMPLE })) {
    ours += 1;
    const part = entry.key[prefix.length];
    if (typeof part !== "string" || !LAYOUT.has(part)) {
      throw new KvFileError(
        path,
        "layout",
        `has a key under ${JSON.stringify(prefix)} that cano does not write (${
          describeKey(entry.key)
        }): it is not a cano checkpoint store, or another program shares its prefix`,
      );
    }
  }
  if (ours > 0) return;
  for await (const _ of kv.list({ prefix: [] }, { limit: 1 })) {
    let cano = false;
    for await (const _ of kv.list({ prefix: ["cano"] }, { limit: 1 })) cano = true;
    throw new KvFileError(
      path,
      "foreign",
      cano
        ? `has no keys under ${JSON.stringify(prefix)} but has cano keys elsewhere: pass the ` +
          "store's prefix with --prefix"
        : `holds keys, but none of cano's (nothing under ${JSON.stringify(prefix)}): it belongs ` +
          "to another program",
    );
  }
}

function describeKey(key: Deno.KvKey): string {
  const text = JSON.stringify(
    key.map((part) =>
      typeof part === "bigint" ? `${part}n` : part instanceof Uint8Array ? "[bytes]" : part
    ),
  );
  return text.length <= 200 ? text : `${text.slice(0, 200)}…`;
}
