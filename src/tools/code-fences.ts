// Code pasted with its markdown fence (```js … ```), as models often write it: the fence is not
// JavaScript (V8 reads ``` as a tagged template and fails with '"" is not a function'), and the
// agent meant the code inside. Only a fence around the whole input is taken off.
const wholeFence = /^\s*```[\w+-]*[ \t]*\r?\n([\s\S]*?)\r?\n?```\s*$/;

/**
 * The code inside a fence around the whole input, else the input. The end is looked at first
 * (trimEnd stops at the first character that is not white space): a trimStart over a legal
 * 1,000,000-character code of newlines cost the main thread ≈ 1 ms per run (issue 18).
 */
export function withoutMarkdownFence(code: string): string {
  if (!code.trimEnd().endsWith('```') || !code.trimStart().startsWith('```')) return code;
  const match = wholeFence.exec(code);
  return match === null ? code : match[1]!;
}
