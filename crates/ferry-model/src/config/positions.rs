//! Where each key and value of a YAML document is: the index that lets every problem, found
//! by the parser, by serde or by a later check, be reported at its own line and column.
//!
//! Built from the parser's events (the same parser serde-saphyr uses), so block maps, inline
//! `{ flow: maps }`, lists and quoted keys are all located exactly, not guessed from
//! indentation.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser};

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

/// Key paths (`["flows", "customers", "trigger"]`, list items by index) to where their key
/// and their value start.
#[derive(Debug, Default, Clone)]
pub struct Positions {
    keys: HashMap<Vec<String>, Position>,
    values: HashMap<Vec<String>, (Position, Written)>,
}

/// What a value is written as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// A scalar, with its text.
    Scalar(String),
    /// A map.
    Map,
    /// A list.
    List,
    /// An alias (`*name`).
    Alias,
}

impl Positions {
    /// Indexes `text`. A syntax error ends the walk: what came before it stays indexed.
    pub fn of(text: &str) -> Self {
        let mut walk = Walk::default();
        for event in Parser::new_from_str(text) {
            let Ok((event, span)) = event else { break };
            let at = Position {
                line: span.start.line(),
                column: span.start.col() + 1,
            };
            walk.event(event, at);
        }
        walk.positions
    }

    /// Where the key of `path` is written, or, for a list item, where the item starts.
    pub fn key(&self, path: &[String]) -> Option<Position> {
        self.keys
            .get(path)
            .copied()
            .or_else(|| self.values.get(path).map(|(p, _)| *p))
    }

    /// Where the value of `path` starts.
    pub fn value(&self, path: &[String]) -> Option<Position> {
        self.values.get(path).map(|(p, _)| *p)
    }

    /// The text of the value at `path` when it is a plain scalar (`abc` in `batch_size: abc`).
    pub fn scalar(&self, path: &[String]) -> Option<&str> {
        match self.written(path)? {
            Written::Scalar(text) => Some(text),
            _ => None,
        }
    }

    /// What the value at `path` is written as.
    pub fn written(&self, path: &[String]) -> Option<&Written> {
        self.values.get(path).map(|(_, w)| w)
    }

    /// The key of `path` or of its nearest ancestor that is written in the file (a default
    /// that is missing points at the map it belongs to).
    pub fn nearest_key(&self, path: &[String]) -> Option<Position> {
        (0..=path.len())
            .rev()
            .find_map(|len| self.key(&path[..len]))
    }
}

/// One open map or list while walking the events.
#[derive(Debug)]
enum Frame {
    Map {
        path: Vec<String>,
        /// The key whose value comes next; `None` while a key is expected.
        key: Option<String>,
    },
    List {
        path: Vec<String>,
        index: usize,
    },
    /// A map or list used as a map key (rare YAML): skipped.
    Skipped,
}

#[derive(Debug, Default)]
struct Walk {
    stack: Vec<Frame>,
    positions: Positions,
}

/// Where the next node of the open frame goes.
enum Slot {
    Key,
    Value(Vec<String>),
    Skip,
}

impl Walk {
    fn event(&mut self, event: Event<'_>, at: Position) {
        match event {
            Event::Scalar(text, ..) => match self.slot() {
                Slot::Key => {
                    if let Some(Frame::Map { path, key }) = self.stack.last_mut() {
                        let mut full = path.clone();
                        full.push(text.to_string());
                        self.positions.keys.insert(full, at);
                        *key = Some(text.into_owned());
                    }
                }
                Slot::Value(path) => {
                    self.positions
                        .values
                        .insert(path, (at, Written::Scalar(text.into_owned())));
                    self.value_done();
                }
                Slot::Skip => {}
            },
            Event::Alias(_) => {
                if let Slot::Value(path) = self.slot() {
                    self.positions.values.insert(path, (at, Written::Alias));
                }
                self.value_done();
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let map = matches!(event, Event::MappingStart(..));
                let frame = match self.slot() {
                    Slot::Key | Slot::Skip => Frame::Skipped,
                    Slot::Value(path) => {
                        let written = if map { Written::Map } else { Written::List };
                        self.positions.values.insert(path.clone(), (at, written));
                        if map {
                            Frame::Map { path, key: None }
                        } else {
                            Frame::List { path, index: 0 }
                        }
                    }
                };
                self.stack.push(frame);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.value_done();
            }
            _ => {}
        }
    }

    fn slot(&self) -> Slot {
        match self.stack.last() {
            None => Slot::Value(Vec::new()),
            Some(Frame::Map { key: None, .. }) => Slot::Key,
            Some(Frame::Map {
                path,
                key: Some(key),
            }) => {
                let mut full = path.clone();
                full.push(key.clone());
                Slot::Value(full)
            }
            Some(Frame::List { path, index }) => {
                let mut full = path.clone();
                full.push(index.to_string());
                Slot::Value(full)
            }
            Some(Frame::Skipped) => Slot::Skip,
        }
    }

    /// A value (scalar or whole collection) ended: the open map expects a key again, the open
    /// list its next item.
    fn value_done(&mut self) {
        match self.stack.last_mut() {
            // (After a collection used as a key, its value is then taken for a key: such
            // documents are located approximately, which is all a message needs.)
            Some(Frame::Map { key, .. }) => *key = None,
            Some(Frame::List { index, .. }) => *index += 1,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<String> {
        p.split('.').map(str::to_owned).collect()
    }

    const TEXT: &str = "\
systems:
  crm: { kind: sql, url: \"sqlite://crm.db\" }
flows:
  customers:
    entity: customer
    trigger: { poll: 30s }
    validate:
      email: [required, email]
    'quoted key': 1
";

    #[test]
    fn block_and_inline_keys_are_located() {
        let p = Positions::of(TEXT);
        let at = |line, column| Some(Position { line, column });
        assert_eq!(p.key(&path("flows.customers")), at(4, 3));
        assert_eq!(p.key(&path("flows.customers.entity")), at(5, 5));
        assert_eq!(p.value(&path("flows.customers.entity")), at(5, 13));
        assert_eq!(p.key(&path("flows.customers.trigger.poll")), at(6, 16));
        assert_eq!(p.key(&path("systems.crm.url")), at(2, 21));
        assert_eq!(p.key(&path("flows.customers.validate.email.1")), at(8, 25));
        assert_eq!(p.key(&path("flows.customers.quoted key")), at(9, 5));
        assert_eq!(p.scalar(&path("flows.customers.entity")), Some("customer"));
    }

    #[test]
    fn a_missing_key_falls_back_to_its_parent() {
        let p = Positions::of(TEXT);
        assert_eq!(
            p.nearest_key(&path("flows.customers.key")),
            Some(Position { line: 4, column: 3 })
        );
    }
}
