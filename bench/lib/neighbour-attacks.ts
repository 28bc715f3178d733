// The hostile runs of issue 18 as data, for bench/neighbour.ts and its attacker process
// (bench/lib/raw-attacker.ts): each is one body POSTed to /api/exec by `parallel` clients at
// once, once or again and again until the neighbours are done.
import { codeCharsMax, waitMsMax } from '../../src/tools/execution-tools.ts';

export interface Attack {
  name: string;
  /** The JSON body, built once per attacker. */
  body: () => string;
  /** Requests sent at once (each waits for its answer before the next, when `repeat`). */
  parallel: number;
  /** Sent again and again until the neighbours are done (else once). */
  repeat: boolean;
}

const run = (code: string, mb = 64, timeoutSecs = 5) => () => JSON.stringify({ code, heap_memory_max_mb: mb, execution_timeout_secs: timeoutSecs, wait_ms: waitMsMax });

export const attacks: Attack[] = [
  { name: '1 memory bomb, push(new Array(1000)), 64 MiB', body: run('const a=[]; for(;;) a.push(new Array(1000))'), parallel: 1, repeat: true },
  { name: '2 replaced push + setInterval console.log', body: run("Array.prototype.push=function(){this[this.length]=null;return this.length}; setInterval(()=>console.log(1),5); 'x'"), parallel: 1, repeat: false },
  { name: '3 console flood, 3e6 lines', body: run("for(let i=0;i<3e6;i++) console.log(i); 'done'"), parallel: 1, repeat: false },
  { name: '3 console flood, 8e6 empty lines', body: run("for(let i=0;i<8e6;i++) console.log(); 'done'"), parallel: 1, repeat: false },
  { name: '3 console flood, 100 lines of 1 MB', body: run("const mb='x'.repeat(1e6); for(let i=0;i<100;i++) console.log(mb); 'done'"), parallel: 1, repeat: true },
  { name: '4 object-key bomb, 64 MiB', body: run("const m={}; for(let i=0;;i++) m['k'+i]=i"), parallel: 1, repeat: false },
  { name: '4 60,000 timers, 8 MiB', body: run('for(let i=0;i<60000;i++) setTimeout(()=>{},1e6)', 8, 5), parallel: 1, repeat: true },
  { name: '5 normalize in a loop', body: run("const s='\\u1e9b\\u0323'.repeat(1e6); let n=0; for(let i=0;i<1000;i++) n+=s.normalize('NFKD').length; n"), parallel: 1, repeat: false },
  { name: '6 8 × 200,000 unknown keys', body: () => JSON.stringify(Object.fromEntries([['code', '1'], ...Array.from({ length: 200_000 }, (_, index) => [`k${index}`, 1])])), parallel: 8, repeat: true },
  { name: '6 8 × 1,200,000 numbers (2.4 MB)', body: () => JSON.stringify({ code: '1', x: Array.from({ length: 1_200_000 }, () => 1) }), parallel: 8, repeat: true },
  // The longest code run_js takes, as `\n` escapes: a legal body of 2 MB, parsed and run.
  { name: '6 8 × a legal 1,000,000-character code (2 MB)', body: () => JSON.stringify({ code: `${'\n'.repeat(codeCharsMax - 3)}1+1`, wait_ms: waitMsMax }), parallel: 8, repeat: true },
  { name: '9 two for(;;){}', body: run('for(;;){}', 64, 10), parallel: 2, repeat: false },
];

export function attackNamed(name: string): Attack {
  const attack = attacks.find((candidate) => candidate.name === name);
  if (attack === undefined) throw new Error(`no attack named ${JSON.stringify(name)}`);
  return attack;
}
