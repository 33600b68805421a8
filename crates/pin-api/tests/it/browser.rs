//! The dashboard in a real browser: headless Chromium loads `/` from a server on 127.0.0.1 and the rendered
//! DOM must show the store's numbers. With `PINDEX_SCREENSHOT=<path>` set, a second run saves a screenshot.

use std::path::Path;
use std::time::Duration;

use pin_api::serve;
use pin_core::conformance::test_cid;
use pin_core::{Event, EventKind, PinStatus, PinStore, Tier, Timestamp, VfsOpKind};
use tokio::net::TcpListener;
use tokio::process::Command;

use crate::common::{H, access, cid, pin_event, vfs_op};
use crate::dashboard::{attr_in, attr_of, data_value};

const CHROMIUM: &str = "/usr/bin/chromium";

/// A store that looks like a small deployment: 240 pins created over 30 days on every tier, some
/// unpinned, queued and failed, under two VFS mounts, read a few hundred times over the last day, with
/// a thousand VFS operations of every kind over the last day (about one in thirty failed).
async fn fill_realistic(h: &H) {
    let now = h.now();
    let mut events = Vec::new();
    let tiers = [
        Tier::Memory,
        Tier::Nvme,
        Tier::Ssd,
        Tier::Hdd,
        Tier::Ipfs,
        Tier::Filecoin,
    ];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    for i in 0..240u64 {
        let at = now.plus_millis(-((240 - i as i64) * 3 * 3_600_000) - rnd(3_600_000) as i64);
        let tier = tiers[(rnd(100) * rnd(100) / 1700).min(5) as usize];
        let status = match rnd(20) {
            0 => PinStatus::Queued,
            1 => PinStatus::Failed,
            _ => PinStatus::Pinned,
        };
        let mut e = pin_event(i, at, status, tier, (1 + rnd(4096)) * (1 << (10 + rnd(12))));
        if let EventKind::Upsert(p) = &mut e.kind
            && i % 3 == 0
        {
            let mount = if i % 2 == 0 { "/datasets" } else { "/models" };
            p.mount = Some(mount.to_owned());
            p.vfs_paths.insert(format!("{mount}/file-{i:03}.bin"));
        }
        events.push(e);
    }
    for i in (0..240u64).step_by(17) {
        events.push(Event {
            ts: now.plus_millis(-3_600_000 * (1 + rnd(48) as i64)),
            kind: EventKind::Unpin { cid: test_cid(i) },
        });
    }
    for _ in 0..600 {
        let i = (rnd(30) * rnd(8)).min(239);
        // Within the window of the chart: the current hour and the 23 before it.
        let at = now.plus_millis(-(rnd(23 * 3_600_000) as i64));
        let path =
            (i % 3 == 0).then(|| format!("{}/file-{i:03}.bin", if i % 2 == 0 { "/datasets" } else { "/models" }));
        events.push(access(i, at, 4096 * (1 + rnd(64)), path.as_deref()));
    }
    let kinds = [
        VfsOpKind::Read,
        VfsOpKind::Read,
        VfsOpKind::Read,
        VfsOpKind::Write,
        VfsOpKind::Create,
        VfsOpKind::Metadata,
        VfsOpKind::Rename,
        VfsOpKind::Delete,
        VfsOpKind::Truncate,
    ];
    for _ in 0..1000 {
        let op = kinds[rnd(kinds.len() as u64) as usize];
        let i = rnd(240);
        let mount = if i % 2 == 0 { "/datasets" } else { "/models" };
        let at = now.plus_millis(-(rnd(23 * 3_600_000) as i64));
        let length = matches!(op, VfsOpKind::Read | VfsOpKind::Write).then(|| 4096 * (1 + rnd(256)));
        let latency = (rnd(10) > 0).then(|| 50 + rnd(400) * (1 + rnd(4) * rnd(4)));
        let path = format!("{mount}/file-{i:03}.bin");
        events.push(vfs_op(at, op, mount, &path, length, latency, rnd(30) > 0));
    }
    events.sort_by_key(|e| e.ts);
    h.apply(events).await;
}

async fn chromium(args: &[String]) -> String {
    let out = tokio::time::timeout(Duration::from_secs(120), Command::new(CHROMIUM).args(args).output())
        .await
        .expect("chromium finished within two minutes")
        .expect("chromium started");
    assert!(
        out.status.success(),
        "chromium failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_headless_chromium_on_127_0_0_1_shows_the_store_numbers() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's chromium (`apt-get install -y chromium`) to run the dashboard's browser test"
    );
    let h = H::with(|c| c.open_reads = true);
    fill_realistic(&h).await;
    h.state.refresh_reports().await.expect("reports");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, h.app.clone(), h.state.config().limits, async move {
        let _ = stopped.await;
    }));
    let profile = tempfile::tempdir().expect("tempdir");
    let url = format!("http://{addr}/");
    let base = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    .map(str::to_owned)
    .to_vec();
    let mut args = base.clone();
    args.push(format!("--user-data-dir={}", profile.path().display()));
    args.push("--dump-dom".into());
    args.push(url.clone());
    let dom = chromium(&args).await;

    let m = h.store.metrics().await.expect("metrics");
    assert_eq!(data_value(&dom, "total-pins"), Some(m.total_pins.to_string()), "{dom}");
    assert_eq!(data_value(&dom, "total-bytes"), Some(m.total_size_bytes.to_string()));
    assert_eq!(data_value(&dom, "total-accesses"), Some(m.total_accesses.to_string()));
    assert_eq!(
        data_value(&dom, "accessed-last-day"),
        Some(m.accessed_last_day.to_string())
    );
    for (tier, t) in &m.tiers {
        assert!(
            dom.contains(&format!(
                "data-tier=\"{tier}\"><td>{tier}</td><td class=\"num\" data-pins=\"{}\">",
                t.pins
            )),
            "tier row {tier}"
        );
    }
    let reports = h.state.reports().expect("reports");
    let total: u64 = reports.dashboard.accesses_per_hour.iter().map(|c| c.accesses).sum();
    assert_eq!(total, 600, "every access was in the last day");
    assert_eq!(
        attr_of(&dom, "accesses-per-hour", "data-total"),
        Some(total.to_string())
    );
    assert_eq!(dom.matches("class=\"hour\"").count(), 24);
    assert_eq!(
        attr_of(&dom, "pins-over-time", "data-last-pins"),
        Some(m.total_pins.to_string())
    );
    let hottest = &reports.dashboard.hottest[0];
    assert_eq!(
        attr_of(&dom, "hottest-pins", "data-rows"),
        Some(reports.dashboard.hottest.len().to_string())
    );
    assert!(dom.contains(&format!("data-cid=\"{}\"", hottest.cid)));
    assert_eq!(
        attr_of(&dom, "plan-summary", "data-moves"),
        Some(reports.plan.totals.moves.to_string())
    );
    assert!(dom.contains("id=\"recent-vfs\""));
    // VFS operations of the last day, from the store's metrics.
    let vfs = &m.vfs_last_day;
    let total: u64 = vfs.by_op.values().map(|c| c.count).sum();
    let failed: u64 = vfs.by_op.values().map(|c| c.failed).sum();
    assert_eq!(total, 1000, "every operation was in the last day");
    assert!(failed > 0, "the fixture has failed operations");
    assert_eq!(attr_of(&dom, "vfs-ops", "data-count"), Some(total.to_string()));
    assert_eq!(attr_of(&dom, "vfs-ops", "data-failed"), Some(failed.to_string()));
    for (k, c) in &vfs.by_op {
        let marker = format!("data-op=\"{k}\"");
        assert_eq!(
            attr_in(&dom, "vfs-ops", &marker, "data-count"),
            Some(c.count.to_string()),
            "{k}"
        );
        assert_eq!(
            attr_in(&dom, "vfs-ops", &marker, "data-success-rate"),
            Some(c.success_rate().to_string()),
            "{k}"
        );
    }
    for (mount, io) in &vfs.by_mount {
        let marker = format!("data-mount=\"{mount}\"");
        assert_eq!(
            attr_in(&dom, "vfs-io", &marker, "data-bytes-read"),
            Some(io.bytes_read.to_string()),
            "{mount}"
        );
        assert_eq!(
            attr_in(&dom, "vfs-io", &marker, "data-bytes-written"),
            Some(io.bytes_written.to_string()),
            "{mount}"
        );
    }
    assert_eq!(attr_of(&dom, "reports-as-of", "data-ms"), Some(h.now().0.to_string()));
    // The page shows the pin the store calls hottest.
    assert!(dom.contains(&cid(0)) || !reports.dashboard.largest.is_empty());

    if let Ok(path) = std::env::var("PINDEX_SCREENSHOT") {
        let mut args = base;
        args.push(format!("--user-data-dir={}", profile.path().display()));
        args.push(format!("--screenshot={path}"));
        args.push("--window-size=1280,1700".into());
        args.push("--hide-scrollbars".into());
        args.push(url);
        chromium(&args).await;
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(size > 10_000, "screenshot {path} written ({size} bytes)");
    }
    let _ = stop.send(());
    server.await.expect("join").expect("serve");
    let _ = Timestamp(0);
}
