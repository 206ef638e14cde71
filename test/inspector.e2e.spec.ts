/**
 * The inspector page in a real browser — Debian's chromium driven by playwright-core — against the
 * services as processes: it lists the tenant's sessions, opens one made through the API and shows
 * its timeline as the log holds it (messages, routes with reason, intent and confidence, the
 * context the LLM was given and whether it matches, memory writes, tokens and timings), follows
 * new turns live, shows the session at an earlier version, and treats conversation text as text.
 * Screenshots are kept in test-artifacts/inspector/.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { repoRoot, runCli, smallKnowledgeBase, startTestCluster, waitFor, type ChatRequest, type TestCluster } from '@parley/testing';

jest.setTimeout(120_000);

const CHROMIUM = process.env.PARLEY_CHROMIUM ?? '/usr/bin/chromium';
/** `.ci/run` sets this: there the browser test must run, not be skipped. */
const REQUIRED = process.env.PARLEY_BROWSER_TESTS === 'required';
const ARTIFACTS = join(repoRoot(), 'test-artifacts', 'inspector');
const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser && !REQUIRED) {
  console.warn(`inspector browser test skipped: no chromium at ${CHROMIUM} (apt-get install chromium, or set PARLEY_CHROMIUM)`);
}
const describeWithBrowser = haveBrowser || REQUIRED ? describe : describe.skip;

/** A model that remembers seat preferences it is told about, and otherwise answers plainly. */
function scriptedModel(request: ChatRequest) {
  const last = request.messages.at(-1)!;
  if (last.role === 'tool') return { text: 'Noted, a window seat it is.' };
  const said = String(last.content ?? '');
  const seat = /prefer an? (\w+) seat/.exec(said)?.[1];
  if (seat && request.tools) return { toolCalls: [{ name: 'remember', arguments: { name: 'seat_preference', value: `${seat} seat` } }] };
  return { text: `answer to: ${said}` };
}

describeWithBrowser('the inspector page', () => {
  let t: TestCluster;
  let browser: Browser;
  let page: Page;
  let sessionId: string;

  const turn = async (text: string, mode = 'auto') => {
    const res = await t.post(`/v1/sessions/${sessionId}/turns`, { text, mode });
    expect(res.status).toBe(200);
    return res.body as { route: { mode: string; reason: string; intent?: string } };
  };
  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  const texts = (testId: string) => page.getByTestId(testId).allTextContents();

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const kb = smallKnowledgeBase(tmpdir());
    t = await startTestCluster({
      label: 'inspector',
      script: scriptedModel,
      beforeStart: async (db) => {
        const env = { DATABASE_URL: db.url };
        expect((await runCli(['migrate'], env)).code).toBe(0);
        expect((await runCli(['kb', 'import', kb.questions, '--answers', kb.answers], env)).code).toBe(0);
      },
      readyTimeoutMs: 150_000,
    });
    sessionId = (await t.post('/v1/sessions', { userId: 'inspected-traveller' })).body.sessionId;
    expect((await turn('How old do I need to be to open an account?')).route).toMatchObject({
      mode: 'stateless',
      reason: 'faq-confident',
      intent: 'age_limit',
    });
    await turn('I prefer a window seat on my flight to Lisbon', 'stateful');
    await turn('Can you book it for Friday?', 'stateful');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.stop();
  });

  it('asks for a key, and says so when the key is wrong', async () => {
    await page.goto(`${t.baseUrl}/inspect`);
    await page.getByLabel('API key').fill('pk_not_a_key');
    await page.getByRole('button', { name: 'Connect' }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toContain('AUTH.INVALID_KEY');
    await shot('01-wrong-key');
  });

  it("lists the tenant's sessions and opens one: messages, routes, contexts, memory, tokens and timings", async () => {
    await page.getByLabel('API key').fill(t.apiKey);
    await page.getByRole('button', { name: 'Connect' }).click();
    const row = page.locator(`tr[data-session="${sessionId}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain('inspected-traveller');
    await row.click();
    await page.getByTestId('assistant-text').nth(2).waitFor();

    expect(await texts('user-text')).toEqual([
      'How old do I need to be to open an account?',
      'I prefer a window seat on my flight to Lisbon',
      'Can you book it for Friday?',
    ]);
    const replies = await texts('assistant-text');
    expect(replies[0]).toContain('18'); // the knowledge base's answer
    expect(replies.slice(1)).toEqual(['Noted, a window seat it is.', 'answer to: Can you book it for Friday?']);

    const routes = await texts('route');
    expect(routes[0]).toMatch(/stateless\s*faq\s*faq-confident intent age_limit confidence (0\.\d+|1)$/);
    expect(routes[1]).toMatch(/stateful\s*llm\s*client-forced-stateful/);
    // each LLM turn's context, rebuilt from the log, is the one the LLM was given
    expect(await texts('context-check')).toEqual(['✓ the same the LLM was given', '✓ the same the LLM was given']);
    expect(await texts('remembered')).toEqual(['remembered seat_preference = window seat']);
    const timings = await texts('timings');
    expect(timings[1]).toMatch(/tokens \d+ in → \d+ out · LLM \d+ ms · turn \d+ ms from message to outcome/);
    expect(await page.getByTestId('usage').textContent()).toContain('1 from the knowledge base, 0 stateless, 2 stateful');

    // the last context holds the remembered fact and the transcript in order
    const contexts = page.getByTestId('context');
    await contexts.last().locator('summary').click();
    const lines = await contexts.last().locator('li').allTextContents();
    expect(lines[0]).toMatch(/^system/);
    expect(lines.join('\n')).toContain('window seat');
    expect(lines.at(-1)).toBe('userCan you book it for Friday?');
    await shot('02-session');
  });

  it('follows the session live: a turn made through the API appears without a reload', async () => {
    await turn('And a vegetarian meal, please', 'stateful');
    await page.getByTestId('assistant-text').nth(3).waitFor({ timeout: 15_000 });
    expect((await texts('user-text')).at(-1)).toBe('And a vegetarian meal, please');
    expect(await page.locator('#live-status').textContent()).toBe('live');
    await shot('03-live');
  });

  it('shows the session as it stood at an earlier version', async () => {
    await page.getByLabel('At version').fill('3');
    await page.getByRole('button', { name: 'Show' }).click();
    await waitFor(async () => (await page.locator('#timeline > li').count()) === 3, { what: 'the timeline at v3' });
    expect(await page.locator('#session-summary').textContent()).toContain('v3 of');
    expect(await page.locator('#live').isChecked()).toBe(false);
    await shot('04-at-version');
  });

  it('shows hostile conversation text as text, never as markup', async () => {
    const hostile = '<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script>';
    await turn(hostile, 'stateful');
    await page.locator('#live').check();
    await page.getByTestId('user-text').getByText(hostile, { exact: true }).waitFor({ timeout: 15_000 });
    expect(await page.locator('#timeline img').count()).toBe(0);
    expect(await page.title()).toBe('Parley inspector');
    await shot('05-hostile-text');
  });

  it('answers the API behind the key only, an unknown session as not found, and bad queries as 400', async () => {
    const noKey = await fetch(`${t.baseUrl}/v1/inspect/sessions`);
    expect(noKey.status).toBe(401);
    const missing = await t.get(`/v1/inspect/sessions/3f0c9f8e-4a7b-4a8e-9a55-2f5c1b1d7e01`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('SESSION.NOT_FOUND');
    expect((await t.get(`/v1/inspect/sessions/${sessionId}?at=999`)).body.error.code).toBe('SESSION.VERSION_OUT_OF_RANGE');
    expect((await t.get(`/v1/inspect/sessions/not-a-uuid`)).status).toBe(400);
    expect((await t.get(`/v1/inspect/sessions?limit=0`)).status).toBe(400);
    const byUser = await t.get(`/v1/inspect/sessions?userId=inspected-traveller`);
    expect(byUser.body.sessions).toEqual([expect.objectContaining({ sessionId, userId: 'inspected-traveller', turns: 5, status: 'live' })]);
    expect((await t.get(`/v1/inspect/sessions?userId=nobody`)).body.sessions).toEqual([]);
  });

  it('reads what `parley replay --json` prints: one implementation for both', async () => {
    const cli = await runCli(['replay', sessionId, '--json'], { DATABASE_URL: t.db.url });
    expect(cli.code).toBe(0);
    const page = await t.get(`/v1/inspect/sessions/${sessionId}`);
    expect(page.body).toEqual(JSON.parse(cli.stdout));
    const atThree = await runCli(['replay', sessionId, '--json', '--at', '3'], { DATABASE_URL: t.db.url });
    expect((await t.get(`/v1/inspect/sessions/${sessionId}?at=3`)).body).toEqual(JSON.parse(atThree.stdout));
  });
});
