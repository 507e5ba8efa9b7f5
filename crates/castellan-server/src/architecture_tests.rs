//! The server's layout, checked: HTTP types stay in the `http/` modules, the edge, the error
//! mapping and the crate root; page handlers read forms only through `CsrfForm`; and no loop
//! of `use crate::…` imports spans more than three files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The longest import loop allowed (a module and its submodule's helper, say).
const LONGEST_LOOP: usize = 3;

/// Files outside an `http/` module that may name axum, hyper or `http` types, and why.
const HTTP_ALLOWED: &[(&str, &str)] = &[
    ("lib.rs", "builds the router and serves it"),
    ("platform/edge.rs", "the service in front of the router"),
    (
        "gateway/forward_auth.rs",
        "the guard's route table and policies take the original request's method and headers",
    ),
];

/// Every `.rs` file under `src/`, by its path relative to `src/`.
fn sources() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path: PathBuf = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.insert(rel, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    files
}

/// The code of a file without its unit tests and comments.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module path of a file (`oauth/http/token.rs` → `oauth::http::token`; `lib.rs` → ``).
fn module_of(file: &str) -> String {
    let m = file.trim_end_matches(".rs");
    let m = m.strip_suffix("/mod").unwrap_or(m);
    if m == "lib" {
        String::new()
    } else {
        m.replace('/', "::")
    }
}

fn is_http_side(file: &str) -> bool {
    file.contains("http/")
        || file.starts_with("error/")
        || file.ends_with("_tests.rs")
        || HTTP_ALLOWED.iter().any(|(f, _)| *f == file)
}

#[test]
fn http_types_stay_at_the_edge() {
    let mut offenders = Vec::new();
    for (file, text) in sources() {
        if is_http_side(&file) {
            continue;
        }
        let code = code(&text);
        if ["axum::", "hyper::", "use http::", " http::", "IntoResponse"]
            .iter()
            .any(|needle| code.contains(needle))
        {
            offenders.push(file);
        }
    }
    assert!(
        offenders.is_empty(),
        "these files name HTTP types outside an http/ module: {offenders:?}"
    );
}

/// Whether `code` reads a form with axum's `Form` (`Form(…)` or `Form<…>`), not `CsrfForm`.
fn reads_a_bare_form(code: &str) -> bool {
    code.match_indices("Form").any(|(i, _)| {
        let before = &code[..i];
        let next = code[i + "Form".len()..].chars().next();
        matches!(next, Some('<' | '('))
            && !before.ends_with("Csrf")
            && !before.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
    })
}

#[test]
fn a_bare_form_is_seen() {
    assert!(reads_a_bare_form("Form(form): Form<LoginForm>,"));
    assert!(reads_a_bare_form("axum::Form<T>"));
    assert!(!reads_a_bare_form(
        "CsrfForm { browser, form }: CsrfForm<LoginForm>,"
    ));
    assert!(!reads_a_bare_form("impl PageForm for LoginForm {"));
}

#[test]
fn page_forms_are_read_through_csrf_form() {
    let mut offenders = Vec::new();
    for (file, text) in sources() {
        if !file.contains("http/") || file.ends_with("csrf_form.rs") {
            continue;
        }
        if reads_a_bare_form(&code(&text)) {
            offenders.push(file);
        }
    }
    assert!(
        offenders.is_empty(),
        "these handlers read a form without CsrfForm: {offenders:?}"
    );
}

/// The modules each module imports (`crate::a::b::c` resolved to the longest existing module).
fn imports(files: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<String> = files.keys().map(|f| module_of(f)).collect();
    let resolve = |path: &str| -> Option<String> {
        let parts: Vec<&str> = path.split("::").collect();
        (0..=parts.len())
            .rev()
            .map(|n| parts[..n].join("::"))
            .find(|m| modules.contains(m))
    };
    let mut graph = BTreeMap::new();
    for (file, text) in files {
        let me = module_of(file);
        let code = code(text);
        let mut targets = BTreeSet::new();
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let path: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let path = path.trim_end_matches(':');
            let after = &rest[path.len()..];
            // `crate::a::{b, c::d}`: each item of the group.
            let group = after
                .strip_prefix("::{")
                .and_then(|g| g.split('}').next())
                .map_or_else(
                    || vec![path.to_owned()],
                    |g| {
                        g.split(',')
                            .map(|item| {
                                format!(
                                    "{path}::{}",
                                    item.trim().split([' ', ':']).next().unwrap_or("")
                                )
                            })
                            .collect::<Vec<_>>()
                    },
                );
            for p in group {
                if let Some(m) = resolve(&p) {
                    if m != me {
                        targets.insert(m);
                    }
                }
            }
        }
        graph.insert(me, targets);
    }
    graph
}

/// The strongly connected components of `graph` (Tarjan).
fn loops(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<Vec<String>>,
    }
    impl<'g> Walk<'g> {
        fn visit(&mut self, v: &'g str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.graph.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                self.found.push(component);
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

#[test]
fn no_import_loop_spans_more_than_three_files() {
    let graph = imports(&sources());
    let too_long: Vec<_> = loops(&graph)
        .into_iter()
        .filter(|c| c.len() > LONGEST_LOOP)
        .collect();
    assert!(too_long.is_empty(), "import loops: {too_long:?}");
}

#[test]
fn the_loop_check_sees_a_loop() {
    let graph: BTreeMap<String, BTreeSet<String>> =
        [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a")]
            .into_iter()
            .map(|(from, to)| (from.to_owned(), BTreeSet::from([to.to_owned()])))
            .collect();
    let found = loops(&graph);
    assert!(found.iter().any(|c| c.len() == 4), "{found:?}");
}
