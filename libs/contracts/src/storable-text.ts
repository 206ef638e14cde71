/**
 * Text that can be stored and carried everywhere Parley puts it. Postgres's JSON refuses the NUL
 * character and a lone (unpaired) UTF-16 surrogate, which is not text at all: accepted at the
 * edge, either one failed later — in a read model, a projector's retry loop, a dead letter — far
 * from the request that brought it. Every string that comes from outside is checked once, where
 * it comes in.
 */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export const isStorableText = (text: string): boolean => !UNSTORABLE.test(text);

export const UNSTORABLE_TEXT = 'must not contain NUL characters or unpaired surrogates';

/** Nesting deeper than this is refused too (a JSON body has no business being that deep). */
export const MAX_JSON_DEPTH = 32;

/**
 * Where in a JSON value the first string (a value or a key) is not storable, or the value nests
 * deeper than `MAX_JSON_DEPTH`: a path like `messages[2].content` ('' for the value itself), or
 * null when all of it can be stored.
 */
export function findUnstorableText(value: unknown, path = '', depth = 0): string | null {
  if (typeof value === 'string') return isStorableText(value) ? null : path;
  if (value === null || typeof value !== 'object') return null;
  if (depth >= MAX_JSON_DEPTH) return path;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnstorableText(value[i], `${path}[${i}]`, depth + 1);
      if (found !== null) return found;
    }
    return null;
  }
  for (const [key, inner] of Object.entries(value)) {
    const at = path ? `${path}.${key}` : key;
    if (!isStorableText(key)) return path || '(a key)';
    const found = findUnstorableText(inner, at, depth + 1);
    if (found !== null) return found;
  }
  return null;
}
