import { z } from 'zod';
import { EventStoreError, EventStoreErrorCodes } from './errors';

/**
 * Rows a query returned, each parsed against the shape the query selects: a column that is not
 * what the code expects (a migration out of step, a changed query) fails here, naming the query
 * and the column — never later as an `undefined` far away. Rows are input like any other.
 */
export function rowsOf<S extends z.ZodType>(result: { rows: readonly unknown[] }, row: S, query: string): z.output<S>[] {
  return result.rows.map((raw) => parseRow(raw, row, query));
}

/** The first row, parsed (undefined when there is none). */
export function firstRowOf<S extends z.ZodType>(result: { rows: readonly unknown[] }, row: S, query: string): z.output<S> | undefined {
  return result.rows.length ? parseRow(result.rows[0], row, query) : undefined;
}

/** The one row a query always returns (an aggregate, an upsert's `returning`), parsed. */
export function onlyRowOf<S extends z.ZodType>(result: { rows: readonly unknown[] }, row: S, query: string): z.output<S> {
  const first = firstRowOf(result, row, query);
  if (first === undefined) throw new EventStoreError(EventStoreErrorCodes.UnexpectedRow, `${query}: no row came back`);
  return first;
}

function parseRow<S extends z.ZodType>(raw: unknown, row: S, query: string): z.output<S> {
  const parsed = row.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new EventStoreError(EventStoreErrorCodes.UnexpectedRow, `${query}: column ${issue.path.join('.') || '(row)'} ${issue.message}`);
}

/** Column types as node-postgres returns them. */
export const Col = {
  text: z.string(),
  int: z.number().int(),
  /** `bigint` and `count(*)` come back as text: they may pass 2^53. */
  bigint: z.union([z.string().regex(/^-?\d+$/), z.number().int()]).transform(String),
  bytea: z.instanceof(Buffer),
  bool: z.boolean(),
  time: z.union([z.date(), z.string()]).transform((t) => new Date(t)),
  json: z.unknown(),
};
