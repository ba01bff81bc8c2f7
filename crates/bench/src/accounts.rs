//! The benchmark's accounts: unique names, sign-ups on fresh connections and groups, over the
//! test kit's raw protocol client (`merpati_testkit::raw_client`), connected as a load client
//! (`ConnectOptions::load_client`: a 4 KiB read buffer, sources spread over 127.0.0.0/8).

use merpati_protocol::{ChatId, ClientFrame, Member, NewChat, ServerFrame, Username};
use merpati_testkit::random::random_bytes;
use merpati_testkit::{ConnectOptions, Endpoint, RawClient, SignIn};
use vodozemac::Ed25519SecretKey;

use crate::BenchError;

/// A unique username for client `index` of this run (`prefix` tells runs apart).
pub(crate) fn username(prefix: &str, index: usize) -> Result<Username, BenchError> {
    Ok(Username::parse(&format!("{prefix}{index:x}"))?)
}

/// Connects as a load client and signs up a new account named `name`.
///
/// The key is made before the connection opens; the signature needs the server's nonce, so it
/// is computed on arrival of the challenge (an Ed25519 signature: tens of microseconds).
pub(crate) async fn sign_up(endpoint: &Endpoint, name: Username) -> Result<RawClient, BenchError> {
    let key = Ed25519SecretKey::from_slice(&random_bytes()?);
    Ok(sign_in(endpoint, &name, &key, true).await?.0)
}

/// Connects as a load client and registers (`new`) or logs in `name` with `key`; the client
/// and the account.
pub(crate) async fn sign_in(
    endpoint: &Endpoint,
    name: &Username,
    key: &Ed25519SecretKey,
    new: bool,
) -> Result<(RawClient, Member), BenchError> {
    let mut client = RawClient::connect(endpoint, &ConnectOptions::load_client()).await?;
    let sign_in = if new {
        SignIn::Register {
            username: name,
            key,
        }
    } else {
        SignIn::Login {
            username: name,
            key,
        }
    };
    match client.authenticate(&sign_in).await? {
        ServerFrame::Welcome { me, .. } => Ok((client, me)),
        other => Err(format!("signing {} in: {other:?}", name.as_str()).into()),
    }
}

/// Creates a group titled `title` with `members` (the creator is added by the server) and
/// returns its id.
pub(crate) async fn create_group(
    client: &mut RawClient,
    title: &str,
    members: Vec<Username>,
) -> Result<ChatId, BenchError> {
    let request = client.next_request_id();
    client
        .send(&ClientFrame::CreateChat {
            request,
            chat: NewChat::Group {
                title: title.to_owned(),
                members,
            },
        })
        .await?;
    let chat_id = client
        .skip_until("the new group", |frame| match frame {
            ServerFrame::Chat {
                request: Some(answered),
                chat,
            } if answered == request => Some(chat.id),
            _ => None,
        })
        .await?;
    Ok(chat_id)
}
