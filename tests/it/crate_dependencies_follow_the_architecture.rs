//! The dependency invariants of ARCHITECTURE.md, checked on `cargo metadata`:
//!
//! - oa-events depends on no other crate of ours;
//! - oa-api depends only on oa-events and oa-metrics;
//! - oa-jobs depends on none of oa-metrics, oa-monitor, oa-api;
//! - oa-metrics depends on none of oa-jobs, oa-api.
//!
//! Normal and build dependencies are followed transitively (a forbidden crate reached through
//! an allowed one is still a violation); dev-dependencies are checked directly, so that tests
//! that cross layers live in the root package's `tests/`, as the architecture says.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// What a crate of ours may depend on, among the crates of ours.
enum Rule {
    /// Only these crates.
    Only(&'static [&'static str]),
    /// Anything but these crates.
    Not(&'static [&'static str]),
}

const RULES: &[(&str, Rule)] = &[
    ("oa-events", Rule::Only(&[])),
    ("oa-api", Rule::Only(&["oa-events", "oa-metrics"])),
    (
        "oa-jobs",
        Rule::Not(&["oa-metrics", "oa-monitor", "oa-api"]),
    ),
    ("oa-metrics", Rule::Not(&["oa-jobs", "oa-api"])),
];

/// One dependency edge between crates of ours.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Edge {
    from: String,
    to: String,
    /// `normal`, `build` or `dev`.
    kind: String,
}

/// The edges between workspace members, read from `cargo metadata`.
fn workspace_edges() -> (BTreeSet<String>, Vec<Edge>) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata is JSON");
    let packages = metadata["packages"]
        .as_array()
        .expect("packages is an array");
    let members: BTreeSet<String> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    let mut edges = Vec::new();
    for package in packages {
        let from = package["name"].as_str().unwrap();
        for dependency in package["dependencies"].as_array().unwrap() {
            let to = dependency["name"].as_str().unwrap();
            if members.contains(to) && to != from {
                let kind = dependency["kind"].as_str().unwrap_or("normal").to_owned();
                edges.push(Edge {
                    from: from.to_owned(),
                    to: to.to_owned(),
                    kind,
                });
            }
        }
    }
    (members, edges)
}

/// Every violation of `rules` in `edges`, as readable lines.
fn violations(rules: &[(&str, Rule)], members: &BTreeSet<String>, edges: &[Edge]) -> Vec<String> {
    // Crates reachable through normal and build edges.
    let mut direct: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for edge in edges.iter().filter(|e| e.kind != "dev") {
        direct.entry(&edge.from).or_default().insert(&edge.to);
    }
    let reachable = |start: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![start.to_owned()];
        while let Some(next) = stack.pop() {
            for to in direct.get(next.as_str()).into_iter().flatten() {
                if seen.insert((*to).to_owned()) {
                    stack.push((*to).to_owned());
                }
            }
        }
        seen
    };
    let mut found = Vec::new();
    for (name, rule) in rules {
        assert!(
            members.contains(*name),
            "the rule for {name} names a crate that is not a member"
        );
        let allowed = |to: &str| match rule {
            Rule::Only(only) => only.contains(&to),
            Rule::Not(not) => !not.contains(&to),
        };
        for to in reachable(name) {
            if !allowed(&to) {
                found.push(format!("{name} depends (directly or transitively) on {to}"));
            }
        }
        for edge in edges.iter().filter(|e| e.kind == "dev" && e.from == *name) {
            if !allowed(&edge.to) {
                found.push(format!("{name} has a dev-dependency on {}", edge.to));
            }
        }
    }
    found
}

#[test]
fn no_crate_depends_on_a_crate_it_must_not() {
    let (members, edges) = workspace_edges();
    for expected in [
        "oa",
        "oa-events",
        "oa-jobs",
        "oa-metrics",
        "oa-monitor",
        "oa-api",
    ] {
        assert!(
            members.contains(expected),
            "{expected} is a workspace member"
        );
    }
    let found = violations(RULES, &members, &edges);
    assert!(
        found.is_empty(),
        "architecture invariants broken:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_checker_finds_direct_transitive_and_dev_violations() {
    let members: BTreeSet<String> = ["oa-events", "oa-jobs", "oa-metrics", "oa-monitor", "oa-api"]
        .map(String::from)
        .into();
    let edge = |from: &str, to: &str, kind: &str| Edge {
        from: from.into(),
        to: to.into(),
        kind: kind.into(),
    };
    let edges = vec![
        edge("oa-api", "oa-metrics", "normal"),
        // Transitive: oa-api → oa-metrics → oa-jobs breaks two rules.
        edge("oa-metrics", "oa-jobs", "normal"),
        edge("oa-events", "oa-jobs", "build"),
        edge("oa-jobs", "oa-monitor", "dev"),
        edge("oa-monitor", "oa-metrics", "normal"),
    ];
    let mut found = violations(RULES, &members, &edges);
    found.sort();
    assert_eq!(
        found,
        [
            "oa-api depends (directly or transitively) on oa-jobs",
            "oa-events depends (directly or transitively) on oa-jobs",
            "oa-jobs has a dev-dependency on oa-monitor",
            "oa-metrics depends (directly or transitively) on oa-jobs",
        ]
    );
    let allowed = vec![
        edge("oa-api", "oa-events", "normal"),
        edge("oa-monitor", "oa-metrics", "normal"),
    ];
    assert!(violations(RULES, &members, &allowed).is_empty());
}
