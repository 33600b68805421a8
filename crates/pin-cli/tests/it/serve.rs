//! `pindex serve` as an operator runs it: a real listener on 127.0.0.1, the token file it creates, a
//! Pinning Service API request, and a SIGTERM that drains and flushes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use tempfile::TempDir;

use crate::common::{Reaper, cid, command, ok, pindex, track};

/// One HTTP/1.1 request on a fresh connection: the status code and the body.
fn http(addr: &str, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // Bodies may come chunked; the JSON bodies here fit one chunk: keep what lies between the braces.
    let json = match (body.find(['{', '[']), body.rfind(['}', ']'])) {
        (Some(a), Some(b)) if a <= b => body[a..=b].to_owned(),
        _ => body.to_owned(),
    };
    (status, json)
}

#[test]
fn serve_answers_with_the_token_and_stops_cleanly_on_sigterm() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    ok(&pindex(&data, &["add", &cid(1), "--name", "first", "--size", "100"]));
    let delegate = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf";
    // Without a delegate the Pinning Service API cannot answer: refused with a hint.
    let o = pindex(&data, &["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--delegate"));

    let child = command(&data)
        .env_remove("PINDEX_TOKEN")
        .args(["serve", "--listen", "127.0.0.1:0", "--delegate", delegate])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Reaper(child);
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_owned();
    assert!(
        first.contains("token created in") && first.contains("reads open"),
        "{first}"
    );
    let token = std::fs::read_to_string(data.join("api-token"))
        .unwrap()
        .trim()
        .to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("api-token")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the token file is private");
    }

    // Reads are open on loopback; the Pinning Service API needs the token.
    let (status, body) = http(&addr, "GET", "/v1/metrics", None, "");
    assert_eq!(status, 200, "{body}");
    let m: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(m["total_pins"], 1);
    assert_eq!(http(&addr, "GET", "/pins", None, "").0, 401);
    assert_eq!(http(&addr, "GET", "/pins", Some("wrong"), "").0, 401);
    let request = format!(r#"{{"cid":"{}","name":"from the API"}}"#, cid(2));
    let (status, body) = http(&addr, "POST", "/pins", Some(&token), &request);
    assert_eq!(status, 202, "{body}");
    let pin: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(pin["status"], "queued");
    assert_eq!(pin["delegates"][0], delegate);
    let (status, body) = http(&addr, "GET", "/pins?status=queued", Some(&token), "");
    assert_eq!(status, 200, "{body}");
    let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed["count"], 1, "{listed}");

    // A second writer is refused while serve holds the store; readers are not.
    let o = pindex(&data, &["add", &cid(3)]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(track(&data, &cid(2))["pin"]["name"], "from the API");

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.0.wait().unwrap();
    assert!(status.success(), "serve exited with {status:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("store flushed")), "{rest:?}");
    // The pin requested through the API is in the store, and the lock is free again.
    assert_eq!(track(&data, &cid(2))["pin"]["status"], "queued");
    ok(&pindex(&data, &["add", &cid(3)]));
}
