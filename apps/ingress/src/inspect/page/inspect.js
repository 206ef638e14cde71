// The inspector page: the tenant's sessions, and one session's timeline as `parley replay` reads it
// from the log (GET /v1/inspect/...), followed live over Server-Sent Events. Conversation text is
// untrusted: it is only ever set as text, never as HTML.
'use strict';

const $ = (id) => document.getElementById(id);
const KEY = 'parley.inspector.key';
let following = null; // AbortController of the live stream being read

/** An element with attributes and children (strings become text nodes). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') el.className = value;
    else if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat())
    if (child !== null && child !== undefined && child !== false) el.append(child instanceof Node ? child : String(child));
  return el;
}

function showError(message) {
  const box = $('error');
  box.textContent = message;
  box.hidden = !message;
}

async function api(path, init = {}) {
  const key = sessionStorage.getItem(KEY);
  const res = await fetch(path, { ...init, headers: { authorization: `Bearer ${key}`, ...(init.headers || {}) } });
  if (!res.ok) {
    const body = await res.json().catch(() => null);
    const error = new Error(body?.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${res.status}`);
    error.status = res.status;
    throw error;
  }
  return res;
}

// ---------------------------------------------------------------- sessions

async function loadSessions() {
  const params = new URLSearchParams({ limit: '100' });
  const user = $('filter-user').value.trim();
  if (user) params.set('userId', user);
  const since = Number($('filter-since').value);
  if (since) params.set('since', new Date(Date.now() - since * 1000).toISOString());
  try {
    const { sessions } = await (await api(`/v1/inspect/sessions?${params}`)).json();
    $('tenant-status').textContent = 'connected';
    showError('');
    const body = $('sessions').tBodies[0];
    body.replaceChildren(
      ...sessions.map((s) =>
        h(
          'tr',
          {
            'data-session': s.sessionId,
            class: location.hash === `#${s.sessionId}` ? 'selected' : '',
            onclick: () => (location.hash = s.sessionId),
          },
          h('td', { class: 'mono' }, s.sessionId.slice(0, 8)),
          h('td', {}, s.userId ?? '–'),
          h('td', { class: 'num' }, s.turns),
          h('td', { class: 'dim' }, new Date(s.lastActivityAt).toLocaleString()),
          h('td', { class: `status-${s.status}` }, s.status),
        ),
      ),
    );
    $('sessions').hidden = sessions.length === 0;
    $('sessions-message').textContent =
      sessions.length === 0 ? 'No sessions match.' : `${sessions.length} sessions, most recently active first.`;
  } catch (error) {
    $('tenant-status').textContent = '';
    $('sessions').hidden = true;
    $('sessions-message').textContent = '';
    showError(error.message);
  }
}

// ---------------------------------------------------------------- one session

function openSession() {
  following?.abort();
  following = null;
  const sessionId = location.hash.slice(1);
  for (const row of document.querySelectorAll('#sessions tr[data-session]'))
    row.classList.toggle('selected', row.dataset.session === sessionId);
  $('session-pane').hidden = !sessionId;
  if (!sessionId || !sessionStorage.getItem(KEY)) return;
  $('session-title').textContent = `Session ${sessionId}`;
  const at = $('at').value;
  if ($('live').checked && !at) void follow(sessionId);
  else void showAt(sessionId, at);
}

async function showAt(sessionId, at) {
  $('live-status').textContent = '';
  try {
    const replay = await (
      await api(`/v1/inspect/sessions/${encodeURIComponent(sessionId)}${at ? `?at=${encodeURIComponent(at)}` : ''}`)
    ).json();
    render(replay);
    showError('');
  } catch (error) {
    showError(error.message);
  }
}

/** Reads the live stream (fetch, so the key goes in a header): a `replay` event per change of the log. */
async function follow(sessionId) {
  const controller = new AbortController();
  following = controller;
  $('live-status').textContent = 'connecting…';
  try {
    const res = await api(`/v1/inspect/sessions/${encodeURIComponent(sessionId)}/live`, {
      headers: { accept: 'text/event-stream' },
      signal: controller.signal,
    });
    $('live-status').textContent = 'live';
    showError('');
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = block
          .split('\n')
          .filter((line) => line.startsWith('data: '))
          .map((line) => line.slice(6))
          .join('\n');
        if (event === 'replay') render(JSON.parse(data));
        if (event === 'error') showError(JSON.parse(data).error.message);
      }
    }
    if (following === controller) $('live-status').textContent = 'stream ended';
  } catch (error) {
    if (controller.signal.aborted) return;
    $('live-status').textContent = '';
    showError(error.message);
  }
}

const time = (iso) => iso.slice(11, 23);
const short = (id) => id.slice(0, 8);

function badge(text, kind) {
  return h('span', { class: `badge ${kind || ''}` }, text);
}

/** One turn's details, shown under its outcome: route, context (checked), memory, tokens, timings. */
function turnDetails(turn) {
  const parts = [];
  if (turn.route) {
    const f = turn.route.features || {};
    parts.push(
      h(
        'div',
        { class: 'route', 'data-testid': 'route' },
        badge(turn.route.mode, turn.route.mode),
        badge(turn.route.route, turn.route.route),
        h('span', { class: 'reason' }, turn.route.reason),
        f.intent ? h('span', { class: 'dim' }, ` intent ${f.intent}`) : null,
        typeof f.confidence === 'number' ? h('span', { class: 'dim' }, ` confidence ${f.confidence}`) : null,
      ),
    );
  }
  if (turn.context) {
    const check =
      turn.context.matchesRecorded === null
        ? h('span', { class: 'dim' }, 'no fingerprint recorded to check against')
        : turn.context.matchesRecorded
          ? h('span', { class: 'ok', 'data-testid': 'context-check' }, '✓ the same the LLM was given')
          : h('span', { class: 'bad', 'data-testid': 'context-check' }, '✗ differs from what the LLM was given');
    parts.push(
      h(
        'details',
        { class: 'context', 'data-testid': 'context' },
        h('summary', {}, `context: ${turn.context.messages.length} messages, ${turn.context.tokens} tokens `, check),
        h(
          'ol',
          {},
          turn.context.messages.map((m) =>
            h(
              'li',
              { class: `msg ${m.role}` },
              h('span', { class: 'role' }, m.role),
              h('span', { class: 'text' }, m.content ?? JSON.stringify(m.toolCalls ?? [])),
            ),
          ),
        ),
      ),
    );
  } else if (turn.route?.route === 'faq') {
    parts.push(h('div', { class: 'dim' }, 'answered from the knowledge base: no LLM call, no context'));
  }
  if (turn.generation) {
    const asked = Object.entries(turn.generation).map(
      ([name, value]) => `${name} ${name === 'responseFormat' ? value.type : JSON.stringify(value)}`,
    );
    parts.push(h('div', { class: 'dim', 'data-testid': 'generation' }, `asked of the model: ${asked.join(', ')}`));
  }
  for (const fact of turn.remembered || [])
    parts.push(h('div', { class: 'memory', 'data-testid': 'remembered' }, 'remembered ', h('b', {}, fact.name), ' = ', fact.value));
  const numbers = [];
  if (turn.usage) numbers.push(`tokens ${turn.usage.promptTokens} in → ${turn.usage.completionTokens} out`);
  if (turn.timings.llmMs !== null) numbers.push(`LLM ${turn.timings.llmMs} ms`);
  if (turn.timings.turnMs !== null) numbers.push(`turn ${turn.timings.turnMs} ms from message to outcome`);
  if (numbers.length) parts.push(h('div', { class: 'dim', 'data-testid': 'timings' }, numbers.join(' · ')));
  return h('div', { class: 'turn-details', 'data-turn': turn.number }, parts);
}

function describe(event, turnsById) {
  const d = event.data;
  const erased = event.erased ? h('span', { class: 'bad' }, '[personal data erased] ') : null;
  switch (event.type) {
    case 'SessionStarted':
      return ['session started · ', erased, `user ${d.userId ?? '–'}`];
    case 'UserMessageReceived':
      return [h('span', { class: 'who user' }, 'user'), erased, h('span', { class: 'text', 'data-testid': 'user-text' }, d.text)];
    case 'TurnRouted':
      return [`turn ${short(d.turnId)} routed → ${d.mode} via ${d.route} (${d.reason})`];
    case 'AssistantReplied': {
      const turn = turnsById.get(d.turnId);
      return [
        h('span', { class: 'who assistant' }, 'assistant'),
        erased,
        h('span', { class: 'text', 'data-testid': 'assistant-text' }, d.text),
        d.interrupted ? h('span', { class: 'bad' }, ` [interrupted: ${d.interrupted}]`) : null,
        h('span', { class: 'dim' }, ` (${d.model})`),
        turn ? turnDetails(turn) : null,
      ];
    }
    case 'TurnFailed': {
      const turn = turnsById.get(d.turnId);
      return [h('span', { class: 'bad' }, `turn failed: ${d.code}`), ` ${d.message}`, turn ? turnDetails(turn) : null];
    }
    case 'ConversationSummarized':
      return [
        h('span', { class: 'who summary' }, 'summary'),
        erased,
        `messages up to v${d.throughVersion} (${d.summarizedMessages} in all): `,
        h('span', { class: 'text' }, d.summary),
      ];
    case 'ReplyInterrupted':
      return [
        h('span', { class: 'bad' }, 'barge-in'),
        ` the user spoke over the reply after hearing: `,
        h('span', { class: 'text' }, d.spokenText),
      ];
    case 'SessionExpired':
      return [`expired after ${d.idleSeconds} s without a turn`];
    case 'ResponseDeleted':
      return [`turn ${short(d.turnId)}: its stored response was deleted (the turn stays in the conversation)`];
    case 'ConversationItemsAdded':
      return [
        `${d.items.length} item(s) joined the conversation without a turn: `,
        erased,
        ...d.items.map((m) => h('span', { class: 'text' }, `${m.role}: ${m.content ?? JSON.stringify(m.toolCalls ?? [])} `)),
      ];
    case 'ConversationItemDeleted':
      return [`item ${d.itemId} left the conversation`];
    case 'SessionMetadataUpdated':
      return ['metadata updated · ', erased, JSON.stringify(d.metadata)];
    case 'ConversationDeleted':
      return [h('span', { class: 'bad' }, 'conversation deleted'), ' (its turns stay in the log)'];
    case 'SessionForked':
      return [`forked from session ${short(d.fromSessionId)} at v${d.atVersion}: ${d.messages.length} messages`];
    default:
      return [event.type];
  }
}

/** The timeline (the log in order, each outcome with its turn's details) and the folded state. */
function render(replay) {
  const turnsById = new Map(replay.turns.map((t) => [t.turnId, t]));
  $('session-summary').textContent =
    `${replay.turns.length} turns · v${replay.version}${replay.version < replay.latestVersion ? ` of ${replay.latestVersion}` : ''} · ${replay.latestVersion} events`;
  $('timeline').replaceChildren(
    ...replay.events.map((event) =>
      h(
        'li',
        { class: `event ${event.type}`, 'data-type': event.type, 'data-version': event.version },
        h('span', { class: 'meta' }, `v${event.version}`, h('br'), time(event.recordedAt)),
        h('div', { class: 'body' }, describe(event, turnsById)),
      ),
    ),
  );
  const s = replay.state;
  const u = s.usage;
  const usage = u
    ? `answered: ${u.faq.turns} from the knowledge base, ${u.stateless.turns} stateless, ${u.stateful.turns} stateful · LLM tokens ${
        u.stateless.promptTokens + u.stateful.promptTokens
      } in → ${u.stateless.completionTokens + u.stateful.completionTokens} out`
    : '';
  $('state').replaceChildren(
    h('div', {}, `status ${s.status}`, s.userId ? ` · user ${s.userId}` : '', s.expiredAt ? ` · expired ${s.expiredAt}` : ''),
    usage ? h('div', { 'data-testid': 'usage' }, usage) : '',
    s.summary
      ? h('div', { class: 'summary' }, `summary of ${s.summary.messages} earlier messages: `, h('span', { class: 'text' }, s.summary.text))
      : '',
    h('div', { class: 'dim' }, `${(s.messages || []).length} messages kept in the state, ${s.turnCount ?? 0} turns in all`),
  );
}

// ---------------------------------------------------------------- wiring

document.addEventListener('DOMContentLoaded', () => {
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY, $('api-key').value.trim());
    void loadSessions().then(openSession);
  });
  $('filters').addEventListener('submit', (e) => {
    e.preventDefault();
    void loadSessions();
  });
  $('at-form').addEventListener('submit', (e) => {
    e.preventDefault();
    if ($('at').value) $('live').checked = false;
    openSession();
  });
  $('live').addEventListener('change', () => {
    if ($('live').checked) $('at').value = '';
    openSession();
  });
  window.addEventListener('hashchange', openSession);
  if (sessionStorage.getItem(KEY)) {
    $('api-key').value = sessionStorage.getItem(KEY);
    void loadSessions().then(openSession);
  }
});
