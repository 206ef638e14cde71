import { z } from 'zod';

/** One FAQ entry of a knowledge base. */
export const KnowledgeBaseEntry = z
  .object({
    /** Stable id of the question the entry answers (e.g. `card_arrival`). */
    intent: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[A-Za-z0-9_.?:-]+$/, 'letters, digits and _ . ? : - only'),
    /** Example questions, used to train the matcher. */
    examples: z.array(z.string().trim().min(1).max(1_000)).min(1),
    /** The answer given when a question matches this entry. */
    answer: z.string().trim().min(1).max(4_000),
  })
  .strict();
export type KnowledgeBaseEntry = z.infer<typeof KnowledgeBaseEntry>;

/** The JSON import format: `{ "entries": [ { intent, examples, answer } ] }`. */
export const KnowledgeBaseDocument = z
  .object({
    /** Every entry; intents are unique. */
    entries: z
      .array(KnowledgeBaseEntry)
      .min(1)
      .refine((entries) => new Set(entries.map((e) => e.intent)).size === entries.length, 'intents must be unique'),
  })
  .strict();
export type KnowledgeBaseDocument = z.infer<typeof KnowledgeBaseDocument>;

/** Answers file for a CSV import: `{ "<intent>": "<answer>" }`. */
export const KnowledgeBaseAnswers = z.record(z.string(), z.string().trim().min(1).max(4_000));
