//! Every catalogue in `public/locales` against the keys in the code: it parses, it has
//! words for every text and every plural form its language has, each keeps the English
//! `{placeholders}`, and none is English left untranslated. A string added to the app's
//! catalogue without a translation fails here.

use merpati_words::{Catalogue, Count, Language, PluralForm, Text};

/// Texts whose words are the same in Indonesian and English (checked, not forgotten).
const SAME_IN_INDONESIAN: &[Text] = &[
    Text::Ok,
    Text::Info,
    Text::Edit,
    Text::AdminLabel,
    Text::DayMonthYear,
    Text::DayMonthTime,
    Text::DayMonth,
    // Shown only in English (a 12-hour clock follows an English-speaking locale), and
    // Indonesian writes them alike where it counts to 12.
    Text::BeforeNoon,
    Text::AfterNoon,
    Text::ReactionLabel,
    Text::EmojiPicker,
    // A name and a message, punctuated alike in both.
    Text::SenderSaid,
    // Units are the same words in both.
    Text::SizeBytes,
    Text::SizeKilobytes,
    Text::SizeMegabytes,
    Text::January,
    Text::February,
    Text::March,
    Text::April,
    Text::June,
    Text::July,
    Text::September,
    Text::November,
];

fn catalogue(language: Language) -> Catalogue {
    let path = format!(
        "{}/../../public/locales/{}.txt",
        env!("CARGO_MANIFEST_DIR"),
        language.code()
    );
    let source = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    Catalogue::parse(language, &source).unwrap_or_else(|error| panic!("{path}: {error}"))
}

fn translations() -> impl Iterator<Item = Language> {
    Language::ALL
        .into_iter()
        .filter(|language| *language != Language::English)
}

#[test]
fn every_catalogue_has_words_for_every_key() {
    for language in translations() {
        let missing = catalogue(language).missing();
        assert!(
            missing.is_empty(),
            "public/locales/{}.txt has no words for: {}",
            language.code(),
            missing.join(", ")
        );
    }
}

#[test]
fn every_translation_keeps_the_english_placeholders() {
    for language in translations() {
        let wrong = catalogue(language).wrong_placeholders();
        assert!(
            wrong.is_empty(),
            "public/locales/{}.txt changes the {{placeholders}} of: {}",
            language.code(),
            wrong.join(", ")
        );
    }
}

#[test]
fn no_indonesian_words_are_english_left_untranslated() {
    let indonesian = catalogue(Language::Indonesian);
    let untranslated: Vec<&str> = Text::ALL
        .iter()
        .filter(|text| !SAME_IN_INDONESIAN.contains(text))
        .filter(|text| indonesian.text(**text) == text.english())
        .map(|text| text.name())
        .collect();
    assert!(
        untranslated.is_empty(),
        "still English in id.txt: {}",
        untranslated.join(", ")
    );
    for count in Count::ALL {
        assert_ne!(
            indonesian.count(*count, 2),
            count.english(PluralForm::Other),
            "{}",
            count.name()
        );
    }
}

#[test]
fn english_has_both_plural_forms_and_they_differ_where_english_inflects() {
    let english = Catalogue::english();
    assert_eq!(english.count(Count::DaysAgo, 1), "{count} day ago");
    assert_eq!(english.count(Count::DaysAgo, 3), "{count} days ago");
    assert!(english.missing().is_empty());
}
