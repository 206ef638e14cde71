import { Catch, type RpcExceptionFilter } from '@nestjs/common';
import { throwError, type Observable } from 'rxjs';

/**
 * Nest's default RPC filter turns any handler error into `{status: 'error', message: 'Internal
 * server error'}`. The JetStream transport decides retries and dead letters from the real error,
 * so hand it through unchanged. Register with `app.useGlobalFilters(new RethrowRpcErrors())`.
 */
@Catch()
export class RethrowRpcErrors implements RpcExceptionFilter<unknown> {
  catch(exception: unknown): Observable<never> {
    return throwError(() => exception);
  }
}
