/** The one mapping between the agent's errors and gRPC status codes, both ways. */
import * as grpc from '@grpc/grpc-js';

import { KvError } from '../base/errors.js';
import { AgentAuthError, AgentInputError, AgentStateError, AgentUnavailableError } from './errors.js';

export function toServiceError(err: unknown): Partial<grpc.StatusObject> {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof AgentInputError) return { code: grpc.status.INVALID_ARGUMENT, details: message };
  if (err instanceof AgentAuthError) return { code: grpc.status.UNAUTHENTICATED, details: message };
  if (err instanceof AgentStateError) return { code: grpc.status.FAILED_PRECONDITION, details: message };
  if (err instanceof KvError) return { code: grpc.status.INTERNAL, details: message };
  return { code: grpc.status.INTERNAL, details: `agent: ${message}` };
}

/**
 * grpc-js's text for a failed connection, shortened to what an operator needs: "No connection established.
 * Last error: Error: connect ECONNREFUSED 10.0.0.2:2390. Resolution note: " becomes "connect ECONNREFUSED ...".
 */
function connectionText(details: string): string {
  const m = /^No connection established\. Last error: (?:Error: )?(.*?)\.?(?: Resolution note:.*)?$/s.exec(details);
  if (m === null) return details;
  const last = (m[1] ?? '').trim();
  return last === '' || last === 'null' ? 'no connection established' : last;
}

export function fromServiceError(err: grpc.ServiceError, agent: string): Error {
  const message = err.details !== '' ? err.details : err.message;
  switch (err.code) {
    case grpc.status.INVALID_ARGUMENT:
      return new AgentInputError(message);
    case grpc.status.UNAUTHENTICATED:
      return new AgentAuthError(message);
    case grpc.status.FAILED_PRECONDITION:
      return new AgentStateError(message);
    case grpc.status.UNAVAILABLE:
    case grpc.status.DEADLINE_EXCEEDED:
      return new AgentUnavailableError(`agent ${agent} is unreachable: ${connectionText(message)}`);
    default:
      return new Error(`agent ${agent}: ${message}`);
  }
}
