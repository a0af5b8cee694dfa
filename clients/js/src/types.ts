/**
 * Names for the bodies the control API takes and answers, all taken from the types
 * generated from `openapi/sandbox-control.yaml` (`src/generated/control.ts`), so that a
 * field the spec renames or drops breaks the build here rather than a test at run time.
 */

import type { components, operations, paths } from "./generated/control.js";

type Schemas = components["schemas"];
type Json<Answer> = Answer extends { content: { "application/json": infer Body } } ? Body : never;

/** The three vendor APIs, as the control API names them. */
export type Api = "candid" | "decoda" | "mycure";

export type Health = Json<operations["getHealth"]["responses"][200]>;

/** A fault rule as `faults.add()` takes it: the spec's `FaultRuleCreate` (a misspelt field is a type error). */
export type FaultRuleInput = Schemas["FaultRuleCreate"];
export type FaultMatch = Schemas["FaultMatch"];
export type FaultEffect = Schemas["FaultEffect"];
export type FaultLatency = Schemas["FaultLatency"];
/** A rule as the sandbox holds it: its id, match and effect, and how often it may fire and did. */
export type FaultRule = Schemas["FaultRule"];

export type ClockState = Json<components["responses"]["TenantClock"]>;
/** Exactly one of `{freezeAt}`, `{advanceSeconds}` or `{resume: true}`. */
export type ClockChange = NonNullable<operations["setTenantClock"]["requestBody"]>["content"]["application/json"];

export type JournalPage = Schemas["JournalPage"];
/**
 * One vendor request and its answer, as the journal keeps them (bodies may be cut). In a
 * cluster, each entry of the merged journal also names its `shard`, and `seq` counts per shard.
 */
export type JournalEntry = JournalPage["requests"][number] & { shard?: string };

/** One tenant's state: its clock and every API's records (`GET /_sandbox/tenants/{t}/state`). */
export type Snapshot = Schemas["TenantSnapshot"];
/** Every tenant's state (`GET /_sandbox/state`). */
export type ServerSnapshot = Schemas["StateSnapshot"];
/** What a restore answers: the tenants restored, each with the APIs it holds records of. */
export type Restored = Json<components["responses"]["Restored"]>;

export type CandidReference = Schemas["CandidReference"];
export type DecodaReference = Schemas["DecodaReference"];
export type MycureReference = Schemas["MycureReference"];

export type ScenarioPack = Schemas["ScenarioPack"];
export type AppliedScenario = Schemas["ScenarioApplied"];
type RecordedScenario = Json<operations["getTenantScenario"]["responses"][200]>["scenario"];
/**
 * A scenario given whole, as its file holds it (format 1) parsed into an object: the
 * control API checks the rest (`scenarios/scenario.schema.json`) and answers a 422 naming
 * each problem. Shaped after the scenario the sandbox records, with what a file may leave out.
 */
export type ScenarioDocument = Omit<RecordedScenario, "description" | "steps"> & {
  description?: string;
  seed?: number;
  steps: Record<string, unknown>[];
};

/** A Pact v4 file, one per provider the tenant called. */
export type PactFile = Schemas["Pact"];

/** One Decoda webhook event for one webhook, with every try the sandbox made. */
export type Delivery = Schemas["DecodaDelivery"];
export type DeliveriesQuery = NonNullable<operations["listDecodaDeliveries"]["parameters"]["query"]>;
export type DeliveriesPage = Json<operations["listDecodaDeliveries"]["responses"][200]>;
export type DecodaEvent = NonNullable<operations["triggerDecodaEvent"]["requestBody"]>["content"]["application/json"];
export type DecodaEventSent = Json<operations["triggerDecodaEvent"]["responses"][200]>;
/** What a Decoda failure or void answers: what was done, to which record, and its status now. */
export type Done = Json<components["responses"]["Done"]>;

/** The control API's error body: `{error, message}` (scenario refusals say more). */
export type ControlError = Schemas["ControlError"];

export type { components, operations, paths };
