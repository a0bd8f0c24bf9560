/**
 * Requests that do not decode. grpc-js answers a request its deserializer throws on with INTERNAL;
 * etcd's contract for kvctl is that a malformed request is the client's fault (INVALID_ARGUMENT) and
 * never harms the node. Unary methods get a deserializer that cannot throw: it hands the handler a
 * MalformedRequest, which `unary` answers with INVALID_ARGUMENT. Streaming methods keep grpc-js's
 * behaviour (the stream ends with INTERNAL before any handler sees the message).
 */
import type { ServiceDefinition } from '@grpc/grpc-js';

export class MalformedRequest {
  constructor(readonly reason: string) {}
}

export function tolerant<S extends ServiceDefinition>(service: S): S {
  const out: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(service)) {
    if (method.requestStream) {
      out[name] = method;
      continue;
    }
    const decode = method.requestDeserialize;
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        try {
          return decode(bytes);
        } catch (err) {
          return new MalformedRequest(err instanceof Error ? err.message : String(err));
        }
      },
    };
  }
  return out as S;
}
