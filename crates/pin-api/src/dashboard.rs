//! `GET /`: the dashboard, one self-contained HTML page (inline CSS, SVG charts drawn here, no script, no
//! external resource) that reloads itself.
//!
//! Totals come from [`PinStore::metrics`](pin_core::PinStore::metrics) on each request (O(1)); charts and
//! tables come from the latest background [`Reports`]. Key numbers carry stable `id`s and `data-*`
//! attributes with raw values (bytes in bytes, instants in epoch milliseconds) for tests and scrapers.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use pin_core::report::{MountIoRow, OpRow, TopPin, human_bytes, rfc3339};
use pin_core::{Metrics, Timestamp, VfsTotals};

use crate::error::ApiError;
use crate::reports::{HourCount, Reports, SeriesPoint};
use crate::state::{ApiState, ReportStatus};

/// `GET /`.
pub(crate) async fn page(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let m = state.store().metrics().await?;
    let status = state.report_status();
    let html = render(&m, &status, &state);
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response())
}

/// Escapes text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A latency in microseconds with a readable unit: `850 µs`, `12.5 ms`, `3.20 s`.
fn human_us(us: f64) -> String {
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else if us < 1_000_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1_000_000.0)
    }
}

/// A share as a percentage with two decimals, rounded down so that any failure shows below 100%.
fn percent_floor(share: f64) -> String {
    format!("{:.2}%", (share * 10_000.0).floor() / 100.0)
}

/// `YYYY-MM-DD HH:MM` UTC, for axis labels.
fn short(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(t.0)
        .map_or_else(|| t.0.to_string(), |d| d.format("%Y-%m-%d %H:%M").to_string())
}

const STYLE: &str = "
:root{--fg:#1d2430;--muted:#5d6b7e;--bg:#f5f7fa;--card:#fff;--line:#dfe4ea;--a:#2f6fdf;--b:#e0862d}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;gap:1.5rem;align-items:baseline;padding:.9rem 1.5rem;background:#1d2430;color:#fff}
header h1{margin:0;font-size:1.3rem}header span{color:#c5cfdb;font-size:.85rem}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:1rem;padding:1rem 1.5rem}
section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.8rem 1rem;overflow:hidden}
section.wide{grid-column:1/-1}h2{font-size:1rem;margin:0 0 .6rem}
.cards{display:flex;flex-wrap:wrap;gap:1rem}.card{flex:1 1 150px;min-width:140px}
.card .label{color:var(--muted);font-size:.8rem;text-transform:uppercase;letter-spacing:.04em}.card .value{font-size:1.6rem;font-weight:600}
.card .sub{color:var(--muted);font-size:.8rem}
table{border-collapse:collapse;width:100%;font-size:.85rem}th,td{text-align:left;padding:.25rem .3rem;border-bottom:1px solid var(--line);white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}td.cid{font-family:ui-monospace,monospace;font-size:.78rem;max-width:7rem;overflow:hidden;text-overflow:ellipsis}
td.name,td.path{max-width:7rem;overflow:hidden;text-overflow:ellipsis}
.muted{color:var(--muted)}.warn{color:#b3261e}svg{width:100%;height:auto;display:block}
svg text{font:11px system-ui,sans-serif;fill:var(--muted)}.legend span{display:inline-block;margin-right:1rem;font-size:.8rem}
.sw{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;vertical-align:middle;margin-right:.3rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:.2rem 1rem;margin:0}dt{color:var(--muted)}dd{margin:0;font-variant-numeric:tabular-nums}
footer{padding:0 1.5rem 1rem;color:var(--muted);font-size:.8rem}
.pair{display:flex;flex-wrap:wrap;gap:0 2rem}.pair>div{flex:1 1 auto}h3{font-size:.85rem;margin:.2rem 0 .3rem;color:var(--muted)}
main{container-type:inline-size}
@container (min-width:1172px) and (max-width:1567.9px){section.span2{grid-column:span 2}}
";

fn render(m: &Metrics, status: &ReportStatus, state: &ApiState) -> String {
    let cfg = state.config();
    let refresh = cfg.dashboard_refresh.as_secs().max(1);
    let mut h = String::with_capacity(32 * 1024);
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{refresh}\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>Pindex dashboard</title><style>{STYLE}</style></head><body>"
    );
    let reports = status.latest.as_deref();
    let _ = write!(
        h,
        "<header><h1>Pindex</h1><span>totals as of <time id=\"as-of\" datetime=\"{}\" data-ms=\"{}\">{}</time></span>",
        rfc3339(m.as_of),
        m.as_of.0,
        short(m.as_of)
    );
    match reports {
        Some(r) => {
            let _ = write!(
                h,
                "<span>reports as of <time id=\"reports-as-of\" datetime=\"{}\" data-ms=\"{}\">{}</time></span>",
                rfc3339(r.as_of),
                r.as_of.0,
                short(r.as_of)
            );
        }
        None => h.push_str("<span id=\"reports-as-of\" data-ms=\"\">reports: first pass running</span>"),
    }
    if let Some(e) = &status.last_error {
        let _ = write!(
            h,
            "<span class=\"warn\" id=\"reports-error\">last report pass failed: {}</span>",
            esc(e)
        );
    }
    h.push_str("</header><main>");
    totals(&mut h, m);
    tiers(&mut h, m);
    statuses(&mut h, m);
    match reports {
        Some(r) => {
            pins_over_time(&mut h, &r.dashboard.pins_over_time);
            accesses_per_hour(&mut h, &r.dashboard.accesses_per_hour, r.dashboard.accesses_truncated);
            top_table(&mut h, "hottest-pins", "Hottest pins", &r.dashboard.hottest);
            top_table(&mut h, "largest-pins", "Largest pins", &r.dashboard.largest);
            recent_vfs(&mut h, r);
        }
        None => {
            for title in [
                "Pins and bytes over time",
                "Accesses per hour, last 24 hours",
                "Hottest pins",
                "Recent VFS activity",
            ] {
                pending(&mut h, title);
            }
        }
    }
    // From the store's metrics, so shown before the first pass too.
    vfs_operations(&mut h, &m.vfs_last_day);
    match reports {
        Some(r) => plan(&mut h, r),
        None => pending(&mut h, "Current plan"),
    }
    let _ = write!(
        h,
        "</main><footer>This page reloads every {refresh} s. Totals are maintained by the store as it writes; \
         charts and tables come from a background pass every {} s{}.</footer></body></html>",
        cfg.report_interval.as_secs(),
        status
            .last_duration
            .map(|d| format!(" (the last took {:.1} s)", d.as_secs_f64()))
            .unwrap_or_default()
    );
    h
}

/// A panel whose report the first pass has not computed yet.
fn pending(h: &mut String, title: &str) {
    let _ = write!(
        h,
        "<section><h2>{title}</h2><p class=\"muted\">The first pass over the store is still running; \
         this page reloads by itself.</p></section>"
    );
}

fn card(h: &mut String, id: &str, label: &str, value: u64, shown: &str, sub: &str) {
    let _ = write!(
        h,
        "<div class=\"card\"><div class=\"label\">{label}</div><div class=\"value\" id=\"{id}\" data-value=\"{value}\">{shown}</div>\
         <div class=\"sub\">{sub}</div></div>"
    );
}

fn totals(h: &mut String, m: &Metrics) {
    h.push_str("<section class=\"wide\"><div class=\"cards\">");
    card(
        h,
        "total-pins",
        "Pins",
        m.total_pins,
        &m.total_pins.to_string(),
        "not unpinned",
    );
    card(
        h,
        "total-bytes",
        "Bytes",
        m.total_size_bytes,
        &human_bytes(m.total_size_bytes),
        &format!("{} bytes", m.total_size_bytes),
    );
    card(
        h,
        "total-accesses",
        "Accesses",
        m.total_accesses,
        &m.total_accesses.to_string(),
        "recorded",
    );
    card(
        h,
        "accessed-last-hour",
        "Accessed, last hour",
        m.accessed_last_hour,
        &m.accessed_last_hour.to_string(),
        "distinct CIDs",
    );
    card(
        h,
        "accessed-last-day",
        "Accessed, last day",
        m.accessed_last_day,
        &m.accessed_last_day.to_string(),
        "distinct CIDs",
    );
    h.push_str("</div></section>");
}

fn tiers(h: &mut String, m: &Metrics) {
    let max = m.tiers.values().map(|t| t.size_bytes).max().unwrap_or(0).max(1);
    let rows = m.tiers.len();
    let height = rows * 24 + 4;
    h.push_str("<section><h2>Tier distribution</h2>");
    let _ = write!(
        h,
        "<svg id=\"tier-chart\" viewBox=\"0 0 420 {height}\" role=\"img\" aria-label=\"bytes per tier\">"
    );
    for (i, (tier, t)) in m.tiers.iter().enumerate() {
        let y = i * 24 + 2;
        let w = (t.size_bytes as f64 / max as f64 * 200.0).max(if t.size_bytes > 0 { 1.0 } else { 0.0 });
        let _ = write!(
            h,
            "<text x=\"0\" y=\"{}\">{}</text><rect x=\"60\" y=\"{y}\" width=\"{w:.1}\" height=\"18\" rx=\"3\" fill=\"#2f6fdf\" \
             data-tier=\"{}\" data-bytes=\"{}\"><title>{}: {} pins, {}</title></rect><text x=\"{:.1}\" y=\"{}\">{} · {} pins</text>",
            y + 13,
            tier.as_str(),
            tier.as_str(),
            t.size_bytes,
            tier.as_str(),
            t.pins,
            human_bytes(t.size_bytes),
            66.0 + w,
            y + 13,
            human_bytes(t.size_bytes),
            t.pins
        );
    }
    h.push_str(
        "</svg><table id=\"tiers\"><tr><th>tier</th><th class=\"num\">pins</th><th class=\"num\">bytes</th></tr>",
    );
    for (tier, t) in &m.tiers {
        let _ = write!(
            h,
            "<tr data-tier=\"{0}\"><td>{0}</td><td class=\"num\" data-pins=\"{1}\">{1}</td><td class=\"num\" data-bytes=\"{2}\">{3}</td></tr>",
            tier.as_str(),
            t.pins,
            t.size_bytes,
            human_bytes(t.size_bytes)
        );
    }
    h.push_str("</table></section>");
}

fn statuses(h: &mut String, m: &Metrics) {
    h.push_str(
        "<section><h2>Pins by status</h2><table id=\"statuses\"><tr><th>status</th><th class=\"num\">pins</th></tr>",
    );
    for (s, n) in &m.statuses {
        let _ = write!(
            h,
            "<tr data-status=\"{0}\"><td>{0}</td><td class=\"num\" data-pins=\"{1}\">{1}</td></tr>",
            s.as_str(),
            n
        );
    }
    h.push_str("</table></section>");
}

/// A polyline through `values` scaled to `[0, max]`, in a 560×140 plot area offset by (30, 10).
fn polyline(values: &[u64], color: &str, id: &str) -> String {
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let n = values.len().max(2) - 1;
    let pts: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = 30.0 + 560.0 * i as f64 / n as f64;
            let y = 150.0 - 140.0 * (*v as f64) / max;
            format!("{x:.1},{y:.1}")
        })
        .collect();
    format!(
        "<polyline id=\"{id}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
        pts.join(" ")
    )
}

fn pins_over_time(h: &mut String, series: &[SeriesPoint]) {
    h.push_str("<section><h2>Pins and bytes over time</h2>");
    let (Some(first), Some(last)) = (series.first(), series.last()) else {
        h.push_str("<p class=\"muted\" id=\"pins-over-time\" data-points=\"0\">No pins yet.</p></section>");
        return;
    };
    let pins: Vec<u64> = series.iter().map(|p| p.pins).collect();
    let bytes: Vec<u64> = series.iter().map(|p| p.bytes).collect();
    let max_pins = pins.iter().copied().max().unwrap_or(0);
    let max_bytes = bytes.iter().copied().max().unwrap_or(0);
    let _ = write!(
        h,
        "<svg id=\"pins-over-time\" viewBox=\"0 0 600 180\" role=\"img\" aria-label=\"live pins and bytes over time\" \
         data-points=\"{}\" data-last-pins=\"{}\" data-last-bytes=\"{}\">\
         <line x1=\"30\" y1=\"150\" x2=\"590\" y2=\"150\" stroke=\"#dfe4ea\"/>{}{}\
         <text x=\"30\" y=\"168\">{}</text><text x=\"590\" y=\"168\" text-anchor=\"end\">{}</text>\
         <text x=\"32\" y=\"12\">{} pins · {}</text></svg>",
        series.len(),
        last.pins,
        last.bytes,
        polyline(&pins, "#2f6fdf", "pins-line"),
        polyline(&bytes, "#e0862d", "bytes-line"),
        short(first.at),
        short(last.at),
        max_pins,
        human_bytes(max_bytes)
    );
    let _ = write!(
        h,
        "<div class=\"legend\"><span><i class=\"sw\" style=\"background:#2f6fdf\"></i>pins (now {})</span>\
         <span><i class=\"sw\" style=\"background:#e0862d\"></i>bytes (now {})</span><span class=\"muted\">each scaled to its own maximum</span></div></section>",
        last.pins,
        human_bytes(last.bytes)
    );
}

fn accesses_per_hour(h: &mut String, hours: &[HourCount], truncated: bool) {
    let total: u64 = hours.iter().map(|c| c.accesses).sum();
    let max = hours.iter().map(|c| c.accesses).max().unwrap_or(0).max(1) as f64;
    let _ = write!(
        h,
        "<section><h2>Accesses per hour, last 24 hours</h2><svg id=\"accesses-per-hour\" viewBox=\"0 0 600 180\" role=\"img\" \
         aria-label=\"accesses per hour\" data-total=\"{total}\" data-truncated=\"{truncated}\">\
         <line x1=\"30\" y1=\"150\" x2=\"590\" y2=\"150\" stroke=\"#dfe4ea\"/>"
    );
    let slot = 560.0 / hours.len().max(1) as f64;
    for (i, c) in hours.iter().enumerate() {
        let bh = 140.0 * c.accesses as f64 / max;
        let x = 30.0 + slot * i as f64 + 1.0;
        let _ = write!(
            h,
            "<rect class=\"hour\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"#2f6fdf\" data-start=\"{}\" data-count=\"{}\">\
             <title>{}: {} accesses</title></rect>",
            150.0 - bh,
            (slot - 2.0).max(1.0),
            c.start.0,
            c.accesses,
            short(c.start),
            c.accesses
        );
    }
    if let (Some(first), Some(last)) = (hours.first(), hours.last()) {
        let _ = write!(
            h,
            "<text x=\"30\" y=\"168\">{}</text><text x=\"590\" y=\"168\" text-anchor=\"end\">{}</text>\
             <text x=\"32\" y=\"12\">peak {} per hour</text>",
            short(first.start),
            short(last.start),
            max as u64
        );
    }
    let _ = write!(
        h,
        "</svg><p class=\"muted\"><span id=\"accesses-last-24h\" data-value=\"{total}\">{total}</span> accesses to pinned CIDs{}</p></section>",
        if truncated {
            " (at least; the pass stopped at its budget)"
        } else {
            ""
        }
    );
}

fn top_table(h: &mut String, id: &str, title: &str, pins: &[TopPin]) {
    let _ = write!(h, "<section><h2>{title}</h2>");
    if pins.is_empty() {
        let _ = write!(
            h,
            "<p class=\"muted\" id=\"{id}\" data-rows=\"0\">None yet.</p></section>"
        );
        return;
    }
    let _ = write!(
        h,
        "<table id=\"{id}\" data-rows=\"{}\"><tr><th>CID (name)</th><th>tier</th><th class=\"num\">size</th>\
         <th class=\"num\" title=\"accesses\">acc.</th><th class=\"num\">hotness</th></tr>",
        pins.len()
    );
    for p in pins {
        let _ = write!(
            h,
            "<tr data-cid=\"{0}\" data-size=\"{1}\" data-accesses=\"{2}\" data-hotness=\"{3:.6}\"><td class=\"cid\" title=\"{0} ({4})\">{0}</td>\
             <td>{5}</td><td class=\"num\">{6}</td><td class=\"num\">{2}</td><td class=\"num\">{3:.3}</td></tr>",
            esc(&p.cid),
            p.size_bytes,
            p.access_count,
            p.hotness,
            esc(p.name.as_deref().unwrap_or("-")),
            p.tier.as_str(),
            human_bytes(p.size_bytes)
        );
    }
    h.push_str("</table></section>");
}

fn recent_vfs(h: &mut String, r: &Reports) {
    let list = &r.dashboard.recent_vfs;
    let mounts = &r.vfs.mounts;
    h.push_str("<section><h2>Recent VFS activity</h2>");
    if !mounts.is_empty() {
        let _ = write!(
            h,
            "<table id=\"vfs-mounts\" data-rows=\"{}\"><tr><th>mount</th><th class=\"num\">pins</th><th class=\"num\">paths</th>\
             <th class=\"num\">bytes</th><th class=\"num\">accesses</th></tr>",
            mounts.len()
        );
        for m in mounts {
            let _ = write!(
                h,
                "<tr data-mount=\"{0}\" data-pins=\"{1}\" data-accesses=\"{4}\"><td>{0}</td><td class=\"num\">{1}</td><td class=\"num\">{2}</td>\
                 <td class=\"num\">{3}</td><td class=\"num\">{4}</td></tr>",
                esc(&m.mount),
                m.pins,
                m.paths,
                human_bytes(m.bytes),
                m.accesses
            );
        }
        h.push_str("</table>");
    }
    if list.is_empty() {
        h.push_str("<p class=\"muted\" id=\"recent-vfs\" data-rows=\"0\">No access through a VFS path in the last day.</p></section>");
        return;
    }
    let _ = write!(
        h,
        "<table id=\"recent-vfs\" data-rows=\"{}\"><tr><th>UTC</th><th>op</th><th>path</th><th class=\"num\">bytes</th><th>tier</th></tr>",
        list.len()
    );
    for a in list {
        let _ = write!(
            h,
            "<tr data-ts=\"{ms}\" data-path=\"{path}\"><td title=\"{full}\">{when}</td><td>{op}</td><td class=\"path\" title=\"{cid}\">{path}</td>\
             <td class=\"num\">{bytes}</td><td>{tier}</td></tr>",
            ms = a.ts.0,
            path = esc(&a.path),
            full = short(a.ts),
            when = chrono::DateTime::from_timestamp_millis(a.ts.0)
                .map_or_else(String::new, |d| d.format("%H:%M").to_string()),
            op = a.op.as_str(),
            cid = esc(&a.cid),
            bytes = a.bytes.map_or_else(|| "whole".to_owned(), human_bytes),
            tier = a.tier.map_or("-", |t| t.as_str())
        );
    }
    h.push_str("</table></section>");
}

/// VFS operations of the last day per kind, and the bytes of the successful reads and writes per mount
/// point, from the store's minute buckets.
fn vfs_operations(h: &mut String, totals: &VfsTotals) {
    let ops = OpRow::all(totals);
    let io = MountIoRow::all(totals);
    h.push_str("<section class=\"span2\"><h2>VFS operations, last 24 h</h2>");
    if ops.is_empty() {
        h.push_str(
            "<p class=\"muted\" id=\"vfs-ops\" data-rows=\"0\" data-count=\"0\" data-failed=\"0\">\
             No VFS operation in the last 24 hours.</p></section>",
        );
        return;
    }
    let count: u64 = ops.iter().map(|o| o.count).sum();
    let failed: u64 = ops.iter().map(|o| o.failed).sum();
    let _ = write!(
        h,
        "<div class=\"pair\"><div><h3>by kind, with latencies</h3><table id=\"vfs-ops\" data-rows=\"{}\" data-count=\"{count}\" data-failed=\"{failed}\">\
         <tr><th>op</th><th class=\"num\">count</th><th class=\"num\">failed</th><th class=\"num\">success</th>\
         <th class=\"num\" title=\"mean latency\">mean</th><th class=\"num\" title=\"largest latency\">max</th></tr>",
        ops.len()
    );
    for o in &ops {
        let raw = |v: Option<String>| v.unwrap_or_default();
        let shown = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
        let _ = write!(
            h,
            "<tr data-op=\"{op}\" data-count=\"{count}\" data-failed=\"{failed}\" data-success-rate=\"{rate}\" \
             data-mean-latency-us=\"{mean_raw}\" data-max-latency-us=\"{max_raw}\"><td>{op}</td><td class=\"num\">{count}</td>\
             <td class=\"num{warn}\">{failed}</td><td class=\"num\">{rate_shown}</td><td class=\"num\">{mean}</td><td class=\"num\">{max}</td></tr>",
            op = o.op,
            count = o.count,
            failed = o.failed,
            rate = o.success_rate,
            mean_raw = raw(o.mean_latency_us.map(|v| v.to_string())),
            max_raw = raw(o.max_latency_us.map(|v| v.to_string())),
            warn = if o.failed > 0 { " warn" } else { "" },
            rate_shown = percent_floor(o.success_rate),
            mean = shown(o.mean_latency_us.map(human_us)),
            max = shown(o.max_latency_us.map(|v| human_us(v as f64))),
        );
    }
    h.push_str("</table></div><div><h3>bytes per mount point</h3>");
    if io.is_empty() {
        h.push_str("<p class=\"muted\" id=\"vfs-io\" data-rows=\"0\">No successful read or write.</p>");
    } else {
        let _ = write!(
            h,
            "<table id=\"vfs-io\" data-rows=\"{}\"><tr><th>mount</th><th class=\"num\">reads</th><th class=\"num\">read</th>\
             <th class=\"num\">writes</th><th class=\"num\">written</th></tr>",
            io.len()
        );
        for m in &io {
            let _ = write!(
                h,
                "<tr data-mount=\"{mount}\" data-reads=\"{reads}\" data-bytes-read=\"{read}\" data-writes=\"{writes}\" \
                 data-bytes-written=\"{written}\"><td class=\"path\" title=\"{mount}\">{mount}</td><td class=\"num\">{reads}</td>\
                 <td class=\"num\" title=\"{read} bytes\">{read_shown}</td><td class=\"num\">{writes}</td>\
                 <td class=\"num\" title=\"{written} bytes\">{written_shown}</td></tr>",
                mount = esc(&m.mount),
                reads = m.reads,
                read = m.bytes_read,
                writes = m.writes,
                written = m.bytes_written,
                read_shown = human_bytes(m.bytes_read),
                written_shown = human_bytes(m.bytes_written),
            );
        }
        h.push_str("</table>");
    }
    let _ = write!(
        h,
        "</div></div><p class=\"muted\">{count} operations, {failed} failed, in the 1440 minutes up to now; \
         bytes are those of the successful reads and writes. Counted by the store as it writes.</p></section>"
    );
}

fn plan(h: &mut String, r: &Reports) {
    let p = &r.plan;
    let t = &p.totals;
    let reasons = if t.by_reason.is_empty() {
        "none".to_owned()
    } else {
        t.by_reason
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = write!(
        h,
        "<section class=\"wide\"><h2>Current plan</h2><dl id=\"plan-summary\" data-moves=\"{}\" data-bytes-moved=\"{}\" data-pins=\"{}\">\
         <dt>pins planned</dt><dd id=\"plan-pins\">{}</dd>\
         <dt>moves</dt><dd id=\"plan-moves\">{} ({})</dd>\
         <dt>bytes moved</dt><dd>{} of a budget of {}</dd>\
         <dt>deferred, locked</dt><dd>{} deferred, {} pins locked by hysteresis or residency</dd>\
         <dt>cost per month</dt><dd id=\"plan-cost\">${:.2} before, ${:.2} after</dd>\
         <dt>latency per expected access</dt><dd>{:.3} ms before, {:.3} ms after</dd></dl>",
        t.moves,
        t.bytes_moved,
        p.pins,
        p.pins,
        t.moves,
        reasons,
        human_bytes(t.bytes_moved),
        human_bytes(t.budget_bytes),
        t.deferred_moves,
        t.locked_pins,
        t.cost_per_month_before,
        t.cost_per_month_after,
        t.mean_latency_ms_before,
        t.mean_latency_ms_after
    );
    for w in &t.warnings {
        let _ = write!(h, "<p class=\"warn\">{}</p>", esc(w));
    }
    h.push_str(
        "<table id=\"plan-tiers\"><tr><th>tier</th><th class=\"num\">pins now</th><th class=\"num\">after</th>\
         <th class=\"num\">bytes now</th><th class=\"num\">after</th><th class=\"num\">capacity</th></tr>",
    );
    for row in &p.tiers {
        let _ = write!(
            h,
            "<tr data-tier=\"{0}\" data-pins-after=\"{2}\"><td>{0}</td><td class=\"num\">{1}</td><td class=\"num\">{2}</td>\
             <td class=\"num\">{3}</td><td class=\"num\">{4}</td><td class=\"num\">{5}</td></tr>",
            row.tier.as_str(),
            row.pins_before,
            row.pins_after,
            human_bytes(row.bytes_before),
            human_bytes(row.bytes_after),
            row.capacity().map_or_else(|| "unlimited".to_owned(), human_bytes)
        );
    }
    h.push_str("</table></section>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }

    #[test]
    fn latencies_and_shares_read_well() {
        assert_eq!(human_us(850.4), "850 µs");
        assert_eq!(human_us(12_500.0), "12.5 ms");
        assert_eq!(human_us(3_200_000.0), "3.20 s");
        assert_eq!(percent_floor(1.0), "100.00%");
        assert_eq!(percent_floor(2.0 / 3.0), "66.66%");
        assert_eq!(percent_floor(0.99999), "99.99%", "a failure never shows as 100%");
    }
}
