// fsync of a file or folder by path: after a rename, syncing the folder makes the new name survive
// a crash. One helper for the heap store, its journal and Raft's snapshot files.
import { open } from 'node:fs/promises';

/** Syncs a file or folder by path (open, fsync, close on the libuv pool). */
export async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
