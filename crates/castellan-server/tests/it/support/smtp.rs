//! A mail sink the tests start themselves: a minimal SMTP server on 127.0.0.1 (port 0) that
//! takes every message and keeps it, so a test reads back what Castellan mailed.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails on an unwrap, with its location"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One message as received.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The message (headers and body), quoted-printable soft breaks and escapes undone.
    pub text: String,
}

impl Mail {
    /// The first URL in the message that starts with `prefix`.
    pub fn link(&self, prefix: &str) -> Option<String> {
        let start = self.text.find(prefix)?;
        let rest = &self.text[start..];
        let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
        Some(rest[..end].to_owned())
    }
}

/// The sink: where it listens and what it received.
pub struct Sink {
    /// Its port.
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
}

/// The message as written: a quoted-printable one has its soft line breaks and `=XX`
/// escapes undone.
fn decoded(message: &str) -> String {
    if !message
        .to_ascii_lowercase()
        .contains("content-transfer-encoding: quoted-printable")
    {
        return message.to_owned();
    }
    let joined = message.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'=')
            .then(|| joined.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escaped {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Sink {
    /// Starts the sink.
    pub async fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&mails);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let kept = Arc::clone(&kept);
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read);
                    let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                    let mut to = Vec::new();
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let upper = line.to_ascii_uppercase();
                        let answer: &[u8] =
                            if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                                b"250-sink\r\n250 8BITMIME\r\n"
                            } else if upper.starts_with("RCPT TO:") {
                                let addr = line[8..].trim().trim_matches(['<', '>']).to_owned();
                                to.push(addr);
                                b"250 OK\r\n"
                            } else if upper.starts_with("DATA") {
                                let _ = write.write_all(b"354 go ahead\r\n").await;
                                let mut text = String::new();
                                loop {
                                    line.clear();
                                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                                        return;
                                    }
                                    if line == ".\r\n" {
                                        break;
                                    }
                                    // Dot-stuffing (RFC 5321 §4.5.2) undone.
                                    let unstuffed = if line.starts_with("..") {
                                        &line[1..]
                                    } else {
                                        &line[..]
                                    };
                                    text.push_str(unstuffed);
                                }
                                kept.lock().unwrap().push(Mail {
                                    to: std::mem::take(&mut to),
                                    text: decoded(&text),
                                });
                                b"250 queued\r\n"
                            } else if upper.starts_with("QUIT") {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                return;
                            } else {
                                b"250 OK\r\n"
                            };
                        if write.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Sink { port, mails }
    }

    /// Every message received so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    /// Waits (up to ten seconds) for a message to `to`; answers the last one.
    pub async fn wait_for(&self, to: &str) -> Mail {
        self.wait_for_after(to, 0).await
    }

    /// Waits (up to ten seconds) for a message to `to` among those received after the first
    /// `seen`; answers the last one.
    pub async fn wait_for_after(&self, to: &str, seen: usize) -> Mail {
        for _ in 0..200 {
            if let Some(m) = self
                .mails()
                .into_iter()
                .skip(seen)
                .rev()
                .find(|m| m.to.iter().any(|t| t == to))
            {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no mail to {to}; received: {:?}", self.mails());
    }

    /// The `[mail]` settings that send to this sink.
    pub fn configure(&self, c: &mut castellan_server::platform::config::Config) {
        c.mail.smtp_host = "127.0.0.1".into();
        c.mail.smtp_port = self.port;
        c.mail.tls = castellan_server::platform::mail::SmtpTls::None;
        c.mail.from = "Castellan <no-reply@castellan.test>".into();
    }
}
