// The SQLite class of examples/sqlite-wasm (README.md here): sql.js's emscripten glue
// (sql-wasm.js, which build.sh puts in front of this file inside one function, so that nothing
// but SQLite becomes a global) instantiated synchronously from the pre-loaded module
// __wasm_sqlite. This is sandbox code: it runs inside the execution, under its time and memory
// limits, like the code of the agent.
/* global initSqlJs, __wasm_sqlite */
var sqlConfig = {
  // emscripten asks for the instance through this hook instead of fetching sql-wasm.wasm. Its
  // imports are the glue's own functions (module "a": file system, clock, memory growth); the
  // compiled module is the one the server pre-loaded (--wasm-module sqlite=sqlite3.wasm).
  instantiateWasm: function (imports, receiveInstance) {
    var instance = new WebAssembly.Instance(__wasm_sqlite, imports);
    receiveInstance(instance, __wasm_sqlite);
    return instance.exports;
  },
  print: function () {},
  printErr: function () {},
};
// With the hook answering at once, the runtime is initialised before initSqlJs returns: the
// config object is emscripten's Module and carries Database from then on.
initSqlJs(sqlConfig);
if (typeof sqlConfig.Database !== 'function') throw new Error('SQLite WASM did not initialise synchronously');
var SqlDatabase = sqlConfig.Database;

class SQLite {
  /** @param {Uint8Array} [data] a database file's bytes (from export()), or none for an empty database */
  constructor(data) {
    this.db = new SqlDatabase(data);
  }
  /** Runs one or more statements; with params (array or {":name": value}), exactly one. */
  exec(sql, params) {
    if (params === undefined) this.db.exec(sql);
    else this.db.run(sql, params);
    return this;
  }
  /** One statement's rows as objects keyed by column name: {columns, rows}. */
  query(sql, params) {
    var statement = this.db.prepare(sql);
    try {
      if (params !== undefined) statement.bind(params);
      var columns = statement.getColumnNames();
      var rows = [];
      while (statement.step()) rows.push(statement.getAsObject());
      return { columns: columns, rows: rows };
    } finally {
      statement.free();
    }
  }
  /** Rows changed by the last INSERT, UPDATE or DELETE. */
  changes() {
    return this.db.getRowsModified();
  }
  /** The database as the bytes of a SQLite file. */
  export() {
    return this.db.export();
  }
  close() {
    this.db.close();
  }
}
globalThis.SQLite = SQLite;
