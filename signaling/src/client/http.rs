//! A minimal HTTP/1.1 GET over a tokio `TcpStream`, enough for the PeerJS
//! API's `/<key>/id` and `/<key>/peers` on loopback or a LAN.
//!
//! Why hand-rolled: two GET requests do not justify an HTTP client stack in
//! every node. It sends `Connection: close`, reads the whole answer (bounded
//! in size and time) and understands `Content-Length` and chunked bodies,
//! which covers both our server (hyper) and the official one (express).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

use crate::error::ClientError;

/// Largest response accepted, headers included.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Where a server's HTTP API lives, derived from the base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `host:port` to connect to and to send as `Host`.
    pub authority: String,
    /// Base path, starting and ending with `/`.
    pub base_path: String,
}

impl Endpoint {
    /// Accepts `http://` (and `ws://`) base URLs; TLS is not supported.
    pub(crate) fn from_url(url: &Url) -> Result<Endpoint, ClientError> {
        let default_port = match url.scheme() {
            "http" | "ws" => 80,
            "https" | "wss" => {
                return Err(ClientError::InvalidUrl(format!(
                    "{url}: TLS is not supported, use http:// on a trusted network"
                )))
            }
            other => {
                return Err(ClientError::InvalidUrl(format!(
                    "{url}: unsupported scheme {other}"
                )))
            }
        };
        let host = url
            .host_str()
            .ok_or_else(|| ClientError::InvalidUrl(format!("{url}: no host")))?;
        let port = url.port().unwrap_or(default_port);
        let mut base_path = url.path().to_string();
        if !base_path.ends_with('/') {
            base_path.push('/');
        }
        Ok(Endpoint {
            authority: format!("{host}:{port}"),
            base_path,
        })
    }
}

/// A response: status and body.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// `GET <base_path><rest>` with an overall deadline.
pub(crate) async fn get(
    endpoint: &Endpoint,
    rest: &str,
    limit: Duration,
) -> Result<Response, ClientError> {
    tokio::time::timeout(limit, get_inner(endpoint, rest))
        .await
        .map_err(|_| ClientError::Timeout("HTTP response"))?
}

async fn get_inner(endpoint: &Endpoint, rest: &str) -> Result<Response, ClientError> {
    let mut stream = TcpStream::connect(&endpoint.authority).await?;
    let request = format!(
        "GET {}{} HTTP/1.1\r\nHost: {}\r\nAccept: */*\r\nUser-Agent: raftrtc-signaling\r\nConnection: close\r\n\r\n",
        endpoint.base_path, rest, endpoint.authority
    );
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if raw.len() > MAX_RESPONSE_BYTES {
            return Err(ClientError::Protocol("HTTP response too large".into()));
        }
    }
    parse_response(&raw)
}

/// Parses a complete HTTP/1.1 response.
pub(crate) fn parse_response(raw: &[u8]) -> Result<Response, ClientError> {
    let bad = |what: &str| ClientError::Protocol(format!("malformed HTTP response: {what}"));
    let head_end = find(raw, b"\r\n\r\n").ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| bad("headers not UTF-8"))?;
    let body = &raw[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| bad("no status line"))?;
    let mut parts = status_line.split(' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(bad("not HTTP/1.x"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status code"))?;
    let mut length: Option<usize> = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse().map_err(|_| bad("bad Content-Length"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            chunked = true;
        }
    }
    let body = if chunked {
        dechunk(body).ok_or_else(|| bad("bad chunked body"))?
    } else if let Some(n) = length {
        body.get(..n)
            .ok_or_else(|| bad("body shorter than Content-Length"))?
            .to_vec()
    } else {
        body.to_vec()
    };
    Ok(Response { status, body })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = find(data, b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_body_is_cut_at_length() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n[\"a\"]extra");
        let r = r.map(|r| (r.status, r.body));
        assert_eq!(r.ok(), Some((200, b"[\"a\"".to_vec())));
    }

    #[test]
    fn chunked_body_is_reassembled() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[\"a\r\n2\r\n\"]\r\n0\r\n\r\n";
        let r = parse_response(raw).map(|r| r.body);
        assert_eq!(r.ok(), Some(b"[\"a\"]".to_vec()));
    }

    #[test]
    fn garbage_is_a_protocol_error_not_a_panic() {
        for raw in [
            &b""[..],
            b"hello",
            b"HTTP/1.1 abc\r\n\r\n",
            b"SMTP 200\r\n\r\n",
        ] {
            assert!(matches!(parse_response(raw), Err(ClientError::Protocol(_))));
        }
        let truncated = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nff\r\nab";
        assert!(parse_response(truncated).is_err());
    }

    #[test]
    fn endpoint_keeps_base_path_and_refuses_tls() {
        let url = Url::parse("http://127.0.0.1:9000/signal").ok();
        let ep = url.as_ref().map(Endpoint::from_url);
        assert_eq!(
            ep.and_then(Result::ok),
            Some(Endpoint {
                authority: "127.0.0.1:9000".into(),
                base_path: "/signal/".into()
            })
        );
        let tls = Url::parse("https://example.invalid/").ok();
        assert!(tls
            .as_ref()
            .map(Endpoint::from_url)
            .is_some_and(|r| r.is_err()));
    }
}
