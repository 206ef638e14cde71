import { newDataKey, openData, sealData } from './personal-data';

const key = newDataKey();
const data = { turnId: 't1', text: 'my card number is 4242', requestedMode: 'auto' };

describe('sealing personal fields', () => {
  it('seals only the personal fields, and opens them back with the key', () => {
    const sealed = sealData('UserMessageReceived', data, 'session-a', key) as Record<string, string>;
    expect(sealed.turnId).toBe('t1');
    expect(sealed.requestedMode).toBe('auto');
    expect(sealed.text).toMatch(/^enc:v1:/);
    expect(JSON.stringify(sealed)).not.toContain('4242');
    expect(openData('UserMessageReceived', sealed, 'session-a', { kind: 'key', key })).toEqual({ data, erased: false });
  });

  it('never seals with the same IV twice, across refills of the IV pool', () => {
    const ivs = new Set<string>();
    for (let i = 0; i < 1_000; i++) {
      // about three pools' worth of IVs
      const sealed = sealData('UserMessageReceived', data, 'session-a', key) as Record<string, string>;
      ivs.add(Buffer.from(sealed.text.slice('enc:v1:'.length), 'base64').subarray(0, 12).toString('hex'));
      expect(openData('UserMessageReceived', sealed, 'session-a', { kind: 'key', key }).data).toEqual(data);
    }
    expect(ivs.size).toBe(1_000);
  });

  it('seals objects too (session metadata)', () => {
    const metadata = { phone: '+44 20 7946 0000' };
    const sealed = sealData('SessionStarted', { sessionId: 's', userId: 'u', metadata }, 'session-a', key) as { metadata: unknown };
    expect(typeof sealed.metadata).toBe('string');
    expect(openData('SessionStarted', sealed, 'session-a', { kind: 'key', key }).data).toMatchObject({ metadata });
  });

  it('shows placeholders once the key is destroyed', () => {
    const sealed = sealData('AssistantReplied', { turnId: 't1', text: 'noted: 4242' }, 'session-a', key);
    expect(openData('AssistantReplied', sealed, 'session-a', { kind: 'erased' })).toEqual({
      data: { turnId: 't1', text: '[erased]' },
      erased: true,
    });
  });

  it('leaves data of streams without a key as it is', () => {
    expect(sealData('UserMessageReceived', data, 'turn-x', null)).toBe(data);
    expect(openData('UserMessageReceived', data, 'turn-x', { kind: 'none' })).toEqual({ data, erased: false });
  });

  it('refuses a ciphertext moved to another stream, or tampered with', () => {
    const sealed = sealData('UserMessageReceived', data, 'session-a', key) as Record<string, string>;
    expect(() => openData('UserMessageReceived', sealed, 'session-b', { kind: 'key', key })).toThrow();
    const flipped = sealed.text.slice(0, -4) + (sealed.text.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect(() => openData('UserMessageReceived', { ...sealed, text: flipped }, 'session-a', { kind: 'key', key })).toThrow();
    expect(() => openData('UserMessageReceived', sealed, 'session-a', { kind: 'key', key: newDataKey() })).toThrow();
  });
});
