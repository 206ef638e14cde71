import { trace } from '@opentelemetry/api';
import { Injectable } from '@nestjs/common';
import type { NewEvent } from '@parley/contracts';
import { routeMessage, routingTexts, type RouteDecision } from '@parley/conversation';
import type { FaqMatch } from '@parley/knowledge';
import { TenantMatchers } from '@parley/runtime';
import type { TenantContext } from '../auth/auth.guard';

const tracer = trace.getTracer('parley.ingress');

/** A turn's routing as ingress decides it, and the knowledge-base match it found. */
export interface IngressRoute {
  decision: RouteDecision;
  match: FaqMatch | null;
}

/**
 * The routing of a turn, decided in ingress with the router's pure policy and the same trained
 * matcher, when it needs no session state: any turn without a session, and in a session any turn
 * but an `auto` one of a hybrid tenant that the knowledge base could answer (whether an FAQ answer
 * did not help or a case is open is in the session, which the router reads). Null when the router
 * decides — also while the tenant's matcher is still training.
 */
@Injectable()
export class IngressRouting {
  constructor(private readonly matchers: TenantMatchers) {}

  async decide(
    { tenantId, settings }: TenantContext,
    inSession: boolean,
    message: NewEvent<'UserMessageReceived'>,
  ): Promise<IngressRoute | null> {
    const trained = this.matchers.ready(tenantId);
    if (trained === undefined) return null;
    const matcher = await this.matchers.prepared(trained, routingTexts(message.data));
    return tracer.startActiveSpan('route', (span) => {
      const routing = routeMessage({
        message: message.data,
        inSession,
        policy: settings.routingPolicy,
        threshold: settings.faqThreshold,
        matcher,
      });
      span.setAttributes(
        routing.kind === 'routed'
          ? {
              'parley.route.mode': routing.decision.mode,
              'parley.route.answer': routing.decision.route,
              'parley.route.reason': routing.decision.reason,
            }
          : { 'parley.route.deferred': 'needs-history' },
      );
      span.end();
      return routing.kind === 'routed' ? { decision: routing.decision, match: routing.match as FaqMatch | null } : null;
    });
  }
}
