//! The server side of OData `$batch` (`multipart/mixed`), shared by the doubles that serve
//! it (SAP's OData v2, Dataverse's OData v4): splitting a body into parts at its boundary,
//! reading an `application/http` part as a request, and writing one answer as a part.
//!
//! The format is plain text (boundaries, header lines, blank lines), so it is parsed by hand
//! and no multipart crate is needed. Line ends are taken as `\r\n` or `\n`.

/// One part of a multipart body: its header lines and content.
#[derive(Debug, Clone)]
pub struct Part {
    pub headers: Vec<(String, String)>,
    pub content: String,
}

impl Part {
    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }
}

fn find<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The `boundary` parameter of a `multipart/mixed; boundary=…` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// `Name: value` lines, names as written.
pub fn header_lines(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// The parts between `--boundary` lines, up to `--boundary--`; `None` when the body is
/// not closed by `--boundary--` (a malformed request). `text` has `\n` line ends.
pub fn parts(text: &str, boundary: &str) -> Option<Vec<Part>> {
    let delimiter = format!("--{boundary}");
    let mut out = Vec::new();
    for chunk in text.split(delimiter.as_str()).skip(1) {
        if chunk.starts_with("--") {
            return Some(out);
        }
        let chunk = chunk.strip_prefix('\n').unwrap_or(chunk);
        let (head, content) = chunk.split_once("\n\n").unwrap_or((chunk, ""));
        out.push(Part {
            headers: header_lines(head),
            content: content.strip_suffix('\n').unwrap_or(content).to_owned(),
        });
    }
    None
}

/// A whole body with `\r\n` line ends made `\n`, for [`parts`].
pub fn normalize(body: &[u8]) -> String {
    String::from_utf8_lossy(body).replace("\r\n", "\n")
}

/// One request inside an `application/http` part.
#[derive(Debug, Clone)]
pub struct PartRequest {
    /// Upper case.
    pub method: String,
    /// As written: a path relative to the service root, an absolute path or URL, or
    /// `$<content-id>` followed by more path.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The part's `Content-ID`, if it has one.
    pub content_id: Option<String>,
}

impl PartRequest {
    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }
}

/// The request an `application/http` part holds: request line, headers, blank line, body.
/// `None` when there is no request line.
pub fn request(part: &Part) -> Option<PartRequest> {
    let content = part.content.trim_start_matches('\n');
    let (head, body) = content.split_once("\n\n").unwrap_or((content, ""));
    let mut lines = head.lines();
    let mut words = lines.next()?.split_whitespace();
    let method = words.next()?.to_ascii_uppercase();
    let target = words.next()?.to_owned();
    Some(PartRequest {
        method,
        target,
        headers: header_lines(&lines.collect::<Vec<_>>().join("\n")),
        body: body.trim_end_matches('\n').to_owned(),
        content_id: part.header("content-id").map(str::to_owned),
    })
}

/// An `application/http` part holding one answer (without the leading `--boundary` line).
pub fn http_part(
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
    content_id: Option<&str>,
) -> String {
    let mut out =
        String::from("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n");
    if let Some(id) = content_id {
        out.push_str(&format!("Content-ID: {id}\r\n"));
    }
    let reason = axum::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    out.push_str(&format!("\r\nHTTP/1.1 {status} {reason}\r\n"));
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    out.push_str(&String::from_utf8_lossy(body));
    out.push_str("\r\n");
    out
}

/// A random upper-case hex id for answer boundaries.
pub fn hex_id() -> String {
    (0..8)
        .map(|_| format!("{:02X}", rand::random::<u8>()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_set_inside_a_batch_reads_as_requests() {
        let body = "--b1\r\nContent-Type: multipart/mixed; boundary=cs1\r\n\r\n--cs1\r\nContent-Type: application/http\r\nContent-ID: 7\r\n\r\nPATCH accounts(accountnumber='A1') HTTP/1.1\r\nIf-Match: *\r\n\r\n{\"name\":\"x\"}\r\n--cs1--\r\n--b1--\r\n";
        let outer = parts(&normalize(body.as_bytes()), "b1").unwrap();
        assert_eq!(outer.len(), 1);
        let inner_boundary = boundary(outer[0].header("content-type").unwrap()).unwrap();
        let inner = parts(&outer[0].content, &inner_boundary).unwrap();
        let req = request(&inner[0]).unwrap();
        assert_eq!(req.method, "PATCH");
        assert_eq!(req.target, "accounts(accountnumber='A1')");
        assert_eq!(req.header("if-match"), Some("*"));
        assert_eq!(req.body, "{\"name\":\"x\"}");
        assert_eq!(req.content_id.as_deref(), Some("7"));
        assert!(parts("--b1\nx", "b1").is_none(), "an unclosed body");
    }
}
