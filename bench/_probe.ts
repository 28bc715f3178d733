import { stdioClient } from '../test/support/agent-client.ts';
const client = await stdioClient({ stateful: false });
const cases = [
  "const a = 1;\nconst b = [1, 2;\nconst c = 3;",
  "let x = 1;\nlet y = 2;\nif (x) {\n  return x + y;\n}",
  "const x: number = (1;",
  "@sealed\nclass A {}",
  "const el = <div>hi</div>;",
  "```js\nconst x = 1;\nx + 1\n```",
  "```\n1 + 2\n```",
  "'1'", "1", "({a: {b: {c: {d: {e: 1}}}}})",
  "throw {code: 42, detail: 'x'}", "throw 'plain string'", "throw 42", "throw null",
  "await Promise.reject({reason: 'nope'})",
];
for (const code of cases) {
  const r = await client.callTool({ name: 'run_js', arguments: { code, wait_ms: 10000 } });
  const v = r.structuredContent as any;
  console.log(JSON.stringify(code).slice(0, 50).padEnd(52), '=>', v.status, JSON.stringify(v.result), JSON.stringify(v.error));
}
await client.close();
