//! Resource paths below a service root (`A_SalesOrder('4000043')/to_Item/$count`) and the
//! query string.

use super::answer::SapError;
use super::catalog::{self, EntitySet, Nav};

/// What a path below the service root names.
#[derive(Debug)]
pub enum Target {
    /// The service document (`/`).
    Root,
    Metadata,
    Batch,
    Resource(Resource),
}

#[derive(Debug)]
pub struct Resource {
    pub set: &'static EntitySet,
    /// The key values in the set's key order, when one entity is addressed.
    pub key: Option<Vec<String>>,
    /// A navigation from that entity.
    pub nav: Option<&'static Nav>,
    /// `/$count`.
    pub count: bool,
}

impl Resource {
    /// The set the answer's entries belong to (the navigation's target, if any).
    pub fn answer_set(&self) -> &'static EntitySet {
        self.nav.map_or(self.set, |n| catalog::named(n.set))
    }
}

/// Parses `path` (below the service root, without a leading `/`) of `service`.
pub fn parse(service: &str, path: &str) -> Result<Target, SapError> {
    let path = path.trim_matches('/');
    match path {
        "" => return Ok(Target::Root),
        "$metadata" => return Ok(Target::Metadata),
        "$batch" => return Ok(Target::Batch),
        _ => {}
    }
    let mut segments = path.split('/');
    let first = segments.next().unwrap_or_default();
    let (name, key) = match first.split_once('(') {
        Some((name, rest)) => {
            let inner = rest
                .strip_suffix(')')
                .ok_or_else(|| SapError::syntax(format!("Invalid key predicate in '{first}'")))?;
            (name, Some(inner))
        }
        None => (first, None),
    };
    let set = catalog::set(service, name).ok_or_else(|| SapError::not_found(name))?;
    let key = key.map(|k| key_values(set, k)).transpose()?;
    let mut resource = Resource {
        set,
        key,
        nav: None,
        count: false,
    };
    for segment in segments {
        match segment {
            "$count" if !resource.count => resource.count = true,
            _ if resource.key.is_some() && resource.nav.is_none() && !resource.count => {
                resource.nav = Some(
                    set.nav(segment)
                        .ok_or_else(|| SapError::not_found(segment))?,
                );
            }
            _ => return Err(SapError::not_found(segment)),
        }
    }
    Ok(Target::Resource(resource))
}

/// `'4000043'` or `SalesOrder='4000043',SalesOrderItem='10'`, in the set's key order.
fn key_values(set: &EntitySet, text: &str) -> Result<Vec<String>, SapError> {
    let bad = || {
        SapError::syntax(format!(
            "Invalid key predicate '({text})' for '{}'",
            set.name
        ))
    };
    let parts = split_outside_quotes(text, ',');
    if parts.len() != set.key.len() {
        return Err(bad());
    }
    if parts.len() == 1 && !parts[0].contains('=') {
        return Ok(vec![quoted(&parts[0]).ok_or_else(bad)?]);
    }
    let mut values = vec![String::new(); set.key.len()];
    for part in parts {
        let (name, value) = part.split_once('=').ok_or_else(bad)?;
        let i = set
            .key
            .iter()
            .position(|k| *k == name.trim())
            .ok_or_else(bad)?;
        values[i] = quoted(value.trim()).ok_or_else(bad)?;
    }
    Ok(values)
}

/// The text of an OData string literal `'…'` (`''` is a quote).
fn quoted(text: &str) -> Option<String> {
    let inner = text.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("''", "'"))
}

fn split_outside_quotes(text: &str, at: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    for c in text.chars() {
        if c == '\'' {
            quoted = !quoted;
        }
        if c == at && !quoted {
            parts.push(String::new());
        } else if let Some(last) = parts.last_mut() {
            last.push(c);
        }
    }
    parts
}

/// The key predicate of a URI: `('4000043')` or `(SalesOrder='4000043',SalesOrderItem='10')`.
pub fn predicate(set: &EntitySet, values: &[String]) -> String {
    let quote = |v: &str| format!("'{}'", v.replace('\'', "''"));
    if let [one] = values {
        return format!("({})", quote(one));
    }
    let pairs: Vec<String> = set
        .key
        .iter()
        .zip(values)
        .map(|(k, v)| format!("{k}={}", quote(v)))
        .collect();
    format!("({})", pairs.join(","))
}

/// The store's `_key` of key values.
pub fn key_text(values: &[String]) -> String {
    values.join("|")
}

/// The query string as decoded `(name, value)` pairs (`+` is a space, as in forms).
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_single_and_composite() {
        let Target::Resource(r) = parse(catalog::SALES, "A_SalesOrder('4000043')/to_Item").unwrap()
        else {
            panic!("a resource")
        };
        assert_eq!(r.key.as_deref(), Some(&["4000043".to_owned()][..]));
        assert_eq!(r.nav.map(|n| n.name), Some("to_Item"));
        let Target::Resource(r) = parse(
            catalog::SALES,
            "A_SalesOrderItem(SalesOrderItem='10',SalesOrder='4000043')",
        )
        .unwrap() else {
            panic!("a resource")
        };
        assert_eq!(r.key.unwrap(), ["4000043", "10"]);
        assert!(parse(catalog::SALES, "A_Nope").is_err());
    }
}
