import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { KnowledgeBaseEntry } from '@parley/contracts';
import { KnowledgeBaseRepository, type Db } from '@parley/event-store';
import { describeError } from '@parley/messaging';
import { deserializeMatcher, FaqMatcher, matcherFormat, serializeMatcher, type FaqMatcherData } from '@parley/knowledge';
import type { KnowledgeMatcher } from '@parley/conversation';
import { EncoderThread } from './encoder-thread';

/**
 * Each tenant's FAQ matcher, trained from its latest knowledge base version: all of them at
 * startup (the router is ready once they are; ingress, which only uses a matcher it already has,
 * trains them in the background), and again when a newer version appears (checked at most every
 * `refreshMs`). Training runs in a worker thread, so routing goes on meanwhile — with the previous
 * version's matcher until the new one is ready.
 *
 * With `kind` `encoder` (`PARLEY_MATCHER`), the matchers also take a sentence encoder's
 * embeddings, which it makes in a thread of its own: of every training text, and of each question
 * (`prepared`). Such matchers are stored under a format of their own.
 */
@Injectable()
export class TenantMatchers implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('TenantMatchers');
  private readonly matchers = new Map<string, FaqMatcher | null>();
  private readonly checkedAt = new Map<string, number>();
  private readonly training = new Map<string, Promise<FaqMatcher | null>>();
  private discovery: NodeJS.Timeout | undefined;
  private encoder: EncoderThread | null = null;

  constructor(
    private readonly db: Db,
    private readonly refreshMs: number,
    private readonly startup: 'wait' | 'background' = 'wait',
    private readonly kind: 'tfidf' | 'encoder' = 'tfidf',
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // not installed: the service does not start, saying how to install it
    if (this.kind === 'encoder') this.encoder = await EncoderThread.start();
    const all = new KnowledgeBaseRepository(this.db)
      .tenants()
      .then((tenants) => Promise.all(tenants.map((tenantId) => this.refresh(tenantId))));
    if (this.startup === 'wait') await all;
    else all.catch((error: unknown) => this.log.error(`training at startup: ${describeError(error)}`));
    // a tenant whose first knowledge base appears later (a new tenant, an import beside the start)
    // is trained as soon as it is seen, not when its first turn comes and would have to wait
    this.discovery = setInterval(() => void this.discover(), this.refreshMs);
    this.discovery.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.discovery);
    await this.encoder?.close();
  }

  /** The matcher ready to answer `best` for these texts (with their embeddings made, if it takes them). */
  async prepared(matcher: FaqMatcher | null, texts: readonly string[]): Promise<KnowledgeMatcher | null> {
    return matcher && matcher.prepared(texts, this.encoder);
  }

  private async discover(): Promise<void> {
    try {
      for (const tenantId of await new KnowledgeBaseRepository(this.db).tenants()) {
        if (!this.matchers.get(tenantId) && !this.training.has(tenantId)) {
          this.refresh(tenantId).catch((error: unknown) => this.log.error(`tenant ${tenantId}: ${describeError(error)}`));
        }
      }
    } catch {
      // the database is away for a moment: the next look will do
    }
  }

  /**
   * The tenant's matcher if one is trained already (null: the tenant has no knowledge base);
   * undefined while the first one trains — also when it appeared after the tenant was known to
   * have none — which this starts if need be. Never waits.
   */
  ready(tenantId: string): FaqMatcher | null | undefined {
    if (!this.matchers.has(tenantId)) {
      this.refresh(tenantId).catch((error: unknown) => this.log.error(`tenant ${tenantId}: ${describeError(error)}`));
      return undefined;
    }
    const known = this.forTenantKnown(tenantId);
    return known === null && this.training.has(tenantId) ? undefined : known;
  }

  /** Tenants whose very first matcher is training: their turns wait for it (a health problem to report). */
  trainingFirst(): string[] {
    return [...this.training.keys()].filter((tenantId) => !this.matchers.get(tenantId));
  }

  /** The tenant's matcher (null without a knowledge base). Only a tenant's very first one is waited for. */
  async forTenant(tenantId: string): Promise<FaqMatcher | null> {
    if (this.matchers.has(tenantId)) {
      const known = this.forTenantKnown(tenantId);
      // known to have none, and its first knowledge base is training now: that is waited for too
      const first = known === null ? this.training.get(tenantId) : undefined;
      return first ?? known;
    }
    return this.training.get(tenantId) ?? this.refresh(tenantId);
  }

  /** The matcher of a tenant seen before, looking for a newer version now and then. */
  private forTenantKnown(tenantId: string): FaqMatcher | null {
    if (Date.now() - (this.checkedAt.get(tenantId) ?? 0) >= this.refreshMs && !this.training.has(tenantId)) {
      void this.refresh(tenantId).catch((error: unknown) => this.log.error(`tenant ${tenantId}: ${describeError(error)}`));
    }
    return this.matchers.get(tenantId)!;
  }

  /** Looks for a newer version and trains it (one training per tenant at a time). */
  private refresh(tenantId: string): Promise<FaqMatcher | null> {
    const running = this.training.get(tenantId);
    if (running) return running;
    this.checkedAt.set(tenantId, Date.now());
    const done = this.latest(tenantId).finally(() => this.training.delete(tenantId));
    this.training.set(tenantId, done);
    return done;
  }

  private async latest(tenantId: string): Promise<FaqMatcher | null> {
    const repository = new KnowledgeBaseRepository(this.db);
    const current = this.matchers.get(tenantId) ?? null;
    const [latest] = await repository.versions(tenantId);
    if (!latest) {
      this.matchers.set(tenantId, null);
      return null;
    }
    if (current?.kbVersion === latest.version) return current;
    const started = performance.now();
    // one process trains a version; another starting beside it (an ingress, a replica) waits for it
    return repository.whileTraining(tenantId, latest.version, async () => {
      // trained before, by this process or another (a router restarting, an ingress): ready at once
      const format = matcherFormat(this.encoder?.name);
      const stored = await repository.model(tenantId, latest.version, format);
      if (stored) {
        try {
          const matcher = FaqMatcher.fromData(deserializeMatcher(stored));
          this.log.log(
            `tenant ${tenantId}: knowledge base v${latest.version} loaded, trained before, in ${Math.round(performance.now() - started)} ms`,
          );
          this.matchers.set(tenantId, matcher);
          return matcher;
        } catch (error) {
          this.log.warn(`tenant ${tenantId}: stored model of v${latest.version} unreadable, training again: ${describeError(error)}`);
        }
      }
      const kb = await repository.get(tenantId, latest.version);
      if (!kb) return current;
      const embedded = this.encoder && {
        encoder: this.encoder.name,
        embeddings: await FaqMatcher.embedTrainingTexts(kb.entries, this.encoder),
      };
      const matcher = await trainInWorker(kb.version, kb.entries, embedded);
      this.log.log(
        `tenant ${tenantId}: knowledge base v${kb.version} (${kb.entries.length} entries) trained in ${Math.round(performance.now() - started)} ms`,
      );
      this.matchers.set(tenantId, matcher);
      await repository
        .saveModel(tenantId, kb.version, format, serializeMatcher(matcher.toData()))
        .catch((error: unknown) =>
          this.log.warn(`tenant ${tenantId}: the trained model was not stored (the next start trains again): ${describeError(error)}`),
        );
      return matcher;
    });
  }
}

function trainInWorker(
  kbVersion: number,
  entries: KnowledgeBaseEntry[],
  embedded: { encoder: string; embeddings: Float32Array[] } | null,
): Promise<FaqMatcher> {
  return new Promise((resolve, reject) => {
    // a small young generation: collected more often, it keeps the process's peak resident memory
    // about 35 MB lower while training (measured on the Demo Bank), at no cost in time
    const worker = new Worker(join(__dirname, 'matcher-training.worker.js'), {
      workerData: { kbVersion, entries, embedded: embedded ?? undefined },
      resourceLimits: { maxYoungGenerationSizeMb: 4 },
    });
    worker.once('message', (data: FaqMatcherData) => {
      resolve(FaqMatcher.fromData(data));
      void worker.terminate();
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`The training worker exited with code ${code}`));
    });
  });
}
