// Run by cluster.test.ts: starts a cluster, prints its pids and data directories, and waits to be killed, so
// that the test can check that the exit hook kills the members and removes the directories.
import { startCluster } from '../support/cluster.js';

const cluster = await startCluster({ kind: 'etcd', size: 3 });
process.stdout.write(`${JSON.stringify({ pids: cluster.members.map((m) => m.pid), dirs: cluster.members.map((m) => m.dataDir) })}\n`);
setInterval(() => {}, 60_000);
