// Opening a LevelDB the same way everywhere: one process per database, and an error that names
// the database and the flag that chooses its path.
import { Level } from 'level';
import { McpV8Error } from '../errors.ts';

export async function openLevel(path: string, options: { what: string; flag: string }): Promise<Level<string, string>> {
  const db = new Level<string, string>(path, { valueEncoding: 'utf8' });
  try {
    await db.open();
  } catch (error) {
    if ((error as { cause?: { code?: string } }).cause?.code === 'LEVEL_LOCKED') {
      throw new McpV8Error('STORAGE_LOCKED', `the ${options.what} ${path} is in use by another mcp-v8 process; give this one its own ${options.flag}`, { cause: error });
    }
    // LevelDB says only "Database failed to open"; what went wrong (a file in the way, a
    // corrupt manifest, no permission) is in its cause.
    const cause = (error as { cause?: { message?: string } }).cause?.message;
    const reason = cause === undefined ? (error as Error).message : `${(error as Error).message} (${cause})`;
    throw new McpV8Error('STORAGE_UNAVAILABLE', `cannot open the ${options.what} ${path}: ${reason}`, { cause: error });
  }
  return db;
}
