//! The core stays sans-IO and its modules stay acyclic: checks on the package's own source and
//! manifest, so that a change reaching for a file, a socket, a clock or a thread fails here with
//! the file and line, not in review. `specs/architecture.md` has the rules and the module graph.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// What the core may depend on: data-only crates that do no I/O themselves.
const ALLOWED_DEPENDENCIES: [&str; 3] = ["bytes", "serde", "serde_bytes"];

/// Paths the core must not name, and why.
const FORBIDDEN: [(&str, &str); 13] = [
    ("std::fs", "files belong to raft-storage"),
    ("std::io", "I/O belongs to the driver"),
    ("std::net", "sockets belong to raft-node"),
    ("std::time", "time reaches the core only as ticks"),
    ("Instant", "time reaches the core only as ticks"),
    ("SystemTime", "time reaches the core only as ticks"),
    ("std::thread", "the core runs on its caller's thread"),
    ("std::sync", "the core is not shared between threads"),
    ("std::process", "the core runs inside its driver"),
    ("std::env", "configuration arrives as a Config"),
    ("tokio", "the runtime belongs to raft-node"),
    // Their default hasher is seeded by the operating system, so iteration order would differ
    // from run to run and a replayed input would not replay.
    (
        "HashMap",
        "iteration order must not depend on a random seed",
    ),
    (
        "HashSet",
        "iteration order must not depend on a random seed",
    ),
];

/// Modules of `std` that `use std::{...}` may group, checked against the same list.
const FORBIDDEN_STD_MODULES: [&str; 7] = ["fs", "io", "net", "time", "thread", "sync", "process"];

fn src_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable src directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            src_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Each source file of the crate with its lines, comments removed (prose may name anything).
fn sources() -> Vec<(PathBuf, Vec<String>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    src_files(&root.join("src"), &mut files);
    files.sort();
    assert!(
        !files.is_empty(),
        "no sources found under {}",
        root.display()
    );
    files
        .into_iter()
        .map(|path| {
            let text = fs::read_to_string(&path).expect("readable source");
            let lines = text
                .lines()
                .map(|l| l.split("//").next().unwrap_or("").to_string())
                .collect();
            (path.strip_prefix(root).unwrap().to_path_buf(), lines)
        })
        .collect()
}

/// The names in `[dependencies]`, `[build-dependencies]` and any `[target.*.dependencies]` of a
/// manifest: everything but the dev-dependencies, which only tests link.
fn dependencies(manifest: &str) -> Vec<(usize, String)> {
    let mut in_deps = false;
    let mut found = Vec::new();
    for (i, line) in manifest.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.starts_with('[') {
            let section = line.trim_matches(|c| c == '[' || c == ']');
            in_deps = section.ends_with("dependencies") && section != "dev-dependencies";
            // `[dependencies.name]` names a dependency in its header.
            if let Some(name) = section.strip_prefix("dependencies.") {
                found.push((i + 1, name.to_string()));
                in_deps = false;
            }
        } else if in_deps {
            if let Some((name, _)) = line.split_once('=') {
                found.push((i + 1, name.trim().to_string()));
            }
        }
    }
    found
}

#[test]
fn the_core_depends_only_on_crates_that_do_no_io() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let manifest = fs::read_to_string(&path).expect("readable manifest");
    let deps = dependencies(&manifest);
    assert!(
        deps.iter().any(|(_, d)| d == "bytes"),
        "the manifest parser found no dependencies in {}",
        path.display()
    );
    let bad: Vec<String> = deps
        .iter()
        .filter(|(_, d)| !ALLOWED_DEPENDENCIES.contains(&d.as_str()))
        .map(|(line, d)| format!("Cargo.toml:{line}: dependency {d}"))
        .collect();
    assert!(
        bad.is_empty(),
        "the core may depend only on {ALLOWED_DEPENDENCIES:?}:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_core_touches_no_file_socket_clock_or_thread() {
    let mut bad = Vec::new();
    for (file, lines) in sources() {
        for (i, line) in lines.iter().enumerate() {
            let at = format!("{}:{}", file.display(), i + 1);
            for (path, why) in FORBIDDEN {
                if line.contains(path) {
                    bad.push(format!("{at}: {path} ({why}): {}", line.trim()));
                }
            }
            let squeezed: String = line.chars().filter(|c| !c.is_whitespace()).collect();
            if let Some(group) = squeezed.split("std::{").nth(1) {
                for name in group.split(['}', ',']) {
                    if FORBIDDEN_STD_MODULES.contains(&name.split("::").next().unwrap_or("")) {
                        bad.push(format!("{at}: std::{name} in a grouped import"));
                    }
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "the core must stay sans-IO:\n{}",
        bad.join("\n")
    );
}

/// Module name -> the modules of the crate it names (`crate::m`), from the source files.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let files = sources();
    let modules: BTreeSet<String> = files
        .iter()
        .map(|(f, _)| f.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut graph = BTreeMap::new();
    for (file, lines) in &files {
        let me = file.file_stem().unwrap().to_string_lossy().into_owned();
        let mut deps = BTreeSet::new();
        for line in lines {
            for rest in line.split("crate::").skip(1) {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                // `crate::Node` and the like go through the root's re-exports: a dependency on
                // the root, which depends on every module (below), so it shows up as a cycle.
                let target = if modules.contains(&name) {
                    name
                } else {
                    "lib".to_string()
                };
                if target != me {
                    deps.insert(target);
                }
            }
        }
        graph.insert(me, deps);
    }
    // The root declares and re-exports every module.
    let all: BTreeSet<String> = modules.iter().filter(|m| *m != "lib").cloned().collect();
    graph.insert("lib".to_string(), all);
    graph
}

/// A cycle in the graph, as the modules along it, if there is one.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut c = path[at..].to_vec();
            c.push(m.to_string());
            return Some(c);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for d in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(d, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in graph.keys().filter(|m| *m != "lib") {
        if let Some(c) = visit(m, graph, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn the_shared_types_import_nothing_of_the_crate() {
    let graph = module_graph();
    assert_eq!(graph.get("types"), Some(&BTreeSet::new()), "{graph:#?}");
}

#[test]
fn the_modules_import_each_other_without_a_cycle() {
    let graph = module_graph();
    if let Some(c) = cycle(&graph) {
        panic!("import cycle: {}", c.join(" -> "));
    }
}
