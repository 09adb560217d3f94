//! `<binary> healthcheck`: the container healthcheck of an image that has no shell and no HTTP
//! client. The binary asks its own running instance, on loopback, whether it is ready
//! (`GET /health/ready`) and exits 0 for a 200, 1 for anything else, as Docker and Compose
//! expect of a `CMD` healthcheck.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The word that selects the probe on a binary's command line.
pub const COMMAND: &str = "healthcheck";

const TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the service listening on `port` answers `path` with 200 within two seconds.
pub fn answers_ok(port: u16, path: &str) -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, TIMEOUT) else {
        return false;
    };
    if stream.set_read_timeout(Some(TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(TIMEOUT)).is_err()
    {
        return false;
    }
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    // The status line is all that matters: "HTTP/1.1 200 OK".
    let mut status_line = [0u8; 12];
    stream.read_exact(&mut status_line).is_ok() && status_line.ends_with(b" 200")
}

/// The exit code of `<binary> healthcheck` for a service configured to listen on `port`.
pub fn exit_code(port: u16) -> i32 {
    if answers_ok(port, "/health/ready") {
        0
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;

    use super::*;

    /// A one-shot server that reads a request and answers `response`.
    fn answering(response: &'static str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 1024];
            let read = stream.read(&mut request).unwrap();
            assert!(request[..read].starts_with(b"GET /health/ready HTTP/1.1\r\n"));
            stream.write_all(response.as_bytes()).unwrap();
        });
        port
    }

    #[test]
    fn ready_is_exit_code_zero() {
        let port = answering("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(exit_code(port), 0);
    }

    #[test]
    fn not_ready_or_not_listening_is_one() {
        let port = answering("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(exit_code(port), 1);
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert_eq!(exit_code(closed), 1);
    }
}
