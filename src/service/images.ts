// Images that code displayed (display() in src/exec/sandbox/display.js): each arrives as one
// marked console line, is checked again here (sandbox output is never trusted for type or size),
// and is kept for the execution's replies; its place in the console output gets a short line.
// Memory is bounded: imagesPerRunMax images of imageBytesMax each, for the newest
// executionsWithImagesMax executions, and imagesBytesMax in all (older executions' images are
// dropped first; their output line stays, and a reply then carries no image).

export const imageMarker = '\u0000mcp-v8:display:';
export const imageBytesMax = 1024 * 1024;
export const imagesPerRunMax = 8;
export const executionsWithImagesMax = 64;
/** Base64 characters of images kept across executions. */
export const imagesCharsMax = 64 * 1024 * 1024;

const allowedTypes = new Set(['image/png', 'image/jpeg', 'image/svg+xml']);
const base64Pattern = /^[A-Za-z0-9+/]*={0,2}$/;

export interface DisplayedImage {
  mimeType: string;
  /** Base64, as MCP image content carries it. */
  data: string;
  bytes: number;
}

function signatureMatches(mimeType: string, bytes: Buffer): boolean {
  if (mimeType === 'image/png') return bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47;
  if (mimeType === 'image/jpeg') return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  const text = bytes.toString('utf8').trimStart();
  return text.startsWith('<svg') || text.startsWith('<?xml');
}

export class ImageShelf {
  private readonly images = new Map<string, DisplayedImage[]>();
  private chars = 0;

  private dropOldest(): void {
    const [oldest, list] = this.images.entries().next().value!;
    this.images.delete(oldest);
    for (const image of list) this.chars -= image.data.length;
  }

  /**
   * A console line of `executionId`: the line to store instead (an image's place, or why it was
   * refused), or the line itself when it is not an image.
   */
  take(executionId: string, line: string): string {
    if (!line.startsWith(imageMarker)) return line;
    const body = line.slice(imageMarker.length);
    const separator = body.indexOf(';');
    const mimeType = separator === -1 ? '' : body.slice(0, separator);
    const data = separator === -1 ? '' : body.slice(separator + 1);
    if (!allowedTypes.has(mimeType) || data.length > Math.ceil(imageBytesMax / 3) * 4 + 4 || !base64Pattern.test(data)) return '[display: refused, not an image this server accepts]';
    const bytes = Buffer.from(data, 'base64');
    if (bytes.length > imageBytesMax || !signatureMatches(mimeType, bytes)) return '[display: refused, not an image this server accepts]';
    let list = this.images.get(executionId);
    if (list !== undefined && list.length >= imagesPerRunMax) return `[display: image not kept, at most ${imagesPerRunMax} per execution]`;
    if (list === undefined) {
      this.images.set(executionId, list = []);
      if (this.images.size > executionsWithImagesMax) this.dropOldest();
    }
    list.push({ mimeType, data, bytes: bytes.length });
    this.chars += data.length;
    // Never this execution's own images: the newest run keeps what it just displayed.
    while (this.chars > imagesCharsMax && this.images.keys().next().value !== executionId) this.dropOldest();
    return `[display: image ${list.length}, ${mimeType}, ${bytes.length} bytes]`;
  }

  of(executionId: string): readonly DisplayedImage[] {
    return this.images.get(executionId) ?? [];
  }
}
