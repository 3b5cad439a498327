//! The house rules of `src/` (DESIGN.md, issue 15), read from the source text: no import
//! circles between files, clap only in the command-line files, no oversized file.
//!
//! Edges are the `crate::` and `super::` paths a file names (in `use` lines and in code),
//! resolved to the file of the longest module prefix. A module's edges to its own
//! descendants (the module tree it declares and re-exports) are not dependencies and are
//! left out; everything else counts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/a/b.rs` and `src/a/b/mod.rs` -> `["a", "b"]`; `src/lib.rs` -> `[]`.
fn module_of(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(SRC).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

/// Code without comments (line comments, doc comments).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::...` / `super::...` path in `code`, brace groups of `use` expanded one
/// level (`crate::a::{b, c::d}` -> `crate::a::b`, `crate::a::c::d`).
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let rest: String = bytes[i..bytes.len().min(i + 6)].iter().collect();
        let boundary = i == 0
            || !(bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_' || bytes[i - 1] == ':');
        if boundary && (rest.starts_with("crate:") || rest.starts_with("super:")) {
            let mut j = i;
            let mut segs = Vec::new();
            loop {
                let start = j;
                while j < bytes.len() && (bytes[j].is_alphanumeric() || bytes[j] == '_') {
                    j += 1;
                }
                segs.push(bytes[start..j].iter().collect::<String>());
                if j + 1 < bytes.len() && bytes[j] == ':' && bytes[j + 1] == ':' {
                    j += 2;
                    if j < bytes.len() && bytes[j] == '{' {
                        let end = (j..bytes.len())
                            .find(|&k| bytes[k] == '}')
                            .unwrap_or(bytes.len());
                        let inner: String = bytes[j + 1..end].iter().collect();
                        for item in inner.split(',') {
                            let mut p = segs.clone();
                            p.extend(
                                item.trim()
                                    .split("::")
                                    .map(|s| s.trim().to_string())
                                    .filter(|s| !s.is_empty()),
                            );
                            out.push(p);
                        }
                        j = end;
                        segs.clear();
                        break;
                    }
                } else {
                    break;
                }
            }
            if !segs.is_empty() {
                out.push(segs);
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// A module's path, e.g. `["detect", "cnn"]`.
type Module = Vec<String>;
/// Each module's file, and the modules each imports.
type Graph = (
    BTreeMap<Module, PathBuf>,
    BTreeMap<Module, BTreeSet<Module>>,
);

fn graph() -> Graph {
    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files);
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .filter(|f| !f.ends_with("main.rs"))
        .map(|f| (module_of(f), f.clone()))
        .collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (m, file) in &modules {
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        for p in paths_in(&code) {
            // Absolute module path the text names.
            let mut abs: Vec<String> = Vec::new();
            let mut it = p.iter().peekable();
            match it.peek().map(|s| s.as_str()) {
                Some("crate") => {
                    it.next();
                }
                Some("super") => {
                    abs = m.clone();
                    while it.peek().map(|s| s.as_str()) == Some("super") {
                        it.next();
                        abs.pop();
                    }
                }
                _ => continue,
            }
            abs.extend(it.filter(|s| s.as_str() != "self").cloned());
            // Longest prefix that is a module file.
            let target = (0..=abs.len())
                .rev()
                .map(|n| abs[..n].to_vec())
                .find(|pre| modules.contains_key(pre));
            if let Some(t) = target {
                let own_descendant = t.len() > m.len() && t[..m.len()] == m[..];
                if &t != m && !own_descendant {
                    edges.entry(m.clone()).or_default().insert(t);
                }
            }
        }
    }
    (modules, edges)
}

#[test]
fn no_import_circles_between_files() {
    let (modules, edges) = graph();
    // Depth-first search for a back edge; report the first circle found.
    fn visit(
        m: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        state.insert(m.clone(), 1);
        stack.push(m.clone());
        for n in edges.get(m).into_iter().flatten() {
            match state.get(n).copied().unwrap_or(0) {
                1 => {
                    let from = stack.iter().position(|s| s == n).unwrap_or(0);
                    return Some(stack[from..].to_vec());
                }
                0 => {
                    if let Some(c) = visit(n, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(m.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    assert!(
        edges.values().map(BTreeSet::len).sum::<usize>() > 40,
        "the reader found too few imports: {edges:?}"
    );
    for m in modules.keys() {
        if state.get(m).copied().unwrap_or(0) == 0 {
            let circle = visit(m, &edges, &mut state, &mut Vec::new());
            assert!(
                circle.is_none(),
                "import circle: {:?}",
                circle.map(|c| c.iter().map(|m| m.join("::")).collect::<Vec<_>>())
            );
        }
    }
    // The arrows the issue named run one way.
    let cli = vec!["cli".to_string()];
    let pipeline = vec!["pipeline".to_string()];
    let config = vec!["config".to_string()];
    assert!(edges[&cli].contains(&config));
    assert!(
        !edges.get(&pipeline).is_some_and(|e| e.contains(&cli)),
        "pipeline imports cli"
    );
    assert!(!edges
        .get(&config)
        .is_some_and(|e| e.contains(&cli) || e.contains(&pipeline)));
}

#[test]
fn the_reader_expands_use_groups_and_skips_comments() {
    let p = paths_in(&code_of(
        "use crate::a::{b, c::D};\nlet x = super::super::e::f(); // crate::not_this",
    ));
    let want: Vec<Vec<String>> = [
        vec!["crate", "a", "b"],
        vec!["crate", "a", "c", "D"],
        vec!["super", "super", "e", "f"],
    ]
    .iter()
    .map(|v| v.iter().map(|s| s.to_string()).collect())
    .collect();
    assert_eq!(p, want);
}

#[test]
fn clap_only_in_the_command_line_files() {
    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files);
    for f in files {
        let name = f.strip_prefix(SRC).unwrap().to_string_lossy().into_owned();
        if name == "cli.rs" || name == "main.rs" {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&f).unwrap());
        assert!(!code.contains("clap"), "{name} uses clap");
    }
}

#[test]
fn no_source_file_over_about_800_lines() {
    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files);
    for f in files {
        let n = std::fs::read_to_string(&f).unwrap().lines().count();
        assert!(n <= 850, "{} has {n} lines", f.display());
    }
}
