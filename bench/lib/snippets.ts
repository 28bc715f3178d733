// The code snippets of the reference's load test (docs api.md, "Load test"), in its order:
// iteration i sends snippets[i % 8].
export const snippets: readonly string[] = [
  '1 + 1',
  'Math.sqrt(144)',
  'JSON.stringify({a: 1, b: 2})',
  'Array.from({length: 10}, (_, i) => i * i).reduce((a, b) => a + b, 0)',
  "'hello'.repeat(3)",
  'Date.now()',
  'Object.keys({x: 1, y: 2, z: 3}).length',
  '[1,2,3,4,5].filter(n => n % 2 === 0).map(n => n * 10)',
];

/** The POST bodies, serialized once: the stateless iteration sends one of these as is. */
export const snippetBodies: readonly string[] = snippets.map((code) => JSON.stringify({ code }));
