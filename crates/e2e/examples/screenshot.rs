//! Regenerates the README's screenshot (`docs/screenshot.png`): two people chat, and the
//! picture is one of their windows. Needs the release build in `dist/` and the server binary:
//!
//! ```text
//! trunk build --release && cargo build -p merpati-server
//! cargo run -p merpati-e2e --example screenshot
//! ```

use merpati_e2e::{Chromedriver, HarnessError, serve_release_build, workspace_root};

#[tokio::main]
async fn main() -> Result<(), HarnessError> {
    let server = serve_release_build().await?;
    let driver = Chromedriver::start().await?;
    let url = server.http_url();
    let (sari, tomo) = (driver.browser().await?, driver.browser().await?);
    let passphrase = "a long and memorable passphrase";
    sari.sign_up(&url, "sari", passphrase).await?;
    tomo.sign_up(&url, "tomo", passphrase).await?;
    sari.create_group("Keluarga", "tomo").await?;
    sari.send("Selamat pagi semua!").await?;
    sari.start_chat("tomo").await?;
    sari.send("Tomo, are we still on for lunch?").await?;
    tomo.open_chat("sari").await?;
    tomo.wait_messages(&["Tomo, are we still on for lunch?"])
        .await?;
    tomo.send("Yes! 12:30 at the usual place.").await?;
    sari.wait_messages(&[
        "Tomo, are we still on for lunch?",
        "Yes! 12:30 at the usual place.",
    ])
    .await?;
    sari.send("Perfect, see you there").await?;
    tomo.wait_messages(&[
        "Tomo, are we still on for lunch?",
        "Yes! 12:30 at the usual place.",
        "Perfect, see you there",
    ])
    .await?;
    let png = tomo.client().screenshot().await?;
    let path = workspace_root().join("docs/screenshot.png");
    std::fs::write(&path, png)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
