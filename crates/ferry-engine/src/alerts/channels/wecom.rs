//! 企业微信 (WeCom) group robot: `POST …/cgi-bin/webhook/send?key=…` with
//! `{"msgtype": "markdown", "markdown": {"content": "…"}}`; the content is at most 4096
//! bytes of UTF-8, in WeCom's Markdown subset (bold, `>` quotes, links, `<font color>`).
//! WeCom answers HTTP 200 with `{"errcode": 0, "errmsg": "ok"}`, or another `errcode`.

use std::sync::Arc;

use ferry_kit::http::{Call, Url};
use serde_json::{Value, json};

use super::{Digest, replies};

/// The documented limit of `markdown.content`, in bytes.
pub const MAX_CONTENT: usize = 4096;

/// The request for `digest`.
pub fn call(url: &Url, digest: &Digest) -> Call {
    Call::post(url.as_str())
        .json(&body(digest))
        .check(Arc::new(replies::WECOM))
}

/// The JSON body.
pub fn body(digest: &Digest) -> Value {
    json!({ "msgtype": "markdown", "markdown": { "content": markdown(digest) } })
}

fn markdown(digest: &Digest) -> String {
    let mut out = format!("**{}**\n", digest.title);
    for item in &digest.items {
        out.push_str(&format!(
            "\n> **{}**\n> {}\n> <font color=\"comment\">{}</font>\n",
            item.heading, item.detail, item.when
        ));
        if let Some(link) = &item.link {
            out.push_str(&format!("> [{}]({link})\n", digest.button()));
        }
    }
    if let Some(more) = &digest.more {
        out.push_str(&format!("\n{more}\n"));
        if let Some(link) = &digest.link {
            out.push_str(&format!("[{}]({link})\n", digest.button()));
        }
    }
    clip_bytes(out, MAX_CONTENT)
}

/// At most `max` bytes, cut at a character boundary with `…`.
pub fn clip_bytes(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let ellipsis = "…";
    let mut end = max - ellipsis.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(ellipsis);
    text
}
