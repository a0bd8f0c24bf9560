/**
 * The node's Prometheus metrics, under etcd's names for the ones operators alert on (has_leader,
 * proposals, WAL fsync and backend commit latency, db size), rendered in the Prometheus text format.
 */

type Labels = string;

class Counter {
  value = 0;
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(n = 1): void {
    this.value += n;
  }
  render(): string {
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n${this.name} ${this.value}\n`;
  }
}

class Gauge {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly read: () => number,
  ) {}
  render(): string {
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n${this.name} ${this.read()}\n`;
  }
}

/** A histogram of seconds with etcd's exponential buckets (0.001 s doubling, 14 buckets). */
export class Histogram {
  private readonly bounds: number[];
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(
    readonly name: string,
    readonly help: string,
  ) {
    this.bounds = Array.from({ length: 14 }, (_, i) => 0.001 * 2 ** i);
    this.counts = this.bounds.map(() => 0);
  }
  observe(seconds: number): void {
    this.sum += seconds;
    this.count += 1;
    for (let i = 0; i < this.bounds.length; i++) {
      if (seconds <= (this.bounds[i] ?? Infinity)) this.counts[i] = (this.counts[i] ?? 0) + 1;
    }
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.bounds.forEach((b, i) => lines.push(`${this.name}_bucket{le="${b}"} ${this.counts[i] ?? 0}`));
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.count}`, `${this.name}_sum ${this.sum}`, `${this.name}_count ${this.count}`);
    return `${lines.join('\n')}\n`;
  }
}

export interface MetricSources {
  hasLeader(): boolean;
  isLeader(): boolean;
  dbSize(): number;
  dbSizeInUse(): number;
  keysTotal(): number;
  pendingProposals(): number;
  term(): number;
  committedIndex(): number;
  appliedIndex(): number;
}

export class Metrics {
  readonly proposalsCommitted = new Counter('etcd_server_proposals_committed_total', 'The total number of consensus proposals committed.');
  readonly proposalsApplied = new Counter('etcd_server_proposals_applied_total', 'The total number of consensus proposals applied.');
  readonly proposalsFailed = new Counter('etcd_server_proposals_failed_total', 'The total number of failed proposals seen.');
  readonly leaderChanges = new Counter('etcd_server_leader_changes_seen_total', 'The number of leader changes seen.');
  readonly walFsync = new Histogram('etcd_disk_wal_fsync_duration_seconds', 'The latency distributions of fsync called by WAL.');
  readonly backendCommit = new Histogram(
    'etcd_disk_backend_commit_duration_seconds',
    'The latency distributions of commit called by backend.',
  );
  readonly snapshotSave = new Histogram(
    'etcd_debugging_snap_save_total_duration_seconds',
    'The total latency distributions of save called by snapshot.',
  );
  private readonly gauges: Gauge[];

  constructor(src: MetricSources) {
    const b = (f: () => boolean) => () => (f() ? 1 : 0);
    this.gauges = [
      new Gauge('etcd_server_has_leader', 'Whether or not a leader exists. 1 is existence, 0 is not.', b(src.hasLeader)),
      new Gauge('etcd_server_is_leader', 'Whether or not this member is a leader. 1 if is, 0 otherwise.', b(src.isLeader)),
      new Gauge('etcd_server_proposals_pending', 'The current number of pending proposals to commit.', src.pendingProposals),
      new Gauge('etcd_mvcc_db_total_size_in_bytes', 'Total size of the underlying database physically allocated in bytes.', src.dbSize),
      new Gauge(
        'etcd_mvcc_db_total_size_in_use_in_bytes',
        'Total size of the underlying database logically in use in bytes.',
        src.dbSizeInUse,
      ),
      new Gauge('etcd_debugging_mvcc_keys_total', 'Total number of keys.', src.keysTotal),
      new Gauge('etcd_server_term', 'Current raft term of this member.', src.term),
      new Gauge('etcd_debugging_server_committed_index', 'The current committed raft index.', src.committedIndex),
      new Gauge('etcd_server_applied_index', 'The current applied raft index.', src.appliedIndex),
    ];
  }

  render(extra: Labels = ''): string {
    const parts = [
      ...this.gauges.map((g) => g.render()),
      this.proposalsCommitted.render(),
      this.proposalsApplied.render(),
      this.proposalsFailed.render(),
      this.leaderChanges.render(),
      this.walFsync.render(),
      this.backendCommit.render(),
      this.snapshotSave.render(),
    ];
    return parts.join('') + extra;
  }
}
