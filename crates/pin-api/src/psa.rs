//! The IPFS Pinning Service API v1.0.0 (`/pins`), over a [`PinStore`](pin_core::PinStore).
//!
//! A pin's `requestid` is its CID in canonical CIDv1 form: Pindex keys pins by CID, so one CID is one pin
//! request. Pins whose status is `unpinned` do not exist for this API.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pin_core::interchange::DEFAULT_TIER;
use pin_core::report::rfc3339;
use pin_core::{
    Cid, Event, EventBatch, EventKind, ListOrder, MAX_META_KEYS, MAX_NAME_BYTES, NameMatch, Pin, PinFilter, PinQuery,
    PinStatus, PinView, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::config::{MAX_CID_FILTER, MAX_LIMIT, MAX_MULTIADDRS, is_p2p_multiaddr};
use crate::error::ApiError;
use crate::state::ApiState;

/// The statuses the spec knows (`unpinned` is not one of them).
const SPEC_STATUSES: [PinStatus; 4] = [
    PinStatus::Queued,
    PinStatus::Pinning,
    PinStatus::Pinned,
    PinStatus::Failed,
];
const DEFAULT_LIMIT: usize = 10;

/// `PinStatus` of the spec.
#[derive(Debug, Serialize)]
pub(crate) struct PinStatusJson {
    requestid: String,
    status: PinStatus,
    created: String,
    pin: PinJson,
    delegates: Vec<String>,
    info: BTreeMap<String, String>,
}

/// `Pin` of the spec.
#[derive(Debug, Serialize)]
struct PinJson {
    cid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    origins: Option<Vec<String>>,
    meta: BTreeMap<String, String>,
}

/// `PinResults` of the spec.
#[derive(Debug, Serialize)]
pub(crate) struct PinResults {
    count: u64,
    results: Vec<PinStatusJson>,
}

/// The request body of `POST /pins` and `POST /pins/{requestid}`.
#[derive(Debug, Deserialize)]
pub(crate) struct PinBody {
    cid: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    origins: Option<Vec<String>>,
    #[serde(default)]
    meta: Option<BTreeMap<String, String>>,
}

fn status_json(state: &ApiState, view: &PinView, origins: Option<Vec<String>>) -> PinStatusJson {
    let p = &view.pin;
    let mut info = BTreeMap::new();
    info.insert("tier".to_owned(), p.primary_tier.as_str().to_owned());
    info.insert("size_bytes".to_owned(), p.size_bytes.to_string());
    if let Some(r) = &p.status_reason {
        info.insert("status_details".to_owned(), r.clone());
    }
    PinStatusJson {
        requestid: p.cid.to_v1_string(),
        status: p.status,
        created: rfc3339(p.created_at),
        pin: PinJson {
            cid: p.cid.as_str().to_owned(),
            name: p.name.clone(),
            origins,
            meta: p.meta.clone(),
        },
        delegates: state.config().delegates.clone(),
        info,
    }
}

/// Maps axum's JSON rejections to the spec's 400 (keeping 413 for bodies over the limit).
pub(crate) fn json_rejection(r: &JsonRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", r.body_text());
    }
    ApiError::bad_request(r.body_text())
}

pub(crate) fn query_rejection(r: &QueryRejection) -> ApiError {
    ApiError::bad_request(r.body_text())
}

/// An RFC 3339 instant in milliseconds, rounded down (`up`: rounded up, for a strict upper bound).
fn rfc3339_ms(field: &str, input: &str, up: bool) -> Result<Timestamp, ApiError> {
    let t = chrono::DateTime::parse_from_rfc3339(input.trim()).map_err(|e| {
        ApiError::bad_request(format!(
            "{field} {input:?} is not an RFC 3339 timestamp (e.g. 2020-07-27T17:32:28Z): {e}"
        ))
    })?;
    let sub_ms = t.timestamp_subsec_nanos() % 1_000_000 != 0;
    Ok(Timestamp(t.timestamp_millis() + i64::from(up && sub_ms)))
}

/// The filters of `GET /pins`, validated.
#[derive(Debug)]
struct ListParams {
    cids: Option<Vec<Cid>>,
    statuses: Vec<PinStatus>,
    limit: usize,
    /// Name, meta, before and after (status is handled per query).
    filter: PinFilter,
}

fn parse_list(pairs: &[(String, String)]) -> Result<ListParams, ApiError> {
    let mut cids = None;
    let mut name = None;
    let mut how = NameMatch::Exact;
    let mut statuses = vec![PinStatus::Pinned];
    let mut limit = DEFAULT_LIMIT;
    let mut filter = PinFilter::default();
    for (key, value) in pairs {
        match key.as_str() {
            "cid" => {
                let items: Vec<&str> = value.split(',').map(str::trim).collect();
                if items.len() > MAX_CID_FILTER {
                    return Err(ApiError::bad_request(format!(
                        "cid lists {} CIDs, at most {MAX_CID_FILTER} allowed",
                        items.len()
                    )));
                }
                let mut list: Vec<Cid> = Vec::with_capacity(items.len());
                for item in items {
                    if item.is_empty() {
                        return Err(ApiError::bad_request("cid has an empty item (cid=Qm1,Qm2,bafy3)"));
                    }
                    let c = Cid::parse(item).map_err(|e| ApiError::bad_request(e.to_string()))?;
                    if !list.contains(&c) {
                        list.push(c);
                    }
                }
                cids = Some(list);
            }
            "name" => {
                if value.chars().count() > MAX_NAME_BYTES {
                    return Err(ApiError::bad_request(format!(
                        "name has {} characters, at most {MAX_NAME_BYTES} allowed",
                        value.chars().count()
                    )));
                }
                name = Some(value.clone());
            }
            "match" => {
                how = match value.as_str() {
                    "exact" => NameMatch::Exact,
                    "iexact" => NameMatch::IExact,
                    "partial" => NameMatch::Partial,
                    "ipartial" => NameMatch::IPartial,
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "match {other:?} is not one of exact, iexact, partial, ipartial"
                        )));
                    }
                };
            }
            "status" => {
                let mut list = Vec::new();
                for item in value.split(',').map(str::trim) {
                    let s = SPEC_STATUSES.into_iter().find(|s| s.as_str() == item).ok_or_else(|| {
                        ApiError::bad_request(format!("status {item:?} is not one of queued, pinning, pinned, failed"))
                    })?;
                    if !list.contains(&s) {
                        list.push(s);
                    }
                }
                statuses = list;
            }
            "before" => filter.created_before = Some(rfc3339_ms("before", value, true)?),
            "after" => filter.created_after = Some(rfc3339_ms("after", value, false)?),
            "limit" => {
                limit = value
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!("limit {value:?} is not a whole number from 1 to {MAX_LIMIT}"))
                    })?;
            }
            "meta" => filter.meta = parse_meta_filter(value)?,
            // Unknown parameters are ignored, as HTTP APIs usually do; the spec lists no others.
            _ => {}
        }
    }
    filter.name = name.map(|n| (n, how));
    Ok(ListParams {
        cids,
        statuses,
        limit,
        filter,
    })
}

fn parse_meta_filter(value: &str) -> Result<Vec<(String, String)>, ApiError> {
    let m: BTreeMap<String, String> = serde_json::from_str(value).map_err(|e| {
        ApiError::bad_request(format!(
            "meta {value:?} is not a JSON object of strings (e.g. {{\"app_id\":\"99\"}}): {e}"
        ))
    })?;
    if m.len() > MAX_META_KEYS {
        return Err(ApiError::bad_request(format!(
            "meta has {} keys, at most {MAX_META_KEYS} allowed",
            m.len()
        )));
    }
    Ok(m.into_iter().collect())
}

/// Newest first, ties by ascending key: the order of [`ListOrder::NewestFirst`].
fn sort_newest_first(views: &mut [PinView]) {
    views.sort_by(|a, b| {
        b.pin
            .created_at
            .cmp(&a.pin.created_at)
            .then_with(|| a.pin.cid.key().cmp(b.pin.cid.key()))
    });
}

/// The first `limit` of `sorted`, ending before a group of equal `created` that the page would cut in two
/// (unless the group fills the whole page), so a client paging with `before = created of the last result`
/// sees every pin once.
fn page_of(mut sorted: Vec<PinView>, limit: usize) -> Vec<PinView> {
    if sorted.len() <= limit {
        return sorted;
    }
    let cut = sorted[limit - 1].pin.created_at;
    let split = sorted[limit].pin.created_at == cut;
    sorted.truncate(limit);
    if split
        && let Some(first) = sorted.iter().position(|v| v.pin.created_at == cut)
        && first > 0
    {
        sorted.truncate(first);
    }
    sorted
}

/// `GET /pins`.
pub(crate) async fn list(
    State(state): State<ApiState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<PinResults>, ApiError> {
    let Query(pairs) = query.map_err(|r| query_rejection(&r))?;
    let p = parse_list(&pairs)?;
    let store = state.store();
    let (count, sorted) = match &p.cids {
        Some(cids) => {
            let mut found = Vec::new();
            for cid in cids {
                if let Some(v) = store.get(cid).await?
                    && p.statuses.contains(&v.pin.status)
                    && p.filter.matches(&v)
                {
                    found.push(v);
                }
            }
            sort_newest_first(&mut found);
            (found.len() as u64, found)
        }
        None => {
            let mut merged = Vec::new();
            for s in &p.statuses {
                let page = store
                    .list(&PinQuery {
                        filter: PinFilter {
                            status: Some(*s),
                            ..p.filter.clone()
                        },
                        after: None,
                        limit: p.limit + 1,
                        order: ListOrder::NewestFirst,
                    })
                    .await?;
                merged.extend(page.pins);
            }
            sort_newest_first(&mut merged);
            merged.truncate(p.limit + 1);
            (count_matches(&state, &p).await?, merged)
        }
    };
    let results = page_of(sorted, p.limit)
        .iter()
        .map(|v| status_json(&state, v, None))
        .collect();
    Ok(Json(PinResults { count, results }))
}

/// The number of pins that match every filter: from the O(1) metrics when only `status` is given, else by
/// one pass over the pins in key order.
async fn count_matches(state: &ApiState, p: &ListParams) -> pin_core::Result<u64> {
    let store = state.store();
    if p.filter == PinFilter::default() {
        let m = store.metrics().await?;
        return Ok(p.statuses.iter().map(|s| m.statuses.get(s).copied().unwrap_or(0)).sum());
    }
    let mut n = 0u64;
    let mut query = PinQuery {
        filter: p.filter.clone(),
        limit: 1000,
        ..PinQuery::default()
    };
    loop {
        let page = store.list(&query).await?;
        n += page.pins.iter().filter(|v| p.statuses.contains(&v.pin.status)).count() as u64;
        match page.next {
            Some(c) => query.after = Some(c),
            None => return Ok(n),
        }
    }
}

/// A pin request, validated.
struct Request {
    cid: Cid,
    name: Option<String>,
    origins: Vec<String>,
    meta: BTreeMap<String, String>,
}

fn validate(body: PinBody) -> Result<Request, ApiError> {
    let cid = Cid::parse(&body.cid).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if let Some(n) = &body.name
        && n.len() > MAX_NAME_BYTES
    {
        return Err(ApiError::bad_request(format!(
            "name is {} bytes of UTF-8, at most {MAX_NAME_BYTES} allowed",
            n.len()
        )));
    }
    let origins = body.origins.unwrap_or_default();
    if origins.len() > MAX_MULTIADDRS {
        return Err(ApiError::bad_request(format!(
            "origins lists {} multiaddrs, at most {MAX_MULTIADDRS} allowed",
            origins.len()
        )));
    }
    for (i, o) in origins.iter().enumerate() {
        if !is_p2p_multiaddr(o) {
            return Err(ApiError::bad_request(format!(
                "origin {o:?} is not a multiaddr ending in /p2p/<peer id>"
            )));
        }
        if origins[..i].contains(o) {
            return Err(ApiError::bad_request(format!("origin {o:?} is listed twice")));
        }
    }
    let meta = body.meta.unwrap_or_default();
    if meta.len() > MAX_META_KEYS {
        return Err(ApiError::bad_request(format!(
            "meta has {} keys, at most {MAX_META_KEYS} allowed",
            meta.len()
        )));
    }
    if meta.keys().any(String::is_empty) {
        return Err(ApiError::bad_request("meta has an empty key"));
    }
    Ok(Request {
        cid,
        name: body.name,
        origins,
        meta,
    })
}

/// Whether the CID's multihash is the identity hash: the CID carries its content, so it is pinned at once.
fn is_identity(cid: &Cid) -> bool {
    cid::Cid::try_from(cid.key()).is_ok_and(|c| c.hash().code() == 0x00)
}

fn live(view: Option<PinView>) -> Option<PinView> {
    view.filter(|v| v.pin.status != PinStatus::Unpinned)
}

/// Records `req` (after unpinning `replaces`, in the same batch) and answers its `PinStatus`.
async fn record(state: &ApiState, req: Request, replaces: Option<&Cid>) -> Result<Response, ApiError> {
    let store = state.store();
    let created = state.next_created().await?;
    let at = created.at;
    let existing = live(store.get(&req.cid).await?);
    let mut pin = match &existing {
        Some(v) => v.pin.clone(),
        None => Pin::new(req.cid.clone(), DEFAULT_TIER, at),
    };
    pin.status = if is_identity(&req.cid) {
        PinStatus::Pinned
    } else {
        match existing.as_ref().map(|v| v.pin.status) {
            // A pin on its way or done stays where it is; a failed one is queued again.
            Some(s @ (PinStatus::Queued | PinStatus::Pinning | PinStatus::Pinned)) => s,
            _ => PinStatus::Queued,
        }
    };
    if pin.status == PinStatus::Queued {
        pin.status_reason = None;
    }
    pin.name = req.name;
    pin.meta = req.meta;
    let mut events = Vec::with_capacity(2);
    if let Some(old) = replaces {
        events.push(Event {
            ts: at,
            kind: EventKind::Unpin { cid: old.clone() },
        });
    }
    events.push(Event {
        ts: at,
        kind: EventKind::Upsert(Box::new(pin)),
    });
    store.apply(EventBatch::new(events)).await?;
    created.commit();
    let view = live(store.get(&req.cid).await?).ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_SERVER_ERROR",
            format!("{} was recorded but the store does not show it", req.cid),
        )
    })?;
    let origins = Some(req.origins);
    Ok((StatusCode::ACCEPTED, Json(status_json(state, &view, origins))).into_response())
}

/// `POST /pins`.
pub(crate) async fn add(
    State(state): State<ApiState>,
    body: Result<Json<PinBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|r| json_rejection(&r))?;
    record(&state, validate(body)?, None).await
}

/// The live pin a `requestid` names, or 404.
async fn lookup(state: &ApiState, requestid: &str) -> Result<PinView, ApiError> {
    let cid = Cid::parse(requestid).map_err(|e| ApiError::not_found(format!("no pin request {requestid:?}: {e}")))?;
    live(state.store().get(&cid).await?).ok_or_else(|| ApiError::not_found(format!("no pin request {requestid:?}")))
}

/// `GET /pins/{requestid}`.
pub(crate) async fn get_one(
    State(state): State<ApiState>,
    Path(requestid): Path<String>,
) -> Result<Json<PinStatusJson>, ApiError> {
    let view = lookup(&state, &requestid).await?;
    Ok(Json(status_json(&state, &view, None)))
}

/// `POST /pins/{requestid}`: replace. The old pin is unpinned in the same batch when the CID changes.
pub(crate) async fn replace(
    State(state): State<ApiState>,
    Path(requestid): Path<String>,
    body: Result<Json<PinBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let old = lookup(&state, &requestid).await?;
    let Json(body) = body.map_err(|r| json_rejection(&r))?;
    let req = validate(body)?;
    let replaces = (req.cid != old.pin.cid).then_some(&old.pin.cid);
    record(&state, req, replaces).await
}

/// `DELETE /pins/{requestid}`.
pub(crate) async fn remove(
    State(state): State<ApiState>,
    Path(requestid): Path<String>,
) -> Result<StatusCode, ApiError> {
    let view = lookup(&state, &requestid).await?;
    let event = Event {
        ts: state.now(),
        kind: EventKind::Unpin { cid: view.pin.cid },
    };
    state.store().apply(EventBatch::new(vec![event])).await?;
    Ok(StatusCode::ACCEPTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn before_rounds_up_and_after_rounds_down() {
        assert_eq!(
            rfc3339_ms("b", "1970-01-01T00:00:00.0015Z", true).ok(),
            Some(Timestamp(2))
        );
        assert_eq!(
            rfc3339_ms("a", "1970-01-01T00:00:00.0015Z", false).ok(),
            Some(Timestamp(1))
        );
        assert_eq!(
            rfc3339_ms("b", "1970-01-01T00:00:00.002Z", true).ok(),
            Some(Timestamp(2))
        );
    }

    #[test]
    fn defaults_are_the_spec_ones() {
        let p = parse_list(&[]).unwrap_or_else(|e| panic!("{}", e.details));
        assert_eq!(p.statuses, vec![PinStatus::Pinned]);
        assert_eq!(p.limit, 10);
        assert!(p.cids.is_none());
        let bad = parse_list(&pairs(&[("status", "pinned,unpinned")]))
            .err()
            .map(|e| e.details);
        assert!(bad.is_some_and(|d| d.contains("\"unpinned\"")));
    }
}
