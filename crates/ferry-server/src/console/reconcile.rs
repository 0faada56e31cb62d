//! Reconciliations in the console: the flow page's recent reconciliations and its "Reconcile
//! now" form (operators), and one reconciliation's report as HTML. Starting goes through the
//! API's own function ([`crate::api::reconcile::start_reconciliation`]), so both check,
//! audit repairs and answer a running one alike; the report is the HTML the CLI writes
//! ([`crate::html::reconcile::body`]), field values masked as in the API.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use ferry_engine::reconcile::Report;
use serde::Deserialize;

use super::session::Session;
use super::{ConsoleError, Nav, page};
use crate::AppState;
use crate::api::reconcile::{
    ReconcileRequest, ReconciliationView, find, mask_report, start_reconciliation,
};
use crate::auth::Role;
use crate::error::ApiError;
use crate::html::escape;

/// Reconciliations listed on a flow's page.
const RECENT: u32 = 10;

/// A reconciliation in a list or on its page, with the status badge's style.
pub struct Row {
    pub view: ReconciliationView,
    /// `ok` (clean), `failing` (drift or failed) or `running`.
    pub css: &'static str,
}

impl Row {
    fn new(view: ReconciliationView) -> Self {
        let css = match view.state.as_str() {
            "clean" => "ok",
            "running" => "running",
            _ => "failing",
        };
        Self { view, css }
    }
}

/// The flow's latest reconciliations, newest first.
pub(super) async fn recent(state: &AppState, flow: &str) -> Result<Vec<Row>, ApiError> {
    Ok(state
        .store()
        .reconciliations(Some(flow), RECENT)
        .await?
        .into_iter()
        .map(|r| Row::new(state.reconciliation_view(r)))
        .collect())
}

#[derive(askama::Template)]
#[template(path = "reconciliation.html")]
struct ReportPage {
    nav: Nav,
    row: Row,
    /// The report as HTML (escaped by [`crate::html::reconcile::body`]), once finished.
    body: Option<String>,
}

/// `GET /console/reconciliations/{id}`: its state and, once finished, its report.
pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<i64>,
) -> Result<Response, ConsoleError> {
    let mut found = find(&state, id).await?;
    let body = found.report.take().map(|report| {
        let key_field = state.key_field(&found.flow);
        let report = mask_report(report, &state.settings.mask, &found.flow, key_field);
        match serde_json::from_value::<Report>(report.clone()) {
            Ok(report) => crate::html::reconcile::body(&report),
            // A report of another shape (an older Ferry): shown as it is.
            Err(_) => format!(
                "<pre class=\"payload\">{}</pre>",
                escape(&serde_json::to_string_pretty(&report).unwrap_or_default())
            ),
        }
    });
    page(&ReportPage {
        nav: Nav::new(&session, "overview"),
        row: Row::new(state.reconciliation_view(found)),
        body,
    })
}

/// The "Reconcile now" form.
#[derive(Debug, Deserialize)]
pub struct StartForm {
    #[serde(default)]
    csrf: String,
    /// A checked "repair" box.
    #[serde(default)]
    repair: Option<String>,
}

/// `POST /console/flows/{flow}/reconcile` (operators): starts one in the background and
/// shows its page.
pub async fn start(
    State(state): State<AppState>,
    session: Session,
    Path(flow): Path<String>,
    Form(form): Form<StartForm>,
) -> Result<Response, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    session.caller.require(Role::Operator)?;
    let request = ReconcileRequest {
        repair: form.repair.is_some(),
        ..ReconcileRequest::default()
    };
    let id = start_reconciliation(&state, &session.caller, &flow, &request, "console").await?;
    Ok(Redirect::to(&format!("/console/reconciliations/{id}")).into_response())
}
