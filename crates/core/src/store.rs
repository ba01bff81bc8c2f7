//! The client's local store: what a device keeps so that it works before, and without, the
//! network.
//!
//! [`Store`] is a small domain-level trait: the engine hands the app a batch of
//! [`StoreWrite`]s, the app applies the batch in one transaction, and reads come back as plain
//! records. [`MemoryStore`] is the in-memory implementation used by native tests and the load
//! generator; the app implements the trait over IndexedDB, sealing every record. Both pass
//! the same suite, `store_suite` (test code: see the crate's layout). [`StoredState`] is what
//! the engine restores from, and [`StoredState::read`] the one way to read it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, PoisonError};

use merpati_protocol::{
    BlobId, ChatId, ChatInfo, ClientMsgId, Epoch, Member, MessageFrame, Seq, UserId,
};
use merpati_words::SkinTone;
use serde::{Deserialize, Serialize};

use crate::e2e::{CryptoRecord, CryptoRecordKey};
use crate::receipts::ReadAdvance;
use crate::search::SearchSegment;

/// Who is signed in on this browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    /// The account.
    pub me: Member,
    /// The token that resumes this browser's session without the passphrase.
    pub session_token: [u8; 32],
    /// The server storage epoch the stored sequence numbers belong to.
    pub epoch: Option<Epoch>,
    /// Lets another tab of this browser become a device of the account without asking for
    /// the passphrase (each open tab is its own end-to-end device).
    pub secrets: AccountSecrets,
}

/// The passphrase-derived keys a browser keeps (sealed like everything else) once signed in.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSecrets {
    /// The account key's secret half: vouches for new devices.
    pub account_key: [u8; 32],
    /// Seals the key backup.
    pub backup_key: [u8; 32],
}

impl std::fmt::Debug for AccountSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountSecrets(…)")
    }
}

/// A chat as the device keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatRecord {
    /// The chat as the server last described it.
    pub info: ChatInfo,
    /// The oldest sequence the device holds, with no gap up to `synced` (`Seq(0)`: none).
    pub floor: Seq,
    /// The newest sequence the device holds with no gap after `floor` (`Seq(0)`: none).
    pub synced: Seq,
    /// The delivery position this device last reported (`MarkDelivered`).
    pub delivered: Seq,
    /// The other members' read advances this device observed, with when (bounded; see
    /// [`crate::receipts`]). Their positions are in `info.receipts`.
    pub read_log: Vec<ReadAdvance>,
}

/// What the person typed in a chat's composer and has not sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftRecord {
    /// The chat.
    pub chat_id: ChatId,
    /// The text, as typed.
    pub text: String,
}

/// A message the person deleted on their own devices only ("delete for me").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HiddenRecord {
    /// Its chat.
    pub chat_id: ChatId,
    /// The message.
    pub client_msg_id: ClientMsgId,
}

/// Whether the others learn how far this account has read, and whether it is online.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacySettings {
    /// Share read receipts (off: the others see `delivered` only, and this account sees
    /// nobody's `read`).
    pub share_read_receipts: bool,
    /// Share presence (off: nobody sees this account online or when it was last seen, and it
    /// sees nobody's).
    pub share_presence: bool,
}

impl Default for PrivacySettings {
    /// Both shared, as the server assumes until told otherwise.
    fn default() -> Self {
        PrivacySettings {
            share_read_receipts: true,
            share_presence: true,
        }
    }
}

/// What the account chose: its privacy settings, and whom it blocks (the server's list, kept
/// so that a blocked person's chat refuses sending before the connection is back).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsRecord {
    /// The privacy settings.
    pub privacy: PrivacySettings,
    /// The accounts this account blocks.
    pub blocked: BTreeSet<UserId>,
}

/// What this browser chose for itself, never sent anywhere: whether to notify of new
/// messages and with their text, and whether the person declined the offer to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSettings {
    /// Notify of new messages in chats not on screen.
    pub notify: bool,
    /// Leave the message's text out of a notification.
    pub notify_hide_text: bool,
    /// "Not now" was said to the offer of notifications.
    pub notify_offer_declined: bool,
}

/// A stored message: exactly what the server sent.
pub type MessageRecord = MessageFrame;

pub use crate::outbox_record::OutboxRecord;

/// One change to the store. A batch of them is applied atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreWrite {
    /// Sets who is signed in.
    PutAccount(AccountRecord),
    /// Inserts or replaces a chat.
    PutChat(ChatRecord),
    /// Inserts messages; a message already stored at the same `(chat, seq)` is replaced.
    PutMessages(Vec<MessageRecord>),
    /// Empties the stored body of the message of `chat_id` named `client_msg_id`, wherever in
    /// the chat it is, keeping its place, sender and time — if `sender` sent it: a deletion
    /// for everyone counts only from the message's own sender. Nothing if no such message is
    /// stored. For a message deleted for everyone that is not loaded, which the engine knows
    /// by its id alone. Applied after the batch's other writes, so a deletion is final: the
    /// same message put again in the batch is emptied too.
    EraseMessage {
        /// The message's chat.
        chat_id: ChatId,
        /// The message.
        client_msg_id: ClientMsgId,
        /// Who sent the deletion.
        sender: UserId,
    },
    /// Deletes every stored message of every chat: the server's storage epoch changed, and
    /// the sequence numbers they are stored under name other messages there, or none.
    /// Applied before the batch's messages are put, so those stay.
    RemoveAllMessages,
    /// Adds a message to the outbox.
    PutOutbox(OutboxRecord),
    /// Removes a message from the outbox (acknowledged, or given up).
    RemoveOutbox(ClientMsgId),
    /// Lets go of the ciphertext the shell keeps to upload a file (`BlobId`): the message
    /// carrying it left the outbox, so nothing will upload it again. A store that keeps no
    /// uploads has nothing to do.
    RemoveUpload(BlobId),
    /// Inserts or replaces a piece of the device's end-to-end key state.
    PutCrypto(CryptoRecord),
    /// Deletes a piece of the device's end-to-end key state by its key.
    RemoveCrypto(CryptoRecordKey),
    /// Inserts or replaces a chat's draft.
    PutDraft(DraftRecord),
    /// Deletes a chat's draft (sent, or emptied).
    RemoveDraft(ChatId),
    /// Remembers a message deleted for this account only.
    HideMessage(HiddenRecord),
    /// Replaces the account's settings.
    PutSettings(SettingsRecord),
    /// Notes whether a change of the privacy settings made here waits for the server's
    /// answer: until it comes, this browser's choice stands against the account's.
    PutPrivacyPending(bool),
    /// Replaces this browser's own settings.
    PutDeviceSettings(DeviceSettings),
    /// Replaces this browser's recently chosen emoji, most recent first.
    PutRecentEmoji(Vec<String>),
    /// Replaces the skin tone this browser's emoji picker shows.
    PutSkinTone(SkinTone),
    /// Replaces the chats this browser does not notify of.
    PutMutedChats(Vec<ChatId>),
    /// Stores a segment of the local search index.
    PutSearchSegment(SearchSegment),
    /// Deletes segments of the local search index by id (rewritten as one).
    RemoveSearchSegments(Vec<u64>),
}

/// A device's local store.
///
/// Futures are not `Send`: the browser's IndexedDB handles are not. Methods take `&self`;
/// implementations synchronise inside.
#[allow(async_fn_in_trait)]
pub trait Store {
    /// What can go wrong reading or writing.
    type Error: std::error::Error + 'static;

    /// Applies a batch of writes atomically: all of them or none.
    async fn apply(&self, batch: Vec<StoreWrite>) -> Result<(), Self::Error>;

    /// Who is signed in, if anyone.
    async fn account(&self) -> Result<Option<AccountRecord>, Self::Error>;

    /// Every stored chat, in no particular order.
    async fn chats(&self) -> Result<Vec<ChatRecord>, Self::Error>;

    /// Up to `limit` messages of `chat` with a sequence below `before`: the newest such,
    /// returned oldest first.
    async fn messages_before(
        &self,
        chat: ChatId,
        before: Seq,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, Self::Error>;

    /// The outbox, in sending order.
    async fn outbox(&self) -> Result<Vec<OutboxRecord>, Self::Error>;

    /// Every piece of the device's end-to-end key state, in no particular order.
    async fn crypto(&self) -> Result<Vec<CryptoRecord>, Self::Error>;

    /// Every chat's draft, in no particular order.
    async fn drafts(&self) -> Result<Vec<DraftRecord>, Self::Error>;

    /// Every message deleted for this account only, in no particular order.
    async fn hidden(&self) -> Result<Vec<HiddenRecord>, Self::Error>;

    /// The account's settings, once any were stored.
    async fn settings(&self) -> Result<Option<SettingsRecord>, Self::Error>;

    /// Whether a privacy change made here waits for the server's answer (not until noted).
    async fn privacy_pending(&self) -> Result<bool, Self::Error>;

    /// This browser's own settings, once any were stored.
    async fn device_settings(&self) -> Result<Option<DeviceSettings>, Self::Error>;

    /// This browser's recently chosen emoji, most recent first (none until any was stored).
    async fn recent_emoji(&self) -> Result<Vec<String>, Self::Error>;

    /// The skin tone this browser's emoji picker shows (the default until one was stored).
    async fn skin_tone(&self) -> Result<SkinTone, Self::Error>;

    /// The chats this browser does not notify of (none until any was stored).
    async fn muted_chats(&self) -> Result<Vec<ChatId>, Self::Error>;

    /// Every segment of the local search index, in no particular order.
    async fn search_segments(&self) -> Result<Vec<SearchSegment>, Self::Error>;

    /// Deletes everything (signing out).
    async fn clear(&self) -> Result<(), Self::Error>;
}

/// A [`Store`] in memory: for native tests and the load generator.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<MemoryContents>,
}

#[derive(Debug, Default)]
struct MemoryContents {
    account: Option<AccountRecord>,
    chats: BTreeMap<ChatId, ChatRecord>,
    messages: BTreeMap<(ChatId, Seq), MessageRecord>,
    outbox: BTreeMap<ClientMsgId, OutboxRecord>,
    crypto: BTreeMap<CryptoRecordKey, Vec<u8>>,
    drafts: BTreeMap<ChatId, DraftRecord>,
    hidden: BTreeSet<HiddenRecord>,
    settings: Option<SettingsRecord>,
    privacy_pending: bool,
    device_settings: Option<DeviceSettings>,
    recent_emoji: Vec<String>,
    skin_tone: SkinTone,
    muted_chats: Vec<ChatId>,
    search: BTreeMap<u64, SearchSegment>,
}

/// [`MemoryStore`] cannot fail; its error type has no values.
#[derive(Debug, thiserror::Error)]
pub enum MemoryStoreError {}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn contents(&self) -> std::sync::MutexGuard<'_, MemoryContents> {
        // A panic while holding the lock leaves whole records behind (every write below is a
        // single map operation), so the contents are still consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store for MemoryStore {
    type Error = MemoryStoreError;

    async fn apply(&self, batch: Vec<StoreWrite>) -> Result<(), Self::Error> {
        let mut contents = self.contents();
        if batch
            .iter()
            .any(|write| matches!(write, StoreWrite::RemoveAllMessages))
        {
            contents.messages.clear();
        }
        let mut erased = Vec::new();
        for write in batch {
            match write {
                StoreWrite::PutAccount(account) => contents.account = Some(account),
                StoreWrite::PutChat(chat) => {
                    contents.chats.insert(chat.info.id, chat);
                }
                StoreWrite::PutMessages(messages) => {
                    for message in messages {
                        contents
                            .messages
                            .insert((message.chat_id, message.seq), message);
                    }
                }
                StoreWrite::EraseMessage {
                    chat_id,
                    client_msg_id,
                    sender,
                } => erased.push((chat_id, client_msg_id, sender)),
                // Done above, before any message of the batch.
                StoreWrite::RemoveAllMessages => {}
                StoreWrite::PutOutbox(entry) => {
                    contents.outbox.insert(entry.client_msg_id, entry);
                }
                StoreWrite::RemoveOutbox(id) => {
                    contents.outbox.remove(&id);
                }
                // Files' ciphertext is kept by the shell's store only.
                StoreWrite::RemoveUpload(_) => {}
                StoreWrite::PutCrypto(record) => {
                    contents.crypto.insert(record.key, record.value);
                }
                StoreWrite::RemoveCrypto(key) => {
                    contents.crypto.remove(&key);
                }
                StoreWrite::PutDraft(draft) => {
                    contents.drafts.insert(draft.chat_id, draft);
                }
                StoreWrite::RemoveDraft(chat) => {
                    contents.drafts.remove(&chat);
                }
                StoreWrite::HideMessage(hidden) => {
                    contents.hidden.insert(hidden);
                }
                StoreWrite::PutSettings(settings) => contents.settings = Some(settings),
                StoreWrite::PutPrivacyPending(pending) => contents.privacy_pending = pending,
                StoreWrite::PutDeviceSettings(settings) => {
                    contents.device_settings = Some(settings);
                }
                StoreWrite::PutRecentEmoji(emoji) => contents.recent_emoji = emoji,
                StoreWrite::PutSkinTone(tone) => contents.skin_tone = tone,
                StoreWrite::PutMutedChats(chats) => contents.muted_chats = chats,
                StoreWrite::PutSearchSegment(segment) => {
                    contents.search.insert(segment.id, segment);
                }
                StoreWrite::RemoveSearchSegments(ids) => {
                    for id in ids {
                        contents.search.remove(&id);
                    }
                }
            }
        }
        for (chat_id, client_msg_id, sender) in erased {
            for message in contents
                .messages
                .range_mut((chat_id, Seq(0))..=(chat_id, Seq(u64::MAX)))
                .map(|(_, message)| message)
                .filter(|message| {
                    message.client_msg_id == client_msg_id
                        && message.sender == sender
                        && !merpati_protocol::content::is_system_body(&message.body)
                })
            {
                message.body = Vec::new();
            }
        }
        Ok(())
    }

    async fn account(&self) -> Result<Option<AccountRecord>, Self::Error> {
        Ok(self.contents().account.clone())
    }

    async fn chats(&self) -> Result<Vec<ChatRecord>, Self::Error> {
        Ok(self.contents().chats.values().cloned().collect())
    }

    async fn messages_before(
        &self,
        chat: ChatId,
        before: Seq,
        limit: usize,
    ) -> Result<Vec<MessageRecord>, Self::Error> {
        let contents = self.contents();
        let mut page: Vec<MessageRecord> = contents
            .messages
            .range((chat, Seq(0))..(chat, before))
            .rev()
            .take(limit)
            .map(|(_, message)| message.clone())
            .collect();
        page.reverse();
        Ok(page)
    }

    async fn outbox(&self) -> Result<Vec<OutboxRecord>, Self::Error> {
        let mut entries: Vec<OutboxRecord> = self.contents().outbox.values().cloned().collect();
        crate::sorting::sort_by_key(&mut entries, |entry| entry.order);
        Ok(entries)
    }

    async fn crypto(&self) -> Result<Vec<CryptoRecord>, Self::Error> {
        Ok(self
            .contents()
            .crypto
            .iter()
            .map(|(key, value)| CryptoRecord {
                key: key.clone(),
                value: value.clone(),
            })
            .collect())
    }

    async fn drafts(&self) -> Result<Vec<DraftRecord>, Self::Error> {
        Ok(self.contents().drafts.values().cloned().collect())
    }

    async fn hidden(&self) -> Result<Vec<HiddenRecord>, Self::Error> {
        Ok(self.contents().hidden.iter().copied().collect())
    }

    async fn settings(&self) -> Result<Option<SettingsRecord>, Self::Error> {
        Ok(self.contents().settings.clone())
    }

    async fn privacy_pending(&self) -> Result<bool, Self::Error> {
        Ok(self.contents().privacy_pending)
    }

    async fn device_settings(&self) -> Result<Option<DeviceSettings>, Self::Error> {
        Ok(self.contents().device_settings)
    }

    async fn recent_emoji(&self) -> Result<Vec<String>, Self::Error> {
        Ok(self.contents().recent_emoji.clone())
    }

    async fn skin_tone(&self) -> Result<SkinTone, Self::Error> {
        Ok(self.contents().skin_tone)
    }

    async fn muted_chats(&self) -> Result<Vec<ChatId>, Self::Error> {
        Ok(self.contents().muted_chats.clone())
    }

    async fn search_segments(&self) -> Result<Vec<SearchSegment>, Self::Error> {
        Ok(self.contents().search.values().cloned().collect())
    }

    async fn clear(&self) -> Result<(), Self::Error> {
        *self.contents() = MemoryContents::default();
        Ok(())
    }
}

/// Everything the engine restores from (`Engine::restore`): what a device reads from its store
/// when it opens.
#[derive(Debug, Clone, Default)]
pub struct StoredState {
    /// Who is signed in, if anyone.
    pub account: Option<AccountRecord>,
    /// Every chat.
    pub chats: Vec<ChatRecord>,
    /// The newest stored messages of each chat (older ones are read as the person scrolls).
    pub messages: Vec<MessageRecord>,
    /// The outbox.
    pub outbox: Vec<OutboxRecord>,
    /// This device's end-to-end key state.
    pub crypto: Vec<CryptoRecord>,
    /// The messages deleted for this account only.
    pub hidden: Vec<HiddenRecord>,
    /// The account's settings.
    pub settings: Option<SettingsRecord>,
    /// Whether a privacy change made here waits for the server's answer.
    pub privacy_pending: bool,
    /// What this browser chose for itself.
    pub browser: BrowserChoices,
    /// The local search index's segments.
    pub search: Vec<SearchSegment>,
}

/// What this browser chose for itself, shared by its tabs and never sent: its settings, its
/// recently chosen emoji and skin tone, the chats it does not notify of, and what the person
/// typed and has not sent (drafts). A tab reads them when it opens, and again when another tab
/// says it changed them (`Engine::adopt_browser_choices`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrowserChoices {
    /// This browser's own settings.
    pub device_settings: Option<DeviceSettings>,
    /// This browser's recently chosen emoji, most recent first.
    pub recent_emoji: Vec<String>,
    /// The skin tone this browser's emoji picker shows.
    pub skin_tone: SkinTone,
    /// The chats this browser does not notify of.
    pub muted_chats: Vec<ChatId>,
    /// The drafts, a chat's each.
    pub drafts: Vec<DraftRecord>,
}

impl BrowserChoices {
    /// Reads them from a store.
    pub async fn read<S: Store>(store: &S) -> Result<BrowserChoices, S::Error> {
        Ok(BrowserChoices {
            device_settings: store.device_settings().await?,
            recent_emoji: store.recent_emoji().await?,
            skin_tone: store.skin_tone().await?,
            muted_chats: store.muted_chats().await?,
            drafts: store.drafts().await?,
        })
    }

    /// Whether `write` changes them: the other tabs of the browser are to read them again.
    pub fn changed_by(write: &StoreWrite) -> bool {
        matches!(
            write,
            StoreWrite::PutDeviceSettings(_)
                | StoreWrite::PutRecentEmoji(_)
                | StoreWrite::PutSkinTone(_)
                | StoreWrite::PutMutedChats(_)
                | StoreWrite::PutDraft(_)
                | StoreWrite::RemoveDraft(_)
        )
    }
}

/// The most messages of one chat read at start so that every unread one is counted: a chat
/// left unread for longer counts at least this many.
pub const UNREAD_READ_AT_START: usize = 1_000;

/// The most messages read at start beyond each chat's newest page, in all chats together:
/// every one is opened (decrypted) before the app shows anything, so an account with many
/// busy chats it never reads counts the first ones whole and the others from their page.
pub const UNREAD_READ_AT_START_IN_ALL: usize = 5_000;

impl StoredState {
    /// Reads it from a store, with the newest `page` messages of each chat — or, if more of
    /// a chat's messages are unread (up to [`UNREAD_READ_AT_START`], and
    /// [`UNREAD_READ_AT_START_IN_ALL`] beyond the pages in all), all of those, so that the chat
    /// list counts them.
    pub async fn read<S: Store>(store: &S, page: usize) -> Result<StoredState, S::Error> {
        let chats = store.chats().await?;
        let mut messages = Vec::new();
        let mut left = UNREAD_READ_AT_START_IN_ALL;
        for chat in &chats {
            let newest = chat.synced.max(chat.info.head);
            let unread = usize::try_from(newest.0.saturating_sub(chat.info.read.0))
                .unwrap_or(usize::MAX)
                .min(UNREAD_READ_AT_START);
            let beyond_page = unread.saturating_sub(page).min(left);
            left -= beyond_page;
            messages.extend(
                store
                    .messages_before(chat.info.id, Seq(u64::MAX), page + beyond_page)
                    .await?,
            );
        }
        Ok(StoredState {
            account: store.account().await?,
            chats,
            messages,
            outbox: store.outbox().await?,
            crypto: store.crypto().await?,
            hidden: store.hidden().await?,
            settings: store.settings().await?,
            privacy_pending: store.privacy_pending().await?,
            browser: BrowserChoices::read(store).await?,
            search: store.search_segments().await?,
        })
    }
}
