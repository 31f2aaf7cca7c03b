/**
 * Resources: a database-like client and a MemoryStore are set up before the run (in order) and
 * torn down after it (in reverse), whatever the outcome. Run it with
 * `deno task example:resources`.
 *
 * @module
 */
import { MemoryStore, Resources, Workflow } from "../mod.ts";

/** A stand-in for a database client with a connection lifecycle. */
class FakeDb {
  connected = false;
  rows: string[] = [];
  setup(): void {
    this.connected = true;
    console.log("db: connected");
  }
  teardown(): void {
    this.connected = false;
    console.log("db: disconnected");
  }
  insert(row: string): void {
    if (!this.connected) throw new Error("db is not connected");
    this.rows.push(row);
  }
}

type Step = "load" | "save" | "done";

const db = new FakeDb();
const resources = new Resources({ db, cache: new MemoryStore() });
const workflow = new Workflow<Step, Record<string, never>, { db: FakeDb; cache: MemoryStore }>({
  resources,
})
  .register("load", (ctx) => {
    ctx.resources.get("cache").put("user", { name: "Ada" });
    return "save";
  })
  .register("save", (ctx) => {
    const user = ctx.resources.get("cache").get<{ name: string }>("user");
    ctx.resources.get("db").insert(user.name);
    return "done";
  })
  .addExitState("done");

await workflow.orchestrate("load");
console.log(`db rows after the run: ${JSON.stringify(db.rows)}; connected: ${db.connected}`);
console.log(`health: ${JSON.stringify(await resources.aggregateHealth())}`);
