use pin_core::Tier;
use pin_tiers::{Error, TierTable};

const GOOD: &str = r#"
[planner]
hysteresis = "2h"
move_budget = "10 GiB"

[[tier]]
name = "SSD"
capacity = "1 TiB"
high_watermark = 0.9
low_watermark = 0.7
min_object_size = 4096
min_residency = "30m"
storage_cost_per_gb_month = 0.05
latency = "1ms"

[[tier]]
name = "memory"
capacity = 1073741824
storage_cost_per_gb_month = 3
retrieval_cost_per_gb = 0.0
latency = "100us"
"#;

#[test]
fn a_table_parses_with_units_defaults_and_in_tier_order() {
    let t = TierTable::from_toml(GOOD).unwrap();
    assert_eq!(
        t.tiers.iter().map(|s| s.tier).collect::<Vec<_>>(),
        [Tier::Memory, Tier::Ssd]
    );
    let ssd = t.get(Tier::Ssd).unwrap();
    assert_eq!(ssd.capacity_bytes, 1 << 40);
    assert_eq!(ssd.min_object_size, 4096);
    assert_eq!(ssd.min_residency_ms, 1_800_000);
    assert_eq!(ssd.low_bytes(), ((1u64 << 40) as f64 * 0.7).floor() as u64);
    let mem = t.get(Tier::Memory).unwrap();
    assert_eq!(mem.high_watermark, 0.9, "default high watermark");
    assert_eq!(mem.low_watermark, 0.8, "default low watermark");
    assert!((mem.latency_ms - 0.1).abs() < 1e-12);
    assert_eq!(t.planner.hysteresis_ms, 7_200_000);
    assert_eq!(t.planner.move_budget_bytes, 10 << 30);
    assert_eq!(t.planner.horizon_ms, 86_400_000, "default horizon");
    assert_eq!(
        TierTable::from_toml(TierTable::DEFAULT_TOML).unwrap(),
        TierTable::default()
    );
}

fn err(text: &str) -> String {
    TierTable::from_toml(text).unwrap_err().to_string()
}

fn tier(extra: &str) -> String {
    format!(
        "[[tier]]\nname = \"ssd\"\ncapacity = \"1 TB\"\nstorage_cost_per_gb_month = 0.05\nlatency = \"1ms\"\n{extra}"
    )
}

#[test]
fn errors_name_the_tier_the_field_and_the_value() {
    let e = err(&tier("").replace("\"1 TB\"", "\"12 XB\""));
    assert!(e.contains("tier \"ssd\".capacity = \"12 XB\""), "{e}");
    assert!(e.contains("unknown size unit"), "{e}");

    let e = err(&tier("high_watermark = 0.5\nlow_watermark = 0.6"));
    assert!(e.contains("tier \"ssd\".low_watermark = 0.6"), "{e}");

    let e = err(&tier("high_watermark = 0.5\nlow_watermark = 0.5"));
    assert!(
        e.contains("tier \"ssd\".low_watermark = 0.5: must be in (0, high_watermark = 0.5)"),
        "a bounded tier needs low < high: {e}"
    );
    let unlimited = tier("high_watermark = 1.0\nlow_watermark = 1.0").replace("\"1 TB\"", "\"unlimited\"");
    assert!(
        TierTable::from_toml(&unlimited).is_ok(),
        "equal marks are fine where nothing drains"
    );
    let t = TierTable::from_toml(&tier("high_watermark = 0.5")).unwrap();
    assert!(
        t.tiers[0].low_watermark < 0.5,
        "the default low mark stays below a low high mark"
    );

    let e = err(&tier("high_watermark = nan"));
    assert!(e.contains("high_watermark = NaN"), "{e}");

    let e = err(&tier("high_watermark = 1.5"));
    assert!(e.contains("high_watermark = 1.5"), "{e}");

    let e = err(&tier("min_residency = \"3 fortnights\""));
    assert!(e.contains("min_residency") && e.contains("fortnights"), "{e}");

    let e = err(&tier("storage_cost_per_gb_month = -1.0").replace("storage_cost_per_gb_month = 0.05\n", ""));
    assert!(e.contains("storage_cost_per_gb_month = -1"), "{e}");

    let e = err(&tier("").replace("\"ssd\"", "\"tape\""));
    assert!(
        e.contains("tier.name = \"tape\"") && e.contains("memory nvme ssd"),
        "{e}"
    );

    let e = err(&format!("{}\n{}", tier(""), tier("")));
    assert!(e.contains("listed twice"), "{e}");

    let e = err("[planner]\nmargin = -1\n");
    assert!(e.contains("planner.margin = -1"), "{e}");
}

#[test]
fn syntax_errors_and_unknown_keys_say_where() {
    let e = err(&tier("capcity = 5"));
    assert!(e.contains("capcity"), "{e}");
    let e = err(&tier("").replace("latency = \"1ms\"\n", ""));
    assert!(e.contains("latency"), "missing field named: {e}");
    let e = err("[[tier]\nname = ");
    assert!(e.starts_with("invalid tier table:"), "{e}");
    assert!(matches!(
        TierTable::from_toml("").unwrap_err(),
        Error::InvalidField { field: "tier", .. }
    ));
    let e = TierTable::from_path(std::path::Path::new("/nonexistent/tiers.toml")).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/tiers.toml"));
}
