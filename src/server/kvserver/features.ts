/**
 * The node's features, installed in this order (the order in which they see each apply). Each feature
 * module adds one line here.
 */
import { AlarmFeature } from './alarm-feature.js';
import { AuthFeature } from './auth-feature.js';
import { Compactor } from './compactor.js';
import { parseRetention } from './config.js';
import type { Feature, FeatureContext } from './feature.js';
import { LeaseFeature } from './lease-feature.js';
import { WatchFeature } from './watch-feature.js';

export function installFeatures(ctx: FeatureContext): Feature[] {
  const features: Feature[] = [];
  features.push(new AlarmFeature(ctx));
  features.push(
    new Compactor({
      mode: ctx.config.autoCompactionMode,
      retention: parseRetention(ctx.config.autoCompactionMode, ctx.config.autoCompactionRetention),
      logger: ctx.logger,
      currentRevision: () => ctx.kv.currentRevision,
      compactedRevision: () => ctx.kv.compactRevision,
      compact: async (rev) => {
        const result = await ctx.propose({ compaction: { revision: BigInt(rev), physical: false } });
        if (result.error) throw result.error;
      },
      now: () => Date.now(),
      every: (ms, fn) => {
        const t = setInterval(fn, ms);
        return () => clearInterval(t);
      },
    }),
  );
  const lease = new LeaseFeature(ctx);
  const auth = new AuthFeature(ctx);
  // A put that attaches a lease and a lease revoke need write permission on every key of the lease; the
  // node's own revokes of expired leases act as root.
  auth.leaseKeys = (id) => lease.lessor.keys(id);
  lease.internalAuth = () => (auth.store.enabled ? auth.internalAuth() : undefined);
  features.push(lease);
  features.push(auth);
  features.push(new WatchFeature(ctx));
  return features;
}
