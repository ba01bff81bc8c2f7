//! A minimal HTTP/1.1 client for the server's plain routes (`/healthz`, `/metrics`, the web
//! app's files, `/blobs/{id}`): one request per connection, `Connection: close`, the whole
//! answer read.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{Error, within};

/// How long one request may take, answer included.
pub const HTTP_PATIENCE: Duration = Duration::from_secs(10);

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The headers, names in lowercase, in the order sent.
    pub headers: Vec<(String, String)>,
    /// The body, as sent (not decompressed).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of the header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header == name)
            .map(|(_, value)| value.as_str())
    }
}

/// `GET path` from `addr` with the extra `headers`.
pub async fn get(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<HttpResponse, Error> {
    request(addr, "GET", path, headers, None).await
}

/// `method path` to `addr` with the extra `headers` and, if given, a body (sent with its
/// `Content-Length`). A `HEAD` answer's body is empty, whatever its headers say.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<HttpResponse, Error> {
    let mut all = headers.to_vec();
    let length = body.map(|body| body.len().to_string());
    if let Some(length) = &length {
        all.push(("Content-Length", length));
    }
    let mut request = head(addr, method, path, &all);
    request.extend_from_slice(body.unwrap_or_default());
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        // A server may answer (a refusal) and close before it has read the whole request:
        // its answer counts, not the failed write.
        let written = stream.write_all(&request).await;
        let mut response = Vec::new();
        let read = stream.read_to_end(&mut response).await;
        if response.is_empty() {
            written?;
            read?;
        }
        Ok::<_, Error>(response)
    };
    let response = within(HTTP_PATIENCE, &format!("{method} {path}"), exchange).await??;
    parse(&response)
}

/// The head of a request: its line, `Host`, `Connection: close` and `headers`.
fn head(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// A request whose body is still being sent: the test sends the rest as it likes, waits for
/// the answer, or drops it to cut the connection half-way.
#[derive(Debug)]
pub struct OpenRequest {
    stream: TcpStream,
    what: String,
}

/// Sends `method path` to `addr` with `headers` (which say how long the body is:
/// `Content-Length`, or `Transfer-Encoding: chunked`) and the body's first bytes, `first`, as
/// they are; the rest is the [`OpenRequest`]'s.
pub async fn open_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    first: &[u8],
) -> Result<OpenRequest, Error> {
    let what = format!("{method} {path}");
    let mut bytes = head(addr, method, path, headers);
    bytes.extend_from_slice(first);
    let opened = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(&bytes).await?;
        Ok::<_, Error>(stream)
    };
    let stream = within(HTTP_PATIENCE, &what, opened).await??;
    Ok(OpenRequest { stream, what })
}

impl OpenRequest {
    /// Sends more of the body, as it is.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<(), Error> {
        within(HTTP_PATIENCE, &self.what, self.stream.write_all(bytes)).await??;
        Ok(())
    }

    /// Reads at most `max` bytes of the answer as they come (head included); `None` once the
    /// server has closed the connection (an end, or a reset).
    pub async fn receive(&mut self, max: usize) -> Result<Option<Vec<u8>>, Error> {
        let mut bytes = vec![0; max];
        let read = within(HTTP_PATIENCE, &self.what, self.stream.read(&mut bytes)).await?;
        match read {
            Ok(0) | Err(_) => Ok(None),
            Ok(read) => {
                bytes.truncate(read);
                Ok(Some(bytes))
            }
        }
    }

    /// The server's answer, read to the end of the connection.
    pub async fn answer(mut self) -> Result<HttpResponse, Error> {
        let mut response = Vec::new();
        let read = within(
            HTTP_PATIENCE,
            &self.what,
            self.stream.read_to_end(&mut response),
        )
        .await?;
        // A server that answers before it has read the whole body may reset the connection
        // after its answer: the answer counts.
        if response.is_empty() {
            read?;
        }
        parse(&response)
    }
}

fn parse(response: &[u8]) -> Result<HttpResponse, Error> {
    let split = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or_else(|| Error::Http("no end of the header block".to_owned()))?;
    let head = String::from_utf8_lossy(&response[..split]);
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| Error::Http("no status line".to_owned()))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: response[split + 4..].to_vec(),
    })
}

/// The server's `/metrics` as name → value (samples without labels); an error if it does not
/// answer `200` (it is down, say).
pub async fn metrics(addr: SocketAddr) -> Result<HashMap<String, f64>, Error> {
    let response = get(addr, "/metrics", &[]).await?;
    if response.status != 200 {
        return Err(Error::Http(format!(
            "/metrics answered {}",
            response.status
        )));
    }
    let text = String::from_utf8(response.body)
        .map_err(|_| Error::Http("/metrics is not UTF-8".to_owned()))?;
    Ok(text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once(' '))
        .filter_map(|(name, value)| Some((name.to_owned(), value.trim().parse().ok()?)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_splits_into_status_lowercase_headers_and_body() -> Result<(), Error> {
        let response = parse(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3\r\n\r\nbusy")?;
        assert_eq!(response.status, 503);
        assert_eq!(response.header("retry-after"), Some("3"));
        assert_eq!(response.body, b"busy");
        Ok(())
    }

    #[test]
    fn a_response_without_a_header_block_is_an_error() {
        assert!(parse(b"HTTP/1.1 200 OK\r\n").is_err());
    }
}
