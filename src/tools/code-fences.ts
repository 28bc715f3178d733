// Code pasted with its markdown fence (```js … ```), as models often write it: the fence is not
// JavaScript (V8 reads ``` as a tagged template and fails with '"" is not a function'), and the
// agent meant the code inside. Only a fence around the whole input is taken off.
const wholeFence = /^\s*```[\w+-]*[ \t]*\r?\n([\s\S]*?)\r?\n?```\s*$/;

export function withoutMarkdownFence(code: string): string {
  if (!code.trimStart().startsWith('```')) return code;
  const match = wholeFence.exec(code);
  return match === null ? code : match[1]!;
}
