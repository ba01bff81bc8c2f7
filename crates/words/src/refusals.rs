//! Words for what the protocol refuses: a username or passphrase the app will not send, a
//! text too long, and the server's error codes — one wording for the page and the engine
//! worker alike.

use merpati_protocol::blobs::MAX_FILE_BYTES;
use merpati_protocol::content::TextBodyError;
use merpati_protocol::passphrase::MIN_PASSPHRASE_CHARS;
use merpati_protocol::username::{MAX_USERNAME_CHARS, MIN_USERNAME_CHARS};
use merpati_protocol::{ErrorCode, UsernameError};

use crate::{Text, t, tf};

/// Why a username cannot be used.
pub fn username(error: &UsernameError) -> String {
    match error {
        UsernameError::TooShort => tf(
            Text::UsernameTooShort,
            &[("min", &MIN_USERNAME_CHARS.to_string())],
        ),
        UsernameError::TooLong => tf(
            Text::UsernameTooLong,
            &[("max", &MAX_USERNAME_CHARS.to_string())],
        ),
        UsernameError::MustStartWithLetter => t(Text::UsernameStartsWithLetter),
        UsernameError::InvalidCharacter => t(Text::UsernameCharacters),
    }
}

/// Why a passphrase is too short.
pub fn passphrase_too_short() -> String {
    tf(
        Text::PassphraseTooShort,
        &[("min", &MIN_PASSPHRASE_CHARS.to_string())],
    )
}

/// Why a file cannot be sent: it is over [`MAX_FILE_BYTES`].
pub fn file_too_large() -> String {
    let max = crate::sizes::file_size(MAX_FILE_BYTES);
    tf(Text::FileTooLarge, &[("max", &max)])
}

/// Why a text cannot be sent.
pub fn text_body(error: TextBodyError) -> String {
    match error {
        TextBodyError::Empty => t(Text::MessageEmpty),
        TextBodyError::TooLarge => t(Text::MessageTooLong),
    }
}

/// Why the server refused a sign-up or sign-in.
pub fn sign_in(code: ErrorCode) -> String {
    t(match code {
        ErrorCode::UsernameTaken => Text::UsernameTaken,
        ErrorCode::NoSuchUser => Text::NoSuchUser,
        ErrorCode::WrongPassphrase => Text::WrongPassphrase,
        ErrorCode::UnsupportedVersion => Text::OutOfDate,
        ErrorCode::ServerBusy | ErrorCode::RateLimited => Text::VeryBusy,
        ErrorCode::ShuttingDown => Text::Restarting,
        ErrorCode::TooManyAttempts => Text::TooManyAttempts,
        ErrorCode::TooManySignUps => Text::TooManySignUps,
        ErrorCode::InvalidKey => Text::SignInUnchecked,
        _ => Text::SignInFailed,
    })
}

/// Why the server refused a request or a message.
pub fn request(code: ErrorCode) -> String {
    t(match code {
        ErrorCode::NoSuchUser => Text::NoSuchUser,
        ErrorCode::CannotChatWithSelf => Text::CannotChatWithSelf,
        ErrorCode::InvalidTitle => Text::InvalidGroupName,
        ErrorCode::TooManyMembers => Text::TooManyMembers,
        ErrorCode::NoSuchChat => Text::NoSuchChatAnyMore,
        ErrorCode::AlreadyMember => Text::AlreadyMember,
        ErrorCode::NotAGroup => Text::NotAGroup,
        ErrorCode::NotAMember => Text::NotAMemberAnyMore,
        ErrorCode::NotAdmin => Text::NotAdmin,
        ErrorCode::Blocked => Text::BlockedByThem,
        ErrorCode::MessageTooLarge => Text::MessageTooLong,
        ErrorCode::QuotaExceeded => Text::QuotaExceeded,
        ErrorCode::NoSuchBlob => Text::FileGone,
        ErrorCode::RateLimited | ErrorCode::TooManyRequests => Text::SlowDown,
        ErrorCode::ServerBusy | ErrorCode::ShuttingDown => Text::VeryBusy,
        ErrorCode::Internal => Text::DidNotFinish,
        _ => Text::DidNotWork,
    })
}
