import { randomUUID } from 'node:crypto';
import { getPostgreSQLEventStore } from '@event-driven-io/emmett-postgresql';
import { Pool } from 'pg';
import { sessionStreamId } from '@parley/contracts';
import { EventStore, type Database } from '@parley/event-store';
import { createTestDatabase } from '@parley/testing';
import { ratio, runLoad, runLoadsInTurns, x } from '../load';
import { ms } from '../measure';
import type { ScenarioResult } from '../report';

const STREAMS = 1_000;
const WORKERS = 8;
const PER_WORKER = 1_000; // 8,000 appends: 8 per stream
const ROUNDS = 4; // the two stores take turns, a quarter of their appends each time
const TEXT = 'I would like to book a table for two at eight tomorrow evening, please.';

/**
 * Scenario 4: appends of one event each, 8 in flight, across 1,000 streams, with optimistic
 * concurrency (the expected version) — Parley's event store (which also seals the message text
 * with the stream's key) against Emmett's `appendToStream`, each on its own database.
 */
export async function appends(database: Database): Promise<ScenarioResult[]> {
  const store = new EventStore(database.db);
  const ids = Array.from({ length: STREAMS }, () => randomUUID());
  const versions = new Array<number>(STREAMS).fill(0);
  for (const [i, id] of ids.entries()) {
    await store.append(
      sessionStreamId(id),
      'default',
      [
        {
          eventId: randomUUID(),
          type: 'SessionStarted',
          data: { sessionId: id, userId: null, metadata: {} },
          metadata: { tenantId: 'default' },
        },
      ],
      'no_stream',
      {
        newKey: { userId: null },
      },
    );
    versions[i] = 1;
  }
  // worker w owns streams w, w + 8, ...: one append per stream at a time, as a session's turns are
  const streamOf = (w: number, i: number) => w + WORKERS * (i % (STREAMS / WORKERS));
  const parleyAppend = async (w: number, i: number) => {
    const s = streamOf(w, i);
    await store.append(
      sessionStreamId(ids[s]),
      'default',
      [
        {
          eventId: randomUUID(),
          type: 'UserMessageReceived',
          data: { turnId: randomUUID(), text: TEXT, requestedMode: 'auto' },
          metadata: { tenantId: 'default' },
        },
      ],
      versions[s],
    );
    versions[s]++;
  };
  await runLoad(WORKERS, 100, parleyAppend);

  const emmettDb = await createTestDatabase('bench_emmett');
  // Emmett on a pool of ours, so its idle connections cannot crash the bench when the database goes
  const pool = new Pool({ connectionString: emmettDb.url, max: 10 });
  pool.on('error', () => undefined);
  const emmett = getPostgreSQLEventStore(emmettDb.url, { connectionOptions: { pool } });
  try {
    await emmett.schema.migrate();
    const eVersions = new Array<bigint>(STREAMS).fill(0n);
    for (let s = 0; s < STREAMS; s++) {
      const result = await emmett.appendToStream(`session-${ids[s]}`, [
        { type: 'SessionStarted', data: { sessionId: ids[s], userId: null, metadata: {} } },
      ]);
      eVersions[s] = result.nextExpectedStreamVersion;
    }
    const emmettAppend = async (w: number, i: number) => {
      const s = streamOf(w, i);
      const result = await emmett.appendToStream(
        `session-${ids[s]}`,
        [{ type: 'UserMessageReceived', data: { turnId: randomUUID(), text: TEXT, requestedMode: 'auto' } }],
        {
          expectedStreamVersion: eVersions[s],
        },
      );
      eVersions[s] = result.nextExpectedStreamVersion;
    };
    await runLoad(WORKERS, 100, emmettAppend);
    const { parley, emmett: other } = await runLoadsInTurns(ROUNDS, WORKERS, PER_WORKER, {
      parley: (w, i) => parleyAppend(w, i + 100),
      emmett: (w, i) => emmettAppend(w, i + 100),
    });
    const speedup = ratio(parley.perSecond, other.perSecond);
    return [
      {
        id: 'appends',
        title: '4. Event appends, one event each, 8 in flight, 1,000 streams',
        setup: `${WORKERS * 100} warm-up then ${WORKERS * PER_WORKER} measured appends with the expected stream version, ${WORKERS} in flight, each stream appended by one writer at a time, the two stores taking turns in ${ROUNDS} rounds; Parley seals the message text with the stream's key (AES-256-GCM) before it leaves the process.`,
        columns: ['store', 'appends/s', 'p50 ms', 'p99 ms', 'appends'],
        rows: [
          ['Parley EventStore', parley.perSecond.toFixed(0), ms(parley.latency.p50), ms(parley.latency.p99), parley.latency.n],
          ['Emmett (PostgreSQL)', other.perSecond.toFixed(0), ms(other.latency.p50), ms(other.latency.p99), other.latency.n],
        ],
        targets: [{ target: 'Parley ≥ 2× Emmett appends/s', actual: x(speedup), met: speedup >= 2 }],
        figures: { parley, emmett: other },
      },
    ];
  } finally {
    await emmett.close();
    await pool.end().catch(() => undefined);
    await emmettDb.drop();
  }
}
