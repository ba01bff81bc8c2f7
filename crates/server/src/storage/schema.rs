//! The database schema and its migrations.
//!
//! Migrations are a numbered list applied in order; `PRAGMA user_version` records how many
//! have run, so opening an older database brings it up to date and opening a current one
//! changes nothing. Append new migrations; never edit one that has shipped.

use rusqlite::{Connection, OptionalExtension};

use crate::Error;

/// The migrations, in order: `MIGRATIONS[n]` takes `user_version` from `n` to `n + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: accounts, sessions, chats, members, messages, and the storage epoch.
    "
    CREATE TABLE meta (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        epoch INTEGER NOT NULL
    );
    CREATE TABLE accounts (
        id         INTEGER PRIMARY KEY,
        username   TEXT NOT NULL UNIQUE,
        public_key BLOB NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE sessions (
        token_hash BLOB PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts (id),
        created_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE chats (
        id         INTEGER PRIMARY KEY,
        kind       TEXT NOT NULL CHECK (kind IN ('direct', 'group')),
        title      TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        head_seq   INTEGER NOT NULL DEFAULT 0,
        direct_key TEXT UNIQUE
    );
    CREATE TABLE members (
        chat_id    INTEGER NOT NULL REFERENCES chats (id),
        account_id INTEGER NOT NULL REFERENCES accounts (id),
        read_seq   INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (chat_id, account_id)
    ) WITHOUT ROWID;
    CREATE INDEX members_by_account ON members (account_id, chat_id);
    CREATE TABLE messages (
        chat_id       INTEGER NOT NULL REFERENCES chats (id),
        seq           INTEGER NOT NULL,
        client_msg_id BLOB NOT NULL,
        sender        INTEGER NOT NULL REFERENCES accounts (id),
        sent_at_ms    INTEGER NOT NULL,
        body          BLOB NOT NULL,
        PRIMARY KEY (chat_id, seq),
        UNIQUE (chat_id, client_msg_id)
    );
    ",
    // 2: end-to-end encryption: the key directory (devices, their one-time and fallback
    // keys), to-device messages waiting for their device, and each account's key backup.
    // Everything here is a public key or ciphertext the server cannot open.
    "
    CREATE TABLE devices (
        device_key         BLOB PRIMARY KEY,
        account_id         INTEGER NOT NULL REFERENCES accounts (id),
        ed25519            BLOB NOT NULL,
        signature          BLOB NOT NULL,
        fallback_key       BLOB,
        fallback_signature BLOB,
        fallback_flag      INTEGER NOT NULL DEFAULT 1,
        created_ms         INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX devices_by_account ON devices (account_id, device_key);
    -- A rowid table, so that claims hand out the oldest key first.
    CREATE TABLE one_time_keys (
        id         INTEGER PRIMARY KEY,
        device_key BLOB NOT NULL REFERENCES devices (device_key),
        key        BLOB NOT NULL,
        fallback   INTEGER NOT NULL,
        signature  BLOB NOT NULL,
        UNIQUE (device_key, key)
    );
    CREATE INDEX one_time_keys_by_device ON one_time_keys (device_key, id);
    -- AUTOINCREMENT: an id is never reused, so a late ToDeviceDone cannot delete a newer
    -- message that happened to get the id of an old one.
    CREATE TABLE to_device (
        id                INTEGER PRIMARY KEY AUTOINCREMENT,
        recipient_account INTEGER NOT NULL REFERENCES accounts (id),
        recipient_device  BLOB NOT NULL REFERENCES devices (device_key),
        sender_account    INTEGER NOT NULL REFERENCES accounts (id),
        sender_device     BLOB NOT NULL,
        body              BLOB NOT NULL,
        created_ms        INTEGER NOT NULL
    );
    CREATE INDEX to_device_by_recipient ON to_device (recipient_device, id);
    CREATE TABLE backup (
        account_id INTEGER NOT NULL REFERENCES accounts (id),
        entry_id   BLOB NOT NULL,
        position   INTEGER NOT NULL,
        sealed     BLOB NOT NULL,
        PRIMARY KEY (account_id, entry_id)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX backup_by_position ON backup (account_id, position);
    -- Kept with each put, so the limit check does not count a million rows.
    ALTER TABLE accounts ADD COLUMN backup_entries INTEGER NOT NULL DEFAULT 0;
    ",
    // 3: the conversation: group admins and when each member joined (the longest-standing
    // becomes admin when the last one leaves), delivery positions and when `read` last moved,
    // each account's privacy settings and when it was last seen, and who blocks whom.
    "
    ALTER TABLE members ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
    -- 0 for members from before this migration: they joined before everyone after it.
    ALTER TABLE members ADD COLUMN joined_ms INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE members ADD COLUMN delivered_seq INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE members ADD COLUMN read_at_ms INTEGER NOT NULL DEFAULT 0;
    -- Reading implies holding.
    UPDATE members SET delivered_seq = read_seq;
    -- Groups did not record their creator or the order members joined in: the member with
    -- the lowest account id (the oldest account among them) becomes each group's admin.
    UPDATE members SET admin = 1
    WHERE (chat_id, account_id) IN (
        SELECT m.chat_id, min(m.account_id) FROM members m JOIN chats c ON c.id = m.chat_id
        WHERE c.kind = 'group' GROUP BY m.chat_id
    );
    ALTER TABLE accounts ADD COLUMN share_read_receipts INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE accounts ADD COLUMN share_presence INTEGER NOT NULL DEFAULT 1;
    -- 0: not known (the account was last seen before this migration, or never left).
    ALTER TABLE accounts ADD COLUMN last_seen_ms INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE blocks (
        blocker INTEGER NOT NULL REFERENCES accounts (id),
        blocked INTEGER NOT NULL REFERENCES accounts (id),
        PRIMARY KEY (blocker, blocked)
    ) WITHOUT ROWID;
    -- Every message to a 1:1 chat asks whether someone blocks its sender.
    CREATE INDEX blocks_by_blocked ON blocks (blocked, blocker);
    ",
    // 4: whether a device's fallback key has been handed out since it was published, so that
    // the device learns to replace it even if it was offline then; when each device was last
    // active; each sender's share of a device's to-device queue; and when each session was
    // last used, and from which device, so that an account can list and end its sessions.
    "
    ALTER TABLE devices ADD COLUMN fallback_claimed INTEGER NOT NULL DEFAULT 0;
    -- When the device last published its keys (every connection does): the longest-inactive
    -- device makes room for a new one at the cap.
    ALTER TABLE devices ADD COLUMN last_active_ms INTEGER NOT NULL DEFAULT 0;
    -- How much one sender has waiting for one device (its share of the mailbox is capped).
    CREATE INDEX to_device_by_recipient_sender ON to_device (recipient_device, sender_account);
    -- When each session was last used; sessions idle for too long end. Existing ones count
    -- as used now.
    ALTER TABLE sessions ADD COLUMN last_used_ms INTEGER NOT NULL DEFAULT 0;
    -- The device a session's browser published keys for: ending the session removes it.
    ALTER TABLE sessions ADD COLUMN device_key BLOB;
    CREATE INDEX sessions_by_account ON sessions (account_id);
    UPDATE sessions SET last_used_ms = CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER);
    ",
    // 5: the sealed bytes each account's key backup holds, kept with each put like its
    // entry count, so that the quota check does not sum the whole backup.
    "
    ALTER TABLE accounts ADD COLUMN backup_bytes INTEGER NOT NULL DEFAULT 0;
    UPDATE accounts SET backup_bytes =
        (SELECT coalesce(sum(length(sealed)), 0) FROM backup WHERE account_id = accounts.id);
    ",
    // 6: session tokens rotate. `token_hash` stays the session's name (its first token's
    // hash); `current_hash` is what it is resumed with now, `previous_hash` the token before
    // the last rotation (answered with the current one, derived with `rotation_salt`), and
    // `sign_out_hash` the hash of the current token's sign-out proof. Existing sessions
    // rotate, and so get a sign-out proof, on their next resume.
    "
    ALTER TABLE sessions ADD COLUMN current_hash BLOB;
    UPDATE sessions SET current_hash = token_hash;
    CREATE UNIQUE INDEX sessions_by_current_hash ON sessions (current_hash);
    ALTER TABLE sessions ADD COLUMN previous_hash BLOB;
    CREATE INDEX sessions_by_previous_hash ON sessions (previous_hash)
        WHERE previous_hash IS NOT NULL;
    ALTER TABLE sessions ADD COLUMN rotation_salt BLOB;
    ALTER TABLE sessions ADD COLUMN rotated_ms INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN sign_out_hash BLOB;
    CREATE UNIQUE INDEX sessions_by_sign_out_hash ON sessions (sign_out_hash)
        WHERE sign_out_hash IS NOT NULL;
    ",
    // 7: the random part of each account's passphrase salt (NULL: an account from before
    // salts), and the server's secret that makes a salt up for a name nobody has.
    "
    ALTER TABLE accounts ADD COLUMN kdf_salt BLOB;
    ALTER TABLE meta ADD COLUMN salt_secret BLOB;
    ",
    // 8: what each session signed in from, as a browser family and a system from short fixed
    // lists (`client_kind`; NULL: the browser named nothing recognised, or it signed in
    // before this).
    "
    ALTER TABLE sessions ADD COLUMN client_browser TEXT;
    ALTER TABLE sessions ADD COLUMN client_system TEXT;
    ",
    // 9: uploaded files' ciphertext (blobs, each a file in `<data>/blobs/`): whose upload it
    // is, how long it will be and how many bytes are durably in its file, the message that
    // carries it once one does, and when it is to be deleted (NULL: kept, as long as its
    // message).
    "
    CREATE TABLE blobs (
        id         BLOB PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts (id),
        length     INTEGER NOT NULL,
        received   INTEGER NOT NULL DEFAULT 0,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER,
        chat_id    INTEGER,
        seq        INTEGER
    ) WITHOUT ROWID;
    -- The quota sums an account's uploads.
    CREATE INDEX blobs_by_account ON blobs (account_id);
    -- Each cleanup pass takes the ones due.
    CREATE INDEX blobs_by_expiry ON blobs (expires_ms) WHERE expires_ms IS NOT NULL;
    -- Deleting a message for everyone finds its file.
    CREATE INDEX blobs_by_message ON blobs (chat_id, seq) WHERE chat_id IS NOT NULL;
    ",
    // 10: the head of the chat when each member joined: the number a cluster's head check
    // follows a chat from when the push of it was lost (the lines the change wrote follow).
    "
    ALTER TABLE members ADD COLUMN joined_seq INTEGER NOT NULL DEFAULT 0;
    ",
    // 11: when each account's privacy settings or block list last changed, written with the
    // change: a cluster's head check reads again those of its accounts changed since the
    // check before, in case the push of the change was lost. 0 for accounts from before this
    // migration: older than any check.
    "
    ALTER TABLE accounts ADD COLUMN privacy_changed_ms INTEGER NOT NULL DEFAULT 0;
    ",
    // 12: the hash of the previous token's sign-out proof. A token one rotation old still
    // resumes its session (another tab, or a lost `Welcome`), so its proof must still end it.
    "
    ALTER TABLE sessions ADD COLUMN previous_sign_out_hash BLOB;
    CREATE INDEX sessions_by_previous_sign_out_hash ON sessions (previous_sign_out_hash)
        WHERE previous_sign_out_hash IS NOT NULL;
    ",
    // 13: the session each device was published on. Every tab of a browser is a device of
    // its own on the browser's one session, so ending the session ends all of them; a
    // device from before this knows only the session that last named it its own.
    "
    ALTER TABLE devices ADD COLUMN session_hash BLOB;
    UPDATE devices SET session_hash =
        (SELECT token_hash FROM sessions WHERE sessions.device_key = devices.device_key
         ORDER BY last_used_ms DESC LIMIT 1);
    CREATE INDEX devices_by_session ON devices (session_hash) WHERE session_hash IS NOT NULL;
    ",
    // 14: when each account's devices last changed (one published anew, or deleted), written
    // with the change: a cluster's head check tells the account's partners again, in case the
    // push of the change was lost. 0 for accounts from before this migration.
    "
    ALTER TABLE accounts ADD COLUMN devices_changed_ms INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX accounts_by_devices_changed ON accounts (devices_changed_ms)
        WHERE devices_changed_ms > 0;
    ",
    // 15: the line of each chat's last change of members (made, someone added, removed or
    // gone), returned with every message appended: a fan-out whose cached list is older reads
    // the members again. 0 for chats from before this migration.
    "
    ALTER TABLE chats ADD COLUMN members_at INTEGER NOT NULL DEFAULT 0;
    ",
];

/// Brings the database up to the newest schema, each migration in its own transaction.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), Error> {
    let applied: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let applied = usize::try_from(applied).unwrap_or(0);
    if applied > MIGRATIONS.len() {
        // A newer server wrote this database; running on would misread it.
        return Err(Error::Io(std::io::Error::other(format!(
            "the database has schema version {applied}, newer than this server's {}",
            MIGRATIONS.len()
        ))));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(migration)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(index + 1).unwrap_or(i64::MAX),
        )?;
        tx.commit()?;
        tracing::info!(version = index + 1, "applied database migration");
    }
    Ok(())
}

/// The secret a salt for a name nobody has is made from, chosen at random the first time
/// the database is opened with salts (after the epoch).
pub(crate) fn salt_secret(conn: &mut Connection) -> Result<[u8; 32], Error> {
    let tx = conn.transaction()?;
    let existing: Option<Vec<u8>> =
        tx.query_row("SELECT salt_secret FROM meta WHERE id = 1", [], |row| {
            row.get(0)
        })?;
    let secret = match existing.and_then(|bytes| <[u8; 32]>::try_from(bytes).ok()) {
        Some(secret) => secret,
        None => {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret)?;
            tx.execute(
                "UPDATE meta SET salt_secret = ?1 WHERE id = 1",
                [&secret[..]],
            )?;
            secret
        }
    };
    tx.commit()?;
    Ok(secret)
}

/// The storage epoch, chosen at random the first time the database is opened.
pub(crate) fn epoch(conn: &mut Connection) -> Result<u64, Error> {
    let tx = conn.transaction()?;
    let existing: Option<i64> = tx
        .query_row("SELECT epoch FROM meta WHERE id = 1", [], |row| row.get(0))
        .optional()?;
    let epoch = match existing {
        Some(epoch) => epoch,
        None => {
            let mut bytes = [0u8; 8];
            getrandom::fill(&mut bytes)?;
            // 63 bits, so the epoch fits SQLite's signed integers without a sign trick.
            let epoch = i64::from_le_bytes(bytes) & i64::MAX;
            tx.execute("INSERT INTO meta (id, epoch) VALUES (1, ?1)", [epoch])?;
            epoch
        }
    };
    tx.commit()?;
    Ok(u64::try_from(epoch).unwrap_or(0))
}

/// Chooses a new random epoch (`merpati-server --new-epoch`, after the database file was
/// brought back from a backup).
pub(crate) fn new_epoch(conn: &Connection) -> Result<u64, Error> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)?;
    let epoch = i64::from_le_bytes(bytes) & i64::MAX;
    conn.execute("UPDATE meta SET epoch = ?1 WHERE id = 1", [epoch])?;
    Ok(u64::try_from(epoch).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_version(conn: &Connection) -> i64 {
        conn.pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("user_version")
    }

    #[test]
    fn a_new_database_gets_every_migration_once() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrate(&mut conn).expect("first migration");
        assert_eq!(user_version(&conn), MIGRATIONS.len() as i64);
        // Running again must not try to create the tables a second time.
        migrate(&mut conn).expect("second migration is a no-op");
        assert_eq!(user_version(&conn), MIGRATIONS.len() as i64);
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN
                 ('meta', 'accounts', 'sessions', 'chats', 'members', 'messages',
                  'devices', 'one_time_keys', 'to_device', 'backup', 'blocks', 'blobs')",
                [],
                |row| row.get(0),
            )
            .expect("count tables");
        assert_eq!(tables, 12);
    }

    #[test]
    fn a_version_2_database_gets_an_admin_per_group_and_delivery_at_least_its_reads() {
        let mut conn = Connection::open_in_memory().expect("open");
        for migration in &MIGRATIONS[..2] {
            conn.execute_batch(migration).expect("an older migration");
        }
        conn.pragma_update(None, "user_version", 2)
            .expect("set version");
        conn.execute_batch(
            "INSERT INTO accounts (id, username, public_key, created_ms)
                 VALUES (1, 'alice', x'00', 0), (2, 'bob', x'00', 0), (3, 'carol', x'00', 0);
             INSERT INTO chats (id, kind, title, created_ms, head_seq, direct_key)
                 VALUES (1, 'group', 'Trip', 0, 5, NULL), (2, 'direct', '', 0, 2, '1:2');
             INSERT INTO members (chat_id, account_id, read_seq)
                 VALUES (1, 3, 5), (1, 2, 1), (2, 1, 2), (2, 2, 0);",
        )
        .expect("a version 2 database");
        migrate(&mut conn).expect("migrate");

        let rows: Vec<(i64, i64, bool, i64, i64)> = conn
            .prepare(
                "SELECT chat_id, account_id, admin, delivered_seq, read_seq FROM members
                 ORDER BY chat_id, account_id",
            )
            .expect("prepare")
            .query_map([], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            })
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(
            rows,
            [
                (1, 2, true, 1, 1),
                (1, 3, false, 5, 5),
                (2, 1, false, 2, 2),
                (2, 2, false, 0, 0)
            ],
            "the group's earliest account is its admin; a 1:1 chat has none"
        );
        let shared: (bool, bool, i64) = conn
            .query_row(
                "SELECT share_read_receipts, share_presence, last_seen_ms FROM accounts
                 WHERE id = 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .expect("an account");
        assert_eq!(
            shared,
            (true, true, 0),
            "shared until the account says otherwise"
        );
    }

    #[test]
    fn a_version_10_database_notes_when_each_accounts_privacy_changes_from_then_on() {
        let mut conn = Connection::open_in_memory().expect("open");
        for migration in &MIGRATIONS[..10] {
            conn.execute_batch(migration).expect("an older migration");
        }
        conn.pragma_update(None, "user_version", 10)
            .expect("set version");
        conn.execute_batch(
            "INSERT INTO accounts (id, username, public_key, created_ms, share_presence)
                 VALUES (1, 'alice', x'00', 0, 0), (2, 'bob', x'00', 0, 1);",
        )
        .expect("a version 10 database");
        migrate(&mut conn).expect("migrate");
        assert_eq!(user_version(&conn), MIGRATIONS.len() as i64);

        let alice = merpati_protocol::UserId(1);
        let bob = merpati_protocol::UserId(2);
        let changed_ms: i64 = conn
            .query_row(
                "SELECT privacy_changed_ms FROM accounts WHERE id = 1",
                [],
                |row| row.get(0),
            )
            .expect("the column");
        assert_eq!(changed_ms, 0, "older than any head check");
        let changed = crate::storage::sql::accounts::privacy_changed_since(&conn, &[alice, bob], 1)
            .expect("read what changed");
        assert!(changed.is_empty(), "{changed:?}");

        // A change from then on is noted with its time, and read as changed.
        crate::storage::sql::accounts::set_privacy(&conn, bob, false, true, 42)
            .expect("set bob's privacy");
        let changed =
            crate::storage::sql::accounts::privacy_changed_since(&conn, &[alice, bob], 42)
                .expect("read what changed");
        let settings: Vec<_> = changed
            .iter()
            .map(|read| {
                let privacy = &read.privacy;
                let shared = (privacy.share_read_receipts, privacy.share_presence);
                (read.account, read.changed_ms, shared)
            })
            .collect();
        assert_eq!(settings, [(bob, 42, (false, true))]);
    }

    #[test]
    fn a_database_from_a_newer_server_is_refused() {
        let mut conn = Connection::open_in_memory().expect("open");
        conn.pragma_update(None, "user_version", MIGRATIONS.len() as i64 + 1)
            .expect("set version");
        assert!(migrate(&mut conn).is_err());
    }

    #[test]
    fn the_epoch_is_chosen_once() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrate(&mut conn).expect("migrate");
        let first = epoch(&mut conn).expect("epoch");
        assert_eq!(epoch(&mut conn).expect("epoch again"), first);
    }
}
