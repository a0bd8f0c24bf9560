/**
 * The base of every command that talks to etcd's v3 API: etcdctl's global flags, the client, the output
 * format, and etcdctl's way of failing.
 *
 * - Flags (also from the environment, like etcdctl's `ETCDCTL_*`): `--endpoints`, `--dial-timeout`,
 *   `--command-timeout`, `-w/--write-out`, `--user`/`--password`, and TLS: `--cacert`, `--cert`, `--key`,
 *   `--insecure-skip-tls-verify`; `--hex` is exported for the commands where etcdctl's printers use it.
 * - TLS as etcdctl 3.4 and clientv3 do it: any of `--cacert`/`--cert`/`--key` makes bare `host:port` endpoints
 *   TLS too (`http://` endpoints stay plaintext, `https://` ones are always TLS). One difference: etcdctl 3.4
 *   ignores `--insecure-skip-tls-verify` unless another TLS flag is given (fixed in etcd 3.5, which kvctl follows:
 *   the flag alone turns TLS on without verifying the server). Unreadable or mismatched files fail before
 *   dialing, with Go's message and etcdctl's exit code 128.
 * - `--json` is `-w json`: the command's `jsonOf(result)` is printed exactly as `-w json` prints it (etcdctl's JSON,
 *   64-bit integers intact), instead of oclif's pretty-printing of the returned object.
 * - Failures from the client (`ClientError`) and etcdctl-style usage errors (`CtlError`) print one line
 *   `Error: <message>` with etcdctl's text and exit with etcdctl's code (unreachable endpoints 2, bad arguments
 *   128, invalid input 3, unsupported format 4, anything else 1). With `--json` they print BaseCommand's error JSON.
 */
import { Flags, ux } from '@oclif/core';
import type { Input, OutputArgs, OutputFlags, ParserOutput } from '@oclif/core/interfaces';

import { type ClientOptions, ClientError, EtcdClient, type TlsOptions, defaultEndpoint, loadTlsFiles, quietIpServerNameWarning } from '../client/index.js';
import { loadContextSync } from '../agent/index.js';
import { BaseCommand } from './base-command.js';
import { CtlError } from './ctl-error.js';
import { type EndpointSource, discoveryFlags, endpointSourceOf } from './discovery.js';
import { ExitCode } from './exit-codes.js';
import { GoParseError, goParseInt, parseGoDuration } from '../base/go-format.js';
import { type WriteOut, writeOutFormats } from './output.js';
import { askPassword, closePasswordInput } from './password.js';

/** A Go duration flag (`2s`, `500ms`, `1m`), parsed to milliseconds. */
function durationFlag(description: string, defaultText: string, env: string) {
  return Flags.custom<number>({
    description,
    env,
    helpGroup: 'GLOBAL',
    default: async () => parseGoDuration(defaultText),
    defaultHelp: async () => defaultText,
    parse: async (input) => {
      const ms = parseGoDuration(input);
      if (ms <= 0) throw new GoParseError(`${input}: must be positive`);
      return ms;
    },
  })();
}

/** The flags every client command takes (etcdctl's global options). */
export const clientFlags = {
  endpoints: Flags.string({
    description: `gRPC endpoints, comma separated (host:port or http://host:port); default: the current kvctl context's, else ${defaultEndpoint}`,
    env: 'ETCDCTL_ENDPOINTS',
    helpGroup: 'GLOBAL',
  }),
  context: Flags.string({
    description: 'the saved cluster context (from kvctl cluster bootstrap) whose endpoints and client certificate to use when --endpoints is not given',
    env: 'KVCTL_CONTEXT',
    helpGroup: 'GLOBAL',
  }),
  'dial-timeout': durationFlag('dial timeout for client connections', '2s', 'ETCDCTL_DIAL_TIMEOUT'),
  'command-timeout': durationFlag('timeout for short running command (excluding dial timeout)', '5s', 'ETCDCTL_COMMAND_TIMEOUT'),
  'write-out': Flags.option({
    char: 'w',
    description: 'set the output format (--json is the same as -w json)',
    options: writeOutFormats,
    default: 'simple' as const,
    env: 'ETCDCTL_WRITE_OUT',
    helpGroup: 'GLOBAL',
  })(),
  user: Flags.string({
    description: 'username[:password] for authentication (prompt if password is not supplied)',
    env: 'ETCDCTL_USER',
    helpGroup: 'GLOBAL',
  }),
  password: Flags.string({
    description: "password for authentication (if this option is used, --user option shouldn't include password)",
    env: 'ETCDCTL_PASSWORD',
    helpGroup: 'GLOBAL',
  }),
  cacert: Flags.string({
    description: 'verify certificates of TLS-enabled secure servers using this CA bundle',
    env: 'ETCDCTL_CACERT',
    helpGroup: 'GLOBAL',
  }),
  cert: Flags.string({
    description: 'identify secure client using this TLS certificate file',
    env: 'ETCDCTL_CERT',
    helpGroup: 'GLOBAL',
  }),
  key: Flags.string({
    description: 'identify secure client using this TLS key file',
    env: 'ETCDCTL_KEY',
    helpGroup: 'GLOBAL',
  }),
  'insecure-skip-tls-verify': Flags.boolean({
    description: 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)',
    env: 'ETCDCTL_INSECURE_SKIP_TLS_VERIFY',
    default: false,
    helpGroup: 'GLOBAL',
  }),
  ...discoveryFlags,
};

/** etcdctl's `--hex`, for the commands whose printers use it (get, put, del, txn). */
export const hexFlag = Flags.boolean({
  description: 'print byte strings as hex encoded strings',
  default: false,
  env: 'ETCDCTL_HEX',
  helpGroup: 'GLOBAL',
});

/** A 64-bit integer flag (revisions, limits), parsed as Go's `strconv.ParseInt` does. */
export function int64Flag(description: string) {
  return Flags.custom<bigint>({ description, parse: async (input) => goParseInt(input, 10) })();
}

/** `--cluster` of the endpoint commands: address every member's client URLs instead of `--endpoints`. */
export const clusterFlag = Flags.boolean({ description: 'use all endpoints from the cluster member list', default: false });

export type ClientFlags = {
  endpoints?: string | undefined;
  context?: string | undefined;
  'dial-timeout': number;
  'command-timeout': number;
  'write-out': WriteOut;
  user?: string | undefined;
  password?: string | undefined;
  cacert?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
  'insecure-skip-tls-verify'?: boolean | undefined;
  'discovery-srv'?: string | undefined;
  'discovery-srv-name'?: string | undefined;
  'insecure-discovery'?: boolean | undefined;
  'dns-server'?: string | undefined;
};

/**
 * The TLS settings for etcdctl's TLS flags (files read and checked), or undefined without them. etcdctl's own
 * refusals first: an empty path given explicitly (exit code 128).
 */
function tlsOf(flags: ClientFlags): TlsOptions | undefined {
  for (const name of ['cacert', 'cert', 'key'] as const) {
    if (flags[name] === '') throw new CtlError(`empty string is passed to --${name} option`, ExitCode.ExitBadArgs);
  }
  const tls = loadTlsFiles({
    cacert: flags.cacert,
    cert: flags.cert,
    key: flags.key,
    insecureSkipVerify: flags['insecure-skip-tls-verify'],
  });
  if (tls !== undefined) quietIpServerNameWarning();
  return tls;
}

/** etcdctl's `--user name[:password]` and `--password`: the user and password to authenticate with, if any. */
function credentialsOf(flags: ClientFlags, prompted: string | undefined): { username?: string; password?: string } {
  const user = flags.user ?? '';
  if (user === '') return {};
  if (flags.password !== undefined && flags.password !== '') return { username: user, password: flags.password };
  const colon = user.indexOf(':');
  if (colon >= 0) return { username: user.slice(0, colon), password: user.slice(colon + 1) };
  return { username: user, password: prompted ?? '' };
}

function needsPasswordPrompt(flags: ClientFlags): boolean {
  return (flags.user ?? '') !== '' && (flags.password ?? '') === '' && !(flags.user ?? '').includes(':');
}

/** A JSON text to print as is (see `logJson`). */
class RawJson {
  constructor(readonly text: string) {}
}

/** The exit code for the errors this base class reports itself; undefined for the rest (BaseCommand's job). */
function exitCodeOf(err: Error): number | undefined {
  if (err instanceof CtlError) return err.exitCode;
  if (err instanceof ClientError) {
    switch (err.kind) {
      case 'unreachable':
        return ExitCode.ExitBadConnection;
      case 'bad-request':
        return ExitCode.ExitBadArgs;
      case 'canceled':
        return ExitCode.ExitInterrupted;
      default:
        return ExitCode.ExitError;
    }
  }
  return undefined;
}

export abstract class ClientCommand<T> extends BaseCommand<T> {
  static override baseFlags = clientFlags;

  private client: EtcdClient | undefined;

  /** The result as etcdctl's `-w json` prints it; what `--json` prints too. */
  protected abstract jsonOf(result: T): string;

  /** The output format: `json` under `--json`, else `-w`. */
  protected writeOut(flags: ClientFlags): WriteOut {
    return this.jsonEnabled() ? 'json' : flags['write-out'];
  }

  protected clientOptions(flags: ClientFlags): ClientOptions {
    const source = this.endpointSource;
    // No endpoints given and none discovered: the saved context's endpoints and client certificate, if any.
    // Explicit https:// endpoints (and no TLS flags) use the context's client certificate too: they are most
    // likely its members. Bare host:port ones do not: TLS settings would make them TLS (see the module comment).
    const allHttps = flags.endpoints !== undefined && flags.endpoints.split(',').every((e) => e.trim().startsWith('https://'));
    const context = source === undefined && (flags.endpoints === undefined || allHttps) ? loadContextSync(flags.context) : undefined;
    const given = context !== undefined && flags.cacert === undefined && flags.cert === undefined && flags.key === undefined && context.tls !== undefined
      ? { ...flags, cacert: context.tls.ca, cert: context.tls.cert, key: context.tls.key }
      : flags;
    const opts = {
      endpoints: source?.endpoints ?? flags.endpoints ?? context?.endpoints.join(',') ?? defaultEndpoint,
      dialTimeoutMs: flags['dial-timeout'],
      commandTimeoutMs: flags['command-timeout'],
      ...(source !== undefined ? { hostAddresses: source.addresses } : {}),
    };
    const loaded = tlsOf(given);
    // etcdctl with --insecure-discovery=false checks the servers' certificates against the SRV domain.
    const tls = loaded !== undefined && source?.serverName !== undefined ? { ...loaded, serverName: source.serverName } : loaded;
    return { ...opts, ...(tls !== undefined ? { tls } : {}), ...credentialsOf(flags, this.promptedPassword) };
  }

  /** Where the endpoints come from when SRV discovery or --dns-server is used (see cli/discovery.ts). */
  private endpointSource: EndpointSource | undefined;

  /**
   * oclif's parse, then the endpoints: every client command parses its flags first, so this is the one place
   * where `--discovery-srv` and `--dns-server` are applied, before any client exists.
   */
  // oclif's own bounds for parse's type parameters (its FlagOutput and ArgOutput are not exported).
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  protected override async parse<F extends OutputFlags<any>, B extends OutputFlags<any>, A extends OutputArgs<any>>(
    options?: Input<F, B, A>,
    argv?: string[],
  ): Promise<ParserOutput<F, B, A>> {
    const parsed = await super.parse(options, argv);
    this.endpointSource ??= await endpointSourceOf(parsed.flags as Partial<ClientFlags>, (line) => this.logToStderr(line));
    return parsed;
  }

  /** The password typed at etcdctl's `Password: ` prompt (for `--user name` without one). */
  private promptedPassword: string | undefined;

  /**
   * A client connected to one of `--endpoints` (closed when the command ends). With `--user`, it has authenticated:
   * wrong credentials fail here, with exit code 2 as etcdctl's client creation does.
   */
  protected async connect(flags: ClientFlags): Promise<EtcdClient> {
    this.client?.close();
    if (needsPasswordPrompt(flags) && this.promptedPassword === undefined) {
      this.promptedPassword = await askPassword('Password: ');
    }
    this.client = await EtcdClient.connect(this.clientOptions(flags));
    try {
      await this.client.authenticate();
    } catch (err) {
      if (err instanceof ClientError && err.kind === 'server') throw new CtlError(err.message, ExitCode.ExitBadConnection, { cause: err });
      throw err;
    }
    return this.client;
  }

  /**
   * A client that connects on first use, for commands that address endpoints one by one (endpoint health). The
   * same client on every call, closed when the command ends.
   */
  protected createClient(flags: ClientFlags): EtcdClient {
    this.client ??= EtcdClient.create(this.clientOptions(flags));
    return this.client;
  }

  /**
   * The endpoints an endpoint command addresses: `--endpoints` as written, or with `--cluster` the client URLs of
   * every member (asked of `--endpoints`).
   */
  protected async endpointList(flags: ClientFlags, cluster: boolean): Promise<string[]> {
    const client = this.createClient(flags);
    if (!cluster) return client.endpoints.map((e) => e.raw);
    try {
      const { members } = await client.memberList();
      return members.flatMap((m) => m.clientURLs);
    } catch (err) {
      if (!(err instanceof ClientError)) throw err;
      const code = err.kind === 'unreachable' ? ExitCode.ExitBadConnection : ExitCode.ExitError;
      throw new CtlError(`failed to fetch endpoints from etcd cluster member list: ${err.message}`, code, { cause: err });
    }
  }

  /** Writes command output (raw bytes: keys and values need not be UTF-8), unless `--json` is on. */
  protected write(bytes: Buffer): void {
    if (bytes.length > 0 && !this.jsonEnabled()) process.stdout.write(bytes);
  }

  /** Writes to stderr, unless `--json` is on. */
  protected writeErr(bytes: Buffer): void {
    if (bytes.length > 0 && !this.jsonEnabled()) process.stderr.write(bytes);
  }

  /** Prints the result's JSON (for a command that must print it before exiting non-zero under `--json`). */
  protected printJson(result: T): void {
    if (this.jsonEnabled()) this.logJson(new RawJson(this.jsonOf(result)));
  }

  override toSuccessJson(result: unknown): unknown {
    return new RawJson(this.jsonOf(result as T));
  }

  protected override logJson(json: unknown): void {
    if (json instanceof RawJson) ux.stdout(json.text);
    else super.logJson(json);
  }

  override async catch(err: Error & { exitCode?: number }): Promise<never> {
    const exitCode = exitCodeOf(err);
    if (exitCode === undefined) return super.catch(err);
    if (this.jsonEnabled()) {
      this.logJson(this.toErrorJson(err));
    } else {
      this.logToStderr(`Error: ${err.message.replace(/\s*\n\s*/g, ' ')}`);
      if (this.config.scopedEnvVarTrue('DEBUG')) this.logToStderr(err.stack ?? String(err));
    }
    this.exit(exitCode);
  }

  protected override async finally(err: Error | undefined): Promise<unknown> {
    closePasswordInput();
    this.client?.close();
    this.client = undefined;
    return super.finally(err);
  }
}
