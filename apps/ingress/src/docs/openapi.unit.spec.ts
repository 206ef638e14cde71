/** The OpenAPI document covers every route ingress serves, and its request schemas are the ones the routes validate with. */
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { RequestMethod } from '@nestjs/common';
import { INGRESS_CONTROLLERS } from '../ingress.module';
import { openApiDocument } from './openapi';

type Operation = {
  requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> };
  responses: Record<string, unknown>;
};

function servedRoutes(): string[] {
  const routes: string[] = [];
  for (const controller of INGRESS_CONTROLLERS) {
    const base = String(Reflect.getMetadata(PATH_METADATA, controller) ?? '').replace(/^\/|\/$/g, '');
    for (const name of Object.getOwnPropertyNames(controller.prototype)) {
      const handler = (controller.prototype as unknown as Record<string, object>)[name];
      const path = Reflect.getMetadata(PATH_METADATA, handler);
      const method = Reflect.getMetadata(METHOD_METADATA, handler);
      if (path === undefined || method === undefined) continue;
      const full = `/${[base, String(path).replace(/^\/|\/$/g, '')].filter(Boolean).join('/')}`.replace(/:(\w+)/g, '{$1}');
      if (/\.(css|js)$/.test(full)) continue; // the docs page's own assets
      routes.push(`${RequestMethod[method as RequestMethod].toLowerCase()} ${full}`);
    }
  }
  return routes.sort();
}

describe('OpenAPI document', () => {
  const document = openApiDocument() as { openapi: string; paths: Record<string, Record<string, Operation>> };
  const documented = Object.entries(document.paths)
    .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method} ${path}`))
    .sort();

  it('documents exactly the routes the controllers serve', () => {
    expect(servedRoutes().length).toBeGreaterThan(20);
    expect(documented).toEqual(servedRoutes());
  });

  it('describes request bodies from the same schemas the routes validate with', () => {
    expect(document.openapi).toBe('3.0.3');
    const properties = (path: string) =>
      Object.keys(document.paths[path].post.requestBody!.content['application/json'].schema.properties ?? {});
    expect(properties('/v1/sessions/{sessionId}/turns')).toEqual(['text', 'mode']);
    expect(properties('/v1/chat/completions')).toEqual(
      expect.arrayContaining(['model', 'messages', 'stream', 'stream_options', 'tools', 'user', 'call']),
    );
    expect(properties('/v1/responses')).toEqual(
      expect.arrayContaining(['input', 'instructions', 'previous_response_id', 'store', 'stream']),
    );
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations))
        expect({ route: `${method} ${path}`, answers: Object.keys(operation.responses).length > 0 }).toEqual({
          route: `${method} ${path}`,
          answers: true,
        });
    }
  });
});
