//! A translation: the words of one language for every key, read from its catalogue file.
//!
//! A catalogue file (`public/locales/<code>.txt`) is UTF-8 text, one entry per line:
//!
//! ```text
//! # A comment, and blank lines, are skipped.
//! SignIn = Masuk
//! MinutesAgo.other = {count} menit yang lalu
//! ```
//!
//! The key is a [`Text`] or, with a plural form after the dot (`one`, `other`), a
//! [`Count`]; the words keep the English `{placeholders}`. The format is this small on
//! purpose: the page parses it with no parser library in its download, and a translator
//! can edit it in any text editor. Parsing is strict — an unknown key, a form the language
//! does not have, or a key given twice is an error naming the line — so a stale catalogue
//! fails its test (`tests/catalogues.rs`) instead of quietly showing English.

use std::fmt;

use crate::english::{Count, Text};
use crate::language::{Language, PluralForm};
use crate::placeholders;

/// The words of one language. Lookups of anything it lacks fall back to English, so a
/// person sees words, never a key.
///
/// The words are kept by the key's place in [`Text::ALL`] / [`Count::ALL`] (and the plural
/// form's): a lookup is an index, and the page carries no hash map for them.
#[derive(Debug, Clone)]
pub struct Catalogue {
    language: Language,
    texts: Vec<Option<String>>,
    counts: Vec<[Option<String>; 2]>,
}

/// Where a plural form's words sit in a count's entry.
fn form_slot(form: PluralForm) -> usize {
    match form {
        PluralForm::One => 0,
        PluralForm::Other => 1,
    }
}

/// Why a catalogue file could not be read; `line` counts from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogueError {
    /// A line that is neither blank, a comment nor `key = words`.
    NotAnEntry { line: usize },
    /// A key that names no text or count (perhaps removed from the app).
    UnknownKey { line: usize, key: String },
    /// A count without a plural form, a text with one, or a form the language lacks.
    WrongForm { line: usize, key: String },
    /// The same key (and form) twice.
    Repeated { line: usize, key: String },
}

impl fmt::Display for CatalogueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CatalogueError::NotAnEntry { line } => {
                write!(f, "line {line}: expected `key = words`")
            }
            CatalogueError::UnknownKey { line, key } => write!(f, "line {line}: no key `{key}`"),
            CatalogueError::WrongForm { line, key } => {
                write!(f, "line {line}: `{key}` has the wrong plural form")
            }
            CatalogueError::Repeated { line, key } => {
                write!(f, "line {line}: `{key}` is given twice")
            }
        }
    }
}

impl std::error::Error for CatalogueError {}

impl Catalogue {
    /// English: the words in the code, nothing to load.
    pub fn english() -> Self {
        Catalogue {
            language: Language::English,
            texts: Vec::new(),
            counts: Vec::new(),
        }
    }

    /// `language`'s words from its catalogue file. English needs no file: its words are the
    /// code's, and a file given for it is read as a translation like any other.
    pub fn parse(language: Language, source: &str) -> Result<Self, CatalogueError> {
        let mut catalogue = Catalogue {
            language,
            texts: vec![None; Text::ALL.len()],
            counts: vec![[None, None]; Count::ALL.len()],
        };
        for (index, raw) in source.lines().enumerate() {
            let line = index + 1;
            let entry = raw.trim();
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            let (key, words) = entry
                .split_once('=')
                .ok_or(CatalogueError::NotAnEntry { line })?;
            let (key, words) = (key.trim(), words.trim().to_owned());
            let wrong_form = || CatalogueError::WrongForm {
                line,
                key: key.to_owned(),
            };
            let repeated = || CatalogueError::Repeated {
                line,
                key: key.to_owned(),
            };
            match key.split_once('.') {
                None => {
                    if Count::from_name(key).is_some() {
                        return Err(wrong_form());
                    }
                    let text = Text::from_name(key).ok_or_else(|| CatalogueError::UnknownKey {
                        line,
                        key: key.to_owned(),
                    })?;
                    if catalogue.texts[text as usize].replace(words).is_some() {
                        return Err(repeated());
                    }
                }
                Some((name, form)) => {
                    let count = Count::from_name(name).ok_or_else(|| {
                        if Text::from_name(name).is_some() {
                            wrong_form()
                        } else {
                            CatalogueError::UnknownKey {
                                line,
                                key: key.to_owned(),
                            }
                        }
                    })?;
                    let form = language
                        .plural_forms()
                        .iter()
                        .find(|known| known.as_str() == form)
                        .ok_or_else(wrong_form)?;
                    if catalogue.counts[count as usize][form_slot(*form)]
                        .replace(words)
                        .is_some()
                    {
                        return Err(repeated());
                    }
                }
            }
        }
        Ok(catalogue)
    }

    /// The language these words are in.
    pub fn language(&self) -> Language {
        self.language
    }

    /// The words for `text`.
    pub fn text(&self, text: Text) -> &str {
        self.text_words(text).unwrap_or_else(|| text.english())
    }

    /// The words for `count` of `n` things, `{count}` not yet filled in.
    pub fn count(&self, count: Count, n: u64) -> &str {
        let form = self.language.plural_form(n);
        match self.count_words(count, form) {
            Some(words) => words,
            None => count.english(Language::English.plural_form(n)),
        }
    }

    /// Every key this catalogue lacks, as its file would name it: empty for a complete
    /// translation, and for English.
    pub fn missing(&self) -> Vec<String> {
        if self.language == Language::English {
            return Vec::new();
        }
        let texts = Text::ALL
            .iter()
            .filter(|text| self.text_words(**text).is_none())
            .map(|text| text.name().to_owned());
        let counts = Count::ALL.iter().flat_map(|count| {
            self.language
                .plural_forms()
                .iter()
                .filter(|form| self.count_words(*count, **form).is_none())
                .map(|form| format!("{}.{}", count.name(), form.as_str()))
        });
        texts.chain(counts).collect()
    }

    /// Every entry whose `{placeholders}` differ from the English words', so a filled-in
    /// name or number would be lost or left as `{name}`.
    pub fn wrong_placeholders(&self) -> Vec<String> {
        let same = |translated: &str, english: &str| {
            let mut ours = placeholders(translated);
            let mut theirs = placeholders(english);
            ours.sort_unstable();
            theirs.sort_unstable();
            ours == theirs
        };
        let texts = Text::ALL
            .iter()
            .filter(|text| {
                self.text_words(**text)
                    .is_some_and(|words| !same(words, text.english()))
            })
            .map(|text| text.name().to_owned());
        let counts = Count::ALL.iter().flat_map(|count| {
            [PluralForm::One, PluralForm::Other]
                .into_iter()
                .filter(|form| {
                    self.count_words(*count, *form)
                        .is_some_and(|words| !same(words, count.english(PluralForm::Other)))
                })
                .map(|_| count.name().to_owned())
        });
        texts.chain(counts).collect()
    }

    /// This catalogue's own words for `text`, if its file gave them.
    fn text_words(&self, text: Text) -> Option<&str> {
        self.texts.get(text as usize).and_then(Option::as_deref)
    }

    /// This catalogue's own words for `count` in `form`, if its file gave them.
    fn count_words(&self, count: Count, form: PluralForm) -> Option<&str> {
        self.counts
            .get(count as usize)
            .and_then(|forms| forms[form_slot(form)].as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_is_kept_at_its_place_in_the_list_of_keys() {
        for (place, text) in Text::ALL.iter().enumerate() {
            assert_eq!(*text as usize, place, "{}", text.name());
        }
        for (place, count) in Count::ALL.iter().enumerate() {
            assert_eq!(*count as usize, place, "{}", count.name());
        }
    }

    #[test]
    fn entries_comments_and_blank_lines() {
        let catalogue = Catalogue::parse(
            Language::Indonesian,
            "# judul\n\nSignIn = Masuk\n  MinutesAgo.other =  {count} menit yang lalu \n",
        )
        .expect("parses");
        assert_eq!(catalogue.text(Text::SignIn), "Masuk");
        assert_eq!(
            catalogue.count(Count::MinutesAgo, 5),
            "{count} menit yang lalu"
        );
        // What it lacks is English, and listed.
        assert_eq!(catalogue.text(Text::SignOut), "Sign out");
        assert!(catalogue.missing().contains(&"SignOut".to_owned()));
        assert!(!catalogue.missing().contains(&"SignIn".to_owned()));
    }

    #[test]
    fn mistakes_name_their_line() {
        let parse = |source| Catalogue::parse(Language::Indonesian, source).err();
        assert_eq!(
            parse("SignIn = Masuk\nnonsense"),
            Some(CatalogueError::NotAnEntry { line: 2 })
        );
        assert_eq!(
            parse("NoSuchKey = x"),
            Some(CatalogueError::UnknownKey {
                line: 1,
                key: "NoSuchKey".to_owned()
            })
        );
        // Indonesian has no `one` form; a count needs a form; a text takes none.
        for wrong in ["MinutesAgo.one = x", "MinutesAgo = x", "SignIn.other = x"] {
            assert!(
                matches!(
                    parse(wrong),
                    Some(CatalogueError::WrongForm { line: 1, .. })
                ),
                "{wrong}"
            );
        }
        assert_eq!(
            parse("SignIn = a\nSignIn = b"),
            Some(CatalogueError::Repeated {
                line: 2,
                key: "SignIn".to_owned()
            })
        );
    }

    #[test]
    fn placeholders_must_match_the_english() {
        let catalogue = Catalogue::parse(
            Language::Indonesian,
            "MinutesAgo.other = {jumlah} menit yang lalu",
        )
        .expect("parses");
        assert_eq!(
            catalogue.wrong_placeholders(),
            vec!["MinutesAgo".to_owned()]
        );
    }
}
