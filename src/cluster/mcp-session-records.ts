// The replicated records of Streamable HTTP sessions: what a node needs to rebuild an initialized
// MCP session that another node opened (its id, its principal, what initialize negotiated) and
// which node owns it now. A part of the cluster's state machine (src/cluster/machine.ts): every
// replica applies the same `mcp.*` commands in the same order, so every node knows every session,
// and one joining after a compaction learns them from the snapshot.
//
// A record is small and bounded, and checked on apply (a command is input from another node):
// a record that fails a check fails the same way on every replica. Past the count or byte bound
// the oldest record is forgotten (the same one everywhere): it is a session whose client has most
// likely gone, and forgetting it costs its client a new initialize, nothing stored.
import { z } from 'zod';
import { McpV8Error } from '../errors.ts';

/** Records kept at most; the oldest beyond it is forgotten. */
export const mcpSessionRecordsMax = 65_536;
/** Bytes of records (their JSON) kept at most; the oldest beyond it are forgotten. */
export const mcpSessionRecordBytesTotalMax = 32 * 1024 * 1024;
/** One record's JSON at most: client info and capabilities are a client's to choose. */
export const mcpSessionRecordBytesMax = 16 * 1024;

const jsonObject = z.record(z.string(), z.unknown());
export const mcpSessionRecordSchema = z.object({
  /** The Mcp-Session-Id (src/cluster/mcp-sessions.ts names its form; any visible ASCII is accepted, as the MCP spec allows). */
  id: z.string().regex(/^[\x21-\x7e]{1,128}$/, 'a session id is 1 to 128 visible ASCII characters'),
  /** Who opened it (src/auth): only they may use it, on any node. */
  principal: z.string().min(1).max(1024),
  /** The protocol version initialize negotiated. */
  protocol_version: z.string().min(1).max(64),
  /** initialize's clientInfo and capabilities, as the client sent them. */
  client_info: jsonObject,
  capabilities: jsonObject,
  /** The node (its --node-id) that holds the live session. */
  owner: z.string().min(1).max(256),
}).strict();

export type McpSessionRecord = z.infer<typeof mcpSessionRecordSchema>;

export type McpSessionCommand =
  /** initialize answered on `session.owner`. */
  | { type: 'mcp.open'; session: McpSessionRecord }
  /** `to` takes over a session whose owner `from` cannot be reached; refused if the owner is no longer `from`. */
  | { type: 'mcp.adopt'; id: string; from: string; to: string }
  /** The session ended (DELETE, idle, made room for another): nobody may use it again. */
  | { type: 'mcp.close'; id: string };

/**
 * Told when a session's owner changes (`owner` null: its record is gone, closed or forgotten, as
 * a snapshot shows it), so a node still holding it live lets it go.
 */
export type McpOwnerListener = (id: string, owner: string | null) => void;

export function checkMcpSessionRecord(value: unknown): { record: McpSessionRecord; bytes: number } {
  const parsed = mcpSessionRecordSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new McpV8Error('INVALID_ARGUMENT', `an MCP session record: ${issue?.path.join('.') || 'the record'}: ${issue?.message}`);
  }
  const bytes = Buffer.byteLength(JSON.stringify(parsed.data), 'utf8');
  if (bytes > mcpSessionRecordBytesMax) throw new McpV8Error('INVALID_ARGUMENT', `an MCP session record of ${bytes} bytes is over ${mcpSessionRecordBytesMax} (client info and capabilities too large)`);
  return { record: parsed.data, bytes };
}

export class McpSessionRecords {
  /** In the order they were opened: the first is the oldest. */
  private records = new Map<string, { record: McpSessionRecord; bytes: number }>();
  private bytes = 0;
  listener: McpOwnerListener | null = null;

  apply(command: McpSessionCommand): null {
    switch (command.type) {
      case 'mcp.open': {
        const checked = checkMcpSessionRecord(command.session);
        this.remove(checked.record.id);
        this.records.set(checked.record.id, checked);
        this.bytes += checked.bytes;
        while (this.records.size > mcpSessionRecordsMax || this.bytes > mcpSessionRecordBytesTotalMax) this.remove(this.records.keys().next().value!);
        return null;
      }
      case 'mcp.adopt': {
        const held = this.records.get(String(command.id));
        if (held === undefined) throw new McpV8Error('SESSION_NOT_FOUND', `MCP session ${String(command.id).slice(0, 128)} is not recorded (closed, or never opened)`);
        if (held.record.owner !== command.from) throw new McpV8Error('SESSION_CONFLICT', `MCP session ${held.record.id} is owned by ${held.record.owner} now, not ${String(command.from).slice(0, 256)}`);
        const to = z.string().min(1).max(256).safeParse(command.to);
        if (!to.success) throw new McpV8Error('INVALID_ARGUMENT', 'an MCP session adoption names the node that takes it over (1 to 256 characters)');
        held.record = { ...held.record, owner: to.data };
        this.listener?.(held.record.id, to.data);
        return null;
      }
      case 'mcp.close':
        this.remove(String(command.id));
        return null;
    }
  }

  private remove(id: string): void {
    const held = this.records.get(id);
    if (held === undefined) return;
    this.records.delete(id);
    this.bytes -= held.bytes;
  }

  get(id: string): McpSessionRecord | undefined {
    const held = this.records.get(id);
    return held === undefined ? undefined : { ...held.record };
  }

  /** Every record, oldest first. */
  all(): IterableIterator<McpSessionRecord> {
    return [...this.records.values()].map((held) => held.record).values();
  }

  get size(): number {
    return this.records.size;
  }

  snapshot(): McpSessionRecord[] {
    return [...this.records.values()].map((held) => held.record);
  }

  /**
   * From a snapshot (checked again all the same: the bounds may have changed). A snapshot installed
   * from the leader may skip the adoptions and closes this replica missed (it was cut off): the
   * listener is told of every record whose owner differs or that is gone, as if they had been applied.
   */
  restore(records: readonly unknown[]): void {
    const before = this.records;
    this.records = new Map();
    this.bytes = 0;
    for (const record of records) this.apply({ type: 'mcp.open', session: record as McpSessionRecord });
    if (this.listener === null) return;
    for (const [id, held] of before) {
      const owner = this.records.get(id)?.record.owner ?? null;
      if (owner !== held.record.owner) this.listener(id, owner);
    }
  }
}
