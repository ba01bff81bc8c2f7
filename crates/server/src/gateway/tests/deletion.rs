//! Deleting a message for everyone over real sessions: acknowledged and delivered like a
//! message, and the target empty in every later page.

use super::*;

fn delete(chat_id: ChatId, id: u8, target: u8) -> ClientFrame {
    ClientFrame::SendDeletion {
        chat_id,
        client_msg_id: ClientMsgId([id; 16]),
        body: vec![id],
        target: ClientMsgId([target; 16]),
    }
}

#[tokio::test]
async fn a_deletion_is_delivered_like_a_message_and_later_pages_carry_the_target_empty() {
    let server = TestGateway::start();
    let (mut alice, _, _) = server.sign_up("alice").await;
    let (mut bob, _, _) = server.sign_up("bob").await;
    let chat = create_direct(&mut alice, "bob").await;
    pushed_chat(&mut bob).await;
    say(&mut alice, chat, 1).await;
    delivered(&mut bob).await;

    alice.write(&delete(chat, 2, 1));
    assert_eq!(acked(&mut alice, 2).await, Seq(2));
    assert_eq!(delivered(&mut alice).await.seq, Seq(2));
    let deletion = delivered(&mut bob).await;
    assert_eq!((deletion.seq, deletion.body), (Seq(2), vec![2]));
    // A resend is acknowledged again, and not delivered twice.
    alice.write(&delete(chat, 2, 1));
    assert_eq!(acked(&mut alice, 2).await, Seq(2));

    bob.write(&ClientFrame::Fetch {
        chat_id: chat,
        after: Seq(0),
        limit: 10,
    });
    match bob.next_frame().await {
        ServerFrame::Page { messages, .. } => {
            let bodies: Vec<Vec<u8>> = messages.into_iter().map(|m| m.body).collect();
            assert_eq!(bodies, [vec![], vec![2]]);
        }
        other => panic!("expected a page, got {other:?}"),
    }
}

#[tokio::test]
async fn deleting_someone_elses_message_fails_for_good() {
    let server = TestGateway::start();
    let (mut alice, _, _) = server.sign_up("alice").await;
    let (mut bob, _, _) = server.sign_up("bob").await;
    let chat = create_direct(&mut alice, "bob").await;
    pushed_chat(&mut bob).await;
    say(&mut alice, chat, 1).await;
    delivered(&mut bob).await;

    bob.write(&delete(chat, 2, 1));
    match bob.next_frame().await {
        ServerFrame::SendFailed {
            client_msg_id,
            code,
            ..
        } => assert_eq!(
            (client_msg_id, code),
            (ClientMsgId([2; 16]), ErrorCode::NotYourMessage)
        ),
        other => panic!("expected SendFailed, got {other:?}"),
    }
    still_serves(&mut bob).await;
}
