//! The real CRM (BottleCRM) and ERP (Tryton) that `scripts/peers/` starts: resetting them to
//! their seeded state, running `ferry` with their connection details, and talking to each
//! directly (the CRM's REST API, the ERP's JSON-RPC) to make or check changes behind
//! Ferry's back.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use super::ferry;

pub type Env = HashMap<String, String>;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn peers_dir() -> String {
    std::env::var("FERRY_PEERS_DIR").unwrap_or_else(|_| "/var/tmp/ferry-peers".into())
}

pub fn port(env: &Env, key: &str) -> String {
    env[key]
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned()
}

/// Puts a peer back to its seeded state (and running); returns its fresh env.
pub fn reset(peer: &str, env: &Env) -> Env {
    let (script, fresh, url) = match peer {
        "tryton" => ("tryton-up.sh", "TRYTON_FRESH", "TRYTON_URL"),
        _ => ("crm-up.sh", "CRM_FRESH", "CRM_URL"),
    };
    let out = Command::new(repo().join("scripts/peers").join(script))
        .args([peers_dir(), port(env, url)])
        .env(fresh, "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `ferry` in `dir` with both peers' connection details in its environment.
pub fn ferry_in(dir: &Path, env: &Env, args: &[&str]) -> Value {
    let out = ferry()
        .current_dir(dir)
        .envs(env)
        .args(args)
        .output()
        .expect("ferry runs");
    assert!(
        out.status.success(),
        "ferry {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

pub fn sync(dir: &Path, env: &Env, flow: &str) -> Value {
    ferry_in(dir, env, &["sync", flow, "--json"])
}

pub fn writes(report: &Value) -> (u64, u64) {
    (
        report["created"].as_u64().unwrap(),
        report["updated"].as_u64().unwrap(),
    )
}

pub struct Crm {
    pub http: reqwest::Client,
    pub api: String,
    pub token: String,
}

impl Crm {
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.api))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let reply = req.send().await.unwrap();
        let status = reply.status();
        let body: Value = reply.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {path}: {status}: {body}");
        body
    }
}

pub struct Erp {
    pub http: reqwest::Client,
    rpc: String,
    auth: String,
    pub uid: Value,
}

impl Erp {
    pub async fn login(env: &Env) -> Self {
        let http = reqwest::Client::new();
        let rpc = env["TRYTON_RPC"].clone();
        let reply: Value = http
            .post(&rpc)
            .json(&json!({"id": 1, "method": "common.db.login",
                "params": [env["TRYTON_USER"], {"password": env["TRYTON_PASSWORD"]}, "en"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let (uid, token) = (&reply["result"][0], reply["result"][1].as_str().unwrap());
        use base64::Engine as _;
        let auth = format!(
            "Session {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{uid}:{token}", env["TRYTON_USER"]))
        );
        let uid = uid.clone();
        Self {
            http,
            rpc,
            auth,
            uid,
        }
    }

    pub async fn call(&self, method: &str, params: Value) -> Value {
        let result = self.try_call(method, params).await;
        result.unwrap_or_else(|error| panic!("{method}: {error}"))
    }

    /// The result, or Tryton's error array.
    pub async fn try_call(&self, method: &str, params: Value) -> Result<Value, Value> {
        let reply: Value = self
            .http
            .post(&self.rpc)
            .header("Authorization", &self.auth)
            .json(&json!({"id": 1, "method": method, "params": params}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        match &reply["error"] {
            Value::Null => Ok(reply["result"].clone()),
            error => Err(error.clone()),
        }
    }
}
