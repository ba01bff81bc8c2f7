//! The signals of a live conversation, in real headless Chromium against the real server and
//! the real release build: delivered and read receipts (read at once when the chat is
//! opened), typing, presence, the unread count in the tab's title, the read-receipts setting
//! (the account's: changed on one device, it holds on all),
//! group admins (adding a member, renaming, making an admin) with their system lines, and
//! blocking.
//!
//! Run with `--test-threads=1`: each test drives several browsers.

use merpati_e2e::{Browser, HarnessError, Meeting, PASSPHRASE, testid};

/// The `data-status` of the first message in the open chat, once there is one.
async fn first_status(browser: &Browser) -> Result<Option<String>, HarnessError> {
    Ok(browser.message_statuses().await?.into_iter().next())
}

/// Waits until the first message of the open chat has `status`.
async fn wait_first_status(browser: &Browser, status: &str) -> Result<(), HarnessError> {
    browser
        .eventually(&format!("the first message to be {status}"), || async {
            Ok((first_status(browser).await?.as_deref() == Some(status)).then_some(()))
        })
        .await
}

/// Waits until the tab's title is `title`.
async fn wait_title(browser: &Browser, title: &str) -> Result<(), HarnessError> {
    browser
        .eventually(&format!("the title {title:?}"), || async {
            Ok((browser.client().title().await? == title).then_some(()))
        })
        .await
}

/// The text of the element with `id`, or `None` while there is none.
async fn text_of(browser: &Browser, id: &str) -> Result<Option<String>, HarnessError> {
    match browser.client().find_all(testid(id)).await?.first() {
        Some(element) => Ok(Some(element.text().await?)),
        None => Ok(None),
    }
}

/// Waits until the element with `id` says something `wanted` accepts (`None`: absent).
async fn wait_text(
    browser: &Browser,
    id: &str,
    what: &str,
    wanted: impl Fn(Option<&str>) -> bool,
) -> Result<(), HarnessError> {
    browser
        .eventually(what, || async {
            let text = text_of(browser, id).await?;
            Ok(wanted(text.as_deref()).then_some(()))
        })
        .await
}

/// Waits until `username` is listed in the open group's members.
async fn wait_member(browser: &Browser, username: &str) -> Result<(), HarnessError> {
    browser
        .find_css(&format!(
            "[data-testid=\"chat-member\"][data-username=\"{username}\"]"
        ))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn receipts_typing_presence_and_the_unread_title_follow_the_other_person()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let alice = meeting.sign_up("alice").await?;
    let bob = meeting.sign_up("bob").await?;

    // Delivered as soon as bob's browser holds it, though he has not opened the chat.
    alice.start_chat("bob").await?;
    alice.send("halo bob").await?;
    alice.wait_messages(&["halo bob"]).await?;
    wait_first_status(&alice, "delivered").await?;
    wait_text(&alice, "message-status", "the words Delivered", |text| {
        text == Some("Delivered")
    })
    .await?;
    wait_title(&bob, "(1) Merpati").await?;

    // Presence: bob is online.
    wait_text(&alice, "presence", "bob online", |text| {
        text == Some("online")
    })
    .await?;

    // Opening the chat marks it read at once: no second message needed.
    bob.open_chat("alice").await?;
    bob.wait_messages(&["halo bob"]).await?;
    wait_first_status(&alice, "read").await?;
    wait_text(&alice, "message-status", "the words Read", |text| {
        text == Some("Read")
    })
    .await?;
    wait_title(&bob, "Merpati").await?;

    // Typing shows on alice's side while bob types, and goes when his message arrives.
    bob.type_into("composer-input", "sebentar ya").await?;
    wait_text(&alice, "typing-indicator", "bob typing", |text| {
        text == Some("bob is typing…")
    })
    .await?;
    bob.click("composer-send").await?;
    alice.wait_messages(&["halo bob", "sebentar ya"]).await?;
    wait_text(&alice, "typing-indicator", "no one typing", |text| {
        text.is_none()
    })
    .await?;

    // After a reload on both sides the statuses stay.
    alice.reload().await?;
    alice.open_chat("bob").await?;
    alice.wait_messages(&["halo bob", "sebentar ya"]).await?;
    wait_first_status(&alice, "read").await?;
    bob.reload().await?;
    bob.open_chat("alice").await?;
    bob.wait_messages(&["halo bob", "sebentar ya"]).await?;
    bob.eventually("bob's message read by alice", || async {
        let statuses = bob.message_statuses().await?;
        Ok((statuses.get(1).map(String::as_str) == Some("read")).then_some(()))
    })
    .await?;

    // bob closes his browser: alice sees when he was last seen.
    bob.close().await?;
    wait_text(&alice, "presence", "bob last seen", |text| {
        text.is_some_and(|text| text.starts_with("last seen"))
    })
    .await?;
    alice.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn with_read_receipts_off_what_dewi_reads_stays_delivered_for_the_sender()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let citra = meeting.sign_up("citra").await?;
    let dewi = meeting.sign_up("dewi").await?;

    dewi.click("settings").await?;
    let receipts = dewi.find("setting-read-receipts").await?;
    assert!(receipts.is_selected().await?, "shared by default");
    receipts.click().await?;
    // Closed again, so that it covers nothing the test clicks next.
    dewi.click("settings").await?;

    citra.start_chat("dewi").await?;
    citra.send("sudah baca?").await?;
    wait_first_status(&citra, "delivered").await?;
    dewi.open_chat("citra").await?;
    dewi.wait_messages(&["sudah baca?"]).await?;
    // dewi answers after reading; once her answer is at citra's, so would a read receipt be.
    dewi.send("sudah").await?;
    citra.wait_messages(&["sudah baca?", "sudah"]).await?;
    assert_eq!(first_status(&citra).await?.as_deref(), Some("delivered"));

    // The setting is kept (sealed in the store): it survives a reload (long written by now).
    dewi.reload().await?;
    dewi.find("new-chat").await?;
    dewi.click("settings").await?;
    dewi.eventually("read receipts still off after a reload", || async {
        let checked = dewi
            .find("setting-read-receipts")
            .await?
            .is_selected()
            .await?;
        Ok((!checked).then_some(()))
    })
    .await?;

    for browser in [citra, dewi] {
        browser.close().await?;
    }
    Ok(())
}

/// Waits until `browser`'s settings show read receipts shared or not.
async fn wait_receipts_shared(browser: &Browser, shared: bool) -> Result<(), HarnessError> {
    browser
        .eventually(&format!("read receipts shared: {shared}"), || async {
            let checked = browser
                .find("setting-read-receipts")
                .await?
                .is_selected()
                .await?;
            Ok((checked == shared).then_some(()))
        })
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn read_receipts_turned_off_on_one_device_are_off_on_the_others_and_stay_off()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let phone = meeting.sign_up("eka").await?;
    let laptop = meeting.driver.browser().await?;
    laptop.sign_in(&meeting.url, "eka", PASSPHRASE).await?;
    let tablet = meeting.driver.browser().await?;
    tablet.sign_in(&meeting.url, "eka", PASSPHRASE).await?;
    tablet.click("settings").await?;
    wait_receipts_shared(&tablet, true).await?;
    // The laptop's app is closed: its store keeps read receipts shared.
    laptop.open("about:blank").await?;

    phone.click("settings").await?;
    phone.find("setting-read-receipts").await?.click().await?;
    // The tablet, open meanwhile, follows.
    wait_receipts_shared(&tablet, false).await?;
    // The laptop comes back: it takes the account's setting, and puts nothing of its own back.
    laptop.open(&meeting.url).await?;
    laptop.find("new-chat").await?;
    laptop.click("settings").await?;
    wait_receipts_shared(&laptop, false).await?;
    phone.reload().await?;
    phone.find("new-chat").await?;
    phone.click("settings").await?;
    wait_receipts_shared(&phone, false).await?;

    for browser in [phone, laptop, tablet] {
        browser.close().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_adds_a_member_renames_the_group_and_makes_an_admin_while_others_see_no_controls()
-> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let eka = meeting.sign_up("eka").await?;
    let fikri = meeting.sign_up("fikri").await?;
    let gita = meeting.sign_up("gita").await?;
    eka.create_group("Arisan", "fikri").await?;

    // eka adds gita: she is a member on every screen, with the server's line.
    eka.type_into("group-add-member-input", "gita").await?;
    eka.click("group-add-member-submit").await?;
    let added = "eka added gita";
    eka.wait_system_line(added).await?;
    for member in [&fikri, &gita] {
        member.open_chat("Arisan").await?;
    }
    for member in [&eka, &fikri, &gita] {
        member.wait_system_line(added).await?;
        wait_member(member, "gita").await?;
    }
    // No account by that name: the server's refusal reaches eka in words.
    eka.type_into("group-add-member-input", "nobody").await?;
    eka.click("group-add-member-submit").await?;
    wait_text(
        &eka,
        "request-error",
        "the words for no such user",
        |text| text == Some("No account has that username"),
    )
    .await?;
    assert_eq!(
        eka.client().find_all(testid("chat-member")).await?.len(),
        3,
        "nobody was added"
    );
    // The words are not left under the next request: opening the form for a new chat takes
    // them away.
    eka.click("new-chat").await?;
    eka.find("new-chat-username").await?;
    wait_text(&eka, "request-error", "the refusal's words gone", |text| {
        text.is_none()
    })
    .await?;

    eka.type_into("group-rename-input", "Arisan RT 5").await?;
    eka.click("group-rename-submit").await?;
    let renamed = "eka renamed the group to “Arisan RT 5”";
    eka.wait_system_line(renamed).await?;
    for member in [&fikri, &gita] {
        member.open_chat("Arisan RT 5").await?;
        member.wait_system_line(renamed).await?;
    }

    let fikri_row = eka
        .find_css("[data-testid=\"chat-member\"][data-username=\"fikri\"]")
        .await?;
    let make_admin = fikri_row.find(testid("member-admin")).await?;
    assert_eq!(
        make_admin.attr("aria-pressed").await?.as_deref(),
        Some("false")
    );
    assert_eq!(make_admin.text().await?, "Make admin");
    make_admin.click().await?;
    let promoted = "eka made fikri an admin";
    for member in [&eka, &fikri, &gita] {
        member.wait_system_line(promoted).await?;
    }
    fikri
        .eventually("fikri marked admin", || async {
            let row = fikri
                .find_css("[data-testid=\"chat-member\"][data-username=\"fikri\"]")
                .await?;
            Ok((row.attr("data-admin").await?.as_deref() == Some("true")).then_some(()))
        })
        .await?;
    eka.eventually("fikri's toggle pressed on eka's screen", || async {
        let row = eka
            .find_css("[data-testid=\"chat-member\"][data-username=\"fikri\"]")
            .await?;
        let toggle = row.find(testid("member-admin")).await?;
        Ok((toggle.attr("aria-pressed").await?.as_deref() == Some("true")).then_some(()))
    })
    .await?;
    fikri.find("group-rename").await?;
    fikri.find("group-add-member").await?;

    // gita is no admin: no admin controls at all.
    for id in [
        "member-admin",
        "member-remove",
        "group-rename",
        "group-rename-input",
        "group-add-member",
        "group-add-member-input",
    ] {
        assert!(
            gita.client().find_all(testid(id)).await?.is_empty(),
            "gita sees no {id}"
        );
    }
    // System lines are nobody's message.
    assert!(gita.message_texts().await?.is_empty());
    for browser in [eka, fikri, gita] {
        browser.close().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blocked_person_cannot_send_and_is_told_so() -> Result<(), HarnessError> {
    let meeting = Meeting::start().await?;
    let hana = meeting.sign_up("hana").await?;
    let ilham = meeting.sign_up("ilham").await?;
    hana.start_chat("ilham").await?;
    hana.send("halo").await?;
    ilham.open_chat("hana").await?;
    ilham.wait_messages(&["halo"]).await?;

    hana.click("block-user").await?;
    hana.find("chat-blocked").await?;
    assert!(
        hana.client()
            .find_all(testid("composer-input"))
            .await?
            .is_empty()
    );

    ilham.send("kenapa?").await?;
    ilham
        .eventually("ilham's message refused", || async {
            let statuses = ilham.message_statuses().await?;
            Ok((statuses.get(1).map(String::as_str) == Some("failed")).then_some(()))
        })
        .await?;
    let words = ilham.client().find_all(testid("message-status")).await?;
    let mut said = Vec::new();
    for element in words {
        said.push(element.text().await?);
    }
    // Not sent, and why.
    assert!(
        said.iter()
            .any(|words| words == "Not sent: That person does not accept this from you"),
        "{said:?}"
    );
    hana.wait_messages(&["halo"]).await?;

    // Nor can ilham add hana to a group of his: the server's refusal, in words.
    ilham.create_group("Kumpul", "").await?;
    ilham.type_into("group-add-member-input", "hana").await?;
    ilham.click("group-add-member-submit").await?;
    wait_text(&ilham, "request-error", "the words for blocked", |text| {
        text == Some("That person does not accept this from you")
    })
    .await?;
    assert_eq!(
        ilham.client().find_all(testid("chat-member")).await?.len(),
        1,
        "hana was not added"
    );

    // Unblocked, the composer is back.
    hana.click("chat-unblock").await?;
    hana.find("composer-input").await?;
    for browser in [hana, ilham] {
        browser.close().await?;
    }
    Ok(())
}
