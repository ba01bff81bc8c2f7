//! Why something failed: the error codes of `Error`, `SendFailed` and `Goodbye` frames, and
//! what each means for the client (whether the connection closes, whether a failed sign-in
//! may simply be tried again).

use serde::{Deserialize, Serialize};

/// Why something failed. The app maps each code to words a person can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The client speaks another protocol version. Closes the connection.
    UnsupportedVersion,
    /// The frame could not be decoded, or was a text frame.
    Malformed,
    /// The frame was larger than [`crate::MAX_FRAME_BYTES`]. Closes the connection.
    FrameTooLarge,
    /// A request came before authentication.
    NotAuthenticated,
    /// `Register` for a name that exists.
    UsernameTaken,
    /// `Login` or `CreateChat` named a user who does not exist.
    NoSuchUser,
    /// The signature did not verify: the passphrase (or username) is wrong.
    WrongPassphrase,
    /// A `Resume` token is unknown or was revoked: sign in again.
    SessionExpired,
    /// The public key or signature was not valid Ed25519 material.
    InvalidKey,
    /// The chat does not exist or the account is not a member.
    NoSuchChat,
    /// The body exceeds [`crate::MAX_BODY_BYTES`].
    MessageTooLarge,
    /// A group title is empty or too long.
    InvalidTitle,
    /// A group would exceed [`crate::MAX_GROUP_MEMBERS`].
    TooManyMembers,
    /// A 1:1 chat with oneself.
    CannotChatWithSelf,
    /// Only groups take new members.
    NotAGroup,
    /// The person is already a member.
    AlreadyMember,
    /// The client sent faster than allowed for too long: sent as `Goodbye` before the server
    /// closes the connection (1008); come back after `retry_after_ms` and send slower.
    RateLimited,
    /// The server is overloaded; try later.
    ServerBusy,
    /// The server is shutting down; reconnect after the hinted delay.
    ShuttingDown,
    /// The server failed; the request may be retried.
    Internal,
    /// The account is not a member of the group (`RemoveMember`).
    NotAMember,
    /// A key request came before this connection's `PublishKeys`.
    NoDevice,
    /// A device's signature did not verify against the account key.
    InvalidSignature,
    /// A per-account limit was reached (devices, queued to-device messages, backup entries).
    LimitReached,
    /// Only a group's admins may do this (add, remove, rename, make admin).
    NotAdmin,
    /// The other person does not accept this from this account (they blocked it): starting a
    /// chat, adding them to a group, a message in the 1:1 chat.
    Blocked,
    /// A `SendDeletion` target is not the sender's own message in this chat.
    NotYourMessage,
    /// Too many failed sign-ins from this address or for this account: the attempt was not
    /// checked. The message says when to try again.
    TooManyAttempts,
    /// This kind of request came faster than its rate for this account: it was not served.
    /// The message says when to try again. Does not close the connection.
    TooManyRequests,
    /// The account has used up a storage quota: the bytes it may store per day (messages,
    /// key shares, new chats), the chats it may be in, or its key backup's size. The request
    /// was not served; the message says which quota and when it frees up. Not transient for
    /// a message: it is shown failed, for the person to retry later.
    QuotaExceeded,
    /// Too many accounts were made from this network recently: the registration was not
    /// checked. The message says when to try again.
    TooManySignUps,
    /// A `Send`'s attachment is not an upload of the sender's account that is complete and
    /// not yet carried by another message. Not transient: the message is shown failed.
    NoSuchBlob,
}

impl ErrorCode {
    /// Whether the server closes the connection after sending this code.
    pub fn closes_connection(self) -> bool {
        matches!(
            self,
            ErrorCode::UnsupportedVersion
                | ErrorCode::FrameTooLarge
                | ErrorCode::SessionExpired
                | ErrorCode::ShuttingDown
                | ErrorCode::ServerBusy
                | ErrorCode::RateLimited
        )
    }

    /// Whether the failure says nothing about the request or the credentials, only that the
    /// server could not serve it now (busy, stopping, asked to slow down, the account's
    /// connections at their cap, or failed inside):
    /// the same request may succeed later. A client keeps its credentials through a transient
    /// sign-in failure and reconnects after backoff; any other sign-in failure is final.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorCode::ServerBusy
                | ErrorCode::ShuttingDown
                | ErrorCode::RateLimited
                | ErrorCode::LimitReached
                | ErrorCode::Internal
        )
    }
}
