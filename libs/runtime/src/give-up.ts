import { turnReplyOf, upcastEventData, type StoredEvent } from '@parley/contracts';
import { gaveUp } from '@parley/conversation';
import { sendTurnReply } from '@parley/messaging';
import { recordOnce } from './append-once';
import type { Connections } from './resources';

/**
 * What giving up on a turn's message means (the transport is about to dead-letter it): the turn is
 * recorded as failed (`TURN.UNANSWERED`) — so the session's later turns, which wait for every
 * earlier turn to have an outcome, go on — and its waiting client is told. Once: the failure's id
 * derives from the message, and the log holds one outcome per turn, so a turn answered meanwhile
 * keeps its answer. Other events need nothing.
 */
export async function giveUpOnTurn(resources: Pick<Connections, 'store' | 'bus'>, event: StoredEvent): Promise<void> {
  if (event.type !== 'TurnRouted' && event.type !== 'UserMessageReceived') return;
  const turnId = (event.data as { turnId?: unknown }).turnId;
  if (typeof turnId !== 'string') return; // nothing to say which turn it was
  const routedId = event.type === 'TurnRouted' ? event.eventId : undefined;
  const messageId = event.type === 'TurnRouted' ? (event.metadata.causationId ?? event.eventId) : event.eventId;
  let route = null;
  try {
    route = event.type === 'TurnRouted' ? upcastEventData('TurnRouted', event.schemaVersion, event.data) : null;
  } catch {
    // a routing that does not read: the reply says the turn was not routed
  }
  const failure = gaveUp({ eventId: messageId, turnId, metadata: event.metadata }, routedId);
  await recordOnce(resources.store, resources.bus, event.streamId, [failure], ([recorded]) => {
    if (event.metadata.replyTo && recorded.type === 'TurnFailed')
      sendTurnReply(resources.bus.core, event.metadata.replyTo, turnReplyOf(route, recorded));
  });
}
