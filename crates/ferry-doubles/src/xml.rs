//! Just enough XML for SOAP doubles: escaping text they write, and reading the element tree
//! of a request body (names without namespace prefixes, text, children; attributes,
//! comments and processing instructions are skipped; a DOCTYPE is refused). Parsing is
//! roxmltree's.

/// An XML body that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("XML: {reason}")]
pub struct XmlError {
    /// What is wrong and where (`line:column`).
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
    let document = roxmltree::Document::parse(doc).map_err(|e| XmlError {
        reason: e.to_string(),
    })?;
    Ok(element(document.root_element()))
}

fn element(node: roxmltree::Node<'_, '_>) -> Element {
    let mut out = Element {
        name: node.tag_name().name().to_owned(),
        ..Element::default()
    };
    for child in node.children() {
        if child.is_element() {
            out.children.push(element(child));
        } else if child.is_text() {
            out.text.push_str(child.text().unwrap_or_default());
        }
    }
    out
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
        assert!(err.reason.contains("1:"), "{err}");
        assert!(parse("<a>&bogus;</a>").is_err());
        assert!(parse("<a></a><b/>").is_err());
        assert!(parse("<!DOCTYPE a><a/>").is_err());
        assert_eq!(escape("<a & 'b'>"), "&lt;a &amp; &apos;b&apos;&gt;");
    }
}
