//! A local SMTP server that accepts every message and records it: the mail relay of tests. It
//! speaks just enough SMTP for lettre (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) and can be
//! taken down (its port refuses connections, open ones are cut) and brought back on the same
//! port.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// One accepted message.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body as sent, dot-stuffing removed.
    pub data: String,
}

#[derive(Debug)]
pub struct SmtpSink {
    pub address: SocketAddr,
    messages: Arc<Mutex<Vec<ReceivedMail>>>,
    online: Arc<watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("SMTP sink binds a local port");
        let address = listener.local_addr().expect("SMTP sink address");
        let mut sink = Self {
            address,
            messages: Arc::default(),
            online: Arc::new(watch::channel(true).0),
            task: None,
        };
        sink.serve(listener);
        sink
    }

    fn serve(&mut self, listener: TcpListener) {
        self.online.send_replace(true);
        let (messages, online) = (self.messages.clone(), self.online.clone());
        self.task = Some(tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (messages, mut offline) = (messages.clone(), online.subscribe());
                tokio::spawn(async move {
                    tokio::select! {
                        _ = session(stream, messages) => {}
                        _ = offline.wait_for(|online| !*online) => {}
                    }
                });
            }
        }));
    }

    /// Stops listening and cuts every open connection: a relay that is down.
    pub fn go_down(&mut self) {
        self.online.send_replace(false);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn come_up(&mut self) {
        let listener = TcpListener::bind(self.address)
            .await
            .expect("SMTP sink rebinds its port");
        self.serve(listener);
    }

    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.messages.lock().expect("sink lock").clone()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.go_down();
    }
}

async fn session(
    stream: TcpStream,
    messages: Arc<Mutex<Vec<ReceivedMail>>>,
) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    writer.write_all(b"220 sink ESMTP ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        // `MAIL FROM:<address> PARAMS`: the address between the angle brackets.
        let address = || {
            command
                .split_once(':')
                .and_then(|(_, rest)| rest.trim().trim_start_matches('<').split('>').next())
                .unwrap_or_default()
                .to_owned()
        };
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            "HELO" | "NOOP" => b"250 OK\r\n",
            "MAIL" => {
                from = address();
                to.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                to.push(address());
                b"250 OK\r\n"
            }
            "RSET" => {
                from.clear();
                to.clear();
                b"250 OK\r\n"
            }
            "DATA" => {
                writer
                    .write_all(b"354 end with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let data = read_data(&mut reader).await?;
                messages.lock().expect("sink lock").push(ReceivedMail {
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    data,
                });
                b"250 OK queued\r\n"
            }
            "QUIT" => {
                writer.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 command not implemented\r\n",
        };
        writer.write_all(reply).await?;
    }
}

async fn read_data(reader: &mut (impl AsyncBufReadExt + Unpin)) -> std::io::Result<String> {
    let mut data = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == ".\r\n" || line == ".\n" {
            return Ok(data);
        }
        data.push_str(line.strip_prefix('.').unwrap_or(&line));
    }
}
