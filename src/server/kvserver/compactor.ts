/**
 * Auto-compaction (etcd's --auto-compaction-mode / --auto-compaction-retention), run by the leader only.
 * - periodic: keeps `retention` of history. Every min(retention, 1h)/10 it samples the current revision;
 *   once per min(retention, 1h) it compacts to the revision sampled `retention` ago (etcd 3.4's rule).
 * - revision: every 5 minutes it compacts to current revision - retention.
 * It proposes CompactionRequests like any client would; a compaction that is refused because the
 * revision is already compacted is simply skipped. Time comes from the injected clock and timer.
 */
import type { Logger } from '../../base/logger.js';
import type { AutoCompactionMode } from './config.js';
import type { Feature } from './feature.js';

export interface CompactorDeps {
  readonly mode: AutoCompactionMode;
  /** Milliseconds (periodic) or revisions (revision); 0 disables auto-compaction. */
  readonly retention: number;
  readonly logger: Logger;
  currentRevision(): number;
  compactedRevision(): number;
  compact(rev: number): Promise<void>;
  now(): number;
  /** Starts a repeating timer; returns its stop function. */
  every(ms: number, fn: () => void): () => void;
}

const HOUR_MS = 3_600_000;
const REVISION_MODE_INTERVAL_MS = 5 * 60_000;

export class Compactor implements Feature {
  readonly name = 'compactor';
  private stopTimer: (() => void) | undefined;
  /** Revisions sampled every tick, oldest first (periodic mode). */
  private samples: number[] = [];
  private lastCompactAt = 0;
  private running = false;

  constructor(private readonly deps: CompactorDeps) {}

  get enabled(): boolean {
    return this.deps.retention > 0;
  }

  onLeaderChange(isLeader: boolean): void {
    if (isLeader) this.start();
    else this.stop();
  }

  close(): void {
    this.stop();
  }

  private start(): void {
    if (!this.enabled || this.stopTimer !== undefined) return;
    this.samples = [];
    this.lastCompactAt = this.deps.now();
    const d = this.deps;
    if (d.mode === 'periodic') {
      const interval = Math.min(d.retention, HOUR_MS);
      const tick = Math.max(1, Math.floor(interval / 10));
      const keep = Math.floor(d.retention / tick) + 1;
      this.samples.push(d.currentRevision());
      this.stopTimer = d.every(tick, () => {
        this.samples.push(d.currentRevision());
        if (this.samples.length > keep) this.samples.shift();
        if (this.samples.length < keep || d.now() - this.lastCompactAt < interval) return;
        this.lastCompactAt = d.now();
        this.compactTo(this.samples[0] ?? 0, `${d.retention} ms retention`);
      });
    } else {
      this.stopTimer = d.every(REVISION_MODE_INTERVAL_MS, () => {
        this.compactTo(d.currentRevision() - d.retention, `${d.retention} revisions retention`);
      });
    }
    d.logger.info(`compactor: auto-compaction started (${d.mode}, retention ${d.retention}${d.mode === 'periodic' ? ' ms' : ' revisions'})`);
  }

  private stop(): void {
    this.stopTimer?.();
    this.stopTimer = undefined;
  }

  private compactTo(rev: number, why: string): void {
    const d = this.deps;
    if (this.running || rev <= 0 || rev <= d.compactedRevision()) return;
    this.running = true;
    d.logger.info(`compactor: starting auto-compaction at revision ${rev} (${why})`);
    d.compact(rev).then(
      () => d.logger.info(`compactor: finished auto-compaction at revision ${rev}`),
      (err: unknown) => d.logger.warn(`compactor: auto-compaction at revision ${rev} failed: ${(err as Error).message}`),
    ).finally(() => {
      this.running = false;
    });
  }
}
