//! Messages: appending (queued, so that a session's sends commit in the order it made them)
//! and reading pages forwards and backwards, on either backend.

use futures_util::future::Either;
use merpati_protocol::{ChatId, Seq, UserId};
use rusqlite::Connection;

use super::postgres::{self, Tx, transaction};
use super::writer::Work;
use super::{AppendFence, Appended, Backend, NewMessage, Page, Queued, Storage, no_such_chat, sql};
use crate::Error;

impl Storage {
    /// Appends a message to a chat the sender belongs to, idempotently on `client_msg_id`,
    /// doing what it `refers` to in the same transaction (`sql::messages::append`); a resend
    /// of the sender's stored message is found whatever changed since, and a message not
    /// stored before is refused if `if_new` says so. Returns once the append is queued
    /// (waiting only for room in the writer's queue); the returned future completes once it
    /// is committed. Appends queued one after another to a chat commit in that order, and
    /// once one of a connection's fails, its later ones fail too (`fence`).
    pub(crate) fn queue_append(
        &self,
        chat: ChatId,
        message: NewMessage,
        fence: AppendFence,
    ) -> impl Future<Output = Result<Queued<Appended>, Error>> {
        match &self.backend {
            // `sql::messages::append` refuses only before it writes (the quota, membership,
            // blocking, a clashing id, the deleted message, the upload).
            Backend::Sqlite(sqlite) => Either::Left(sqlite.queue_job(Work::append(
                move |conn, now| sql::messages::append(conn, chat, message.outgoing(), now),
                fence,
            ))),
            Backend::Postgres(pg) => Either::Right(std::future::ready(Ok(
                pg.queue_append(chat, message, fence)
            ))),
        }
    }

    /// Messages after `after`, oldest first, that `reader` may read (a member who is not:
    /// `NoSuchChat`).
    pub(crate) fn read_after(
        &self,
        chat: ChatId,
        reader: Reader,
        after: Seq,
        limit: u32,
    ) -> impl Future<Output = Result<Page, Error>> {
        match &self.backend {
            Backend::Sqlite(sqlite) => Either::Left(sqlite.read(move |conn| {
                let floor = floor_of(conn, chat, reader)?;
                sql::messages::read_after(conn, chat, floor, after, limit)
            })),
            Backend::Postgres(pg) => Either::Right(transaction!(pg, false, |tx, _now| {
                let floor = floor_in(&tx, chat, reader).await?;
                postgres::messages::read_after(&tx, chat, floor, after, limit).await
            })),
        }
    }

    /// The newest `limit` messages before `before` that `reader` may read, oldest first.
    pub(crate) fn read_before(
        &self,
        chat: ChatId,
        reader: Reader,
        before: Seq,
        limit: u32,
    ) -> impl Future<Output = Result<Page, Error>> {
        match &self.backend {
            Backend::Sqlite(sqlite) => Either::Left(sqlite.read(move |conn| {
                let floor = floor_of(conn, chat, reader)?;
                sql::messages::read_before(conn, chat, floor, before, limit)
            })),
            Backend::Postgres(pg) => Either::Right(transaction!(pg, false, |tx, _now| {
                let floor = floor_in(&tx, chat, reader).await?;
                postgres::messages::read_before(&tx, chat, floor, before, limit).await
            })),
        }
    }
}

/// Who reads a chat's messages, and so from where. A member reads what came after they
/// joined (the chat's head then): what was said before was end-to-end encrypted for the
/// members of the time, so a later one could open none of it, and would only learn its
/// sizes and times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reader {
    /// A member, checked here (not one: `NoSuchChat`).
    Member(UserId),
    /// One the caller checked, reading after `floor`: a member's sync, which read the chat
    /// with its members (`Seq(0)`: the server itself, filling a gap for those online).
    Checked { floor: Seq },
}

/// Where `reader` reads `chat` from, refusing a member who is not one.
fn floor_of(conn: &Connection, chat: ChatId, reader: Reader) -> Result<Seq, Error> {
    match reader {
        Reader::Member(account) => {
            sql::chats::joined_at(conn, chat, account)?.ok_or_else(|| no_such_chat(chat))
        }
        Reader::Checked { floor } => Ok(floor),
    }
}

/// [`floor_of`] on PostgreSQL.
async fn floor_in(tx: &Tx<'_>, chat: ChatId, reader: Reader) -> Result<Seq, Error> {
    match reader {
        Reader::Member(account) => postgres::chats::joined_at(tx, chat, account)
            .await?
            .ok_or_else(|| no_such_chat(chat)),
        Reader::Checked { floor } => Ok(floor),
    }
}
