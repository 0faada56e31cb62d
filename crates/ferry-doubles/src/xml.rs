//! Just enough XML for SOAP doubles: escaping text they write, and reading the element tree
//! of a request body (names without namespace prefixes, text, children; attributes,
//! comments and processing instructions are skipped; a DOCTYPE is refused).

/// An XML body that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("XML at byte {offset}: {reason}")]
pub struct XmlError {
    pub offset: usize,
    pub reason: String,
}

/// One element: its local name (prefix dropped), its text (entities decoded, CDATA kept
/// as is) and its child elements.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The trimmed text of the first child named `name`.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }

    /// The first element named `name` below this one, depth first.
    pub fn find(&self, name: &str) -> Option<&Element> {
        self.children.iter().find_map(|c| {
            if c.name == name {
                Some(c)
            } else {
                c.find(name)
            }
        })
    }
}

/// Escapes text for an element's content or an attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

/// Reads a document's root element.
pub fn parse(doc: &str) -> Result<Element, XmlError> {
    let mut reader = Reader { doc, pos: 0 };
    reader.skip_prolog()?;
    let root = reader.element()?;
    reader.skip_prolog()?;
    if reader.pos < doc.len() {
        return Err(reader.error("content after the root element"));
    }
    Ok(root)
}

struct Reader<'a> {
    doc: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a str {
        &self.doc[self.pos..]
    }

    fn error(&self, reason: &str) -> XmlError {
        XmlError {
            offset: self.pos,
            reason: reason.to_owned(),
        }
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// Moves past the next `end`, failing with `what` when there is none.
    fn skip_past(&mut self, end: &str, what: &str) -> Result<&'a str, XmlError> {
        let start = self.pos;
        let at = self.rest().find(end).ok_or_else(|| self.error(what))?;
        self.pos += at + end.len();
        Ok(&self.doc[start..start + at])
    }

    fn skip_prolog(&mut self) -> Result<(), XmlError> {
        loop {
            self.skip_ws();
            if self.rest().starts_with("<?") {
                self.skip_past("?>", "unterminated processing instruction")?;
            } else if self.rest().starts_with("<!--") {
                self.skip_past("-->", "unterminated comment")?;
            } else if self.rest().starts_with("<!") {
                return Err(self.error("DOCTYPE and entity declarations are not read"));
            } else {
                return Ok(());
            }
        }
    }

    fn name(&mut self) -> Result<&'a str, XmlError> {
        let rest = self.rest();
        let len = rest
            .find(|c: char| c.is_whitespace() || c == '/' || c == '>' || c == '=')
            .unwrap_or(rest.len());
        if len == 0 {
            return Err(self.error("expected a name"));
        }
        self.pos += len;
        Ok(&rest[..len])
    }

    fn element(&mut self) -> Result<Element, XmlError> {
        if !self.rest().starts_with('<') {
            return Err(self.error("expected an element"));
        }
        self.pos += 1;
        let qname = self.name()?.to_owned();
        let mut element = Element {
            name: local(&qname).to_owned(),
            ..Element::default()
        };
        if self.attributes()? {
            return Ok(element);
        }
        loop {
            let rest = self.rest();
            if rest.starts_with("</") {
                self.pos += 2;
                if self.name()? != qname {
                    return Err(self.error(&format!("expected </{qname}>")));
                }
                self.skip_ws();
                self.skip_past(">", "unterminated end tag")?;
                return Ok(element);
            } else if rest.starts_with("<!--") {
                self.skip_past("-->", "unterminated comment")?;
            } else if rest.starts_with("<![CDATA[") {
                self.pos += "<![CDATA[".len();
                let text = self.skip_past("]]>", "unterminated CDATA")?.to_owned();
                element.text.push_str(&text);
            } else if rest.starts_with('<') {
                element.children.push(self.element()?);
            } else if rest.is_empty() {
                return Err(self.error(&format!("<{qname}> is not closed")));
            } else {
                let len = rest.find('<').unwrap_or(rest.len());
                let text = unescape(&rest[..len]).map_err(|r| self.error(&r))?;
                element.text.push_str(&text);
                self.pos += len;
            }
        }
    }

    /// Skips the attributes of a start tag; true when the tag closed itself (`/>`).
    fn attributes(&mut self) -> Result<bool, XmlError> {
        loop {
            self.skip_ws();
            let rest = self.rest();
            if rest.starts_with("/>") {
                self.pos += 2;
                return Ok(true);
            }
            if rest.starts_with('>') {
                self.pos += 1;
                return Ok(false);
            }
            self.name()?;
            self.skip_ws();
            if !self.rest().starts_with('=') {
                return Err(self.error("expected `=` after an attribute name"));
            }
            self.pos += 1;
            self.skip_ws();
            let quote = match self.rest().chars().next() {
                Some(q @ ('"' | '\'')) => q,
                _ => return Err(self.error("expected a quoted attribute value")),
            };
            self.pos += 1;
            self.skip_past(&quote.to_string(), "unterminated attribute value")?;
        }
    }
}

fn local(qname: &str) -> &str {
    qname.rsplit_once(':').map_or(qname, |(_, l)| l)
}

fn unescape(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let end = rest[amp..]
            .find(';')
            .ok_or_else(|| format!("unterminated entity in `{text}`"))?;
        let entity = &rest[amp + 1..amp + end];
        out.push(decode_entity(entity).ok_or_else(|| format!("unknown entity `&{entity};`"))?);
        rest = &rest[amp + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn decode_entity(entity: &str) -> Option<char> {
    match entity {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let code = match entity.strip_prefix("#x").or(entity.strip_prefix("#X")) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => entity.strip_prefix('#')?.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_soap_envelope_with_prefixes_entities_and_cdata() {
        let doc = r#"<?xml version="1.0" encoding="utf-8"?>
<!-- a request -->
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:r='urn:ref'>
  <soap:Body>
    <r:UpsertProduct>
      <r:sku>P&amp;1</r:sku><r:name><![CDATA[Bolts <M8>]]></r:name>
      <r:note>&#x4E2D;&#25991;</r:note><r:empty/>
    </r:UpsertProduct>
  </soap:Body>
</soap:Envelope>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "Envelope");
        let op = &root.child("Body").unwrap().children[0];
        assert_eq!(op.name, "UpsertProduct");
        assert_eq!(op.child_text("sku"), Some("P&1"));
        assert_eq!(op.child_text("name"), Some("Bolts <M8>"));
        assert_eq!(op.child_text("note"), Some("中文"));
        assert_eq!(op.child_text("empty"), Some(""));
        assert_eq!(root.find("sku").unwrap().text, "P&1");
    }

    #[test]
    fn broken_documents_say_where() {
        let err = parse("<a><b></a>").unwrap_err();
        assert_eq!(err.reason, "expected </b>");
        assert_eq!(err.offset, 9);
        assert!(parse("<a>&bogus;</a>").is_err());
        assert!(parse("<a></a><b/>").is_err());
        assert!(parse("<!DOCTYPE a><a/>").is_err());
        assert_eq!(escape("<a & 'b'>"), "&lt;a &amp; &apos;b&apos;&gt;");
    }
}
