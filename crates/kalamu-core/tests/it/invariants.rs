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

/// The paths ARCHITECTURE.md's code map names, with bare file names beside a
/// full path (`a/b/x.rs`, `y.rs`) read as siblings of it.
fn mapped_paths(root: &std::path::Path) -> Vec<String> {
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let mut paths = Vec::new();
    for row in map.lines().filter(|l| l.starts_with("| `")) {
        let cell = row.split(" | ").next().unwrap_or_default();
        let mut dir = String::new();
        for name in cell.split('`').skip(1).step_by(2) {
            if name.contains('/') {
                dir = name.rsplit_once('/').map(|(d, _)| format!("{d}/")).unwrap_or_default();
                paths.push(name.to_owned());
            } else {
                paths.push(format!("{dir}{name}"));
            }
        }
    }
    paths
}

/// Source files of the workspace: Rust, and the UI's TypeScript and Svelte.
fn source_files(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !["target", "node_modules", "dist", ".git", "gen"].contains(&name.as_str())
                && !name.starts_with('.')
            {
                source_files(&path, root, out);
            }
        } else if [".rs", ".ts", ".svelte", ".js"].iter().any(|x| name.ends_with(x)) {
            out.push(path.strip_prefix(root).unwrap().to_string_lossy().into_owned());
        }
    }
}

#[test]
fn the_code_map_names_real_paths_and_every_source_file() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
    let mapped = mapped_paths(&root);
    assert!(mapped.len() > 20, "the code map was read: {mapped:?}");
    let missing: Vec<_> = mapped.iter().filter(|p| !root.join(p).exists()).collect();
    assert!(missing.is_empty(), "ARCHITECTURE.md names paths that do not exist: {missing:?}");
    let mut files = Vec::new();
    for top in ["crates", "src-tauri", "ui", "tests", "fuzz"] {
        source_files(&root.join(top), &root, &mut files);
    }
    let unmapped: Vec<_> = files
        .iter()
        .filter(|f| {
            !mapped.iter().any(|m| {
                let m = m.trim_end_matches('/');
                *f == m || f.starts_with(&format!("{m}/"))
            })
        })
        .collect();
    assert!(unmapped.is_empty(), "source files missing from ARCHITECTURE.md's code map: {unmapped:?}");
}
