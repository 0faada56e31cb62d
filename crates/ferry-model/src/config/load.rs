//! Reading `ferry.yaml`: interpolation, parsing and pointing at the line that is wrong.

use std::fmt;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::Deserialize;

use super::positions::{Position, Positions};
use super::{Config, EntityDecl, entities, read};
use crate::entity::with_declared;

/// The file's `entities:` alone (every other key ignored), read before the rest.
#[derive(Deserialize)]
struct Declarations {
    #[serde(default)]
    entities: IndexMap<String, EntityDecl>,
}

/// A problem found in the configuration, located by its key path (`flows.customers.key`).
/// [`LoadedConfig::render`] turns it into `file:line:column: path: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// The keys from the document root to the offending value.
    pub path: Vec<String>,
    /// What is wrong, in a sentence.
    pub message: String,
}

impl ConfigIssue {
    /// An issue at a path given as string slices.
    pub fn new<const N: usize>(path: [&str; N], message: impl Into<String>) -> Self {
        Self {
            path: path.iter().map(|s| (*s).to_owned()).collect(),
            message: message.into(),
        }
    }
    /// An issue at an owned path.
    pub fn at(path: Vec<String>, message: impl Into<String>) -> Self {
        Self {
            path,
            message: message.into(),
        }
    }
    /// The dotted key path.
    pub fn dotted(&self) -> String {
        self.path.join(".")
    }
}

/// A configuration that could not be used: every problem found, each with file, line and key.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    /// One rendered line per problem.
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.problems.join("\n"))
    }
}

/// A parsed configuration with what is needed to report problems against its text.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The typed configuration.
    pub config: Config,
    /// The file it came from.
    pub path: PathBuf,
    /// The folder relative paths are resolved against.
    pub base_dir: PathBuf,
    positions: Positions,
    secrets: Vec<String>,
}

/// Reads, interpolates and parses a config file; runs the offline checks of [`Config::validate`].
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        problems: vec![format!(
            "{}: cannot read the config file: {e}",
            path.display()
        )],
    })?;
    load_str(path, &text)
}

/// As [`load`], from text already read (`path` is used for messages and relative paths).
pub fn load_str(path: &Path, raw: &str) -> Result<LoadedConfig, ConfigError> {
    let loaded = parse_str(path, raw)?;
    let issues = loaded.config.validate();
    if issues.is_empty() {
        Ok(loaded)
    } else {
        Err(loaded.error(&issues))
    }
}

/// Reads, interpolates and parses a config file without the checks of [`Config::validate`]
/// (for callers such as `ferry check` that run them together with their own).
pub fn parse(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        problems: vec![format!(
            "{}: cannot read the config file: {e}",
            path.display()
        )],
    })?;
    parse_str(path, &text)
}

/// As [`parse`], from text already read.
pub fn parse_str(path: &Path, raw: &str) -> Result<LoadedConfig, ConfigError> {
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let base_dir = if base_dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base_dir
    };
    let (text, secrets) = interpolate(raw, &base_dir).map_err(|(at, message)| ConfigError {
        problems: vec![format!(
            "{}:{}:{}: {message}",
            path.display(),
            at.line,
            at.column
        )],
    })?;
    let positions = Positions::of(&text);
    let misread = |misread: read::Misread| {
        let at = misread.at.unwrap_or(Position { line: 1, column: 1 });
        let message = redact(&misread.message, &secrets);
        let line = if misread.path.is_empty() {
            format!("{}:{}:{}: {message}", path.display(), at.line, at.column)
        } else {
            format!(
                "{}:{}:{}: {}: {message}",
                path.display(),
                at.line,
                at.column,
                misread.path.join(".")
            )
        };
        ConfigError {
            problems: vec![line],
        }
    };
    // A flow may name an entity the file declares (further down, too): read the declarations
    // first, then the whole file with them resolvable.
    // A problem outside `entities:` is left to the full read, which reports it as it always
    // did (it stops at the first problem in file order; this read skips over some).
    let declared = match read::read::<Declarations>(&text, &positions) {
        Ok(declarations) => entities::intern_all(&declarations.entities),
        Err(found) if found.path.first().is_some_and(|key| key == "entities") => {
            return Err(misread(found));
        }
        Err(_) => Vec::new(),
    };
    let config: Config =
        with_declared(declared, || read::read(&text, &positions)).map_err(misread)?;
    Ok(LoadedConfig {
        config,
        path: path.to_path_buf(),
        base_dir,
        positions,
        secrets,
    })
}

impl LoadedConfig {
    /// `file:line:col: key.path: message` for one issue. Interpolated secrets are masked.
    pub fn render(&self, issue: &ConfigIssue) -> String {
        let at = self.position(issue);
        format!(
            "{}:{}:{}: {}: {}",
            self.path.display(),
            at.line,
            at.column,
            issue.dotted(),
            redact(&issue.message, &self.secrets)
        )
    }

    /// Where an issue's key is written, or its nearest written ancestor (a key left to its
    /// default points at the map it would belong to).
    fn position(&self, issue: &ConfigIssue) -> Position {
        self.positions
            .nearest_key(&issue.path)
            .unwrap_or(Position { line: 1, column: 1 })
    }

    /// A [`ConfigError`] holding every issue, rendered: in file order, each problem once
    /// (a check run by both the config and the engine reports it a single time).
    pub fn error(&self, issues: &[ConfigIssue]) -> ConfigError {
        let mut located: Vec<(Position, String)> = issues
            .iter()
            .map(|i| (self.position(i), self.render(i)))
            .collect();
        located.sort_by_key(|(at, _)| (at.line, at.column));
        let mut problems: Vec<String> = Vec::with_capacity(located.len());
        for (_, line) in located {
            if !problems.contains(&line) {
                problems.push(line);
            }
        }
        ConfigError { problems }
    }

    /// Masks every interpolated secret in `text` (for messages built from config values).
    pub fn redact(&self, text: &str) -> String {
        redact(text, &self.secrets)
    }

    /// The data dir, resolved against the config file's folder.
    pub fn data_dir(&self) -> PathBuf {
        let dir = self.config.data_dir.as_deref().unwrap_or(".ferry");
        self.resolve(dir)
    }

    /// A path from the config, resolved against the config file's folder.
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }
}

fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        if !secret.is_empty() {
            out = out.replace(secret.as_str(), "****");
        }
    }
    out
}

/// Replaces `${NAME}` with the environment variable and `${file:path}` with the file's
/// content (trailing newline removed). `$${` writes a literal `${`. Every substituted value is
/// returned so that messages can mask it. Errors carry where the `${` is.
fn interpolate(raw: &str, base_dir: &Path) -> Result<(String, Vec<String>), (Position, String)> {
    let mut out = String::with_capacity(raw.len());
    let mut secrets = Vec::new();
    for (index, line) in raw.split_inclusive('\n').enumerate() {
        let line_no = index + 1;
        // A comment is left as written: `# password: ${OLD_PW}` must not need OLD_PW.
        let (line, comment) = line.split_at(comment_start(line));
        let mut rest = line;
        while let Some(pos) = rest.find("${") {
            if pos > 0 && rest.as_bytes()[pos - 1] == b'$' {
                out.push_str(&rest[..pos - 1]);
                out.push_str("${");
                rest = &rest[pos + 2..];
                continue;
            }
            out.push_str(&rest[..pos]);
            let at = Position {
                line: line_no,
                column: line[..line.len() - rest.len() + pos].chars().count() + 1,
            };
            let after = &rest[pos + 2..];
            let end = after
                .find('}')
                .ok_or((at, "`${` without a closing `}`".to_owned()))?;
            let name = after[..end].trim();
            let value = if let Some(file) = name.strip_prefix("file:") {
                let p = Path::new(file.trim());
                let p = if p.is_absolute() {
                    p.to_path_buf()
                } else {
                    base_dir.join(p)
                };
                std::fs::read_to_string(&p)
                    .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
                    .map_err(|e| (at, format!("cannot read secret file {}: {e}", p.display())))?
            } else {
                let (var, default) = match name.split_once(":-") {
                    Some((v, d)) => (v.trim(), Some(d)),
                    None => (name, None),
                };
                match (std::env::var(var), default) {
                    (Ok(v), _) => v,
                    (Err(_), Some(d)) => d.to_owned(),
                    (Err(_), None) => {
                        return Err((
                            at,
                            format!(
                                "environment variable `{var}` is not set (use `${{{var}:-default}}` for a default)"
                            ),
                        ));
                    }
                }
            };
            if value.len() >= 4 {
                secrets.push(value.clone());
            }
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out.push_str(comment);
    }
    Ok((out, secrets))
}

/// Where a line's YAML comment starts (its length if none): a `#` at the start or after a
/// space or tab, outside quotes.
fn comment_start(line: &str) -> usize {
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        match (quote, c) {
            (None, '#') if previous == ' ' || previous == '\t' => return at,
            (None, '"' | '\'') => quote = Some(c),
            (Some(open), _) if c == open => quote = None,
            _ => {}
        }
        previous = c;
    }
    line.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "systems:\n  crm:\n    kind: sql\n    url: sqlite://crm.db\n  erp:\n    kind: sql\n    url: sqlite://erp.db\nflows:\n  customers:\n    entity: customer\n    source: { system: crm, table: customers }\n    target: { system: erp, table: customers }\n    mapping:\n      code: customer_no\n      name: name\n";

    fn issues(yaml: &str) -> Vec<String> {
        match load_str(Path::new("ferry.yaml"), yaml) {
            Ok(_) => vec![],
            Err(e) => e.problems,
        }
    }

    #[test]
    fn a_valid_file_loads() {
        assert!(issues(BASE).is_empty(), "{:?}", issues(BASE));
        let loaded = load_str(Path::new("x/ferry.yaml"), BASE).unwrap();
        assert_eq!(loaded.config.flows["customers"].key(), "code");
        assert_eq!(loaded.data_dir(), PathBuf::from("x/.ferry"));
    }

    #[test]
    fn unknown_field_points_at_its_line() {
        let yaml = BASE.replace(
            "      name: name\n",
            "      name: name\n      emial: mail\n",
        );
        let problems = issues(&yaml);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with(
                "ferry.yaml:16:7: flows.customers.mapping.emial: unknown field `emial`"
            ),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn missing_business_key_and_unknown_system_are_both_reported() {
        let yaml = BASE
            .replace("      code: customer_no\n", "")
            .replace("system: erp", "system: erpx");
        let problems = issues(&yaml);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.contains(":12:") && p.contains("unknown system `erpx`")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains(":13:5: flows.customers.mapping: missing business key")),
            "{problems:?}"
        );
    }

    #[test]
    fn a_typo_in_a_setting_names_line_and_key() {
        let yaml = BASE.replace(
            "    entity: customer\n",
            "    entity: customer\n    trigerr: manual\n",
        );
        let problems = issues(&yaml);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("ferry.yaml:11:"), "{}", problems[0]);
        assert!(problems[0].contains("trigerr"), "{}", problems[0]);
    }

    #[test]
    fn env_and_file_secrets_are_interpolated_and_masked() {
        let dir = std::env::temp_dir().join(format!("ferry-model-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pw"), "s3cr3t-from-file\n").unwrap();
        let yaml = BASE.replace(
            "url: sqlite://erp.db",
            "url: postgres://u:${file:pw}@h/db\n    bad: ${FERRY_TEST_UNSET_VAR:-fallback}",
        );
        let loaded = load_str(&dir.join("ferry.yaml"), &yaml).unwrap();
        let url = loaded.config.systems["erp"].settings["url"]
            .as_str()
            .unwrap();
        assert_eq!(url, "postgres://u:s3cr3t-from-file@h/db");
        assert_eq!(loaded.config.systems["erp"].settings["bad"], "fallback");
        let rendered = loaded.render(&ConfigIssue::new(
            ["systems", "erp", "url"],
            format!("cannot connect to {url}"),
        ));
        assert!(!rendered.contains("s3cr3t"), "{rendered}");
        assert!(rendered.contains("postgres://u:****@h/db"), "{rendered}");

        let missing = issues(&BASE.replace("sqlite://crm.db", "${FERRY_TEST_UNSET_VAR}"));
        assert!(
            missing[0].starts_with(
                "ferry.yaml:4:10: environment variable `FERRY_TEST_UNSET_VAR` is not set"
            ),
            "{missing:?}"
        );
    }

    /// What outside testing found: the wrong line, parser jargon, no suggestion.
    #[test]
    fn each_mistake_is_reported_at_its_own_key_in_plain_words() {
        let cases = [
            (
                (
                    "    entity: customer\n",
                    "    entity: customer\n    trigger: poll\n",
                ),
                "ferry.yaml:11:14: flows.customers.trigger: `poll` needs a value: write `{ poll: … }`",
            ),
            (
                ("    entity: customer\n", ""),
                "ferry.yaml:9:3: flows.customers: missing `entity:`",
            ),
            (
                (
                    "    entity: customer\n",
                    "    entity: customer\n    batch_size: -5\n",
                ),
                "ferry.yaml:11:17: flows.customers.batch_size: expected a whole number (0 or more), found `-5`",
            ),
            (
                ("    entity: customer\n", "    entity: custmer\n"),
                "ferry.yaml:10:13: flows.customers.entity: `custmer` is not one of customer, contact, supplier, product, price, stock, stock_movement, opportunity, quotation, sales_order, contract, invoice, payment, shipment, purchase_order; did you mean `customer`?",
            ),
            (
                (
                    "    entity: customer\n",
                    "    entity: customer\n    on_delet: ignore\n",
                ),
                "ferry.yaml:11:5: flows.customers.on_delet: unknown key `on_delet`; did you mean `on_delete`?",
            ),
            (
                ("      name: name\n", "     name: name\n"),
                "ferry.yaml:15:6: flows.customers: YAML syntax: this line does not line up with the keys above it (check its indentation)",
            ),
            (
                ("flows:\n", "flows: []\n"),
                "ferry.yaml:8:8: flows: expected a map of `key: value` entries, found a list",
            ),
        ];
        for ((from, to), expected) in cases {
            assert!(BASE.contains(from), "{from}");
            let problems = issues(&BASE.replacen(from, to, 1));
            assert_eq!(problems, [expected]);
        }
    }

    #[test]
    fn problems_come_once_and_in_file_order() {
        let loaded = load_str(Path::new("ferry.yaml"), BASE).unwrap();
        let late = ConfigIssue::new(["flows", "customers", "mapping", "name"], "late");
        let early = ConfigIssue::new(["systems", "crm", "url"], "early");
        let problems = loaded.error(&[late.clone(), early, late]).problems;
        assert_eq!(
            problems,
            [
                "ferry.yaml:4:5: systems.crm.url: early",
                "ferry.yaml:15:7: flows.customers.mapping.name: late"
            ]
        );
    }

    #[test]
    fn comments_are_not_interpolated() {
        let yaml = BASE.replace(
            "    url: sqlite://erp.db\n",
            "    url: sqlite://erp.db   # was ${FERRY_TEST_UNSET_VAR}\n    # url: ${FERRY_TEST_UNSET_VAR}\n    max_connections: 2 # \"${FERRY_TEST_UNSET_VAR}\n",
        );
        assert!(issues(&yaml).is_empty(), "{:?}", issues(&yaml));
        assert_eq!(comment_start("a: \"x # y\" # z"), 11);
        assert_eq!(comment_start("a: x#y"), 6);
    }

    #[test]
    fn mapping_rules_are_checked() {
        let yaml = BASE.replace(
            "      name: name\n",
            "      name: { from: a, expr: '.b' }\n      status: { from: s, code_table: nope }\n      credit_limit: { from: c, currency: { from: USD, to: CNY } }\n",
        );
        let problems = issues(&yaml).join("\n");
        assert!(
            problems.contains("mapping.name: use only one of `from`, `expr` and `value`"),
            "{problems}"
        );
        assert!(
            problems.contains("mapping.status.code_table: unknown code table `nope`"),
            "{problems}"
        );
        assert!(problems.contains("no rate for `USD`"), "{problems}");
    }
}
