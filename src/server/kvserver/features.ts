/**
 * The node's features, installed in this order (the order in which they see each apply). Each feature
 * module adds one line here.
 */
import { AlarmFeature } from './alarm-feature.js';
import type { Feature, FeatureContext } from './feature.js';

export function installFeatures(ctx: FeatureContext): Feature[] {
  const features: Feature[] = [];
  features.push(new AlarmFeature(ctx));
  return features;
}
