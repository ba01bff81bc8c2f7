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

fn found(index: &mut SearchIndex, query: &str) -> Vec<u8> {
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
    let mut index = indexed(&[
        (1, "Testing the new Kopi place"),
        (2, "ke café yuk"),
        (3, "contest"),
    ]);
    assert_eq!(
        found(&mut index, "test"),
        [1],
        "a beginning, not the middle of a word"
    );
    assert_eq!(found(&mut index, "kopi"), [1]);
    assert_eq!(found(&mut index, "KOPI"), [1]);
    assert_eq!(found(&mut index, "cafe"), [2]);
    assert_eq!(found(&mut index, "Café"), [2]);
    assert!(found(&mut index, "xyz").is_empty());
    assert!(
        found(&mut index, "  !? ").is_empty(),
        "no words, no results"
    );
}

#[test]
fn every_word_of_the_query_must_match_and_results_come_newest_first() {
    let mut index = indexed(&[
        (1, "makan siang"),
        (2, "siang ini makan di mana"),
        (3, "makan malam"),
        (4, "Makan? siang!"),
    ]);
    assert_eq!(found(&mut index, "makan siang"), [4, 2, 1]);
    assert_eq!(found(&mut index, "siang makan"), [4, 2, 1], "in any order");
    assert_eq!(found(&mut index, "mak"), [4, 3, 2, 1]);
    assert_eq!(index.search("mak", 2).len(), 2, "at most the limit");
}

#[test]
fn a_hit_says_which_words_matched() {
    let mut index = indexed(&[(1, "Kopi? kopinya enak, ngopi")]);
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
    assert_eq!(found(&mut index, "tiga"), Vec::<u8>::new());
    assert_eq!(found(&mut index, "empat"), [1]);
    assert_eq!(found(&mut index, "rapat"), [2, 1]);
    assert!(
        !index.put(doc(1, 1000, Some("rapat jam empat"))),
        "the same again changes nothing"
    );

    assert!(index.put(doc(2, 2000, None)));
    assert_eq!(found(&mut index, "rapat"), [1]);
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
    let mut index = SearchIndex::restore(vec![second.clone(), first.clone()]);
    assert!(found(&mut index, "halo").is_empty());
    assert_eq!(found(&mut index, "hai"), [1]);
    assert_eq!(index.len(), 1);

    // Rewriting the index as one segment keeps what it finds.
    let whole = SearchSegment {
        id: 3,
        docs: index.docs().cloned().collect(),
    };
    let mut again = SearchIndex::restore(vec![first, second, whole]);
    assert_eq!(found(&mut again, "hai"), [1]);
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
    let kata0 = found(&mut index, "kata0");
    let expected: Vec<u8> = (0..200_u8)
        .rev()
        .filter(|n| n % 7 == 0 && n % 3 != 0)
        .collect();
    assert_eq!(kata0, expected.into_iter().take(50).collect::<Vec<_>>());
    assert_eq!(index.search("diganti", 500).len(), 67);
    assert_eq!(index.len(), 200);
}

#[test]
fn entries_read_back_are_indexed_in_batches_and_newer_states_win() {
    let segment = SearchSegment {
        id: 1,
        docs: (1..=10_u8)
            .map(|n| doc(n, u64::from(n) * 1000, Some(&format!("pesan {n}"))))
            .collect(),
    };
    let mut index = SearchIndex::restore(vec![segment]);
    assert_eq!(index.len(), 10, "counted before they are split into words");
    assert!(index.index_pending(4), "six are left");
    // A newer state of one not yet indexed, and of one indexed.
    assert!(index.put(doc(9, 9000, Some("diganti"))));
    assert!(index.put(doc(2, 2000, None)));
    assert!(
        !index.put(doc(8, 8000, Some("pesan 8"))),
        "the same as read back"
    );
    assert_eq!(
        index
            .get(ClientMsgId([8; 16]))
            .and_then(|doc| doc.text.clone())
            .as_deref(),
        Some("pesan 8")
    );
    assert_eq!(index.docs().count(), 10);
    // The search indexes what is left first.
    assert_eq!(found(&mut index, "pesan"), [10, 8, 7, 6, 5, 4, 3, 1]);
    assert_eq!(found(&mut index, "diganti"), [9]);
    assert_eq!(index.len(), 9);
    assert!(!index.index_pending(100));
}
