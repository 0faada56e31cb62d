//! Every paging style reads every record exactly once, with ties on the modified time,
//! from the start and from a watermark.

mod support;

use ferry_doubles::reference::{AuthMode, Paging, ReferenceConfig, Seed};
use ferry_doubles::{Record, RunningDouble};
use serde_json::Value;
use support::{client, get_json, start};

const PAGE: usize = 5;

/// 47 customers, 4 to a modified second: pages of 5 cut through groups of ties.
async fn start_paged(paging: Paging) -> RunningDouble {
    start(ReferenceConfig {
        auth: AuthMode::None,
        paging,
        seed: Seed {
            customers: 47,
            products: 3,
            orders: 2,
            ties: 4,
        },
        ..ReferenceConfig::default()
    })
    .await
}

/// Reads every page of `object` the way a client of `paging` does, following what the
/// double returns; `filter` is an extra query (`updated_since=…`).
async fn walk(double: &RunningDouble, paging: Paging, object: &str, filter: &str) -> Vec<Value> {
    let http = client();
    let base = double.url(&format!("/api/{object}"));
    let with_filter = |q: String| {
        if filter.is_empty() {
            q
        } else {
            format!("{q}&{filter}")
        }
    };
    let mut records = Vec::new();
    let mut next: Option<String> = Some(match paging {
        Paging::Page | Paging::Link => with_filter(format!("{base}?page=1&per_page={PAGE}")),
        Paging::Offset => with_filter(format!("{base}?offset=0&limit={PAGE}")),
        Paging::Cursor | Paging::NextUrl => with_filter(format!("{base}?limit={PAGE}")),
    });
    let mut pages = 0;
    while let Some(url) = next.take() {
        pages += 1;
        assert!(pages < 100, "paging does not end");
        let response = http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let link = response
            .headers()
            .get("link")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = response.json().await.unwrap();
        let data = if paging == Paging::Link {
            body.clone()
        } else {
            body["data"].clone()
        };
        let data = data.as_array().unwrap().clone();
        assert!(data.len() <= PAGE);
        next = match paging {
            Paging::Page => {
                let (page, total) = (
                    body["page"].as_u64().unwrap(),
                    body["total"].as_u64().unwrap(),
                );
                (page * (PAGE as u64) < total)
                    .then(|| with_filter(format!("{base}?page={}&per_page={PAGE}", page + 1)))
            }
            Paging::Offset => {
                let offset = body["offset"].as_u64().unwrap() + data.len() as u64;
                (offset < body["total"].as_u64().unwrap())
                    .then(|| with_filter(format!("{base}?offset={offset}&limit={PAGE}")))
            }
            Paging::Cursor => body["next_cursor"]
                .as_str()
                .map(|c| with_filter(format!("{base}?limit={PAGE}&cursor={c}"))),
            Paging::Link => link.map(|l| {
                assert!(l.ends_with("; rel=\"next\""), "{l}");
                l[1..l.find('>').unwrap()].to_owned()
            }),
            Paging::NextUrl => body.get("next").map(|n| n.as_str().unwrap().to_owned()),
        };
        records.extend(data);
    }
    records
}

fn ids(records: &[Value]) -> Vec<u64> {
    records.iter().map(|r| r["id"].as_u64().unwrap()).collect()
}

fn store_ids(records: &[Record]) -> Vec<u64> {
    records.iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn every_style_reads_every_record_once_in_modified_order() {
    for paging in Paging::ALL {
        let double = start_paged(paging).await;
        let all = double.store().list("customers", None, None).unwrap();
        assert_eq!(all.len(), 47);
        let read = walk(&double, paging, "customers", "").await;
        assert_eq!(ids(&read), store_ids(&all), "{paging:?}");
        let stamps: Vec<&str> = read
            .iter()
            .map(|r| r["updated_at"].as_str().unwrap())
            .collect();
        assert!(
            stamps.windows(2).all(|w| w[0] <= w[1]),
            "{paging:?}: modified order"
        );
        assert_eq!(stamps[4], stamps[5], "a page boundary falls inside a tie");
    }
}

#[tokio::test]
async fn from_a_watermark_inside_a_tie_since_rereads_the_tie_and_after_skips_it() {
    for paging in Paging::ALL {
        let double = start_paged(paging).await;
        let all = double.store().list("customers", None, None).unwrap();
        // Records 9..=12 (0-based 8..=11) share one second; the watermark is that second.
        let mark = all[9].updated_at;
        let stamp = mark.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let since: Vec<u64> = all
            .iter()
            .filter(|r| r.updated_at >= mark)
            .map(|r| r.id)
            .collect();
        let after: Vec<u64> = all
            .iter()
            .filter(|r| r.updated_at > mark)
            .map(|r| r.id)
            .collect();
        assert_eq!(since.len(), 47 - 8);
        assert_eq!(after.len(), 47 - 12);
        let read = walk(
            &double,
            paging,
            "customers",
            &format!("updated_since={stamp}"),
        )
        .await;
        assert_eq!(ids(&read), since, "{paging:?} since");
        let read = walk(
            &double,
            paging,
            "customers",
            &format!("updated_after={stamp}"),
        )
        .await;
        assert_eq!(ids(&read), after, "{paging:?} after");
    }
}

#[tokio::test]
async fn keyset_styles_lose_nothing_when_records_change_between_pages() {
    for paging in [Paging::Cursor, Paging::NextUrl] {
        let double = start_paged(paging).await;
        let http = client();
        let first = double.url(&format!("/api/customers?limit={PAGE}"));
        let (_, body) = get_json(&http, &first).await;
        let seen = ids(body["data"].as_array().unwrap());
        // A record already read and one not yet read both move to the end.
        double.store().touch("customers", seen[0]).unwrap();
        double.store().touch("customers", 30).unwrap();
        let next = match paging {
            Paging::Cursor => double.url(&format!(
                "/api/customers?limit={PAGE}&cursor={}",
                body["next_cursor"].as_str().unwrap()
            )),
            _ => body["next"].as_str().unwrap().to_owned(),
        };
        let mut read = seen.clone();
        let mut url = Some(next);
        while let Some(u) = url.take() {
            let (_, body) = get_json(&http, &u).await;
            read.extend(ids(body["data"].as_array().unwrap()));
            url = match paging {
                Paging::Cursor => body["next_cursor"]
                    .as_str()
                    .map(|c| double.url(&format!("/api/customers?limit={PAGE}&cursor={c}"))),
                _ => body.get("next").map(|n| n.as_str().unwrap().to_owned()),
            };
        }
        let mut unique = read.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(
            unique,
            (1..=47).collect::<Vec<u64>>(),
            "{paging:?}: none lost"
        );
        assert_eq!(
            read.len(),
            48,
            "{paging:?}: only the moved, already-read record twice"
        );
        assert_eq!(
            read.last(),
            Some(&30),
            "{paging:?}: the moved record read in its new place"
        );
    }
}

#[tokio::test]
async fn each_object_pages_in_its_own_style_and_strangers_are_refused() {
    let config = ReferenceConfig {
        auth: AuthMode::None,
        ..ReferenceConfig::default()
    }
    .with_object_paging("orders", Paging::Cursor);
    let double = start(config).await;
    let http = client();
    let (_, customers) = get_json(&http, &double.url("/api/customers?per_page=1000")).await;
    assert_eq!(customers["per_page"], 100, "a page is at most 100 records");
    assert_eq!(customers["total"], 30);
    let (_, orders) = get_json(&http, &double.url("/api/orders?limit=3")).await;
    assert_eq!(orders["data"].as_array().unwrap().len(), 3);
    assert!(orders["next_cursor"].is_string());
    let (status, refused) = get_json(&http, &double.url("/api/orders?page=2")).await;
    assert_eq!(status, 400);
    assert_eq!(
        refused["error"]["message"],
        "unknown query parameter `page`; this object pages by cursor: cursor, limit, updated_since, updated_after"
    );
    let (status, refused) = get_json(&http, &double.url("/api/orders?cursor=bm9wZQ")).await;
    assert_eq!(status, 400);
    assert_eq!(
        refused["error"]["message"],
        "cursor: `bm9wZQ` is not a position this double issued"
    );
    let (status, refused) =
        get_json(&http, &double.url("/api/customers?updated_since=yesterday")).await;
    assert_eq!(status, 400);
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("updated_since: `yesterday`")
    );
    let (status, _) = get_json(&http, &double.url("/api/customers?page=0")).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn next_urls_can_be_paths_that_carry_the_filter() {
    let config = ReferenceConfig {
        auth: AuthMode::None,
        paging: Paging::NextUrl,
        relative_next_urls: true,
        ..ReferenceConfig::default()
    }
    .with_object_paging("orders", Paging::Link);
    let double = start(config).await;
    let http = client();
    let query = "limit=4&updated_since=2026-01-01T00%3A00%3A01Z";
    let (_, first) = get_json(&http, &double.url(&format!("/api/customers?{query}"))).await;
    let next = first["next"].as_str().unwrap();
    assert!(next.starts_with("/api/customers?after="), "{next}");
    assert!(
        next.contains("updated_since=2026-01-01T00%3A00%3A01Z"),
        "{next}"
    );
    let (_, second) = get_json(&http, &double.url(next)).await;
    let ids = |v: &Value| ids(v["data"].as_array().unwrap());
    assert_eq!(
        [ids(&first), ids(&second)].concat(),
        (4..=11).collect::<Vec<u64>>()
    );

    let response = http
        .get(double.url("/api/orders?per_page=3"))
        .send()
        .await
        .unwrap();
    let link = response.headers()["link"].to_str().unwrap();
    assert_eq!(link, "</api/orders?page=2&per_page=3>; rel=\"next\"");
}
