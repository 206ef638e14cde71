import type { PipeTransform } from '@nestjs/common';
import type { z } from 'zod';

/** Parses a request part with a contracts schema; a ZodError becomes a 400 in ApiExceptionFilter. */
export class ZodPipe<T extends z.ZodType> implements PipeTransform<unknown, z.output<T>> {
  constructor(private readonly schema: T) {}

  transform(value: unknown): z.output<T> {
    return this.schema.parse(value ?? {});
  }
}
