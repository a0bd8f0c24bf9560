/**
 * The node's features, installed in this order (the order in which they see each apply). Each feature
 * module adds one line here.
 */
import type { Feature, FeatureContext } from './feature.js';

export function installFeatures(ctx: FeatureContext): Feature[] {
  const features: Feature[] = [];
  void ctx;
  return features;
}
