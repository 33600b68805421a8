//! Human units for sizes and durations, as the tier table and the command line write them.

use std::fmt;

use serde::Deserialize;

/// A size or duration as written in a file: a bare number or a string with a unit.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub(crate) enum Quantity {
    /// A bare integer.
    Int(i64),
    /// A bare float.
    Float(f64),
    /// Text with a unit, such as `"64 GiB"` or `"10m"`.
    Text(String),
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(n) => write!(f, "{n}"),
            Self::Float(x) => write!(f, "{x}"),
            Self::Text(s) => write!(f, "{s:?}"),
        }
    }
}

const SIZE_UNITS: &[(&str, f64)] = &[
    ("b", 1.0),
    ("kb", 1e3),
    ("mb", 1e6),
    ("gb", 1e9),
    ("tb", 1e12),
    ("pb", 1e15),
    ("kib", 1024.0),
    ("mib", 1_048_576.0),
    ("gib", 1_073_741_824.0),
    ("tib", 1_099_511_627_776.0),
    ("pib", 1_125_899_906_842_624.0),
];

const DURATION_UNITS: &[(&str, f64)] = &[
    ("ns", 1e-6),
    ("us", 1e-3),
    ("µs", 1e-3),
    ("ms", 1.0),
    ("s", 1e3),
    ("m", 60e3),
    ("min", 60e3),
    ("h", 3_600e3),
    ("d", 86_400e3),
    ("w", 604_800e3),
];

fn split_number(text: &str) -> Option<(f64, String)> {
    let t = text.trim();
    let end = t
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.' || *c == '_'))
        .map_or(t.len(), |(i, _)| i);
    let number: String = t[..end].chars().filter(|c| *c != '_').collect();
    let value = number.parse::<f64>().ok()?;
    Some((value, t[end..].trim().to_ascii_lowercase()))
}

/// Parses a size in bytes: `4096`, `"4 KiB"`, `"1.5 TB"`, `"unlimited"` (`u64::MAX`).
///
/// # Errors
///
/// A message naming the unit list when the text is not a size.
pub fn parse_size(text: &str) -> Result<u64, String> {
    if text.trim().eq_ignore_ascii_case("unlimited") {
        return Ok(u64::MAX);
    }
    let (value, unit) = split_number(text).ok_or_else(|| "not a number followed by a unit".to_owned())?;
    let unit = if unit.is_empty() { "b".to_owned() } else { unit };
    let factor = SIZE_UNITS
        .iter()
        .find(|(u, _)| *u == unit)
        .map(|(_, f)| *f)
        .ok_or_else(|| {
            format!(
                "unknown size unit {unit:?}: expected B, KB, MB, GB, TB, PB, KiB, MiB, GiB, TiB, PiB or \"unlimited\""
            )
        })?;
    let bytes = value * factor;
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err("too large".to_owned());
    }
    Ok(bytes.round() as u64)
}

/// Parses a duration in milliseconds: `"250ms"`, `"10m"`, `"1h"`, `"30d"`, `"2w"`; a bare number is milliseconds.
///
/// # Errors
///
/// A message naming the unit list when the text is not a duration.
pub fn parse_duration_ms(text: &str) -> Result<f64, String> {
    let (value, unit) = split_number(text).ok_or_else(|| "not a number followed by a unit".to_owned())?;
    let unit = if unit.is_empty() { "ms".to_owned() } else { unit };
    DURATION_UNITS
        .iter()
        .find(|(u, _)| *u == unit)
        .map(|(_, f)| value * f)
        .ok_or_else(|| format!("unknown duration unit {unit:?}: expected ns, us, ms, s, m, h, d or w"))
}

impl Quantity {
    pub(crate) fn as_size(&self) -> Result<u64, String> {
        match self {
            Self::Int(n) => u64::try_from(*n).map_err(|_| "must not be negative".to_owned()),
            Self::Float(x) if *x >= 0.0 && x.is_finite() => Ok(x.round() as u64),
            Self::Float(_) => Err("must be a non-negative number".to_owned()),
            Self::Text(s) => parse_size(s),
        }
    }

    pub(crate) fn as_duration_ms(&self) -> Result<f64, String> {
        let ms = match self {
            Self::Int(n) => *n as f64,
            Self::Float(x) => *x,
            Self::Text(s) => parse_duration_ms(s)?,
        };
        if ms.is_finite() && ms >= 0.0 {
            Ok(ms)
        } else {
            Err("must be a non-negative duration".to_owned())
        }
    }
}

/// Formats bytes with a binary unit, for reports (`1.5 GiB`), as [`pin_core::report::human_bytes`] does;
/// `u64::MAX`, the tier table's "no limit", prints as `unlimited`.
pub fn format_bytes(bytes: u64) -> String {
    if bytes == u64::MAX {
        "unlimited".to_owned()
    } else {
        pin_core::report::human_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse_with_units() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("4 KiB").unwrap(), 4096);
        assert_eq!(parse_size("1.5kb").unwrap(), 1500);
        assert_eq!(parse_size("unlimited").unwrap(), u64::MAX);
        assert!(parse_size("3 XB").unwrap_err().contains("\"xb\""));
        assert_eq!(parse_duration_ms("10m").unwrap(), 600_000.0);
        assert!((parse_duration_ms("100ns").unwrap() - 1e-4).abs() < 1e-15);
        assert_eq!(parse_duration_ms("2d").unwrap(), 172_800_000.0);
        assert!(parse_duration_ms("5 fortnights").is_err());
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(u64::MAX), "unlimited");
    }
}
