// The same fault and membership suites as cluster-faults.test.ts (real etcd), run against three
// `kvctl node` processes on 127.0.0.1/.2/.3: kill -9 of the leader under load, a partitioned follower
// catching up, a linearizability check under partitions, a full-cluster restart, a member added at runtime.
import { clusterFaultSuite, clusterMembershipSuite } from '../support/cluster-fault-suite.js';

clusterFaultSuite('kvctl');
clusterMembershipSuite('kvctl');
