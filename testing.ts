/**
 * # cano for Deno: testing kit
 *
 * Helpers for testing your own workflows: {@link RecordingObserver} records a workflow's events as
 * plain objects and asserts on the path taken, {@link failOnAttempts} is a task that fails on
 * purpose, {@link assertCompensationRan} checks a saga's rollback order, and
 * {@link InMemoryCheckpointStore} is a full-contract in-memory checkpoint store.
 * {@link checkpointStoreContract} turns the checkpoint store contract into test cases to run on
 * your own `RunStore`. {@link paths} enumerates the runs a workflow's declared graph allows, so a
 * test can drive and assert each one ({@link pathCoverage} reports which ones the tests took).
 * {@link crashAfterCheckpoint} makes a run stop dead right after its k-th checkpoint row, as a
 * SIGKILL would, and `restart()` lets the same test resume it; {@link haltAfterCheckpoint} and
 * {@link runAndKill} do the same across real processes for end-to-end tests (the only helpers
 * here, with {@link waitUntilClaimable}, that spawn processes or wait in real time).
 * {@link FakeTime} is a fake clock (`setTimeout`, `setInterval`, `Date`, `performance.now`,
 * `AbortSignal.timeout`) that a test moves forward itself.
 * Nothing here sleeps or needs a server.
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
  type Path,
  type PathCoverage,
  pathCoverage,
  paths,
  type PathsOptions,
} from "./src/testing/paths.ts";
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
export { FakeTime, type FakeTimeOptions } from "./src/testing/fake_time.ts";
export {
  type CommittedRow,
  crashAfterCheckpoint,
  type CrashFilter,
  CrashingStore,
  type CrashingStoreOptions,
  type CrashPoint,
  type RestartOptions,
  SimulatedCrashError,
} from "./src/testing/crash.ts";
export {
  CrashHarnessError,
  HALT_AFTER_ENV,
  HALT_MARKER,
  haltAfterCheckpoint,
  type HaltOptions,
  type KilledChild,
  runAndKill,
  type RunAndKillOptions,
  waitUntilClaimable,
} from "./src/testing/crash_subprocess.ts";
