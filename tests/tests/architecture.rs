//! The workspace's shape, checked from its sources: no two modules of a crate import each other,
//! directly or around a loop.
//!
//! Modules are compared as folders: `a::x` using `b::y` counts as `a` using `b`, and a module
//! using its own parent or child does not count (see [`between_siblings`]).
//!
//! A loop between modules means neither can be understood, tested or moved without the other;
//! the layers this workspace keeps (domain below commands below routes, config below HTTP) are
//! only real if the imports follow them. The check reads the source text rather than asking the
//! compiler: it follows `crate::`, `$crate::`, `super::`, `self::` and child-module paths
//! (re-exports resolved to the module that defines the item), and leaves out test modules,
//! whose whole point is to import what they test.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A module's path inside its crate: `[]` is the crate root, `["commands", "place"]` is
/// `crate::commands::place`.
type ModPath = Vec<String>;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

/// Every `src/` of the workspace's crates.
fn crate_sources() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut sources = Vec::new();
    for group in ["crates", "services"] {
        let entries = std::fs::read_dir(root.join(group)).expect("workspace folder readable");
        for entry in entries {
            let src = entry.expect("directory entry").path().join("src");
            if src.is_dir() {
                sources.push(src);
            }
        }
    }
    for single in ["gateway", "xtask"] {
        sources.push(root.join(single).join("src"));
    }
    sources.sort();
    sources
}

/// One file module: its code with comments, strings and test modules removed.
struct ModuleFile {
    file: PathBuf,
    code: String,
    /// Child modules declared in this file (`mod x;`), test modules excluded.
    children: BTreeSet<String>,
}

/// The crate's modules by path, from its library root (or its binary root when it has no
/// library).
fn read_crate(src: &Path) -> BTreeMap<ModPath, ModuleFile> {
    let root_file = if src.join("lib.rs").is_file() {
        src.join("lib.rs")
    } else {
        src.join("main.rs")
    };
    let mut modules = BTreeMap::new();
    let mut pending = vec![(Vec::new(), root_file)];
    while let Some((path, file)) = pending.pop() {
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|error| panic!("reading {}: {error}", file.display()));
        let code = remove_test_modules(&strip_comments_and_literals(&text));
        let children = declared_children(&code);
        // `foo.rs` keeps its children in `foo/`; `lib.rs`, `main.rs` and `mod.rs` beside them.
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let child_dir = if path.is_empty() || stem == "mod" {
            file.parent().expect("file has a folder").to_path_buf()
        } else {
            file.with_extension("")
        };
        for child in &children {
            let flat = child_dir.join(format!("{child}.rs"));
            let nested = child_dir.join(child).join("mod.rs");
            let child_file = if flat.is_file() { flat } else { nested };
            let mut child_path = path.clone();
            child_path.push(child.clone());
            pending.push((child_path, child_file));
        }
        modules.insert(
            path,
            ModuleFile {
                file,
                code,
                children,
            },
        );
    }
    modules
}

/// The source with comments blanked and string and character literals emptied, so that a path
/// in a doc comment or a message is not read as an import. Lines are kept for locations.
fn strip_comments_and_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else if c == 'r' && matches!(next, Some('#') | Some('"')) && !ident_before(&chars, i) {
            // Raw string: r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                match chars.get(j) {
                    None => break,
                    Some('"') if (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    Some('\n') => out.push('\n'),
                    Some(_) => {}
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                } else if chars[i] == '\n' {
                    out.push('\n');
                }
                i += 1;
            }
            out.push_str("\"\"");
            i += 1;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{7f}'), or else a lifetime, which is kept.
            if next == Some('\\') {
                let mut j = i + 2;
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                out.push_str("' '");
                i = j + 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                out.push_str("' '");
                i += 3;
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && is_ident_char(chars[i - 1])
}

/// The code without `#[cfg(test)] mod … { … }` blocks (keeping their line breaks).
fn remove_test_modules(code: &str) -> String {
    let pattern = regex::Regex::new(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{")
        .expect("valid pattern");
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(found) = pattern.find(rest) {
        out.push_str(&rest[..found.start()]);
        let mut depth = 1;
        let mut end = found.end();
        for (offset, c) in rest[found.end()..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                '\n' => out.push('\n'),
                _ => {}
            }
            if depth == 0 {
                end = found.end() + offset + 1;
                break;
            }
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// `mod x;` declarations, except those marked `#[cfg(test)]`.
fn declared_children(code: &str) -> BTreeSet<String> {
    let pattern = regex::Regex::new(
        r"(#\[cfg\(test\)\]\s*)?(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?\bmod\s+(\w+)\s*;",
    )
    .expect("valid pattern");
    pattern
        .captures_iter(code)
        .filter(|captures| captures.get(1).is_none())
        .map(|captures| captures[2].to_string())
        .collect()
}

/// A path written in the code, as module-relative segments, with where it was written.
struct Reference {
    segments: ModPath,
    line: usize,
    /// Written in a `pub use`: a re-export, followed through rather than counted.
    reexport: Option<String>,
}

/// Parses a use tree at `pos`: `a::b::{c, d::e as f, self, *}`. Each leaf is returned with the
/// name it is known by (its alias, or its last segment).
fn parse_tree(chars: &[char], pos: &mut usize, prefix: &ModPath, out: &mut Vec<(ModPath, String)>) {
    let mut path = prefix.clone();
    loop {
        skip_space(chars, pos);
        match chars.get(*pos) {
            Some('{') => {
                *pos += 1;
                loop {
                    skip_space(chars, pos);
                    match chars.get(*pos) {
                        Some('}') => {
                            *pos += 1;
                            return;
                        }
                        Some(',') => *pos += 1,
                        None => return,
                        Some(_) => {
                            let before = *pos;
                            parse_tree(chars, pos, &path, out);
                            if *pos == before {
                                *pos += 1;
                            }
                        }
                    }
                }
            }
            Some('*') => {
                *pos += 1;
                out.push((path, "*".to_string()));
                return;
            }
            Some(&c) if is_ident_char(c) => {
                let start = *pos;
                while chars.get(*pos).is_some_and(|&c| is_ident_char(c)) {
                    *pos += 1;
                }
                let ident: String = chars[start..*pos].iter().collect();
                if ident != "self" {
                    path.push(ident);
                }
                let after = *pos;
                skip_space(chars, pos);
                if chars.get(*pos) == Some(&':') && chars.get(*pos + 1) == Some(&':') {
                    *pos += 2;
                    continue;
                }
                *pos = after;
                let mut name = path.last().cloned().unwrap_or_default();
                skip_space(chars, pos);
                if chars[*pos..].starts_with(&['a', 's', ' ']) {
                    *pos += 3;
                    skip_space(chars, pos);
                    let alias_start = *pos;
                    while chars.get(*pos).is_some_and(|&c| is_ident_char(c)) {
                        *pos += 1;
                    }
                    name = chars[alias_start..*pos].iter().collect();
                } else {
                    *pos = after;
                }
                out.push((path, name));
                return;
            }
            _ => {
                out.push((path.clone(), path.last().cloned().unwrap_or_default()));
                return;
            }
        }
    }
}

fn skip_space(chars: &[char], pos: &mut usize) {
    while chars.get(*pos).is_some_and(|c| c.is_whitespace()) {
        *pos += 1;
    }
}

/// Every crate-internal path in one module's code, made absolute.
fn references(module: &ModPath, file: &ModuleFile) -> Vec<Reference> {
    let chars: Vec<char> = file.code.chars().collect();
    let reexport_before =
        regex::Regex::new(r"pub(\([^)]*\))?\s+use\s+(::)?\s*$").expect("valid pattern");
    let mut found = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\n' {
            line += 1;
        }
        let starts_word = i == 0 || !(is_ident_char(chars[i - 1]) || chars[i - 1] == ':');
        if !starts_word || !is_ident_char(chars[i]) {
            i += 1;
            continue;
        }
        let mut end = i;
        while end < chars.len() && is_ident_char(chars[end]) {
            end += 1;
        }
        let word: String = chars[i..end].iter().collect();
        let is_path = chars.get(end) == Some(&':') && chars.get(end + 1) == Some(&':');
        let base = match word.as_str() {
            _ if !is_path => None,
            "crate" => Some((Vec::new(), end + 2)),
            "self" => Some((module.clone(), end + 2)),
            "super" => {
                let mut base = module.clone();
                let mut pos = end;
                base.pop();
                // super::super::…
                while chars[pos..].starts_with(&[':', ':', 's', 'u', 'p', 'e', 'r', ':', ':']) {
                    base.pop();
                    pos += 7;
                }
                Some((base, pos + 2))
            }
            child if file.children.contains(child) => Some((module.clone(), i)),
            _ => None,
        };
        let Some((base, mut pos)) = base else {
            i = end;
            continue;
        };
        let statement_start: String = chars[i.saturating_sub(24)..i].iter().collect();
        let is_reexport = reexport_before.is_match(&statement_start);
        let mut leaves = Vec::new();
        parse_tree(&chars, &mut pos, &base, &mut leaves);
        for (segments, name) in leaves {
            found.push(Reference {
                segments,
                line,
                reexport: is_reexport.then_some(name),
            });
        }
        i = pos.max(end);
    }
    found
}

/// The crate's module graph: for each module, the modules it uses, each with one place it does.
struct Graph {
    edges: BTreeMap<ModPath, BTreeMap<ModPath, (PathBuf, usize)>>,
}

fn module_graph(modules: &BTreeMap<ModPath, ModuleFile>) -> Graph {
    let references: BTreeMap<&ModPath, Vec<Reference>> = modules
        .iter()
        .map(|(path, file)| (path, references(path, file)))
        .collect();
    // (module, name) → the path a `pub use` in that module points at.
    let mut reexports: BTreeMap<(ModPath, String), ModPath> = BTreeMap::new();
    for (module, refs) in &references {
        for reference in refs {
            if let Some(name) = &reference.reexport {
                reexports.insert(
                    ((*module).clone(), name.clone()),
                    reference.segments.clone(),
                );
            }
        }
    }
    let resolve = |segments: &ModPath| -> ModPath {
        let mut target = segments.clone();
        // Bounded: a chain of re-exports longer than this is not in this workspace.
        for _ in 0..16 {
            let mut current = Vec::new();
            let mut redirected = None;
            for segment in &target {
                let mut deeper = current.clone();
                deeper.push(segment.clone());
                if modules.contains_key(&deeper) {
                    current = deeper;
                    continue;
                }
                redirected = reexports
                    .get(&(current.clone(), segment.clone()))
                    .or_else(|| reexports.get(&(current.clone(), "*".to_string())))
                    .filter(|next| **next != target)
                    .cloned();
                break;
            }
            match redirected {
                Some(next) => target = next,
                None => return current,
            }
        }
        target
    };
    let mut edges: BTreeMap<ModPath, BTreeMap<ModPath, (PathBuf, usize)>> = BTreeMap::new();
    for (module, refs) in &references {
        let file = &modules[*module].file;
        for reference in refs.iter().filter(|r| r.reexport.is_none()) {
            let target = resolve(&reference.segments);
            if let Some((from, to)) = between_siblings(module, &target) {
                edges
                    .entry(from)
                    .or_default()
                    .entry(to)
                    .or_insert((file.clone(), reference.line));
            }
        }
    }
    Graph { edges }
}

/// A use of `to` by `from`, as a use between the two modules that sit side by side under their
/// closest common parent: `a::x` using `b::y` is the folder `a` using the folder `b`. A module
/// using its own parent or child is no edge: a folder's modules are one unit, and a child
/// taking what its parent defines is what `super::` is for.
fn between_siblings(from: &ModPath, to: &ModPath) -> Option<(ModPath, ModPath)> {
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    if common == from.len() || common == to.len() {
        return None;
    }
    Some((from[..=common].to_vec(), to[..=common].to_vec()))
}

/// The strongly connected components with more than one module (Tarjan's algorithm).
fn cycles(graph: &Graph) -> Vec<Vec<ModPath>> {
    struct State<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a ModPath, usize>,
        low: BTreeMap<&'a ModPath, usize>,
        stack: Vec<&'a ModPath>,
        on_stack: BTreeSet<&'a ModPath>,
        found: Vec<Vec<ModPath>>,
    }
    fn visit<'a>(state: &mut State<'a>, node: &'a ModPath) {
        let n = state.index.len();
        state.index.insert(node, n);
        state.low.insert(node, n);
        state.stack.push(node);
        state.on_stack.insert(node);
        let targets = state
            .graph
            .edges
            .get(node)
            .into_iter()
            .flat_map(|t| t.keys());
        for target in targets {
            if !state.index.contains_key(target) {
                visit(state, target);
                let low = state.low[target].min(state.low[node]);
                state.low.insert(node, low);
            } else if state.on_stack.contains(target) {
                let low = state.index[target].min(state.low[node]);
                state.low.insert(node, low);
            }
        }
        if state.low[node] == state.index[node] {
            let mut component = Vec::new();
            while let Some(member) = state.stack.pop() {
                state.on_stack.remove(member);
                component.push(member.clone());
                if member == node {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                state.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in graph.edges.keys() {
        if !state.index.contains_key(node) {
            visit(&mut state, node);
        }
    }
    state.found
}

fn describe(path: &ModPath) -> String {
    if path.is_empty() {
        "crate".to_string()
    } else {
        format!("crate::{}", path.join("::"))
    }
}

#[test]
fn no_modules_import_each_other_in_a_loop() {
    let root = workspace_root();
    let mut report = String::new();
    let mut modules_seen = 0;
    for src in crate_sources() {
        let modules = read_crate(&src);
        modules_seen += modules.len();
        let graph = module_graph(&modules);
        for component in cycles(&graph) {
            let crate_dir = src.parent().expect("src has a crate folder");
            let _ = writeln!(
                report,
                "{}: {}",
                crate_dir.strip_prefix(&root).unwrap_or(crate_dir).display(),
                component
                    .iter()
                    .map(describe)
                    .collect::<Vec<_>>()
                    .join(" ⇄ ")
            );
            for from in &component {
                for (to, (file, line)) in &graph.edges[from] {
                    if component.contains(to) {
                        let file = file.strip_prefix(&root).unwrap_or(file);
                        let _ = writeln!(
                            report,
                            "    {} uses {} ({}:{line})",
                            describe(from),
                            describe(to),
                            file.display()
                        );
                    }
                }
            }
        }
    }
    // The reader found the workspace's modules, not an empty tree that passes vacuously.
    assert!(modules_seen > 100, "only {modules_seen} modules read");
    assert!(
        report.is_empty(),
        "modules importing each other in a loop:\n{report}"
    );
}

/// The checker itself finds a loop through a re-export, and none in a layered pair.
#[test]
fn the_checker_finds_a_loop_through_a_reexport() {
    let module = |code: &str, children: &[&str]| ModuleFile {
        file: PathBuf::from("x.rs"),
        code: remove_test_modules(&strip_comments_and_literals(code)),
        children: children.iter().map(|c| c.to_string()).collect(),
    };
    let path = |segments: &[&str]| segments.iter().map(|s| s.to_string()).collect::<ModPath>();
    let mut modules = BTreeMap::new();
    modules.insert(
        path(&[]),
        module("mod a; mod b; pub use a::Thing;", &["a", "b"]),
    );
    modules.insert(
        path(&["a"]),
        module("use crate::b::helper; pub struct Thing;", &[]),
    );
    modules.insert(
        path(&["b"]),
        module(
            "// use crate::a; in a comment is no import\nuse crate::Thing; fn helper() {}",
            &[],
        ),
    );
    let found = cycles(&module_graph(&modules));
    assert_eq!(found, vec![vec![path(&["a"]), path(&["b"])]]);

    modules.insert(
        path(&["b"]),
        module("/* crate::Thing */ fn helper() {}", &[]),
    );
    assert!(cycles(&module_graph(&modules)).is_empty());

    modules.insert(
        path(&["b"]),
        module(
            "fn helper() {}\n#[cfg(test)]\nmod tests { use crate::a::Thing; }",
            &[],
        ),
    );
    assert!(
        cycles(&module_graph(&modules)).is_empty(),
        "test modules are left out"
    );

    // A loop between folders, through a module nested in one of them; a child using its parent
    // (`super::`) is no loop.
    modules.insert(
        path(&["a"]),
        module("mod inner; pub struct Thing;", &["inner"]),
    );
    modules.insert(
        path(&["a", "inner"]),
        module("use super::Thing; fn f() { crate::b::helper() }", &[]),
    );
    modules.insert(
        path(&["b"]),
        module("use crate::a::inner::f; fn helper() {}", &[]),
    );
    assert_eq!(
        cycles(&module_graph(&modules)),
        vec![vec![path(&["a"]), path(&["b"])]]
    );
    modules.insert(path(&["b"]), module("fn helper() {}", &[]));
    assert!(cycles(&module_graph(&modules)).is_empty());
}
