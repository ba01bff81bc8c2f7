//! The index's rules: word beginnings, case and accents, every query word, newest first,
//! edits and deletions, and segments read back in order.

use super::*;

fn doc(n: u8, at: u64, text: Option<&str>) -> SearchDoc {
    SearchDoc {
        id: ClientMsgId([n; 16]),
        chat_id: ChatId(u64::from(n % 3) + 1),
        seq: Seq(u64::from(n)),
        sender: UserId(u64::from(n % 2) + 1),
        sent_at_ms: at,
        text: text.map(str::to_owned),
    }
}

fn found(index: &SearchIndex, query: &str) -> Vec<u8> {
    index
        .search(query, 50)
        .into_iter()
        .map(|hit| hit.id.0[0])
        .collect()
}

fn indexed(docs: &[(u8, &str)]) -> SearchIndex {
    let mut index = SearchIndex::default();
    for (n, text) in docs {
        index.put(doc(*n, u64::from(*n) * 1000, Some(text)));
    }
    index
}

#[test]
fn a_word_beginning_finds_it_whatever_the_case_and_accents() {
    let index = indexed(&[
        (1, "Testing the new Kopi place"),
        (2, "ke café yuk"),
        (3, "contest"),
    ]);
    assert_eq!(
        found(&index, "test"),
        [1],
        "a beginning, not the middle of a word"
    );
    assert_eq!(found(&index, "kopi"), [1]);
    assert_eq!(found(&index, "KOPI"), [1]);
    assert_eq!(found(&index, "cafe"), [2]);
    assert_eq!(found(&index, "Café"), [2]);
    assert!(found(&index, "xyz").is_empty());
    assert!(found(&index, "  !? ").is_empty(), "no words, no results");
}

#[test]
fn every_word_of_the_query_must_match_and_results_come_newest_first() {
    let index = indexed(&[
        (1, "makan siang"),
        (2, "siang ini makan di mana"),
        (3, "makan malam"),
        (4, "Makan? siang!"),
    ]);
    assert_eq!(found(&index, "makan siang"), [4, 2, 1]);
    assert_eq!(found(&index, "siang makan"), [4, 2, 1], "in any order");
    assert_eq!(found(&index, "mak"), [4, 3, 2, 1]);
    assert_eq!(index.search("mak", 2).len(), 2, "at most the limit");
}

#[test]
fn a_hit_says_which_words_matched() {
    let index = indexed(&[(1, "Kopi? kopinya enak, ngopi")]);
    let hit = &index.search("kopi", 5)[0];
    let marked: Vec<&str> = hit.matched.iter().map(|r| &hit.text[r.clone()]).collect();
    assert_eq!(marked, ["Kopi", "kopinya"]);
    assert_eq!(
        (hit.chat_id, hit.seq, hit.sender),
        (ChatId(2), Seq(1), UserId(2))
    );
}

#[test]
fn an_edit_replaces_the_words_and_a_deletion_removes_them() {
    let mut index = indexed(&[(1, "rapat jam tiga"), (2, "rapat besok")]);
    assert!(index.put(doc(1, 1000, Some("rapat jam empat"))));
    assert_eq!(found(&index, "tiga"), Vec::<u8>::new());
    assert_eq!(found(&index, "empat"), [1]);
    assert_eq!(found(&index, "rapat"), [2, 1]);
    assert!(
        !index.put(doc(1, 1000, Some("rapat jam empat"))),
        "the same again changes nothing"
    );

    assert!(index.put(doc(2, 2000, None)));
    assert_eq!(found(&index, "rapat"), [1]);
    assert_eq!(index.len(), 1);
    assert_eq!(
        index.get(ClientMsgId([2; 16])).map(|doc| doc.text.clone()),
        Some(None)
    );
}

#[test]
fn segments_read_back_apply_in_order_whatever_order_they_are_given() {
    let first = SearchSegment {
        id: 1,
        docs: vec![
            doc(1, 1000, Some("halo semua")),
            doc(2, 2000, Some("halo juga")),
        ],
    };
    let second = SearchSegment {
        id: 2,
        docs: vec![doc(1, 1000, Some("hai semua")), doc(2, 2000, None)],
    };
    let index = SearchIndex::restore(vec![second.clone(), first.clone()]);
    assert!(found(&index, "halo").is_empty());
    assert_eq!(found(&index, "hai"), [1]);
    assert_eq!(index.len(), 1);

    // Rewriting the index as one segment keeps what it finds.
    let whole = SearchSegment {
        id: 3,
        docs: index.docs().cloned().collect(),
    };
    let again = SearchIndex::restore(vec![first, second, whole]);
    assert_eq!(found(&again, "hai"), [1]);
    assert_eq!(again.len(), 1);
}

#[test]
fn many_messages_sharing_words_stay_consistent_through_edits() {
    let mut index = SearchIndex::default();
    for n in 0..200_u8 {
        index.put(doc(
            n,
            u64::from(n),
            Some(&format!("pesan nomor {n} kata{}", n % 7)),
        ));
    }
    for n in (0..200_u8).step_by(3) {
        index.put(doc(n, u64::from(n), Some("diganti")));
    }
    let kata0 = found(&index, "kata0");
    let expected: Vec<u8> = (0..200_u8)
        .rev()
        .filter(|n| n % 7 == 0 && n % 3 != 0)
        .collect();
    assert_eq!(kata0, expected.into_iter().take(50).collect::<Vec<_>>());
    assert_eq!(index.search("diganti", 500).len(), 67);
    assert_eq!(index.len(), 200);
}
