// The CLI contract of api.md: defaults, ranges, conflicts, aliases, and clear one-line errors.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parseConfig, type Config } from '../src/config.ts';
import { McpV8Error } from '../src/errors.ts';
import { unwrittenCharsMaxDefault } from '../src/storage/execution-store.ts';

function config(argv: string[], environment: NodeJS.ProcessEnv = {}): Config {
  const parsed = parseConfig(argv, environment);
  assert.equal(parsed.action, 'run');
  return (parsed as { config: Config }).config;
}

function rejects(argv: string[], pattern: RegExp, environment: NodeJS.ProcessEnv = {}): void {
  assert.throws(() => parseConfig(argv, environment), (error: unknown) => {
    assert.ok(error instanceof McpV8Error);
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes('\n'), 'one line');
    return true;
  });
}

describe('flags', () => {
  test('no flags: stateful on /tmp/mcp-v8-heaps over stdio with the documented defaults', () => {
    const c = config([]);
    assert.deepEqual(c.heapStore, { kind: 'directory', path: '/tmp/mcp-v8-heaps' });
    assert.equal(c.transport, 'stdio');
    assert.equal(c.heapMemoryMaxMb, 32);
    assert.equal(c.executionTimeoutSecs, 30);
    assert.equal(c.sessionDbPath, '/tmp/mcp-v8-sessions');
    assert.equal(c.bindHost, '127.0.0.1');
    assert.equal(c.nodeId, 'node1');
    assert.equal(c.executionOutputMaxMb, 1024);
    assert.ok(c.maxConcurrentExecutions >= 1);
  });

  test('values in both spellings, ranges enforced at both ends', () => {
    assert.equal(config(['--heap-memory-max', '64']).heapMemoryMaxMb, 64);
    assert.equal(config(['--heap-memory-max=1']).heapMemoryMaxMb, 1);
    rejects(['--heap-memory-max', '65'], /--heap-memory-max must be from 1 to 64, got 65/);
    rejects(['--heap-memory-max', '0'], /--heap-memory-max must be from 1 to 64/);
    rejects(['--execution-timeout', '301'], /--execution-timeout must be from 1 to 300/);
    rejects(['--execution-timeout', 'ten'], /--execution-timeout must be a whole number/);
    rejects(['--http-port', '70000'], /--http-port must be from 0 to 65535/);
    assert.equal(config(['--execution-output-max', '64']).executionOutputMaxMb, 64);
    rejects(['--execution-output-max', '63'], /--execution-output-max must be from 64 to 1048576, got 63/);
    assert.equal(config([]).executionUnwrittenOutputMaxMb * 2 ** 20, unwrittenCharsMaxDefault, "the store's own default");
    assert.equal(config(['--execution-unwritten-output-max-mb', '8']).executionUnwrittenOutputMaxMb, 8);
    rejects(['--execution-unwritten-output-max-mb', '0'], /--execution-unwritten-output-max-mb must be from 1 to 1024, got 0/);
    rejects(['--execution-unwritten-output-max-mb', '2048'], /--execution-unwritten-output-max-mb must be from 1 to 1024, got 2048/);
  });

  test('conflicts name both flags', () => {
    rejects(['--stateless', '--directory-path', '/x'], /--stateless conflicts with --directory-path/);
    rejects(['--stateless', '--s3-bucket', 'b'], /--stateless conflicts with --s3-bucket/);
    rejects(['--s3-bucket', 'b', '--directory-path', '/x'], /--s3-bucket conflicts with --directory-path/);
    rejects(['--http-port', '1', '--sse-port', '2'], /--http-port conflicts with --sse-port/);
    rejects(['--cache-dir', '/c'], /--cache-dir requires --s3-bucket/);
    rejects(['--stateless', '--session-db-path', '/s'], /--stateless conflicts with --session-db-path/);
    rejects(['--stateless', '--live-heaps-max', '4'], /--stateless conflicts with --live-heaps-max/);
    rejects(['--live-heaps-max', '-1'], /--live-heaps-max must be/);
    rejects(['--stateless', '--live-heaps-memory-mb', '64'], /--stateless conflicts with --live-heaps-memory-mb/);
    rejects(['--live-heaps-memory-mb', '0'], /--live-heaps-memory-mb must be from 1 to 1048576, got 0/);
    assert.equal(config([]).liveHeapsMemoryMb, 1536);
    assert.equal(config([]).liveHeapsMax, 1024);
    assert.equal(config(['--live-heaps-memory-mb', '64']).liveHeapsMemoryMb, 64);
    rejects(['--retire-rss-mb', '0'], /--retire-rss-mb must be/);
  });

  test('MCP session bounds: defaults, ranges, and only with a transport that has sessions', () => {
    const c = config(['--http-port', '0']);
    assert.equal(c.mcpSessionsMax, 10_000);
    assert.equal(c.mcpSessionIdleSecs, 3600);
    assert.equal(config(['--http-port', '0', '--mcp-session-idle-timeout', '60', '--mcp-sessions-max', '5']).mcpSessionIdleSecs, 60);
    assert.equal(config(['--sse-port', '0', '--mcp-sessions-max', '5']).mcpSessionsMax, 5);
    assert.equal(config(['--mcp-session-idle-timeout', '60'], { PORT: '8080' }).mcpSessionIdleSecs, 60);
    rejects(['--http-port', '0', '--mcp-sessions-max', '0'], /--mcp-sessions-max must be from 1 to 1000000, got 0/);
    rejects(['--http-port', '0', '--mcp-session-idle-timeout', '604801'], /--mcp-session-idle-timeout must be from 1 to 604800/);
    rejects(['--mcp-sessions-max', '5'], /--mcp-sessions-max requires --http-port or --sse-port/);
    rejects(['--sse-port', '0', '--mcp-session-idle-timeout', '60'], /--mcp-session-idle-timeout applies to Streamable HTTP sessions: it requires --http-port/);
  });

  test('MCP event bounds (--mcp-events-*): defaults, ranges, a stream within the node, only with Streamable HTTP sessions', () => {
    assert.deepEqual(config(['--http-port', '0']).mcpEventBounds, { streamEventsMax: 1000, streamCharsMax: 4 * 1024 * 1024, nodeEventsMax: 50_000, nodeCharsMax: 32 * 1024 * 1024 });
    const c = config(['--http-port', '0', '--mcp-events-per-stream', '10', '--mcp-events-per-stream-mb', '2', '--mcp-events-per-node', '100', '--mcp-events-per-node-mb', '8']);
    assert.deepEqual(c.mcpEventBounds, { streamEventsMax: 10, streamCharsMax: 2 * 1024 * 1024, nodeEventsMax: 100, nodeCharsMax: 8 * 1024 * 1024 });
    assert.equal(config(['--mcp-events-per-node', '2000'], { MCP_V8_MCP_EVENTS_PER_STREAM: '2000', PORT: '8080' }).mcpEventBounds.streamEventsMax, 2000);
    rejects(['--http-port', '0', '--mcp-events-per-stream', '0'], /--mcp-events-per-stream must be from 1 to 10000000, got 0/);
    rejects(['--http-port', '0', '--mcp-events-per-node-mb', '65537'], /--mcp-events-per-node-mb must be from 1 to 65536/);
    rejects(['--http-port', '0', '--mcp-events-per-stream', '60000'], /--mcp-events-per-stream \(60000\) may be at most --mcp-events-per-node \(50000\)/);
    rejects(['--http-port', '0', '--mcp-events-per-node-mb', '2'], /--mcp-events-per-stream-mb \(4\) may be at most --mcp-events-per-node-mb \(2\)/);
    rejects(['--mcp-events-per-stream', '5'], /--mcp-events-per-stream applies to Streamable HTTP streams: it requires --http-port/);
    rejects(['--sse-port', '0', '--mcp-events-per-node-mb', '5'], /--mcp-events-per-node-mb applies to Streamable HTTP streams: it requires --http-port/);
    rejects(['--http-port', '0', '--stateless-http', '--mcp-events-per-node', '5'], /--mcp-events-per-node conflicts with --stateless-http/);
  });

  test('unknown, repeated, valueless and stray arguments are refused', () => {
    rejects(['--heap-memory'], /unknown flag --heap-memory/);
    rejects(['--http-port'], /--http-port needs a value/);
    rejects(['--http-port', '1', '--http-port', '2'], /--http-port given twice/);
    rejects(['stateless'], /unexpected argument 'stateless'/);
    rejects(['--stateless=yes'], /--stateless takes no value/);
    rejects(['--http-port', '--stateless'], /--http-port needs a value/);
    rejects(['-x'], /unexpected argument '-x'/);
    rejects(['--', '--stateless'], /unknown flag -- /);
    assert.equal(config(['--stateless=true', '--stateless=false']).stateless, false);
  });

  test('policy flags build the capabilities at start-up: fetch with a fetch policy, fs with a filesystem one', () => {
    assert.equal(config([]).capabilities, null);
    const opa = config(['--opa-url', 'http://127.0.0.1:8181', '--fetch-header', 'host=*.x.com,header=A,value=SECRET']).capabilities!;
    assert.ok(opa.fetch !== undefined && opa.fs === undefined && opa.modules === undefined);
    assert.ok(!JSON.stringify(opa.summary).includes('SECRET') && !JSON.stringify(opa).includes('SECRET'));
    const fsOnly = config(['--policies-json', '{"filesystem": {"policies": [{"url": "http://127.0.0.1:8181"}]}}']).capabilities!;
    assert.ok(fsOnly.fs !== undefined && fsOnly.fetch === undefined);
    rejects(['--fetch-header', 'host=x.com,header=A,value=SECRET'], /--fetch-header requires a fetch policy/);
    rejects(['--opa-url', 'localhost:8181'], /--opa-url "localhost:8181" must be an http:\/\/ or https:\/\/ URL/);
  });

  test('flags of features not built yet are refused, never ignored', () => {
    // --wasm-module and --wasm-config are built: test/wasm-config.test.ts.
  });

  test('module imports: off by default; the CDN, cache and bounds flags, checked', () => {
    assert.deepEqual(config([]).modules, {
      allowExternal: false, cdnUrl: 'https://esm.sh', cacheDir: '/tmp/mcp-v8-modules', cacheBytesMax: 512 * 1024 * 1024, moduleBytesMax: 10 * 1024 * 1024, fetchTimeoutMs: 30_000,
    });
    const c = config(['--allow-external-modules', '--module-cdn-url', 'http://127.0.0.1:8080/mirror/', '--module-cache-dir', '/m', '--module-cache-max', '64', '--module-size-max', '2', '--module-fetch-timeout', '5']);
    assert.deepEqual(c.modules, { allowExternal: true, cdnUrl: 'http://127.0.0.1:8080/mirror', cacheDir: '/m', cacheBytesMax: 64 * 1024 * 1024, moduleBytesMax: 2 * 1024 * 1024, fetchTimeoutMs: 5_000 });
    rejects(['--module-cdn-url', 'esm.sh'], /--module-cdn-url must be an http\(s\) URL without query or fragment, like https:\/\/esm\.sh, got 'esm\.sh'/);
    rejects(['--module-cdn-url', 'ftp://x'], /--module-cdn-url must be an http\(s\) URL/);
    rejects(['--module-size-max', '0'], /--module-size-max must be from 1 to 1024, got 0/);
    rejects(['--module-fetch-timeout', 'soon'], /--module-fetch-timeout must be a whole number from 1 to 300/);
  });

  test('newer spellings and environment variables are aliases', () => {
    assert.deepEqual(config(['--heap-store', 'none']).heapStore, { kind: 'none' });
    assert.deepEqual(config(['--heap-dir', '/h']).heapStore, { kind: 'directory', path: '/h' });
    assert.deepEqual(config(['--s3-bucket', 'b', '--cache-dir', '/c']).heapStore, { kind: 's3', bucket: 'b', cacheDir: '/c' });
    rejects(['--heap-store', 'tape'], /--heap-store must be none, dir or s3/);
    assert.equal(config([], { MCP_V8_HTTP_PORT: '8080' }).port, 8080);
    assert.equal(config([], { PORT: '9090' }).transport, 'http');
    assert.equal(config(['--sse-port', '7000'], { PORT: '9090' }).transport, 'sse');
    assert.equal(config(['--heap-memory-max', '16'], { MCP_V8_HEAP_MEMORY_MAX: '32' }).heapMemoryMaxMb, 16, 'the command line wins');
    rejects([], /MCP_V8_HEAP_MEMORY_MAX|--heap-memory-max/, { MCP_V8_HEAP_MEMORY_MAX: '99' });
  });

  test("the README's flag section names every flag the parser knows", () => {
    const text = (parseConfig(['--help'], {}) as { text: string }).text;
    const flags = [...text.matchAll(/^ {2}(--[a-z0-9-]+)/gm)].map((match) => match[1]!);
    assert.ok(flags.length > 30, `${flags.length} flags in --help`);
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Flags'), readme.indexOf('\n## ', readme.indexOf('## Flags') + 1));
    assert.deepEqual(flags.filter((flag) => !new RegExp(`${flag}(?![a-z-])`).test(section)), []);
  });

  test('--help lists every flag', () => {
    const parsed = parseConfig(['--help'], {});
    assert.equal(parsed.action, 'help');
    const text = (parsed as { text: string }).text;
    for (const flag of ['--stateless', '--http-port', '--sse-port', '--heap-memory-max', '--execution-timeout', '--max-concurrent-executions', '--bind-host', '--s3-bucket', '--cache-dir']) {
      assert.ok(text.includes(flag), flag);
    }
  });
});

describe('cluster flags', () => {
  const node = ['--http-port', '0', '--node-id', 'n1'];
  test('a cluster node: peers in both spellings, defaults of the reference, Raft log path per node', () => {
    const c = config([...node, '--cluster-port', '7001', '--peers', 'n2@127.0.0.1:7002,127.0.0.1:7003']).cluster!;
    assert.deepEqual(c.peers, [{ nodeId: 'n2', addr: '127.0.0.1:7002' }, { nodeId: null, addr: '127.0.0.1:7003' }]);
    assert.equal(c.clusterPort, 7001);
    assert.equal(c.heartbeatIntervalMs, 100);
    assert.equal(c.electionTimeoutMinMs, 300);
    assert.equal(c.electionTimeoutMaxMs, 500);
    assert.equal(c.raftDbPath, '/tmp/mcp-v8-raft-n1');
    assert.equal(c.join, null);
    assert.equal(c.leaseReads, false);
    assert.equal(config([...node, '--cluster-port', '7001', '--raft-lease-reads']).cluster!.leaseReads, true);
    assert.deepEqual(config([...node, '--cluster-port', '7001', '--peers', 'a@h:1', '--peers', 'b@h:2']).cluster!.peers.map((peer) => peer.nodeId), ['a', 'b']);
    assert.equal(config([...node, '--cluster-port', '7001', '--join', '127.0.0.1:7002']).cluster!.join, '127.0.0.1:7002');
    assert.equal(config(['--sse-port', '0', '--cluster-port', '7001']).cluster!.clusterPort, 7001);
    assert.equal(config(node).cluster, null);
  });

  test('bad combinations are one-line start-up errors naming the flags', () => {
    rejects(['--cluster-port', '7001'], /--cluster-port requires --http-port or --sse-port/);
    rejects([...node, '--peers', 'n2@h:1'], /--peers applies in cluster mode only: it requires --cluster-port/);
    rejects([...node, '--election-timeout-min', '400'], /--election-timeout-min applies in cluster mode only/);
    rejects([...node, '--raft-lease-reads'], /--raft-lease-reads applies in cluster mode only/);
    rejects([...node, '--cluster-port', '1', '--join', 'h:2', '--peers', 'n2@h:3'], /--join conflicts with --peers/);
    rejects([...node, '--cluster-port', '1', '--peers', 'n1@h:3'], /--peers names this node's own --node-id n1/);
    rejects([...node, '--cluster-port', '1', '--peers', 'n2@nohost'], /--peers entry 'n2@nohost' must be host:port/);
    rejects([...node, '--cluster-port', '1', '--peers', 'bad id@h:1'], /--peers: 'bad id@h:1' has a bad node id/);
    rejects([...node, '--cluster-port', '1', '--peers', 'a@h:1,b@h:1'], /--peers names the same host:port twice/);
    rejects([...node, '--cluster-port', '1', '--join', 'h'], /--join must be host:port/);
    rejects([...node, '--cluster-port', '0', '--join', 'h:1'], /--cluster-port 0 with --peers or --join needs --advertise-addr/);
    rejects([...node, '--cluster-port', '1', '--election-timeout-min', '300', '--election-timeout-max', '200'], /--election-timeout-max \(200 ms\) must be at least --election-timeout-min \(300 ms\)/);
    rejects([...node, '--cluster-port', '1', '--election-timeout-min', '300', '--election-timeout-max', '700'], /at most 2 x --election-timeout-min/);
    rejects([...node, '--cluster-port', '1', '--heartbeat-interval', '300', '--election-timeout-min', '300'], /--election-timeout-min \(300 ms\) must be above --heartbeat-interval/);
    rejects([...node, '--cluster-port', '1', '--session-db-path', '/s'], /--session-db-path does not apply in cluster mode/);
    rejects([...node, '--cluster-port', '1', '--directory-path', '/h'], /--directory-path does not apply in cluster mode/);
  });

  test('a cluster port beyond loopback needs a cluster secret (tokens on the HTTP port do not cover it)', () => {
    const wide = [...node, '--cluster-port', '1', '--bind-host', '0.0.0.0', '--auth-token', 'a=0123456789abcdef0123456789abcdef'];
    rejects(wide, /without --cluster-secret \(or MCP_V8_CLUSTER_SECRET\) the cluster port does not authenticate its peers/);
    const secret = 's'.repeat(32);
    assert.equal(config([...wide, '--cluster-secret', secret]).cluster!.secret, secret);
    assert.equal(parseConfig(wide, { MCP_V8_CLUSTER_SECRET: secret }).action === 'run', true, 'the secret may come from the environment');
    assert.equal(config([...node, '--cluster-port', '1', '--bind-host', '0.0.0.0', '--allow-unauthenticated']).cluster!.secret, null, 'or the operator says the network is private');
    // A short secret is refused, and the message does not repeat it.
    assert.throws(() => parseConfig([...wide, '--cluster-secret', 'tooshort-secret-value'], {}), (error: Error) => /at least 32 characters, got 21/.test(error.message) && !error.message.includes('tooshort'));
    rejects([...node, '--cluster-secret', secret], /--cluster-secret applies in cluster mode only/);
  });
});
