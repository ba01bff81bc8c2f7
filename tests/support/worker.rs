//! An engine worker in the test page: the same `EngineWorker` the `merpati-worker` module
//! runs, started over a database and driven with commands, and heard through what it posts
//! (through the same encoding the page decodes).

use std::cell::RefCell;
use std::rc::Rc;

use merpati_app::worker::EngineWorker;
use merpati_bridge::{self as bridge, Command, Update};

/// Nothing listens there: every connection attempt fails at once.
pub(crate) const NO_SERVER: &str = "ws://127.0.0.1:9/ws";

/// A worker started over the database `db_name`, with no server to reach; what it posts is
/// collected.
pub(crate) fn started_worker(db_name: String) -> (EngineWorker, Rc<RefCell<Vec<Update>>>) {
    let heard = Rc::new(RefCell::new(Vec::new()));
    let sink = heard.clone();
    let worker = EngineWorker::new(move |update, _object| {
        let decoded = bridge::decode::<Update>(&bridge::encode(&update))
            .unwrap_or_else(|error| panic!("the page could not read {update:?}: {error}"));
        sink.borrow_mut().push(decoded);
    });
    worker.handle(Command::Start {
        db_name,
        socket_url: NO_SERVER.to_owned(),
        language: "en".to_owned(),
        catalogue: String::new(),
    });
    (worker, heard)
}

/// Waits (up to ten seconds) until the worker has said something `wanted` picks out.
pub(crate) async fn heard<T>(
    updates: &Rc<RefCell<Vec<Update>>>,
    what: &str,
    wanted: impl Fn(&Update) -> Option<T>,
) -> T {
    for _ in 0..200 {
        if let Some(found) = updates.borrow().iter().find_map(&wanted) {
            return found;
        }
        gloo_timers::future::TimeoutFuture::new(50).await;
    }
    panic!(
        "the worker never said {what}; it said {:?}",
        updates.borrow()
    );
}
