//! Photos and files in the outbox: a message carrying a file waits for its upload, goes out
//! naming its blob once the upload is done, is waited for again after a reload, and can be
//! cancelled while it uploads; a refused upload shows failed until retried, and so does a
//! message the server refused for want of its file, which a retry uploads again; the file's
//! kept ciphertext goes when its message leaves the outbox, however it leaves — also when
//! another tab sent it and this one sees it delivered.

use merpati_core::{Engine, MemoryStore, MessageStatus, SendError, StoreWrite};
use merpati_protocol::content::{Attachment, FileCipher, FileKey, MessageContent, Preview};
use merpati_protocol::{
    BlobId, ClientFrame, ClientMsgId, Epoch, ErrorCode, MessageFrame, Seq, ServerFrame,
};

use crate::support::alice::{
    ALICE, CHAT, Net, apply, published_alice, reconnect, reload, take_frames,
};

/// The cipher the app seals files with.
pub(crate) const AES: FileCipher = FileCipher::Aes256Gcm;

pub(crate) fn photo() -> Attachment {
    Attachment {
        blob: BlobId([4; 16]),
        key: FileKey([5; 32]),
        sha256: [6; 32],
        name: "pantai.jpg".into(),
        media_type: "image/jpeg".into(),
        size: 2_000_000,
        preview: Some(Preview {
            width: 1600,
            height: 1200,
            jpeg: vec![0xff, 0xd8, 0xff],
        }),
    }
}

fn sends(frames: &[ClientFrame]) -> Vec<(merpati_protocol::ClientMsgId, Option<BlobId>)> {
    frames
        .iter()
        .filter_map(|frame| match frame {
            ClientFrame::Send {
                client_msg_id,
                attachment,
                ..
            } => Some((*client_msg_id, *attachment)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_file_message_waits_for_its_upload_then_goes_out_naming_its_blob() {
    let (mut engine, mut net) = published_alice();
    let id = engine
        .send_attachment(CHAT, AES, photo(), 1_000)
        .expect("queued");
    let shown = engine.timeline(CHAT);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].status, MessageStatus::Pending);
    assert_eq!(shown[0].attachment, Some((AES, photo())));
    assert_eq!(engine.attachment(CHAT, id), Some((AES, photo())));
    assert_eq!(shown[0].text, "Photo", "the chat list names it");
    assert_eq!(
        engine
            .awaited_uploads()
            .iter()
            .map(|up| up.client_msg_id)
            .collect::<Vec<_>>(),
        vec![id]
    );
    assert!(
        sends(&net.serve(&mut engine).frames).is_empty(),
        "nothing goes out before the server holds the file"
    );

    engine.upload_finished(id);
    assert!(engine.awaited_uploads().is_empty());
    let sent = net.serve(&mut engine);
    assert_eq!(sends(&sent.frames), vec![(id, Some(photo().blob))]);
    let ClientFrame::Send { body, .. } = sent
        .frames
        .iter()
        .find(|frame| matches!(frame, ClientFrame::Send { .. }))
        .expect("sent")
    else {
        unreachable!()
    };
    let key = photo().key.0;
    assert!(
        !body.windows(8).any(|window| window == &key[..8]),
        "the file's key is inside the encrypted body"
    );
    let message = merpati_protocol::MessageFrame {
        chat_id: CHAT,
        seq: merpati_protocol::Seq(1),
        sender: crate::support::alice::ALICE,
        client_msg_id: id,
        body: body.clone(),
        sent_at_ms: 1_001,
    };
    assert_eq!(
        net.bob.open(&message),
        merpati_core::e2e::Opened::Content(MessageContent::AesGcmAttachment(photo())),
        "bob opens the key, hash and preview"
    );
}

#[test]
fn a_file_received_from_an_older_app_opens_with_the_cipher_that_sealed_it() {
    let (mut engine, mut net) = published_alice();
    let older = net.bob_sends(
        &mut engine,
        1,
        MessageContent::file(FileCipher::ChaCha20Poly1305, photo()),
    );
    let newer = net.bob_sends(&mut engine, 2, MessageContent::file(AES, photo()));
    for message in [&older, &newer] {
        engine.handle_frame(ServerFrame::Message(message.clone()));
    }
    assert_eq!(
        engine.attachment(CHAT, older.client_msg_id),
        Some((FileCipher::ChaCha20Poly1305, photo()))
    );
    assert_eq!(
        engine.attachment(CHAT, newer.client_msg_id),
        Some((AES, photo()))
    );
}

#[tokio::test]
async fn after_a_reload_the_upload_is_waited_for_again_and_a_text_after_it_is_not_held() {
    let (mut engine, _net) = published_alice();
    let store = MemoryStore::new();
    let id = engine
        .send_attachment(CHAT, AES, photo(), 1_000)
        .expect("queued");
    apply(&store, engine.take_step().writes).await;

    let reloaded = reload(&store).await;
    let awaited = reloaded.awaited_uploads();
    assert_eq!(awaited.len(), 1);
    assert_eq!(
        (
            awaited[0].client_msg_id,
            awaited[0].chat_id,
            &awaited[0].attachment
        ),
        (id, CHAT, &photo())
    );
}

/// alice's photo, its upload finished and its message gone out naming its blob: its id.
fn photo_uploaded_and_sent(engine: &mut Engine, net: &mut Net) -> ClientMsgId {
    let id = engine
        .send_attachment(CHAT, AES, photo(), 1)
        .expect("queued");
    engine.upload_finished(id);
    assert_eq!(
        sends(&net.serve(engine).frames),
        vec![(id, Some(photo().blob))]
    );
    id
}

#[tokio::test]
async fn after_a_reload_a_file_message_already_sent_is_neither_uploaded_again_nor_cancelled() {
    // Sent, and the connection dropped before the server's Ack: the server may hold it.
    let (mut engine, mut net) = published_alice();
    let store = MemoryStore::new();
    let id = photo_uploaded_and_sent(&mut engine, &mut net);
    apply(&store, net.alice_writes.clone()).await;

    let mut reloaded = reload(&store).await;
    assert!(
        reloaded.awaited_uploads().is_empty(),
        "its upload was done before it went out"
    );
    assert_eq!(reloaded.cancel_upload(id), Err(SendError::NoSuchMessage));
    assert_eq!(reloaded.timeline(CHAT).len(), 1, "still on its way");
}

#[test]
fn a_text_written_after_a_file_still_goes_out_while_the_file_uploads() {
    let (mut engine, mut net) = published_alice();
    let file = engine
        .send_attachment(CHAT, AES, photo(), 1)
        .expect("queued");
    let text = engine.send_text(CHAT, "and this", 2).expect("queued");
    assert_eq!(sends(&net.serve(&mut engine).frames), vec![(text, None)]);
    engine.upload_finished(file);
    assert_eq!(
        sends(&net.serve(&mut engine).frames),
        vec![(file, Some(photo().blob))]
    );
}

#[test]
fn a_cancelled_upload_leaves_the_outbox_and_a_sent_one_cannot_be_cancelled() {
    let (mut engine, mut net) = published_alice();
    let id = engine
        .send_attachment(CHAT, AES, photo(), 1)
        .expect("queued");
    engine.cancel_upload(id).expect("cancelled");
    assert!(engine.timeline(CHAT).is_empty());
    assert!(engine.awaited_uploads().is_empty());
    assert!(
        engine
            .take_step()
            .writes
            .contains(&merpati_core::StoreWrite::RemoveOutbox(id))
    );
    engine.upload_finished(id);
    assert!(sends(&take_frames(&mut engine)).is_empty(), "never sent");

    let other = engine
        .send_attachment(CHAT, AES, photo(), 2)
        .expect("queued");
    engine.upload_finished(other);
    let _ = net.serve(&mut engine);
    assert_eq!(engine.cancel_upload(other), Err(SendError::NoSuchMessage));
}

#[test]
fn a_refused_upload_shows_failed_and_a_retry_waits_for_it_again() {
    let (mut engine, _net) = published_alice();
    let id = engine
        .send_attachment(CHAT, AES, photo(), 1)
        .expect("queued");
    engine.upload_failed(id, ErrorCode::QuotaExceeded);
    let shown = engine.timeline(CHAT);
    assert_eq!(
        (shown[0].status, shown[0].failure),
        (MessageStatus::Failed, Some(ErrorCode::QuotaExceeded))
    );
    assert!(
        engine.awaited_uploads().is_empty(),
        "not tried again by itself"
    );
    engine.retry(id);
    assert_eq!(engine.awaited_uploads().len(), 1);
}

/// Whether `writes` let go of the kept ciphertext of a file carried as `photo()`.
fn lets_go_of_the_kept_copy(writes: &[merpati_core::StoreWrite]) -> bool {
    writes.contains(&merpati_core::StoreWrite::RemoveUpload(photo().blob))
}

#[test]
fn a_files_kept_copy_goes_with_its_message_from_the_outbox_however_it_leaves() {
    let (mut engine, mut net) = published_alice();
    // Acknowledged: kept through the upload and the send, let go with the ack.
    let sent = engine
        .send_attachment(CHAT, AES, photo(), 1)
        .expect("queued");
    engine.upload_finished(sent);
    let step = net.serve(&mut engine);
    assert!(
        !lets_go_of_the_kept_copy(&step.writes),
        "kept until acknowledged"
    );
    engine.handle_frame(ServerFrame::Ack {
        chat_id: CHAT,
        client_msg_id: sent,
        seq: merpati_protocol::Seq(1),
        sent_at_ms: 2,
    });
    assert!(lets_go_of_the_kept_copy(&engine.take_step().writes));

    // Refused, then deleted for me: nothing will upload it again.
    let refused = engine
        .send_attachment(CHAT, AES, photo(), 3)
        .expect("queued");
    engine.upload_failed(refused, ErrorCode::QuotaExceeded);
    assert!(
        !lets_go_of_the_kept_copy(&engine.take_step().writes),
        "kept for a retry"
    );
    engine.delete_for_me(CHAT, refused).expect("deleted");
    assert!(lets_go_of_the_kept_copy(&engine.take_step().writes));

    // Cancelled while it uploads.
    let cancelled = engine
        .send_attachment(CHAT, AES, photo(), 4)
        .expect("queued");
    let _ = engine.take_step();
    engine.cancel_upload(cancelled).expect("cancelled");
    assert!(lets_go_of_the_kept_copy(&engine.take_step().writes));

    // A text leaving the outbox lets go of nothing.
    let text = engine.send_text(CHAT, "and this", 5).expect("queued");
    let _ = net.serve(&mut engine);
    engine.handle_frame(ServerFrame::Ack {
        chat_id: CHAT,
        client_msg_id: text,
        seq: merpati_protocol::Seq(2),
        sent_at_ms: 6,
    });
    let writes = engine.take_step().writes;
    assert!(writes.contains(&merpati_core::StoreWrite::RemoveOutbox(text)));
    assert!(
        !writes
            .iter()
            .any(|write| matches!(write, merpati_core::StoreWrite::RemoveUpload(_)))
    );
}

#[test]
fn a_preview_too_big_for_a_message_is_refused_before_the_outbox() {
    let (mut engine, _net) = published_alice();
    let mut huge = photo();
    huge.preview = Some(Preview {
        width: 1,
        height: 1,
        jpeg: vec![0; merpati_protocol::MAX_BODY_BYTES],
    });
    assert_eq!(
        engine.send_attachment(CHAT, AES, huge, 1),
        Err(SendError::TooLarge)
    );
    assert!(engine.timeline(CHAT).is_empty());
}

#[test]
fn a_file_is_answered_with_its_name_quoted_but_not_edited_or_forwarded() {
    let (mut engine, mut net) = published_alice();
    let id = engine
        .send_attachment(CHAT, AES, photo(), 1)
        .expect("queued");
    engine.upload_finished(id);
    let _ = net.serve(&mut engine);

    engine
        .send_reply(CHAT, id, "bagus!", 2)
        .expect("a photo can be answered");
    let reply = engine
        .timeline(CHAT)
        .into_iter()
        .find(|item| item.quote.is_some())
        .expect("the reply");
    assert_eq!(
        reply.quote.map(|quote| quote.text),
        Some("📎 pantai.jpg".to_owned())
    );
    assert_eq!(
        engine.edit_message(CHAT, id, "caption", 3),
        Err(SendError::FileMessage)
    );
    assert_eq!(
        engine.forward(CHAT, id, CHAT, 4),
        Err(SendError::FileMessage)
    );
}

#[tokio::test]
async fn a_file_message_refused_because_its_upload_was_deleted_uploads_again_when_retried() {
    // The upload finished, then the message was held (a safety number to confirm, say) for
    // longer than the server keeps an upload no message carries: it comes refused.
    let (mut engine, mut net) = published_alice();
    let store = MemoryStore::new();
    let id = photo_uploaded_and_sent(&mut engine, &mut net);
    engine.handle_frame(ServerFrame::SendFailed {
        chat_id: CHAT,
        client_msg_id: id,
        code: ErrorCode::NoSuchBlob,
    });
    let shown = engine.timeline(CHAT);
    assert_eq!(
        (shown[0].status, shown[0].failure),
        (MessageStatus::Failed, Some(ErrorCode::NoSuchBlob))
    );
    assert!(
        !lets_go_of_the_kept_copy(&net.serve(&mut engine).writes),
        "kept for a retry"
    );

    engine.retry(id);
    assert_eq!(
        engine
            .awaited_uploads()
            .iter()
            .map(|up| up.client_msg_id)
            .collect::<Vec<_>>(),
        vec![id],
        "uploaded again from the kept copy"
    );
    assert!(
        sends(&net.serve(&mut engine).frames).is_empty(),
        "not sent again before the server holds the file again"
    );
    apply(&store, net.alice_writes.clone()).await;
    assert_eq!(
        reload(&store).await.awaited_uploads().len(),
        1,
        "a reload goes on with the upload rather than sending the message without it"
    );

    engine.upload_finished(id);
    assert_eq!(
        sends(&net.serve(&mut engine).frames),
        vec![(id, Some(photo().blob))]
    );
}

/// Another file than `photo()`, smaller, uploaded to a blob of its own.
fn small_photo() -> Attachment {
    Attachment {
        blob: BlobId([7; 16]),
        name: "langkah2.png".into(),
        size: 80_000,
        ..photo()
    }
}

/// A large photo and then a small one, picked together: their messages, in that order.
fn large_then_small(engine: &mut Engine) -> (ClientMsgId, ClientMsgId) {
    let large = engine
        .send_attachment(CHAT, AES, photo(), 1)
        .expect("queued");
    let small = engine
        .send_attachment(CHAT, AES, small_photo(), 2)
        .expect("queued");
    (large, small)
}

#[test]
fn files_go_out_in_the_order_written_whichever_upload_finishes_first() {
    // Picked together: the large one first. The small one's upload finishes first.
    let (mut engine, mut net) = published_alice();
    let (large, small) = large_then_small(&mut engine);
    let text = engine.send_text(CHAT, "the steps", 3).expect("queued");
    engine.upload_finished(small);
    assert_eq!(
        sends(&net.serve(&mut engine).frames),
        vec![(text, None)],
        "the small file waits for the large one; a text waits for no file"
    );

    engine.upload_finished(large);
    assert_eq!(
        sends(&net.serve(&mut engine).frames),
        vec![
            (large, Some(photo().blob)),
            (small, Some(small_photo().blob))
        ]
    );
}

#[test]
fn a_file_whose_upload_failed_holds_back_no_file_written_after_it() {
    let (mut engine, mut net) = published_alice();
    let (large, small) = large_then_small(&mut engine);
    engine.upload_failed(large, ErrorCode::QuotaExceeded);
    engine.upload_finished(small);
    assert_eq!(
        sends(&net.serve(&mut engine).frames),
        vec![(small, Some(small_photo().blob))]
    );
}

#[test]
fn a_file_found_gone_from_the_shared_outbox_as_it_went_out_leaves_this_one_unsent() {
    let (mut engine, mut net) = published_alice();
    let id = photo_uploaded_and_sent(&mut engine, &mut net);
    // Taken back in another tab before this one could claim it: the shell held its frame.
    engine.gone_from_shared_outbox(id);
    assert!(engine.timeline(CHAT).is_empty());
    let step = engine.take_step();
    assert!(
        step.writes
            .contains(&merpati_core::StoreWrite::RemoveOutbox(id))
    );
    assert!(
        sends(&net.serve(&mut engine).frames).is_empty(),
        "not sent again"
    );
}

#[test]
fn a_file_sent_from_another_tab_waits_for_no_upload_here_and_cannot_be_cancelled() {
    let (mut engine, mut net) = published_alice();
    let id = engine
        .send_attachment(CHAT, AES, photo(), 1)
        .expect("queued");
    let _ = net.serve(&mut engine);
    engine.sent_elsewhere(id);
    assert!(engine.awaited_uploads().is_empty());
    assert_eq!(engine.cancel_upload(id), Err(SendError::NoSuchMessage));
    let step = net.serve(&mut engine);
    assert_eq!(sends(&step.frames), vec![(id, Some(photo().blob))]);
    assert!(
        !step
            .writes
            .iter()
            .any(|write| matches!(write, merpati_core::StoreWrite::PutOutbox(_))),
        "the shared outbox is not written back: it may have left it"
    );
}

#[tokio::test]
async fn a_file_another_tab_sent_lets_go_of_its_kept_copy_once_delivered() {
    // Tab B sends a file and is closed before its Ack: the ciphertext it kept for the upload
    // is in the store the tabs share, and only a tab that holds the message in its outbox
    // would let go of it. (Here both tabs are the one device the store holds, so tab A opens
    // what tab B encrypted with the session tab A stored.)
    let store = MemoryStore::new();
    let (mut tab_a, mut net) = published_alice();
    let first = tab_a.send_text(CHAT, "halo", 1).expect("queued");
    let _ = net.serve(&mut tab_a);
    tab_a.handle_frame(ServerFrame::Ack {
        chat_id: CHAT,
        client_msg_id: first,
        seq: Seq(1),
        sent_at_ms: 2,
    });
    let _ = net.serve(&mut tab_a);
    apply(&store, net.alice_writes.clone()).await;
    let mut tab_b = reload(&store).await;
    reconnect(&mut tab_b, Epoch(0));
    let id = tab_b
        .send_attachment(CHAT, AES, photo(), 5)
        .expect("queued");
    tab_b.upload_finished(id);
    let step = net.serve(&mut tab_b);
    let body = step
        .frames
        .iter()
        .find_map(|frame| match frame {
            ClientFrame::Send {
                client_msg_id,
                body,
                ..
            } if *client_msg_id == id => Some(body.clone()),
            _ => None,
        })
        .expect("tab B sent it");
    apply(&store, step.writes).await;
    drop(tab_b);
    let delivered = MessageFrame {
        chat_id: CHAT,
        seq: Seq(2),
        client_msg_id: id,
        sender: ALICE,
        sent_at_ms: 6,
        body,
    };

    // Tab A, online, receives it.
    tab_a.handle_frame(ServerFrame::Message(delivered.clone()));
    assert!(lets_go_of_the_kept_copy(&tab_a.take_step().writes));

    // A tab opened later finds it delivered already, among the chat's stored messages.
    apply(&store, vec![StoreWrite::PutMessages(vec![delivered])]).await;
    let mut reloaded = reload(&store).await;
    assert!(lets_go_of_the_kept_copy(&reloaded.take_step().writes));
}
