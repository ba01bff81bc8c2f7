//! Usernames: what a person types to be found, and the rules both sides enforce.
//!
//! A username is 3 to 32 characters of lowercase ASCII letters, digits and `_`, starting with
//! a letter. Input is trimmed and lowercased first, so `Alice` and `alice` are one account.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The shortest username.
pub const MIN_USERNAME_CHARS: usize = 3;
/// The longest username.
pub const MAX_USERNAME_CHARS: usize = 32;

/// A username that follows the rules. Construct it with [`Username::parse`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Username(String);

/// Why a string is not a valid username; the message is shown to the person as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    /// Fewer than [`MIN_USERNAME_CHARS`] characters.
    #[error("A username needs at least {MIN_USERNAME_CHARS} characters")]
    TooShort,
    /// More than [`MAX_USERNAME_CHARS`] characters.
    #[error("A username has at most {MAX_USERNAME_CHARS} characters")]
    TooLong,
    /// Starts with something other than a letter.
    #[error("A username starts with a letter")]
    MustStartWithLetter,
    /// Holds a character outside `a-z`, `0-9` and `_`.
    #[error("A username may hold only letters a–z, digits and _")]
    InvalidCharacter,
}

impl Username {
    /// Normalises (trim, lowercase) and validates a username.
    pub fn parse(input: &str) -> Result<Username, UsernameError> {
        let name = input.trim().to_ascii_lowercase();
        let chars = name.chars().count();
        if chars < MIN_USERNAME_CHARS {
            return Err(UsernameError::TooShort);
        }
        if chars > MAX_USERNAME_CHARS {
            return Err(UsernameError::TooLong);
        }
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(UsernameError::MustStartWithLetter);
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(UsernameError::InvalidCharacter);
        }
        Ok(Username(name))
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// Deserialising validates, so a `Username` received from the network always follows the rules.
impl<'de> Deserialize<'de> for Username {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Username::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_trimmed_and_lowercased() {
        assert_eq!(
            Username::parse("  Alice_2 ").map(|u| u.0),
            Ok("alice_2".into())
        );
    }

    #[test]
    fn invalid_usernames_say_why() {
        assert_eq!(Username::parse("al"), Err(UsernameError::TooShort));
        assert_eq!(
            Username::parse(&"a".repeat(33)),
            Err(UsernameError::TooLong)
        );
        assert_eq!(
            Username::parse("1alice"),
            Err(UsernameError::MustStartWithLetter)
        );
        assert_eq!(
            Username::parse("al ice"),
            Err(UsernameError::InvalidCharacter)
        );
        assert_eq!(
            Username::parse("älice"),
            Err(UsernameError::MustStartWithLetter)
        );
        assert_eq!(
            Username::parse("alicé"),
            Err(UsernameError::InvalidCharacter)
        );
    }

    #[test]
    fn an_invalid_username_on_the_wire_does_not_decode() {
        let bytes = crate::encode(&"Not Valid!".to_string());
        assert!(crate::decode::<Username>(&bytes).is_err());
    }
}
