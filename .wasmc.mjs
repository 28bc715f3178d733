import ivm from 'isolated-vm';
import fs from 'node:fs';
const b = fs.readFileSync('node_modules/sql.js/dist/sql-wasm.wasm');
let t=performance.now(); const hm = new WebAssembly.Module(b); console.log('host compile', performance.now()-t);
const copyBytes = new ivm.ExternalCopy(new Uint8Array(b).buffer);
const copyMod = new ivm.ExternalCopy(hm);
for (let i=0;i<4;i++){
 const iso = new ivm.Isolate({memoryLimit: 64}); const ctx = await iso.createContext();
 const r = await ctx.evalClosure(`const t0=Date.now(); const a=$0.copy(); const m=new WebAssembly.Module(a); const t1=Date.now(); const m2=$1.copy(); return [t1-t0, Date.now()-t1, m2 instanceof WebAssembly.Module, WebAssembly.Module.exports(m2).length]`, [copyBytes, copyMod], {result:{copy:true}});
 console.log(r);
 iso.dispose();
}
