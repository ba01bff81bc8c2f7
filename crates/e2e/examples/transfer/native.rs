//! The first baseline: the same bytes over plain HTTP by a native client, no browser.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use merpati_e2e::HarnessError;
use merpati_protocol::blobs::{UPLOAD_LENGTH, UPLOAD_OFFSET};
use merpati_protocol::{BlobId, ServerFrame, Username};
use merpati_testkit::http::{HttpResponse, request};
use merpati_testkit::random::random_bytes;
use merpati_testkit::{ConnectOptions, RawClient, ServerProcess, SignIn};
use serde_json::{Value, json};
use vodozemac::Ed25519SecretKey;

use crate::{PART_BYTES, ms_between};

/// The baseline's client: a session of its own on the same server, speaking HTTP to
/// `/blobs/{id}` with the test kit's client.
pub(crate) struct PlainHttp {
    addr: SocketAddr,
    pub(crate) authorization: String,
    /// The connection that signed up; kept open so the session is as alive as the
    /// browsers'.
    _session: RawClient,
}

impl PlainHttp {
    /// Signs a new account up over the raw protocol client; its session token authorizes the
    /// HTTP requests.
    pub(crate) async fn sign_up(server: &ServerProcess) -> Result<PlainHttp, HarnessError> {
        let key = Ed25519SecretKey::from_slice(&random_bytes::<32>()?);
        let username = Username::parse("carol")?;
        let mut session =
            RawClient::connect(&server.endpoint(), &ConnectOptions::default()).await?;
        let token = match session
            .authenticate(&SignIn::Register {
                username: &username,
                key: &key,
            })
            .await?
        {
            ServerFrame::Welcome {
                session_token: Some(token),
                ..
            } => token,
            other => return Err(format!("signing the baseline's account up: {other:?}").into()),
        };
        let hex: String = token.iter().map(|byte| format!("{byte:02x}")).collect();
        Ok(PlainHttp {
            addr: server.addr(),
            authorization: format!("Bearer {hex}"),
            _session: session,
        })
    }

    /// `method /blobs/{id}` with the session's token, these headers and body.
    async fn send(
        &self,
        method: &str,
        id: BlobId,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<HttpResponse, HarnessError> {
        let mut all = vec![("Authorization", self.authorization.as_str())];
        all.extend_from_slice(headers);
        Ok(request(
            self.addr,
            method,
            &format!("/blobs/{}", id.to_hex()),
            &all,
            body,
        )
        .await?)
    }

    /// Reads the file at `path`, uploads it as the app does (a `PUT`, then `PATCH`es, here
    /// all of [`PART_BYTES`]), downloads it back and writes it to `saved`; the result line's
    /// numbers.
    pub(crate) async fn round_trip(
        &self,
        path: &Path,
        saved: &Path,
    ) -> Result<Value, HarnessError> {
        let id = BlobId(random_bytes::<16>()?);
        let start = Instant::now();
        let bytes = std::fs::read(path)?;
        let length = bytes.len().to_string();
        let created = self
            .send("PUT", id, &[(UPLOAD_LENGTH, &length)], None)
            .await?;
        if created.status != 201 {
            return Err(format!("PUT answered {}", created.status).into());
        }
        let mut at = 0;
        while at < bytes.len() {
            let end = (at + PART_BYTES).min(bytes.len());
            let offset = at.to_string();
            let answer = self
                .send(
                    "PATCH",
                    id,
                    &[(UPLOAD_OFFSET, &offset)],
                    Some(&bytes[at..end]),
                )
                .await?;
            let held = answer
                .header(UPLOAD_OFFSET)
                .and_then(|held| held.parse().ok());
            if answer.status != 204 || held != Some(end) {
                return Err(
                    format!("PATCH at {at} answered {} (held {held:?})", answer.status).into(),
                );
            }
            at = end;
        }
        let uploaded = Instant::now();
        let downloaded = self.send("GET", id, &[], None).await?;
        if downloaded.status != 200 {
            return Err(format!("GET answered {}", downloaded.status).into());
        }
        std::fs::write(saved, &downloaded.body)?;
        let done = Instant::now();
        if downloaded.body != bytes {
            return Err("the baseline downloaded other bytes than it uploaded".into());
        }
        std::fs::remove_file(saved)?;
        Ok(json!({
            "bytes": bytes.len(),
            "total_ms": ms_between(start, done),
            "upload_ms": ms_between(start, uploaded),
            "download_ms": ms_between(uploaded, done),
        }))
    }
}
