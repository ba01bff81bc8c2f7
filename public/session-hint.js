// Asks IndexedDB, as the document starts, which databases this browser holds, so that the
// answer is there when the page's module runs: on a cold start IndexedDB takes tens of
// milliseconds to answer, and whether a stored session can exist decides the first screen
// (crates/page/src/engine_link.rs, `has_database` and `known_database`, read
// `window.merpatiDatabases` and `window.merpatiDatabaseNames`; without them the page waits for
// the engine worker to say).
try {
  if (indexedDB.databases) {
    // The names, promised, and kept once they come, so that a page starting after the answer
    // draws its first screen at once.
    window.merpatiDatabases = indexedDB.databases().then(
      (list) => (window.merpatiDatabaseNames = list.map((database) => database.name)),
    );
  }
} catch (_) {
  // No IndexedDB here (a privacy mode): the engine worker will say.
}
