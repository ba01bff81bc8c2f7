//! Photos and files in a group: a photo and a file of a few megabytes sent to a group of three
//! reach both other members, who each see the photo's preview, open it at full size and save
//! the file byte for byte; a file sent back by another member reaches the rest the same way;
//! the server holds no byte of any of them, nor their names.
//!
//! A member added afterwards reads what is sent from then on (the file sent back), and not the
//! photo or file sent before: the group's keys reach only its members of the time (end-to-end
//! encryption, `docs/security.md`, "Rotation"), and the server serves a member the group from
//! their joining on (`docs/protocol.md`, "Paging"), so those messages are not shown at all —
//! not as waiting for a key that would never come.
//!
//! Run with `--test-threads=1` (as the suite is): the test drives four browsers.

use std::time::Duration;

use merpati_e2e::attachments::{
    plaintext_found_under, png_photo, pseudo_random_bytes, sha256_hex, text_found_under,
    within_attachment, write_file,
};
use merpati_e2e::{Browser, HarnessError, Meeting};

/// "A file of a few MB": 64 encrypted chunks, four upload parts.
const FILE_LEN: usize = 4_000_000;

/// How long a file of a few megabytes may take to be encrypted, uploaded and announced, or
/// downloaded, decrypted, checked and saved: slow by nature, so longer than a step.
const FILE_PATIENCE: Duration = Duration::from_secs(90);

/// The group's title.
const GROUP: &str = "Kebun";

/// Waits, within [`FILE_PATIENCE`], until `browser` shows `count` messages of its own, every
/// one acknowledged by the server.
async fn wait_own_sent(browser: &Browser, count: usize) -> Result<(), HarnessError> {
    let own = "[data-testid=\"message\"][data-own=\"true\"]";
    browser
        .eventually_within(
            &format!("{count} own messages sent"),
            FILE_PATIENCE,
            || async {
                let mut statuses = Vec::new();
                for message in browser
                    .client()
                    .find_all(fantoccini::Locator::Css(own))
                    .await?
                {
                    statuses.push(message.attr("data-status").await?.unwrap_or_default());
                }
                let sent = statuses
                    .iter()
                    .all(|status| ["sent", "delivered", "read"].contains(&status.as_str()));
                Ok((statuses.len() == count && sent).then_some(()))
            },
        )
        .await
}

/// The open chat's rows in display order: `message` rows as (lock, attachment kind or "",
/// text), and the lines about the group as ("line", "", words).
async fn rows(browser: &Browser) -> Result<Vec<(String, String, String)>, HarnessError> {
    let rows = browser
        .client()
        .execute(
            "return [...document.querySelectorAll(
                 '[data-testid=message], [data-testid=message-system]')].map((row) => {
                 if (row.dataset.testid === 'message-system') return ['line', '', row.textContent];
                 const attachment = row.querySelector('[data-testid=attachment]');
                 return [row.dataset.lock, attachment ? attachment.dataset.kind : '',
                         row.textContent];
             });",
            vec![],
        )
        .await?;
    serde_json::from_value(rows.clone())
        .map_err(|_| format!("the rows could not be read: {rows}").into())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_photo_and_files_sent_in_a_group_reach_every_member_intact_and_no_later_one()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let alice = meeting.sign_up_downloading("alice").await?;
    let bob = meeting.sign_up_downloading("bob").await?;
    let carol = meeting.sign_up_downloading("carol").await?;
    alice.create_group(GROUP, "bob, carol").await?;
    let files = tempfile::tempdir()?;

    // alice sends a photo and a file to the group.
    let photo = png_photo(640, 480, 0x6a0d_e11a);
    alice
        .attach(&write_file(files.path(), "kebun.png", &photo)?)
        .await?;
    let harvest = pseudo_random_bytes(FILE_LEN, 0x9a11_e575);
    alice
        .attach(&write_file(files.path(), "panen.dat", &harvest)?)
        .await?;
    wait_own_sent(&alice, 2).await?;

    // Each other member sees the photo's preview, opens it at full size, and saves the file.
    for member in [&bob, &carol] {
        member.open_chat(GROUP).await?;
        member.wait_photo_preview().await?;
        let size = member.open_photo(FILE_PATIENCE).await?;
        assert_eq!(size, (640.0, 480.0), "the photo at full size");
        member.close_photo().await?;
        let saved = member.download_file("panen.dat", FILE_PATIENCE).await?;
        assert_eq!(saved.len(), harvest.len());
        assert_eq!(sha256_hex(&saved), sha256_hex(&harvest));
    }

    // dave joins after both were sent.
    let dave = meeting.sign_up_downloading("dave").await?;
    alice.type_into("group-add-member-input", "dave").await?;
    alice.click("group-add-member-submit").await?;
    alice.wait_system_line("alice added dave").await?;

    // carol sends a file back once her browser knows dave is in the group (what it sends
    // before that, it seals for the members it knows); alice, bob and dave save it whole.
    carol
        .find_css("[data-testid=\"chat-member\"][data-username=\"dave\"]")
        .await?;
    let answer = pseudo_random_bytes(1_500_000, 0x0ca2_0151);
    carol
        .attach(&write_file(files.path(), "balasan.dat", &answer)?)
        .await?;
    wait_own_sent(&carol, 1).await?;
    dave.open_chat(GROUP).await?;
    for (name, member) in [("alice", &alice), ("bob", &bob), ("dave", &dave)] {
        let saved = match member.download_file("balasan.dat", FILE_PATIENCE).await {
            Ok(saved) => saved,
            Err(error) => {
                let shown = rows(member).await?;
                return Err(format!("{name}: {error}; the chat shows {shown:#?}").into());
            }
        };
        assert_eq!(sha256_hex(&saved), sha256_hex(&answer), "{name}'s copy");
    }

    // What alice sent before dave joined is not his: the server serves him the group from the
    // line adding him on, so nothing shows waiting for a key that could never come. carol's
    // file, sent after it and saved above, is the one attachment he sees.
    let seen = rows(&dave).await?;
    assert!(
        seen.iter()
            .all(|(lock, _, _)| lock == "open" || lock == "line"),
        "dave is shown messages from before he joined: {seen:#?}"
    );
    let attachments: Vec<&str> = seen
        .iter()
        .filter(|(_, kind, _)| !kind.is_empty())
        .map(|(_, kind, _)| kind.as_str())
        .collect();
    assert_eq!(attachments, ["file"], "{seen:#?}");
    let opened = seen.iter().filter(|(lock, _, _)| lock == "open").count();
    assert_eq!(opened, 1, "only carol's file opens for dave: {seen:#?}");
    assert!(
        dave.first_css(&within_attachment("image", "attachment-preview"))
            .await?
            .is_none(),
        "dave sees the photo sent before he joined"
    );
    assert_eq!(dave.downloaded_names().await?, ["balasan.dat"]);

    // The server holds none of the three files, nor their names.
    let found = plaintext_found_under(meeting.server.data_dir(), &[&photo, &harvest, &answer])?;
    assert!(found.is_empty(), "plaintext on the server: {found:#?}");
    for name in ["kebun.png", "panen.dat", "balasan.dat"] {
        let found = text_found_under(meeting.server.data_dir(), name)?;
        assert!(found.is_empty(), "a file's name on the server: {found:#?}");
    }

    for browser in [alice, bob, carol, dave] {
        browser.close().await?;
    }
    Ok(())
}
