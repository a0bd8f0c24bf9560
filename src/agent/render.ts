/**
 * Renders the files of `templates/` (data only) with a member's values. The syntax is deliberately tiny:
 * `{{key}}` is replaced by its value (a missing key is an error, so a template and its caller cannot drift
 * apart silently); `{{key?}}` is optional, and a line holding an optional placeholder whose value is empty is
 * left out whole, so an env file never carries `ETCD_DISCOVERY=` lines that etcd would read as set.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { AgentInputError } from './errors.js';

/** The repo's (or the installed package's) templates/ directory: two levels above src/agent or dist/agent. */
export const templatesDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'templates');

export type TemplateName = 'etcd.env' | 'etcd-member.service' | 'kvctl-agent.service';

const cache = new Map<TemplateName, string>();

export function loadTemplate(name: TemplateName): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(join(templatesDir, name), 'utf8');
    cache.set(name, text);
  }
  return text;
}

const placeholder = /\{\{([A-Za-z][A-Za-z0-9]*)(\?)?\}\}/g;

export function renderText(template: string, values: Readonly<Record<string, string>>): string {
  const out: string[] = [];
  for (const line of template.split('\n')) {
    let dropLine = false;
    const rendered = line.replace(placeholder, (_match, key: string, optional: string | undefined) => {
      const value = values[key];
      if (value === undefined) {
        if (optional === undefined) throw new AgentInputError(`template: no value for {{${key}}}`);
        dropLine = true;
        return '';
      }
      if (optional !== undefined && value === '') dropLine = true;
      return value;
    });
    if (!dropLine) out.push(rendered);
  }
  return out.join('\n');
}

export function renderTemplate(name: TemplateName, values: Readonly<Record<string, string>>): string {
  return renderText(loadTemplate(name), values);
}

/**
 * Reads an env file as systemd's EnvironmentFile= and etcd's users write them: `NAME=value` lines, `#`
 * comments and blank lines skipped, no quoting (the values kvctl renders never need it).
 */
export function parseEnvFile(text: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new AgentInputError(`env file: not NAME=value: ${JSON.stringify(line)}`);
    env.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return env;
}
