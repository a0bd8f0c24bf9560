// A cluster of the real etcd under faults (kill -9, partitions through the suite's fault proxies, a full crash),
// checked for lost writes, catch-up and linearizability, and a member added at runtime. The same suites run
// against `kvctl node` once it is a cluster member: clusterFaultSuite('kvctl'), clusterMembershipSuite('kvctl').
import { clusterFaultSuite, clusterMembershipSuite } from '../support/cluster-fault-suite.js';

clusterFaultSuite('etcd');
clusterMembershipSuite('etcd');
