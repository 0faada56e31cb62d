//! The Streaming API's CometD (Bayeux) transport of change events (dossier §6, transport A):
//! `POST /cometd/<version>` with a bearer token and a JSON array of messages —
//! `/meta/handshake` (answers a `clientId`), `/meta/subscribe` to `/data/ChangeEvents` or
//! `/data/<Object>ChangeEvent` with the replay extension `ext.replay = {channel: id}`
//! (-1 new only, -2 all retained, or a stored replay id), `/meta/connect` (long poll: answers
//! due events, or waits up to the run's `cometd_poll`), `/meta/unsubscribe`,
//! `/meta/disconnect`. A replay id no longer retained fails the subscribe with the
//! documented "replayId … was invalid" error. Events are delivered as
//! `{"channel", "data": {"schema", "payload", "event": {"replayId"}}}`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::answer::json;
use super::schema::sobject;
use super::{Ctx, auth, limits};

/// `POST /cometd/{version}`.
pub async fn bayeux(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refused) = limits::count(&ctx) {
        return limits::stamp(&ctx, refused.into_response());
    }
    let messages = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(list)) => list,
        Ok(one @ Value::Object(_)) => vec![one],
        _ => {
            let bad =
                json!([{"successful": false, "error": "400::Bad request: not a Bayeux message"}]);
            return limits::stamp(&ctx, json(StatusCode::BAD_REQUEST, bad));
        }
    };
    if auth::check(&ctx, &headers).is_err() {
        let channel = messages
            .first()
            .map_or(Value::Null, |m| m["channel"].clone());
        let refused = json!([{"channel": channel, "successful": false, "error": "401::Authentication invalid", "advice": {"reconnect": "handshake"}}]);
        return limits::stamp(&ctx, json(StatusCode::UNAUTHORIZED, refused));
    }
    let cdc = &ctx.shared.cdc;
    cdc.expire(ctx.harness.clock().now(), ctx.config.cdc_retention);
    let mut out = Vec::new();
    for m in &messages {
        let channel = m["channel"].as_str().unwrap_or_default();
        let client = m["clientId"].as_str().unwrap_or_default().to_owned();
        let mut reply = json!({"channel": channel, "successful": true});
        if !m["id"].is_null() {
            reply["id"] = m["id"].clone();
        }
        if channel != "/meta/handshake" && !cdc.knows(&client) {
            reply["successful"] = false.into();
            reply["error"] = "403::Unknown client".into();
            reply["advice"] = json!({"reconnect": "handshake", "interval": 0});
            out.push(reply);
            continue;
        }
        match channel {
            "/meta/handshake" => {
                reply["clientId"] = cdc.handshake().into();
                reply["version"] = "1.0".into();
                reply["supportedConnectionTypes"] = json!(["long-polling"]);
                reply["ext"] = json!({"replay": true, "payload.format": true});
            }
            "/meta/subscribe" => {
                let sub = m["subscription"].as_str().unwrap_or_default();
                reply["clientId"] = client.clone().into();
                reply["subscription"] = sub.into();
                let served = sub == "/data/ChangeEvents"
                    || sub
                        .strip_prefix("/data/")
                        .and_then(|s| s.strip_suffix("ChangeEvent"))
                        .is_some_and(|name| sobject(name).is_some_and(|o| o.name == name));
                let replay = m["ext"]["replay"][sub].as_i64().unwrap_or(-1);
                if !served {
                    reply["successful"] = false.into();
                    reply["error"] = format!(
                        "400::The channel you requested to subscribe to does not exist {{{sub}}}"
                    )
                    .into();
                } else if cdc.subscribe(&client, sub, replay).is_err() {
                    reply["successful"] = false.into();
                    reply["error"] = format!("400::The replayId {{{replay}}} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events.").into();
                }
            }
            "/meta/unsubscribe" => {
                let sub = m["subscription"].as_str().unwrap_or_default();
                cdc.unsubscribe(&client, sub);
                reply["subscription"] = sub.into();
            }
            "/meta/disconnect" => cdc.disconnect(&client),
            "/meta/connect" => {
                for (channel, event) in cdc.take_or_wait(&client, ctx.config.cometd_poll).await {
                    let schema = format!("{}ChangeEventSchema", event.entity);
                    out.push(json!({
                        "channel": channel,
                        "data": {"schema": schema, "payload": event.payload, "event": {"replayId": event.replay_id}},
                    }));
                }
                reply["clientId"] = client.into();
                reply["advice"] = json!({"reconnect": "retry", "interval": 0, "timeout": 110_000});
            }
            other => {
                reply["successful"] = false.into();
                reply["error"] = format!("400::Unknown channel {other}").into();
            }
        }
        out.push(reply);
    }
    limits::stamp(&ctx, json(StatusCode::OK, Value::Array(out)))
}
