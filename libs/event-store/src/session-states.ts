import type { RecordedEvent } from '@parley/contracts';
import { foldSession, initialSessionState, type SessionState, type Versioned } from '@parley/conversation';
import { EventStore } from './event-store';
import { SessionProjectionRepository } from './session-projection.repository';

/**
 * A process's recent session folds. Each is a fold of its stream's log up to its version, which
 * stays true whoever writes what afterwards, so a load reads only the events past it: one query
 * instead of the row and then the tail. Bounded in entries and in age: a fold holds the session's
 * text in memory (like the process's cached keys, it can outlive an erasure elsewhere by that
 * long; nothing can be written with it, as appends to an erased stream are refused).
 *
 * A process that sees a session's events as they are committed (from the bus, or its own appends)
 * can `advance` a fold with them: versions are dense, so a fold advanced only by the next version
 * each time is still exactly the log up to its version, and a load `upTo` a version it covers
 * needs no query at all. An event past a gap marks the fold as behind: the next load reads.
 */
export class SessionStates {
  private readonly folds = new Map<string, { folded: Versioned<SessionState>; at: number; behind: boolean }>();

  constructor(
    private readonly store: EventStore,
    private readonly projections: SessionProjectionRepository,
    private readonly limits: { maxEntries: number; maxAgeMs: number } = { maxEntries: 1_000, maxAgeMs: 60_000 },
  ) {}

  /**
   * The session's current state and the events read past the fold it started from (the turn being
   * handled is usually among them). `keep: false` leaves the cache as it was: a caller that must
   * first make the fold durable (the projector) remembers it afterwards.
   */
  async load(
    streamId: string,
    options: { keep?: boolean; upTo?: number } = {},
  ): Promise<{ folded: Versioned<SessionState>; tail: RecordedEvent[] }> {
    const cached = this.cached(streamId);
    // the caller knows the log up to `upTo`, the fold covers it, and no later event is known of
    if (cached && options.upTo !== undefined && cached.version >= options.upTo && !this.folds.get(streamId)!.behind)
      return { folded: cached, tail: [] };
    const base = cached ?? (await this.projections.load(streamId)) ?? { state: initialSessionState(), version: 0 };
    const tail = await this.store.readStream(streamId, { after: base.version });
    const folded = tail.length ? foldSession(tail, base) : base;
    if (options.keep !== false) this.remember(streamId, folded);
    return { folded, tail };
  }

  /** Forgets the folds of erased streams: they hold the sessions' text. */
  forget(streamIds: readonly string[]): void {
    for (const id of streamIds) this.folds.delete(id);
  }

  /** The cached fold, if there is a fresh one. */
  cached(streamId: string): Versioned<SessionState> | null {
    const hit = this.folds.get(streamId);
    if (!hit) return null;
    if (Date.now() - hit.at < this.limits.maxAgeMs) return hit.folded;
    this.folds.delete(streamId);
    return null;
  }

  remember(streamId: string, folded: Versioned<SessionState>): void {
    const known = this.folds.get(streamId);
    if (known && known.folded.version > folded.version) return; // never go back
    this.folds.delete(streamId); // re-inserted last: the map's order is least recently used first
    if (this.folds.size >= this.limits.maxEntries) this.folds.delete(this.folds.keys().next().value as string);
    this.folds.set(streamId, { folded, at: Date.now(), behind: false });
  }

  /**
   * Folds a committed event of the stream into the kept fold when it is the next version; one
   * further on marks the fold as behind (the events between are unknown here). True when the
   * fold now covers the event.
   */
  advance(event: RecordedEvent): boolean {
    const hit = this.folds.get(event.streamId);
    if (!hit || this.cached(event.streamId) === null) return false;
    if (event.version <= hit.folded.version) return true;
    if (event.version > hit.folded.version + 1) {
      hit.behind = true;
      return false;
    }
    let folded: Versioned<SessionState>;
    try {
      folded = foldSession([event], hit.folded);
    } catch {
      this.folds.delete(event.streamId); // a fold that cannot take the event: the next load reads the log
      return false;
    }
    const behind = hit.behind;
    this.remember(event.streamId, folded);
    this.folds.get(event.streamId)!.behind = behind;
    return true;
  }
}
