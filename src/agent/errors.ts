/**
 * The agent's errors. The daemon maps them to gRPC codes in one place (daemon.ts `toServiceError`); the CLI
 * maps gRPC errors back to these classes (client.ts), so commands can tell "not enrolled" from "unreachable".
 */
import { KvError } from '../base/errors.js';

/** A request the agent refuses as given (bad spec, wrong member name): nothing changed. */
export class AgentInputError extends KvError {
  readonly code = 'AGENT_INPUT';
}

/** The token or the certificate was wrong, or the agent could not prove it knows the token. */
export class AgentAuthError extends KvError {
  readonly code = 'AGENT_AUTH';
}

/** The call does not fit the agent's state (not enrolled, no member configured, already another member). */
export class AgentStateError extends KvError {
  readonly code = 'AGENT_STATE';
}

/** The agent could not be reached or did not answer in time. */
export class AgentUnavailableError extends KvError {
  readonly code = 'AGENT_UNAVAILABLE';
}

/** A cluster plan that is unsafe or inconsistent, refused before anything changes. */
export class PlanError extends KvError {
  readonly code = 'PLAN_INVALID';
}

/** A multi-step operation stopped half way: says what was done and what is left. */
export class StepError extends KvError {
  readonly code = 'STEP_FAILED';
  constructor(
    message: string,
    readonly done: readonly string[],
    readonly left: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
