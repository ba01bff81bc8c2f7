//! The one error type that crosses the crate boundary.
//!
//! Every failure inside the server is an [`Error`]. A request the protocol refuses (a taken
//! username, a chat the account is not in) is [`Error::Refused`] and carries the
//! [`ErrorCode`] the client is sent; every other variant is a fault of the server and reaches
//! the client as [`ErrorCode::Internal`], with the cause kept for the logs.

use merpati_protocol::ErrorCode;

/// Why a server operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is refused for a reason the client can act on.
    #[error("{code:?}: {detail}")]
    Refused {
        /// The code sent to the client.
        code: ErrorCode,
        /// Words for logs and developers.
        detail: String,
    },
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] rusqlite::Error),
    /// PostgreSQL failed, or could not be reached (the PostgreSQL backend).
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// Reading or writing a file or socket failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The operating system could not supply random bytes.
    #[error("random number generator: {0}")]
    Random(getrandom::Error),
    /// The storage writer thread has stopped, so nothing more can be written.
    #[error("the storage writer has stopped")]
    WriterStopped,
    /// A transaction could not be committed; nothing in it was stored.
    #[error("commit failed: {0}")]
    Commit(String),
    /// The configuration is unsafe or inconsistent; the server refuses to start with it.
    #[error("configuration: {0}")]
    Config(String),
    /// A blocking storage task died.
    #[error("storage task failed: {0}")]
    Task(String),
}

impl Error {
    /// A refusal with the code the client is sent.
    pub fn refused(code: ErrorCode, detail: impl Into<String>) -> Error {
        Error::Refused {
            code,
            detail: detail.into(),
        }
    }

    /// The code the client is sent for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Refused { code, .. } => *code,
            _ => ErrorCode::Internal,
        }
    }

    /// The detail the client is sent: the reason of a refusal, but nothing of the server's
    /// internals.
    pub fn client_detail(&self) -> String {
        match self {
            Error::Refused { detail, .. } => detail.clone(),
            _ => "internal server error; the request may be retried".to_owned(),
        }
    }
}

impl From<getrandom::Error> for Error {
    fn from(error: getrandom::Error) -> Error {
        Error::Random(error)
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(error: tokio::task::JoinError) -> Error {
        Error::Task(error.to_string())
    }
}
