//! The languages the app speaks, which one a browser prefers, and how each counts.

/// A language the app speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Language {
    /// English, the words written in the code ([`crate::english`]).
    #[default]
    English,
    /// Bahasa Indonesia (`public/locales/id.txt`).
    Indonesian,
}

/// A plural form: which of a [`crate::Count`]'s words a number takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluralForm {
    /// One thing ("1 minute").
    One,
    /// Any other number ("2 minutes"); the only form Indonesian has.
    Other,
}

impl PluralForm {
    /// The form's name in a catalogue file (`Key.one`, `Key.other`), as CLDR names it.
    pub fn as_str(self) -> &'static str {
        match self {
            PluralForm::One => "one",
            PluralForm::Other => "other",
        }
    }
}

impl Language {
    /// Every language, in the order the settings offer them.
    pub const ALL: [Language; 2] = [Language::English, Language::Indonesian];

    /// The BCP 47 code: `<html lang>`, the settings' choice, the catalogue's file name.
    pub fn code(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Indonesian => "id",
        }
    }

    /// The language's own name for itself: what a person looks for in a list of languages,
    /// whatever language the list is in.
    pub fn endonym(self) -> &'static str {
        match self {
            Language::English => "English",
            Language::Indonesian => "Bahasa Indonesia",
        }
    }

    /// The language of a code; `None` for anything else.
    pub fn from_code(code: &str) -> Option<Language> {
        Language::ALL
            .into_iter()
            .find(|language| language.code() == code)
    }

    /// The language a BCP 47 tag asks for (`id-ID`, `en-GB`, `in`), if the app speaks it.
    pub fn from_tag(tag: &str) -> Option<Language> {
        let primary = tag.split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Language::English),
            // `in` is Indonesian's code before 1989, still sent by some old systems.
            "id" | "in" => Some(Language::Indonesian),
            _ => None,
        }
    }

    /// The first language of a browser's preferences (`navigator.languages`, most preferred
    /// first) that the app speaks; English if none.
    pub fn preferred<'a>(tags: impl IntoIterator<Item = &'a str>) -> Language {
        tags.into_iter()
            .find_map(Language::from_tag)
            .unwrap_or_default()
    }

    /// The plural form `n` takes in this language (CLDR's rules for integers).
    pub fn plural_form(self, n: u64) -> PluralForm {
        match self {
            Language::English if n == 1 => PluralForm::One,
            Language::English => PluralForm::Other,
            // Indonesian does not inflect for number: "1 menit", "2 menit".
            Language::Indonesian => PluralForm::Other,
        }
    }

    /// The plural forms this language's catalogue must give for every count.
    pub fn plural_forms(self) -> &'static [PluralForm] {
        match self {
            Language::English => &[PluralForm::One, PluralForm::Other],
            Language::Indonesian => &[PluralForm::Other],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_spoken_language_of_the_browser_wins() {
        assert_eq!(
            Language::preferred(["fr-FR", "id-ID", "en"]),
            Language::Indonesian
        );
        assert_eq!(Language::preferred(["en-GB", "id"]), Language::English);
        assert_eq!(Language::preferred(["in"]), Language::Indonesian);
        assert_eq!(Language::preferred(["ja", "de"]), Language::English);
        assert_eq!(Language::preferred([]), Language::English);
    }

    #[test]
    fn english_has_one_and_other_and_indonesian_only_other() {
        assert_eq!(Language::English.plural_form(1), PluralForm::One);
        assert_eq!(Language::English.plural_form(0), PluralForm::Other);
        assert_eq!(Language::English.plural_form(21), PluralForm::Other);
        assert_eq!(Language::Indonesian.plural_form(1), PluralForm::Other);
    }

    #[test]
    fn codes_round_trip() {
        for language in Language::ALL {
            assert_eq!(Language::from_code(language.code()), Some(language));
        }
    }
}
