/**
 * # cano for Deno: testing kit
 *
 * Helpers for testing your own workflows: {@link RecordingObserver} records a workflow's events as
 * plain objects and asserts on the path taken, {@link failOnAttempts} is a task that fails on
 * purpose, {@link assertCompensationRan} checks a saga's rollback order, and
 * {@link InMemoryCheckpointStore} is a full-contract in-memory checkpoint store.
 * {@link checkpointStoreContract} turns the checkpoint store contract into test cases to run on
 * your own `RunStore`. Nothing here sleeps or needs a server.
 *
 * @example Record a run
 * ```ts
 * import { failOnAttempts, RecordingObserver } from "@cano/cano/testing";
 * import { Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * const workflow = new Workflow<"start" | "work" | "done">()
 *   .register("start", () => "work")
 *   .register("work", failOnAttempts(1, "done"))
 *   .addExitState("done");
 * using observer = new RecordingObserver(workflow);
 *
 * await assert.rejects(workflow.orchestrate("start"));
 * observer.assertCompletedWith("work");
 * observer.clear();
 *
 * await workflow.orchestrate("start");
 * observer.assertPath(["start", "work", "done"]);
 * assert.deepEqual(observer.assertRegisteredStatesEntered(workflow), []);
 * ```
 *
 * @module
 */

export {
  type RecordedEvent,
  RecordingObserver,
  type RegisteredStatesSource,
  type WorkflowEventSource,
} from "./src/testing/recording_observer.ts";
export {
  assertCompensationRan,
  failOnAttempts,
  type FailOnAttemptsOptions,
  type FailOnAttemptsTask,
  flaky,
  InMemoryCheckpointStore,
} from "./src/testing/test_resources.ts";
export {
  checkpointStoreContract,
  type ContractCase,
  type StoreFactory,
  type StoreFactoryOptions,
} from "./src/testing/store_contract.ts";
