/**
 * The gRPC services the node serves. Each service module adds its line here; a service not listed
 * answers UNIMPLEMENTED, as grpc-js does for unknown services.
 */
import type { Server as GrpcServer, ServiceDefinition } from '@grpc/grpc-js';

import type { Logger } from '../../base/logger.js';
import { ClusterService, KVService, MaintenanceService } from '../../proto/gen/etcdserverpb/rpc.js';
import type { V3Api } from '../kvserver/v3.js';
import { AuthService } from '../../proto/gen/etcdserverpb/rpc.js';
import { authService } from './auth.js';
import { kvService } from './kv.js';
import { learnerGuard } from './learner.js';
import { tolerant } from './malformed.js';
import { LeaseService } from '../../proto/gen/etcdserverpb/rpc.js';
import { leaseService } from './lease.js';
import { clusterService, maintenanceService } from './maintenance.js';
import { WatchService } from '../../proto/gen/etcdserverpb/rpc.js';
import { watchService } from './watch.js';

export function registerServices(grpc: GrpcServer, api: V3Api, logger: Logger): void {
  const guarded = <T extends object>(definition: ServiceDefinition, impl: T): T => learnerGuard(api, definition, impl, logger);
  grpc.addService(tolerant(KVService), guarded(KVService, kvService(api, logger)));
  grpc.addService(tolerant(AuthService), guarded(AuthService, authService(api, logger)));
  grpc.addService(tolerant(MaintenanceService), guarded(MaintenanceService, maintenanceService(api, logger)));
  grpc.addService(tolerant(ClusterService), guarded(ClusterService, clusterService(api, logger)));
  grpc.addService(tolerant(LeaseService), guarded(LeaseService, leaseService(api, logger)));
  grpc.addService(tolerant(WatchService), guarded(WatchService, watchService(api, logger)));
}
