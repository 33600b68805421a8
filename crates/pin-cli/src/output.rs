//! Output formats: `table` for people, `json`, `ndjson` and `csv` for programs.
//!
//! Listings stream: rows are written as they come, never collected first. Reports (metrics, track,
//! status) are one serde struct each, printed as JSON directly and as `key,value` rows in CSV.

use std::io::Write;

use chrono::DateTime;
use clap::ValueEnum;
use pin_core::report::{PinRecord, human_bytes, rfc3339};
use pin_core::{PinView, Timestamp};
use serde::Serialize;

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns for people (the default when standard output is a terminal).
    Table,
    /// One JSON document (an array for listings).
    Json,
    /// One JSON object per line (the default when standard output is not a terminal).
    Ndjson,
    /// Comma-separated values with a header row.
    Csv,
}

/// Terminal styling, decided once from `--color` and whether the stream is a terminal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    pub(crate) color: bool,
}

impl Style {
    pub(crate) fn bold(self, s: &str) -> String {
        if self.color {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
    pub(crate) fn red(self, s: &str) -> String {
        if self.color {
            format!("\x1b[1;31m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
}

/// Shorter, for tables: `2026-11-25 11:30:00`.
pub(crate) fn short_time(t: Timestamp) -> String {
    DateTime::from_timestamp_millis(t.0).map_or_else(|| t.0.to_string(), |d| d.format("%Y-%m-%d %H:%M:%S").to_string())
}

/// CSV columns of a pin, in order.
pub(crate) const PIN_CSV_HEADER: &[&str] = &[
    "cid",
    "name",
    "pin_type",
    "status",
    "status_reason",
    "size_bytes",
    "tier",
    "tiers",
    "replication",
    "created_at",
    "updated_at",
    "mount",
    "vfs_paths",
    "meta",
    "expires_at",
    "access_count",
    "read_count",
    "bytes_read",
    "bytes_written",
    "first_access",
    "last_access",
    "hotness",
    "pattern",
];

enum Sink<W: Write> {
    Plain(W),
    Csv(Box<csv::Writer<W>>),
}

/// Writes pins one at a time in a given format.
pub(crate) struct PinWriter<W: Write> {
    sink: Sink<W>,
    format: Format,
    now: Timestamp,
    rows: u64,
    /// The buffer [`write`](Self::write) renders a JSON object in.
    scratch: Vec<u8>,
}

impl<W: Write> std::fmt::Debug for PinWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinWriter")
            .field("format", &self.format)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

const TABLE_WIDTHS: [usize; 8] = [59, 32, 8, 8, 10, 19, 9, 9];

impl<W: Write> PinWriter<W> {
    /// Starts a listing: writes the table header, the opening bracket or the CSV header.
    pub(crate) fn begin(mut out: W, format: Format, style: Style, now: Timestamp) -> anyhow::Result<Self> {
        let sink = match format {
            Format::Table => {
                let names = [
                    "CID", "NAME", "STATUS", "TIER", "SIZE", "CREATED", "ACCESSES", "HOTNESS",
                ];
                let line = table_line(&names.map(str::to_owned));
                writeln!(out, "{}", style.bold(&line))?;
                Sink::Plain(out)
            }
            Format::Json => {
                write!(out, "[")?;
                Sink::Plain(out)
            }
            Format::Ndjson => Sink::Plain(out),
            Format::Csv => {
                let mut w = csv::WriterBuilder::new().from_writer(out);
                w.write_record(PIN_CSV_HEADER)?;
                Sink::Csv(Box::new(w))
            }
        };
        Ok(Self {
            sink,
            format,
            now,
            rows: 0,
            scratch: Vec::new(),
        })
    }

    pub(crate) fn write(&mut self, v: &PinView) -> anyhow::Result<()> {
        if self.is_json() {
            let mut object = std::mem::take(&mut self.scratch);
            object.clear();
            render_json(v, self.now, &mut object)?;
            self.write_json(&object)?;
            self.scratch = object;
            return Ok(());
        }
        let r = PinRecord::of(v, self.now);
        match &mut self.sink {
            Sink::Csv(w) => w.write_record(pin_csv_row(&r)?)?,
            Sink::Plain(out) => {
                let cells = [
                    r.cid.to_owned(),
                    r.name.unwrap_or("-").to_owned(),
                    r.status.to_owned(),
                    r.tier.to_owned(),
                    human_bytes(r.size_bytes),
                    short_time(r.created_at),
                    r.stats.access_count.to_string(),
                    format!("{:.3}", r.stats.hotness),
                ];
                writeln!(out, "{}", table_line(&cells))?;
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Whether this listing's rows are JSON objects, which [`render_json`] renders on any thread for
    /// [`write_json`](Self::write_json).
    pub(crate) fn is_json(&self) -> bool {
        matches!(self.format, Format::Json | Format::Ndjson)
    }

    /// Writes one pin that [`render_json`] rendered (the listing [`is_json`](Self::is_json)).
    pub(crate) fn write_json(&mut self, object: &[u8]) -> anyhow::Result<()> {
        let Sink::Plain(out) = &mut self.sink else {
            anyhow::bail!("a {:?} listing takes no JSON rows", self.format);
        };
        if self.format == Format::Json {
            out.write_all(if self.rows == 0 { b"\n" } else { b",\n" })?;
            out.write_all(object)?;
        } else {
            out.write_all(object)?;
            out.write_all(b"\n")?;
        }
        self.rows += 1;
        Ok(())
    }

    /// Closes the document and flushes; returns the output.
    pub(crate) fn finish(self) -> anyhow::Result<W> {
        let mut out = match self.sink {
            Sink::Csv(w) => w
                .into_inner()
                .map_err(|e| anyhow::anyhow!("writing CSV: {}", e.error()))?,
            Sink::Plain(out) => out,
        };
        if self.format == Format::Json {
            out.write_all(if self.rows == 0 { b"]\n" } else { b"\n]\n" })?;
        }
        out.flush()?;
        Ok(out)
    }
}

/// Appends `v` as the JSON object that `--format json` and `ndjson` print, with hotness decayed to `now`.
pub(crate) fn render_json(v: &PinView, now: Timestamp, buf: &mut Vec<u8>) -> anyhow::Result<()> {
    serde_json::to_writer(buf, &PinRecord::of(v, now))?;
    Ok(())
}

fn table_line(cells: &[String; 8]) -> String {
    let mut line = String::with_capacity(170);
    for (i, (c, w)) in cells.iter().zip(TABLE_WIDTHS).enumerate() {
        let shown: String = if c.chars().count() > w {
            let mut s: String = c.chars().take(w - 1).collect();
            s.push('…');
            s
        } else {
            c.clone()
        };
        if i > 0 {
            line.push_str("  ");
        }
        // Numbers right-aligned.
        if matches!(i, 4 | 6 | 7) {
            line.push_str(&format!("{shown:>w$}"));
        } else if i == cells.len() - 1 {
            line.push_str(&shown);
        } else {
            line.push_str(&format!("{shown:<w$}"));
        }
    }
    line.trim_end().to_owned()
}

fn pin_csv_row(r: &PinRecord<'_>) -> anyhow::Result<Vec<String>> {
    let opt_ts = |t: Option<Timestamp>| t.map(rfc3339).unwrap_or_default();
    Ok(vec![
        r.cid.to_owned(),
        r.name.unwrap_or_default().to_owned(),
        r.pin_type.to_owned(),
        r.status.to_owned(),
        r.status_reason.unwrap_or_default().to_owned(),
        r.size_bytes.to_string(),
        r.tier.to_owned(),
        serde_json::to_string(r.tiers)?,
        r.replication.to_string(),
        rfc3339(r.created_at),
        rfc3339(r.updated_at),
        r.mount.unwrap_or_default().to_owned(),
        serde_json::to_string(r.vfs_paths)?,
        serde_json::to_string(r.meta)?,
        opt_ts(r.expires_at),
        r.stats.access_count.to_string(),
        r.stats.read_count.to_string(),
        r.stats.bytes_read.to_string(),
        r.stats.bytes_written.to_string(),
        opt_ts(r.stats.first_access),
        opt_ts(r.stats.last_access),
        r.stats.hotness.to_string(),
        r.stats.pattern.to_owned(),
    ])
}

/// Prints a report (an object) as JSON, NDJSON or `key,value` CSV; `table` is up to the caller.
pub(crate) fn write_report<T: Serialize>(out: &mut impl Write, format: Format, report: &T) -> anyhow::Result<()> {
    match format {
        Format::Json | Format::Table => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)?;
        }
        Format::Ndjson => {
            serde_json::to_writer(&mut *out, report)?;
            writeln!(out)?;
        }
        Format::Csv => {
            let mut rows = Vec::new();
            flatten("", &serde_json::to_value(report)?, &mut rows);
            let mut w = csv::Writer::from_writer(&mut *out);
            w.write_record(["key", "value"])?;
            for (k, v) in rows {
                w.write_record([k, v])?;
            }
            w.flush()?;
        }
    }
    Ok(())
}

/// `a.b.0.c`-style keys for every scalar in a JSON value.
fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                flatten(&key(k), v, out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                flatten(&key(&i.to_string()), v, out);
            }
        }
        serde_json::Value::Null => out.push((prefix.to_owned(), String::new())),
        serde_json::Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_flatten_to_key_value_rows() {
        let mut rows = Vec::new();
        flatten(
            "",
            &serde_json::json!({"a": {"b": 1, "c": [true, null]}, "d": "x"}),
            &mut rows,
        );
        let keys: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a.b", "a.c.0", "a.c.1", "d"]);
    }
}
