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

    /// The address `/metrics` is served on: apart from the app's, and on loopback by default,
    /// because the counters are for the operator, not for the public.
    #[arg(
        long = "metrics-addr",
        env = "MERPATI_METRICS_ADDR",
        default_value = "127.0.0.1:9464"
    )]
    pub metrics_addr: SocketAddr,

    /// The directory that holds the database (`merpati.db`) and the uploaded files
    /// (`blobs/`); created if missing.
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

    /// A PostgreSQL database to keep the state in instead of SQLite, shared with the other
    /// server processes given the same one (a libpq connection string or URL, such as
    /// `postgresql://merpati@db.internal/merpati`). Unset: SQLite in the data directory.
    #[arg(long = "database-url", env = "MERPATI_DATABASE_URL")]
    pub database_url: Option<String>,

    /// How long, in milliseconds, one operation on `MERPATI_DATABASE_URL` may take — waiting
    /// for a connection, connecting, or running its transaction — before the process gives
    /// up on it and answers as for any storage failure: a database that stopped answering (a
    /// paused or cut-off host) must not hold sessions for ever.
    #[arg(long, env = "MERPATI_DATABASE_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub database_timeout_ms: u64,

    /// The NATS server the processes sharing `MERPATI_DATABASE_URL` tell each other through
    /// that a chat moved (e.g. `nats://127.0.0.1:4222`). Unset: no other process is told.
    #[arg(long = "nats-url", env = "MERPATI_NATS_URL")]
    pub nats_url: Option<String>,

    /// How many wake-ups one NATS subscription may hold before NATS drops the rest (a slow
    /// consumer: the process then checks every head at once).
    #[arg(long, env = "MERPATI_NATS_SUBSCRIPTION_CAPACITY", default_value_t = 65_536,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub nats_subscription_capacity: u64,

    /// How often, in milliseconds, a cluster process checks the chats its sessions follow
    /// against the database, catching up on any wake-up that was lost.
    #[arg(long, env = "MERPATI_HEAD_CHECK_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub head_check_ms: u64,

    /// Chooses a new storage epoch and exits, without serving: run it once after bringing
    /// the database back from a backup, so that every client drops its positions and syncs
    /// afresh. (On PostgreSQL a restore into another cluster, a point-in-time recovery and
    /// a promoted standby are noticed without it: docs/operations.md.)
    #[arg(long)]
    pub new_epoch: bool,

    /// Whether a cluster's wake-ups carry the message (`true`: a process woken delivers it
    /// without reading the database) or only its chat and number (`false`: the process reads
    /// it). bench/CLUSTER.md compares the two.
    #[arg(long, env = "MERPATI_WAKE_UP_BODY", default_value_t = true,
          action = clap::ArgAction::Set)]
    pub wake_up_body: bool,

    /// How hard each commit is pushed to disk before messages in it are acknowledged
    /// (SQLite; PostgreSQL commits with its own `synchronous_commit`, which must stay `on`).
    #[arg(long, env = "MERPATI_DURABILITY", value_enum, default_value_t = Durability::Full)]
    pub durability: Durability,

    /// The most WebSocket connections at once; past it a handshake gets HTTP 503 with
    /// `Retry-After`. Lowered at start to what the open-file limit leaves room for.
    #[arg(long, env = "MERPATI_MAX_CONNECTIONS", default_value_t = 19_000)]
    pub max_connections: usize,

    /// Connections one source address (an IPv4 address, or an IPv6 /64) may hold at once,
    /// HTTP and WebSocket alike; past it a new one is closed as soon as it is accepted
    /// (0: no cap). Many people behind one NAT share an address: keep it well above what
    /// one household or office opens.
    #[arg(
        long,
        env = "MERPATI_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 256
    )]
    pub max_connections_per_address: u32,

    /// Signed-in WebSocket connections one account may hold at once (its tabs and devices);
    /// past it a sign-in is refused with `LimitReached` (0: no cap).
    #[arg(long, env = "MERPATI_MAX_SESSIONS_PER_ACCOUNT", default_value_t = 64)]
    pub max_sessions_per_account: u32,

    /// Bytes one account may have the server store per day: message bodies, key shares and
    /// new chats together, refilled continuously; past it such requests are refused with
    /// `QuotaExceeded` (0: no quota).
    #[arg(
        long,
        env = "MERPATI_STORED_BYTES_PER_ACCOUNT_PER_DAY",
        default_value_t = 32 * 1024 * 1024
    )]
    pub stored_bytes_per_account_per_day: u32,

    /// Accounts one source address (an IPv4 address, or an IPv6 /64) may register at once;
    /// after that one a minute. Past it a registration is refused with `TooManySignUps`
    /// (0: no limit). Many people behind one NAT share an address.
    #[arg(long, env = "MERPATI_SIGN_UPS_PER_ADDRESS", default_value_t = 100)]
    pub sign_ups_per_address: u32,

    /// How long (milliseconds) a request head may take to arrive, on a new connection and
    /// between the requests of a kept-alive one; a slower connection is closed.
    #[arg(long, env = "MERPATI_HEADER_READ_TIMEOUT_MS", default_value_t = 5_000)]
    pub header_read_timeout_ms: u64,

    /// How long (milliseconds) writing to a connection may wait for the client to take the
    /// bytes; a client that stops reading a response (a download, the app's files) is closed
    /// after it, with the file it held. Also the grace before the least rate applies
    /// (`least_transfer_bytes_per_sec`).
    #[arg(long, env = "MERPATI_WRITE_STALL_TIMEOUT_MS", default_value_t = 30_000)]
    pub write_stall_timeout_ms: u64,

    /// The least a transfer must move on average, in bytes a second, either way, beyond a
    /// grace: an upload's part (the grace: `blob_part_idle_ms`) is ended with what arrived
    /// kept, and a client taking what a connection writes (a download, the app's files; the
    /// grace: `write_stall_timeout_ms`) is closed. Only time spent waiting on the client
    /// counts. A byte now and then does not hold a transfer open (0: no least rate, only the
    /// grace at once).
    #[arg(
        long,
        env = "MERPATI_LEAST_TRANSFER_BYTES_PER_SEC",
        default_value_t = 1024
    )]
    pub least_transfer_bytes_per_sec: u64,

    /// Reads one account may ask for per minute (`Sync`, `Fetch`, `History`, `QueryKeys`,
    /// `FetchBackup`, `ListSessions`, `WatchPresence`, and `Typing` and receipts in chats it is
    /// not in, each costing by the work it makes); past its allowance a request is refused
    /// with `TooManyRequests` (0: no limit).
    #[arg(long, env = "MERPATI_READS_PER_MINUTE", default_value_t = 1_200)]
    pub reads_per_minute: u32,

    /// Reads one account may ask for at once above the steady rate: a reconnect's sync on
    /// every device and a long scroll back.
    #[arg(long, env = "MERPATI_READ_BURST", default_value_t = 1_000)]
    pub read_burst: u32,

    /// Writes besides messages and receipts (chats, members, keys, backups, sessions) one
    /// account may ask for per minute; past it `TooManyRequests` (0: no limit).
    #[arg(long, env = "MERPATI_WRITES_PER_MINUTE", default_value_t = 1_200)]
    pub writes_per_minute: u32,

    /// Such writes one account may ask for at once: key shares and their acknowledgements for
    /// a large group after a reconnect.
    #[arg(long, env = "MERPATI_WRITE_BURST", default_value_t = 1_000)]
    pub write_burst: u32,

    /// New WebSocket handshakes per second, all clients together; faster ones get HTTP 503
    /// with `Retry-After`.
    #[arg(
        long,
        env = "MERPATI_MAX_HANDSHAKES_PER_SECOND",
        default_value_t = 6_000
    )]
    pub max_handshakes_per_second: u32,

    /// Handshakes let through at once above the steady rate.
    #[arg(long, env = "MERPATI_HANDSHAKE_BURST", default_value_t = 1_000)]
    pub handshake_burst: u32,

    /// New WebSocket handshakes per minute from one source address (an IPv4 address or an
    /// IPv6 /64), after a burst of `MERPATI_MAX_CONNECTIONS_PER_ADDRESS` at once: one
    /// address connecting and dropping as fast as it can must not use up the rate everyone
    /// shares. 0 (here or there): no limit of its own.
    #[arg(
        long,
        env = "MERPATI_MAX_HANDSHAKES_PER_ADDRESS_PER_MINUTE",
        default_value_t = 1_200
    )]
    pub max_handshakes_per_address_per_minute: u32,

    /// Messages per second one connection may send; faster senders are slowed down (the
    /// server stops reading their socket until the rate allows the next message).
    #[arg(long, env = "MERPATI_SEND_RATE", default_value_t = 50)]
    pub send_rate: u32,

    /// Messages one connection may send at once above the steady rate (an outbox flushed
    /// after a reconnect, say).
    #[arg(long, env = "MERPATI_SEND_BURST", default_value_t = 500)]
    pub send_burst: u32,

    /// How long (milliseconds) a connection may be held back without a break before it is
    /// told `Goodbye { RateLimited }` and closed (1008).
    #[arg(long, env = "MERPATI_SEND_HOLD_LIMIT_MS", default_value_t = 30_000)]
    pub send_hold_limit_ms: u64,

    /// How many of one connection's messages may wait for their commit at once. While they
    /// wait the connection keeps being read, so one client's messages share transactions
    /// (`1`: one at a time, each acknowledged before the next is read).
    #[arg(long, env = "MERPATI_SENDS_IN_FLIGHT", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub sends_in_flight: u32,

    /// Bytes of file uploads (attachments' ciphertext, `blobs/` in the data directory) one
    /// account may hold at once; an upload that would pass it is refused with HTTP 507.
    #[arg(long, env = "MERPATI_BLOB_QUOTA_BYTES", default_value_t = DEFAULT_BLOB_QUOTA_BYTES)]
    pub blob_quota_bytes: u64,

    /// Uploads one account may hold that no message carries yet — unfinished, or complete and
    /// not sent — a few files at a time being what a person sends; past it a new upload is
    /// refused with HTTP 429 and `Retry-After` until one is sent or deleted (0: no cap).
    #[arg(long, env = "MERPATI_BLOB_OPEN_UPLOADS", default_value_t = 256)]
    pub blob_open_uploads: u64,

    /// Requests to `/blobs/{id}` (uploads, their parts, downloads) one account may make per
    /// minute, all its sessions together; past its allowance a request gets HTTP 429 with
    /// `Retry-After` (0: no limit).
    #[arg(
        long,
        env = "MERPATI_BLOB_REQUESTS_PER_MINUTE",
        default_value_t = 1_200
    )]
    pub blob_requests_per_minute: u32,

    /// Such requests one account may make at once above the steady rate: a few hundred
    /// photos picked at once, each created and sent in one part.
    #[arg(long, env = "MERPATI_BLOB_REQUEST_BURST", default_value_t = 1_000)]
    pub blob_request_burst: u32,

    /// Upload bytes per second one account may send, all its uploads together; a faster
    /// upload is answered more slowly (0: unpaced).
    #[arg(long, env = "MERPATI_BLOB_UPLOAD_BYTES_PER_SEC", default_value_t = 0)]
    pub blob_upload_bytes_per_sec: u64,

    /// How long (milliseconds) an upload's part may send nothing before it is ended; what
    /// arrived of it is kept, and the upload goes on from there.
    #[arg(long, env = "MERPATI_BLOB_PART_IDLE_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub blob_part_idle_ms: u64,

    /// How long (seconds, from its creation) an upload no message refers to is kept before
    /// it is deleted. At least 1: an upload due at once could never be sent, and 0 means
    /// "no limit" elsewhere.
    #[arg(long, env = "MERPATI_BLOB_ORPHAN_SECS", default_value_t = 86_400,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub blob_orphan_secs: u64,

    /// How often (milliseconds) the uploads past their time, or whose message was deleted
    /// for everyone, are deleted.
    #[arg(long, env = "MERPATI_BLOB_CLEANUP_INTERVAL_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub blob_cleanup_interval_ms: u64,
}

/// The default of [`Config::blob_quota_bytes`]: 2 GiB, twenty of the largest files.
pub const DEFAULT_BLOB_QUOTA_BYTES: u64 = 2 * 1024 * 1024 * 1024;

impl Config {
    /// A configuration with the defaults, storing its data in `data` and serving `web_root`.
    pub fn new(data: impl Into<PathBuf>, web_root: impl Into<PathBuf>) -> Config {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            // Any free loopback port: a test that reads the metrics sets one it knows.
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data: data.into(),
            web_root: web_root.into(),
            allowed_origins: Vec::new(),
            database_url: None,
            database_timeout_ms: 10_000,
            nats_url: None,
            nats_subscription_capacity: 65_536,
            head_check_ms: 10_000,
            new_epoch: false,
            wake_up_body: true,
            durability: Durability::Full,
            max_connections: 19_000,
            max_connections_per_address: 256,
            max_sessions_per_account: 64,
            stored_bytes_per_account_per_day: 32 * 1024 * 1024,
            sign_ups_per_address: 100,
            reads_per_minute: 1_200,
            read_burst: 1_000,
            writes_per_minute: 1_200,
            write_burst: 1_000,
            header_read_timeout_ms: 5_000,
            write_stall_timeout_ms: 30_000,
            least_transfer_bytes_per_sec: 1024,
            max_handshakes_per_second: 6_000,
            handshake_burst: 1_000,
            max_handshakes_per_address_per_minute: 1_200,
            send_rate: 50,
            send_burst: 500,
            send_hold_limit_ms: 30_000,
            sends_in_flight: 64,
            blob_quota_bytes: DEFAULT_BLOB_QUOTA_BYTES,
            blob_open_uploads: 256,
            blob_requests_per_minute: 1_200,
            blob_request_burst: 1_000,
            blob_upload_bytes_per_sec: 0,
            blob_part_idle_ms: 30_000,
            blob_orphan_secs: 86_400,
            blob_cleanup_interval_ms: 60_000,
        }
    }
}

/// How durable a commit is before the server acknowledges it.
///
/// Both modes run SQLite in WAL mode and acknowledge a message only after the transaction
/// holding it has committed, so killing the server (`kill -9`) never loses an acknowledged
/// message in either. They differ in what a power cut or an operating-system crash can take.
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
        let built = Config::new("./data", "./dist");
        assert_eq!(config.max_connections, built.max_connections);
        assert_eq!(
            config.max_connections_per_address,
            built.max_connections_per_address
        );
        assert_eq!(
            config.max_sessions_per_account,
            built.max_sessions_per_account
        );
        assert_eq!(config.header_read_timeout_ms, built.header_read_timeout_ms);
        assert_eq!(config.write_stall_timeout_ms, built.write_stall_timeout_ms);
        assert_eq!(
            config.least_transfer_bytes_per_sec,
            built.least_transfer_bytes_per_sec
        );
        assert_eq!(
            config.stored_bytes_per_account_per_day,
            built.stored_bytes_per_account_per_day
        );
        assert_eq!(config.sign_ups_per_address, built.sign_ups_per_address);
        assert_eq!(config.reads_per_minute, built.reads_per_minute);
        assert_eq!(config.read_burst, built.read_burst);
        assert_eq!(config.writes_per_minute, built.writes_per_minute);
        assert_eq!(config.write_burst, built.write_burst);
        assert_eq!(
            config.max_handshakes_per_second,
            built.max_handshakes_per_second
        );
        assert_eq!(config.handshake_burst, built.handshake_burst);
        assert_eq!(
            config.max_handshakes_per_address_per_minute,
            built.max_handshakes_per_address_per_minute
        );
        assert_eq!(config.send_rate, built.send_rate);
        assert_eq!(config.send_burst, built.send_burst);
        assert_eq!(config.send_hold_limit_ms, built.send_hold_limit_ms);
        assert_eq!(config.blob_quota_bytes, built.blob_quota_bytes);
        assert_eq!(config.blob_open_uploads, built.blob_open_uploads);
        assert_eq!(
            config.blob_requests_per_minute,
            built.blob_requests_per_minute
        );
        assert_eq!(config.blob_request_burst, built.blob_request_burst);
        assert_eq!(
            config.blob_upload_bytes_per_sec,
            built.blob_upload_bytes_per_sec
        );
        assert_eq!(config.blob_part_idle_ms, built.blob_part_idle_ms);
        assert_eq!(config.blob_orphan_secs, built.blob_orphan_secs);
        assert_eq!(
            config.blob_cleanup_interval_ms,
            built.blob_cleanup_interval_ms
        );
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

    #[test]
    fn a_time_that_would_refuse_every_upload_or_part_is_refused_at_start() {
        for flag in [
            "--blob-orphan-secs",
            "--blob-part-idle-ms",
            "--blob-cleanup-interval-ms",
        ] {
            let parsed = Config::try_parse_from(["merpati-server", flag, "0"]);
            assert!(parsed.is_err(), "{flag} 0 was taken");
        }
    }
}
