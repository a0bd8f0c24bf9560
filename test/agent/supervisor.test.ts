// The supervisor with a fake launcher: restarts with backoff, stops for good, adopts, reports state.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';

import { noopLogger } from '../../src/base/logger.js';
import type { Launched, Launcher } from '../../src/agent/launcher.js';
import { Supervisor } from '../../src/agent/supervisor.js';

class FakeLauncher implements Launcher {
  readonly launched: { pid: number; end: (how: string) => void; signals: string[] }[] = [];
  adoptable: Launched | undefined;
  private next = 100;

  async launch(): Promise<Launched> {
    const pid = this.next++;
    let end!: (how: string) => void;
    const ended = new Promise<string>((resolve) => (end = resolve));
    const entry = { pid, end, signals: [] as string[] };
    this.launched.push(entry);
    return { pid, ended, signal: (s) => { entry.signals.push(s); if (s === 'SIGTERM' || s === 'SIGKILL') end(`signal ${s}`); } };
  }
  async adopt(): Promise<Launched | undefined> {
    return this.adoptable;
  }
  async forget(): Promise<void> {}
}

test('a member that ends on its own is restarted after a backoff; stop() keeps it stopped', async () => {
  const launcher = new FakeLauncher();
  const sup = new Supervisor({ launcher, environment: async () => new Map(), logger: noopLogger });
  await sup.start();
  assert.equal(sup.status().state, 'running');
  assert.equal(sup.status().pid, 100);
  launcher.launched[0]?.end('exit code 1');
  await sleep(10);
  const backoff = sup.status();
  assert.equal(backoff.state, 'backoff');
  assert.equal(backoff.lastExit, 'exit code 1');
  assert.ok(backoff.restartInMs > 0 && backoff.restartInMs <= 1000, String(backoff.restartInMs));
  await sleep(1100);
  assert.equal(sup.status().state, 'running');
  assert.equal(sup.status().pid, 101);
  assert.equal(sup.status().restarts, 1);
  // The second quick failure doubles the wait.
  launcher.launched[1]?.end('exit code 2');
  await sleep(10);
  assert.ok(sup.status().restartInMs > 1000, String(sup.status().restartInMs));
  // start() during a backoff starts at once.
  await sup.start();
  assert.equal(sup.status().pid, 102);
  await sup.stop();
  assert.deepEqual(launcher.launched[2]?.signals, ['SIGTERM']);
  assert.equal(sup.status().state, 'stopped');
  await sleep(50);
  assert.equal(launcher.launched.length, 3, 'no restart after stop()');
});

test('stop() escalates to SIGKILL when SIGTERM is not enough', async () => {
  const stubborn: Launcher = {
    launch: async () => {
      let end!: (how: string) => void;
      const ended = new Promise<string>((r) => (end = r));
      return { pid: 7, ended, signal: (s) => { if (s === 'SIGKILL') end('signal SIGKILL'); } };
    },
    adopt: async () => undefined,
    forget: async () => {},
  };
  const sup = new Supervisor({ launcher: stubborn, environment: async () => new Map(), logger: noopLogger, stopTimeoutMs: 50 });
  await sup.start();
  await sup.stop();
  assert.equal(sup.status().state, 'stopped');
  assert.equal(sup.status().lastExit, 'signal SIGKILL');
});

test('adopt() tracks a member an earlier agent started', async () => {
  const launcher = new FakeLauncher();
  let end!: (how: string) => void;
  launcher.adoptable = { pid: 55, ended: new Promise((r) => (end = r)), signal: () => {} };
  const sup = new Supervisor({ launcher, environment: async () => new Map(), logger: noopLogger });
  assert.equal(await sup.adopt(), true);
  assert.equal(sup.status().pid, 55);
  end('ended');
  await sleep(10);
  assert.equal(sup.status().state, 'backoff', 'an adopted member that ends is restarted too');
  await sup.stop();
});
