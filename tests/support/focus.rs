//! Where the keyboard's focus is, for the component tests, and a wait for the page to move it
//! (`merpati_page::focus` moves it after the next paint).

/// The element with the keyboard's focus.
pub(crate) fn focused() -> Option<web_sys::Element> {
    web_sys::window()?.document()?.active_element()
}

/// Waits until what the page does after the next paint (moving the focus) is done: the same
/// wait, queued behind it.
pub(crate) async fn after_the_page_paints() {
    let (done, painted) = futures::channel::oneshot::channel();
    merpati_page::engine_link::after_next_paint(move || {
        let _ = done.send(());
    });
    let _ = painted.await;
}
