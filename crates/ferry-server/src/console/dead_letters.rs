//! Dead letters: the list, one dead letter with its masked payload and error, and the
//! operator forms (replay, edit and replay, skip). The actions are the API's own
//! ([`crate::api::dead_letters`]), so they check, restore masked values and audit alike.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use ferry_store::DeadLetterFilter;
use serde::Deserialize;

use super::pages::CsrfForm;
use super::session::Session;
use super::{ConsoleError, Nav, page};
use crate::AppState;
use crate::api::dead_letters::{self as actions, Via};
use crate::api::views::DeadLetterView;
use crate::auth::Role;
use crate::error::ApiError;

/// Filters of the list.
#[derive(Debug, Deserialize)]
pub struct ListFilter {
    #[serde(default)]
    flow: String,
    #[serde(default)]
    state: String,
}

#[derive(askama::Template)]
#[template(path = "dead_letters.html")]
struct ListPage {
    nav: Nav,
    /// Flow names, and whether each is the one shown.
    flows: Vec<(String, bool)>,
    /// State filters, and whether each is the one shown.
    states: Vec<(&'static str, bool)>,
    dead_letters: Vec<DeadLetterView>,
}

/// `GET /console/dead-letters?flow=&state=`: newest first, at most 200.
pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(filter): Query<ListFilter>,
) -> Result<Response, ConsoleError> {
    let states = actions::states(Some(filter.state.as_str()).filter(|s| !s.is_empty()))?;
    let found = state
        .store()
        .dead_letters(&DeadLetterFilter {
            flow: Some(filter.flow.clone()).filter(|f| !f.is_empty()),
            states,
            limit: Some(200),
        })
        .await?;
    page(&ListPage {
        nav: Nav::new(&session, "dead-letters"),
        flows: super::options(&state, &filter.flow),
        states: ["open", "replayed", "skipped", "resolved", "all"]
            .into_iter()
            .map(|s| {
                (
                    s,
                    s == filter.state || (s == "open" && filter.state.is_empty()),
                )
            })
            .collect(),
        dead_letters: found
            .into_iter()
            .map(|d| state.dead_letter_view(d))
            .collect(),
    })
}

#[derive(askama::Template)]
#[template(path = "dead_letter.html")]
struct ShowPage {
    nav: Nav,
    dead: DeadLetterView,
    /// The masked payload, pretty-printed (also the edit form's starting text).
    payload: String,
    /// An edit that was refused, shown again with the reason.
    error: Option<String>,
    /// The edit box's height.
    rows: usize,
}

/// The notice after an action.
#[derive(Debug, Deserialize)]
pub struct Done {
    #[serde(default)]
    done: String,
}

/// `GET /console/dead-letters/{id}`.
pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    let dead = state.dead_letter_view(actions::find(&state, id).await?);
    let mut nav = Nav::new(&session, "dead-letters");
    nav.notice = match done.done.as_str() {
        "replayed" => Some(format!("Dead letter {id} was queued for replay.")),
        "edited" => Some(format!(
            "Dead letter {id} was queued for replay with the edited payload."
        )),
        "skipped" => Some(format!("Dead letter {id} was skipped.")),
        _ => None,
    };
    let payload = pretty(&dead.payload);
    page(&ShowPage {
        rows: super::rows(&payload),
        payload,
        nav,
        dead,
        error: None,
    })
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

fn done(id: i64, what: &str) -> Response {
    Redirect::to(&format!("/console/dead-letters/{id}?done={what}")).into_response()
}

/// `POST /console/dead-letters/{id}/replay` (operators).
pub async fn replay(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    session.caller.require(Role::Operator)?;
    actions::replay_dead_letter(&state, &session.caller, id, None, Via::Console).await?;
    Ok(done(id, "replayed"))
}

/// `POST /console/dead-letters/{id}/skip` (operators).
pub async fn skip(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    session.caller.require(Role::Operator)?;
    actions::skip_dead_letter(&state, &session.caller, id, Via::Console).await?;
    Ok(done(id, "skipped"))
}

/// The edit form's fields.
#[derive(Debug, Deserialize)]
pub struct EditForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    payload: String,
}

/// `POST /console/dead-letters/{id}/edit` (operators): replays with the edited payload. A
/// payload that is not JSON, or not this record, shows the form again with the reason and
/// the text as typed.
pub async fn edit(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
    Form(form): Form<EditForm>,
) -> Result<Response, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    session.caller.require(Role::Operator)?;
    let edited: serde_json::Value = match serde_json::from_str(&form.payload) {
        Ok(v) => v,
        Err(e) => {
            let reason = format!("The payload is not valid JSON: {e}");
            return refused(&state, &session, id, form.payload, reason).await;
        }
    };
    match actions::replay_dead_letter(&state, &session.caller, id, Some(edited), Via::Console).await
    {
        Ok(_) => Ok(done(id, "edited")),
        Err(ApiError::BadRequest(reason)) => {
            refused(&state, &session, id, form.payload, reason).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The dead letter's page again, with the edit as typed and why it was refused (400).
async fn refused(
    state: &AppState,
    session: &Session,
    id: i64,
    payload: String,
    reason: String,
) -> Result<Response, ConsoleError> {
    let dead = state.dead_letter_view(actions::find(state, id).await?);
    let mut response = page(&ShowPage {
        nav: Nav::new(session, "dead-letters"),
        dead,
        rows: super::rows(&payload),
        payload,
        error: Some(reason),
    })?;
    *response.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    Ok(response)
}
