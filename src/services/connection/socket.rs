//! The socket loop: one WebSocket from open to close ([`session`]), and the loop around it
//! that reconnects after the wait [`Backoff`] gives, ended early by [`wake`] (the network is
//! back, the tab is shown, the person asks to retry). The loop only tells `Backoff` when a
//! connection got online and when it ended: whether it lasted long enough to start the waits
//! over is the core's rule. A loop runs under a *generation*; a new one ([`connect`],
//! [`end_connection_loop`]) makes any older loop stop at its next step.

use std::pin::Pin;
use std::rc::Rc;

use futures::channel::mpsc;
use futures::{FutureExt, SinkExt, StreamExt};
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::{Message, State};
use merpati_core::reconnect::Backoff;
use merpati_core::{ConnectionPhase, Store};
use merpati_protocol::ServerFrame;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

use super::super::clock;
use super::{Inner, Notice, flush};

pub(super) fn watch_online(inner: &Rc<Inner>) {
    // The window, or the worker's global scope: both say when the network is back.
    let global = js_sys::global().unchecked_into::<web_sys::EventTarget>();
    let weak = Rc::downgrade(inner);
    let on_online = Closure::<dyn FnMut()>::new(move || {
        if let Some(inner) = weak.upgrade() {
            wake(&inner);
        }
    });
    if global
        .add_event_listener_with_callback("online", on_online.as_ref().unchecked_ref())
        .is_ok()
    {
        *inner.online.borrow_mut() = Some(on_online);
    }
}

/// Ends the wait before the next connection attempt, if one is waiting, and the wait before
/// a batch the store refused is tried again: the person may have freed storage meanwhile.
pub(super) fn wake(inner: &Inner) {
    if let Some(wake) = inner.wake.borrow_mut().take() {
        let _ = wake.unbounded_send(());
    }
    super::saving::wake_retry(inner);
}

/// Stops the running connection loop (for good, unless a new one starts) and returns the
/// generation a new loop runs under.
pub(super) fn end_connection_loop(inner: &Inner) -> u64 {
    let generation = inner.generation.get().wrapping_add(1);
    inner.generation.set(generation);
    // Dropping the sender ends the running socket loop once it has sent what is queued.
    inner.outgoing.borrow_mut().take();
    generation
}

/// (Re)starts the connection loop; any older loop stops.
pub(super) fn connect(inner: &Rc<Inner>) {
    let generation = end_connection_loop(inner);
    wasm_bindgen_futures::spawn_local(run(inner.clone(), generation));
}

/// Connects, and reconnects with backoff, until the generation changes.
async fn run(inner: Rc<Inner>, generation: u64) {
    let mut backoff = Backoff::default();
    while inner.generation.get() == generation {
        session(&inner, generation, &mut backoff).await;
        backoff.disconnected(clock::now_ms());
        if inner.generation.get() != generation {
            return;
        }
        inner.engine.borrow_mut().on_disconnected();
        flush(&inner).await;
        if let Some(hint) = inner.retry_hint_ms.take() {
            backoff.retry_after(u64::from(hint));
        }
        let random = (js_sys::Math::random() * f64::from(u32::MAX)) as u32;
        let delay = u32::try_from(backoff.next_delay_ms(random)).unwrap_or(u32::MAX);
        let (wake_sender, mut woken) = mpsc::unbounded();
        *inner.wake.borrow_mut() = Some(wake_sender);
        inner
            .next_attempt_at_ms
            .set(Some(js_sys::Date::now() + f64::from(delay)));
        (inner.notify)(Notice::Changed);
        let mut timer = gloo_timers::future::TimeoutFuture::new(delay).fuse();
        futures::select! {
            _ = timer => {}
            _ = woken.next() => {}
        }
        inner.wake.borrow_mut().take();
        inner.next_attempt_at_ms.set(None);
    }
}

/// One socket, from open to close; `backoff` is told when it gets online.
async fn session(inner: &Rc<Inner>, generation: u64, backoff: &mut Backoff) {
    // Another tab of this browser may have resumed since, and been given a rotated token;
    // and it may have left messages in the outbox the tabs share (written, then closed
    // before they went out): they go out on this connection.
    let store = inner.store.borrow().clone();
    if let Some(store) = store {
        if let Ok(Some(account)) = store.account().await {
            inner
                .engine
                .borrow_mut()
                .adopt_stored_session_token(&account);
        }
        match store.outbox().await {
            Ok(records) => inner.engine.borrow_mut().take_in_outbox(records),
            Err(error) => leptos::logging::warn!("reading the shared outbox failed: {error}"),
        }
    }
    inner.engine.borrow_mut().on_connecting();
    (inner.notify)(Notice::Changed);
    let Ok(socket) = WebSocket::open(&inner.socket_url) else {
        return;
    };
    let mut socket = socket.fuse();
    // The sink is ready once the socket is open, or has failed to open.
    let opened = futures::future::poll_fn(|cx| {
        futures::Sink::<Message>::poll_ready(Pin::new(&mut socket), cx)
    })
    .await;
    if opened.is_err() || !matches!(socket.get_ref().state(), State::Open) {
        return;
    }
    if inner.generation.get() != generation {
        return;
    }
    let (sender, mut outgoing) = mpsc::unbounded();
    let number = inner.sockets_opened.get().wrapping_add(1);
    inner.sockets_opened.set(number);
    *inner.outgoing.borrow_mut() = Some((number, sender));
    inner.engine.borrow_mut().on_connected();
    flush(inner).await;
    // The engine times the server's silence (a connection gone without a word) only while this
    // loop listens: from now, and again once what came is handled and stored, or a question
    // went out — not while it stores, nor in a tab frozen with frames waiting, which are read
    // before the time is looked at (`select_biased!`). What this side sends does not count.
    inner.engine.borrow_mut().listening(clock::now_ms());
    loop {
        let due = inner.engine.borrow().liveness_due_ms();
        let silence = async move {
            match due {
                Some(at) => {
                    let wait = at.saturating_sub(clock::now_ms());
                    gloo_timers::future::TimeoutFuture::new(
                        u32::try_from(wait).unwrap_or(u32::MAX),
                    )
                    .await;
                }
                None => futures::future::pending::<()>().await,
            }
        }
        .fuse();
        futures::pin_mut!(silence);
        futures::select_biased! {
            incoming = socket.next() => match incoming {
                Some(Ok(Message::Bytes(bytes))) => {
                    if inner.generation.get() != generation {
                        break;
                    }
                    match merpati_protocol::decode::<ServerFrame>(&bytes) {
                        Ok(frame) => {
                            let before = inner.engine.borrow().connection_phase();
                            {
                                let mut engine = inner.engine.borrow_mut();
                                // The engine times typing signals by this clock, not the
                                // server's, so it is told the time before every frame.
                                engine.advance_clock(clock::now_ms());
                                engine.handle_frame(frame);
                            }
                            flush(inner).await;
                            inner.engine.borrow_mut().listening(clock::now_ms());
                            let phase = inner.engine.borrow().connection_phase();
                            // `SyncDone` only puts the engine online: nothing to flush, so
                            // no flush tells the app (a quiet reload stayed "connecting").
                            if phase != before {
                                (inner.notify)(Notice::Changed);
                            }
                            if phase == ConnectionPhase::Online {
                                backoff.online(clock::now_ms());
                            }
                        }
                        Err(error) => leptos::logging::warn!("ignoring a frame: {error}"),
                    }
                }
                Some(Ok(Message::Text(_))) => {}
                Some(Err(_)) | None => break,
            },
            frame = outgoing.next() => match frame {
                Some(bytes) => {
                    if socket.send(Message::Bytes(bytes)).await.is_err() {
                        break;
                    }
                }
                // The client let go of this connection (sign-out, new sign-in, auth failure,
                // the server gone silent).
                None => break,
            },
            () = silence => {
                inner.engine.borrow_mut().check_liveness(clock::now_ms());
                flush(inner).await;
                inner.engine.borrow_mut().listening(clock::now_ms());
            }
        }
    }
    let mut slot = inner.outgoing.borrow_mut();
    if slot.as_ref().is_some_and(|(owner, _)| *owner == number) {
        slot.take();
    }
}
