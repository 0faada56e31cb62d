//! The review queue of two-way pairs: open conflicts with both versions (masked), and for
//! operators one button per version. The action is the API's own
//! ([`crate::api::conflicts::resolve_conflict`]), so it checks, writes and audits alike.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use ferry_store::{ConflictFilter, ConflictState};
use serde::Deserialize;

use super::session::Session;
use super::{ConsoleError, Nav, page};
use crate::AppState;
use crate::api::conflicts::{ConflictView, resolve_conflict};
use crate::auth::Role;

/// One conflict as the page shows it: a row per field with the three values.
struct Item {
    view: ConflictView,
    /// (field, last agreed, source's value, target's value), as text.
    rows: Vec<(String, String, String, String)>,
}

#[derive(askama::Template)]
#[template(path = "conflicts.html")]
struct ListPage {
    nav: Nav,
    items: Vec<Item>,
}

fn text(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => "(empty)".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// `GET /console/conflicts`: the open conflicts, newest first, at most 200.
pub async fn list(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, ConsoleError> {
    let found = state
        .store()
        .conflicts(&ConflictFilter {
            pair: None,
            state: Some(ConflictState::Open),
            limit: Some(200),
        })
        .await?;
    let items = found
        .into_iter()
        .map(|c| {
            let view = ConflictView::new(c, &state);
            let rows = view
                .fields
                .iter()
                .map(|f| {
                    (
                        f.clone(),
                        text(view.base_values.get(f)),
                        text(view.source_values.get(f)),
                        text(view.target_values.get(f)),
                    )
                })
                .collect();
            Item { view, rows }
        })
        .collect();
    page(&ListPage {
        nav: Nav::new(&session, "conflicts"),
        items,
    })
}

/// The resolve form.
#[derive(Debug, Deserialize)]
pub struct ResolveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    pick: String,
}

/// `POST /console/conflicts/{id}/resolve` (operators).
pub async fn resolve(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<ResolveForm>,
) -> Result<Response, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    session.caller.require(Role::Operator)?;
    resolve_conflict(&state, &session.caller, id, &form.pick).await?;
    Ok(Redirect::to("/console/conflicts").into_response())
}
