/** Waiting for Postgres or NATS at start: retried while unreachable, within the time allowed, and only then. */
import { MessagingError, MessagingErrorCodes } from './errors';
import { withConnectWait } from './connect-wait';

const unreachable = () => new MessagingError(MessagingErrorCodes.Unavailable, 'Cannot reach NATS at nats://nats:4222: ECONNREFUSED');

describe('withConnectWait', () => {
  it('tries again while the server is unreachable, saying so once, until it answers', async () => {
    let attempts = 0;
    const notes: string[] = [];
    const result = await withConnectWait(
      10,
      async () => {
        if (++attempts < 3) throw unreachable();
        return 'connected';
      },
      (line) => notes.push(line),
    );
    expect(result).toBe('connected');
    expect(attempts).toBe(3);
    expect(notes).toEqual([
      'Cannot reach NATS at nats://nats:4222: ECONNREFUSED; trying again for up to 10 s (PARLEY_CONNECT_WAIT_SECONDS)',
    ]);
  });

  it('gives up with the last error when the time is up', async () => {
    let attempts = 0;
    const started = Date.now();
    await expect(
      withConnectWait(
        1,
        async () => {
          attempts++;
          throw unreachable();
        },
        () => undefined,
      ),
    ).rejects.toThrow('Cannot reach NATS');
    expect(attempts).toBeGreaterThan(1);
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  it('tries once with 0, and never retries what waiting cannot fix (a wrong password, a bad URL)', async () => {
    let attempts = 0;
    await expect(
      withConnectWait(
        0,
        async () => (attempts++, Promise.reject(unreachable())),
        () => undefined,
      ),
    ).rejects.toThrow('Cannot reach');
    expect(attempts).toBe(1);
    const denied = Object.assign(new Error('password authentication failed'), { code: '28P01' });
    await expect(
      withConnectWait(
        30,
        async () => (attempts++, Promise.reject(denied)),
        () => undefined,
      ),
    ).rejects.toBe(denied);
    expect(attempts).toBe(2);
  });
});
