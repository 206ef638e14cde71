// What the messaging library offers the rest of Parley, by name.
export { MessagingError } from './errors';
export { connectNats, type NatsConnection } from './nats-connection';
export { type ConsumerSpec, ensureConsumer, ensureEventsStream, serviceConsumer } from './topology';
export { EventPublisher, unpublishable } from './event-publisher';
export { type CoreBus, type EventBus } from './bus';
export { JetStreamBus } from './jetstream.bus';
export { InProcessBus } from './in-process.bus';
export {
  ANY_EVENT,
  type DeadLetterKind,
  JetStreamContext,
  JetStreamTransport,
  type MessageObserver,
  type MessageResult,
  NotYet,
} from './jetstream.transport';
export { StreamSignals } from './stream-signals';
export { announceErasure, announceTenantChange, ErasureNotices, TenantNotices } from './erasure-notices';
export { describeError, unavailableDependency } from './describe-error';
export { cancelSessionTurns, cancelTurn, RunningTurns, sendTurnReply, TurnDeltas, TurnReplies, watchStream } from './turn-replies';
export { askServices, missingServices } from './health';
export { ensureDeadLetterStream, listDeadLetters, publishDeadLetter, type StoredDeadLetter } from './dead-letters';
export { RethrowRpcErrors } from './rethrow-rpc-errors.filter';
export { withConnectWait } from './connect-wait';
