// The tags argument of run_js, set_heap_tags and query_heaps_by_tags. A JSON body can hold the
// key `__proto__` as data, but no JavaScript object built by assignment can: zod's record dropped
// it (set_heap_tags and run_js then stored the other tags and said nothing) and an empty query
// matched every heap (`{"__proto__": "nomatch"}` returned them all). It is refused by name, before
// the record is built. Any other key is plain data.
import { z } from 'zod';

export const reservedTagKeyMessage = "the tag key '__proto__' is reserved: JavaScript objects cannot hold it as data; choose another key";

export const tagMapArgument = z.preprocess((raw, context) => {
  if (raw !== null && typeof raw === 'object' && Object.hasOwn(raw, '__proto__')) context.addIssue({ code: 'custom', message: reservedTagKeyMessage });
  return raw;
}, z.record(z.string(), z.string()));
