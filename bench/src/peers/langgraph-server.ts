/**
 * The LangGraph.js peer: a one-node chat graph with the Postgres checkpointer, one thread per
 * session, behind a minimal `node:http` endpoint (`POST /threads/{id}/turns {text}` → `{reply}`)
 * so the load generator pays the same HTTP cost as against Parley. `POST /threads/{id}/turns/stream`
 * streams the reply as Server-Sent Events, as Parley does: the node streams from the model and
 * writes each piece through LangGraph's own `custom` stream mode. The node sends the scripted
 * LLM the same window of recent messages Parley's context budget would keep verbatim.
 * Run as its own process: DATABASE_URL, LLM_URL, PORT, BUDGET_TOKENS.
 */
import { createServer } from 'node:http';
import { AIMessage, HumanMessage, type BaseMessage } from '@langchain/core/messages';
import { END, MessagesAnnotation, START, StateGraph, type LangGraphRunnableConfig } from '@langchain/langgraph';
import { PostgresSaver } from '@langchain/langgraph-checkpoint-postgres';
import { countTokens } from 'gpt-tokenizer/encoding/o200k_base';
import OpenAI from 'openai';

const SYSTEM_PROMPT = 'You are a helpful, concise assistant.';
const { DATABASE_URL, LLM_URL, PORT = '0', BUDGET_TOKENS = '6000' } = process.env;

/** The most recent messages within half the budget (what Parley keeps verbatim besides its summary). */
function recentWindow(messages: BaseMessage[], budget: number): BaseMessage[] {
  let used = 0;
  let start = messages.length;
  while (start > 0) {
    const cost = 4 + countTokens(String(messages[start - 1].content));
    if (used + cost > budget / 2 && start < messages.length) break;
    used += cost;
    start--;
  }
  return messages.slice(start);
}

async function main(): Promise<void> {
  const llm = new OpenAI({ baseURL: LLM_URL, apiKey: 'bench', maxRetries: 0 });
  const checkpointer = PostgresSaver.fromConnString(DATABASE_URL!);
  await checkpointer.setup();
  const graph = new StateGraph(MessagesAnnotation)
    .addNode('chat', async (state, config: LangGraphRunnableConfig) => {
      const window = recentWindow(state.messages, Number(BUDGET_TOKENS));
      const messages = [
        { role: 'system' as const, content: SYSTEM_PROMPT },
        ...window.map((m) => ({ role: m.getType() === 'human' ? ('user' as const) : ('assistant' as const), content: String(m.content) })),
      ];
      if (config.configurable?.stream) {
        let text = '';
        for await (const chunk of await llm.chat.completions.create({ model: 'bench', messages, stream: true })) {
          const piece = chunk.choices[0]?.delta?.content;
          if (piece) {
            text += piece;
            config.writer?.(piece);
          }
        }
        return { messages: [new AIMessage(text)] };
      }
      const completion = await llm.chat.completions.create({ model: 'bench', messages });
      return { messages: [new AIMessage(completion.choices[0].message.content ?? '')] };
    })
    .addEdge(START, 'chat')
    .addEdge('chat', END)
    .compile({ checkpointer });

  const server = createServer((req, res) => {
    const match = /^\/threads\/([\w-]+)\/turns(\/stream)?$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !match) {
      res.writeHead(404).end();
      return;
    }
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const { text } = JSON.parse(body) as { text: string };
      if (match[2]) {
        (async () => {
          const pieces = await graph.stream(
            { messages: [new HumanMessage(text)] },
            { configurable: { thread_id: match[1], stream: true }, streamMode: 'custom' },
          );
          res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
          for await (const piece of pieces) res.write(`event: delta\ndata: ${JSON.stringify({ text: piece })}\n\n`);
          res.end('event: done\ndata: {}\n\n');
        })().catch((error: unknown) => {
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: String(error) }));
        });
        return;
      }
      graph
        .invoke({ messages: [new HumanMessage(text)] }, { configurable: { thread_id: match[1] } })
        .then((state) => {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ reply: String(state.messages.at(-1)!.content) }));
        })
        .catch((error: unknown) => {
          res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: String(error) }));
        });
    });
  });
  server.listen(Number(PORT), '127.0.0.1', () => {
    const address = server.address() as { port: number };
    process.stdout.write(`listening ${address.port}\n`);
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
