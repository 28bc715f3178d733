// Heaps in an S3 bucket (AWS or any S3-compatible server). Endpoint, region and credentials come
// from the standard AWS environment (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, AWS_REGION,
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or any provider of the default chain). With an endpoint
// the client uses path-style addressing, which S3-compatible servers expect.
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { McpV8Error } from '../errors.ts';
import { checkHeapId, heapIdOf, heapNotFound, verified, type HeapStore } from './heap-store.ts';

function isNotFound(error: unknown): boolean {
  if (!(error instanceof S3ServiceException)) return false;
  return error.name === 'NoSuchKey' || error.name === 'NotFound' || error.$metadata.httpStatusCode === 404;
}

function unavailable(action: string, bucket: string, error: unknown): McpV8Error {
  return new McpV8Error('STORAGE_UNAVAILABLE', `S3 ${action} in bucket ${bucket} failed: ${(error as Error).name}: ${(error as Error).message}`, { cause: error });
}

export class S3HeapStore implements HeapStore {
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(options: { client: S3Client; bucket: string; prefix?: string }) {
    this.client = options.client;
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? '';
  }

  static fromEnvironment(options: { bucket: string; prefix?: string }, environment: NodeJS.ProcessEnv = process.env): S3HeapStore {
    const endpoint = environment.AWS_ENDPOINT_URL_S3 ?? environment.AWS_ENDPOINT_URL;
    const accessKeyId = environment.AWS_ACCESS_KEY_ID;
    const secretAccessKey = environment.AWS_SECRET_ACCESS_KEY;
    // Keys in the given environment are used as they are; otherwise the SDK's default chain
    // (shared config files, instance roles, …) finds credentials.
    const credentials = accessKeyId !== undefined && secretAccessKey !== undefined
      ? { credentials: { accessKeyId, secretAccessKey, ...(environment.AWS_SESSION_TOKEN === undefined ? {} : { sessionToken: environment.AWS_SESSION_TOKEN }) } }
      : {};
    const client = new S3Client({
      ...credentials,
      region: environment.AWS_REGION ?? environment.AWS_DEFAULT_REGION ?? 'us-east-1',
      ...(endpoint === undefined || endpoint === '' ? {} : { endpoint, forcePathStyle: true }),
      // Streamed bodies break against S3-compatible servers with the newer default checksums.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // S3 (and S3-compatible servers) answer 503 SlowDown under load; the SDK backs off and retries.
      maxAttempts: 6,
    });
    return new S3HeapStore({ client, bucket: options.bucket, ...(options.prefix === undefined ? {} : { prefix: options.prefix }) });
  }

  private key(id: string): string {
    return `${this.prefix}${id}`;
  }

  async put(bytes: Uint8Array): Promise<string> {
    const id = heapIdOf(bytes);
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key(id), Body: bytes, ContentType: 'application/octet-stream' }));
    } catch (error) {
      throw unavailable('PutObject', this.bucket, error);
    }
    return id;
  }

  async get(id: string): Promise<Uint8Array> {
    checkHeapId(id);
    let bytes: Uint8Array;
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(id) }));
      if (answer.Body === undefined) throw heapNotFound(id);
      bytes = await answer.Body.transformToByteArray();
    } catch (error) {
      if (error instanceof McpV8Error) throw error;
      if (isNotFound(error)) throw heapNotFound(id);
      throw unavailable('GetObject', this.bucket, error);
    }
    return verified(id, bytes, `bucket ${this.bucket}`);
  }

  async has(id: string): Promise<boolean> {
    checkHeapId(id);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(id) }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw unavailable('HeadObject', this.bucket, error);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
