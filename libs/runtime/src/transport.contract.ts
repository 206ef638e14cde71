import { randomUUID } from 'node:crypto';
import { Controller, Module, type INestMicroservice } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { eventSubject, toRecordedEvent, type EventAudience, type RecordedEvent, type StoredEvent } from '@parley/contracts';
import {
  ANY_EVENT,
  JetStreamContext,
  JetStreamTransport,
  missingServices,
  NotYet,
  RethrowRpcErrors,
  sendTurnReply,
  serviceConsumer,
  TurnReplies,
  type EventBus,
} from '@parley/messaging';
import { waitFor } from '@parley/testing';

/**
 * The delivery contract every bus keeps (docs/event-log.md, "The bus's contract"), as one suite:
 * `jetstream.contract.int.spec.ts` runs it against NATS JetStream and
 * `in-process.contract.int.spec.ts` against the embedded mode's in-process bus. Test code only
 * (not built into dist).
 */
export interface BusHarness {
  /** A bus on `prefix` as another process of the same deployment has it: a new NATS connection, or the same in-process bus. */
  connect(prefix: string): Promise<{ bus: EventBus; close(): Promise<void> }>;
  /** Publishes raw text on a subject of the events stream: a message no Parley publisher would write. */
  publishRaw(bus: EventBus, subject: string, payload: string): Promise<void>;
  /** A prefix of the test's own. */
  prefix(label: string): string;
  /** Removes what a prefix left behind (its streams; its in-process bus). */
  cleanup(prefix: string): Promise<void>;
}

export function busContract(name: string, harness: BusHarness): void {
  const prefix = harness.prefix('msg');
  /** These tests publish open events (no sealed fields): opening is validating. */
  const openPlain = async (stored: StoredEvent) => toRecordedEvent(stored);
  let version = 0;
  const event = (streamId: string, text: string): RecordedEvent => ({
    eventId: randomUUID(),
    type: 'UserMessageReceived',
    data: { turnId: randomUUID(), text, requestedMode: 'auto' },
    metadata: { tenantId: 'default' },
    streamId,
    version: ++version,
    globalPosition: String(version),
    recordedAt: new Date().toISOString(),
    schemaVersion: 1,
  });

  /** What the handlers saw, shared with the test. */
  const seen: { text: string; delivery: number }[] = [];
  const others: string[] = [];
  /** Text → how many more attempts should fail. */
  const failures = new Map<string, number>();
  /** Events the transport gave up on (told before dead-lettering them). */
  const gaveUp: string[] = [];

  @Controller()
  class ProbeHandlers {
    @EventPattern('UserMessageReceived')
    async received(@Payload() e: RecordedEvent<'UserMessageReceived'>, @Ctx() ctx: JetStreamContext) {
      const left = failures.get(e.data.text) ?? 0;
      if (left > 0) {
        failures.set(e.data.text, left - 1);
        throw new Error('simulated handler failure');
      }
      seen.push({ text: e.data.text, delivery: ctx.deliveryCount });
    }

    @EventPattern(ANY_EVENT)
    async any(@Payload() e: RecordedEvent) {
      others.push(e.type);
    }
  }

  @Module({ controllers: [ProbeHandlers] })
  class ProbeModule {}

  describe(`the bus's contract: ${name}`, () => {
    let bus: EventBus;
    let connection: { bus: EventBus; close(): Promise<void> };
    let app: INestMicroservice | undefined;

    const start = async (audience?: EventAudience) => {
      app = await NestFactory.createMicroservice(ProbeModule, {
        strategy: new JetStreamTransport({
          bus,
          prefix,
          maxDeliveries: 2,
          open: openPlain,
          service: 'probe',
          instanceId: 'probe-1',
          consumers: [serviceConsumer(prefix, { name: 'probe', deliverFrom: 'all', ackWaitMs: 30_000, audience })],
          giveUp: async (e) => void gaveUp.push(e.eventId),
        }),
        logger: process.env.DEBUG_TEST ? ['log', 'warn', 'error'] : false,
      });
      app.useGlobalFilters(new RethrowRpcErrors());
      await app.listen();
    };

    beforeAll(async () => {
      connection = await harness.connect(prefix);
      bus = connection.bus;
    });
    afterEach(async () => {
      await app?.close();
      app = undefined;
    });
    afterAll(async () => {
      await connection.close();
      await harness.cleanup(prefix);
    });

    it('delivers published events to a durable consumer, including those published while it was down', async () => {
      await start();
      const publisher = bus;
      await publisher.publish([event('session-a', 'one'), event('session-a', 'two')]);
      await waitFor(() => seen.length >= 2, { what: 'first two events' });
      await app!.close();
      app = undefined;
      await publisher.publish([event('session-a', 'three')]);
      await start();
      await waitFor(() => seen.length >= 3, { what: 'event published while down' });
      expect(seen.map((s) => s.text)).toEqual(['one', 'two', 'three']);
    });

    it('retries a failed handler in place, keeping the stream in order', async () => {
      seen.length = 0;
      failures.set('flaky', 1);
      await start();
      const publisher = bus;
      await publisher.publish([event('session-b', 'flaky'), event('session-b', 'after')]);
      await waitFor(() => seen.length >= 2, { what: 'retry', timeoutMs: 10_000 });
      expect(seen).toEqual([
        { text: 'flaky', delivery: 1 },
        { text: 'after', delivery: 1 },
      ]);
      expect(failures.get('flaky')).toBe(0);
    });

    it('has the server redeliver a message whose handler keeps failing', async () => {
      seen.length = 0;
      failures.set('stubborn', 3); // more than the in-place retries
      await start();
      await bus.publish([event('session-e', 'stubborn')]);
      await waitFor(() => seen.length >= 1, { what: 'server redelivery', timeoutMs: 15_000 });
      expect(seen).toEqual([{ text: 'stubborn', delivery: 2 }]);
    });

    it('drops a duplicate publish of the same event id inside the duplicate window', async () => {
      seen.length = 0;
      await start();
      const publisher = bus;
      const e = event('session-c', 'dup');
      await publisher.publish([e]);
      await publisher.publish([e]);
      await publisher.publish([event('session-c', 'marker')]);
      await waitFor(() => seen.some((s) => s.text === 'marker'), { what: 'marker' });
      expect(seen.filter((s) => s.text === 'dup')).toHaveLength(1);
    });

    it('dead-letters a message whose handler keeps failing, with the reason, and keeps going', async () => {
      seen.length = 0;
      failures.set('poison', 1_000);
      await start();
      const poison = event('session-f', 'poison');
      await bus.publish([poison, event('session-f', 'healthy')]);
      await waitFor(() => seen.some((s) => s.text === 'healthy'), { what: 'the next message', timeoutMs: 20_000 });
      const letter = await waitFor(
        async () => (await bus.listDeadLetters()).find((l) => JSON.parse(l.payload).eventId === poison.eventId),
        {
          what: 'the dead letter',
          timeoutMs: 20_000,
        },
      );
      expect(gaveUp).toContain(poison.eventId); // told first, so the service can record that it gave up
      expect(letter).toMatchObject({
        service: 'probe',
        deliveries: 2,
        reason: expect.stringContaining('kept failing: Error: simulated handler failure'),
        subject: expect.stringContaining('.session-f.UserMessageReceived'),
      });

      // fixed: a retry re-drives it and removes it from the dead letters
      failures.set('poison', 0);
      await bus.retryDeadLetter(letter!);
      await waitFor(() => seen.some((s) => s.text === 'poison'), { what: 'retried message' });
      expect((await bus.listDeadLetters()).map((l) => l.seq)).not.toContain(letter!.seq);
    });

    it("re-drives a letter dead-lettered under the subject layout before audiences on today's subject", async () => {
      seen.length = 0;
      await start('route'); // a filter the old five-token subject does not match
      const old = event('session-g', 'from before audiences');
      const oldSubject = eventSubject(prefix, old).replace(/\.route$/, '');
      await bus.deadLetter({
        service: 'probe',
        consumer: 'probe-p0',
        subject: oldSubject,
        reason: 'kept failing',
        deliveries: 2,
        failedAt: new Date().toISOString(),
        payload: JSON.stringify(old),
      });
      const letter = (await bus.listDeadLetters()).find((l) => l.subject === oldSubject);
      await bus.retryDeadLetter(letter!);
      await waitFor(() => seen.some((s) => s.text === 'from before audiences'), { what: 'the re-driven event' });
    });

    it('routes other event types to the catch-all handler and dead-letters a malformed message', async () => {
      await start();
      const routed = {
        ...event('session-d', 'x'),
        type: 'TurnRouted',
        data: { turnId: 't', mode: 'stateful', route: 'llm', reason: 'r', features: {} },
        schemaVersion: 2,
      } as RecordedEvent;
      await harness.publishRaw(bus, eventSubject(prefix, routed), 'not json at all');
      const invalid = { ...routed, eventId: randomUUID(), data: { turnId: 't' } };
      await harness.publishRaw(bus, eventSubject(prefix, routed), JSON.stringify(invalid));
      await bus.publish([routed]);
      await waitFor(() => others.includes('TurnRouted'), { what: 'catch-all handler' });
      const letters = await bus.listDeadLetters();
      expect(letters.find((l) => l.payload === 'not json at all')).toMatchObject({
        reason: expect.stringMatching(/^unreadable message: /),
        deliveries: 1,
      });
      expect(letters.find((l) => l.payload === JSON.stringify(invalid))).toMatchObject({
        reason: expect.stringMatching(/^unreadable TurnRouted: /),
        deliveries: 1,
      });
    });

    it('delivers to a consumer for one audience only the events for it: the server filters them on the subject', async () => {
      await start('route');
      const before = { seen: seen.length, others: others.length };
      const turnFor = (streamId: string, route: 'llm' | 'faq') =>
        ({
          ...event(streamId, 'x'),
          type: 'TurnRouted',
          data: { turnId: 't', mode: 'stateless', route, reason: 'r', features: {} },
        }) as RecordedEvent;
      // never delivered, so never read: a malformed message for another audience is not dead-lettered
      await harness.publishRaw(bus, eventSubject(prefix, turnFor('turn-skipped', 'llm')), 'not json');
      const routed = event('session-kept', 'routed already');
      const publisher = bus;
      await publisher.publish([
        { ...routed, metadata: { ...routed.metadata, routed: true } }, // routed as it was recorded: nobody's to route
        turnFor('session-kept', 'llm'), // the responder's
        turnFor('session-kept', 'faq'), // nobody's
        {
          ...event('session-kept', 'y'),
          type: 'SessionExpired',
          data: { idleSeconds: 1, lastActivityAt: new Date().toISOString() },
        } as RecordedEvent, // the projector's
      ]);
      await publisher.publish([event('turn-wanted', 'sessionless'), event('session-kept', 'kept')]);
      await waitFor(() => seen.length >= before.seen + 2, { what: 'the events to route' });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(seen.slice(before.seen).map((s) => s.text)).toEqual(['sessionless', 'kept']);
      expect(others.length).toBe(before.others);
      expect((await bus.listDeadLetters()).filter((letter) => letter.subject.includes('turn-skipped'))).toEqual([]);
    });

    it('answers health requests while listening, and not after closing', async () => {
      await start();
      expect(await missingServices(bus.core, prefix, ['probe', 'nobody'], 300)).toEqual(['nobody']);
      await app!.close();
      app = undefined;
      expect(await missingServices(bus.core, prefix, ['probe'], 300)).toEqual(['probe']);
    });

    it('matches turn replies to the waiting request and times out otherwise', async () => {
      const replies = new TurnReplies(bus.core, prefix, 'ingress-test');
      const answered = replies.expect('turn-1', 2_000);
      const unanswered = replies.expect('turn-2', 100);
      sendTurnReply(bus.core, replies.subject, { ok: true, turnId: 'turn-1', text: 'hi', route: { mode: 'stateless', reason: 'r' } });
      expect(await answered.reply).toMatchObject({ ok: true, text: 'hi' });
      expect(await unanswered.reply).toBeNull();
      replies.close();
    });

    /** Replicas of a probe service on a prefix of their own, with `handle` as their one handler. */
    async function replicas(
      names: string[],
      handle: (replica: string, e: RecordedEvent) => Promise<void>,
      options: { concurrency?: number } = {},
    ) {
      const replicaPrefix = harness.prefix('rep');
      const started = await Promise.all(
        names.map(async (name) => {
          @Controller()
          class Handlers {
            @EventPattern(ANY_EVENT)
            async any(@Payload() e: RecordedEvent) {
              await handle(name, e);
            }
          }
          @Module({ controllers: [Handlers] })
          class ReplicaModule {}
          const connection = await harness.connect(replicaPrefix);
          const app = await NestFactory.createMicroservice(ReplicaModule, {
            strategy: new JetStreamTransport({
              bus: connection.bus,
              prefix: replicaPrefix,
              open: openPlain,
              service: `replica-${name}`,
              instanceId: name,
              concurrency: options.concurrency,
              consumers: [serviceConsumer(replicaPrefix, { name: 'work', deliverFrom: 'all', ackWaitMs: 30_000 })],
            }),
            logger: process.env.DEBUG_TEST ? ['log', 'warn', 'error'] : false,
          });
          app.useGlobalFilters(new RethrowRpcErrors());
          await app.listen();
          return { app, connection, bus: connection.bus };
        }),
      );
      return {
        prefix: replicaPrefix,
        bus: started[0].bus,
        async stop() {
          for (const { app, connection } of started) {
            await app.close();
            await connection.close();
          }
          await harness.cleanup(replicaPrefix);
        },
      };
    }

    const sessionEvents = (sessions: string[], versions: number) => {
      const events: RecordedEvent[] = [];
      for (let v = 1; v <= versions; v++) for (const s of sessions) events.push({ ...event(`session-${s}`, `${s}-${v}`), version: v });
      return events;
    };

    it('handles a session one message at a time, in order, and different sessions at once', async () => {
      const log: { stream: string; version: number; phase: 'start' | 'end' }[] = [];
      let running = 0;
      let most = 0;
      const cluster = await replicas(['a'], async (_, e) => {
        log.push({ stream: e.streamId, version: e.version, phase: 'start' });
        most = Math.max(most, ++running);
        await new Promise((r) => setTimeout(r, 20));
        running--;
        log.push({ stream: e.streamId, version: e.version, phase: 'end' });
      });
      try {
        const sessions = Array.from({ length: 12 }, (_, i) => `s${i}`);
        const events = sessionEvents(sessions, 4);
        await cluster.bus.publish(events);
        await waitFor(() => log.filter((l) => l.phase === 'end').length >= events.length, { what: 'all events', timeoutMs: 20_000 });
        for (const s of sessions) {
          const mine = log.filter((l) => l.stream === `session-${s}`);
          expect(mine.map((l) => `${l.phase}:${l.version}`)).toEqual(
            Array.from({ length: 4 }, (_, i) => [`start:${i + 1}`, `end:${i + 1}`]).flat(),
          );
        }
        // one slow message does not hold up another session's: they ran side by side
        expect(most).toBeGreaterThanOrEqual(sessions.length / 2);
      } finally {
        await cluster.stop();
      }
    });

    it('holds no more messages than its limit: the rest wait on the bus', async () => {
      let running = 0;
      let most = 0;
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const cluster = await replicas(
        ['a'],
        async () => {
          most = Math.max(most, ++running);
          await gate;
          running--;
        },
        { concurrency: 4 },
      );
      try {
        await cluster.bus.publish(Array.from({ length: 20 }, (_, i) => event(`session-limit-${i}`, `m${i}`)));
        const state = await waitFor(
          async () => {
            const consumer = await cluster.bus.consumerState('work');
            return running === 4 && consumer?.pending === 16 ? consumer : undefined;
          },
          { what: 'four messages taken, sixteen left on the bus' },
        );
        expect(state.ackPending).toBe(4);
        release();
        await waitFor(
          async () => {
            const consumer = await cluster.bus.consumerState('work');
            return consumer?.pending === 0 && consumer.ackPending === 0;
          },
          { what: 'everything handled' },
        );
        expect(most).toBe(4);
      } finally {
        release();
        await cluster.stop();
      }
    });

    it('keeps each session in order across two replicas when handlers wait for what the log lacks (NotYet)', async () => {
      // the "log": the last version handled of each session, and a signal when it moves
      const done = new Map<string, number>();
      const moved = new Set<() => void>();
      const log: { replica: string; stream: string; version: number }[] = [];
      // a small limit: each replica gets part of the work, and its places fill with messages that wait
      const cluster = await replicas(
        ['a', 'b'],
        async (replica, e) => {
          if ((done.get(e.streamId) ?? 0) < e.version - 1) {
            throw new NotYet(new Promise<void>((resolve) => moved.add(resolve)), `waits for ${e.streamId}@${e.version - 1}`);
          }
          await new Promise((r) => setTimeout(r, 2 + Math.random() * 6));
          log.push({ replica, stream: e.streamId, version: e.version });
          done.set(e.streamId, e.version);
          for (const wake of [...moved]) {
            moved.delete(wake);
            wake();
          }
        },
        { concurrency: 3 },
      );
      try {
        const sessions = ['s1', 's2', 's3', 's4', 's5', 's6'];
        // each session's versions published newest first: arrival order is the reverse of the session's
        const events = sessionEvents(sessions, 6).reverse();
        await cluster.bus.publish(events);
        await waitFor(() => log.length >= events.length, { what: 'all events', timeoutMs: 20_000 });
        for (const s of sessions) expect(log.filter((l) => l.stream === `session-${s}`).map((l) => l.version)).toEqual([1, 2, 3, 4, 5, 6]);
        expect(new Set(log.map((l) => l.replica))).toEqual(new Set(['a', 'b']));
      } finally {
        await cluster.stop();
      }
    });

    it("hands a message again when it is not acknowledged within ack_wait, or when it is nak'ed, counting deliveries", async () => {
      const own = harness.prefix('ack');
      const { bus: ackBus, close } = await harness.connect(own);
      try {
        await ackBus.ensureStreams();
        const consumer = await ackBus.consumer(serviceConsumer(own, { name: 'raw', deliverFrom: 'all', ackWaitMs: 500 }));
        await ackBus.publish([event('session-raw', 'taken and dropped')]);
        const take = async () => {
          const pulled = await consumer.fetch({ max_messages: 1, expires: 5_000 });
          for await (const msg of pulled) return msg;
          throw new Error('nothing delivered');
        };
        const first = await take(); // a replica that dies now never settles it
        expect(first.info).toMatchObject({ deliveryCount: 1, consumer: 'raw' });
        const second = await take(); // after ack_wait
        expect(second.info.deliveryCount).toBe(2);
        expect(second.json<StoredEvent>().streamId).toBe('session-raw');
        second.nak(100);
        const third = await take();
        expect(third.info.deliveryCount).toBe(3);
        third.ack();
        await waitFor(async () => (await ackBus.consumerState('raw'))?.ackPending === 0, { what: 'settled' });
        expect(await ackBus.consumerState('raw')).toMatchObject({ pending: 0, ackPending: 0 });
        const none = await consumer.fetch({ max_messages: 1, expires: 1_000 });
        for await (const msg of none) throw new Error(`delivered again after the ack: ${msg.subject}`);
      } finally {
        await close();
        await harness.cleanup(own);
      }
    });

    it('has no state for a consumer that does not exist', async () => {
      expect(await bus.consumerState('nobody-reads-here')).toBeNull();
    });
  });
}
