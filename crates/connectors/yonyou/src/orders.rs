//! Writing sales orders: `voucherorder/singleSave`, then the life cycle.
//!
//! A new order is saved as `Insert` with its lines. An existing one is read first (its
//! detail, with the lines' ids): when it already holds what would be written (a retry, a
//! replay) nothing is saved; when it is open (`verifystate` 0) it is saved as `Update` with
//! the whole header, its lines matched by position — the first lines updated by id, lines
//! beyond added, lines no longer sent deleted (Yonyou keeps unsent lines otherwise); when
//! it is submitted or audited the change is refused, saying so (Yonyou refuses to change
//! such orders, and Ferry does not take them back behind the finance team).
//!
//! Then `after_save` (`batchsubmit`, `batchaudit`) on every order still standing. These
//! are not idempotent, so they are not sent twice by the client; an answer that the step
//! was done already (`不能重复提交`, `不能重复审核`, `已审核，不能提交`) counts as done, so
//! a retried batch moves on. A step refused is the order's error ("saved, but …").

use std::collections::HashMap;

use ferry_kit::Outgoing;
use ferry_kit::sink::same_value;
use ferry_model::ConnectorError;
use serde_json::{Map, Value, json};

use crate::body::{header, lines};
use crate::config::Operation;
use crate::detail;
use crate::objects::{ORDER_PREFIX, ORDER_SAVE};
use crate::reply::text;
use crate::sink::{Existing, Outcome, YonyouSink, batch_messages};

/// Fields of a save that are not the order's content.
const NOT_CONTENT: [&str; 4] = ["_status", "id", "resubmitCheckKey", "orderDetails"];

/// What Yonyou answers to a step already done.
const ALREADY_DONE: [&str; 2] = ["不能重复", "已审核，不能提交"];

impl YonyouSink {
    /// Saves each order, then runs `after_save` on those standing.
    pub(crate) async fn orders(
        &self,
        batch: &[Outgoing],
        existing: &HashMap<String, Existing>,
    ) -> Result<Vec<Outcome>, ConnectorError> {
        let mut outcomes = Vec::with_capacity(batch.len());
        for out in batch {
            outcomes.push(self.save_order(out, existing.get(&out.key)).await);
        }
        for op in self.options.after_save.clone() {
            self.step(op, batch, &mut outcomes).await?;
        }
        Ok(outcomes)
    }

    /// One order saved, or found already holding its content.
    async fn save_order(&self, out: &Outgoing, found: Option<&Existing>) -> Outcome {
        let mut data = header(&self.options, out, &self.ctx.key_field);
        let lines = lines(&self.options, out).map_err(|why| self.refused(&out.key, why))?;
        let held = match found {
            Some(found) => detail::order(&self.api, &found.id).await?,
            None => None,
        };
        let (Some(found), Some(held)) = (found, held) else {
            data.insert("_status".into(), json!("Insert"));
            data.insert("orderDetails".into(), inserted(lines));
            let reply = self.save_one(ORDER_SAVE, data, None).await?;
            return self.saved(&out.key, &reply, None);
        };
        if holds_order(&held, &data, &lines) {
            return Ok(ferry_kit::Written {
                target_id: found.id.clone(),
            });
        }
        let state = held.get("verifystate").and_then(text).unwrap_or_default();
        if state != "0" && !state.is_empty() {
            let why = format!(
                "the order is submitted or audited (verifystate {state}); Ferry changes open orders only"
            );
            return Err(self.refused(&out.key, why));
        }
        data.insert("_status".into(), json!("Update"));
        data.insert("id".into(), id_value(&found.id));
        data.insert("orderDetails".into(), matched(lines, &held));
        let reply = self.save_one(ORDER_SAVE, data, Some(found)).await?;
        self.saved(&out.key, &reply, Some(&found.id))
    }

    /// Runs one life-cycle step on the orders standing; a refusal becomes that order's error.
    async fn step(
        &self,
        op: Operation,
        batch: &[Outgoing],
        outcomes: &mut [Outcome],
    ) -> Result<(), ConnectorError> {
        let standing: Vec<(usize, String)> = outcomes
            .iter()
            .enumerate()
            .filter_map(|(i, o)| o.as_ref().ok().map(|w| (i, w.target_id.clone())))
            .collect();
        if standing.is_empty() {
            return Ok(());
        }
        let ids: Vec<Value> = standing
            .iter()
            .map(|(_, id)| json!({"id": id_value(id)}))
            .collect();
        let path = format!("{ORDER_PREFIX}{}", op.action());
        let reply = self.api.post(&path, &json!({ "data": ids }), false).await?;
        let messages = batch_messages(&reply.data);
        for (n, (i, _)) in standing.iter().enumerate() {
            let code = &batch[*i].key;
            let refusal = if reply.ok() {
                let own: Vec<&str> = messages
                    .iter()
                    .filter(|(row, m)| *row == Some(n + 1) || m.contains(&format!("[{code}]")))
                    .map(|(_, m)| m.as_str())
                    .filter(|m| !ALREADY_DONE.iter().any(|done| m.contains(done)))
                    .collect();
                (!own.is_empty()).then(|| own.join("; "))
            } else {
                Some(reply.refusal())
            };
            if let Some(why) = refusal {
                let what = format!("saved, but {} refused: {why}", op.action());
                outcomes[*i] = Err(self.refused(code, what));
            }
        }
        Ok(())
    }
}

/// An id as Yonyou sends it: a number when it is one.
fn id_value(id: &str) -> Value {
    id.parse::<u64>().map_or_else(|_| json!(id), |n| json!(n))
}

/// New lines, each `Insert`.
fn inserted(lines: Vec<Map<String, Value>>) -> Value {
    Value::Array(
        lines
            .into_iter()
            .map(|mut line| {
                line.insert("_status".into(), json!("Insert"));
                Value::Object(line)
            })
            .collect(),
    )
}

/// The lines of an update, matched by position with the held ones: `Update` by id, then
/// `Insert` for lines beyond, `Delete` for held lines no longer sent.
fn matched(lines: Vec<Map<String, Value>>, held: &Map<String, Value>) -> Value {
    let held_ids: Vec<String> = held_lines(held)
        .iter()
        .filter_map(|l| l.get("id").and_then(text))
        .collect();
    let mut out: Vec<Value> = Vec::new();
    for (n, mut line) in lines.into_iter().enumerate() {
        match held_ids.get(n) {
            Some(id) => {
                line.insert("_status".into(), json!("Update"));
                line.insert("id".into(), id_value(id));
            }
            None => {
                line.insert("_status".into(), json!("Insert"));
            }
        }
        out.push(Value::Object(line));
    }
    for id in held_ids.iter().skip(out.len()) {
        out.push(json!({"_status": "Delete", "id": id_value(id)}));
    }
    Value::Array(out)
}

fn held_lines(held: &Map<String, Value>) -> Vec<&Map<String, Value>> {
    held.get("orderDetails")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .collect()
}

/// Whether the held order already has every header value and line that would be written.
fn holds_order(
    held: &Map<String, Value>,
    data: &Map<String, Value>,
    lines: &[Map<String, Value>],
) -> bool {
    let header = data
        .iter()
        .filter(|(k, _)| !NOT_CONTENT.contains(&k.as_str()))
        .all(|(k, v)| holds(held, k, v));
    let held_lines = held_lines(held);
    header
        && held_lines.len() == lines.len()
        && lines
            .iter()
            .zip(held_lines)
            .all(|(line, has)| line.iter().all(|(k, v)| holds(has, k, v)))
}

/// Whether `held` has `want` at `key`: as itself or, for a reference sent by code, as
/// `<key>_code`; `a!b` is `b` inside the object `a`; a nested object field by field; a date
/// sent without a time is midnight.
fn holds(held: &Map<String, Value>, key: &str, want: &Value) -> bool {
    if let Value::Object(fields) = want {
        return match held.get(key) {
            Some(Value::Object(inner)) => fields.iter().all(|(k, v)| holds(inner, k, v)),
            _ => false,
        };
    }
    let (map, field) = match key.split_once('!') {
        Some((outer, inner)) => match held.get(outer) {
            Some(Value::Object(map)) => (map, inner),
            _ => return false,
        },
        None => (held, key),
    };
    [field.to_owned(), format!("{field}_code")].iter().any(|k| {
        map.get(k).is_some_and(|has| {
            same_value(want, has)
                || matches!((want, has), (Value::String(w), Value::String(h))
                       if *h == format!("{w} 00:00:00"))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_prices_and_dates_are_compared_as_yonyou_holds_them() {
        let held = json!({"agentId": 2285747004510002_u64, "agentId_code": "C0002",
            "orderPrices": {"currency": 1, "currency_code": "CNY"},
            "vouchdate": "2024-06-01 00:00:00", "payMoney": 1130.0,
            "orderDetails": [{"id": 7, "qty": 10.0, "productId_code": "M0002"}]});
        let held = held.as_object().unwrap();
        let data = json!({"agentId": "C0002", "orderPrices!currency": "CNY",
            "vouchdate": "2024-06-01", "payMoney": "1130", "_status": "Insert"});
        let lines = vec![
            json!({"qty": 10, "productId": "M0002"})
                .as_object()
                .cloned()
                .unwrap(),
        ];
        assert!(holds_order(held, data.as_object().unwrap(), &lines));
        let more = vec![lines[0].clone(), lines[0].clone()];
        assert!(!holds_order(held, data.as_object().unwrap(), &more));
        assert_eq!(
            matched(more, held),
            json!([{"qty": 10, "productId": "M0002", "_status": "Update", "id": 7},
                   {"qty": 10, "productId": "M0002", "_status": "Insert"}])
        );
    }
}
