//! The emoji the composer's picker offers, in the person's language, and finding them by name.
//!
//! The emoji and their names are a file per language (`public/emoji/<code>.txt`, written by
//! `scripts/emoji/make-data`), about 30 KB as served: the page fetches it the first time the
//! picker opens, so nobody downloads it who does not use the picker.
//!
//! # The file
//! UTF-8 text, a line per emoji, in the order the picker shows them; empty lines and lines
//! starting with `#` are ignored. A line is four or five fields with a tab between them:
//!
//! ```text
//! 3→☕️→hot beverage→breakfast|cafe|coffee|drink|hot|tea
//! 1→☝️→index pointing up→finger|hand|point|up→☝*
//! ```
//!
//! (each → a tab): the group's number ([`EmojiGroup::ALL`]'s order), the emoji, its name, and words it is known
//! by, with `|` between them (there may be none). Names and words are in lower case. An emoji
//! that takes a skin tone has a fifth field: itself with `*` at each place the tone's modifier
//! goes (`🧑*‍🤝‍🧑*` for two people of one tone), so the file need not hold every variant.
//! Further fields are read past: they are for later releases.
//!
//! # Finding
//! A query finds the emoji for which each of its words begins the name or one of its words
//! (`hot cof` finds ☕), the case of A to Z aside (the files are in lower case; folding other
//! letters would bring Unicode's case tables into the page for no word the files hold); those
//! whose name itself begins with the query come first, then the rest, each in the file's order.

use std::borrow::Cow;
use std::fmt;

use crate::Text;

/// The skin tone the picker shows the emoji of people and hands in: the default (yellow) or one
/// of Unicode's five modifiers. One choice for every emoji, as a person has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SkinTone {
    /// No modifier: the emoji as the font draws it by default.
    #[default]
    Default,
    /// U+1F3FB.
    Light,
    /// U+1F3FC.
    MediumLight,
    /// U+1F3FD.
    Medium,
    /// U+1F3FE.
    MediumDark,
    /// U+1F3FF.
    Dark,
}

impl SkinTone {
    /// Every tone, in the chooser's order; a tone is kept by its place here ([`Self::index`]).
    pub const ALL: [SkinTone; 6] = [
        SkinTone::Default,
        SkinTone::Light,
        SkinTone::MediumLight,
        SkinTone::Medium,
        SkinTone::MediumDark,
        SkinTone::Dark,
    ];

    /// Its place in [`Self::ALL`], as it is kept.
    pub fn index(self) -> u8 {
        self as u8
    }

    /// The tone kept as `index`, or the default for a number that is none.
    pub fn from_index(index: u8) -> SkinTone {
        Self::ALL
            .get(usize::from(index))
            .copied()
            .unwrap_or_default()
    }

    /// The modifier that gives an emoji this tone (none for the default).
    pub fn modifier(self) -> Option<char> {
        match self {
            SkinTone::Default => None,
            SkinTone::Light => Some('\u{1F3FB}'),
            SkinTone::MediumLight => Some('\u{1F3FC}'),
            SkinTone::Medium => Some('\u{1F3FD}'),
            SkinTone::MediumDark => Some('\u{1F3FE}'),
            SkinTone::Dark => Some('\u{1F3FF}'),
        }
    }

    /// Its name on screen.
    pub fn label(self) -> Text {
        match self {
            SkinTone::Default => Text::SkinToneDefault,
            SkinTone::Light => Text::SkinToneLight,
            SkinTone::MediumLight => Text::SkinToneMediumLight,
            SkinTone::Medium => Text::SkinToneMedium,
            SkinTone::MediumDark => Text::SkinToneMediumDark,
            SkinTone::Dark => Text::SkinToneDark,
        }
    }

    /// Its name in `data-tone` (stable, for tests and styles).
    pub fn code(self) -> &'static str {
        match self {
            SkinTone::Default => "default",
            SkinTone::Light => "light",
            SkinTone::MediumLight => "medium-light",
            SkinTone::Medium => "medium",
            SkinTone::MediumDark => "medium-dark",
            SkinTone::Dark => "dark",
        }
    }

    /// A raised hand in this tone: how the chooser shows it.
    pub fn sample(self) -> String {
        std::iter::once('\u{270B}').chain(self.modifier()).collect()
    }
}

/// The groups the picker shows an emoji in, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmojiGroup {
    /// Smileys and emotion.
    Smileys,
    /// People and body.
    People,
    /// Animals and nature.
    Animals,
    /// Food and drink.
    Food,
    /// Travel and places.
    Travel,
    /// Activities.
    Activities,
    /// Objects.
    Objects,
    /// Symbols.
    Symbols,
    /// Flags.
    Flags,
}

impl EmojiGroup {
    /// Every group, in the picker's order; a file numbers them by their place here.
    pub const ALL: [EmojiGroup; 9] = [
        EmojiGroup::Smileys,
        EmojiGroup::People,
        EmojiGroup::Animals,
        EmojiGroup::Food,
        EmojiGroup::Travel,
        EmojiGroup::Activities,
        EmojiGroup::Objects,
        EmojiGroup::Symbols,
        EmojiGroup::Flags,
    ];

    /// Its name on screen.
    pub fn label(self) -> Text {
        match self {
            EmojiGroup::Smileys => Text::EmojiSmileys,
            EmojiGroup::People => Text::EmojiPeople,
            EmojiGroup::Animals => Text::EmojiAnimals,
            EmojiGroup::Food => Text::EmojiFood,
            EmojiGroup::Travel => Text::EmojiTravel,
            EmojiGroup::Activities => Text::EmojiActivities,
            EmojiGroup::Objects => Text::EmojiObjects,
            EmojiGroup::Symbols => Text::EmojiSymbols,
            EmojiGroup::Flags => Text::EmojiFlags,
        }
    }

    /// Its name in `data-group` (stable, for tests and styles).
    pub fn code(self) -> &'static str {
        match self {
            EmojiGroup::Smileys => "smileys",
            EmojiGroup::People => "people",
            EmojiGroup::Animals => "animals",
            EmojiGroup::Food => "food",
            EmojiGroup::Travel => "travel",
            EmojiGroup::Activities => "activities",
            EmojiGroup::Objects => "objects",
            EmojiGroup::Symbols => "symbols",
            EmojiGroup::Flags => "flags",
        }
    }
}

/// Whether `c` is one of the skin-tone modifiers.
fn is_modifier(c: char) -> bool {
    ('\u{1F3FB}'..='\u{1F3FF}').contains(&c)
}

/// One emoji the picker offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emoji {
    /// The emoji itself, as it goes into a message.
    pub emoji: String,
    /// Its name in the file's language (for `aria-label` and the tooltip).
    pub name: String,
    /// Its group.
    pub group: EmojiGroup,
    /// The words it is known by, `|` between them, as the file has them.
    keywords: String,
    /// For an emoji that takes a skin tone: itself with `*` where the tone's modifier goes.
    toned: Option<String>,
}

impl Emoji {
    /// The words it is known by.
    pub fn keywords(&self) -> impl Iterator<Item = &str> {
        self.keywords.split('|').filter(|word| !word.is_empty())
    }

    /// The emoji in `tone`, as it goes into a message: itself for the default tone or when
    /// it takes none.
    pub fn in_tone(&self, tone: SkinTone) -> Cow<'_, str> {
        match (&self.toned, tone.modifier()) {
            (Some(template), Some(modifier)) => {
                Cow::Owned(template.replace('*', modifier.encode_utf8(&mut [0; 4])))
            }
            _ => Cow::Borrowed(&self.emoji),
        }
    }

    /// Whether it takes a skin tone.
    pub fn takes_tone(&self) -> bool {
        self.toned.is_some()
    }

    /// Whether every word of `query` (in lower case) begins a
    /// word of the name or one of the keywords.
    fn matches(&self, query: &[String]) -> bool {
        query.iter().all(|wanted| {
            let begins = |text: &str| {
                text.split([' ', '-'])
                    .any(|word| word.starts_with(wanted.as_str()))
            };
            begins(&self.name) || self.keywords().any(begins)
        })
    }
}

/// A file's emoji, in its order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EmojiSet {
    emoji: Vec<Emoji>,
}

/// Why an emoji file could not be read: which line, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmojiFileError {
    /// The line's number, from 1.
    pub line: usize,
    /// What is wrong.
    pub problem: &'static str,
}

impl fmt::Display for EmojiFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "emoji file, line {}: {}", self.line, self.problem)
    }
}

impl std::error::Error for EmojiFileError {}

impl EmojiSet {
    /// Reads an emoji file (the module's documentation has its format).
    pub fn parse(source: &str) -> Result<EmojiSet, EmojiFileError> {
        let mut emoji = Vec::new();
        for (index, line) in source.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let error = |problem| EmojiFileError {
                line: index + 1,
                problem,
            };
            // Fields after the fifth are for a later release: a page still running this one
            // (from the service worker's cache) reads the file the server has now.
            let mut fields = line.split('\t');
            let (Some(group), Some(glyph), Some(name), Some(keywords), toned) = (
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
            ) else {
                return Err(error("fewer than four fields with tabs between them"));
            };
            let group = group
                .parse::<usize>()
                .ok()
                .and_then(|number| EmojiGroup::ALL.get(number).copied())
                .ok_or_else(|| error("the group is not one of the picker's"))?;
            if glyph.is_empty() || name.is_empty() {
                return Err(error("an emoji without itself or its name"));
            }
            if toned.is_some_and(|toned| !toned.contains('*') || toned.contains(is_modifier)) {
                return Err(error("a tone's place without a * or with a tone in it"));
            }
            emoji.push(Emoji {
                emoji: glyph.to_owned(),
                name: name.to_owned(),
                group,
                keywords: keywords.to_owned(),
                toned: toned.map(str::to_owned),
            });
        }
        Ok(EmojiSet { emoji })
    }

    /// How many emoji it holds.
    pub fn len(&self) -> usize {
        self.emoji.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.emoji.is_empty()
    }

    /// The emoji `emoji`, in any skin tone, if the file has it.
    pub fn find(&self, emoji: &str) -> Option<&Emoji> {
        self.emoji
            .iter()
            .find(|held| held.emoji == emoji)
            .or_else(|| {
                // Toned, it is its template with the modifiers where the `*` are.
                let untoned: String = emoji.chars().filter(|c| !is_modifier(*c)).collect();
                (untoned.len() < emoji.len())
                    .then(|| {
                        self.emoji.iter().find(|held| {
                            held.toned
                                .as_deref()
                                .is_some_and(|template| template.replace('*', "") == untoned)
                        })
                    })
                    .flatten()
            })
    }

    /// The emoji of `group`, in order.
    pub fn in_group(&self, group: EmojiGroup) -> impl Iterator<Item = &Emoji> {
        self.emoji.iter().filter(move |emoji| emoji.group == group)
    }

    /// At most `limit` emoji that `query` finds (see the module's documentation), best first.
    /// A query of no words finds none.
    pub fn search(&self, query: &str, limit: usize) -> Vec<&Emoji> {
        let query: Vec<String> = query
            .split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect();
        if query.is_empty() {
            return Vec::new();
        }
        let whole = query.join(" ");
        let (mut first, rest): (Vec<&Emoji>, Vec<&Emoji>) = self
            .emoji
            .iter()
            .filter(|emoji| emoji.matches(&query))
            .partition(|emoji| emoji.name.starts_with(&whole));
        first.extend(rest);
        first.truncate(limit);
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# a comment\n\n0\t😀\tgrinning face\tface|grin\n3\t☕\thot beverage\tbreakfast|coffee|drink|hot|tea\n3\t🍵\tteacup without handle\tdrink|tea|teacup\n8\t🇮🇩\tflag: indonesia\t\n1\t☝\u{fe0f}\tindex pointing up\tfinger|up\t☝*\n1\t🧑\u{200d}🤝\u{200d}🧑\tpeople holding hands\thand\t🧑*\u{200d}🤝\u{200d}🧑*\n";

    fn glyphs(found: &[&Emoji]) -> Vec<String> {
        found.iter().map(|emoji| emoji.emoji.clone()).collect()
    }

    #[test]
    fn a_file_reads_into_its_emoji_in_order_with_their_groups_and_words() {
        let set = EmojiSet::parse(SAMPLE).expect("the sample reads");
        assert_eq!(set.len(), 6);
        let food: Vec<&Emoji> = set.in_group(EmojiGroup::Food).collect();
        assert_eq!(glyphs(&food), ["☕", "🍵"]);
        assert_eq!(food[0].name, "hot beverage");
        assert_eq!(
            food[0].keywords().collect::<Vec<_>>(),
            ["breakfast", "coffee", "drink", "hot", "tea"]
        );
        assert_eq!(
            set.find("🍵").map(|emoji| emoji.name.as_str()),
            Some("teacup without handle")
        );
        assert_eq!(set.find("🍵🍵"), None);
        let flags: Vec<&Emoji> = set.in_group(EmojiGroup::Flags).collect();
        assert_eq!(flags[0].keywords().count(), 0);
        assert_eq!(set.in_group(EmojiGroup::People).count(), 2);
        assert_eq!(set.in_group(EmojiGroup::Animals).count(), 0);
    }

    #[test]
    fn an_emoji_takes_the_tone_chosen_where_its_template_says() {
        let set = EmojiSet::parse(SAMPLE).expect("the sample reads");
        let find = |emoji: &str| set.find(emoji).expect("in the sample");
        let pointing = find("☝\u{fe0f}");
        assert!(pointing.takes_tone());
        // The modifier takes the presentation selector's place.
        assert_eq!(pointing.in_tone(SkinTone::Medium), "☝\u{1F3FD}");
        assert_eq!(pointing.in_tone(SkinTone::Default), "☝\u{fe0f}");
        // Each person in it, the same tone.
        assert_eq!(
            find("🧑\u{200d}🤝\u{200d}🧑").in_tone(SkinTone::Dark),
            "🧑\u{1F3FF}\u{200d}🤝\u{200d}🧑\u{1F3FF}"
        );
        // Found in any tone, by its template.
        assert_eq!(
            set.find("☝\u{1F3FB}").map(|emoji| emoji.name.as_str()),
            Some("index pointing up")
        );
        assert_eq!(set.find("☕\u{1F3FB}"), None);
        // What takes no tone stays itself.
        let coffee = find("☕");
        assert!(!coffee.takes_tone());
        assert_eq!(coffee.in_tone(SkinTone::Light), "☕");
    }

    #[test]
    fn a_tone_is_kept_by_its_place_and_an_unknown_one_is_the_default() {
        for tone in SkinTone::ALL {
            assert_eq!(SkinTone::from_index(tone.index()), tone);
        }
        assert_eq!(SkinTone::from_index(6), SkinTone::Default);
        assert_eq!(SkinTone::from_index(u8::MAX), SkinTone::Default);
        assert_eq!(SkinTone::Default.sample(), "\u{270B}");
        assert_eq!(SkinTone::MediumDark.sample(), "\u{270B}\u{1F3FE}");
    }

    #[test]
    fn a_broken_line_is_refused_with_its_number() {
        for (source, line, problem) in [
            (
                "0\t😀\tgrinning face\n",
                1,
                "fewer than four fields with tabs between them",
            ),
            (
                "1\t👋\twaving hand\thand\t👋\n",
                1,
                "a tone's place without a * or with a tone in it",
            ),
            (
                "1\t👋\twaving hand\thand\t👋\u{1F3FB}*\n",
                1,
                "a tone's place without a * or with a tone in it",
            ),
            (
                "9\t😀\tgrinning face\tface\n",
                1,
                "the group is not one of the picker's",
            ),
            (
                "x\t😀\tgrinning face\tface\n",
                1,
                "the group is not one of the picker's",
            ),
            (
                "0\t\tgrinning face\tface\n",
                1,
                "an emoji without itself or its name",
            ),
        ] {
            assert_eq!(
                EmojiSet::parse(source),
                Err(EmojiFileError { line, problem }),
                "{source:?}"
            );
        }
    }

    #[test]
    fn fields_a_later_release_adds_are_left_aside() {
        let set = EmojiSet::parse("1\t👋\twaving hand\thand\t👋*\tsomething new\tand more\n")
            .expect("it reads");
        let waving = set.find("👋").expect("its emoji");
        assert_eq!(waving.name, "waving hand");
        assert_eq!(waving.in_tone(SkinTone::Dark), "👋\u{1F3FF}");
    }

    #[test]
    fn each_word_of_a_query_must_begin_a_word_of_the_name_or_a_keyword() {
        let set = EmojiSet::parse(SAMPLE).expect("the sample reads");
        assert_eq!(glyphs(&set.search("coffee", 10)), ["☕"]);
        assert_eq!(glyphs(&set.search("hot cof", 10)), ["☕"]);
        assert_eq!(glyphs(&set.search("  HOT   Cof ", 10)), ["☕"]);
        assert_eq!(glyphs(&set.search("handle", 10)), ["🍵"]);
        assert_eq!(glyphs(&set.search("indo", 10)), ["🇮🇩"]);
        // Inside a word is not the start of one.
        assert!(set.search("offee", 10).is_empty());
        assert!(set.search("coffee grin", 10).is_empty());
        assert!(set.search("", 10).is_empty());
        assert!(set.search("   ", 10).is_empty());
    }

    #[test]
    fn names_that_begin_with_the_query_come_first_and_the_limit_holds() {
        let set = EmojiSet::parse(SAMPLE).expect("the sample reads");
        // ☕ comes first in the file but only its keywords hold "tea"; 🍵's name begins so.
        assert_eq!(glyphs(&set.search("tea", 10)), ["🍵", "☕"]);
        assert_eq!(glyphs(&set.search("tea", 1)), ["🍵"]);
        assert!(set.search("tea", 0).is_empty());
    }

    /// The files the app serves: both read, hold the same emoji in the same groups and order,
    /// fill every group, hold no emoji twice, and each fits in a reaction.
    #[test]
    fn the_shipped_files_read_and_agree() {
        let english =
            EmojiSet::parse(include_str!("../../../public/emoji/en.txt")).expect("en.txt reads");
        let indonesian =
            EmojiSet::parse(include_str!("../../../public/emoji/id.txt")).expect("id.txt reads");
        assert!(english.len() > 1_500, "{} emoji", english.len());
        let shape = |set: &EmojiSet| -> Vec<(String, EmojiGroup, Option<String>)> {
            set.emoji
                .iter()
                .map(|emoji| (emoji.emoji.clone(), emoji.group, emoji.toned.clone()))
                .collect()
        };
        assert_eq!(shape(&english), shape(&indonesian));
        for group in EmojiGroup::ALL {
            assert!(english.in_group(group).count() > 0, "{group:?} is empty");
        }
        let mut seen = std::collections::HashSet::new();
        for emoji in &english.emoji {
            assert!(seen.insert(emoji.emoji.as_str()), "{} twice", emoji.emoji);
            // Any of them, in any tone, can be a reaction.
            for tone in SkinTone::ALL {
                let toned = emoji.in_tone(tone);
                assert!(
                    toned.len() <= merpati_protocol::content::MAX_REACTION_BYTES,
                    "{toned} is too long for a reaction"
                );
            }
        }
        assert!(
            english
                .emoji
                .iter()
                .filter(|emoji| emoji.takes_tone())
                .count()
                > 250
        );
        let waving = english.find("👋").expect("waving hand");
        assert_eq!(waving.in_tone(SkinTone::Light), "👋\u{1F3FB}");
        // Fully qualified, as keyboards send them: with the emoji presentation selector.
        let coffee = "\u{2615}\u{fe0f}";
        assert_eq!(glyphs(&english.search("coffee", 5))[0], coffee);
        assert!(glyphs(&indonesian.search("kopi", 5)).contains(&coffee.to_owned()));
        assert_eq!(glyphs(&indonesian.search("bendera indonesia", 5)), ["🇮🇩"]);
    }
}
