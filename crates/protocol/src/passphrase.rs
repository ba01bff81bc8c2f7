//! The rule a passphrase must follow before it is stretched into an account key.
//!
//! A passphrase never goes on the wire. The rule lives here because both sides of the browser
//! app check it — the page, to answer the person before anything expensive starts, and the
//! engine, which refuses to derive a key from a short one — and this crate is the one both
//! link: the page does not link the engine.

/// The fewest characters (not bytes) a passphrase may have.
pub const MIN_PASSPHRASE_CHARS: usize = 10;

/// The passphrase is shorter than [`MIN_PASSPHRASE_CHARS`]; the message is shown to the person
/// as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("A passphrase needs at least {MIN_PASSPHRASE_CHARS} characters")]
pub struct PassphraseTooShort;

/// Checks the passphrase rule.
pub fn check_passphrase(passphrase: &str) -> Result<(), PassphraseTooShort> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(PassphraseTooShort);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nine_characters_are_too_short_and_ten_are_enough() {
        assert_eq!(check_passphrase("123456789"), Err(PassphraseTooShort));
        assert_eq!(check_passphrase("1234567890"), Ok(()));
    }

    #[test]
    fn characters_are_counted_not_bytes() {
        // Nine characters in eighteen bytes are too few; ten are enough.
        assert_eq!(check_passphrase("äääääääää"), Err(PassphraseTooShort));
        assert_eq!(check_passphrase("ääääääääää"), Ok(()));
    }

    #[test]
    fn the_words_name_the_minimum() {
        assert_eq!(
            PassphraseTooShort.to_string(),
            "A passphrase needs at least 10 characters"
        );
    }
}
