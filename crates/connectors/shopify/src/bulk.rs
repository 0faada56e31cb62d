//! Bulk operations, for first loads and large catch-ups (dossier §2): one
//! `bulkOperationRunQuery` over the whole object instead of thousands of throttled pages.
//!
//! 1. Run the source's query as a bulk query (the same node fields; the top-level
//!    connection unpaged, sorted by `UPDATED_AT`, with the scan's `updated_at` search).
//! 2. Poll `currentBulkOperation` every `bulk_poll` until it is `COMPLETED` (`FAILED`,
//!    `CANCELED`, `EXPIRED`: an error; past `bulk_timeout`: retryable).
//! 3. Download the JSONL at its `url` (a signed URL on another host: fetched without the
//!    shop's token); no `url` means no records.
//! 4. Reassemble: each line is a node; a node of a nested connection is a line of its own
//!    with `__parentId`, put back under its parent by the GID type of its id (`LineItem` →
//!    the order's `lineItems`, `InventoryLevel` → the variant's
//!    `inventoryItem.inventoryLevels`). The records are then shaped exactly as a page's
//!    and sorted by `(updatedAt, id)`.
//!
//! Shopify runs one bulk query per app and shop at a time. A run refused because one is
//! in progress adopts it when it is this same query (a retried request whose first attempt
//! got through), and otherwise waits for it to end and runs again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ferry_kit::http::Call;
use ferry_model::{ConnectorError, ErrorKind, Record};
use serde_json::{Map, Value, json};

use crate::gql::{Mode, Sel, string};
use crate::source::{ShopifySource, sort};

const RUN: &str = "mutation ($query: String!) { bulkOperationRunQuery(query: $query) { bulkOperation { id status } userErrors { field message } } }";

/// A bulk operation's state, as polled.
struct State {
    id: String,
    status: String,
    error: Option<String>,
    url: Option<String>,
    query: String,
}

impl ShopifySource {
    /// The bulk query of a scan anchored at `w`.
    fn bulk_query(&self, w: Option<&str>) -> String {
        let mut fields = String::new();
        for f in self.fields() {
            f.render_as(&mut fields, Mode::Bulk);
        }
        let mut args = vec!["sortKey: UPDATED_AT".to_owned()];
        if let Some(q) = self.search(w) {
            args.push(format!("query: {}", string(&q)));
        }
        format!(
            "{{ {}({}) {{ edges {{ node {{ {fields}}} }} }} }}",
            self.spec.object.name(),
            args.join(", ")
        )
    }

    /// Runs a bulk operation for the scan anchored at `w` and reads its records, sorted.
    pub(crate) async fn bulk_records(
        &self,
        w: Option<&str>,
    ) -> Result<(String, Arc<Vec<Record>>), ConnectorError> {
        let query = self.bulk_query(w);
        let id = self.start_bulk(&query).await?;
        let url = self.finish_bulk(&id).await?;
        let text = match url {
            Some(url) => {
                let call = Call::get(url).without_auth().label("bulk operation result");
                self.api.http.send(call).await?.text()
            }
            None => String::new(),
        };
        let mut records = self.reassemble(&text)?;
        sort(&mut records);
        Ok((id, Arc::new(records)))
    }

    /// Starts the bulk query; its operation's id.
    async fn start_bulk(&self, query: &str) -> Result<String, ConnectorError> {
        for _ in 0..2 {
            let data = self
                .api
                .run(
                    RUN,
                    json!({"query": query}),
                    crate::gql::MUTATION_COST,
                    true,
                    "bulkOperationRunQuery",
                )
                .await?;
            let answer = &data["bulkOperationRunQuery"];
            if let Some(id) = answer["bulkOperation"]["id"].as_str() {
                return Ok(id.to_owned());
            }
            let message = answer["userErrors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["message"].as_str())
                .collect::<Vec<_>>()
                .join("; ");
            if !message.contains("in progress") {
                return Err(ConnectorError::fatal(format!(
                    "{}: Shopify refused the bulk query: {message}",
                    self.api.http.system()
                )));
            }
            let running = self.current().await?;
            match running {
                Some(s) if s.query.trim() == query.trim() => return Ok(s.id),
                Some(s) => {
                    self.finish_bulk(&s.id).await?;
                }
                None => {}
            }
        }
        Err(ConnectorError::transient(format!(
            "{}: another bulk operation keeps the shop busy",
            self.api.http.system()
        )))
    }

    async fn current(&self) -> Result<Option<State>, ConnectorError> {
        let f = Sel::object(
            "currentBulkOperation",
            Sel::scalars(&["id", "status", "errorCode", "objectCount", "url", "query"]),
        );
        let data = self.api.query(&[f], false, "currentBulkOperation").await?;
        let op = &data["currentBulkOperation"];
        let text = |k: &str| op[k].as_str().map(str::to_owned);
        Ok(text("id").map(|id| State {
            id,
            status: text("status").unwrap_or_default(),
            error: text("errorCode"),
            url: text("url"),
            query: text("query").unwrap_or_default(),
        }))
    }

    /// Polls until operation `id` completes; its result's URL (none: no records).
    async fn finish_bulk(&self, id: &str) -> Result<Option<String>, ConnectorError> {
        let system = self.api.http.system();
        let started = self.api.pacing.now();
        loop {
            let state = self
                .current()
                .await?
                .filter(|s| s.id == id)
                .ok_or_else(|| {
                    ConnectorError::transient(format!(
                        "{system}: bulk operation {id} is no longer the shop's current one"
                    ))
                })?;
            match state.status.as_str() {
                "COMPLETED" => return Ok(state.url),
                "FAILED" | "CANCELED" | "CANCELING" | "EXPIRED" => {
                    let kind = if state.status == "FAILED" {
                        ErrorKind::Retryable
                    } else {
                        ErrorKind::Fatal
                    };
                    return Err(ConnectorError::new(
                        kind,
                        format!(
                            "{system}: bulk operation {id} ended {} ({})",
                            state.status,
                            state.error.unwrap_or_else(|| "no error code".into())
                        ),
                    ));
                }
                _ => {}
            }
            if self.api.pacing.now().saturating_sub(started) > self.spec.bulk_timeout {
                return Err(ConnectorError::transient(format!(
                    "{system}: bulk operation {id} did not finish within {}",
                    humanize(self.spec.bulk_timeout)
                )));
            }
            self.api.pacing.sleep(self.spec.bulk_poll).await;
        }
    }

    /// The records of a JSONL result (see the module docs).
    fn reassemble(&self, text: &str) -> Result<Vec<Record>, ConnectorError> {
        let mut nodes: Vec<Value> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut children: Vec<Vec<usize>> = Vec::new();
        let mut tops = Vec::new();
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let mut node: Value = serde_json::from_str(line).map_err(|e| {
                ConnectorError::fatal(format!(
                    "{}: line {} of the bulk result is not JSON: {e}",
                    self.api.http.system(),
                    n + 1
                ))
            })?;
            let parent = node.as_object_mut().and_then(|m| m.remove("__parentId"));
            let i = nodes.len();
            if let Some(id) = node["id"].as_str() {
                index.insert(id.to_owned(), i);
            }
            nodes.push(node);
            children.push(Vec::new());
            match parent
                .as_ref()
                .and_then(Value::as_str)
                .and_then(|p| index.get(p))
            {
                Some(&p) => children[p].push(i),
                None => tops.push(i),
            }
        }
        let paths = connection_paths(&self.fields());
        tops.into_iter()
            .map(|i| self.record(build(i, &mut nodes, &children, &paths)))
            .collect()
    }
}

/// Node `i` with its children put back under their connections.
fn build(
    i: usize,
    nodes: &mut [Value],
    children: &[Vec<usize>],
    paths: &HashMap<&'static str, Vec<String>>,
) -> Value {
    let mut node = std::mem::take(&mut nodes[i]);
    for &c in &children[i] {
        let child = build(c, nodes, children, paths);
        let kind = child["id"]
            .as_str()
            .and_then(|id| id.strip_prefix("gid://shopify/"))
            .and_then(|rest| rest.split('/').next())
            .unwrap_or("");
        let Some(path) = paths.get(kind) else {
            continue;
        };
        let mut at = &mut node;
        for step in path {
            if !at[step.as_str()].is_object() {
                at[step.as_str()] = Value::Object(Map::new());
            }
            at = &mut at[step.as_str()];
        }
        if !at["nodes"].is_array() {
            at["nodes"] = Value::Array(Vec::new());
        }
        if let Some(list) = at["nodes"].as_array_mut() {
            list.push(child);
        }
    }
    node
}

/// For each connection among `fields`, its nodes' GID type → its path from the node
/// owning it (through plain objects: `inventoryItem.inventoryLevels`).
fn connection_paths(fields: &[Sel]) -> HashMap<&'static str, Vec<String>> {
    fn walk(fields: &[Sel], prefix: &[String], out: &mut HashMap<&'static str, Vec<String>>) {
        for f in fields {
            let mut path = prefix.to_vec();
            path.push(f.key().to_owned());
            match f.connection {
                Some((_, kind)) => {
                    out.insert(kind, path);
                    walk(&f.children, &[], out);
                }
                None => walk(&f.children, &path, out),
            }
        }
    }
    let mut out = HashMap::new();
    walk(fields, &[], &mut out);
    out
}

fn humanize(d: Duration) -> String {
    format!("{} s", d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Object;
    use crate::schema::node_fields;

    #[test]
    fn children_go_back_under_their_connections_by_type() {
        let paths = connection_paths(&node_fields(Object::Products, &[]));
        assert_eq!(paths["ProductVariant"], ["variants"]);
        assert_eq!(
            paths["InventoryLevel"],
            ["inventoryItem", "inventoryLevels"]
        );
        let mut nodes = vec![
            json!({"id": "gid://shopify/Product/1"}),
            json!({"id": "gid://shopify/ProductVariant/101", "inventoryItem": {"id": "gid://shopify/InventoryItem/101"}}),
            json!({"id": "gid://shopify/InventoryLevel/1011?inventory_item_id=101"}),
        ];
        let children = vec![vec![1], vec![2], vec![]];
        let p = build(0, &mut nodes, &children, &paths);
        assert_eq!(
            p["variants"]["nodes"][0]["id"],
            "gid://shopify/ProductVariant/101"
        );
        assert_eq!(
            p["variants"]["nodes"][0]["inventoryItem"]["inventoryLevels"]["nodes"][0]["id"],
            "gid://shopify/InventoryLevel/1011?inventory_item_id=101"
        );
    }
}
