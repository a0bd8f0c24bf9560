/**
 * Keeps a member in the state the operator asked for. `start()` makes it run and keeps it running: when it
 * ends on its own it is started again after a backoff (1 s, doubling to 30 s; back to 1 s after a run of a
 * minute), so a member that cannot start does not spin. `stop()` sends SIGTERM (an etcd leader hands
 * leadership over first, so this can take a few seconds) and SIGKILL after `stopTimeoutMs`.
 */
import type { Logger } from '../base/logger.js';
import { type Launched, type Launcher, stopGracefully } from './launcher.js';

export type NodeState = 'stopped' | 'starting' | 'running' | 'backoff';

export interface SupervisorStatus {
  readonly state: NodeState;
  readonly pid: number;
  readonly restarts: number;
  readonly lastExit: string;
  readonly startedAtMs: number;
  readonly restartInMs: number;
}

export interface SupervisorOptions {
  readonly launcher: Launcher;
  /** The member's environment (its rendered env file), read at every start. */
  readonly environment: () => Promise<ReadonlyMap<string, string>>;
  readonly logger: Logger;
  readonly stopTimeoutMs?: number;
  readonly now?: () => number;
}

const minBackoffMs = 1000;
const maxBackoffMs = 30_000;
const stableRunMs = 60_000;

export class Supervisor {
  private current: Launched | undefined;
  private startedAt = 0;
  private wanted = false;
  private restarts = 0;
  private consecutiveFailures = 0;
  private lastExit = '';
  private restartTimer: NodeJS.Timeout | undefined;
  private restartAt = 0;
  private starting: Promise<void> | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: SupervisorOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Adopts the member an earlier agent left running; returns whether there was one. */
  async adopt(): Promise<boolean> {
    const found = await this.opts.launcher.adopt();
    if (found === undefined) return false;
    this.wanted = true;
    this.track(found, this.now());
    this.opts.logger.info(`adopted the running member (pid ${found.pid}) started by an earlier agent`);
    return true;
  }

  status(): SupervisorStatus {
    const state: NodeState =
      this.current !== undefined ? 'running' : this.starting !== undefined ? 'starting' : this.restartTimer !== undefined ? 'backoff' : 'stopped';
    return {
      state,
      pid: this.current?.pid ?? 0,
      restarts: this.restarts,
      lastExit: this.lastExit,
      startedAtMs: this.current !== undefined ? this.startedAt : 0,
      restartInMs: this.restartTimer !== undefined ? Math.max(0, this.restartAt - this.now()) : 0,
    };
  }

  /** Makes the member run (now, not after a pending backoff); resolves once its process is started. */
  async start(): Promise<void> {
    this.wanted = true;
    this.cancelRestart();
    if (this.current !== undefined) return;
    await this.launch();
  }

  async stop(): Promise<void> {
    this.wanted = false;
    this.cancelRestart();
    await this.starting?.catch(() => {});
    const running = this.current;
    if (running === undefined) return;
    const timeout = this.opts.stopTimeoutMs ?? 20_000;
    await stopGracefully(running, timeout, () =>
      this.opts.logger.warn(`member (pid ${running.pid}) still runs ${timeout} ms after SIGTERM: sending SIGKILL`),
    );
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Stops supervising without touching the member (the agent is exiting; the member keeps serving). */
  detach(): void {
    this.cancelRestart();
    this.wanted = false;
    this.current = undefined;
  }

  private async launch(): Promise<void> {
    if (this.starting !== undefined) return await this.starting;
    this.starting = (async () => {
      const env = await this.opts.environment();
      const launched = await this.opts.launcher.launch(env);
      this.track(launched, this.now());
      this.opts.logger.info(`member started (pid ${launched.pid})`);
    })();
    try {
      await this.starting;
    } finally {
      this.starting = undefined;
    }
  }

  private track(launched: Launched, startedAt: number): void {
    this.current = launched;
    this.startedAt = startedAt;
    void launched.ended.then((how) => {
      if (this.current !== launched) return;
      this.current = undefined;
      this.lastExit = how;
      if (!this.wanted) {
        this.opts.logger.info(`member (pid ${launched.pid}) stopped: ${how}`);
        void this.opts.launcher.forget();
        return;
      }
      const ranMs = this.now() - startedAt;
      this.consecutiveFailures = ranMs >= stableRunMs ? 1 : this.consecutiveFailures + 1;
      const delay = Math.min(maxBackoffMs, minBackoffMs * 2 ** (this.consecutiveFailures - 1));
      this.opts.logger.warn(`member (pid ${launched.pid}) ended on its own: ${how}; restarting in ${delay} ms`);
      this.scheduleRestart(delay);
    });
  }

  private scheduleRestart(delayMs: number): void {
    this.cancelRestart();
    this.restartAt = this.now() + delayMs;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.wanted) return;
      this.restarts += 1;
      this.launch().catch((err: unknown) => {
        this.lastExit = `could not start: ${(err as Error).message}`;
        this.opts.logger.error(`member could not be started: ${(err as Error).message}`);
        this.consecutiveFailures += 1;
        this.scheduleRestart(Math.min(maxBackoffMs, minBackoffMs * 2 ** (this.consecutiveFailures - 1)));
      });
    }, delayMs);
  }

  private cancelRestart(): void {
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
  }
}
