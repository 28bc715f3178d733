// Every JSON value the stores read back is checked against a zod schema before it is trusted:
// a damaged or foreign value is reported as damaged, never used as if it were a record.
import type { z } from 'zod';

/** Stored JSON checked against its schema; null when it is not JSON or does not match. */
export function parseStored<T>(schema: z.ZodType<T>, text: string): T | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : null;
}
