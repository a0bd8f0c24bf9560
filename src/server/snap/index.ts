/** etcd's .snap files. See snapshotter.ts for the format and the rules. */
export { Snapshotter, decodeSnapFile, encodeSnapFile, parseSnapName, snapName } from './snapshotter.js';
export type { SnapFileInfo, SnapshotterOptions } from './snapshotter.js';
export { SnapCrcMismatchError, SnapDecodeError, SnapEmptyError } from './errors.js';
