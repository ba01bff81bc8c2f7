//! The web addresses in a message's text, which the app shows as links.
//!
//! Only what is plainly an address becomes one: text beginning `http://` or `https://` (any
//! case), or `www.`, at the start of a word. A bare `example.com` stays text: a file name like
//! `notes.txt` would otherwise be a link to a stranger's site. A link opens only `http` or
//! `https` (an address beginning `www.` opens over `https`), and what it opens is exactly the
//! text shown: a message cannot show one address and lead to another.
//!
//! An address ends before a space, a control character, a character that reorders text on
//! screen (bidirectional controls could make the address look like another), `<`, `>`, `"`,
//! or a backtick; then the punctuation that ends sentences around it is left out (a full stop, a comma,
//! a closing bracket it did not open, …), as every messenger does.

use std::ops::Range;

/// One address in a text: where it is (byte offsets, on character boundaries) and what it
/// opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Where it is in the text.
    pub range: Range<usize>,
    /// What it opens: the text itself, with `https://` before one that begins `www.`.
    pub href: String,
}

/// The ways an address may begin, in lower case; the href gets the second.
const BEGINNINGS: [(&str, &str); 3] = [("https://", ""), ("http://", ""), ("www.", "https://")];

/// The addresses in `text`, in order.
pub fn find_links(text: &str) -> Vec<Link> {
    let mut links = Vec::new();
    let mut from = 0;
    while let Some((start, prefix)) = next_beginning(text, from) {
        let end = address_end(text, start);
        let end = without_trailing_punctuation(text, start, end);
        // The beginning alone (`https://`, or `www.` and dots) is no address, nor what is left
        // of one whose last dot was a full stop (`www`).
        let rest = &text[start..end];
        let beginning = beginning_len(rest);
        let after_beginning = rest.get(beginning..).unwrap_or_default();
        if beginning > 0 && after_beginning.chars().any(char::is_alphanumeric) {
            links.push(Link {
                range: start..end,
                href: format!("{prefix}{rest}"),
            });
        }
        from = end.max(start + 1);
        while !text.is_char_boundary(from) {
            from += 1;
        }
    }
    links
}

/// The next place at or after `from` where an address begins at the start of a word, and what
/// its href needs before it.
fn next_beginning(text: &str, from: usize) -> Option<(usize, &'static str)> {
    let mut previous = text[..from].chars().next_back();
    for (offset, c) in text[from..].char_indices() {
        let at = from + offset;
        let starts_word = previous.is_none_or(|previous| !previous.is_alphanumeric());
        if starts_word && (c == 'h' || c == 'H' || c == 'w' || c == 'W') {
            for (beginning, prefix) in BEGINNINGS {
                let here = text.get(at..at + beginning.len());
                if here.is_some_and(|here| here.eq_ignore_ascii_case(beginning)) {
                    return Some((at, prefix));
                }
            }
        }
        previous = Some(c);
    }
    None
}

/// How long `address`'s beginning is (`https://`, `http://` or `www.`).
fn beginning_len(address: &str) -> usize {
    BEGINNINGS
        .iter()
        .find(|(beginning, _)| {
            address
                .get(..beginning.len())
                .is_some_and(|here| here.eq_ignore_ascii_case(beginning))
        })
        .map_or(0, |(beginning, _)| beginning.len())
}

/// Where the address that begins at `start` ends: at the first character no address holds.
fn address_end(text: &str, start: usize) -> usize {
    text[start..]
        .char_indices()
        .find(|(_, c)| ends_address(*c))
        .map_or(text.len(), |(offset, _)| start + offset)
}

/// Whether `c` cannot be part of an address as the app shows one.
fn ends_address(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(c, '<' | '>' | '"' | '`')
        // Marks and embeddings, overrides and isolates that change the order text shows in.
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `end` moved back over the punctuation that closes a sentence or a bracket around the
/// address rather than belonging to it: a closing bracket stays when the address opened it
/// (`https://en.wikipedia.org/wiki/Merpati_(bird)`). The brackets are counted once, not again
/// for each one dropped: a message of nothing but closing brackets after an address stays one
/// pass over the text, whoever sent it.
fn without_trailing_punctuation(text: &str, start: usize, mut end: usize) -> usize {
    const BRACKETS: [(char, char); 3] = [('(', ')'), ('[', ']'), ('{', '}')];
    let address = &text[start..end];
    let opened = BRACKETS.map(|(opening, _)| address.matches(opening).count());
    let mut closed = BRACKETS.map(|(_, closing)| address.matches(closing).count());
    while let Some(last) = text[start..end].chars().next_back() {
        let drop = match BRACKETS.iter().position(|(_, closing)| *closing == last) {
            Some(kind) if opened[kind] < closed[kind] => {
                closed[kind] -= 1;
                true
            }
            Some(_) => false,
            None => matches!(
                last,
                '.' | ',' | ':' | ';' | '!' | '?' | '\'' | '…' | '*' | '_' | '~'
            ),
        };
        if !drop {
            break;
        }
        end -= last.len_utf8();
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The links of `text`, as the text each covers and what it opens.
    fn links(text: &str) -> Vec<(&str, String)> {
        find_links(text)
            .into_iter()
            .map(|link| (&text[link.range], link.href))
            .collect()
    }

    #[test]
    fn addresses_with_a_scheme_or_www_become_links_and_open_what_they_show() {
        assert_eq!(
            links("lihat https://merpati.example/chat?id=7#top ya"),
            [(
                "https://merpati.example/chat?id=7#top",
                "https://merpati.example/chat?id=7#top".to_owned()
            )]
        );
        assert_eq!(
            links("HTTP://Example.com and www.example.org/a"),
            [
                ("HTTP://Example.com", "HTTP://Example.com".to_owned()),
                ("www.example.org/a", "https://www.example.org/a".to_owned())
            ]
        );
        assert_eq!(
            links("https://a.example\nhttps://b.example"),
            [
                ("https://a.example", "https://a.example".to_owned()),
                ("https://b.example", "https://b.example".to_owned())
            ]
        );
    }

    #[test]
    fn what_is_not_plainly_an_address_stays_text() {
        for text in [
            "notes.txt and example.com",
            "javascript:alert(1)",
            "ftp://files.example",
            "xhttps://inside.a.word",
            "awww.example.com",
            "https:// alone",
            "https://",
            "www.",
            "www...",
            "",
        ] {
            assert_eq!(links(text), [], "{text:?}");
        }
    }

    #[test]
    fn sentence_punctuation_and_unopened_brackets_are_left_out() {
        assert_eq!(
            links("Go to https://example.com/a. Then, (see https://example.com/b), ok?"),
            [
                ("https://example.com/a", "https://example.com/a".to_owned()),
                ("https://example.com/b", "https://example.com/b".to_owned())
            ]
        );
        assert_eq!(
            links("https://en.wikipedia.org/wiki/Merpati_(bird)!"),
            [(
                "https://en.wikipedia.org/wiki/Merpati_(bird)",
                "https://en.wikipedia.org/wiki/Merpati_(bird)".to_owned()
            )]
        );
        // Brackets it opened and closed stay, however many; a sender's pile of closing ones goes.
        let piled = format!("https://a.example/x(y)[z]{}", ")".repeat(16_000));
        assert_eq!(
            links(&piled),
            [(
                "https://a.example/x(y)[z]",
                "https://a.example/x(y)[z]".to_owned()
            )]
        );
        assert_eq!(
            links("\"https://example.com\""),
            [("https://example.com", "https://example.com".to_owned())]
        );
    }

    #[test]
    fn an_address_ends_where_text_could_be_reordered_on_screen() {
        // U+202E would show what follows backwards: the link stops before it.
        let text = "https://bank.example\u{202E}moc.live";
        assert_eq!(
            links(text),
            [("https://bank.example", "https://bank.example".to_owned())]
        );
        assert_eq!(
            links("<https://example.com>"),
            [("https://example.com", "https://example.com".to_owned())]
        );
    }

    #[test]
    fn addresses_in_other_scripts_keep_whole_characters() {
        assert_eq!(
            links("ke https://contoh.example/kopi☕ sekarang… www.situs.example/é."),
            [
                (
                    "https://contoh.example/kopi☕",
                    "https://contoh.example/kopi☕".to_owned()
                ),
                (
                    "www.situs.example/é",
                    "https://www.situs.example/é".to_owned()
                )
            ]
        );
    }

    #[test]
    fn any_text_gives_links_on_character_boundaries_in_order() {
        // Arbitrary text, built to hold beginnings and awkward characters everywhere.
        let pieces = [
            "https://", "www.", "h", "é", "☕", ")", "(", ".", " ", "\u{202E}", "a", "W", "://",
            "\n", "😀", "]",
        ];
        let mut seed = 7u64;
        for _ in 0..2_000 {
            let mut text = String::new();
            for _ in 0..12 {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                text.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
            }
            let found = find_links(&text);
            let mut after = 0;
            for link in &found {
                assert!(link.range.start >= after, "{text:?}");
                assert!(text.get(link.range.clone()).is_some(), "{text:?}");
                after = link.range.end;
            }
        }
    }
}
