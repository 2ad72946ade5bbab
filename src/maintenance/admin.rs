//! `GET /status` (public) and the maintenance admin API (`/admin/maintenance/…`, bearer token).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::notice::{self, NoticeContext};
use super::{time, Kind, Maintenance, Mode, Window, DEFAULT_TIME_ZONE};
use crate::store::{Db, NewWindow, StoreError};

pub struct AdminState {
    pub db: Arc<Db>,
    pub maintenance: Arc<Maintenance>,
    /// `None`: the admin API is switched off (every call is refused).
    pub token: Option<String>,
    pub notice: NoticeContext,
}

#[derive(Serialize)]
struct WindowView<'a> {
    id: i64,
    kind: Kind,
    mode: Mode,
    starts_at: String,
    ends_at: Option<String>,
    time_zone: &'a str,
    starts_local: String,
    ends_local: Option<String>,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    organization: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refuse_percent: Option<u8>,
    cancelled: bool,
}

fn view(w: &Window) -> WindowView<'_> {
    let tz = time::zone(&w.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let local = |t: Timestamp| {
        time::local(t, &tz)
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string()
    };
    WindowView {
        id: w.id,
        kind: w.kind,
        mode: w.mode,
        starts_at: w.starts_at.to_string(),
        ends_at: w.ends_at.map(|t| t.to_string()),
        time_zone: &w.time_zone,
        starts_local: local(w.starts_at),
        ends_local: w.ends_at.map(local),
        reason: &w.reason,
        organization: w.organization.as_deref(),
        refuse_percent: (w.mode == Mode::Intermittent).then_some(w.refuse_percent),
        cancelled: w.cancelled,
    }
}

/// `GET /status`: what partners and load balancers may know, without credentials: the
/// maintenance state and the file door's backlog. Drills limited to one organization are not
/// shown here.
pub async fn status(State(admin): State<Arc<AdminState>>) -> Response {
    let maintenance = &admin.maintenance;
    let now = maintenance.now();
    let snapshot = maintenance.snapshot();
    let current = snapshot.active(now, None);
    let state = current.map_or("available", |w| w.mode.as_str());
    let upcoming: Vec<_> = snapshot.upcoming(now).map(view).collect();
    // Files waiting and messages of started files not yet processed; null if the database
    // cannot say right now (the maintenance state is still worth answering).
    let backlog = match admin.db.backlog().await {
        Ok(b) => serde_json::to_value(b).unwrap_or_default(),
        Err(e) => {
            tracing::warn!(error = %e, "status: the file backlog could not be read");
            serde_json::Value::Null
        }
    };
    let body = serde_json::json!({
        "state": state,
        "now": now.to_string(),
        "current_window": current.map(view),
        "upcoming": upcoming,
        "files": backlog,
    });
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

pub fn router(state: Arc<AdminState>) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/admin/maintenance/windows", get(list).post(schedule))
        .route("/admin/maintenance/windows/{id}", delete(cancel))
        .route("/admin/maintenance/windows/{id}/notice", get(render_notice))
        .route("/admin/maintenance/start", post(start))
        .route("/admin/maintenance/stop", post(stop))
        .with_state(state)
}

/// Everything an admin call can fail with, mapped to a response in one place.
#[derive(Debug)]
pub enum AdminError {
    Disabled,
    Unauthorized,
    BadRequest(String),
    NotFound(String),
    Conflict(String),
    Internal,
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            AdminError::Disabled => (
                StatusCode::FORBIDDEN,
                "the admin API is disabled: start izport with --admin-token".to_string(),
            ),
            AdminError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token".to_string(),
            ),
            AdminError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            AdminError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            AdminError::Conflict(m) => (StatusCode::CONFLICT, m),
            AdminError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "storage failed".to_string(),
            ),
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => AdminError::NotFound(m),
            StoreError::Conflict(m) => AdminError::Conflict(m),
            other => {
                tracing::error!(error = %other, "admin API: storage failed");
                AdminError::Internal
            }
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorize(state: &AdminState, headers: &HeaderMap) -> Result<(), AdminError> {
    let Some(expected) = &state.token else {
        return Err(AdminError::Disabled);
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        tracing::warn!("admin API: missing or wrong bearer token");
        Err(AdminError::Unauthorized)
    }
}

/// After a change, this node sees it at once; other nodes at their next poll.
async fn refreshed(state: &AdminState) {
    if let Err(e) = state.maintenance.refresh(&state.db).await {
        tracing::warn!(error = %e, "maintenance windows could not be refreshed");
    }
}

type AdminResult = Result<Response, AdminError>;

async fn list(State(state): State<Arc<AdminState>>, headers: HeaderMap) -> AdminResult {
    authorize(&state, &headers)?;
    let windows = state.db.windows().await?;
    Ok(Json(windows.iter().map(view).collect::<Vec<_>>()).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WindowRequest {
    pub from: Option<String>,
    pub to: Option<String>,
    pub until: Option<String>,
    pub tz: Option<String>,
    pub reason: Option<String>,
    pub mode: Option<String>,
    pub kind: Option<String>,
    pub organization: Option<String>,
    pub refuse_percent: Option<u8>,
}

/// The share of requests an intermittent window refuses when none is given.
pub const DEFAULT_REFUSE_PERCENT: u8 = 50;

/// Turns operator input (CLI or API) into a window; `immediate` starts it now.
pub fn new_window(
    req: &WindowRequest,
    now: Timestamp,
    immediate: bool,
) -> Result<NewWindow, String> {
    let tz_name = req
        .tz
        .clone()
        .unwrap_or_else(|| DEFAULT_TIME_ZONE.to_string());
    let tz = time::zone(&tz_name).map_err(|e| e.to_string())?;
    let mode: Mode = match req.mode.as_deref() {
        Some(mode) => mode.parse().map_err(|e: super::ParseError| e.to_string())?,
        None => Mode::default(),
    };
    let default_kind = if immediate { "unplanned" } else { "scheduled" };
    let kind: Kind = req
        .kind
        .as_deref()
        .unwrap_or(default_kind)
        .parse()
        .map_err(|e: super::ParseError| e.to_string())?;
    let (starts_at, ends_at) = if immediate {
        let end = req
            .until
            .as_deref()
            .map(|t| time::parse(t, &tz, now))
            .transpose()
            .map_err(|e| e.to_string())?;
        (now, end)
    } else {
        let from = req
            .from
            .as_deref()
            .ok_or("a scheduled window needs a start ('from')")?;
        let to = req
            .to
            .as_deref()
            .ok_or("a scheduled window needs an end ('to')")?;
        (
            time::parse(from, &tz, now).map_err(|e| e.to_string())?,
            Some(time::parse(to, &tz, now).map_err(|e| e.to_string())?),
        )
    };
    if let Some(end) = ends_at {
        if end <= starts_at {
            return Err("the window must end after it starts".into());
        }
        if end <= now {
            return Err("the window would already be over".into());
        }
    }
    let refuse_percent = match (mode, req.refuse_percent) {
        (Mode::Intermittent, Some(p)) if (1..=100).contains(&p) => p,
        (Mode::Intermittent, Some(p)) => return Err(format!("refuse_percent {p} is not 1-100")),
        (Mode::Intermittent, None) => DEFAULT_REFUSE_PERCENT,
        (_, _) => 100,
    };
    Ok(NewWindow {
        kind,
        mode,
        starts_at,
        ends_at,
        time_zone: tz_name,
        reason: req.reason.clone().unwrap_or_default(),
        organization: req.organization.clone(),
        refuse_percent,
    })
}

async fn create(state: &AdminState, req: WindowRequest, immediate: bool) -> AdminResult {
    let window =
        new_window(&req, state.maintenance.now(), immediate).map_err(AdminError::BadRequest)?;
    let id = state.db.create_window(&window).await?;
    refreshed(state).await;
    let created = state
        .db
        .window(id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no maintenance window {id}")))?;
    Ok((StatusCode::CREATED, Json(view(&created))).into_response())
}

async fn schedule(
    State(state): State<Arc<AdminState>>,
    headers: HeaderMap,
    Json(req): Json<WindowRequest>,
) -> AdminResult {
    authorize(&state, &headers)?;
    create(&state, req, false).await
}

async fn start(
    State(state): State<Arc<AdminState>>,
    headers: HeaderMap,
    body: Option<Json<WindowRequest>>,
) -> AdminResult {
    authorize(&state, &headers)?;
    create(&state, body.map(|Json(b)| b).unwrap_or_default(), true).await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StopRequest {
    organization: Option<String>,
}

async fn stop(
    State(state): State<Arc<AdminState>>,
    headers: HeaderMap,
    body: Option<Json<StopRequest>>,
) -> AdminResult {
    authorize(&state, &headers)?;
    let org = body.and_then(|Json(b)| b.organization);
    let stopped = state
        .db
        .stop_windows(state.maintenance.now(), org.as_deref())
        .await?;
    refreshed(&state).await;
    Ok(Json(serde_json::json!({ "stopped": stopped })).into_response())
}

async fn cancel(
    State(state): State<Arc<AdminState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> AdminResult {
    authorize(&state, &headers)?;
    let window = state.db.cancel_window(id, state.maintenance.now()).await?;
    refreshed(&state).await;
    Ok(Json(view(&window)).into_response())
}

async fn render_notice(
    State(state): State<Arc<AdminState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> AdminResult {
    authorize(&state, &headers)?;
    let window = state
        .db
        .window(id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no maintenance window {id}")))?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        notice::render(&window, &state.notice),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_in_constant_time_and_exactly() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
    }

    #[test]
    fn operator_input_becomes_a_window() {
        let now: Timestamp = "2024-05-01T00:00:00Z".parse().expect("ts");
        let req = WindowRequest {
            from: Some("2024-05-31 19:00".into()),
            to: Some("2024-06-01 05:00".into()),
            ..Default::default()
        };
        let w = new_window(&req, now, false).expect("window");
        assert_eq!(w.starts_at.to_string(), "2024-06-01T00:00:00Z");
        assert_eq!(
            w.ends_at.map(|t| t.to_string()).as_deref(),
            Some("2024-06-01T10:00:00Z")
        );
        assert_eq!((w.kind, w.mode), (Kind::Scheduled, Mode::Maintenance));

        let backwards = WindowRequest {
            from: Some("2024-06-01 05:00".into()),
            to: Some("2024-05-31 19:00".into()),
            ..Default::default()
        };
        assert!(new_window(&backwards, now, false).is_err());
        let bad_percent = WindowRequest {
            mode: Some("intermittent".into()),
            refuse_percent: Some(0),
            ..Default::default()
        };
        assert!(new_window(&bad_percent, now, true).is_err());
        let drill = new_window(
            &WindowRequest {
                mode: Some("intermittent".into()),
                ..Default::default()
            },
            now,
            true,
        )
        .expect("drill");
        assert_eq!(
            (drill.kind, drill.refuse_percent, drill.ends_at),
            (Kind::Unplanned, 50, None)
        );
    }
}
