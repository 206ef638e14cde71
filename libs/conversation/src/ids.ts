import { createHash } from 'node:crypto';

/**
 * A UUID (v5-style, SHA-1) derived from another id and a purpose. Handlers derive the ids of the
 * events they append from the event they handle, so a redelivered message appends nothing new:
 * the log rejects the duplicate id.
 */
export function derivedId(parentId: string, purpose: string): string {
  const hash = createHash('sha1').update(`${parentId}\u0000${purpose}`).digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
