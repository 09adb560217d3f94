//! Bare HTTP/1.0 GETs on loopback: HAProxy's `/ping` and statistics, and a replica's
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
    /// What HAProxy's health check counts as healthy: 2xx and 3xx.
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
    let chunked = head.lines().skip(1).any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("transfer-encoding")
                && value.trim().eq_ignore_ascii_case("chunked")
        })
    });
    let body = if chunked {
        unchunk(body)?
    } else {
        body.to_owned()
    };
    Ok(Answer { status, body })
}

/// A chunked body put back together (HAProxy's statistics answer in chunks even to HTTP/1.0).
fn unchunk(mut rest: &str) -> anyhow::Result<String> {
    let mut body = String::new();
    loop {
        let (size_line, after) = rest
            .split_once("\r\n")
            .context("a chunk without its size line")?;
        let size_text = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .with_context(|| format!("a chunk size that is not hexadecimal: {size_text:?}"))?;
        if size == 0 {
            return Ok(body);
        }
        let chunk = after.get(..size).context("a chunk shorter than its size")?;
        body.push_str(chunk);
        rest = after[size..].strip_prefix("\r\n").unwrap_or(&after[size..]);
    }
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

    #[test]
    fn a_chunked_body_is_put_back_together() {
        let answer = parse(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n# px,\r\nA\r\nsv\nuser,u1\r\n0\r\n\r\n",
        )
        .expect("an answer");
        assert_eq!(answer.body, "# px,sv\nuser,u1");
        assert!(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
    }
}
