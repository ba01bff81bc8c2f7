//! End-to-end encryption in the browser: the passphrase is salted per account, a new browser
//! of the same account reads earlier history through the key backup, both people see the
//! same safety number, a ciphertext the server changed is refused with a visible error, and
//! a member removed from a group, or who leaves it after answering its question, gets
//! nothing sent after, and one removed while away sees so once back — real Chromium, the
//! real server, the release build.
//!
//! Run with `--test-threads=1`: each test drives several browsers.

use merpati_e2e::network_gate::NetworkGate;
use merpati_e2e::{Browser, Chromedriver, HarnessError, serve_release_build, testid};

const PASSPHRASE: &str = "correct horse battery staple";

/// The safety number a browser shows for its open 1:1 chat, once it is known.
async fn safety_number(browser: &Browser) -> Result<String, HarnessError> {
    browser
        .eventually("the safety number", || async {
            let text = browser.find("safety-number").await?.text().await?;
            let digits = text.chars().filter(char::is_ascii_digit).count();
            Ok((digits == 60).then_some(text))
        })
        .await
}

/// `data-lock` of every message row, in order.
async fn locks(browser: &Browser) -> Result<Vec<String>, HarnessError> {
    let mut locks = Vec::new();
    for row in browser.client().find_all(testid("message")).await? {
        locks.push(row.attr("data-lock").await?.unwrap_or_default());
    }
    Ok(locks)
}

/// An admin's "Remove" on `username`'s row in the open group's member list.
async fn remove(admin: &Browser, username: &str) -> Result<(), HarnessError> {
    admin
        .eventually(&format!("{username}'s row in the member list"), || async {
            for row in admin.client().find_all(testid("chat-member")).await? {
                if row.attr("data-username").await?.as_deref() == Some(username) {
                    row.find(testid("member-remove")).await?.click().await?;
                    return Ok(Some(()));
                }
            }
            Ok(None)
        })
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_browser_reads_history_safety_numbers_match_and_a_changed_byte_is_refused()
-> Result<(), HarnessError> {
    let mut server = serve_release_build().await?;
    let driver = Chromedriver::start().await?;
    let url = server.http_url();
    let (hana, ilham) = (driver.browser().await?, driver.browser().await?);
    hana.sign_up(&url, "hana", PASSPHRASE).await?;
    ilham.sign_up(&url, "ilham", PASSPHRASE).await?;
    hana.start_chat("ilham").await?;
    hana.send("rahasia nanas").await?;
    ilham.open_chat("hana").await?;
    ilham.wait_messages(&["rahasia nanas"]).await?;
    ilham.send("jawaban rahasia").await?;
    hana.wait_messages(&["rahasia nanas", "jawaban rahasia"])
        .await?;
    hana.wait_acknowledged(2).await?;

    // Compared in person, the two numbers are the same.
    assert_eq!(safety_number(&hana).await?, safety_number(&ilham).await?);

    // The app salted hana's passphrase with a random salt of her account's, which the
    // server keeps for her other browsers (the one below asks for it before deriving).
    {
        let db = rusqlite::Connection::open_with_flags(
            server.data_dir().join("merpati.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        let salt: Option<Vec<u8>> = db.query_row(
            "SELECT kdf_salt FROM accounts WHERE username = 'hana'",
            [],
            |row| row.get(0),
        )?;
        assert_eq!(
            salt.map(|salt| salt.len()),
            Some(16),
            "a random salt of 16 bytes"
        );
    }

    // Another browser of hana's, signed in with the passphrase: none of these keys were
    // ever sent to it; it reads them from the account's key backup.
    let hana_again = driver.browser().await?;
    hana_again.sign_in(&url, "hana", PASSPHRASE).await?;
    hana_again.open_chat("ilham").await?;
    hana_again
        .wait_messages(&["rahasia nanas", "jawaban rahasia"])
        .await?;
    assert_eq!(locks(&hana_again).await?, ["open", "open"]);

    // A hostile server flips one byte of the first stored message.
    server.kill();
    {
        let db = rusqlite::Connection::open(server.data_dir().join("merpati.db"))?;
        let body: Vec<u8> = db.query_row("SELECT body FROM messages WHERE seq = 1", [], |row| {
            row.get(0)
        })?;
        let mut changed = body.clone();
        let middle = changed.len() / 2;
        changed[middle] ^= 0x01;
        db.execute(
            "UPDATE messages SET body = ?1 WHERE seq = 1",
            rusqlite::params![changed],
        )?;
    }
    server.restart().await?;
    // A browser that never saw the original gets the changed copy: refused, in words.
    let ilham_again = driver.browser().await?;
    ilham_again.sign_in(&url, "ilham", PASSPHRASE).await?;
    ilham_again.open_chat("hana").await?;
    ilham_again
        .eventually("the changed message to be refused", || async {
            Ok((locks(&ilham_again).await? == ["refused", "open"]).then_some(()))
        })
        .await?;
    let texts = ilham_again.message_texts().await?;
    assert!(texts[0].contains("altered"), "{texts:?}");
    assert!(!texts.iter().any(|text| text == "rahasia nanas"));
    assert_eq!(texts[1], "jawaban rahasia");

    for browser in [hana, ilham, hana_again, ilham_again] {
        browser.close().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_removed_from_a_group_gets_nothing_sent_after() -> Result<(), HarnessError> {
    let server = serve_release_build().await?;
    let driver = Chromedriver::start().await?;
    let url = server.http_url();
    let (joko, kartika, lina) = (
        driver.browser().await?,
        driver.browser().await?,
        driver.browser().await?,
    );
    joko.sign_up(&url, "joko", PASSPHRASE).await?;
    kartika.sign_up(&url, "kartika", PASSPHRASE).await?;
    lina.sign_up(&url, "lina", PASSPHRASE).await?;
    joko.create_group("Arisan", "kartika, lina").await?;
    joko.send("sebelum").await?;
    for member in [&kartika, &lina] {
        member.open_chat("Arisan").await?;
        member.wait_messages(&["sebelum"]).await?;
    }

    // Joko removes lina from the group's member list.
    remove(&joko, "lina").await?;
    lina.find("chat-left").await?;
    // Her chat list says so too, in the group's row, not the last message she had from it.
    lina.eventually("the group's row saying she is out", || async {
        let row = lina
            .find_css("[data-testid=\"chat-list-item\"][data-title=\"Arisan\"] .last-text")
            .await?;
        Ok((row.text().await? == "You are no longer a member of this group").then_some(()))
    })
    .await?;
    joko.eventually("lina to be gone from the member list", || async {
        let mut names = Vec::new();
        for row in joko.client().find_all(testid("chat-member")).await? {
            names.push(row.attr("data-username").await?.unwrap_or_default());
        }
        Ok((!names.iter().any(|name| name == "lina")).then_some(()))
    })
    .await?;

    joko.send("sesudah").await?;
    kartika.wait_messages(&["sebelum", "sesudah"]).await?;
    // Lina keeps what she had, and nothing more arrives. A sentinel joko's session sends after
    // his message, a 1:1 chat with her, reaches her after anything that message (or a key for
    // it) would have: once her chat list shows it, all of that was handled.
    joko.start_chat("lina").await?;
    lina.find_css("[data-testid=\"chat-list-item\"][data-title=\"joko\"]")
        .await?;
    assert_eq!(lina.message_texts().await?, ["sebelum"]);

    for browser in [joko, kartika, lina] {
        browser.close().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn leaving_a_group_asks_first_then_nothing_after_reaches_one() -> Result<(), HarnessError> {
    let server = serve_release_build().await?;
    let driver = Chromedriver::start().await?;
    let url = server.http_url();
    let (joko, kartika) = (driver.browser().await?, driver.browser().await?);
    joko.sign_up(&url, "joko", PASSPHRASE).await?;
    kartika.sign_up(&url, "kartika", PASSPHRASE).await?;
    joko.create_group("Arisan", "kartika").await?;
    joko.send("sebelum").await?;
    kartika.open_chat("Arisan").await?;
    kartika.wait_messages(&["sebelum"]).await?;

    // "Leave group" only asks, and Cancel keeps her in the group.
    kartika.click("chat-leave").await?;
    assert_eq!(
        kartika.find("chat-leave-question").await?.text().await?,
        "Leave this group? You will no longer get its messages, and only an admin can add you back."
    );
    kartika
        .wait_focus_on("[data-testid=\"chat-leave-confirm\"]")
        .await?;
    kartika.click("chat-leave-cancel").await?;
    kartika
        .wait_focus_on("[data-testid=\"chat-leave\"]")
        .await?;
    assert!(
        !kartika
            .find("chat-leave-question")
            .await?
            .is_displayed()
            .await?
    );
    kartika.send("masih di sini").await?;
    joko.wait_messages(&["sebelum", "masih di sini"]).await?;

    // Answered, she is out: joko hears it, and her chat says so instead of the composer.
    kartika.click("chat-leave").await?;
    kartika.click("chat-leave-confirm").await?;
    kartika.find("chat-left").await?;
    joko.wait_system_line("kartika left").await?;

    // Nothing joko sends after reaches her. A sentinel joko's session sends after it, a 1:1
    // chat with her, reaches her after anything that message (or a key for it) would have.
    joko.send("sesudah").await?;
    joko.wait_acknowledged(3).await?;
    joko.start_chat("kartika").await?;
    kartika
        .find_css("[data-testid=\"chat-list-item\"][data-title=\"joko\"]")
        .await?;
    assert_eq!(kartika.message_texts().await?, ["sebelum", "masih di sini"]);

    for browser in [joko, kartika] {
        browser.close().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_removed_while_away_sees_it_once_back() -> Result<(), HarnessError> {
    let server = serve_release_build().await?;
    let driver = Chromedriver::start().await?;
    // Lina opens the app through a gate that can take her network away.
    let gate = NetworkGate::start(server.addr()).await?;
    let (joko, lina) = (driver.browser().await?, driver.browser().await?);
    joko.sign_up(&server.http_url(), "joko", PASSPHRASE).await?;
    lina.sign_up(&gate.http_url(), "lina", PASSPHRASE).await?;
    joko.create_group("Arisan", "lina").await?;
    joko.send("sebelum").await?;
    lina.open_chat("Arisan").await?;
    lina.wait_messages(&["sebelum"]).await?;

    // Away: joko takes her out, and only the sessions online then are told.
    gate.shut();
    lina.wait_connection("offline").await?;
    remove(&joko, "lina").await?;
    joko.wait_system_line("joko removed lina").await?;

    // Back: her sync no longer names the group, and her chat says she is out.
    gate.open();
    if lina.connection_state().await? == "offline" {
        // Hidden again once connected: a click that races the reconnect is fine.
        let _ = lina.click("connection-retry").await;
    }
    lina.find("chat-left").await?;
    let row = lina
        .find_css("[data-testid=\"chat-list-item\"][data-title=\"Arisan\"] .last-text")
        .await?;
    assert_eq!(
        row.text().await?,
        "You are no longer a member of this group"
    );
    assert_eq!(
        lina.message_texts().await?,
        ["sebelum"],
        "she keeps what she had"
    );

    for browser in [joko, lina] {
        browser.close().await?;
    }
    Ok(())
}
