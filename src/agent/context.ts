/**
 * Saved contexts: what `kvctl cluster bootstrap` leaves behind so later commands need no flags. A context is
 * a directory `<kvctl home>/contexts/<name>/` holding `context.json` (the cluster's client endpoints, its
 * agents, and, for `--local`, where the local agents live) and `pki/` (the cluster's CA, the operator's client
 * certificate, member and agent certificates). `<kvctl home>/current-context` names the one in use.
 * The home is $KVCTL_HOME, else ~/.kvctl.
 */
import { readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

import { ensureDir, replaceFile } from '../pki/index.js';
import { AgentInputError } from './errors.js';

export interface ContextAgent {
  readonly member: string;
  readonly address: string;
  /** The member's client URL: how to ask it for its status when its agent does not answer. */
  readonly clientUrl: string;
}

export interface ClusterContext {
  readonly name: string;
  readonly endpoints: readonly string[];
  /** Files for the client's TLS, empty when the cluster's client URLs are plain http. */
  readonly tls: { readonly ca: string; readonly cert: string; readonly key: string } | undefined;
  readonly agents: readonly ContextAgent[];
  readonly runtime: string;
  /** The image of the docker runtime. */
  readonly image?: string | undefined;
  /** The bootstrap's other ETCD_* settings (`--set`), given to members added, moved or restored later too. */
  readonly settings?: Readonly<Record<string, string>> | undefined;
  /** For `--local`: the directory holding the local agents (one subdirectory each). */
  readonly localDir: string | undefined;
  readonly createdAt: string;
}

export function kvctlHome(): string {
  const home = process.env.KVCTL_HOME;
  return home !== undefined && home !== '' ? home : join(homedir(), '.kvctl');
}

const contextNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function checkContextName(name: string): string {
  if (!contextNamePattern.test(name)) throw new AgentInputError(`cluster name ${JSON.stringify(name)} must be 1-63 letters, digits, '.', '_' or '-'`);
  return name;
}

export function contextDir(name: string): string {
  return join(kvctlHome(), 'contexts', checkContextName(name));
}

export function contextPkiDir(name: string): string {
  return join(contextDir(name), 'pki');
}

export async function saveContext(ctx: ClusterContext, makeCurrent = true): Promise<string> {
  const dir = contextDir(ctx.name);
  await ensureDir(dir);
  const file = join(dir, 'context.json');
  await replaceFile(file, `${JSON.stringify(ctx, null, 2)}\n`, 0o600);
  if (makeCurrent) await replaceFile(join(kvctlHome(), 'current-context'), `${ctx.name}\n`, 0o600);
  return file;
}

export async function currentContextName(): Promise<string | undefined> {
  try {
    const name = (await readFile(join(kvctlHome(), 'current-context'), 'utf8')).trim();
    return name === '' ? undefined : name;
  } catch {
    return undefined;
  }
}

/** The named context, or the current one; undefined when there is none (and none was named). */
export async function loadContext(name?: string): Promise<ClusterContext | undefined> {
  const chosen = name ?? (await currentContextName());
  if (chosen === undefined) return undefined;
  try {
    return JSON.parse(await readFile(join(contextDir(chosen), 'context.json'), 'utf8')) as ClusterContext;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      if (name !== undefined) throw new AgentInputError(`no context named ${name} (in ${join(kvctlHome(), 'contexts')})`);
      return undefined;
    }
    throw err;
  }
}

export async function removeContext(name: string): Promise<void> {
  await rm(contextDir(name), { recursive: true, force: true });
  if ((await currentContextName()) === name) await rm(join(kvctlHome(), 'current-context'), { force: true });
}

/**
 * The context a client command uses when no endpoints are given (`--context`, $KVCTL_CONTEXT, or the current
 * one), read synchronously: client options are built synchronously. Undefined when there is none.
 */
export function loadContextSync(name: string | undefined): ClusterContext | undefined {
  let chosen = name;
  if (chosen === undefined) {
    try {
      chosen = readFileSync(join(kvctlHome(), 'current-context'), 'utf8').trim();
    } catch {
      return undefined;
    }
    if (chosen === '') return undefined;
  }
  try {
    return JSON.parse(readFileSync(join(contextDir(chosen), 'context.json'), 'utf8')) as ClusterContext;
  } catch (err) {
    if (name !== undefined) throw new AgentInputError(`context ${name}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? `none in ${join(kvctlHome(), 'contexts')}` : (err as Error).message}`);
    return undefined;
  }
}
