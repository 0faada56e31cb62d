//! The client side of OData `$batch` (`multipart/mixed`, OData v2 and v4 alike): writing a
//! batch of change sets, one request each, and reading the answer back per change set.
//! Plain text (boundaries, header lines, blank lines), so no multipart crate is needed.

/// One request to put in a change set: a path relative to the service root, its headers
/// and its body (JSON text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// The answer to one request inside a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartAnswer {
    pub status: u16,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The `Content-ID` of the part, when the server gave one.
    pub content_id: Option<String>,
}

impl PartAnswer {
    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A 2xx status.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A boundary no other batch of this process uses: `<prefix>_<hex>`.
pub fn unique_boundary(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}_{nanos:x}{:x}", N.fetch_add(1, Ordering::Relaxed))
}

/// The body of a `$batch` with one change set per request (so a refusal rolls back only
/// its own request), the n-th request with `Content-ID: n` (from 1). Send it with
/// `Content-Type: multipart/mixed; boundary=<boundary>`.
pub fn change_sets(boundary: &str, requests: &[PartRequest]) -> String {
    let mut out = String::new();
    for (i, request) in requests.iter().enumerate() {
        let set = unique_boundary("changeset");
        out.push_str(&format!(
            "--{boundary}\r\nContent-Type: multipart/mixed; boundary={set}\r\n\r\n"
        ));
        out.push_str(&format!(
            "--{set}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {}\r\n\r\n",
            i + 1
        ));
        out.push_str(&format!("{} {} HTTP/1.1\r\n", request.method, request.path));
        for (name, value) in &request.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        match &request.body {
            Some(text) => out.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}\r\n",
                text.len()
            )),
            None => out.push_str("\r\n"),
        }
        out.push_str(&format!("--{set}--\r\n\r\n"));
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    out
}

/// The `boundary` parameter of a `multipart/mixed; boundary=…` content type.
pub fn boundary_of(content_type: &str) -> Option<String> {
    content_type.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// The parts of a multipart text between `--boundary` lines: each its headers and content.
fn parts(text: &str, boundary: &str) -> Vec<(Vec<(String, String)>, String)> {
    let delimiter = format!("--{boundary}");
    let mut out = Vec::new();
    for chunk in text.split(delimiter.as_str()).skip(1) {
        if chunk.starts_with("--") {
            break;
        }
        let chunk = chunk.strip_prefix('\n').unwrap_or(chunk);
        let (head, content) = chunk.split_once("\n\n").unwrap_or((chunk, ""));
        out.push((header_lines(head), content.to_owned()));
    }
    out
}

fn header_lines(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect()
}

/// An `application/http` part: `HTTP/1.1 201 Created`, headers, body.
fn http_answer(part_headers: &[(String, String)], content: &str) -> Option<PartAnswer> {
    let content = content.trim_start_matches('\n');
    let (head, body) = content.split_once("\n\n").unwrap_or((content, ""));
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = header_lines(&lines.collect::<Vec<_>>().join("\n"));
    let content_id = part_headers
        .iter()
        .find(|(k, _)| k == "content-id")
        .map(|(_, v)| v.clone());
    Some(PartAnswer {
        status,
        headers,
        body: body.trim_end().to_owned(),
        content_id,
    })
}

/// The answers of a `$batch` reply (its `Content-Type` and body), one list per top-level
/// part in order: a change set's answers, or the one answer of a request outside change
/// sets (also how a failed change set is answered: its failure alone). The error says why
/// the reply is not readable.
pub fn answers(content_type: &str, body: &str) -> Result<Vec<Vec<PartAnswer>>, String> {
    let outer = boundary_of(content_type).ok_or("no multipart boundary")?;
    let text = body.replace("\r\n", "\n");
    let mut out = Vec::new();
    for (headers, content) in parts(&text, &outer) {
        let kind = headers
            .iter()
            .find(|(k, _)| k == "content-type")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        if kind.starts_with("multipart/mixed") {
            let inner = boundary_of(kind).ok_or("a change set without a boundary")?;
            let answers: Vec<PartAnswer> = parts(&content, &inner)
                .into_iter()
                .filter_map(|(h, c)| http_answer(&h, &c))
                .collect();
            if answers.is_empty() {
                return Err("an empty change set".into());
            }
            out.push(answers);
        } else {
            out.push(vec![
                http_answer(&headers, &content).ok_or("a part without a status line")?,
            ]);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_sets_are_written_one_per_request_and_answers_read_back_with_content_ids() {
        let body = change_sets(
            "batch_x",
            &[PartRequest {
                method: "PATCH".into(),
                path: "accounts(accountnumber='A1')".into(),
                headers: vec![("If-Match".into(), "*".into())],
                body: Some("{\"name\":\"n\"}".into()),
            }],
        );
        assert!(body.contains("Content-ID: 1\r\n"));
        assert!(body.contains("PATCH accounts(accountnumber='A1') HTTP/1.1\r\nIf-Match: *\r\n"));
        assert!(body.ends_with("--batch_x--\r\n"));
        let reply = "--r\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n--cs\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\nHTTP/1.1 204 No Content\r\nOData-EntityId: http://h/accounts(1)\r\n\r\n\r\n--cs--\r\n--r\r\nContent-Type: application/http\r\nContent-ID: 2\r\n\r\nHTTP/1.1 400 Bad Request\r\n\r\n{\"error\":{\"code\":\"0x1\",\"message\":\"no\"}}\r\n--r--\r\n";
        let got = answers("multipart/mixed; boundary=r", reply).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0][0].status, 204);
        assert_eq!(
            got[0][0].header("OData-EntityId"),
            Some("http://h/accounts(1)")
        );
        assert_eq!(got[1][0].content_id.as_deref(), Some("2"));
        assert!(!got[1][0].ok());
        assert!(answers("multipart/mixed", reply).is_err());
    }
}
