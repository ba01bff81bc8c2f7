//! The page's module links no engine code.
//!
//! The page (`crates/page`) is the app's initial download. Its code cannot import the engine
//! (`merpati-core`): the compiler refuses, because neither the page, the bridge it talks to
//! the worker through, nor the words it shows (`merpati-words`) depends on it. That leaves
//! one way back in — listing the engine in one of those manifests — and this test closes it.

/// The manifests of every workspace crate the page links.
const PAGE_SIDE: [(&str, &str); 3] = [
    (
        "crates/page/Cargo.toml",
        include_str!("../../page/Cargo.toml"),
    ),
    ("crates/bridge/Cargo.toml", include_str!("../Cargo.toml")),
    (
        "crates/words/Cargo.toml",
        include_str!("../../words/Cargo.toml"),
    ),
];

#[test]
fn neither_the_page_nor_what_it_links_depends_on_the_engine() {
    for (path, manifest) in PAGE_SIDE {
        let naming_the_engine: Vec<&str> = manifest
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .filter(|line| line.contains("merpati-core") || line.contains("merpati_core"))
            .collect();
        assert!(
            naming_the_engine.is_empty(),
            "{path} depends on the engine, whose code would then ship in the page's download; \
             convert what the page needs in the worker instead: {naming_the_engine:?}"
        );
    }
}

#[test]
fn the_page_links_only_the_workspace_crates_meant_for_it() {
    // A new workspace crate on the page's side must be added to PAGE_SIDE above, so that the
    // first test covers it.
    for (path, manifest) in PAGE_SIDE {
        let workspace_crates: Vec<&str> = manifest
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .filter_map(|line| line.split_once('=').map(|(name, _)| name.trim()))
            .map(|name| name.trim_end_matches(".workspace"))
            .filter(|name| name.starts_with("merpati-"))
            .collect();
        for name in workspace_crates {
            assert!(
                ["merpati-protocol", "merpati-bridge", "merpati-words"].contains(&name),
                "{path} depends on {name}: if it is meant for the page, check it links no \
                 engine and list its manifest in PAGE_SIDE"
            );
        }
    }
}
