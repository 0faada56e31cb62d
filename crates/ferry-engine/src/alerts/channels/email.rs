//! E-mail through SMTP (lettre): one `text/plain; charset=utf-8` mail per check, the title as
//! subject (RFC 2047-encoded when it is not ASCII, as a Chinese one is), over implicit TLS
//! (`smtps://`, port 465) or STARTTLS the server must offer (`smtp://`, port 587); plain SMTP
//! only to this machine. Certificates are checked against the system's roots, plus a
//! channel's own `ca` (an internal relay's CA).

use std::fmt;
use std::time::Duration;

use ferry_kit::http::Url;
use ferry_model::config::Language;
use ferry_model::config::alerts::channels::{EmailChannel, SmtpSecurity};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use percent_encoding::percent_decode_str;

use super::super::Surroundings;
use super::{DeliveryError, Digest};

/// How long one SMTP command may take.
const TIMEOUT: Duration = Duration::from_secs(20);

/// A key at fault (its path under the channel) and what is wrong.
type KeyIssue = (Vec<String>, String);

/// A mail channel.
pub struct Mailer {
    name: String,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    language: Language,
    /// Kept out of messages.
    password: Option<String>,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("name", &self.name)
            .field("to", &self.to.len())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// The channel `name` from its settings (reads the `ca` file, no network).
    pub fn new(
        name: String,
        config: &EmailChannel,
        around: &Surroundings,
    ) -> Result<Self, KeyIssue> {
        let smtp = |m: String| (vec!["smtp".to_owned()], m);
        let security = config.security().map_err(smtp)?;
        // The parser's message never quotes the URL (it holds the password).
        let url = Url::parse(config.smtp.trim()).map_err(|e| smtp(format!("not a URL: {e}")))?;
        let host = url
            .host_str()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
            .ok_or_else(|| smtp("has no host".to_owned()))?;
        let tls = tls(security, &host, config, around)?;
        let port = url.port().unwrap_or(match security {
            SmtpSecurity::Implicit => 465,
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::None => 25,
        });
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .timeout(Some(TIMEOUT));
        let password = url.password().map(decoded);
        if let Some(password) = &password {
            builder =
                builder.credentials(Credentials::new(decoded(url.username()), password.clone()));
        }
        Ok(Self {
            name,
            transport: builder.build(),
            from: mailbox(&config.from, vec!["from".to_owned()])?,
            to: config
                .to
                .iter()
                .enumerate()
                .map(|(i, to)| mailbox(to, vec!["to".to_owned(), i.to_string()]))
                .collect::<Result<_, _>>()?,
            language: config.language,
            password,
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The language of its mails.
    pub fn language(&self) -> Language {
        self.language
    }

    /// Sends `digest` as one mail to every recipient.
    pub async fn deliver(&self, digest: &Digest) -> Result<(), DeliveryError> {
        let mail = self.mail(digest).map_err(|e| DeliveryError::Mail {
            channel: self.name.clone(),
            reason: e.to_string(),
        })?;
        self.transport
            .send(mail)
            .await
            .map_err(|e| DeliveryError::Smtp {
                channel: self.name.clone(),
                reason: self.scrub(&describe(&e)),
            })?;
        Ok(())
    }

    /// The mail: the digest's title as subject, its text as body.
    pub fn mail(&self, digest: &Digest) -> Result<Message, lettre::error::Error> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(digest.title.clone())
            .message_id(Some(format!(
                "<{}@{}>",
                uuid::Uuid::now_v7(),
                self.from.email.domain()
            )))
            .header(ContentType::TEXT_PLAIN);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder.body(digest.text())
    }

    fn scrub(&self, text: &str) -> String {
        match &self.password {
            Some(p) if !p.is_empty() => text.replace(p.as_str(), "****"),
            _ => text.to_owned(),
        }
    }
}

/// TLS as the URL asks, trusting the system's roots and the channel's `ca`.
fn tls(
    security: SmtpSecurity,
    host: &str,
    config: &EmailChannel,
    around: &Surroundings,
) -> Result<Tls, KeyIssue> {
    let parameters = || {
        let mut builder = TlsParameters::builder(host.to_owned());
        if let Some(ca) = &config.ca {
            builder = builder.add_root_certificate(ca_file(ca, around)?);
        }
        builder
            .build_rustls()
            .map_err(|e| (vec!["smtp".to_owned()], format!("cannot set up TLS: {e}")))
    };
    Ok(match security {
        SmtpSecurity::Implicit => Tls::Wrapper(parameters()?),
        SmtpSecurity::StartTls => Tls::Required(parameters()?),
        SmtpSecurity::None => Tls::None,
    })
}

fn ca_file(ca: &str, around: &Surroundings) -> Result<Certificate, KeyIssue> {
    let issue = |m: String| (vec!["ca".to_owned()], m);
    let path = around.base_dir.join(ca);
    let pem =
        std::fs::read(&path).map_err(|e| issue(format!("cannot read {}: {e}", path.display())))?;
    Certificate::from_pem(&pem)
        .map_err(|e| issue(format!("{} holds no PEM certificate: {e}", path.display())))
}

fn mailbox(text: &str, at: Vec<String>) -> Result<Mailbox, KeyIssue> {
    text.parse().map_err(|e| {
        (
            at,
            format!("`{text}` is not an address like ops@example.com ({e})"),
        )
    })
}

/// A URL's user or password as written, `%40` decoded.
fn decoded(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// The error and its causes, as one line.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    // lettre's own text already ends with its source ("permanent error (535): …").
    e.to_string().replace(['\r', '\n'], " ")
}
