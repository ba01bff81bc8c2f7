//! End-to-end encryption and membership, driven by a real engine: the people, keys and chats
//! the server describes, alice's engine signed in and online, and a chat view mounted on it.

use std::sync::{Arc, Mutex, PoisonError};

use leptos::mount::mount_to;
use leptos::prelude::*;
use merpati_app::engine_view::{key_change_words, member_rows, message_rows};
use merpati_core::Engine;
use merpati_core::crypto::{AccountKey, KdfParams};
use merpati_page::views::chat_view::ChatView;
use merpati_protocol::keys::{DeviceKey, DeviceKeys, UserKeys, device_keys_message};
use merpati_protocol::{
    ChatId, ChatInfo, ChatKind, ClientFrame, Epoch, Member, PROTOCOL_VERSION, Seq, ServerFrame,
    UserId, Username,
};
use web_sys::HtmlElement;

use crate::dom::container;

pub(crate) const ALICE: UserId = UserId(1);
pub(crate) const BOB: UserId = UserId(2);
pub(crate) const CICI: UserId = UserId(3);
pub(crate) const DIRECT: ChatId = ChatId(10);
pub(crate) const GROUP: ChatId = ChatId(20);
pub(crate) const CREATED_MS: u64 = 1_764_000_000_000;

fn name(text: &str) -> Username {
    Username::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"))
}

pub(crate) fn person(id: UserId, username: &str) -> Member {
    Member {
        id,
        username: name(username),
    }
}

pub(crate) fn account_key(username: &str, passphrase: &str) -> AccountKey {
    AccountKey::derive(&name(username), passphrase, None, KdfParams::FAST_INSECURE)
        .unwrap_or_else(|error| panic!("key: {error}"))
}

pub(crate) fn public_key(key: &AccountKey) -> [u8; 32] {
    *key.auth_key().public_key().as_bytes()
}

/// What the key directory says about someone: their account key, and one device it signed.
pub(crate) fn user_keys(user: UserId, key: &AccountKey) -> UserKeys {
    let device = DeviceKey([user.0 as u8; 32]);
    let ed25519 = public_key(&account_key("device", "device passphrase"));
    UserKeys {
        user,
        account_key: public_key(key),
        devices: vec![DeviceKeys {
            user,
            device,
            ed25519,
            signature: key
                .auth_key()
                .sign(&device_keys_message(user, &device, &ed25519))
                .to_bytes()
                .to_vec(),
        }],
    }
}

/// A chat as the server describes it; a group's first member created it and is its admin.
pub(crate) fn chat_info(id: ChatId, kind: ChatKind, members: Vec<Member>) -> ChatInfo {
    let admins = match kind {
        ChatKind::Group => members.iter().take(1).map(|member| member.id).collect(),
        ChatKind::Direct => Vec::new(),
    };
    ChatInfo {
        id,
        kind,
        title: if kind == ChatKind::Group {
            "Arisan".to_owned()
        } else {
            String::new()
        },
        members,
        head: Seq(0),
        read: Seq(0),
        created_ms: CREATED_MS,
        admins,
        receipts: Vec::new(),
    }
}

pub(crate) fn frames(engine: &mut Engine) -> Vec<ClientFrame> {
    engine.take_step().frames
}

/// An engine signed in as alice with her passphrase, online, its device published.
pub(crate) fn alice_online() -> Engine {
    let mut engine = Engine::new();
    engine.sign_in(
        name("alice"),
        &account_key("alice", "correct horse battery"),
    );
    engine.on_connected();
    engine.handle_frame(ServerFrame::Challenge {
        version: PROTOCOL_VERSION,
        nonce: [1; 32],
        epoch: Epoch(1),
    });
    engine.handle_frame(ServerFrame::Welcome {
        me: person(ALICE, "alice"),
        session_token: Some([2; 32]),
    });
    engine.handle_frame(ServerFrame::KeysPublished { one_time_keys: 50 });
    engine.handle_frame(ServerFrame::SyncDone);
    // Signed in with the passphrase: the key backup (its pins) is read before any keys are
    // asked for. It is empty.
    let fetch = frames(&mut engine)
        .into_iter()
        .find_map(|frame| match frame {
            ClientFrame::FetchBackup { request, .. } => Some(request),
            _ => None,
        })
        .expect("the backup is read");
    engine.handle_frame(ServerFrame::Backup {
        request: fetch,
        entries: Vec::new(),
        more: false,
    });
    let _ = engine.take_step();
    engine
}

/// Answers the engine's pending key query (it must have one) with `keys`.
pub(crate) fn answer_key_query(engine: &mut Engine, keys: Vec<UserKeys>) {
    let request = frames(engine)
        .into_iter()
        .find_map(|frame| match frame {
            ClientFrame::QueryKeys { request, .. } => Some(request),
            _ => None,
        })
        .expect("the engine asks for the keys");
    engine.handle_frame(ServerFrame::Keys {
        request,
        users: keys,
    });
}

/// alice's engine with a 1:1 chat with bob, whose keys the directory gave as `bob_key`.
pub(crate) fn alice_with_bob(bob_key: &AccountKey) -> Engine {
    let mut engine = alice_online();
    engine.handle_frame(ServerFrame::Chat {
        request: None,
        chat: chat_info(
            DIRECT,
            ChatKind::Direct,
            vec![person(ALICE, "alice"), person(BOB, "bob")],
        ),
    });
    answer_key_query(&mut engine, vec![user_keys(BOB, bob_key)]);
    engine
}

/// Mounts a chat view of `chat` as alice's engine sees it; the engine and a version signal
/// (bumped after every change to it) stay with the test.
pub(crate) fn mounted_chat_view(
    engine: Engine,
    chat: ChatId,
) -> (HtmlElement, Arc<Mutex<Engine>>, RwSignal<u64>, impl Sized) {
    let engine = Arc::new(Mutex::new(engine));
    let version = RwSignal::new(0u64);
    let root = container();
    let shared = engine.clone();
    let handle = mount_to(root.clone(), move || {
        // A view of the engine, read again whenever the test bumps `version`.
        macro_rules! read {
            ($query:expr) => {{
                let engine = shared.clone();
                Signal::derive(move || {
                    version.track();
                    $query(
                        &*engine.lock().unwrap_or_else(PoisonError::into_inner),
                        chat,
                    )
                })
            }};
        }
        let title = read!(|engine: &Engine, chat| engine.chat_title(chat).unwrap_or_default());
        let rows = read!(message_rows);
        let kind = read!(|engine: &Engine, chat| engine.chat(chat).map(|info| info.kind));
        let safety_number = read!(|engine: &Engine, chat| engine.safety_number(chat));
        let key_change = read!(key_change_words);
        let members = read!(member_rows);
        let is_member = read!(|engine: &Engine, chat| engine.is_member(chat));
        let am_admin = read!(|engine: &Engine, chat| engine.am_admin(chat));
        let act = {
            let engine = shared.clone();
            move |f: Box<dyn Fn(&mut Engine) + Send + Sync>| {
                let engine = engine.clone();
                Callback::new(move |()| {
                    f(&mut engine.lock().unwrap_or_else(PoisonError::into_inner));
                    version.update(|version| *version += 1);
                })
            }
        };
        let on_key_change_ok = act(Box::new(move |engine| engine.acknowledge_key_change(chat)));
        let on_leave = act(Box::new(move |engine| {
            engine.remove_member(chat, ALICE).expect("online");
        }));
        let remover = shared.clone();
        let on_remove_member = Callback::new(move |user: u64| {
            remover
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove_member(chat, UserId(user))
                .expect("online");
        });
        view! {
            <ChatView
                key=Signal::derive(move || chat.0)
                title
                rows
                on_send=Callback::new(|_: String| Ok(()))
                on_reach_top=Callback::new(|()| {})
                on_retry=Callback::new(|_: String| {})
                on_back=Callback::new(|()| {})
                kind
                safety_number
                key_change
                on_key_change_ok
                members
                is_member
                on_remove_member
                on_leave
                am_admin
            />
        }
    });
    (root, engine, version, handle)
}

pub(crate) fn with_engine<R>(engine: &Arc<Mutex<Engine>>, f: impl FnOnce(&mut Engine) -> R) -> R {
    f(&mut engine.lock().unwrap_or_else(PoisonError::into_inner))
}
