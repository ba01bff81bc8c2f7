//! Every word Merpati's app shows, in the person's language.
//!
//! The app speaks English and Bahasa Indonesia. Each thing it says has a key: a [`Text`]
//! (a fixed sentence or label, perhaps with `{placeholders}`) or a [`Count`] (words about a
//! number, in the plural forms the language has). The English words are in this crate
//! ([`english`]), so they are always there; every other language is a catalogue file
//! (`public/locales/<code>.txt`, format in [`catalogue`]) that the page loads only when that
//! language is chosen and hands to the engine worker, so both speak the same language.
//!
//! The words in use are per thread (the page and the engine worker each run on one thread):
//! [`install`] sets them once at start, and [`t`], [`tf`] and [`tn`] read them. Changing
//! language reloads the app, so nothing on screen keeps words of the old language.
//!
//! # Layout
//! - [`english`]: the keys and their English words.
//! - [`dates`]: days, times and how long ago, in words.
//! - [`sizes`]: file sizes in words.
//! - [`catalogue`]: a translation, parsed from its file, and lookups with English fallback.
//! - [`language`](mod@language): the languages, chosen from the browser's, and their plural rules.
//! - [`refusals`]: words for what the protocol refuses (usernames, texts, the server's codes).
//! - [`emoji`]: the emoji picker's emoji and their names, from a file fetched when it opens.

pub mod catalogue;
pub mod dates;
pub mod emoji;
pub mod english;
pub mod language;
pub mod refusals;
pub mod sizes;

use std::cell::RefCell;
use std::rc::Rc;

pub use catalogue::{Catalogue, CatalogueError};
pub use emoji::{Emoji, EmojiFileError, EmojiGroup, EmojiSet, SkinTone};
pub use english::{Count, Text};
pub use language::{Language, PluralForm};

thread_local! {
    static CURRENT: RefCell<Rc<Catalogue>> = RefCell::new(Rc::new(Catalogue::english()));
}

/// Makes `catalogue` the words this thread shows from now on.
pub fn install(catalogue: Catalogue) {
    CURRENT.with(|current| *current.borrow_mut() = Rc::new(catalogue));
}

/// The language this thread speaks.
pub fn language() -> Language {
    current().language()
}

/// The words for `text`, with its placeholders as written (for texts that have none).
pub fn t(text: Text) -> String {
    current().text(text).to_owned()
}

/// The words for `text` with each `{name}` replaced by its value from `args`.
pub fn tf(text: Text, args: &[(&str, &str)]) -> String {
    fill(current().text(text), args)
}

/// The words for `count` of `n` things: the language's plural form for `n`, with `{count}`
/// replaced by `n` and each other `{name}` by its value from `args`.
pub fn tn(count: Count, n: u64, args: &[(&str, &str)]) -> String {
    let catalogue = current();
    let number = n.to_string();
    let mut all = Vec::with_capacity(args.len() + 1);
    all.push(("count", number.as_str()));
    all.extend_from_slice(args);
    fill(catalogue.count(count, n), &all)
}

fn current() -> Rc<Catalogue> {
    CURRENT.with(|current| Rc::clone(&current.borrow()))
}

/// `words` with each `{name}` replaced by its value from `args`; a placeholder with no value
/// stays as written, so a mistake shows rather than vanishing.
pub fn fill(words: &str, args: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(words.len());
    let mut rest = words;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            args.iter()
                .find(|(arg, _)| *arg == name)
                .map(|(_, value)| (*value, close))
        });
        match value {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The `{name}`s a text uses, in order of first use.
pub fn placeholders(words: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = words;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let name = &after[..close];
        if !names.contains(&name) {
            names.push(name);
        }
        rest = &after[close + 1..];
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_unknown_ones_stay_visible() {
        assert_eq!(
            fill(
                "{name} added {other}",
                &[("name", "sari"), ("other", "tomo")]
            ),
            "sari added tomo"
        );
        assert_eq!(fill("{name} left", &[]), "{name} left");
        assert_eq!(fill("a { b", &[("b", "x")]), "a { b");
        assert_eq!(placeholders("{a} and {b}, {a}"), vec!["a", "b"]);
    }

    #[test]
    fn counts_use_the_languages_plural_forms() {
        install(Catalogue::english());
        assert_eq!(tn(Count::MinutesAgo, 1, &[]), "1 minute ago");
        assert_eq!(tn(Count::MinutesAgo, 2, &[]), "2 minutes ago");
        let indonesian = Catalogue::parse(
            Language::Indonesian,
            include_str!("../../../public/locales/id.txt"),
        )
        .expect("the Indonesian catalogue parses");
        install(indonesian);
        assert_eq!(language(), Language::Indonesian);
        assert_eq!(tn(Count::MinutesAgo, 2, &[]), "2 menit yang lalu");
        assert_eq!(tn(Count::MinutesAgo, 1, &[]), "1 menit yang lalu");
        install(Catalogue::english());
    }
}
