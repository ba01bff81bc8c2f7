//! The server's configuration: command-line flags, each with an environment variable.
//!
//! The same [`Config`] is parsed by the binary and built directly by tests, so everything the
//! server can be told lives here.

use std::net::SocketAddr;
use std::path::PathBuf;

/// How the server is configured. Every flag can also be set through its environment variable.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "merpati-server", version, about = "Merpati's messenger server")]
pub struct Config {
    /// The address to listen on.
    #[arg(long, env = "MERPATI_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// The directory that holds the database (`merpati.db`); created if missing.
    #[arg(long, env = "MERPATI_DATA", default_value = "./data")]
    pub data: PathBuf,

    /// The directory of the built web app, served at `/` (unknown paths get its `index.html`).
    #[arg(long = "web-root", env = "MERPATI_WEB_ROOT", default_value = "./dist")]
    pub web_root: PathBuf,

    /// Origins besides the server's own that may open a WebSocket (comma separated), e.g. the
    /// development server `http://127.0.0.1:8081`.
    #[arg(
        long = "allowed-origin",
        env = "MERPATI_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// How hard each commit is pushed to disk.
    #[arg(long, env = "MERPATI_DURABILITY", value_enum, default_value_t = Durability::Full)]
    pub durability: Durability,
}

impl Config {
    /// A configuration with the defaults, storing its data in `data` and serving `web_root`.
    pub fn new(data: impl Into<PathBuf>, web_root: impl Into<PathBuf>) -> Config {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data: data.into(),
            web_root: web_root.into(),
            allowed_origins: Vec::new(),
            durability: Durability::Full,
        }
    }
}

/// How durable a commit is before the server acknowledges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Durability {
    /// `synchronous=FULL`: an acknowledged message survives a power cut.
    Full,
    /// `synchronous=NORMAL`: an acknowledged message survives a crash of the server, but the
    /// last commits may be lost in a power cut. Faster on slow disks.
    Normal,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn defaults_match_the_documented_ones() {
        let config = Config::try_parse_from(["merpati-server"]).expect("defaults parse");
        assert_eq!(config.addr, SocketAddr::from(([127, 0, 0, 1], 8080)));
        assert_eq!(config.durability, Durability::Full);
        assert_eq!(config.web_root, PathBuf::from("./dist"));
    }

    #[test]
    fn allowed_origins_are_comma_separated() {
        let config = Config::try_parse_from([
            "merpati-server",
            "--allowed-origin",
            "http://127.0.0.1:8081,https://chat.example",
            "--durability",
            "normal",
        ])
        .expect("flags parse");
        assert_eq!(
            config.allowed_origins,
            ["http://127.0.0.1:8081", "https://chat.example"]
        );
        assert_eq!(config.durability, Durability::Normal);
    }
}
