//! What a session signs in from, read from the `User-Agent` of its WebSocket: a browser
//! family and a system, each from a short fixed list, so that the account's devices screen
//! can say "Firefox on Android" — and the server keeps nothing of the header but those two
//! words (docs/security.md). A header that names nothing on the lists gives `None`.

use merpati_protocol::sessions::ClientKind;

/// Browser families, by the token that gives each away, the most specific first: Edge,
/// Opera and Samsung Internet also say "Chrome", and Chrome also says "Safari".
const BROWSERS: [(&str, &str); 7] = [
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
];

/// Systems, by their token, the most specific first: Android and ChromeOS also say "Linux",
/// an iPhone "like Mac OS X".
const SYSTEMS: [(&str, &str); 7] = [
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iOS"),
    ("CrOS", "ChromeOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
];

/// The longest header read: a browser's is a few hundred bytes.
const MAX_USER_AGENT_BYTES: usize = 512;

/// The browser and system a `User-Agent` names, when it names both.
pub(crate) fn client_kind(user_agent: &str) -> Option<ClientKind> {
    let header = user_agent.get(..MAX_USER_AGENT_BYTES).unwrap_or(user_agent);
    let found = |list: &[(&str, &'static str)]| {
        list.iter()
            .find(|(token, _)| header.contains(token))
            .map(|(_, name)| *name)
    };
    let browser = found(&BROWSERS).or_else(|| {
        // Safari says only "Safari/" and "Version/"; everything above says "Safari/" too.
        (header.contains("Safari/") && header.contains("Version/")).then_some("Safari")
    })?;
    let system = found(&SYSTEMS)?;
    Some(ClientKind {
        browser: browser.to_owned(),
        system: system.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(user_agent: &str) -> Option<(String, String)> {
        client_kind(user_agent).map(|kind| (kind.browser, kind.system))
    }

    fn pair(browser: &str, system: &str) -> Option<(String, String)> {
        Some((browser.to_owned(), system.to_owned()))
    }

    #[test]
    fn the_common_browsers_are_named_by_family_and_system() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                 HeadlessChrome/131.0.0.0 Safari/537.36",
                pair("Chrome", "Linux"),
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like \
                 Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                pair("Edge", "Windows"),
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like \
                 Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
                pair("Samsung Internet", "Android"),
            ),
            (
                "Mozilla/5.0 (Android 14; Mobile; rv:132.0) Gecko/132.0 Firefox/132.0",
                pair("Firefox", "Android"),
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
                pair("Safari", "iOS"),
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, \
                 like Gecko) Version/18.1 Safari/605.1.15",
                pair("Safari", "macOS"),
            ),
            (
                "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like \
                 Gecko) Chrome/131.0.0.0 Safari/537.36",
                pair("Chrome", "ChromeOS"),
            ),
        ];
        for (user_agent, expected) in cases {
            assert_eq!(kind(user_agent), expected, "{user_agent}");
        }
    }

    #[test]
    fn anything_else_names_nothing_and_is_not_kept() {
        for user_agent in ["", "curl/8.5.0", "Rust WebSocket", "Chrome/1 on a toaster"] {
            assert_eq!(kind(user_agent), None, "{user_agent}");
        }
        // Whatever a header says, only the fixed words come out.
        let sly = "Mozilla/5.0 (X11; Linux) Chrome/1 <script>alert(1)</script>";
        assert_eq!(kind(sly), pair("Chrome", "Linux"));
    }
}
