//! XML replies (SOAP services): records found by XPath 1.0 (sxd-xpath) and turned into JSON
//! objects, so that the rest of the connector handles one shape.
//!
//! An element becomes an object of its child elements by local name (namespace prefixes
//! dropped; a name repeated becomes an array; attributes become `@name`), an element with
//! only text becomes that text, and an empty one `null`. XML has no types: values are text,
//! which the flow's mapping converts like any text input.

use indexmap::IndexMap;
use serde_json::{Map, Value};
use sxd_document::dom::{ChildOfElement, Element};
use sxd_document::parser;
use sxd_xpath::nodeset::Node;
use sxd_xpath::{Context, Factory, Value as XValue};

/// XML namespace prefixes for XPath expressions.
pub type Namespaces = IndexMap<String, String>;

/// Checks an XPath expression's syntax.
pub fn check(xpath: &str) -> Result<(), String> {
    compile(xpath).map(|_| ())
}

/// The nodes `xpath` selects in `text`, each as JSON (see the module docs).
pub fn records(text: &str, xpath: &str, namespaces: &Namespaces) -> Result<Vec<Value>, String> {
    evaluate(text, xpath, namespaces, |value| match value {
        XValue::Nodeset(nodes) => Ok(nodes
            .document_order()
            .into_iter()
            .filter_map(|node| match node {
                Node::Element(e) => Some(element(e)),
                _ => None,
            })
            .collect()),
        other => Err(format!(
            "`{xpath}` selects a {}, not elements",
            kind(&other)
        )),
    })
}

/// The text value of `xpath` in `text` (`string(…)` of what it selects), `None` if it selects
/// nothing.
pub fn text(text: &str, xpath: &str, namespaces: &Namespaces) -> Result<Option<String>, String> {
    evaluate(text, xpath, namespaces, |value| {
        Ok(match value {
            XValue::Nodeset(nodes) if nodes.size() == 0 => None,
            other => Some(other.string()).filter(|s| !s.trim().is_empty()),
        })
    })
}

/// Whether `xpath` is true in `text` (XPath's `boolean(…)`; the text `false` or `0` of a
/// selected element is false too, as SOAP services write flags).
pub fn truth(text: &str, xpath: &str, namespaces: &Namespaces) -> Result<bool, String> {
    evaluate(text, xpath, namespaces, |value| {
        Ok(match value {
            XValue::Nodeset(nodes) if nodes.size() > 0 => {
                let s = XValue::Nodeset(nodes).string();
                !matches!(s.trim(), "" | "false" | "0")
            }
            other => other.boolean(),
        })
    })
}

fn compile(xpath: &str) -> Result<sxd_xpath::XPath, String> {
    Factory::new()
        .build(xpath)
        .map_err(|e| format!("`{xpath}` is not an XPath: {e}"))?
        .ok_or_else(|| "an empty XPath".to_owned())
}

fn evaluate<T>(
    text: &str,
    xpath: &str,
    namespaces: &Namespaces,
    then: impl FnOnce(XValue<'_>) -> Result<T, String>,
) -> Result<T, String> {
    let package = parser::parse(text).map_err(|e| format!("the reply is not XML ({e:?})"))?;
    let document = package.as_document();
    let mut context = Context::new();
    for (prefix, uri) in namespaces {
        context.set_namespace(prefix, uri);
    }
    let value = compile(xpath)?
        .evaluate(&context, document.root())
        .map_err(|e| format!("`{xpath}`: {e}"))?;
    then(value)
}

fn kind(value: &XValue<'_>) -> &'static str {
    match value {
        XValue::Boolean(_) => "boolean",
        XValue::Number(_) => "number",
        XValue::String(_) => "string",
        XValue::Nodeset(_) => "node set",
    }
}

/// One element as JSON.
fn element(e: Element<'_>) -> Value {
    let mut fields = Map::new();
    for attribute in e.attributes() {
        fields.insert(
            format!("@{}", attribute.name().local_part()),
            Value::String(attribute.value().to_owned()),
        );
    }
    let mut text = String::new();
    for child in e.children() {
        match child {
            ChildOfElement::Element(c) => {
                let name = c.name().local_part().to_owned();
                let value = element(c);
                match fields.get_mut(&name) {
                    Some(Value::Array(items)) => items.push(value),
                    Some(first) => *first = Value::Array(vec![first.take(), value]),
                    None => {
                        fields.insert(name, value);
                    }
                }
            }
            ChildOfElement::Text(t) => text.push_str(t.text()),
            _ => {}
        }
    }
    if !fields.is_empty() {
        Value::Object(fields)
    } else if text.trim().is_empty() {
        Value::Null
    } else {
        Value::String(text.trim().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const REPLY: &str = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
      <soap:Body><r:ListProductsResponse xmlns:r="urn:ferry:reference">
        <r:has_more>false</r:has_more>
        <r:products>
          <r:product><r:id>1</r:id><r:sku>P&amp;1</r:sku><r:unit/></r:product>
          <r:product><r:id>2</r:id><r:sku>P2</r:sku><r:tag>a</r:tag><r:tag>b</r:tag></r:product>
        </r:products></r:ListProductsResponse></soap:Body></soap:Envelope>"#;

    #[test]
    fn records_flags_and_texts_come_out_of_a_soap_reply() {
        let ns: Namespaces = [("r".to_owned(), "urn:ferry:reference".to_owned())].into();
        let found = records(REPLY, "//r:product", &ns).unwrap();
        assert_eq!(found[0], json!({"id": "1", "sku": "P&1", "unit": null}));
        assert_eq!(found[1]["tag"], json!(["a", "b"]));
        assert_eq!(
            records(REPLY, "//*[local-name()='product']", &Namespaces::new())
                .unwrap()
                .len(),
            2
        );
        assert!(!truth(REPLY, "//r:has_more", &ns).unwrap());
        assert_eq!(
            text(REPLY, "//r:product[2]/r:sku", &ns).unwrap().as_deref(),
            Some("P2")
        );
        assert_eq!(text(REPLY, "//r:missing", &ns).unwrap(), None);
        assert!(
            records(REPLY, "count(//r:product)", &ns)
                .unwrap_err()
                .contains("number")
        );
        assert!(check("//[").is_err());
        assert!(
            records("not xml", "//x", &ns)
                .unwrap_err()
                .contains("not XML")
        );
    }
}
