//! Bare HTTP/1.0 GETs on loopback: Traefik's `/ping` and API, and a replica's
//! `/health/ready`. HTTP/1.0 makes the server close the connection after its answer, so the
//! body is everything up to the end of the stream and no HTTP client (nor its TLS stack) is
//! needed in this crate.

use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Longer than any loopback answer; a peer that accepts but never answers is an error.
const ANSWER_LIMIT: Duration = Duration::from_secs(5);

/// One answer: its status code and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    /// What Traefik's health check counts as healthy: 2xx and 3xx.
    pub fn healthy(&self) -> bool {
        (200..400).contains(&self.status)
    }
}

/// `GET path` on `base_url` (`http://host:port`).
pub async fn get(base_url: &str, path: &str) -> anyhow::Result<Answer> {
    let authority = base_url
        .strip_prefix("http://")
        .with_context(|| format!("{base_url} is not a plain http:// URL"))?
        .trim_end_matches('/');
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(authority).await?;
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n").as_bytes())
            .await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        anyhow::Ok(raw)
    };
    let raw = tokio::time::timeout(ANSWER_LIMIT, exchange)
        .await
        .with_context(|| format!("{base_url}{path} did not answer within {ANSWER_LIMIT:?}"))??;
    parse(&String::from_utf8_lossy(&raw)).with_context(|| format!("the answer of {base_url}{path}"))
}

fn parse(raw: &str) -> anyhow::Result<Answer> {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let status_line = head.lines().next().unwrap_or_default();
    let Some(status) = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
    else {
        bail!("no status line: {status_line:?}");
    };
    Ok(Answer {
        status,
        body: body.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_body_are_read_from_an_http_1_answer() {
        let answer = parse("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\n{}")
            .expect("an answer");
        assert_eq!(answer.status, 503);
        assert_eq!(answer.body, "{}");
        assert!(!answer.healthy());
        assert!(parse("garbage").is_err());
    }
}
