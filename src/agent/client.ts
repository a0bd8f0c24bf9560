/**
 * The CLI's side of the agent API: a connection to one agent, either for first contact (the agent's
 * self-signed certificate pinned and its knowledge of the bootstrap token checked: trust.ts) or enrolled
 * (mutual TLS with the cluster's CA and the operator's client certificate).
 */
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';

import * as grpc from '@grpc/grpc-js';

import { quietIpServerNameWarning, reconnectChannelOptions } from '../client/index.js';
import {
  AgentClient,
  type AgentStatus,
  type DataChunk,
  type HelloResponse,
  type NodeSpec,
  type RestoreChunk,
  type RestoreHeader,
} from '../proto/gen/kvctl/agent/v1/agent.js';
import { AgentAuthError, AgentInputError, AgentUnavailableError } from './errors.js';
import { bearer, newNonce, sameSecret, tokenMetadataKey, tokenProof } from './trust.js';
import { fromServiceError } from './wire-errors.js';

export type { AgentStatus, HelloResponse, RestoreHeader };

/** The size of the data chunks a snapshot is streamed in. */
export const restoreChunkBytes = 64 * 1024;

/** The default port of the agent API (etcd has 2379 and 2380). */
export const defaultAgentPort = 2390;

export interface ClientTlsFiles {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** `host`, `host:port` or `[v6]:port`; the port defaults to the agent port. */
export function parseAgentAddress(address: string): { host: string; port: number; text: string } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d+))?$/.exec(address.trim());
  if (m === null) throw new AgentInputError(`agent address ${JSON.stringify(address)}: expected host or host:port`);
  const host = m[1] ?? m[2] ?? '';
  const port = m[3] !== undefined ? Number(m[3]) : defaultAgentPort;
  if (port < 1 || port > 65535) throw new AgentInputError(`agent address ${address}: port out of range`);
  return { host, port, text: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}` };
}

/** The certificate a TLS server presents, without verifying it (first contact only; pinned afterwards). */
async function fetchServerCertificate(host: string, port: number, timeoutMs: number): Promise<Buffer> {
  return await new Promise<Buffer>((resolve, reject) => {
    quietIpServerNameWarning();
    const socket = tlsConnect({ host, port, rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    const timer = setTimeout(() => socket.destroy(new Error(`no TLS handshake within ${timeoutMs} ms`)), timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const cert = socket.getPeerCertificate(false);
      socket.destroy();
      if (cert === undefined || cert.raw === undefined) reject(new Error('the agent presented no certificate'));
      else resolve(cert.raw);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function pemOf(der: Buffer): string {
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
}

type Unary<Req, Res> = (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Res) => void) => grpc.ClientUnaryCall;

export class AgentConnection {
  private constructor(
    readonly address: string,
    private readonly client: InstanceType<typeof AgentClient>,
    private readonly token: string | undefined,
  ) {
    // Agents are usually addressed by IP; Node warns about the IP server name grpc-js sends (see client/tls.ts).
    quietIpServerNameWarning();
  }

  /**
   * Connects to an agent that may not be enrolled: pins the certificate it presents and checks, with a fresh
   * nonce, that it knows `token`. Returns the connection and the agent's Hello.
   */
  static async firstContact(address: string, token: string, timeoutMs = 5000): Promise<{ conn: AgentConnection; hello: HelloResponse }> {
    const { host, port, text } = parseAgentAddress(address);
    let der: Buffer;
    try {
      der = await fetchServerCertificate(host, port, timeoutMs);
    } catch (err) {
      throw new AgentUnavailableError(`agent ${text} is unreachable: ${(err as Error).message}`);
    }
    const creds = grpc.credentials.createSsl(Buffer.from(pemOf(der)), null, null, {
      // The pinned certificate is the trust anchor; which names it carries does not matter.
      checkServerIdentity: (_host, cert) => (Buffer.compare(cert.raw, der) === 0 ? undefined : new Error('the agent presented another certificate')),
    });
    const conn = new AgentConnection(text, new AgentClient(text, creds, reconnectChannelOptions), token);
    const nonce = newNonce();
    const hello = await conn.call(conn.bound<{ nonce: Buffer }, HelloResponse>('hello'), { nonce }, timeoutMs);
    if (!hello.enrolled && !sameSecret(hello.tokenProof, tokenProof(token, nonce, new X509Certificate(der).raw))) {
      conn.close();
      throw new AgentAuthError(`agent ${text} could not prove it holds the bootstrap token: wrong token, or not the agent you meant (check the address)`);
    }
    return { conn, hello };
  }

  /** Connects to an enrolled agent with mutual TLS. */
  static enrolled(address: string, tls: ClientTlsFiles): AgentConnection {
    const { text } = parseAgentAddress(address);
    return new AgentConnection(text, new AgentClient(text, grpc.credentials.createSsl(tls.ca, tls.key, tls.cert), reconnectChannelOptions), undefined);
  }

  close(): void {
    this.client.close();
  }

  private async call<Req, Res>(method: Unary<Req, Res>, req: Req, timeoutMs: number): Promise<Res> {
    const md = new grpc.Metadata();
    if (this.token !== undefined) md.set(tokenMetadataKey, bearer(this.token));
    return await new Promise<Res>((resolve, reject) => {
      method(req, md, { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err !== null) reject(fromServiceError(err, this.address));
        else if (res === undefined) reject(new Error(`agent ${this.address}: empty answer`));
        else resolve(res);
      });
    });
  }

  private bound<Req, Res>(name: keyof InstanceType<typeof AgentClient>): Unary<Req, Res> {
    return (this.client[name] as unknown as Unary<Req, Res>).bind(this.client);
  }

  async hello(timeoutMs = 5000): Promise<HelloResponse> {
    return await this.call(this.bound<{ nonce: Buffer }, HelloResponse>('hello'), { nonce: Buffer.alloc(0) }, timeoutMs);
  }

  async enroll(req: { caPem: string; certPem: string; keyPem: string; clusterName: string }): Promise<void> {
    await this.call(this.bound('enroll'), req, 10_000);
  }

  async configure(spec: NodeSpec, replace = false): Promise<AgentStatus> {
    return await this.call(this.bound<{ spec: NodeSpec; replace: boolean }, AgentStatus>('configure'), { spec, replace }, 15_000);
  }

  async start(): Promise<AgentStatus> {
    return await this.call(this.bound<object, AgentStatus>('start'), {}, 30_000);
  }

  async stop(): Promise<AgentStatus> {
    return await this.call(this.bound<object, AgentStatus>('stop'), {}, 60_000);
  }

  async restart(): Promise<AgentStatus> {
    return await this.call(this.bound<object, AgentStatus>('restart'), {}, 60_000);
  }

  async status(timeoutMs = 5000): Promise<AgentStatus> {
    return await this.call(this.bound<object, AgentStatus>('status'), {}, timeoutMs);
  }

  async wipe(memberName: string): Promise<AgentStatus> {
    return await this.call(this.bound<{ memberName: string }, AgentStatus>('wipe'), { memberName }, 60_000);
  }

  /** `unenroll`: the agent also leaves the cluster and takes its bootstrap token again. */
  async reset(memberName: string, unenroll = false): Promise<AgentStatus> {
    return await this.call(this.bound<{ memberName: string; unenroll: boolean }, AgentStatus>('reset'), { memberName, unenroll }, 60_000);
  }

  /**
   * Replaces the member's data with a snapshot (the agent's Restore): the header, then the file (a path, or
   * its bytes) in chunks of at most 64 KiB, each written when the stream has room for it. Ends with the
   * agent's answer; a refusal ends the upload at once.
   */
  async restore(header: RestoreHeader, source: string | AsyncIterable<Uint8Array>, timeoutMs = 600_000): Promise<AgentStatus> {
    const answered = new AbortController();
    let stream: grpc.ClientWritableStream<RestoreChunk> | undefined;
    const answer = new Promise<AgentStatus>((resolve, reject) => {
      stream = this.client.restore(new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        answered.abort();
        if (err !== null) reject(fromServiceError(err, this.address));
        else resolve(res);
      });
    });
    const call = stream as NonNullable<typeof stream>;
    const send = async (msg: RestoreChunk): Promise<void> => {
      // Backpressure: wait for 'drain' when the stream's buffer is full, or stop once the agent answered.
      if (!call.write(msg)) await once(call, 'drain', { signal: answered.signal });
    };
    const upload = async (): Promise<void> => {
      try {
        await send({ header, data: Buffer.alloc(0) });
        const chunks = typeof source === 'string' ? createReadStream(source, { highWaterMark: restoreChunkBytes }) : source;
        for await (const chunk of chunks) {
          for (let at = 0; at < chunk.length; at += restoreChunkBytes) {
            if (answered.signal.aborted) return;
            await send({ header: undefined, data: chunk.subarray(at, at + restoreChunkBytes) });
          }
        }
        call.end();
      } catch (err) {
        if (answered.signal.aborted) return;
        // The file could not be read: the agent must not restore what arrived so far.
        call.cancel();
        throw err;
      }
    };
    const [status] = await Promise.all([answer, upload()]);
    return status;
  }

  /** The member's log: the last `tail` lines, then (follow) new output until the returned stop() is called. */
  logs(tail: number, follow: boolean): { chunks: AsyncIterable<Buffer>; stop: () => void } {
    const md = new grpc.Metadata();
    const stream = this.client.logs({ tail, follow }, md);
    const address = this.address;
    async function* chunks(): AsyncGenerator<Buffer> {
      try {
        for await (const chunk of stream as AsyncIterable<{ data: Uint8Array }>) yield Buffer.from(chunk.data);
      } catch (err) {
        if ((err as grpc.ServiceError).code === grpc.status.CANCELLED) return;
        throw fromServiceError(err as grpc.ServiceError, address);
      }
    }
    return { chunks: chunks(), stop: () => stream.cancel() };
  }

  /**
   * Copies member `memberName`'s data dir from this (stopped) agent's member to `target`'s, which must be
   * configured for the same member and hold no data: ExportData piped into ImportData, with backpressure.
   * `progress` gets the bytes sent so far. A failure on either side ends both calls.
   */
  async copyDataTo(target: AgentConnection, memberName: string, progress: (bytes: number) => void, timeoutMs = 30 * 60_000): Promise<AgentStatus> {
    const deadline = Date.now() + timeoutMs;
    const source = this.client.exportData({ memberName }, new grpc.Metadata(), { deadline });
    let sinkError: Error | undefined;
    const result = new Promise<AgentStatus>((resolve, reject) => {
      const sink = target.client.importData(new grpc.Metadata(), { deadline }, (err, res) => {
        if (err !== null) {
          sinkError = fromServiceError(err, target.address);
          source.cancel();
          reject(sinkError);
        } else if (res === undefined) reject(new Error(`agent ${target.address}: empty answer`));
        else resolve(res);
      });
      void (async () => {
        let bytes = 0;
        try {
          for await (const chunk of source as AsyncIterable<DataChunk>) {
            bytes += chunk.data.length;
            if (!sink.write(chunk)) await new Promise((r) => sink.once('drain', r));
            if (chunk.end !== undefined) progress(bytes);
          }
          sink.end();
        } catch (err) {
          // The importer keeps nothing of a stream that ends without its last message; cancelling says so sooner.
          sink.cancel();
          if (sinkError === undefined) {
            reject((err as grpc.ServiceError).code !== undefined ? fromServiceError(err as grpc.ServiceError, this.address) : err);
          }
        }
      })();
    });
    return await result;
  }
}
