//! Architecture invariants checked as ordinary tests (see ARCHITECTURE.md).

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use serde_json::Value;

/// Crates kalamu-core must never depend on, directly or not: it does no
/// network I/O and knows nothing of the desktop shell or the hub's server.
const FORBIDDEN: &[&str] =
    &["tauri", "wry", "axum", "hyper", "reqwest", "tokio", "postgres", "tokio-postgres", "sqlx"];

fn normal_dependencies_of(package: &str) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: HashMap<&str, &Value> =
        meta["resolve"]["nodes"].as_array().unwrap().iter().map(|n| (n["id"].as_str().unwrap(), n)).collect();
    let root = names.iter().find(|(_, name)| **name == package).map(|(id, _)| *id).expect("package exists");

    let mut seen = BTreeSet::new();
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let is_normal = dep["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null());
            let dep_id = dep["pkg"].as_str().unwrap();
            if is_normal && seen.insert(names[dep_id].to_owned()) {
                stack.push(dep_id);
            }
        }
    }
    seen
}

#[test]
fn core_depends_on_no_desktop_server_or_network_crate() {
    let deps = normal_dependencies_of("kalamu-core");
    assert!(deps.contains("rusqlite"), "the walk found core's real dependencies: {deps:?}");
    let bad: Vec<_> = FORBIDDEN.iter().filter(|f| deps.contains(**f)).collect();
    assert!(bad.is_empty(), "kalamu-core must not depend on {bad:?}");
}
