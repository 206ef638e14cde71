import type { FastifyReply } from 'fastify';
import { ApiExceptionFilter, openAiErrorBody } from '../http/api-error';
import { SseResponse } from '../http/sse-response';
import type { TurnOptions, TurnResult } from '../turns/turn-result';
import { parleyHeaders } from './openai-shapes';
import { functionCallItem, messageItem, messageItemId, outputText, responseObject, type ResponseFacts } from './responses-shapes';

const errors = new ApiExceptionFilter();

/** The response as typed Server-Sent Events, each with its `sequence_number`. */
export async function streamResponse(
  reply: FastifyReply,
  run: (options: TurnOptions) => Promise<TurnResult>,
  facts: (result: TurnResult | null, turnId: string) => ResponseFacts,
): Promise<void> {
  const sse = new SseResponse(reply);
  let sequence = 0;
  const emit = (type: string, payload: object) => sse.send({ type, sequence_number: sequence++, ...payload }, type);
  let turn: string | null = null;
  let textOpen = false;
  let text = '';
  const start = (turnId: string, headers: Record<string, string> = {}) => {
    if (turn) return;
    turn = turnId;
    sse.open({ 'x-parley-turn-id': turnId, ...headers });
    const response = responseObject(facts(null, turnId));
    emit('response.created', { response });
    emit('response.in_progress', { response });
  };
  const where = (turnId: string) => ({ item_id: messageItemId(turnId), output_index: 0, content_index: 0 });
  const delta = (turnId: string, piece: string) => {
    if (!textOpen) {
      textOpen = true;
      emit('response.output_item.added', { output_index: 0, item: messageItem(turnId, '', 'in_progress') });
      emit('response.content_part.added', { ...where(turnId), part: outputText('') });
    }
    text += piece;
    emit('response.output_text.delta', { ...where(turnId), delta: piece, logprobs: [] });
  };
  try {
    const result = await run({
      stream: {
        onDelta: ({ turnId, delta: piece }) => {
          start(turnId);
          delta(turnId, piece);
        },
        signal: sse.left.signal,
      },
    });
    if (sse.left.signal.aborted) return sse.abandon();
    const { turnId } = result;
    start(turnId, parleyHeaders(result));
    const calls = result.toolCalls ?? [];
    if (!textOpen && (result.reply.text || !calls.length)) delta(turnId, result.reply.text); // a knowledge base answer comes whole
    if (textOpen) {
      emit('response.output_text.done', { ...where(turnId), text, logprobs: [] });
      emit('response.content_part.done', { ...where(turnId), part: outputText(text) });
      emit('response.output_item.done', { output_index: 0, item: messageItem(turnId, text, 'completed') });
    }
    calls.forEach((call, i) => {
      const outputIndex = i + (textOpen ? 1 : 0);
      const item = functionCallItem(call, 'completed');
      emit('response.output_item.added', { output_index: outputIndex, item: functionCallItem(call, 'in_progress') });
      emit('response.function_call_arguments.delta', { item_id: item.id, output_index: outputIndex, delta: call.arguments });
      emit('response.function_call_arguments.done', {
        item_id: item.id,
        output_index: outputIndex,
        name: call.name,
        arguments: call.arguments,
      });
      emit('response.output_item.done', { output_index: outputIndex, item });
    });
    emit('response.completed', { response: responseObject(facts(result, turnId)) });
    sse.end();
  } catch (error) {
    if (!sse.isOpen) throw error; // nothing sent yet: an error answer with its status
    const { status, body } = errors.toResponse(error);
    const { code, message } = openAiErrorBody(status, body).error;
    emit('response.failed', { response: { ...responseObject({ ...facts(null, turn!), status: 'failed' }), error: { code, message } } });
    sse.end();
  }
}
