//! Accessibility: axe-core's rules (from the npm registry, `scripts/tools.sh --browser` puts
//! it in `.tools/`) run in Chromium on the sign-in screen, the chat list, an open 1:1 chat
//! (with a photo and a file in it, and the photo opened), a group, and the question signing out
//! asks while a message waits to be sent, in the light theme and the dark, in English and in
//! Bahasa Indonesia (the browser's language); any finding of serious or critical impact
//! fails the test, with what and where. The keyboard's focus follows the screens on a desktop
//! (`crates/page/src/focus.rs`): the sign-in form's username, then "New chat", a chat's
//! message box, the settings and back, and the photo viewer, closed with Escape; a chat's row
//! in the list shows its focus ring whole.
//!
//! Run with `--test-threads=1` (as the suite is): each test drives several browsers.

use fantoccini::Locator;
use merpati_e2e::attachments::{png_photo, write_file};
use merpati_e2e::{Browser, HarnessError, INDONESIAN, Meeting, workspace_root};
use serde_json::Value;

/// What the page's findings are checked against: axe's own impact levels.
const FAILING_IMPACTS: [&str; 2] = ["serious", "critical"];

fn axe_source() -> Result<String, HarnessError> {
    let path = workspace_root().join(".tools/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).map_err(|error| {
        format!(
            "{}: {error} — run scripts/tools.sh --browser to install axe-core",
            path.display()
        )
        .into()
    })
}

/// Shows `theme` ("light" or "dark") as the app's theme script would.
async fn show_theme(browser: &Browser, theme: &str) -> Result<(), HarnessError> {
    browser
        .client()
        .execute(
            "document.documentElement.dataset.theme = arguments[0]; return true;",
            vec![Value::from(theme)],
        )
        .await?;
    Ok(())
}

/// The serious and critical findings on the page as it is, one line each.
async fn findings(browser: &Browser, axe: &str) -> Result<Vec<String>, HarnessError> {
    let loaded = browser
        .client()
        .execute("return typeof axe !== 'undefined'", vec![])
        .await?;
    if loaded != Value::Bool(true) {
        browser
            .client()
            .execute(&format!("{axe}\n;return true;"), vec![])
            .await?;
    }
    let violations = browser
        .client()
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
                .then((result) => done(result.violations.map((v) => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 4).map((n) => n.target.join(' ') + ' — ' + n.failureSummary),
                }))))
                .catch((error) => done([{ id: 'axe-failed', impact: 'critical', help: String(error), nodes: [] }]));",
            vec![],
        )
        .await?;
    let violations = violations.as_array().cloned().unwrap_or_default();
    Ok(violations
        .iter()
        .filter(|v| FAILING_IMPACTS.contains(&v["impact"].as_str().unwrap_or_default()))
        .map(|v| {
            format!(
                "{} ({}): {} at {}",
                v["id"], v["impact"], v["help"], v["nodes"]
            )
        })
        .collect())
}

/// Audits the page in both themes, adding what is found under `screen`.
async fn audit(
    browser: &Browser,
    axe: &str,
    screen: &str,
    found: &mut Vec<String>,
) -> Result<(), HarnessError> {
    for theme in ["light", "dark"] {
        show_theme(browser, theme).await?;
        for finding in findings(browser, axe).await? {
            found.push(format!("{screen}, {theme}: {finding}"));
        }
    }
    Ok(())
}

/// Audits every screen with browsers started with `flags` (a language), people named `names`.
/// Answers the first person's browser, its group open, for [`audit_sign_out_question`].
async fn audit_screens(
    meeting: &Meeting,
    axe: &str,
    language: &str,
    flags: &[&str],
    names: [&str; 3],
    found: &mut Vec<String>,
) -> Result<Browser, HarnessError> {
    let [first, second, third] = names;
    let visitor = meeting.driver.browser_with(flags).await?;
    visitor.open(&meeting.url).await?;
    visitor.find("auth-register").await?;
    audit(&visitor, axe, &format!("{language}, sign-in"), found).await?;
    visitor.close().await?;

    let one = meeting.sign_up_with(first, flags).await?;
    let two = meeting.sign_up_with(second, flags).await?;
    let three = meeting.sign_up_with(third, flags).await?;
    audit(&one, axe, &format!("{language}, chat list"), found).await?;

    one.start_chat(second).await?;
    one.send("Halo, sudah sampai?").await?;
    two.open_chat(first).await?;
    two.send("Sudah, terima kasih!").await?;
    one.wait_messages(&["Halo, sudah sampai?", "Sudah, terima kasih!"])
        .await?;
    audit(&one, axe, &format!("{language}, 1:1 chat"), found).await?;

    // A photo and a file, as the other person sees them, and the photo opened.
    let files = tempfile::tempdir()?;
    one.attach(&write_file(
        files.path(),
        "pantai.png",
        &png_photo(64, 48, 7),
    )?)
    .await?;
    one.attach(&write_file(files.path(), "catatan.txt", b"jam tujuh")?)
        .await?;
    one.wait_acknowledged(4).await?;
    two.eventually("the photo and the file", || async {
        let shown = two
            .client()
            .find_all(Locator::Css("[data-testid=\"attachment\"]"))
            .await?;
        Ok((shown.len() == 2).then_some(()))
    })
    .await?;
    audit(
        &two,
        axe,
        &format!("{language}, 1:1 chat with a photo and a file"),
        found,
    )
    .await?;
    two.click("attachment-open").await?;
    two.find("attachment-full").await?;
    audit(&two, axe, &format!("{language}, a photo opened"), found).await?;
    two.click("attachment-viewer-close").await?;
    two.click("emoji-picker-button").await?;
    two.find("emoji-picker-option").await?;
    two.click("emoji-picker-tone").await?;
    two.find("emoji-picker-tone-option").await?;
    audit(
        &two,
        axe,
        &format!("{language}, the emoji picker open with its skin tones"),
        found,
    )
    .await?;
    two.click("emoji-picker-button").await?;

    let group = format!("Keluarga {first}");
    one.create_group(&group, &format!("{second}, {third}"))
        .await?;
    one.send("Makan malam jam tujuh").await?;
    three.open_chat(&group).await?;
    three.send("Siap").await?;
    one.wait_messages(&["Makan malam jam tujuh", "Siap"])
        .await?;
    one.click("settings").await?;
    one.find("devices").await?;
    audit(
        &one,
        axe,
        &format!("{language}, group with the settings open"),
        found,
    )
    .await?;
    one.click_css(".settings-panel header button").await?;

    for browser in [two, three] {
        browser.close().await?;
    }
    Ok(one)
}

/// With the server gone, `browser` writes a message, which waits to be sent, and asks to sign
/// out: the question that asks first is audited, and answered "Cancel". Closes the browser.
async fn audit_sign_out_question(
    browser: Browser,
    axe: &str,
    language: &str,
    found: &mut Vec<String>,
) -> Result<(), HarnessError> {
    browser.wait_connection("offline").await?;
    browser.send("Sampai besok").await?;
    browser
        .eventually("the message waiting to be sent", || async {
            let statuses = browser.message_statuses().await?;
            Ok(statuses
                .iter()
                .any(|status| status == "pending")
                .then_some(()))
        })
        .await?;
    browser.click("logout").await?;
    browser.find("logout-question").await?;
    audit(
        &browser,
        axe,
        &format!("{language}, signing out with a message waiting"),
        found,
    )
    .await?;
    browser.click("logout-cancel").await?;
    browser.close().await
}

#[tokio::test]
async fn the_focus_follows_each_screen_and_comes_back_when_one_closes() -> Result<(), HarnessError>
{
    let meeting = Meeting::start().await?;
    let gita = meeting.driver.browser().await?;
    gita.open(&meeting.url).await?;
    gita.wait_focus_on("[data-testid=auth-username]").await?;
    gita.sign_up(&meeting.url, "gita", merpati_e2e::PASSPHRASE)
        .await?;
    // No chat yet: the way to start one.
    gita.wait_focus_on("[data-testid=new-chat]").await?;
    let hadi = meeting.sign_up("hadi").await?;

    hadi.start_chat("gita").await?;
    hadi.wait_focus_on("[data-testid=composer-input]").await?;
    // Tab from the search box to the chat's row: its ring is drawn whole, inside the list
    // that scrolls (which cuts whatever is drawn outside it).
    gita.click("search-input").await?;
    gita.find("search-input")
        .await?
        .send_keys(&fantoccini::key::Key::Tab.to_string())
        .await?;
    gita.wait_focus_on("[data-testid=chat-list-item]").await?;
    let ring = gita
        .client()
        .execute(
            "const row = document.activeElement;
             const list = row.closest('.chat-list');
             const style = getComputedStyle(row);
             const reach = parseFloat(style.outlineOffset) + parseFloat(style.outlineWidth);
             const outer = row.getBoundingClientRect();
             const left = list.getBoundingClientRect().left + list.clientLeft;
             return [style.outlineStyle, outer.left - reach - left, left + list.clientWidth - outer.right - reach];",
            vec![],
        )
        .await?;
    let inside = |at: usize| ring[at].as_f64().is_some_and(|room| room >= -0.5);
    assert!(
        ring[0] != "none" && inside(1) && inside(2),
        "the focused row's ring (style, room left, room right): {ring}"
    );
    hadi.click("settings").await?;
    hadi.wait_focus_on("[data-testid=theme-select]").await?;
    hadi.click_css(".settings-panel header button").await?;
    hadi.wait_focus_on("[data-testid=settings]").await?;

    let files = tempfile::tempdir()?;
    hadi.attach(&write_file(
        files.path(),
        "pantai.png",
        &png_photo(64, 48, 3),
    )?)
    .await?;
    hadi.wait_acknowledged(1).await?;
    gita.open_chat("hadi").await?;
    gita.click("attachment-open").await?;
    gita.wait_focus_on("[data-testid=attachment-viewer-close]")
        .await?;
    // Escape, pressed where the focus is, closes the viewer and gives the focus back.
    gita.find("attachment-viewer-close")
        .await?
        .send_keys(&fantoccini::key::Key::Escape.to_string())
        .await?;
    gita.wait_focus_on("[data-testid=attachment-open]").await?;
    assert!(
        gita.client()
            .find_all(Locator::Css("[data-testid=\"attachment-viewer\"]"))
            .await?
            .is_empty(),
        "the viewer closed"
    );

    for browser in [gita, hadi] {
        browser.close().await?;
    }
    Ok(())
}

#[tokio::test]
async fn the_main_screens_have_no_serious_or_critical_accessibility_finding_in_either_theme_or_language()
-> Result<(), HarnessError> {
    let axe = axe_source()?;
    let mut meeting = Meeting::start().await?;
    let mut found = Vec::new();
    let english = audit_screens(
        &meeting,
        &axe,
        "English",
        &[],
        ["ayu", "bima", "citra"],
        &mut found,
    )
    .await?;
    let indonesian = audit_screens(
        &meeting,
        &axe,
        "Indonesian",
        INDONESIAN,
        ["dewi", "eka", "fajar"],
        &mut found,
    )
    .await?;
    meeting.server.kill();
    audit_sign_out_question(english, &axe, "English", &mut found).await?;
    audit_sign_out_question(indonesian, &axe, "Indonesian", &mut found).await?;
    assert!(
        found.is_empty(),
        "serious or critical accessibility findings:\n{}",
        found.join("\n")
    );
    Ok(())
}
