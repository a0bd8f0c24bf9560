/**
 * Watches in the node: the Feature that feeds committed changes to the watchable store, and owns it for
 * the Watch gRPC service.
 *
 * afterCommit runs once per write txn after its apply batch is durable and in the same synchronous step as
 * the apply, so a watcher that the catch-up loop has just moved to synced cannot miss a revision. A
 * rolled-back batch never reaches afterCommit, so watchers never see changes that did not happen.
 *
 * Progress notifications come every 10 minutes as in etcd; the interval can be shortened (tests, or
 * operators who want etcd's --experimental-watch-progress-notify-interval) with
 * KVCTL_WATCH_PROGRESS_NOTIFY_INTERVAL, a Go duration (minimum 100ms, as etcd clamps it).
 */
import type { Event } from '../../proto/gen/mvccpb/kv.js';
import { WatchableStore, type WatchTimers } from '../mvcc/watchable.js';
import { ConfigError, parseDurationMs } from './config.js';
import type { Feature, FeatureContext } from './feature.js';

export {
  AUTO_WATCH_ID,
  CANCEL_REASONS,
  INVALID_WATCH_ID,
  type WatchCreate,
  type WatchOut,
  type WatchSink,
  type WatchStream,
} from '../mvcc/watchable.js';

/** The variable that overrides the progress notify interval. */
export const PROGRESS_INTERVAL_ENV = 'KVCTL_WATCH_PROGRESS_NOTIFY_INTERVAL';

export interface WatchFeatureOptions {
  readonly progressNotifyIntervalMs?: number;
  readonly timers?: WatchTimers;
  /** Where to read the interval override (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

export class WatchFeature implements Feature {
  readonly name = 'watch';
  readonly store: WatchableStore;

  constructor(ctx: FeatureContext, opts: WatchFeatureOptions = {}) {
    const fromEnv = (opts.env ?? process.env)[PROGRESS_INTERVAL_ENV];
    let interval = opts.progressNotifyIntervalMs;
    if (interval === undefined && fromEnv !== undefined && fromEnv !== '') {
      const ms = parseDurationMs(fromEnv.trim());
      if (ms === undefined || ms <= 0) throw new ConfigError(`${PROGRESS_INTERVAL_ENV}: "${fromEnv}" is not a positive duration (e.g. 500ms, 10m)`);
      interval = ms;
    }
    this.store = new WatchableStore(ctx.kv, {
      logger: ctx.logger,
      timers: opts.timers,
      progressNotifyIntervalMs: interval,
      maxResponseBytes: ctx.config.maxRequestBytes,
      whenReadable: () => ctx.backend.whenWritable(),
    });
  }

  afterCommit(events: readonly Event[], rev: number): void {
    this.store.notify(events, rev);
  }

  onRestore(): void {
    this.store.restore();
  }

  close(): void {
    this.store.close();
  }
}
