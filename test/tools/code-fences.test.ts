import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withoutMarkdownFence } from '../../src/tools/code-fences.ts';

test('a fence around the whole input is taken off, with white space of any kind around it', () => {
  assert.equal(withoutMarkdownFence('```js\nconst x = 20;\nx + 22\n```'), 'const x = 20;\nx + 22');
  assert.equal(withoutMarkdownFence('\n \t```\n1 + 2\n```\n\u00a0'), '1 + 2');
  assert.equal(withoutMarkdownFence('```ts\r\nlet a: number = 1\r\n```  '), 'let a: number = 1');
});

test('code that is not fenced whole is left as it is', () => {
  for (const code of ['1 + 1', '```js\n1 + 1', '1 + 1\n```', 'const s = `a`; ```', '```\n```x', '\n'.repeat(1_000) + '1+1', '```'.padEnd(5, '\n')]) {
    assert.equal(withoutMarkdownFence(code), code);
  }
});
