//! The Pindex JSON API under `/v1`, with the JSON field names of the command line, and `GET /metrics`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use pin_core::interchange::{parse_ndjson_line, parse_ts};
use pin_core::report::{MetricsReport, MountIoRow, MountSummary, OpRow, PinRecord, TopPin, TrackReport};
use pin_core::{ApplyOutcome, Cid, Cursor, Event, EventBatch, EventKind, NameMatch, PinFilter, PinQuery};
use serde::Serialize;

use crate::config::MAX_LIMIT;
use crate::error::ApiError;
use crate::psa::query_rejection;
use crate::reports::Reports;
use crate::state::ApiState;

/// Pins `GET /v1/pins` returns without `limit`.
const DEFAULT_PINS_LIMIT: usize = 100;
/// Accesses and history rows `GET /v1/pins/{cid}` returns without `recent`.
const DEFAULT_RECENT: usize = 20;
/// Bad lines `POST /v1/events` lists one by one; the rest are counted.
const MAX_REPORTED: usize = 100;

/// `GET /v1/metrics`: the object `pindex metrics --format json` prints, its top lists from the latest
/// background reports (empty until the first is computed).
pub(crate) async fn metrics(State(state): State<ApiState>) -> Result<Json<MetricsReport>, ApiError> {
    let m = state.store().metrics().await?;
    let reports = state.reports();
    let top = |f: fn(&Reports) -> &Vec<TopPin>| {
        reports
            .as_deref()
            .map(|r| f(r).iter().take(5).cloned().collect())
            .unwrap_or_default()
    };
    Ok(Json(MetricsReport::new(
        m,
        top(|r| &r.dashboard.largest),
        top(|r| &r.dashboard.hottest),
    )))
}

fn bad(field: &str, value: &str, expected: &str) -> ApiError {
    ApiError::bad_request(format!("{field} {value:?}: expected {expected}"))
}

fn parse_limit(field: &str, value: &str, max: usize) -> Result<usize, ApiError> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| bad(field, value, &format!("a whole number from 1 to {max}")))
}

/// `GET /v1/pins/{cid}`: the object `pindex track --format json` prints.
pub(crate) async fn pin(
    State(state): State<ApiState>,
    Path(cid): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(pairs) = query.map_err(|r| query_rejection(&r))?;
    let mut recent = DEFAULT_RECENT;
    for (k, v) in &pairs {
        if k == "recent" {
            recent = parse_limit("recent", v, MAX_LIMIT)?;
        }
    }
    let cid = Cid::parse(&cid).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let store = state.store();
    let view = store
        .get(&cid)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("{cid} is not pinned here")))?;
    let history = store.history(&cid, recent).await?;
    let accesses = store.accesses(&cid, recent).await?;
    Ok(Json(TrackReport::of(&view, &history, &accesses, state.now())).into_response())
}

/// `GET /v1/pins`.
#[derive(Debug, Serialize)]
pub(crate) struct PinsJson<'a> {
    pins: Vec<PinRecord<'a>>,
    /// Pass as `cursor` for the next page; `null` when this page is the last.
    next_cursor: Option<String>,
}

/// `GET /v1/pins`: key order, every filter of `pindex pins`, keyset cursors.
pub(crate) async fn pins(
    State(state): State<ApiState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(pairs) = query.map_err(|r| query_rejection(&r))?;
    let mut filter = PinFilter::default();
    let mut name = None;
    let mut how = NameMatch::Exact;
    let mut limit = DEFAULT_PINS_LIMIT;
    let mut after = None;
    let size = |field: &str, v: &str| {
        pin_tiers::parse_size(v).map_err(|e| bad(field, v, &format!("a size such as 4096, 10KiB or 1.5GB ({e})")))
    };
    for (k, v) in &pairs {
        match k.as_str() {
            "status" => {
                filter.status = Some(
                    v.parse()
                        .map_err(|e: pin_core::Error| ApiError::bad_request(e.to_string()))?,
                )
            }
            "tier" => {
                filter.tier = Some(
                    v.parse()
                        .map_err(|e: pin_core::Error| ApiError::bad_request(e.to_string()))?,
                )
            }
            "name" => name = Some(v.clone()),
            "match" => {
                how = match v.as_str() {
                    "exact" => NameMatch::Exact,
                    "iexact" => NameMatch::IExact,
                    "partial" => NameMatch::Partial,
                    "ipartial" => NameMatch::IPartial,
                    _ => return Err(bad("match", v, "exact, iexact, partial or ipartial")),
                }
            }
            "meta" => match v.split_once('=') {
                Some((key, value)) if !key.is_empty() => filter.meta.push((key.to_owned(), value.to_owned())),
                _ => return Err(bad("meta", v, "key=value (e.g. team=ml)")),
            },
            "before" => filter.created_before = Some(parse_ts(v).map_err(ApiError::bad_request)?),
            "after" => filter.created_after = Some(parse_ts(v).map_err(ApiError::bad_request)?),
            "min_size" => filter.min_size = Some(size("min_size", v)?),
            "max_size" => filter.max_size = Some(size("max_size", v)?),
            "limit" => limit = parse_limit("limit", v, MAX_LIMIT)?,
            "cursor" => after = Some(Cursor::parse(v).map_err(|e| ApiError::bad_request(e.to_string()))?),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {k:?}: expected status, tier, name, match, meta, before, after, min_size, max_size, limit or cursor"
                )));
            }
        }
    }
    filter.name = name.map(|n| (n, how));
    let page = state
        .store()
        .list(&PinQuery {
            filter,
            after,
            limit,
            ..PinQuery::default()
        })
        .await?;
    let now = state.now();
    Ok(Json(PinsJson {
        pins: page.pins.iter().map(|v| PinRecord::of(v, now)).collect(),
        next_cursor: page.next.map(|c| c.to_string()),
    })
    .into_response())
}

fn latest(state: &ApiState) -> Result<Arc<Reports>, ApiError> {
    state.reports().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "REPORTS_NOT_READY",
            "the first background pass over the store has not finished yet; retry shortly",
        )
    })
}

/// `GET /v1/vfs`: the object `pindex vfs --format json` prints, fields in its order.
#[derive(Debug, Serialize)]
struct VfsJson<'a> {
    /// From the latest reports.
    mounts: &'a [MountSummary],
    /// From the store's metrics at the request.
    operations_last_day: Vec<OpRow>,
    io_last_day: Vec<MountIoRow>,
}

/// `GET /v1/vfs`: mount points from the latest reports, operations of the last day from the store's O(1)
/// metrics at the request.
pub(crate) async fn vfs(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let r = latest(&state)?;
    let ops = state.store().metrics().await?.vfs_last_day;
    Ok(Json(VfsJson {
        mounts: &r.vfs.mounts,
        operations_last_day: OpRow::all(&ops),
        io_last_day: MountIoRow::all(&ops),
    })
    .into_response())
}

/// `GET /v1/analytics`, from the latest reports.
pub(crate) async fn analytics(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let r = latest(&state)?;
    Ok(Json(&r.analytics).into_response())
}

/// `GET /v1/plan`, from the latest reports.
pub(crate) async fn plan(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let r = latest(&state)?;
    Ok(Json(&r.plan).into_response())
}

/// What `POST /v1/events` did: the fields of `pindex ingest`'s report.
#[derive(Debug, Serialize)]
pub(crate) struct IngestJson {
    applied: u64,
    already_applied: u64,
    bad_lines: u64,
}

#[derive(Debug, Serialize)]
struct BadLine {
    line: u64,
    reason: String,
}

/// `POST /v1/events`: NDJSON interchange lines (docs/formats.md). Every line is checked first; if any is
/// bad, nothing is recorded (400 with the bad lines). Lines without `id` are then recorded as one batch;
/// a line with an `id` is a batch of its own with id `event:<id>`, skipped if applied before, as in
/// `pindex ingest`.
pub(crate) async fn events(
    State(state): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IngestJson>, ApiError> {
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", r.body_text())
        } else {
            ApiError::bad_request(r.body_text())
        }
    })?;
    let now = state.now();
    let mut parsed: Vec<(Event, Option<String>)> = Vec::new();
    let mut bad_lines = 0u64;
    let mut reported = Vec::new();
    for (i, raw) in body.split(|b| *b == b'\n').enumerate() {
        let line = i as u64 + 1;
        let result = match std::str::from_utf8(raw) {
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => parse_ndjson_line(text, now),
            Err(e) => Err(format!("not UTF-8 ({e})")),
        };
        match result {
            Ok(ev) => parsed.push(ev),
            Err(reason) => {
                bad_lines += 1;
                if reported.len() < MAX_REPORTED {
                    reported.push(BadLine { line, reason });
                }
            }
        }
    }
    if bad_lines > 0 {
        return Err(ApiError::bad_request(format!(
            "{bad_lines} bad lines; nothing was recorded (the first {} are listed)",
            reported.len()
        ))
        .with_extra(serde_json::json!({ "bad_lines": bad_lines, "lines": reported })));
    }
    let newest_pin = parsed
        .iter()
        .filter(|(e, _)| matches!(e.kind, EventKind::Upsert(_)))
        .map(|(e, _)| e.ts)
        .max();
    let store = state.store();
    let mut report = IngestJson {
        applied: 0,
        already_applied: 0,
        bad_lines: 0,
    };
    let mut run: Vec<Event> = Vec::new();
    let count = |outcome: ApplyOutcome, n: u64, r: &mut IngestJson| match outcome {
        ApplyOutcome::Applied { .. } => r.applied += n,
        ApplyOutcome::Duplicate => r.already_applied += n,
    };
    for (event, id) in parsed {
        match id {
            None => run.push(event),
            Some(id) => {
                if !run.is_empty() {
                    let n = run.len() as u64;
                    let o = store.apply(EventBatch::new(std::mem::take(&mut run))).await?;
                    count(o, n, &mut report);
                }
                let o = store
                    .apply(EventBatch::with_id(format!("event:{id}"), vec![event]))
                    .await?;
                count(o, 1, &mut report);
            }
        }
    }
    if !run.is_empty() {
        let n = run.len() as u64;
        let o = store.apply(EventBatch::new(run)).await?;
        count(o, n, &mut report);
    }
    if let Some(t) = newest_pin {
        state.saw_created(t).await;
    }
    Ok(Json(report))
}

/// `GET /metrics`: Prometheus text format.
pub(crate) async fn prometheus(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let m = state.store().metrics().await?;
    let as_of = state.reports().map(|r| r.as_of);
    let text = state.prom().encode(m, as_of).await.map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            "encoding the metrics failed",
        )
    })?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
