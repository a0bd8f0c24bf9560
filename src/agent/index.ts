/** The agent (the daemon on every host) and the CLI's side of it: the only entry the CLI imports. */
export { AgentDaemon, type AgentOptions } from './daemon.js';
export { agentToken, tokenFile, writeTokenFile } from './state.js';
export { type LauncherFactory, defaultDockerSocket, dockerLauncherFactory, probeDocker } from './docker.js';
export { AgentConnection, type AgentStatus, type ClientTlsFiles, type HelloResponse, defaultAgentPort, parseAgentAddress } from './client.js';
export { AgentAuthError, AgentInputError, AgentStateError, AgentUnavailableError, PlanError, StepError } from './errors.js';
export { kvctlCommand, kvctlVersion } from './install.js';
export { newToken } from './trust.js';
export { renderTemplate } from './render.js';
export { type BootstrapOptions, type BootstrapResult, bootstrapCluster, dryRunToken, localClusterDir, renderPlan, waitHealthy } from './bootstrap.js';
export { type ClusterContext, type ContextAgent, contextPkiDir, currentContextName, kvctlHome, loadContext, loadContextSync, removeContext, saveContext } from './context.js';
export { type ClusterPkiFiles, adminTls, clusterPkiFiles, connectAgent, ensureClusterPki, memberTls } from './fleet.js';
export { removeLocalAgent, startLocalAgents, startNextLocalAgent, stopLocalAgents } from './local.js';
export { type BootstrapMode, type ClusterPlan, type MemberPlan, type MemberStart, agentAddress, checkPlan, clientUrl, defaultPorts, initialCluster, localMembers, memberSpec, parseMemberArg, peerUrl, planWarnings } from './plan.js';
export { type DownResult, type MemberStatusRow, clientOf, clusterDown, clusterStatus, clusterUp, contextAgents } from './operate.js';
export { type AddMemberOptions, type AddMemberResult, type RemoveMemberResult, addMemberThroughAgent, removeMemberThroughAgent } from './membership.js';
export { type UpdateMemberOptions, type UpdateMemberResult, updateMemberThroughAgent } from './move.js';
export { type ClusterRestoreOptions, type ClusterRestoreResult, type RestoredMemberRow, RestoreNotConfirmed, type SnapshotInfo, describeSnapshot, restoreCluster } from './restore.js';
