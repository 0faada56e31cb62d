//! A small SMTP server on 127.0.0.1 for one test: plain, STARTTLS or implicit TLS with a
//! certificate signed by a test CA (made with the `openssl` command), `AUTH PLAIN` checked
//! against one user, every mail kept as received.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio_rustls::TlsAcceptor;

/// How the server speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No TLS.
    Plain,
    /// Plain, offering `STARTTLS`.
    StartTls,
    /// TLS from the first byte.
    Implicit,
}

/// One mail as received.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    /// `MAIL FROM:<…>`.
    pub from: String,
    /// Each `RCPT TO:<…>`.
    pub to: Vec<String>,
    /// The message (headers and body), dot-unstuffed.
    pub data: String,
    /// Whether it came over TLS.
    pub tls: bool,
}

/// A test CA and a certificate it signed for `localhost` and `127.0.0.1`.
pub struct Certs {
    _dir: tempfile::TempDir,
    /// The CA's certificate (what the channel's `ca` names).
    pub ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Certs {
    /// Made with `openssl`; `None` when the command is missing (the caller skips, or fails
    /// under `CI=true`).
    pub fn make() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name);
        std::fs::write(
            at("leaf.ext"),
            "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n\
             extendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let ok = |command: &mut Command| command.output().is_ok_and(|o| o.status.success());
        let ok = ok(Command::new("openssl")
            .args(["req", "-x509"])
            .args(ec)
            .args(["-days", "1", "-subj", "/CN=Ferry test CA", "-keyout"])
            .arg(at("ca.key"))
            .arg("-out")
            .arg(at("ca.pem")))
            && ok(Command::new("openssl")
                .arg("req")
                .args(ec)
                .args(["-subj", "/CN=localhost", "-keyout"])
                .arg(at("leaf.key"))
                .arg("-out")
                .arg(at("leaf.csr")))
            && ok(Command::new("openssl")
                .args(["x509", "-req", "-days", "1", "-CAcreateserial", "-in"])
                .arg(at("leaf.csr"))
                .arg("-CA")
                .arg(at("ca.pem"))
                .arg("-CAkey")
                .arg(at("ca.key"))
                .arg("-extfile")
                .arg(at("leaf.ext"))
                .arg("-out")
                .arg(at("leaf.pem")));
        let (ca, cert, key) = (at("ca.pem"), at("leaf.pem"), at("leaf.key"));
        ok.then_some(Certs {
            ca,
            cert,
            key,
            _dir: dir,
        })
    }

    fn acceptor(&self) -> TlsAcceptor {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(&self.key).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        TlsAcceptor::from(Arc::new(config))
    }
}

/// A running server; it stops with the test's runtime.
pub struct SmtpServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
}

/// Who may log in.
#[derive(Clone)]
struct Login {
    user: String,
    password: String,
}

impl SmtpServer {
    /// Starts a server speaking `mode` (TLS with `certs`) that accepts `user`/`password`.
    pub async fn start(mode: Mode, certs: Option<&Certs>, user: &str, password: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails: Arc<Mutex<Vec<Mail>>> = Arc::default();
        let acceptor = certs.map(Certs::acceptor);
        let login = Login {
            user: user.to_owned(),
            password: password.to_owned(),
        };
        let kept = mails.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, login, kept) = (acceptor.clone(), login.clone(), kept.clone());
                tokio::spawn(async move {
                    let stream: Box<dyn Stream> = match mode {
                        Mode::Implicit => {
                            let tls = acceptor.clone().unwrap().accept(tcp).await;
                            let Ok(tls) = tls else { return };
                            Box::new(tls)
                        }
                        _ => Box::new(tcp),
                    };
                    let _ = session(stream, mode, acceptor, login, kept).await;
                });
            }
        });
        Self { port, mails }
    }

    /// The mails received so far.
    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

async fn session(
    stream: Box<dyn Stream>,
    mode: Mode,
    acceptor: Option<TlsAcceptor>,
    login: Login,
    kept: Arc<Mutex<Vec<Mail>>>,
) -> std::io::Result<()> {
    let mut tls = mode == Mode::Implicit;
    let mut conn = BufReader::new(stream);
    let mut mail = Mail::default();
    let mut authenticated = false;
    conn.get_mut()
        .write_all(b"220 test.local ESMTP ready\r\n")
        .await?;
    loop {
        let mut line = String::new();
        if conn.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let line = line.trim_end();
        let verb = line
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "EHLO" | "HELO" => {
                let starttls = if mode == Mode::StartTls && !tls {
                    "250-STARTTLS\r\n"
                } else {
                    ""
                };
                format!("250-test.local\r\n{starttls}250-AUTH PLAIN\r\n250 8BITMIME\r\n")
            }
            "STARTTLS" => {
                conn.get_mut().write_all(b"220 2.0.0 go ahead\r\n").await?;
                let plain = conn.into_inner();
                let secured = acceptor.clone().unwrap().accept(plain).await?;
                conn = BufReader::new(Box::new(secured));
                tls = true;
                continue;
            }
            "AUTH" => {
                let given = line.split(' ').nth(2).unwrap_or_default();
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(given)
                    .unwrap_or_default();
                let expected = format!("\0{}\0{}", login.user, login.password);
                if decoded == expected.as_bytes() {
                    authenticated = true;
                    "235 2.7.0 Authentication successful\r\n".to_owned()
                } else {
                    "535 5.7.8 Authentication credentials invalid\r\n".to_owned()
                }
            }
            "MAIL" if !authenticated => "530 5.7.0 Authentication required\r\n".to_owned(),
            "MAIL" => {
                mail.from = address(line);
                "250 2.1.0 ok\r\n".to_owned()
            }
            "RCPT" => {
                mail.to.push(address(line));
                "250 2.1.5 ok\r\n".to_owned()
            }
            "DATA" => {
                conn.get_mut()
                    .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                    .await?;
                mail.data = data(&mut conn).await?;
                mail.tls = tls;
                kept.lock().unwrap().push(std::mem::take(&mut mail));
                "250 2.0.0 queued\r\n".to_owned()
            }
            "RSET" | "NOOP" => "250 2.0.0 ok\r\n".to_owned(),
            "QUIT" => {
                conn.get_mut().write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 not implemented\r\n".to_owned(),
        };
        conn.get_mut().write_all(reply.as_bytes()).await?;
    }
}

/// The address in `MAIL FROM:<a@b> …` or `RCPT TO:<a@b>`.
fn address(line: &str) -> String {
    line.split('<')
        .nth(1)
        .and_then(|rest| rest.split('>').next())
        .unwrap_or_default()
        .to_owned()
}

/// The message up to the line with a single dot, dot-unstuffed.
async fn data<R: AsyncRead + Unpin>(conn: &mut BufReader<R>) -> std::io::Result<String> {
    let mut data = String::new();
    loop {
        let mut raw = Vec::new();
        conn.read_until(b'\n', &mut raw).await?;
        if raw.is_empty() || raw == b".\r\n" {
            return Ok(data);
        }
        let line = String::from_utf8_lossy(&raw);
        data.push_str(line.strip_prefix('.').unwrap_or(&line));
    }
}
