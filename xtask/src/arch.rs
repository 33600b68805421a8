//! `cargo xtask arch`: the crate layering, checked against `cargo metadata`.
//!
//! The rules are data: [`RULES`] gives each workspace crate the workspace crates it may use
//! and the external crates it must not use, [`EXCLUSIVE`] the external crates only a few may use.
//! `docs/ARCHITECTURE.md` states the same invariants in prose; change both together.

use std::collections::BTreeSet;
use std::fmt;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::cmd;

/// Which workspace crates a crate may depend on (normal and build dependencies).
#[derive(Debug, Clone, Copy)]
enum WorkspaceDeps {
    Any,
    Only(&'static [&'static str]),
}

/// One crate's place in the layering.
#[derive(Debug)]
struct CrateRule {
    krate: &'static str,
    workspace: WorkspaceDeps,
    /// External crate families barred from normal and build dependencies (dev-dependencies are free).
    forbidden: &'static [&'static str],
    /// Why, quoted in the violation.
    why: &'static str,
}

/// The layers, bottom up.
/// A workspace crate missing here is itself a violation: a new crate gets a rule before it gets dependencies.
/// DataFusion is not in the `forbidden` lists because [`EXCLUSIVE`] bars it everywhere else, dev-dependencies included.
const RULES: &[CrateRule] = &[
    CrateRule {
        krate: "pin-core",
        workspace: WorkspaceDeps::Only(&[]),
        forbidden: &["tokio", "object_store", "parquet", "arrow"],
        why: "pin-core is the bottom layer: domain types, the fold algebra and traits, no I/O and no runtime",
    },
    CrateRule {
        krate: "pin-vfs",
        workspace: WorkspaceDeps::Only(&["pin-core"]),
        forbidden: &["object_store", "parquet", "arrow"],
        why: "pin-vfs turns the outside world into pin-core events and never writes Parquet",
    },
    CrateRule {
        krate: "pin-tiers",
        workspace: WorkspaceDeps::Only(&["pin-core"]),
        forbidden: &["tokio", "object_store", "parquet", "arrow"],
        why: "pin-tiers decides and pin-store executes: the policy engine is pure and never touches storage",
    },
    CrateRule {
        krate: "pin-store",
        workspace: WorkspaceDeps::Only(&["pin-core"]),
        forbidden: &[],
        why: "pin-store implements pin-core's PinStore and knows nothing of VFS sources or tier policy",
    },
    CrateRule {
        krate: "pin-api",
        workspace: WorkspaceDeps::Only(&["pin-core", "pin-tiers"]),
        forbidden: &["object_store", "parquet", "arrow"],
        why: "pin-api serves any PinStore over HTTP through the trait and never touches storage itself",
    },
    CrateRule {
        krate: "pin-cli",
        workspace: WorkspaceDeps::Any,
        forbidden: &[],
        why: "pin-cli is the top layer",
    },
    CrateRule {
        krate: "pindex-benches",
        workspace: WorkspaceDeps::Any,
        forbidden: &[],
        why: "the benches measure any crate",
    },
    CrateRule {
        krate: "xtask",
        workspace: WorkspaceDeps::Only(&[]),
        forbidden: &[],
        why: "xtask checks the workspace and must build without it",
    },
];

/// An external crate family that only some workspace crates may depend on directly, in any kind of dependency.
#[derive(Debug)]
struct Exclusive {
    family: &'static str,
    users: &'static [&'static str],
    why: &'static str,
}

const EXCLUSIVE: &[Exclusive] = &[Exclusive {
    family: "datafusion",
    users: &["pin-store", "pin-cli", "pindex-benches"],
    why: "DataFusion dominates the build and stays in the crates that run SQL",
}];

/// Runs `cargo metadata` and reports every violation of the layering.
pub(crate) fn run() -> Result<()> {
    let json = cmd::stdout(&mut cmd::cargo(["metadata", "--format-version", "1", "--no-deps"]))?;
    let packages =
        parse_metadata(&json).context("unexpected output from `cargo metadata --format-version 1 --no-deps`")?;
    let violations = check(&packages);
    if violations.is_empty() {
        let deps: usize = packages.iter().map(|p| p.deps.len()).sum();
        println!(
            "arch: ok ({} crates, {deps} dependency declarations checked)",
            packages.len()
        );
        return Ok(());
    }
    for violation in &violations {
        eprintln!("arch: {violation}");
    }
    bail!(
        "{} layering violation(s); the rules are in xtask/src/arch.rs and docs/ARCHITECTURE.md",
        violations.len()
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DepKind {
    Normal,
    Build,
    Dev,
}

impl fmt::Display for DepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DepKind::Normal => "normal",
            DepKind::Build => "build",
            DepKind::Dev => "dev",
        })
    }
}

/// One `[dependencies]`-style entry; `name` is the package name, even when renamed.
#[derive(Debug, Clone)]
struct Dep {
    name: String,
    kind: DepKind,
    /// Set for `[target.'cfg(..)'.dependencies]`.
    target: Option<String>,
    /// A path dependency (no registry or git source).
    local: bool,
}

#[derive(Debug)]
struct Package {
    name: String,
    deps: Vec<Dep>,
}

/// The workspace members and their declared dependencies.
fn parse_metadata(json: &[u8]) -> Result<Vec<Package>> {
    let root: Value = serde_json::from_slice(json).context("invalid JSON")?;
    let members: BTreeSet<&str> = root["workspace_members"]
        .as_array()
        .context("no `workspace_members` array")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut packages = Vec::new();
    for package in root["packages"].as_array().context("no `packages` array")? {
        let id = package["id"].as_str().context("a package without `id`")?;
        if !members.contains(id) {
            continue;
        }
        let name = package["name"]
            .as_str()
            .with_context(|| format!("package {id} has no `name`"))?;
        let mut deps = Vec::new();
        for dep in package["dependencies"]
            .as_array()
            .with_context(|| format!("package {name} has no `dependencies` array"))?
        {
            let dep_name = dep["name"]
                .as_str()
                .with_context(|| format!("a dependency of {name} has no `name`"))?;
            let kind = match &dep["kind"] {
                Value::Null => DepKind::Normal,
                Value::String(kind) if kind == "build" => DepKind::Build,
                Value::String(kind) if kind == "dev" => DepKind::Dev,
                other => bail!("dependency {dep_name} of {name} has unknown kind {other}"),
            };
            deps.push(Dep {
                name: dep_name.to_owned(),
                kind,
                target: dep["target"].as_str().map(str::to_owned),
                local: dep["source"].is_null(),
            });
        }
        packages.push(Package {
            name: name.to_owned(),
            deps,
        });
    }
    Ok(packages)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleKind {
    /// A workspace crate depends on a workspace crate its layer does not allow.
    Layer,
    /// A crate depends on an external crate its layer forbids.
    Forbidden,
    /// A crate depends on an exclusive crate it is not a user of.
    Exclusive,
    /// A workspace crate has no rule.
    Unknown,
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RuleKind::Layer => "layer",
            RuleKind::Forbidden => "forbidden",
            RuleKind::Exclusive => "exclusive",
            RuleKind::Unknown => "unknown crate",
        })
    }
}

#[derive(Debug)]
struct Violation {
    krate: String,
    dep: Option<Dep>,
    rule: RuleKind,
    why: String,
}

/// `layer: pin-vfs -> pin-store (normal): pin-vfs may depend on ...`
impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.rule, self.krate)?;
        if let Some(dep) = &self.dep {
            write!(f, " -> {} ({}", dep.name, dep.kind)?;
            if let Some(target) = &dep.target {
                write!(f, ", {target}")?;
            }
            f.write_str(")")?;
        }
        write!(f, ": {}", self.why)
    }
}

/// `name` is `family` or one of its sub-crates (`arrow-array` is in `arrow`).
fn in_family(name: &str, family: &str) -> bool {
    name.strip_prefix(family)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '_']))
}

fn or_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Every violation of [`RULES`] and [`EXCLUSIVE`], in package and declaration order.
fn check(packages: &[Package]) -> Vec<Violation> {
    let workspace: BTreeSet<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    let mut violations = Vec::new();
    for package in packages {
        let krate = package.name.as_str();
        let Some(rule) = RULES.iter().find(|rule| rule.krate == krate) else {
            violations.push(Violation {
                krate: krate.to_owned(),
                dep: None,
                rule: RuleKind::Unknown,
                why: "no layering rule; add one to RULES in xtask/src/arch.rs".to_owned(),
            });
            continue;
        };
        for dep in &package.deps {
            let mut report = |rule: RuleKind, why: String| {
                violations.push(Violation {
                    krate: krate.to_owned(),
                    dep: Some(dep.clone()),
                    rule,
                    why,
                });
            };
            let is_workspace = dep.local && workspace.contains(dep.name.as_str());
            // Dev-dependencies do not ship, so only the exclusive rule looks at them.
            let ships = dep.kind != DepKind::Dev;
            if let WorkspaceDeps::Only(allowed) = rule.workspace
                && is_workspace
                && ships
                && !allowed.contains(&dep.name.as_str())
            {
                let may = if allowed.is_empty() {
                    "no workspace crate".to_owned()
                } else {
                    format!("only {} among workspace crates", or_list(allowed))
                };
                report(RuleKind::Layer, format!("{krate} may depend on {may}; {}", rule.why));
            }
            if !is_workspace && ships && rule.forbidden.iter().any(|f| in_family(&dep.name, f)) {
                report(
                    RuleKind::Forbidden,
                    format!("{krate} must not depend on {}; {}", or_list(rule.forbidden), rule.why),
                );
            }
            for exclusive in EXCLUSIVE {
                if !is_workspace && in_family(&dep.name, exclusive.family) && !exclusive.users.contains(&krate) {
                    report(
                        RuleKind::Exclusive,
                        format!(
                            "only {} may depend on {}, even as a dev-dependency; {}",
                            or_list(exclusive.users),
                            exclusive.family,
                            exclusive.why
                        ),
                    );
                }
            }
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `cargo metadata --no-deps` output for the given crates and their `(dependency, kind)`s,
    /// `kind` being "normal", "build" or "dev"; names starting with `pin` or `xtask` are path dependencies.
    fn metadata(crates: &[(&str, &[(&str, &str)])]) -> Vec<u8> {
        let id = |name: &str| format!("path+file:///ws/{name}#0.1.0");
        let packages: Vec<Value> = crates
            .iter()
            .map(|(name, deps)| {
                let deps: Vec<Value> = deps
                    .iter()
                    .map(|(dep, kind)| {
                        let local = dep.starts_with("pin") || *dep == "xtask";
                        json!({
                            "name": dep,
                            "source": if local { Value::Null } else { json!("registry+https://github.com/rust-lang/crates.io-index") },
                            "kind": if *kind == "normal" { Value::Null } else { json!(kind) },
                            "rename": null,
                            "optional": false,
                            "target": null,
                        })
                    })
                    .collect();
                json!({ "name": name, "id": id(name), "dependencies": deps })
            })
            .collect();
        let members: Vec<String> = crates.iter().map(|(name, _)| id(name)).collect();
        serde_json::to_vec(&json!({ "packages": packages, "workspace_members": members }))
            .expect("serializing test metadata")
    }

    /// The intended workspace, with `extra` dependencies added to `krate`.
    fn workspace_with(krate: &str, extra: &[(&'static str, &'static str)]) -> Vec<Violation> {
        let mut crates: Vec<(&str, Vec<(&str, &str)>)> = vec![
            (
                "pin-core",
                vec![
                    ("async-trait", "normal"),
                    ("cid", "normal"),
                    ("thiserror", "normal"),
                    ("futures", "dev"),
                ],
            ),
            ("pin-vfs", vec![("pin-core", "normal"), ("tokio", "normal")]),
            ("pin-tiers", vec![("pin-core", "normal")]),
            (
                "pin-store",
                vec![
                    ("pin-core", "normal"),
                    ("datafusion", "normal"),
                    ("object_store", "normal"),
                    ("parquet", "normal"),
                    ("tokio", "normal"),
                    ("pin-core", "dev"),
                ],
            ),
            (
                "pin-cli",
                vec![
                    ("pin-core", "normal"),
                    ("pin-store", "normal"),
                    ("pin-vfs", "normal"),
                    ("pin-tiers", "normal"),
                    ("clap", "normal"),
                ],
            ),
            ("pindex-benches", vec![("pin-store", "normal"), ("criterion", "normal")]),
            ("xtask", vec![("anyhow", "normal"), ("serde_json", "normal")]),
        ];
        let target = crates
            .iter_mut()
            .find(|(name, _)| *name == krate)
            .expect("a crate of the intended workspace");
        target.1.extend_from_slice(extra);
        let borrowed: Vec<(&str, &[(&str, &str)])> =
            crates.iter().map(|(name, deps)| (*name, deps.as_slice())).collect();
        check(&parse_metadata(&metadata(&borrowed)).expect("parsing test metadata"))
    }

    fn rules_broken(violations: &[Violation]) -> Vec<(&str, Option<&str>, RuleKind)> {
        violations
            .iter()
            .map(|v| (v.krate.as_str(), v.dep.as_ref().map(|d| d.name.as_str()), v.rule))
            .collect()
    }

    #[test]
    fn intended_workspace_passes() {
        let violations = workspace_with("pin-cli", &[]);
        assert!(violations.is_empty(), "{violations:#?}");
    }

    #[test]
    fn layer_allows_lower_crates_and_dev_dependencies() {
        assert!(workspace_with("pin-tiers", &[("pin-core", "build")]).is_empty());
        assert!(workspace_with("pin-vfs", &[("pin-store", "dev")]).is_empty());
        assert!(workspace_with("pin-cli", &[("pin-vfs", "build")]).is_empty());
    }

    #[test]
    fn layer_rejects_a_crate_above() {
        let violations = workspace_with("pin-vfs", &[("pin-store", "normal")]);
        assert_eq!(
            rules_broken(&violations),
            [("pin-vfs", Some("pin-store"), RuleKind::Layer)]
        );
        assert!(
            violations[0]
                .to_string()
                .starts_with("layer: pin-vfs -> pin-store (normal): pin-vfs may depend on only pin-core"),
            "{}",
            violations[0]
        );
        let violations = workspace_with("pin-tiers", &[("pin-store", "build")]);
        assert_eq!(
            rules_broken(&violations),
            [("pin-tiers", Some("pin-store"), RuleKind::Layer)]
        );
        let violations = workspace_with("pin-core", &[("pin-tiers", "normal")]);
        assert_eq!(
            rules_broken(&violations),
            [("pin-core", Some("pin-tiers"), RuleKind::Layer)]
        );
    }

    #[test]
    fn xtask_uses_no_workspace_crate() {
        let violations = workspace_with("xtask", &[("pin-core", "normal")]);
        assert_eq!(
            rules_broken(&violations),
            [("xtask", Some("pin-core"), RuleKind::Layer)]
        );
        assert!(violations[0].to_string().contains("no workspace crate"));
    }

    #[test]
    fn forbidden_allows_dev_dependencies_and_other_layers() {
        assert!(workspace_with("pin-core", &[("tokio", "dev")]).is_empty());
        assert!(workspace_with("pin-vfs", &[("tokio", "build")]).is_empty());
        assert!(workspace_with("pin-core", &[("arrowhead", "normal")]).is_empty());
        assert!(workspace_with("pin-store", &[("arrow-array", "normal")]).is_empty());
    }

    #[test]
    fn forbidden_rejects_io_and_columnar_crates_low_down() {
        let violations = workspace_with("pin-core", &[("tokio", "normal")]);
        assert_eq!(
            rules_broken(&violations),
            [("pin-core", Some("tokio"), RuleKind::Forbidden)]
        );
        let violations = workspace_with("pin-tiers", &[("tokio", "normal")]);
        assert_eq!(
            rules_broken(&violations),
            [("pin-tiers", Some("tokio"), RuleKind::Forbidden)]
        );
        let violations = workspace_with("pin-vfs", &[("arrow-array", "build")]);
        assert_eq!(
            rules_broken(&violations),
            [("pin-vfs", Some("arrow-array"), RuleKind::Forbidden)]
        );
        let violations = workspace_with("pin-tiers", &[("object_store", "normal")]);
        assert_eq!(
            rules_broken(&violations),
            [("pin-tiers", Some("object_store"), RuleKind::Forbidden)]
        );
    }

    #[test]
    fn exclusive_allows_its_users_in_any_kind() {
        assert!(workspace_with("pindex-benches", &[("datafusion", "dev")]).is_empty());
        assert!(workspace_with("pin-cli", &[("datafusion-common", "normal")]).is_empty());
    }

    #[test]
    fn exclusive_rejects_others_even_as_dev_dependency() {
        let violations = workspace_with("pin-tiers", &[("datafusion", "dev")]);
        assert_eq!(
            rules_broken(&violations),
            [("pin-tiers", Some("datafusion"), RuleKind::Exclusive)]
        );
        assert!(violations[0].to_string().contains("even as a dev-dependency"));
        // Reported once, by the exclusive rule, not also as forbidden.
        let violations = workspace_with("pin-core", &[("datafusion-common", "normal")]);
        assert_eq!(
            rules_broken(&violations),
            [("pin-core", Some("datafusion-common"), RuleKind::Exclusive)]
        );
        let violations = workspace_with("xtask", &[("datafusion", "normal")]);
        assert_eq!(
            rules_broken(&violations),
            [("xtask", Some("datafusion"), RuleKind::Exclusive)]
        );
    }

    #[test]
    fn unknown_crate_needs_a_rule() {
        let json = metadata(&[("pin-core", &[]), ("pin-new", &[("pin-core", "normal")])]);
        let violations = check(&parse_metadata(&json).expect("parsing test metadata"));
        assert_eq!(rules_broken(&violations), [("pin-new", None, RuleKind::Unknown)]);
        let json = metadata(&[("pin-core", &[]), ("pin-tiers", &[("pin-core", "normal")])]);
        assert!(check(&parse_metadata(&json).expect("parsing test metadata")).is_empty());
    }

    #[test]
    fn every_violation_is_reported() {
        let json = metadata(&[
            (
                "pin-core",
                &[("tokio", "normal"), ("parquet", "normal"), ("datafusion", "dev")],
            ),
            ("pin-vfs", &[("pin-core", "normal"), ("pin-tiers", "normal")]),
            ("pin-tiers", &[("pin-core", "normal")]),
            ("pin-mystery", &[]),
        ]);
        let violations = check(&parse_metadata(&json).expect("parsing test metadata"));
        assert_eq!(
            rules_broken(&violations),
            [
                ("pin-core", Some("tokio"), RuleKind::Forbidden),
                ("pin-core", Some("parquet"), RuleKind::Forbidden),
                ("pin-core", Some("datafusion"), RuleKind::Exclusive),
                ("pin-vfs", Some("pin-tiers"), RuleKind::Layer),
                ("pin-mystery", None, RuleKind::Unknown),
            ]
        );
    }

    #[test]
    fn target_specific_dependencies_are_checked_and_named() {
        let json = serde_json::to_vec(&json!({
            "workspace_members": ["pin-core 0.1.0"],
            "packages": [
                { "name": "pin-core", "id": "pin-core 0.1.0", "dependencies": [
                    { "name": "tokio", "source": "registry+x", "kind": null, "target": "cfg(unix)" },
                ] },
                { "name": "not-a-member", "id": "other 1.0.0", "dependencies": [
                    { "name": "datafusion", "source": "registry+x", "kind": null, "target": null },
                ] },
            ],
        }))
        .expect("serializing test metadata");
        let violations = check(&parse_metadata(&json).expect("parsing test metadata"));
        assert_eq!(
            rules_broken(&violations),
            [("pin-core", Some("tokio"), RuleKind::Forbidden)]
        );
        assert!(
            violations[0]
                .to_string()
                .starts_with("forbidden: pin-core -> tokio (normal, cfg(unix)):"),
            "{}",
            violations[0]
        );
    }

    #[test]
    fn malformed_metadata_is_an_error() {
        assert!(parse_metadata(b"not json").is_err());
        assert!(parse_metadata(br#"{"packages": []}"#).is_err());
        let json = serde_json::to_vec(&json!({
            "workspace_members": ["a"],
            "packages": [{ "name": "a", "id": "a", "dependencies": [{ "name": "b", "kind": "weird" }] }],
        }))
        .expect("serializing test metadata");
        assert!(parse_metadata(&json).is_err());
    }

    #[test]
    fn rule_tables_name_only_known_crates() {
        let known: Vec<&str> = RULES.iter().map(|rule| rule.krate).collect();
        let unique: BTreeSet<&str> = known.iter().copied().collect();
        assert_eq!(unique.len(), known.len(), "a crate has two rules");
        for rule in RULES {
            if let WorkspaceDeps::Only(allowed) = rule.workspace {
                for crate_name in allowed {
                    assert!(known.contains(crate_name), "{crate_name} has no rule");
                }
            }
        }
        for exclusive in EXCLUSIVE {
            for user in exclusive.users {
                assert!(known.contains(user), "{user} has no rule");
            }
        }
    }

    #[test]
    fn family_matching() {
        assert!(in_family("arrow", "arrow"));
        assert!(in_family("arrow-array", "arrow"));
        assert!(in_family("datafusion_common", "datafusion"));
        assert!(!in_family("arrowhead", "arrow"));
        assert!(!in_family("tokio-util", "tokio-stream"));
    }
}
