// AbortSignal.timeout (prelude/timers.js) and File (web-api.js), against Node's own on the same code.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { engineForFile } from './harness.ts';

const { run } = await engineForFile(1);
const AsyncFunction = (async () => {}).constructor as new (body: string) => () => Promise<unknown>;

/** The body's `result` in Node (this process) and in the sandbox. */
async function both(body: string): Promise<{ node: unknown; sandbox: string | null; error: string | null }> {
  const node = await new AsyncFunction(`${body}\nreturn result;`)();
  const ran = await run(`${body}\nresult`);
  return { node, sandbox: ran.result, error: ran.error };
}

describe('AbortSignal.timeout, File, FormData and IDNA hosts in URL', () => {
  test('a non-ASCII host becomes its punycode form, as in Node', async () => {
    const hosts = ['münchen.de', 'BÜCHER.example', '例え.テスト', 'xn--mnchen-3ya.de', 'faß.de', 'ﬁ.com', 'a。b.com', '☕.us', 'παράδειγμα.δοκιμή', 'пример.рф', 'straße.de/pfad?q=ü#ä', 'ÿ.com'];
    const body = `const hosts = ${JSON.stringify(hosts)};
      const result = JSON.stringify(hosts.map((host) => { const url = new URL('https://' + host); return [url.hostname, url.href, url.origin]; }));`;
    const { node, sandbox, error } = await both(body);
    assert.equal(sandbox, node, String(error));
    assert.match(String(sandbox), /"xn--mnchen-3ya\.de"/);
  });

  test('AbortSignal.timeout aborts with a TimeoutError after its delay, as in Node', async () => {
    const body = `const signal = AbortSignal.timeout(5);
      const before = signal.aborted;
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
      const errors = [];
      for (const bad of ['5', -1, 1.5, 2 ** 32]) { try { AbortSignal.timeout(bad); errors.push('none'); } catch (error) { errors.push(error.constructor.name); } }
      const result = JSON.stringify([before, signal.aborted, signal.reason.name, signal.reason.message, signal.reason instanceof Error, errors]);`;
    const { node, sandbox, error } = await both(body);
    assert.equal(sandbox, node, String(error));
  });

  test('the timer of AbortSignal.timeout does not keep the run going (a Node process exits with it pending)', async () => {
    const ran = await run("AbortSignal.timeout(60_000); 'done'", { timeoutMs: 30_000 });
    assert.equal(ran.status, 'completed');
    assert.equal(ran.result, 'done');
  });

  test('FormData: entries in order, a Blob held as a File, set, delete, the argument errors, as in Node', async () => {
    const body = `const form = new FormData();
      form.append('a', '1'); form.append('a', 2); form.append('file', new Blob(['x'], { type: 'text/plain' })); form.append('named', new Blob(['y']), 'y.txt');
      form.append('b', 'keep'); form.set('a', '3');
      const original = new File(['z'], 'orig.txt', { lastModified: 9 });
      form.append('same', original); form.append('renamed', original, 'new.txt');
      const file = form.get('file');
      const errors = [];
      try { form.append('x'); } catch (error) { errors.push(error.constructor.name, error.message); }
      try { new FormData({}); } catch (error) { errors.push(error.constructor.name, error.message); }
      const listed = [];
      form.forEach((value, name) => listed.push([name, typeof value === 'string' ? value : value.name]));
      const before = [...form.keys()];
      form.delete('b');
      const result = JSON.stringify([file.constructor.name, file.name, file.type, await file.text(), form.get('named').name, form.getAll('a'), form.has('a'), form.get('none'),
        form.get('same') === original, form.get('renamed') === original, form.get('renamed').name, form.get('renamed').lastModified, before, [...form].map(([name]) => name), listed,
        Object.prototype.toString.call(form), Object.getOwnPropertyNames(FormData.prototype).sort(), errors]);`;
    const { node, sandbox, error } = await both(body);
    assert.equal(sandbox, node, String(error));
  });

  test('File: name, type, size, lastModified, text, a Blob, the missing-argument TypeError, as in Node', async () => {
    const body = `const file = new File(['ab', new Uint8Array([99])], 'x.txt', { type: 'Text/Plain', lastModified: 5 });
      const errors = [];
      try { new File([]); } catch (error) { errors.push(error.constructor.name, error.message); }
      const result = JSON.stringify([file.name, file.size, file.type, file.lastModified, Object.prototype.toString.call(file), file instanceof Blob, await file.text(), await file.slice(1).text(),
        file.slice(0, 1) instanceof File, typeof new File([], 'n').lastModified, new File([], 1.5, { lastModified: '7' }).lastModified, new File([], 'n', { lastModified: NaN }).lastModified,
        new File([], 'n', { lastModified: -1.5 }).lastModified, new File([file], 'copy').size, Object.getOwnPropertyNames(File.prototype).sort(), errors]);`;
    const { node, sandbox, error } = await both(body);
    assert.equal(sandbox, node, String(error));
  });
});
