// The host side of display(): marked console lines are checked again and kept within bounds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ImageShelf, imageMarker, imagesCharsMax, imagesPerRunMax } from '../../src/service/images.ts';

const svgLine = (padding: number) => `${imageMarker}image/svg+xml;${Buffer.from(`<svg>${' '.repeat(padding)}</svg>`).toString('base64')}`;

test('images past the memory bound drop the oldest executions\' images first, never the newest run\'s', () => {
  const shelf = new ImageShelf();
  const perImage = 700 * 1024;
  const ids = Array.from({ length: 20 }, (_, index) => `run-${index}`);
  for (const id of ids) for (let index = 0; index < imagesPerRunMax; index++) shelf.take(id, svgLine(perImage));
  const kept = ids.filter((id) => shelf.of(id).length > 0);
  const keptChars = kept.reduce((sum, id) => sum + shelf.of(id).reduce((inner, image) => inner + image.data.length, 0), 0);
  assert.ok(keptChars <= imagesCharsMax, `${keptChars} characters kept, bound ${imagesCharsMax}`);
  assert.deepEqual(kept, ids.slice(ids.length - kept.length), 'the newest executions keep theirs');
  assert.equal(shelf.of(ids.at(-1)!).length, imagesPerRunMax);
  assert.ok(kept.length < ids.length, 'some were dropped');
});

test('lines that are not images pass unchanged; forged or foreign ones are refused', () => {
  const shelf = new ImageShelf();
  assert.equal(shelf.take('a', 'hello'), 'hello');
  assert.equal(shelf.take('a', `${imageMarker}image/gif;R0lGODlh`), '[display: refused, not an image this server accepts]');
  assert.equal(shelf.take('a', `${imageMarker}image/png;${Buffer.from('not a png').toString('base64')}`), '[display: refused, not an image this server accepts]');
  assert.equal(shelf.take('a', `${imageMarker}image/png;@@@`), '[display: refused, not an image this server accepts]');
  assert.deepEqual(shelf.of('a'), []);
});
