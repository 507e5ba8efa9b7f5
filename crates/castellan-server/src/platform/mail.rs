//! Outgoing mail: invitations, email verification and password-reset links, sent through an
//! SMTP server (`[mail]`, with `lettre`). With no `smtp_host` configured, no mail is sent: an
//! OWNER is shown an invitation's link to pass on, and a person asking for a verification or a
//! password-reset link is told that mail is not set up.

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain SMTP (a relay on this machine or a test sink only).
    None,
    /// SMTP upgraded with STARTTLS (port 587), certificate checked.
    Starttls,
    /// SMTP over TLS from the first byte (port 465), certificate checked.
    Tls,
}

/// The SMTP password: `Debug` never shows it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SmtpPassword(pub String);

impl std::fmt::Debug for SmtpPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "[redacted]"
        })
    }
}

/// `[mail]`: the SMTP server mail goes through, and how long the links it carries live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// The SMTP server's host name or address; empty: no mail is sent.
    pub smtp_host: String,
    /// Its port (1 ..= 65535).
    pub smtp_port: u16,
    /// `none`, `starttls` or `tls`; `none` only for a server on this machine outside `local`.
    pub tls: SmtpTls,
    /// The user name to authenticate with; empty: no authentication.
    pub username: String,
    /// The password (set it through `CASTELLAN_MAIL__PASSWORD` rather than the file).
    pub password: SmtpPassword,
    /// The sender: `Castellan <no-reply@example.com>` or a bare address.
    pub from: String,
    /// Longest wait for the SMTP server, in seconds (1 ..= 120).
    pub timeout_seconds: u32,
    /// How long an invitation works, in hours (1 ..= 720).
    pub invitation_hours: u32,
    /// How long an email verification link works, in hours (1 ..= 168).
    pub verification_hours: u32,
    /// How long a password-reset link works, in minutes (5 ..= 1440).
    pub reset_minutes: u32,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            smtp_host: String::new(),
            smtp_port: 587,
            tls: SmtpTls::Starttls,
            username: String::new(),
            password: SmtpPassword::default(),
            from: "Castellan <no-reply@localhost>".to_owned(),
            timeout_seconds: 10,
            invitation_hours: 168,
            verification_hours: 48,
            reset_minutes: 60,
        }
    }
}

impl MailConfig {
    /// What is wrong with the settings, as `(setting, problem)`.
    pub fn problem(&self, production: bool) -> Option<(&'static str, String)> {
        let bounded = |name, v: u32, lo, hi| {
            (!(lo..=hi).contains(&v)).then(|| (name, format!("must be between {lo} and {hi}")))
        };
        bounded("mail.timeout_seconds", self.timeout_seconds, 1, 120)
            .or_else(|| bounded("mail.invitation_hours", self.invitation_hours, 1, 720))
            .or_else(|| bounded("mail.verification_hours", self.verification_hours, 1, 168))
            .or_else(|| bounded("mail.reset_minutes", self.reset_minutes, 5, 1440))
            .or_else(|| {
                (self.smtp_port == 0).then(|| ("mail.smtp_port", "must be 1 to 65535".to_owned()))
            })
            .or_else(|| {
                self.from.parse::<Mailbox>().err().map(|_| {
                    (
                        "mail.from",
                        "must be an address such as `Castellan <no-reply@example.com>`".to_owned(),
                    )
                })
            })
            .or_else(|| {
                let local = matches!(self.smtp_host.as_str(), "localhost" | "127.0.0.1" | "::1");
                (production && self.tls == SmtpTls::None && !self.smtp_host.is_empty() && !local)
                    .then(|| {
                        (
                            "mail.tls",
                            "`none` sends links in clear text: in production use `starttls` or \
                             `tls` (or a relay on this machine)"
                                .to_owned(),
                        )
                    })
            })
    }
}

/// `email` as an address mail can go to: a bare `local@domain` (RFC 5321 addr-spec), never a
/// display name with another address inside (`x<eve@example.com>`), nor one whose domain is an
/// IP address (`a@10.0.0.1`, `a@[::1]`: the relay would be sent to internal hosts).
pub fn deliverable(email: &str) -> Option<lettre::Address> {
    let address = email.parse::<lettre::Address>().ok()?;
    let domain = address.domain();
    let literal = domain.starts_with('[') || domain.parse::<std::net::IpAddr>().is_ok();
    (!literal && domain.contains('.')).then_some(address)
}

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// No SMTP server is configured.
    #[error("no mail server is configured")]
    NotConfigured,
    /// The recipient is not a usable address.
    #[error("not a usable email address")]
    Address,
    /// The SMTP server refused or could not be reached.
    #[error("the mail server did not take the message: {0}")]
    Send(String),
}

/// Sends mail, or knows it cannot.
#[derive(Clone)]
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("configured", &self.transport.is_some())
            .finish()
    }
}

impl Mailer {
    /// The mailer of `config` (checked by [`MailConfig::problem`]).
    pub fn new(config: &MailConfig) -> Result<Mailer, String> {
        let from = config
            .from
            .parse::<Mailbox>()
            .map_err(|e| format!("mail.from: {e}"))?;
        if config.smtp_host.is_empty() {
            return Ok(Mailer {
                transport: None,
                from,
            });
        }
        let host = config.smtp_host.as_str();
        let builder = match config.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                .map_err(|e| format!("mail.smtp_host: {e}"))?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                .map_err(|e| format!("mail.smtp_host: {e}"))?,
        };
        let mut builder = builder
            .port(config.smtp_port)
            .timeout(Some(Duration::from_secs(u64::from(config.timeout_seconds))));
        if !config.username.is_empty() {
            builder = builder.credentials(Credentials::new(
                config.username.clone(),
                config.password.0.clone(),
            ));
        }
        Ok(Mailer {
            transport: Some(builder.build()),
            from,
        })
    }

    /// Whether mail can be sent.
    pub fn is_configured(&self) -> bool {
        self.transport.is_some()
    }

    /// Sends a plain-text message to `to`.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), MailError> {
        let Some(transport) = &self.transport else {
            return Err(MailError::NotConfigured);
        };
        let to = Mailbox::new(None, deliverable(to).ok_or(MailError::Address)?);
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|_| MailError::Address)?;
        transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| MailError::Send(e.to_string()))
    }
}
