import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Controller, Get, Header } from '@nestjs/common';
import { Public } from '../auth/auth.guard';
import { DOCS_PAGE, openApiDocument } from './openapi';

const swaggerUi = dirname(require.resolve('swagger-ui-dist/package.json'));
const asset = (() => {
  const cache = new Map<string, Promise<string>>();
  return (file: string) => {
    if (!cache.has(file)) cache.set(file, readFile(join(swaggerUi, file), 'utf8'));
    return cache.get(file)!;
  };
})();

/** The OpenAPI document, as JSON and as a browsable page. Open, like the health checks. */
@Public()
@Controller('docs')
export class DocsController {
  private readonly document = openApiDocument();

  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  page() {
    return DOCS_PAGE;
  }

  @Get('openapi.json')
  json() {
    return this.document;
  }

  @Get('swagger-ui.css')
  @Header('content-type', 'text/css; charset=utf-8')
  @Header('cache-control', 'public, max-age=86400')
  css() {
    return asset('swagger-ui.css');
  }

  @Get('swagger-ui-bundle.js')
  @Header('content-type', 'application/javascript; charset=utf-8')
  @Header('cache-control', 'public, max-age=86400')
  script() {
    return asset('swagger-ui-bundle.js');
  }
}
