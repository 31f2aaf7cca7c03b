/**
 * # cano for Deno
 *
 * Type-safe finite-state-machine workflows for Deno: states are a string union, each state has a
 * task that returns the next state, and the engine runs until an exit state — with retries,
 * per-attempt and total timeouts, cancellation by `AbortSignal`, resources with a lifecycle and
 * typed, listener-safe events. No server needed.
 *
 * Beyond plain tasks: routers, sagas (`registerWithCompensation`), split/join (`registerSplit`),
 * stepped and stream tasks, and the `pollTask` / `timerTask` / `batchTask` factories; a circuit
 * breaker and rate limiters that plug into `TaskConfig`; checkpoints with `resumeFrom` (the Deno
 * KV store lives in `@cano/cano/kv`). The scheduler is `@cano/cano/scheduler`, the test kit
 * `@cano/cano/testing`.
 *
 * @example Quick start
 * ```ts
 * import { RetryMode, Workflow } from "@cano/cano";
 * import assert from "node:assert/strict";
 *
 * type Step = "fetch" | "save" | "done";
 * const workflow = new Workflow<Step, { rows: string[] }>()
 *   .register("fetch", (ctx) => {
 *     ctx.data.rows.push("row-1");
 *     return "save";
 *   })
 *   .register("save", {
 *     config: { retry: RetryMode.fixed(2, 10) },
 *     run: () => "done",
 *   })
 *   .addExitState("done");
 *
 * const result = await workflow.orchestrate("fetch", { data: { rows: [] } });
 * assert.equal(result.state, "done");
 * assert.deepEqual(result.data.rows, ["row-1"]);
 * ```
 *
 * @module
 */

export {
  CancelledError,
  CanoError,
  type CanoErrorOptions,
  categoryOf,
  CheckpointStoreError,
  CircuitOpenError,
  CompensationFailedError,
  ConfigurationError,
  type ErrorCategory,
  NonRetryableError,
  OrphanedCompensationError,
  RateLimitedError,
  ResourceDuplicateKeyError,
  ResourceNotFoundError,
  RetryExhaustedError,
  StateContextError,
  StoreError,
  TimeoutError,
  WorkflowTimeoutError,
  WorkflowVersionMismatchError,
} from "./src/errors.ts";
export {
  ListenerErrorEvent,
  SafeEvent,
  SafeEventTarget,
  type SafeEventTargetEventMap,
  type TypedListener,
} from "./src/events.ts";
export * from "./src/workflow/events.ts";
export { type LogLevel, type LogSink, logTo, type LogToOptions } from "./src/observe/log_to.ts";
export type { Attachment } from "./src/observe/attachment.ts";
export { type ExponentialOptions, RetryMode, type RetryPolicy } from "./src/task/retry.ts";
export {
  type AttemptInfo,
  type ResolvedTaskConfig,
  resolveTaskConfig,
  type ResourceMap,
  runWithRetries,
  type RunWithRetriesOptions,
  type Task,
  TaskConfig,
  type TaskContext,
  type TaskFn,
} from "./src/task/task.ts";
export {
  type OrchestrateOptions,
  type RegisterOptions,
  type ResumeOptions,
  type SplitTask,
  type TaskHandler,
  Workflow,
  type WorkflowOptions,
  type WorkflowResult,
} from "./src/workflow/workflow.ts";
export { HealthStatus, type Resource, Resources, type TeardownFailure } from "./src/resources.ts";
export { MemoryStore } from "./src/memory_store.ts";
export type {
  CancelOutcome,
  CancelRequest,
  CancelResult,
  CheckpointRow,
  CheckpointStore,
  ClaimMode,
  ClaimRequest,
  ClaimResult,
  DeliveredEvent,
  ListExpiredQuery,
  ListRunsQuery,
  ParkRequest,
  ParkResult,
  RowKind,
  RunEnd,
  RunInfo,
  RunLease,
  RunPage,
  RunStatus,
  RunStore,
  SendEventOptions,
  SendEventOutcome,
  SendEventResult,
  WaitInfo,
} from "./src/recovery/checkpoint.ts";
export {
  MemoryCheckpointStore,
  type MemoryCheckpointStoreOptions,
} from "./src/recovery/memory_checkpoint_store.ts";
export { MemoryCoordination } from "./src/coordination/memory_coordination.ts";
export type {
  Coordination,
  FlowCancelRequest,
  FlowRecord,
  FlowRecordRead,
  FlowRunMarker,
} from "./src/coordination/coordination.ts";
export { type Codec, jsonCodec, typedJsonCodec } from "./src/recovery/codec.ts";
export {
  type EventRefusalReason,
  EventRefusedError,
  OwnershipLostError,
  RunExistsError,
  RunOwnedError,
} from "./src/recovery/run_errors.ts";
export {
  type AnyWorkflow,
  Recovery,
  type RecoveryOptions,
  startRecovery,
  type SweepResult,
} from "./src/coordination/recovery.ts";
export {
  RecoveredEvent,
  RecoverEvent,
  type RecoveryEventMap,
  type RecoveryOutcome,
  SweepErrorEvent,
  UnknownWorkflowEvent,
} from "./src/coordination/recovery_events.ts";
export { type CompensatableResult, type CompensatableTask } from "./src/task/compensatable.ts";
export { type StepOutcome, type SteppedTask } from "./src/task/stepped.ts";
export { type WaitEvent, type WaitOptions } from "./src/task/wait.ts";
export { RunContinuedElsewhereError, type WaitingResult } from "./src/workflow/parked.ts";
export {
  type BranchResult,
  type JoinConfig,
  type JoinStrategy,
  type SplitOutcome,
} from "./src/workflow/join.ts";
export type {
  BranchValue,
  DataOf,
  EventOf,
  ExitOf,
  JoinContext,
  JoinHandler,
  JoinValueOf,
  JoinValues,
  MergeWaits,
  NoJoins,
  NoWaits,
  PayloadMap,
  PayloadsFor,
  RunArgs,
  SendableEvent,
  WaitEvents,
  WaitEventsOf,
} from "./src/workflow/workflow_types.ts";
export {
  pending,
  type PollErrorPolicy,
  type PollOutcome,
  pollTask,
  type PollTaskOptions,
  ready,
} from "./src/task/poll.ts";
export { timerTask, type TimerTaskOptions, type TimerWait } from "./src/task/timer.ts";
export { type BatchItemResult, batchTask, type BatchTaskOptions } from "./src/task/batch.ts";
export {
  CircuitBreaker,
  type CircuitBreakerEventMap,
  type CircuitPermit,
  type CircuitPolicy,
  type CircuitState,
  CircuitTransitionEvent,
  type CircuitTransitionEventInit,
} from "./src/resilience/circuit_breaker.ts";
export {
  type AcquireOptions,
  type Limiter,
  type Meter,
  type MeterStatus,
  RateLimiter,
  type RateLimiterPolicy,
  type Reservation,
  type ReservationState,
} from "./src/resilience/rate_limiter.ts";
export { WindowedRateLimiter, type WindowPolicy } from "./src/resilience/windowed_rate_limiter.ts";
export {
  type MultiAcquireOptions,
  MultiRateLimiter,
  type MultiWaitOptions,
  type RateLimitTier,
} from "./src/resilience/multi_rate_limiter.ts";
export type {
  CloseReason,
  StreamErrorPolicy,
  StreamItemResult,
  StreamTask,
  StreamWindow,
  WindowSignal,
} from "./src/task/stream.ts";
