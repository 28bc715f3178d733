// @ts-check
// Sandbox code, part of the prelude (see console.js): the globals a run's imports are rewritten
// to (src/exec/module-rewrite.ts). The host loads, links and evaluates the modules before the
// code runs (src/exec/module-link.ts) and registers their namespaces here, by the specifier and
// the URL of the module that imports it ("" for the run's own code). Everything is captured at
// start-up; what arrives from the caller (a specifier, a base) is turned into a string first.
const importTable = /** @type {Record<string, { namespace: object | null, error: string | null }>} */ (/** @type {unknown} */ ({ __proto__: null }));
const ImportError = Error;
const importString = String;
const importPromiseReject = Promise.reject.bind(Promise);
const importPromiseResolve = Promise.resolve.bind(Promise);
/** Entries a context holds at most: the host sends at most runModulesMax a run. */
const importTableEntriesMax = 100_000;
let importTableEntries = 0;

/**
 * @param {unknown} specifier
 * @param {unknown} base
 * @returns {string}
 */
function importKey(specifier, base) {
  return importString(base) + '\n' + importString(specifier);
}

/**
 * A static import of the run's code, or the namespace an import() resolves to.
 * @param {unknown} specifier
 * @param {unknown} base
 * @returns {object}
 */
function importedNamespace(specifier, base) {
  const entry = importTable[importKey(specifier, base)];
  if (entry === undefined) {
    throw new ImportError(`Cannot import '${importString(specifier)}': it was not loaded before the run. Modules are loaded before the code runs: those named by import statements and by import() with a string literal; a computed import() specifier can only name one of those`);
  }
  if (entry.error !== null) throw new ImportError(entry.error);
  return /** @type {object} */ (entry.namespace);
}

/**
 * What `import` in `import(x)` becomes, for the module at `base`.
 * @param {unknown} base
 * @returns {(specifier: unknown) => Promise<object>}
 */
function importerOf(base) {
  const baseText = importString(base);
  return (specifier) => {
    let namespace;
    try {
      namespace = importedNamespace(typeof specifier === 'string' ? specifier : importString(specifier), baseText);
    } catch (error) {
      return importPromiseReject(error);
    }
    // A namespace object is not a thenable unless the module exports `then`, as with import().
    return importPromiseResolve(namespace);
  };
}

/**
 * The host's registration, from the module it links last: [key specifier, base, namespace, error] rows.
 * @param {unknown} rows
 * @returns {void}
 */
function registerImports(rows) {
  if (!isArray(rows)) return;
  const count = rows.length;
  for (let index = 0; index < count; index++) {
    const row = rows[index];
    if (!isArray(row)) continue;
    const key = importKey(row[0], row[1]);
    if (importTable[key] === undefined) {
      if (importTableEntries >= importTableEntriesMax) return;
      importTableEntries++;
    }
    importTable[key] = { namespace: row[3] === null ? row[2] : null, error: row[3] === null ? null : importString(row[3]) };
  }
}
const isArray = Array.isArray;

for (const [name, value] of /** @type {Array<[string, Function]>} */ ([['__mcpv8_imported', importedNamespace], ['__mcpv8_importer', importerOf], ['__mcpv8_register_imports', registerImports]])) {
  presentAsNative(value, name);
  defineProperty(globalThis, name, { value, writable: false, enumerable: false, configurable: false });
}
