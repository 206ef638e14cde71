// What the tests share, by name.
export { createTestDatabase, TEST_POSTGRES_URL, type TestDatabase } from './test-database';
export { deleteTestStreams, TEST_NATS_URL, testNatsPrefix } from './test-nats';
export { waitFor } from './wait-for';
export { type ChatRequest, echoScript, type Script, ScriptedLlmServer, type ScriptedReply, seatMemoryScript } from './scripted-llm.server';
export { Cluster, CLUSTER_SERVICES, type ClusterService, entrypoint, readiness, repoRoot, startCluster } from './cluster';
export { freePort, runApp, runCli } from './processes';
export { startTestCluster, type TestCluster } from './test-cluster';
export { turnEvents } from './event-fixtures';
export { smallKnowledgeBase } from './small-knowledge-base';
export { OtlpReceiver } from './otlp-receiver';
export { TcpProxy } from './tcp-proxy';
export { NATS_SERVER_BIN, NatsCluster } from './nats-cluster';
