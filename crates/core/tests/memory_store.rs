//! The in-memory store passes the shared store suite.

use merpati_core::MemoryStore;

merpati_core::store_suite_tests!(tokio::test, async { MemoryStore::new() });
