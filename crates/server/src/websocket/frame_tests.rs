//! Frames from bytes: every rule a server must check, the limits, the memory let go, and
//! (property tests) any message cut into any pieces reads back whole while any bytes at all
//! give messages or an error, never a panic.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;

const LIMIT: usize = 64 * 1024;
const MASK: [u8; 4] = [0x37, 0xFA, 0x21, 0x3D];

/// A client's frame: `first` is FIN, RSV and opcode; the payload is masked with `mask`.
fn client_frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut frame = vec![first];
    let masked = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        len @ 0..=125 => frame.push(masked | len as u8),
        len @ 126..=0xFFFF => {
            frame.push(masked | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(masked | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    let mut payload = payload.to_vec();
    if let Some(mask) = mask {
        frame.extend_from_slice(&mask);
        unmask(&mut payload, mask);
    }
    frame.extend_from_slice(&payload);
    frame
}

fn binary(payload: &[u8]) -> Vec<u8> {
    client_frame(0x82, payload, Some(MASK))
}

/// What `bytes` read as, all at once.
fn read_all(bytes: &[u8]) -> Result<Vec<Message>, Error> {
    let mut inbound = Inbound::new(LIMIT);
    inbound.extend(bytes);
    let mut messages = Vec::new();
    while let Some(message) = inbound.next_message()? {
        messages.push(message);
    }
    Ok(messages)
}

fn protocol_error(bytes: &[u8]) -> &'static str {
    match read_all(bytes) {
        Err(Error::Protocol(reason)) => reason,
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

#[test]
fn a_masked_frame_of_each_length_encoding_is_one_message() {
    for len in [0, 125, 126, 0xFFFF, LIMIT] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let messages = read_all(&binary(&payload)).unwrap();
        assert_eq!(
            messages,
            vec![Message::Binary(payload.into())],
            "{len} bytes"
        );
    }
}

#[test]
fn fragments_make_one_message_with_control_frames_between_them() {
    let mut bytes = client_frame(0x01, "Halo, ".as_bytes(), Some(MASK));
    bytes.extend(client_frame(0x89, b"are you there", Some(MASK)));
    bytes.extend(client_frame(0x00, "apa ".as_bytes(), Some(MASK)));
    bytes.extend(client_frame(0x80, "kabar?".as_bytes(), Some(MASK)));
    let messages = read_all(&bytes).unwrap();
    assert_eq!(
        messages,
        vec![
            Message::Ping(Bytes::from_static(b"are you there")),
            Message::Text("Halo, apa kabar?".into()),
        ]
    );
}

#[test]
fn a_close_frame_gives_its_code_and_reason() {
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice("selesai".as_bytes());
    let messages = read_all(&client_frame(0x88, &payload, Some(MASK))).unwrap();
    assert_eq!(
        messages,
        vec![Message::Close(Some(CloseFrame {
            code: 1000,
            reason: "selesai".into()
        }))]
    );
    let empty = read_all(&client_frame(0x88, &[], Some(MASK))).unwrap();
    assert_eq!(empty, vec![Message::Close(None)]);
}

#[test]
fn a_frame_over_the_limit_is_refused_from_its_header_alone() {
    // Only the header: the refusal must not wait for (or keep) the payload.
    let header = &client_frame(0x82, &vec![0; LIMIT + 1], Some(MASK))[..10];
    assert!(matches!(
        read_all(header),
        Err(Error::TooLarge { size, limit: LIMIT }) if size == LIMIT as u64 + 1
    ));
    let mut huge = vec![0x82, 0x80 | 127];
    huge.extend_from_slice(&u64::MAX.to_be_bytes());
    assert!(matches!(read_all(&huge), Err(Error::TooLarge { .. })));
}

#[test]
fn a_fragmented_message_over_the_limit_is_refused() {
    let half = vec![7; LIMIT / 2 + 1];
    let mut bytes = client_frame(0x02, &half, Some(MASK));
    bytes.extend(client_frame(0x80, &half, Some(MASK)));
    assert!(matches!(read_all(&bytes), Err(Error::TooLarge { .. })));
}

#[test]
fn every_rule_a_server_must_check_is_checked() {
    assert_eq!(
        protocol_error(&client_frame(0x82, b"x", None)),
        "a client's frame must be masked"
    );
    assert_eq!(
        protocol_error(&client_frame(0xC2, b"x", Some(MASK))),
        "reserved bits set, and no extension agreed"
    );
    assert_eq!(
        protocol_error(&client_frame(0x83, b"x", Some(MASK))),
        "a frame of an unknown opcode"
    );
    assert_eq!(
        protocol_error(&client_frame(0x09, b"x", Some(MASK))),
        "a fragmented control frame"
    );
    assert_eq!(
        protocol_error(&client_frame(0x89, &[0; 126], Some(MASK))),
        "a control frame over 125 bytes"
    );
    assert_eq!(
        protocol_error(&client_frame(0x80, b"x", Some(MASK))),
        "a continuation of no message"
    );
    let mut interrupted = client_frame(0x02, b"x", Some(MASK));
    interrupted.extend(binary(b"y"));
    assert_eq!(
        protocol_error(&interrupted),
        "a new message before the last one ended"
    );
    assert_eq!(
        protocol_error(&client_frame(0x88, &[3], Some(MASK))),
        "a close frame of one byte"
    );
    for code in [999u16, 1005, 1006, 1015, 2999, 5000] {
        assert_eq!(
            protocol_error(&client_frame(0x88, &code.to_be_bytes(), Some(MASK))),
            "a close code that may not be sent",
            "code {code}"
        );
    }
    assert!(matches!(
        read_all(&client_frame(0x81, &[0xC3, 0x28], Some(MASK))),
        Err(Error::NotUtf8)
    ));
}

#[test]
fn the_buffer_is_let_go_once_its_bytes_are_messages() {
    let mut inbound = Inbound::new(LIMIT);
    inbound.extend(&binary(&vec![1; LIMIT]));
    assert!(inbound.held_bytes() >= LIMIT);
    let message = inbound.next_message().unwrap();
    assert!(matches!(message, Some(Message::Binary(ref bytes)) if bytes.len() == LIMIT));
    assert_eq!(inbound.next_message().unwrap(), None);
    inbound.release();
    assert_eq!(inbound.held_bytes(), 0, "nothing is held between messages");
    drop(message);

    // A large frame followed by the first bytes of the next: only those bytes stay.
    let mut bytes = binary(&vec![2; LIMIT]);
    bytes.extend_from_slice(&binary(b"next")[..3]);
    inbound.extend(&bytes);
    assert!(inbound.next_message().unwrap().is_some());
    assert_eq!(inbound.next_message().unwrap(), None);
    inbound.release();
    assert!(inbound.held_bytes() < 64, "held {}", inbound.held_bytes());
    inbound.extend(&binary(b"next")[3..]);
    assert_eq!(
        inbound.next_message().unwrap(),
        Some(Message::Binary(Bytes::from_static(b"next")))
    );
}

#[test]
fn the_servers_frame_headers_use_the_shortest_length() {
    assert_eq!(head(OpCode::Binary, 125).as_bytes(), [0x82, 125]);
    assert_eq!(head(OpCode::Binary, 126).as_bytes(), [0x82, 126, 0, 126]);
    assert_eq!(
        head(OpCode::Binary, 0x1_0000).as_bytes(),
        [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]
    );
    assert_eq!(head(OpCode::Close, 0).as_bytes(), [0x88, 0]);
}

#[test]
fn a_close_reason_too_long_is_cut_at_a_character() {
    let frame = CloseFrame {
        code: 1008,
        reason: "é".repeat(100).into(),
    };
    let payload = close_payload(&frame);
    assert_eq!(payload.len(), 2 + 122);
    assert!(std::str::from_utf8(&payload[2..]).is_ok());
}

fn any_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(|b| Message::Binary(b.into())),
        ".{0,80}".prop_map(Message::Text),
        proptest::collection::vec(any::<u8>(), 0..125).prop_map(|b| Message::Ping(b.into())),
    ]
}

/// A message as a client would send it, in one frame or in fragments of `piece` bytes.
fn client_frames(message: &Message, piece: usize, mask: [u8; 4]) -> Vec<u8> {
    let (opcode, payload): (u8, &[u8]) = match message {
        Message::Binary(bytes) => (0x2, bytes),
        Message::Text(text) => (0x1, text.as_bytes()),
        Message::Ping(bytes) => return client_frame(0x89, bytes, Some(mask)),
        _ => unreachable!("not generated"),
    };
    let pieces: Vec<&[u8]> = if payload.is_empty() {
        vec![payload]
    } else {
        payload.chunks(piece.max(1)).collect()
    };
    let last = pieces.len() - 1;
    let mut bytes = Vec::new();
    for (i, piece) in pieces.into_iter().enumerate() {
        let code = if i == 0 { opcode } else { 0 };
        let fin = if i == last { 0x80 } else { 0 };
        bytes.extend(client_frame(fin | code, piece, Some(mask)));
    }
    bytes
}

proptest! {
    #[test]
    fn messages_cut_into_any_pieces_read_back_whole(
        messages in proptest::collection::vec(any_message(), 1..8),
        fragment in 1usize..100,
        mask in any::<[u8; 4]>(),
        cuts in proptest::collection::vec(1usize..50, 1..40),
    ) {
        let bytes: Vec<u8> = messages.iter().flat_map(|m| client_frames(m, fragment, mask)).collect();
        let mut inbound = Inbound::new(LIMIT);
        let mut read = Vec::new();
        let mut at = 0;
        for cut in cuts.iter().cycle() {
            if at >= bytes.len() {
                break;
            }
            let end = (at + cut).min(bytes.len());
            inbound.extend(&bytes[at..end]);
            at = end;
            while let Some(message) = inbound.next_message().unwrap() {
                read.push(message);
            }
            inbound.release();
        }
        prop_assert_eq!(read, messages);
        prop_assert_eq!(inbound.held_bytes(), 0);
    }

    #[test]
    fn any_bytes_give_messages_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut inbound = Inbound::new(1024);
        inbound.extend(&bytes);
        while let Ok(Some(_)) = inbound.next_message() {}
    }
}
