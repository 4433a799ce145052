//! No import circles between the files of the workspace's crates (issue 16): a file
//! that names another (`use crate::a::b`, `use super::x`, or a `crate::a::f()` path in
//! code) depends on it, and no chain of such names may lead back to where it started.
//! A circle means neither file can be read, tested or moved without the other.
//!
//! Read as text, as a reader would: paths in code outside `#[cfg(test)]` items and
//! comments; a path names the longest module prefix that is a file (`crate::report::
//! fmt_us` names `report/mod.rs`, or `report/fmt.rs` once it lives there); a module's
//! `use child::Item` names its child's file, so a re-export counts as the arrow it is.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path -> file, for the crate whose root file (`lib.rs`) is in `root`.
fn modules(root: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "bin") {
                    stack.push(p);
                }
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = p.strip_prefix(root).unwrap().with_extension("");
            let mut path: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            match path.last().map(String::as_str) {
                Some("lib" | "main") if path.len() == 1 => path.clear(),
                Some("mod") => {
                    path.pop();
                }
                _ => {}
            }
            out.insert(path, p);
        }
    }
    out
}

/// The source without `#[cfg(test)]` items (a block cut at its matching brace) and
/// without `//` comments.
fn code_of(src: &str) -> String {
    let mut out = String::new();
    let mut rest = src;
    while let Some(j) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..j]);
        let after = &rest[j + "#[cfg(test)]".len()..];
        let (semi, brace) = (after.find(';'), after.find('{'));
        let cut = match (semi, brace) {
            (Some(s), Some(b)) if s < b => s + 1,
            (_, Some(b)) => matching_brace(after, b) + 1,
            (Some(s), None) => s + 1,
            (None, None) => after.len(),
        };
        rest = &after[cut.min(after.len())..];
    }
    out.push_str(rest);
    out.lines()
        .map(|l| l.find("//").map_or(l, |i| &l[..i]))
        .collect::<Vec<_>>()
        .join("\n")
}

fn matching_brace(s: &str, open: usize) -> usize {
    let mut depth = 0;
    for (i, c) in s[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return open + i;
                }
            }
            _ => {}
        }
    }
    s.len()
}

/// Every module path named in `code` (`crate::`, `super::`, `self::` paths, with `use`
/// groups `a::{b, c::d}` expanded), made absolute from the file's module `here`.
fn named_paths(code: &str, here: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let b = code.as_bytes();
    for base in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(k) = code[from..].find(base) {
            let at = from + k;
            from = at + base.len();
            let ident_before = at > 0 && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_');
            if ident_before || (at > 1 && &code[at - 2..at] == "::") {
                continue;
            }
            let (segs, group) = path_at(&code[at + base.len()..]);
            let mut start: Vec<String> = match base {
                "crate::" => Vec::new(),
                // In `a/b.rs` (module a::b) `super` is `a`; in `a/mod.rs` (module a) too
                // the parent of the module, as for any module.
                "super::" => here[..here.len().saturating_sub(1)].to_vec(),
                _ => here.to_vec(),
            };
            let mut segs = segs;
            while segs.first().is_some_and(|s| s == "super") {
                segs.remove(0);
                start.pop();
            }
            let head: Vec<String> = start.iter().cloned().chain(segs).collect();
            out.push(head.clone());
            for item in group {
                out.push(head.iter().cloned().chain(item).collect());
            }
        }
    }
    out
}

/// The `::`-separated identifiers at the start of `s`, and the items of a `{...}` group
/// that follows them.
fn path_at(s: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut segs = Vec::new();
    let mut rest = s;
    loop {
        let n = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if n == 0 {
            break;
        }
        segs.push(rest[..n].to_string());
        rest = &rest[n..];
        match rest.strip_prefix("::") {
            Some(r) => rest = r,
            None => return (segs, Vec::new()),
        }
    }
    let mut group = Vec::new();
    if rest.starts_with('{') {
        let end = matching_brace(rest, 0);
        for item in rest[1..end].split([',', '{', '}']) {
            let item: Vec<String> = item
                .trim()
                .split("::")
                .filter(|x| !x.is_empty() && *x != "*" && *x != "self")
                .map(|x| x.split_whitespace().next().unwrap_or(x).to_string())
                .collect();
            if !item.is_empty() {
                group.push(item);
            }
        }
    }
    (segs, group)
}

/// The paths of `use` statements that start at a name, not at `crate`, `super` or
/// `self`: in a module with children, `use child::Item` (or `pub use child::Item`) names
/// its child module (the caller keeps those that do).
fn relative_uses(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for stmt in code.split(';') {
        let t = stmt.trim_start();
        let t = t
            .strip_prefix("pub(crate) ")
            .or_else(|| t.strip_prefix("pub(super) "))
            .or_else(|| t.strip_prefix("pub "))
            .unwrap_or(t);
        let Some(rest) = t.strip_prefix("use ") else {
            continue;
        };
        let (segs, group) = path_at(rest.trim_start());
        if segs.is_empty() || ["crate", "super", "self"].contains(&segs[0].as_str()) {
            continue;
        }
        out.push(segs.clone());
        for item in group {
            out.push(segs.iter().cloned().chain(item).collect());
        }
    }
    out
}

/// The file a path names: its longest module prefix that is a file.
fn resolve<'a>(mods: &'a BTreeMap<Vec<String>, PathBuf>, path: &[String]) -> Option<&'a PathBuf> {
    (0..=path.len()).rev().find_map(|n| mods.get(&path[..n]))
}

/// File -> the files it names, for one crate. A name a module re-exports from its
/// child (`pub use child::Item` in `a/mod.rs`) is the child's: `crate::a::Item` names
/// `a/child.rs`, the file that defines it. The module's own facade (the parent handing
/// on its children's names while they use its shared ones) is not an arrow.
fn edges(root: &Path) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mods = modules(root);
    let codes: BTreeMap<&Vec<String>, String> = mods
        .iter()
        .map(|(here, file)| (here, code_of(&std::fs::read_to_string(file).unwrap())))
        .collect();
    // (module, name) -> the child module it is re-exported from.
    let mut reexports: BTreeMap<(Vec<String>, String), Vec<String>> = BTreeMap::new();
    for (here, code) in &codes {
        for p in relative_uses(code) {
            let child: Vec<String> = here.iter().chain(p.first()).cloned().collect();
            if mods.contains_key(&child) && p.len() >= 2 {
                let name = p[p.len() - 1].clone();
                reexports.insert(
                    ((*here).clone(), name),
                    here.iter().cloned().chain(p).collect(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    for (here, file) in &mods {
        let targets: BTreeSet<PathBuf> = named_paths(&codes[here], here)
            .into_iter()
            .map(|p| through_reexport(&mods, &reexports, p))
            .filter_map(|p| resolve(&mods, &p))
            .filter(|t| *t != file)
            .cloned()
            .collect();
        out.insert(file.clone(), targets);
    }
    out
}

/// `p`, or where the module it resolves to re-exports its next name from.
fn through_reexport(
    mods: &BTreeMap<Vec<String>, PathBuf>,
    reexports: &BTreeMap<(Vec<String>, String), Vec<String>>,
    p: Vec<String>,
) -> Vec<String> {
    let Some(n) = (0..=p.len()).rev().find(|&n| mods.contains_key(&p[..n])) else {
        return p;
    };
    match p.get(n) {
        Some(name) => reexports
            .get(&(p[..n].to_vec(), name.clone()))
            .cloned()
            .unwrap_or(p),
        None => p,
    }
}

/// The strongly connected components of more than one file (Tarjan).
fn circles(g: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct T<'a> {
        g: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        out: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a PathBuf) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        for w in t.g.get(v).into_iter().flatten() {
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.stack.contains(&w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                comp.push(w.clone());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn test_no_import_circle_between_files() {
    let top = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for krate in ["src", "loadgen/src", "fuzz/src"] {
        for c in circles(&edges(&top.join(krate))) {
            let names: Vec<String> = c
                .iter()
                .map(|p| p.strip_prefix(top).unwrap_or(p).display().to_string())
                .collect();
            found.push(names.join(" <-> "));
        }
    }
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

#[test]
fn test_the_reader_sees_every_kind_of_path() {
    let here = vec!["report".to_string(), "text".to_string()];
    let code = code_of(
        "use super::{fmt::group, json};\nuse crate::slo::Verdict;\nfn f() { crate::result::x(); }\n\
         // use crate::commented::Out;\n#[cfg(test)]\nmod tests { use crate::testonly::T; }\n",
    );
    let got: Vec<String> = named_paths(&code, &here)
        .iter()
        .map(|p| p.join("::"))
        .collect();
    for want in [
        "report::fmt::group",
        "report::json",
        "slo::Verdict",
        "result::x",
    ] {
        assert!(got.iter().any(|g| g == want), "{want} not in {got:?}");
    }
    assert!(
        !got.iter()
            .any(|g| g.contains("commented") || g.contains("testonly")),
        "{got:?}"
    );
    let mut g = BTreeMap::new();
    let (a, b, c) = (PathBuf::from("a"), PathBuf::from("b"), PathBuf::from("c"));
    g.insert(a.clone(), BTreeSet::from([b.clone()]));
    g.insert(b.clone(), BTreeSet::from([a.clone(), c.clone()]));
    g.insert(c.clone(), BTreeSet::new());
    assert_eq!(circles(&g), vec![vec![a, b]]);
}
