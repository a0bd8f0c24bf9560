// ESLint flat config for kvctl.
//
// Besides typescript-eslint's recommended rules, this file enforces the import boundaries of
// shared/design/code-anchors.md ("Who may import whom") with a small local rule, `kvctl/boundaries`.
// It resolves every relative import to a path inside the repo and checks it against the LAYERS table
// below. (Core `no-restricted-imports` only sees the specifier string as written, so it cannot tell
// `../../wal/wal.js` from `../log.js` at every folder depth; eslint-plugin-boundaries would need a
// TypeScript-aware resolver to map our `.js` specifiers onto `.ts` files.)
//
// The raft core and its simulator additionally get bans on time, randomness, I/O and async code.
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

const ROOT = path.dirname(fileURLToPath(import.meta.url));

const DETERMINISM =
  'the raft core is a pure deterministic state machine: time arrives as ticks, randomness through the injected Rng';

/**
 * Who may import whom. For a file under `from` (a folder or a single file, relative to the repo root;
 * the most specific entry wins), imports inside src/ must land in one of `allow`, or in one of
 * `typesOnly` through `import type` / `export type`. Entries are folders, files (`.ts`), or patterns
 * where `*` stands for one path segment.
 * - `builtins`: Node built-in modules (`node:fs`, `fs`, ...): true, false, or a file-name pattern.
 * - `packages`: npm packages: true or false.
 * Files in src/ outside every entry may import anything except src/commands and deep paths into
 * src/server. test/, bench/, scripts/ and bin/ are unrestricted.
 */
const LAYERS = [
  { from: 'src/base', allow: ['src/base'], builtins: 'src/base/node-*.ts', packages: true },
  { from: 'src/proto', allow: ['src/base', 'src/proto'], builtins: true, packages: true },

  {
    from: 'src/server/raft',
    allow: ['src/base', 'src/server/raft'],
    builtins: false,
    packages: false,
    why: DETERMINISM,
  },
  {
    from: 'src/server/raftsim',
    allow: ['src/base', 'src/server/raft', 'src/server/raftsim'],
    builtins: false,
    packages: false,
    why: `${DETERMINISM}; the simulator drives it the same way`,
  },
  { from: 'src/server/wal', allow: ['src/base', 'src/server/wal', 'src/server/raft/codec.ts', 'src/server/raft/raftpb.ts'], typesOnly: ['src/server/raft'], builtins: true, packages: true },
  { from: 'src/server/snap', allow: ['src/base', 'src/server/snap', 'src/server/raft/codec.ts', 'src/server/raft/raftpb.ts'], typesOnly: ['src/server/raft'], builtins: true, packages: true },
  {
    from: 'src/server/mvcc',
    allow: ['src/base', 'src/proto', 'src/server/mvcc'],
    typesOnly: ['src/server/lease'],
    builtins: true,
    packages: true,
  },
  { from: 'src/server/lease', allow: ['src/base', 'src/proto', 'src/server/lease'], builtins: true, packages: true },
  { from: 'src/server/auth', allow: ['src/base', 'src/proto', 'src/server/auth'], builtins: true, packages: true },
  {
    from: 'src/server/peer',
    // The transport encodes raft messages itself (raftpb bytes on the wire), as wal/ and snap/ do.
    allow: ['src/base', 'src/proto', 'src/server/peer', 'src/server/raft/codec.ts', 'src/server/raft/raftpb.ts'],
    typesOnly: ['src/server/raft'],
    builtins: true,
    packages: true,
  },
  {
    from: 'src/server/kvserver',
    allow: [
      'src/base',
      'src/proto',
      'src/server/kvserver',
      'src/server/raft',
      'src/server/wal',
      'src/server/snap',
      'src/server/mvcc',
      'src/server/lease',
      'src/server/auth',
      'src/server/peer',
    ],
    builtins: true,
    packages: true,
  },
  {
    from: 'src/server/api',
    allow: ['src/base', 'src/proto', 'src/server/api', 'src/server/kvserver', 'src/server/*/errors.ts'],
    builtins: true,
    packages: true,
  },
  {
    from: 'src/server/index.ts',
    // raftsim: the deterministic cluster simulation behind `kvctl raft simulate`.
    allow: ['src/base', 'src/proto', 'src/server/kvserver', 'src/server/api', 'src/server/peer', 'src/server/raftsim', 'src/server/node.ts'],
    builtins: true,
    packages: true,
  },
  {
    // A running node: the core, its client listener and its peer transport.
    from: 'src/server/node.ts',
    allow: ['src/base', 'src/proto', 'src/server/kvserver', 'src/server/api', 'src/server/peer', 'src/server/auto-tls.ts'],
    builtins: true,
    packages: true,
  },
  {
    // etcd's --auto-tls: self-signed certificates from the CA library, into the node's config.
    from: 'src/server/auto-tls.ts',
    allow: ['src/base', 'src/server/kvserver/config.ts', 'src/pki/index.ts'],
    builtins: true,
    packages: true,
  },
  { from: 'src/client', allow: ['src/base', 'src/proto', 'src/client'], builtins: true, packages: true },
  // The certificate authority: a library for the CLI, the node's --auto-tls and the agent.
  { from: 'src/pki', allow: ['src/base', 'src/pki'], builtins: true, packages: true },
  {
    from: 'src/agent',
    allow: ['src/base', 'src/client', 'src/agent', 'src/server/index.ts', 'src/pki/index.ts', 'src/proto'],
    builtins: true,
    packages: true,
  },
  {
    from: 'src/cli',
    allow: ['src/base', 'src/client', 'src/agent/index.ts', 'src/server/index.ts', 'src/pki/index.ts', 'src/cli'],
    builtins: true,
    packages: true,
  },
  {
    from: 'src/commands',
    allow: ['src/base', 'src/client', 'src/agent/index.ts', 'src/server/index.ts', 'src/pki/index.ts', 'src/cli'],
    builtins: true,
    packages: true,
  },
];

/** Without extension: `src/server/index.js` and `src/server/index.ts` are the same module. */
const stripExt = (p) => p.replace(/\.(?:[cm]?[jt]sx?)$/, '');

/** Does repo path `target` fall under `entry` (a folder, a file, or a pattern with `*`)? */
function covers(entry, target) {
  if (entry.includes('*')) {
    const re = entry
      .split('*')
      .map((part) => stripExt(part).replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('[^/]+');
    return new RegExp(`^${re}$`).test(stripExt(target));
  }
  const base = stripExt(entry);
  const t = stripExt(target);
  return t === base || target.startsWith(`${entry}/`);
}

function layerOf(file) {
  let best;
  for (const layer of LAYERS) {
    if (covers(layer.from, file) && (!best || layer.from.length > best.from.length)) best = layer;
  }
  return best;
}

const relativeToRoot = (abs) => path.relative(ROOT, abs).split(path.sep).join('/');

const boundaries = {
  meta: {
    type: 'problem',
    docs: { description: 'Enforce the module boundaries of code-anchors.md ("Who may import whom")' },
    schema: [],
    messages: {
      layer: "{{from}} may not import {{target}}. Allowed inside src/: {{allowed}}.{{why}}",
      typesOnly: "{{from}} may import {{target}} only with 'import type' / 'export type'.{{why}}",
      builtin: "{{from}} may not import the Node built-in '{{spec}}'.{{why}}",
      packageImport: "{{from}} may not import the npm package '{{spec}}'.{{why}}",
      commands: 'Nothing imports src/commands: commands are leaves. Move shared code to src/cli.',
      serverDeep: 'Code outside src/server/ may import only src/server/index.ts, not {{target}}.',
    },
  },
  create(context) {
    const file = relativeToRoot(context.filename);
    if (!file.startsWith('src/')) return {};
    const layer = layerOf(file);
    const why = layer?.why ? ` (${layer.why})` : '';

    function check(source, typeOnly) {
      const spec = source.value;
      if (typeof spec !== 'string') return;
      if (spec.startsWith('.') || spec.startsWith('/')) {
        const target = relativeToRoot(path.resolve(path.dirname(context.filename), spec));
        if (!target.startsWith('src/')) return;
        if (target.startsWith('src/commands/')) {
          context.report({ node: source, messageId: 'commands' });
          return;
        }
        if (!layer) {
          if (target.startsWith('src/server/') && !file.startsWith('src/server/') && stripExt(target) !== 'src/server/index') {
            context.report({ node: source, messageId: 'serverDeep', data: { target } });
          }
          return;
        }
        if (layer.allow.some((entry) => covers(entry, target))) return;
        if ((layer.typesOnly ?? []).some((entry) => covers(entry, target))) {
          if (!typeOnly) context.report({ node: source, messageId: 'typesOnly', data: { from: layer.from, target, why } });
          return;
        }
        context.report({
          node: source,
          messageId: 'layer',
          data: { from: layer.from, target, allowed: [...layer.allow, ...(layer.typesOnly ?? []).map((t) => `${t} (types)`)].join(', '), why },
        });
        return;
      }
      if (!layer) return;
      if (isBuiltin(spec)) {
        const ok = typeof layer.builtins === 'string' ? covers(layer.builtins, file) : layer.builtins;
        if (!ok) context.report({ node: source, messageId: 'builtin', data: { from: layer.from, spec, why } });
        return;
      }
      if (!layer.packages) context.report({ node: source, messageId: 'packageImport', data: { from: layer.from, spec, why } });
    }

    return {
      ImportDeclaration: (node) => check(node.source, node.importKind === 'type'),
      ExportNamedDeclaration: (node) => node.source && check(node.source, node.exportKind === 'type'),
      ExportAllDeclaration: (node) => check(node.source, node.exportKind === 'type'),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node.source, false),
      TSImportType: (node) => {
        const lit = node.argument?.type === 'TSLiteralType' ? node.argument.literal : node.argument;
        if (lit?.type === 'Literal') check(lit, true);
      },
    };
  },
};

const kvctl = { meta: { name: 'kvctl' }, rules: { boundaries } };

const deterministicFiles = ['src/server/raft/**/*.ts', 'src/server/raftsim/**/*.ts'];
const bannedGlobals = [
  'Date',
  'setTimeout',
  'setInterval',
  'setImmediate',
  'clearTimeout',
  'clearInterval',
  'clearImmediate',
  'queueMicrotask',
  'process',
  'Promise',
  'performance',
  'crypto',
  'console',
  'globalThis',
];
const bannedSyntax = [
  ['FunctionDeclaration[async=true]', 'async functions'],
  ['FunctionExpression[async=true]', 'async functions'],
  ['ArrowFunctionExpression[async=true]', 'async functions'],
  ['AwaitExpression', 'await'],
  ['ForOfStatement[await=true]', 'for await'],
  ['ImportExpression', 'dynamic import()'],
];

export default defineConfig(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'tmp/', '**/*.d.ts', 'src/proto/gen/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    plugins: { kvctl },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-import-type-side-effects': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      'kvctl/boundaries': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': 'error',
    },
  },
  {
    files: deterministicFiles,
    rules: {
      'no-restricted-globals': ['error', ...bannedGlobals.map((name) => ({ name, message: `No '${name}' here: ${DETERMINISM}.` }))],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: `No 'Math.random': ${DETERMINISM}.` },
      ],
      'no-restricted-syntax': ['error', ...bannedSyntax.map(([selector, what]) => ({ selector, message: `No ${what}: ${DETERMINISM}.` }))],
    },
  },
  {
    // Plain JavaScript run by Node (bin/, scripts/, this file).
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {
      sourceType: 'module',
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly' },
    },
  },
);
