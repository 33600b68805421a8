//! What the embedding program decides: the token, who may read, the delegates, and the limits.

use std::time::Duration;

use crate::error::{Error, Result};

/// The API's settings. Build one with [`ApiConfig::new`] and adjust the public fields.
#[derive(Clone)]
pub struct ApiConfig {
    /// The bearer token every Pinning Service API call and every write must present.
    pub token: String,
    /// Whether `/v1` reads, `/metrics` and the dashboard (`/`) are answered without the token.
    ///
    /// `false` by default. `pindex serve` turns it on only when it listens on a loopback address, where
    /// only local users reach the server; see [`reads_open_by_default`].
    pub open_reads: bool,
    /// Multiaddrs returned as `delegates` in every `PinStatus` (1 to 20, each ending in `/p2p/<peer id>`).
    pub delegates: Vec<String>,
    /// How often the reports that need a full pass over the store are recomputed.
    pub report_interval: Duration,
    /// How many pins the top lists hold (hottest, largest, most used VFS paths, recent VFS activity).
    pub top: usize,
    /// The dashboard reloads itself this often.
    pub dashboard_refresh: Duration,
    /// Bounds on requests and connections.
    pub limits: Limits,
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token stays out of logs.
        f.debug_struct("ApiConfig")
            .field("token", &"<redacted>")
            .field("open_reads", &self.open_reads)
            .field("delegates", &self.delegates)
            .field("report_interval", &self.report_interval)
            .field("top", &self.top)
            .field("dashboard_refresh", &self.dashboard_refresh)
            .field("limits", &self.limits)
            .finish()
    }
}

/// Bounds that keep a slow or malicious client from exhausting the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body of the JSON endpoints, in bytes.
    pub max_body_bytes: usize,
    /// Largest body of `POST /v1/events` (NDJSON), in bytes.
    pub max_events_body_bytes: usize,
    /// Largest request head (request line plus headers), in bytes; at least 8192 (hyper's minimum buffer).
    pub max_header_bytes: usize,
    /// Time a client has to send the request head once it starts.
    pub header_read_timeout: Duration,
    /// Time one request may take, body included, before it is answered 408.
    pub request_timeout: Duration,
    /// Requests handled at once; more wait (and time out if they wait too long).
    pub max_concurrent_requests: usize,
    /// Open connections at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Time in-flight requests get to finish once shutdown begins.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            max_events_body_bytes: 16 << 20,
            max_header_bytes: 16 << 10,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_concurrent_requests: 256,
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Largest `limit` of a listing.
pub const MAX_LIMIT: usize = 1000;
/// Most CIDs in the `cid` filter of `GET /pins`.
pub const MAX_CID_FILTER: usize = 10;
/// Most multiaddrs in `delegates` and `origins`.
pub const MAX_MULTIADDRS: usize = 20;

impl ApiConfig {
    /// Settings with `token` and `delegates`, reads behind the token, and default limits and intervals.
    pub fn new(token: impl Into<String>, delegates: Vec<String>) -> Self {
        Self {
            token: token.into(),
            open_reads: false,
            delegates,
            report_interval: Duration::from_secs(60),
            top: 10,
            dashboard_refresh: Duration::from_secs(30),
            limits: Limits::default(),
        }
    }

    /// Checks the settings; the error names the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, reason: String| Err(Error::Config { field, reason });
        if self.token.trim().is_empty() {
            return bad("token", "empty".into());
        }
        if self.delegates.is_empty() || self.delegates.len() > MAX_MULTIADDRS {
            return bad(
                "delegates",
                format!(
                    "{} given, the Pinning Service API needs 1 to {MAX_MULTIADDRS}",
                    self.delegates.len()
                ),
            );
        }
        if let Some(d) = self.delegates.iter().find(|d| !is_p2p_multiaddr(d)) {
            return bad(
                "delegates",
                format!(
                    "{d:?} is not a multiaddr ending in /p2p/<peer id> (e.g. /ip4/203.0.113.1/tcp/4001/p2p/12D3Koo...)"
                ),
            );
        }
        if self.report_interval.is_zero() {
            return bad("report_interval", "zero".into());
        }
        if self.limits.max_header_bytes < 8192 {
            return bad(
                "limits.max_header_bytes",
                format!("{} is below hyper's minimum of 8192", self.limits.max_header_bytes),
            );
        }
        if self.limits.max_concurrent_requests == 0 || self.limits.max_connections == 0 {
            return bad("limits", "concurrency and connection limits must be at least 1".into());
        }
        Ok(())
    }
}

/// Whether a server listening on `addr` should answer reads without the token: only on loopback.
pub fn reads_open_by_default(addr: &std::net::SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// A multiaddr as the spec wants it: starts with `/`, and its last two parts are `p2p/<peer id>`.
pub(crate) fn is_p2p_multiaddr(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('/') else {
        return false;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    parts.len() >= 2
        && parts.iter().all(|p| !p.is_empty())
        && parts[parts.len() - 2] == "p2p"
        && !s.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiaddrs_must_end_in_a_peer_id() {
        assert!(is_p2p_multiaddr("/ip4/203.0.113.1/tcp/4001/p2p/QmServicePeerId"));
        assert!(!is_p2p_multiaddr("/ip4/203.0.113.1/tcp/4001"));
        assert!(!is_p2p_multiaddr("ip4/1.2.3.4/p2p/Qm"));
        assert!(!is_p2p_multiaddr("/p2p/"));
    }

    #[test]
    fn config_errors_name_the_field() {
        let c = ApiConfig::new("t", vec![]);
        assert!(c.validate().unwrap_err().to_string().contains("delegates"));
        let c = ApiConfig::new(" ", vec!["/ip4/1.2.3.4/tcp/1/p2p/Qm".into()]);
        assert!(c.validate().unwrap_err().to_string().contains("token"));
        assert!(!format!("{c:?}").contains("token: \" \""));
    }
}
