// Which processing model runs each kind of state: the engine dispatches through this table only.

import type { ProcessingModel } from "./model.ts";
import { sagaModel } from "./models/saga.ts";
import { splitModel } from "./models/split.ts";
import { steppedModel } from "./models/stepped.ts";
import { streamModel } from "./models/stream.ts";
import { routerModel, taskModel } from "./models/task.ts";
import { waitModel } from "./models/wait.ts";
import type { StateEntry } from "./run.ts";

/** The model of each entry kind. */
const MODELS: {
  readonly [K in StateEntry["kind"]]: ProcessingModel<Extract<StateEntry, { kind: K }>>;
} = {
  single: taskModel,
  router: routerModel,
  compensatable: sagaModel,
  stepped: steppedModel,
  split: splitModel,
  stream: streamModel,
  wait: waitModel,
};

/** The model of `entry`. */
export function modelOf(entry: StateEntry): ProcessingModel {
  return MODELS[entry.kind] as ProcessingModel;
}
