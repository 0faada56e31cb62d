//! E-mail: a UTF-8 mail with an RFC 2047 subject, over implicit TLS or STARTTLS checked
//! against the channel's `ca`, to a local SMTP server; refusals name the channel and the
//! server's reply, never the password.

use base64::Engine as _;

use super::smtp::{Certs, Mail, Mode, SmtpServer};
use super::*;

const USER: &str = "ferry@example.com";
const PASSWORD: &str = "pw-s3cret-9731";

/// The test CA and certificate, or `None` (then the test says SKIPPED, or fails in CI).
fn certs() -> Option<Certs> {
    let certs = Certs::make();
    if certs.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("openssl is required in CI to make a test certificate");
        }
        eprintln!("SKIPPED: the openssl command is not available to make a test certificate");
    }
    certs
}

fn mailer(smtp: &str, ca: Option<&Certs>) -> Channel {
    let ca = ca.map_or(String::new(), |c| format!(", ca: \"{}\"", c.ca.display()));
    channel(&format!(
        "{{ kind: email, smtp: \"{smtp}\", from: \"Ferry 告警 <{USER}>\", \
         to: [ops@example.com, \"值班 <oncall@example.com>\"], language: zh{ca} }}"
    ))
}

fn url(scheme: &str, port: u16) -> String {
    format!("{scheme}://ferry%40example.com:{PASSWORD}@127.0.0.1:{port}")
}

/// The mail's headers (unfolded) and its body, decoded.
struct Read {
    headers: Vec<(String, String)>,
    body: String,
}

impl Read {
    fn of(mail: &Mail) -> Self {
        let (head, body) = mail
            .data
            .split_once("\r\n\r\n")
            .expect("headers, then a body");
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            match headers.last_mut() {
                Some((_, value)) if line.starts_with([' ', '\t']) => value.push_str(line),
                _ => {
                    let (name, value) = line.split_once(':').expect("a header");
                    headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
                }
            }
        }
        let read = Read {
            headers,
            body: String::new(),
        };
        let body = match read.header("content-transfer-encoding").as_deref() {
            Some("base64") => {
                let joined: String = body.split_whitespace().collect();
                String::from_utf8(
                    base64::engine::general_purpose::STANDARD
                        .decode(joined)
                        .unwrap(),
                )
                .unwrap()
            }
            Some("quoted-printable") => quoted_printable(body),
            _ => body.to_owned(),
        };
        Read {
            body: body.replace("\r\n", "\n"),
            ..read
        }
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    /// A header with its RFC 2047 encoded words decoded.
    fn text(&self, name: &str) -> String {
        words(&self.header(name).unwrap_or_default())
    }
}

/// Decodes `=?utf-8?b?…?=` words; the blanks between two encoded words do not count.
fn words(value: &str) -> String {
    let mut out = String::new();
    let mut last_encoded = false;
    for token in value.split_whitespace() {
        let decoded = encoded_word(token);
        let joins_previous_word = last_encoded && decoded.is_some();
        if !out.is_empty() && !joins_previous_word {
            out.push(' ');
        }
        last_encoded = decoded.is_some();
        out.push_str(decoded.as_deref().unwrap_or(token));
    }
    out
}

fn encoded_word(token: &str) -> Option<String> {
    let inner = token.strip_suffix("?=")?;
    let (prefix, data) = inner.split_at_checked(10)?;
    if !prefix.eq_ignore_ascii_case("=?utf-8?b?") {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .ok()?;
    String::from_utf8(bytes).ok()
}

fn quoted_printable(body: &str) -> String {
    let joined = body.replace("=\r\n", "");
    let mut bytes = Vec::new();
    let mut chars = joined.bytes();
    while let Some(b) = chars.next() {
        if b == b'=' {
            let hex: Vec<u8> = chars.by_ref().take(2).collect();
            bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).unwrap(), 16).unwrap());
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn implicit_tls_delivers_one_utf8_mail_to_every_recipient() {
    let Some(certs) = certs() else { return };
    let server = SmtpServer::start(Mode::Implicit, Some(&certs), USER, PASSWORD).await;
    let d = digest(Language::Zh);
    mailer(&url("smtps", server.port), Some(&certs))
        .deliver(&d)
        .await
        .expect("delivered");
    let mails = server.mails();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].tls);
    assert_eq!(mails[0].from, USER);
    assert_eq!(mails[0].to, ["ops@example.com", "oncall@example.com"]);
    let read = Read::of(&mails[0]);
    let subject = read.header("subject").unwrap();
    assert!(
        subject.is_ascii(),
        "a Chinese subject travels encoded: {subject}"
    );
    assert_eq!(read.text("subject"), d.title);
    assert_eq!(read.text("from"), format!("Ferry 告警 <{USER}>"));
    assert!(
        read.text("to").contains("值班 <oncall@example.com>"),
        "{:?}",
        read.text("to")
    );
    assert_eq!(
        read.header("content-type").unwrap().to_ascii_lowercase(),
        "text/plain; charset=utf-8"
    );
    assert!(
        read.header("message-id")
            .is_some_and(|id| id.ends_with("@example.com>"))
    );
    assert!(
        read.body
            .contains("🔴 orders · 死信（仍未恢复）\n3 条死信待处理"),
        "{}",
        read.body
    );
    assert!(
        read.body
            .contains("https://ferry.example.com/console/flows/orders")
    );
}

#[tokio::test]
async fn starttls_is_required_and_used() {
    let Some(certs) = certs() else { return };
    let server = SmtpServer::start(Mode::StartTls, Some(&certs), USER, PASSWORD).await;
    mailer(&url("smtp", server.port), Some(&certs))
        .deliver(&digest(Language::En))
        .await
        .expect("delivered");
    assert!(server.mails()[0].tls, "the mail went after STARTTLS");

    // A server that does not offer STARTTLS gets no password and no mail.
    let plain = SmtpServer::start(Mode::Plain, None, USER, PASSWORD).await;
    let err = mailer(&url("smtp", plain.port), Some(&certs))
        .deliver(&digest(Language::En))
        .await
        .expect_err("STARTTLS is required")
        .to_string();
    assert!(err.starts_with("alert channel `email`:"), "{err}");
    assert!(plain.mails().is_empty());
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_refused() {
    let Some(certs) = certs() else { return };
    let server = SmtpServer::start(Mode::Implicit, Some(&certs), USER, PASSWORD).await;
    let err = mailer(&url("smtps", server.port), None)
        .deliver(&digest(Language::En))
        .await
        .expect_err("the test CA is not trusted without `ca`")
        .to_string();
    assert!(err.starts_with("alert channel `email`:"), "{err}");
    assert!(server.mails().is_empty());
}

#[tokio::test]
async fn a_refused_login_names_the_channel_and_the_reply_not_the_password() {
    let server = SmtpServer::start(Mode::Plain, None, USER, "another-password").await;
    let err = mailer(
        &format!("{}?tls=none", url("smtp", server.port)).replace("127.0.0.1", "localhost"),
        None,
    )
    .deliver(&digest(Language::En))
    .await
    .expect_err("wrong password")
    .to_string();
    assert!(err.starts_with("alert channel `email`:"), "{err}");
    assert!(
        err.contains("535") && err.contains("Authentication credentials invalid"),
        "{err}"
    );
    assert!(!err.contains(PASSWORD), "{err}");

    // Plain SMTP to this machine, with the right password: delivered.
    let server = SmtpServer::start(Mode::Plain, None, USER, PASSWORD).await;
    mailer(&format!("{}?tls=none", url("smtp", server.port)), None)
        .deliver(&digest(Language::En))
        .await
        .expect("delivered");
    assert!(!server.mails()[0].tls);
}
