//! How text becomes searchable words: split at anything that is not a letter or a digit,
//! lower-cased, accents taken off ("Café" → "cafe"), so that a query matches whatever case
//! and accents the writer used.
//!
//! Accents come off by a table of the precomposed Latin letters (Latin-1 Supplement and
//! Latin Extended-A, which cover Indonesian, Malay and the European languages people write
//! in) and by dropping combining marks (U+0300–U+036F, for text typed decomposed). A full
//! Unicode normalisation table would cost the worker tens of kilobytes for scripts whose
//! letters carry no accents to fold.

use std::ops::Range;

/// The words of `text`, folded, in order.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    word_spans(text).map(|span| fold(&text[span]))
}

/// Where each word of `text` lies (byte ranges), in order.
pub fn word_spans(text: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut chars = text.char_indices().peekable();
    std::iter::from_fn(move || {
        let (start, _) = chars.find(|(_, c)| is_word_char(*c))?;
        let mut end = text.len();
        while let Some((at, c)) = chars.peek().copied() {
            if !is_word_char(c) {
                end = at;
                break;
            }
            chars.next();
        }
        Some(start..end)
    })
}

/// A word lower-cased with its accents taken off.
pub fn fold(word: &str) -> String {
    let mut folded = String::with_capacity(word.len());
    for c in word.chars() {
        if is_combining_mark(c) {
            continue;
        }
        match base_letter(c) {
            Some(base) => folded.push_str(base),
            None => folded.extend(c.to_lowercase()),
        }
    }
    folded
}

/// Letters and digits make words; a combining mark belongs to the letter before it.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_combining_mark(c)
}

fn is_combining_mark(c: char) -> bool {
    ('\u{300}'..='\u{36f}').contains(&c)
}

/// The unaccented lower-case letter(s) of a precomposed Latin letter.
fn base_letter(c: char) -> Option<&'static str> {
    const LATIN_1: [&str; 64] = [
        "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i", // C0
        "d", "n", "o", "o", "o", "o", "o", "", "o", "u", "u", "u", "u", "y", "th", "ss", // D0
        "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i", // E0
        "d", "n", "o", "o", "o", "o", "o", "", "o", "u", "u", "u", "u", "y", "th", "y", // F0
    ];
    let code = c as u32;
    let base = match code {
        0xC0..=0xFF if code != 0xD7 && code != 0xF7 => LATIN_1[(code - 0xC0) as usize],
        // Latin Extended-A: each run of upper- and lower-case forms of one base letter.
        0x100..=0x105 => "a",
        0x106..=0x10D => "c",
        0x10E..=0x111 => "d",
        0x112..=0x11B => "e",
        0x11C..=0x123 => "g",
        0x124..=0x127 => "h",
        0x128..=0x131 => "i",
        0x132..=0x133 => "ij",
        0x134..=0x135 => "j",
        0x136..=0x138 => "k",
        0x139..=0x142 => "l",
        0x143..=0x14B => "n",
        0x14C..=0x151 => "o",
        0x152..=0x153 => "oe",
        0x154..=0x159 => "r",
        0x15A..=0x161 | 0x17F => "s",
        0x162..=0x167 => "t",
        0x168..=0x173 => "u",
        0x174..=0x175 => "w",
        0x176..=0x178 => "y",
        0x179..=0x17E => "z",
        _ => return None,
    };
    Some(base)
}

/// The byte ranges of the words of `text` that begin with one of `query` (folded words):
/// what a result highlights.
pub fn matches(text: &str, query: &[String]) -> Vec<Range<usize>> {
    word_spans(text)
        .filter(|span| {
            let word = fold(&text[span.clone()]);
            query.iter().any(|wanted| word.starts_with(wanted.as_str()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<String> {
        words(text).collect()
    }

    #[test]
    fn words_split_at_anything_but_letters_and_digits() {
        assert_eq!(
            all("Ngopi jam 3? ok—sampai nanti!"),
            ["ngopi", "jam", "3", "ok", "sampai", "nanti"]
        );
        assert!(all("  … !! ").is_empty());
    }

    #[test]
    fn case_and_accents_do_not_matter() {
        assert_eq!(
            all("Café CRÈME Ñandú Łódź Straße"),
            ["cafe", "creme", "nandu", "lodz", "strasse"]
        );
        // Typed decomposed: e + combining acute.
        assert_eq!(all("cafe\u{301}"), ["cafe"]);
        assert_eq!(fold("ŽŠČĆĐ"), "zsccd");
        assert_eq!(fold("ĞŞİ"), "gsi");
    }

    #[test]
    fn every_extended_a_letter_folds_to_ascii() {
        for code in 0x100..=0x17F_u32 {
            let c = char::from_u32(code).expect("a letter");
            let folded = fold(&c.to_string());
            assert!(
                !folded.is_empty() && folded.is_ascii(),
                "{c} (U+{code:04X}) folds to {folded:?}"
            );
        }
    }

    #[test]
    fn other_scripts_keep_their_letters() {
        assert_eq!(all("Привет мир 你好"), ["привет", "мир", "你好"]);
    }

    #[test]
    fn matches_are_the_words_a_query_begins() {
        let text = "Testing the Café, tested!";
        let query = vec!["test".to_owned(), "caf".to_owned()];
        let found: Vec<&str> = matches(text, &query)
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(found, ["Testing", "Café", "tested"]);
    }
}
