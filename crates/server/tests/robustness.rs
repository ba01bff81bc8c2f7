//! No input panics the server: a property test feeds arbitrary bytes, text, and random but
//! well-formed frames to sessions over real sockets — before and after signing in — and after
//! every case checks that the session ended cleanly or is still answering, and that two
//! well-behaved people in another chat are served throughout.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use merpati_protocol::frames::AuthMethod;
use merpati_protocol::keys::{
    BackupEntry, DeviceKey, DeviceKeys, DeviceRef, OneTimeKey, ToDeviceMessage,
};
use merpati_protocol::{
    BlobId, ChatId, ClientFrame, ClientMsgId, Epoch, NewChat, RequestId, Seq, ServerFrame, UserId,
    Username,
};
use merpati_testkit::{Endpoint, SplitSocket};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{Client, TestServer, key, msg_id};

/// The server's worker threads carry this name, so a panic in a session can be told apart
/// from a failing assertion elsewhere in the test binary.
const SERVER_THREADS: &str = "merpati-robustness-server";

fn username() -> impl Strategy<Value = Username> {
    "[a-z][a-z0-9_]{2,12}".prop_map(|name| Username::parse(&name).unwrap())
}

/// Small ids, so that frames often name chats that exist.
fn chat_id() -> impl Strategy<Value = ChatId> {
    prop_oneof![(0u64..6).prop_map(ChatId), any::<u64>().prop_map(ChatId)]
}

fn seq() -> impl Strategy<Value = Seq> {
    prop_oneof![(0u64..50).prop_map(Seq), any::<u64>().prop_map(Seq)]
}

fn auth_method() -> impl Strategy<Value = AuthMethod> {
    prop_oneof![
        (
            username(),
            any::<[u8; 32]>(),
            prop::collection::vec(any::<u8>(), 0..80)
        )
            .prop_map(|(username, public_key, signature)| AuthMethod::Register {
                username,
                public_key,
                signature
            }),
        (username(), prop::collection::vec(any::<u8>(), 0..80)).prop_map(
            |(username, signature)| AuthMethod::Login {
                username,
                signature
            }
        ),
        any::<[u8; 32]>().prop_map(|session_token| AuthMethod::Resume { session_token }),
    ]
}

fn new_chat() -> impl Strategy<Value = NewChat> {
    prop_oneof![
        username().prop_map(|with| NewChat::Direct { with }),
        (".{0,120}", prop::collection::vec(username(), 0..5))
            .prop_map(|(title, members)| NewChat::Group { title, members }),
    ]
}

/// Small ids, so that frames often name accounts that exist.
fn user_id() -> impl Strategy<Value = UserId> {
    prop_oneof![(0u64..6).prop_map(UserId), any::<u64>().prop_map(UserId)]
}

fn device_ref() -> impl Strategy<Value = DeviceRef> {
    (
        user_id(),
        prop_oneof![(0u8..3).prop_map(|byte| [byte; 32]), any::<[u8; 32]>()],
    )
        .prop_map(|(user, device)| DeviceRef {
            user,
            device: DeviceKey(device),
        })
}

fn one_time_key() -> impl Strategy<Value = OneTimeKey> {
    (
        any::<[u8; 32]>(),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..80),
    )
        .prop_map(|(key, fallback, signature)| OneTimeKey {
            key,
            fallback,
            signature,
        })
}

/// The frames of end-to-end encryption.
fn key_frame() -> impl Strategy<Value = ClientFrame> {
    let request = || any::<u32>().prop_map(RequestId);
    prop_oneof![
        (
            device_ref(),
            any::<[u8; 32]>(),
            prop::collection::vec(any::<u8>(), 0..80),
            proptest::option::of(prop::collection::vec(any::<u8>(), 0..80)),
            prop::collection::vec(one_time_key(), 0..4),
            proptest::option::of(one_time_key()),
        )
            .prop_map(
                |(device, ed25519, signature, device_proof, one_time_keys, fallback_key)| {
                    ClientFrame::PublishKeys {
                        device: DeviceKeys {
                            user: device.user,
                            device: device.device,
                            ed25519,
                            signature,
                        },
                        device_proof,
                        one_time_keys,
                        fallback_key,
                    }
                }
            ),
        (request(), prop::collection::vec(user_id(), 0..8))
            .prop_map(|(request, users)| ClientFrame::QueryKeys { request, users }),
        (request(), prop::collection::vec(device_ref(), 0..4))
            .prop_map(|(request, devices)| ClientFrame::ClaimKeys { request, devices }),
        (
            request(),
            prop::collection::vec(
                (device_ref(), prop::collection::vec(any::<u8>(), 0..64)),
                0..4
            )
        )
            .prop_map(|(request, messages)| ClientFrame::SendToDevice {
                request,
                messages: messages
                    .into_iter()
                    .map(|(recipient, body)| ToDeviceMessage { recipient, body })
                    .collect(),
            }),
        prop::collection::vec(any::<u64>(), 0..8).prop_map(|ids| ClientFrame::ToDeviceDone { ids }),
        (
            request(),
            prop::collection::vec(
                (any::<[u8; 32]>(), prop::collection::vec(any::<u8>(), 0..64)),
                0..4
            )
        )
            .prop_map(|(request, entries)| ClientFrame::PutBackup {
                request,
                entries: entries
                    .into_iter()
                    .map(|(id, sealed)| BackupEntry { id, sealed })
                    .collect(),
            }),
        (request(), any::<u64>())
            .prop_map(|(request, after)| ClientFrame::FetchBackup { request, after }),
        (request(), chat_id(), user_id()).prop_map(|(request, chat_id, user)| {
            ClientFrame::RemoveMember {
                request,
                chat_id,
                user,
            }
        }),
    ]
}

/// Any client frame, with fields mostly in ranges that reach past the first checks.
fn client_frame() -> impl Strategy<Value = ClientFrame> {
    prop_oneof![
        (prop_oneof![Just(1u16), any::<u16>()], auth_method())
            .prop_map(|(version, method)| ClientFrame::Authenticate { version, method }),
        (any::<u32>(), new_chat()).prop_map(|(request, chat)| ClientFrame::CreateChat {
            request: RequestId(request),
            chat
        }),
        (any::<u32>(), chat_id(), username()).prop_map(|(request, chat_id, username)| {
            ClientFrame::AddMember {
                request: RequestId(request),
                chat_id,
                username,
            }
        }),
        (
            chat_id(),
            any::<[u8; 16]>(),
            prop::collection::vec(any::<u8>(), 0..200),
            proptest::option::of(any::<[u8; 16]>().prop_map(BlobId))
        )
            .prop_map(|(chat_id, id, body, attachment)| ClientFrame::Send {
                chat_id,
                client_msg_id: ClientMsgId(id),
                body,
                attachment,
            }),
        (
            proptest::option::of(any::<u64>().prop_map(Epoch)),
            prop::collection::vec((chat_id(), seq()), 0..6)
        )
            .prop_map(|(epoch, positions)| ClientFrame::Sync { epoch, positions }),
        (chat_id(), seq(), any::<u32>()).prop_map(|(chat_id, after, limit)| {
            ClientFrame::Fetch {
                chat_id,
                after,
                limit,
            }
        }),
        (chat_id(), seq(), any::<u32>()).prop_map(|(chat_id, before, limit)| {
            ClientFrame::History {
                chat_id,
                before,
                limit,
            }
        }),
        (chat_id(), seq()).prop_map(|(chat_id, seq)| ClientFrame::MarkRead { chat_id, seq }),
        Just(ClientFrame::Logout),
        key_frame(),
    ]
}

/// One WebSocket message a hostile or buggy client might send.
#[derive(Debug, Clone)]
enum Input {
    Frame(ClientFrame),
    Bytes(Vec<u8>),
    Text(String),
    /// A well-formed frame with its encoding cut short or extended.
    Mangled(ClientFrame, usize, Vec<u8>),
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        4 => client_frame().prop_map(Input::Frame),
        2 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Input::Bytes),
        1 => ".{0,64}".prop_map(Input::Text),
        2 => (client_frame(), any::<usize>(), prop::collection::vec(any::<u8>(), 0..8))
            .prop_map(|(frame, cut, tail)| Input::Mangled(frame, cut, tail)),
    ]
}

impl Input {
    fn message(&self) -> Message {
        match self {
            Input::Frame(frame) => Message::binary(merpati_protocol::encode(frame)),
            Input::Bytes(bytes) => Message::binary(bytes.clone()),
            Input::Text(text) => Message::text(text.clone()),
            Input::Mangled(frame, cut, tail) => {
                let mut bytes = merpati_protocol::encode(frame);
                bytes.truncate(cut % (bytes.len() + 1));
                bytes.extend_from_slice(tail);
                Message::binary(bytes)
            }
        }
    }
}

/// Alice sends in her chat with Bob and Bob gets it, whatever else either is sent meanwhile.
async fn still_served(alice: &mut Client, bob: &mut Client, chat: ChatId, n: u64) {
    let id = msg_id(n);
    alice
        .send(&ClientFrame::Send {
            chat_id: chat,
            client_msg_id: id,
            body: b"still served".to_vec(),
            attachment: None,
        })
        .await;
    loop {
        if let ServerFrame::Ack { client_msg_id, .. } = alice.recv().await
            && client_msg_id == id
        {
            break;
        }
    }
    loop {
        if let ServerFrame::Message(message) = bob.recv().await
            && message.client_msg_id == id
        {
            break;
        }
    }
}

/// Feeds `inputs` to a fresh connection, then closes it and reads to the end: the server
/// must have read every input by the time its Close arrives, and must end the connection
/// with a Close (a session that panicked would drop it without one).
async fn feed(
    endpoint: &Endpoint,
    sign_up_as: Option<String>,
    inputs: &[Input],
) -> Result<(), String> {
    let mut mallory = Client::connect(endpoint).await;
    if let Some(name) = sign_up_as {
        let welcome = mallory.register(&name, &key(&name)).await;
        if !matches!(welcome, ServerFrame::Welcome { .. }) {
            return Err(format!("signing up {name}: {welcome:?}"));
        }
    }
    let SplitSocket {
        writer: mut sink,
        reader: mut stream,
    } = mallory.into_split();
    for input in inputs {
        // The session may legitimately have closed already (too many malformed frames,
        // Logout, an unsupported version): then the rest is simply not delivered.
        if sink.send(input.message()).await.is_err() {
            break;
        }
    }
    let _ = sink.send(Message::Close(None)).await;
    let ending = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(next) = stream.next().await {
            match next {
                Ok(Message::Close(_)) => return Ok(()),
                Ok(_) => {}
                Err(error) => return Err(format!("the connection failed: {error}")),
            }
        }
        Err("the connection ended without a Close".to_owned())
    });
    ending
        .await
        .map_err(|_| "the session never ended".to_owned())?
}

#[test]
fn arbitrary_input_never_panics_a_session_and_others_are_served_throughout() {
    let panicked = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&panicked);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some(SERVER_THREADS) {
            flag.store(true, Ordering::SeqCst);
        }
        previous(info);
    }));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(SERVER_THREADS)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(TestServer::start());
    let endpoint = server.endpoint();
    let pair = runtime.block_on(async {
        let (mut alice, _, _) = server.signed_up("alice").await;
        let (mut bob, _, _) = server.signed_up("bob").await;
        let chat = alice.direct("bob").await.id;
        let _pushed = bob.recv().await;
        (alice, bob, chat)
    });
    let pair = RefCell::new(pair);
    let cases = Cell::new(0u64);

    let mut runner = TestRunner::new(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = (any::<bool>(), prop::collection::vec(input(), 1..24));
    let outcome = runner.run(&strategy, |(signed_in, inputs)| {
        let case = cases.get() + 1;
        cases.set(case);
        let name = signed_in.then(|| format!("mallory{case}"));
        let mut pair = pair.borrow_mut();
        let (alice, bob, chat) = &mut *pair;
        runtime.block_on(async {
            feed(&endpoint, name, &inputs)
                .await
                .map_err(TestCaseError::fail)?;
            still_served(alice, bob, *chat, case).await;
            Ok(())
        })
    });
    assert!(
        !panicked.load(Ordering::SeqCst),
        "a server thread panicked (see above)"
    );
    outcome.unwrap();
    drop(pair);
    runtime.block_on(server.stop());
}
