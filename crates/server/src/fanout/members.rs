//! Who is in each chat, cached, since every message needs that list.
//!
//! A single process commits every change of a chat's members itself, and sets the list it
//! committed: a list it caches stays right — once that session runs again after its commit.
//! A message committed just after the change may be fanned out before that; every append
//! says the line of its chat's last change of members, and a list cached as of an older head
//! is read again for it (`Gateway::members_as_of`). On a cluster another process may change the
//! members, and this one hears of it only while it follows the chat (the lines the change
//! wrote, delivered in order with the messages, and the pushes to its accounts). So there a
//! chat's list is kept only from when this process starts to follow the chat
//! ([`MemberLists::follow`]) until it lets go of it ([`MemberLists::release`]): a list kept past
//! the following would go stale with no one to correct it, and a removed member would get the
//! chat's messages once it was followed again.
//!
//! A list is read from storage with no lock held, so a read may end after the chat was let
//! go of, followed again, or changed by a line that found no list to correct. Each read
//! carries the [`Ticket`] taken before it, and what it read is kept only if none of that
//! happened meanwhile (it is still handed to the one delivery that asked for it).
//!
//! Lists of one chat also reach the cache out of order: two changes committed together (one
//! group commit, or two processes of a cluster) are pushed in either order, and a push from
//! another process may come after this one learned a later change from the chat's lines. So
//! each list says the chat's head it reflects ([`ChatMembers::as_of`]), and an older one never
//! replaces a newer one: a member added by the later change would lose every message after
//! it, and one removed by it would go on getting them.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use merpati_protocol::{ChatId, Seq, UserId};

use super::{read, write};
use crate::storage::MembersAt;

/// A chat's members, each with the chat's head when they joined. A message at or below that
/// was sent before they were in the chat, end-to-end encrypted for the members of the time,
/// and is not theirs to read (as `Sync` and the pages serve it): however late its fan-out
/// runs — after the member was added, or read back on a cluster's catch-up — it does not
/// reach them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ChatMembers {
    ids: Box<[UserId]>,
    /// Each member's head when joined, in the order of `ids`.
    joined: Box<[Seq]>,
    as_of: Seq,
}

impl ChatMembers {
    /// The members as storage read them.
    pub(crate) fn read(at: MembersAt) -> ChatMembers {
        ChatMembers::new(at.members, at.head)
    }

    /// The members `(id, the chat's head when they joined)` when the chat's head was `as_of`.
    pub(crate) fn new(members: impl IntoIterator<Item = (UserId, Seq)>, as_of: Seq) -> ChatMembers {
        let (ids, joined): (Vec<UserId>, Vec<Seq>) = members.into_iter().unzip();
        ChatMembers {
            ids: ids.into(),
            joined: joined.into(),
            as_of,
        }
    }

    /// The chat's head this list reflects: every change of the members up to it is in the
    /// list, none after it.
    pub(crate) fn as_of(&self) -> Seq {
        self.as_of
    }

    /// Every member: who sees what is not a message (receipts, typing, presence).
    pub(crate) fn ids(&self) -> &[UserId] {
        &self.ids
    }

    pub(crate) fn contains(&self, user: UserId) -> bool {
        self.ids.contains(&user)
    }

    /// The members a message of sequence number `seq` goes to: those who joined before it.
    pub(crate) fn readers_of(&self, seq: Seq) -> Cow<'_, [UserId]> {
        if self.joined.iter().all(|joined| *joined < seq) {
            return Cow::Borrowed(&self.ids);
        }
        Cow::Owned(
            self.pairs()
                .filter(|(_, joined)| *joined < seq)
                .map(|(id, _)| id)
                .collect(),
        )
    }

    /// Each member with the chat's head when they joined.
    fn pairs(&self) -> impl Iterator<Item = (UserId, Seq)> + '_ {
        self.ids.iter().copied().zip(self.joined.iter().copied())
    }

    /// The members `keep` keeps, as of the same head.
    pub(crate) fn keeping(&self, keep: impl Fn(UserId) -> bool) -> ChatMembers {
        ChatMembers::new(self.pairs().filter(|(id, _)| keep(*id)), self.as_of)
    }

    /// The members after the line `line` said `user` left.
    pub(crate) fn without(&self, user: UserId, line: Seq) -> ChatMembers {
        ChatMembers {
            as_of: line,
            ..self.keeping(|id| id != user)
        }
    }

    /// The members after the line `line` said `user` joined (when the head was the one
    /// before it).
    pub(crate) fn with(&self, user: UserId, line: Seq) -> ChatMembers {
        let others = self.pairs().filter(|(id, _)| *id != user);
        let joined = Seq(line.0.saturating_sub(1));
        ChatMembers::new(others.chain([(user, joined)]), line)
    }
}

/// The most chats whose member lists are cached; past it the cache starts over.
const CACHED_CHATS: usize = 100_000;

/// The member lists of chats.
#[derive(Debug, Default)]
pub(crate) struct MemberLists {
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    lists: HashMap<ChatId, Arc<ChatMembers>>,
    /// On a cluster, the chats followed here — the only ones whose lists are kept — each
    /// with the mark it was given when it was last followed or forgotten; `None` in a single
    /// process.
    followed: Option<HashMap<ChatId, u64>>,
    /// The last mark given.
    last_mark: u64,
}

/// What a list read from storage is kept against: the chat's mark when the read began
/// (`None`: on a cluster, the chat was not followed here).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(Option<u64>);

impl MemberLists {
    /// Lists for a process on a cluster: kept only for the chats it follows.
    pub(crate) fn on_a_cluster() -> MemberLists {
        let state = State {
            followed: Some(HashMap::new()),
            ..State::default()
        };
        MemberLists {
            state: RwLock::new(state),
        }
    }

    /// The cached list of a chat.
    pub(crate) fn cached(&self, chat: ChatId) -> Option<Arc<ChatMembers>> {
        read(&self.state).lists.get(&chat).cloned()
    }

    /// What a read of `chat`'s members from storage, beginning now, is kept against.
    pub(crate) fn ticket(&self, chat: ChatId) -> Ticket {
        let state = read(&self.state);
        Ticket(state.followed.as_ref().and_then(|f| f.get(&chat).copied()))
    }

    /// Records a chat's members as just committed or learned, replacing what was cached
    /// unless that is newer (on a cluster, only if the chat is followed here).
    pub(crate) fn set(&self, chat: ChatId, members: ChatMembers) {
        let mut state = write(&self.state);
        let older = state
            .lists
            .get(&chat)
            .is_some_and(|cached| cached.as_of > members.as_of);
        if state.keeps(chat) && !older {
            state.insert(chat, Arc::new(members));
        }
    }

    /// Caches a list read from storage with `ticket`, unless one as fresh was set meanwhile
    /// (a list read before a membership change must not overwrite the list written after
    /// it), or, on a cluster, the chat was let go of, followed again or forgotten since the
    /// ticket was taken. The fresher of the two to deliver to either way: a list read because
    /// the cached one was older than a change (`Gateway::members_as_of`) replaces it.
    pub(crate) fn remember(
        &self,
        chat: ChatId,
        members: ChatMembers,
        ticket: Ticket,
    ) -> Arc<ChatMembers> {
        let mut state = write(&self.state);
        let current = match &state.followed {
            None => true,
            Some(followed) => ticket.0.is_some() && followed.get(&chat).copied() == ticket.0,
        };
        if let Some(cached) = state.lists.get(&chat)
            && cached.as_of >= members.as_of
        {
            return Arc::clone(cached);
        }
        let members = Arc::new(members);
        if current {
            state.insert(chat, Arc::clone(&members));
        }
        members
    }

    /// Forgets a chat's list, and voids the reads of it begun before: the next delivery
    /// reads it from storage.
    pub(crate) fn forget(&self, chat: ChatId) {
        let mut state = write(&self.state);
        state.lists.remove(&chat);
        if state
            .followed
            .as_ref()
            .is_some_and(|f| f.contains_key(&chat))
        {
            state.mark(chat);
        }
    }

    /// This process starts to follow `chat` (on a cluster): its list is read afresh from
    /// storage, and kept from then on.
    pub(crate) fn follow(&self, chat: ChatId) {
        let mut state = write(&self.state);
        if state.followed.is_some() {
            state.lists.remove(&chat);
            state.mark(chat);
        }
    }

    /// This process follows `chat` no more (on a cluster): it would not hear of the chat's
    /// changes from now on, so its list is let go of too.
    pub(crate) fn release(&self, chat: ChatId) {
        let mut state = write(&self.state);
        if let Some(followed) = &mut state.followed {
            followed.remove(&chat);
            state.lists.remove(&chat);
        }
    }
}

impl State {
    /// Whether `chat`'s list may be kept.
    fn keeps(&self, chat: ChatId) -> bool {
        self.followed.as_ref().is_none_or(|f| f.contains_key(&chat))
    }

    fn insert(&mut self, chat: ChatId, members: Arc<ChatMembers>) {
        if self.lists.len() >= CACHED_CHATS {
            self.lists.clear();
        }
        self.lists.insert(chat, members);
    }

    /// Gives `chat` (followed here) a new mark, which voids every ticket taken before.
    fn mark(&mut self, chat: ChatId) {
        self.last_mark += 1;
        let mark = self.last_mark;
        if let Some(followed) = &mut self.followed {
            followed.insert(chat, mark);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAT: ChatId = ChatId(1);

    fn ids(list: &ChatMembers) -> Vec<u64> {
        list.ids().iter().map(|user| user.0).collect()
    }

    /// Members who were all there from the chat's start, as of its first message.
    fn members(ids: &[u64]) -> ChatMembers {
        ChatMembers::new(ids.iter().map(|id| (UserId(*id), Seq(0))), Seq(1))
    }

    #[test]
    fn a_message_from_before_a_member_joined_does_not_go_to_them() {
        // 3 joined when the head was 11: the line saying so is 12.
        let chat = members(&[1, 2]).with(UserId(3), Seq(12));
        assert_eq!(chat.ids(), [UserId(1), UserId(2), UserId(3)]);
        assert_eq!(*chat.readers_of(Seq(11)), [UserId(1), UserId(2)]);
        assert_eq!(*chat.readers_of(Seq(12)), [UserId(1), UserId(2), UserId(3)]);
        assert_eq!(ids(&chat.without(UserId(1), Seq(13))), [2, 3]);
        // Added again later: the later joining counts.
        let again = chat.with(UserId(3), Seq(41));
        assert_eq!(*again.readers_of(Seq(20)), [UserId(1), UserId(2)]);
    }

    #[test]
    fn a_list_older_than_the_one_cached_does_not_replace_it() {
        for lists in [MemberLists::default(), MemberLists::on_a_cluster()] {
            lists.follow(CHAT);
            let before = members(&[1, 2]);
            // Two changes committed together: 3 added (line 5), then 4 (line 6)...
            let three = before.with(UserId(3), Seq(5));
            let four = three.with(UserId(4), Seq(6));
            // ...set in the opposite order.
            lists.set(CHAT, four);
            lists.set(CHAT, three.clone());
            assert_eq!(
                lists.cached(CHAT).as_deref().map(ids),
                Some(vec![1, 2, 3, 4])
            );
            // 2 removed (line 7), then an older list pushed again.
            let removed = lists
                .cached(CHAT)
                .map(|list| list.without(UserId(2), Seq(7)));
            lists.set(CHAT, removed.expect("a list"));
            lists.set(CHAT, three);
            assert_eq!(lists.cached(CHAT).as_deref().map(ids), Some(vec![1, 3, 4]));
        }
    }

    #[test]
    fn a_stale_member_list_does_not_replace_a_fresh_one() {
        let lists = MemberLists::default();
        let ticket = lists.ticket(CHAT);
        lists.set(CHAT, members(&[1, 2, 3]));
        let kept = lists.remember(CHAT, members(&[1, 2]), ticket);
        assert_eq!(ids(&kept), [1, 2, 3]);
    }

    #[test]
    fn on_a_cluster_a_list_is_kept_only_while_its_chat_is_followed() {
        let lists = MemberLists::on_a_cluster();
        lists.set(CHAT, members(&[1]));
        let read = lists.remember(CHAT, members(&[1]), lists.ticket(CHAT));
        assert_eq!(ids(&read), [1], "handed to the delivery that read it");
        assert_eq!(lists.cached(CHAT), None, "not followed: nothing kept");

        lists.follow(CHAT);
        lists.remember(CHAT, members(&[1, 2]), lists.ticket(CHAT));
        assert_eq!(lists.cached(CHAT).as_deref().map(ids), Some(vec![1, 2]));
        lists.release(CHAT);
        assert_eq!(lists.cached(CHAT), None, "let go of with the chat");
        lists.set(CHAT, members(&[1]));
        assert_eq!(lists.cached(CHAT), None);
    }

    #[test]
    fn a_read_begun_before_the_chat_was_let_go_of_or_forgotten_is_not_kept() {
        let lists = MemberLists::on_a_cluster();
        lists.follow(CHAT);
        // Let go of and followed again while the read was under way.
        let ticket = lists.ticket(CHAT);
        lists.release(CHAT);
        lists.follow(CHAT);
        lists.remember(CHAT, members(&[1, 3]), ticket);
        assert_eq!(lists.cached(CHAT), None);
        // A change line found no list to correct while the read was under way.
        let ticket = lists.ticket(CHAT);
        lists.forget(CHAT);
        lists.remember(CHAT, members(&[1, 3]), ticket);
        assert_eq!(lists.cached(CHAT), None);
        // A read begun after both is kept.
        lists.remember(CHAT, members(&[1]), lists.ticket(CHAT));
        assert_eq!(lists.cached(CHAT).as_deref().map(ids), Some(vec![1]));
    }
}
