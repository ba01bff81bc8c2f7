//! Messages: appending (queued, so that a session's sends commit in the order it made them)
//! and reading pages forwards and backwards, on either backend.

use std::sync::Arc;

use futures_util::future::Either;
use merpati_protocol::{ChatId, ClientMsgId, Seq, UserId};
use rusqlite::Connection;

use super::postgres::{self, Tx, transaction};
use super::sql::messages::Outgoing;
use super::writer::Work;
use super::{Appended, Backend, IfNew, Page, Queued, Refers, Storage, no_such_chat, sql};
use crate::Error;

impl Storage {
    /// Appends a message to a chat the sender belongs to, idempotently on `client_msg_id`,
    /// doing what it `refers` to in the same transaction (`sql::messages::append`); a resend
    /// of the sender's stored message is found whatever changed since, and a message not
    /// stored before is refused if `if_new` says so. Returns once the append is queued
    /// (waiting only for room in the writer's queue); the returned future completes once it
    /// is committed. Appends queued one after another to a chat commit in that order.
    pub(crate) fn queue_append(
        &self,
        chat: ChatId,
        client_msg_id: ClientMsgId,
        sender: UserId,
        body: Arc<Vec<u8>>,
        refers: Refers,
        if_new: IfNew,
    ) -> impl Future<Output = Result<Queued<Appended>, Error>> {
        match &self.backend {
            // `sql::messages::append` refuses only before it writes (the quota, membership,
            // blocking, a clashing id, the deleted message, the upload).
            Backend::Sqlite(sqlite) => {
                Either::Left(sqlite.queue_job(Work::checked_first(move |conn, now| {
                    let message = Outgoing {
                        client_msg_id,
                        sender,
                        body: &body,
                        refers,
                        if_new,
                    };
                    sql::messages::append(conn, chat, message, now)
                })))
            }
            Backend::Postgres(pg) => Either::Right(std::future::ready(Ok(pg.queue_append(
                chat,
                client_msg_id,
                sender,
                body,
                refers,
                if_new,
            )))),
        }
    }

    /// Messages after `after`, oldest first, for a member of the chat (else `NoSuchChat`).
    pub(crate) fn read_after(
        &self,
        chat: ChatId,
        reader: Option<UserId>,
        after: Seq,
        limit: u32,
    ) -> impl Future<Output = Result<Page, Error>> {
        match &self.backend {
            Backend::Sqlite(sqlite) => Either::Left(sqlite.read(move |conn| {
                check_member(conn, chat, reader)?;
                sql::messages::read_after(conn, chat, after, limit)
            })),
            Backend::Postgres(pg) => Either::Right(transaction!(pg, false, |tx, _now| {
                check_member_in(&tx, chat, reader).await?;
                postgres::messages::read_after(&tx, chat, after, limit).await
            })),
        }
    }

    /// The newest `limit` messages before `before`, oldest first, for a member of the chat.
    pub(crate) fn read_before(
        &self,
        chat: ChatId,
        reader: Option<UserId>,
        before: Seq,
        limit: u32,
    ) -> impl Future<Output = Result<Page, Error>> {
        match &self.backend {
            Backend::Sqlite(sqlite) => Either::Left(sqlite.read(move |conn| {
                check_member(conn, chat, reader)?;
                sql::messages::read_before(conn, chat, before, limit)
            })),
            Backend::Postgres(pg) => Either::Right(transaction!(pg, false, |tx, _now| {
                check_member_in(&tx, chat, reader).await?;
                postgres::messages::read_before(&tx, chat, before, limit).await
            })),
        }
    }
}

/// Refuses a reader who is not a member; `None` skips the check (the caller has checked).
fn check_member(conn: &Connection, chat: ChatId, reader: Option<UserId>) -> Result<(), Error> {
    match reader {
        Some(reader) if !sql::chats::is_member(conn, chat, reader)? => Err(no_such_chat(chat)),
        _ => Ok(()),
    }
}

/// [`check_member`] on PostgreSQL.
async fn check_member_in(tx: &Tx<'_>, chat: ChatId, reader: Option<UserId>) -> Result<(), Error> {
    match reader {
        Some(reader) if !postgres::chats::is_member(tx, chat, reader).await? => {
            Err(no_such_chat(chat))
        }
        _ => Ok(()),
    }
}
