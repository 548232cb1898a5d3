//! No new cycle between the modules of a crate, at file level (issue 19).
//!
//! The rule. Each file is a node (an inline `mod name { ... }` belongs to its file's node; test
//! code is left out, see `rust_source`). A module *uses* another when its code names an item of
//! it: a path (in code, types, patterns, macro arguments, `#[serde(with = "...")]`) or a `use`
//! that resolves, through `crate::`, `self::`, `super::`, a child module's name or an imported
//! module, to the deepest module it walks through; `use super::*` uses the parent. Declaring
//! `mod child` is not a use, nor is importing a module by name (`use crate::aws;`): the edge
//! comes from what is then named through it. So a parent that declares a child and uses its
//! items is fine; a child that also uses the parent's own items (or a re-export the parent makes)
//! closes a cycle. A cycle is a strongly connected group of two or more files of one target.
//!
//! Today's cycles are in `KNOWN_CYCLES`, each named: the test fails on a cycle that is not there
//! (a new one, or a known one that grew or shrank: update the entry) and on an entry that no
//! longer matches a cycle, so the list can only shrink.
//!
//! (This replaces `scripts/module-cycles.py`, which saw top-level modules only.)

use std::collections::{BTreeMap, BTreeSet};

use syn::visit::Visit;

use crate::rust_source::{Module, Target, in_memory, load_target, module_name, workspace_targets};

/// A cycle that exists today, with what it is, so it can be removed on purpose.
#[derive(Debug, Clone)]
struct KnownCycle {
    target: &'static str,
    /// Every file-level module of the strongly connected group, sorted.
    modules: &'static [&'static str],
}

/// The module cycles at file level when the check was written. Another helper reshaping
/// `deploy` or `local-runtime` breaks them up; the test then asks for the entry to go.
const KNOWN_CYCLES: &[KnownCycle] = &[
    // The alarm module reads the deployment and spec types; `Deployment::detection` calls back
    // into it, and the spec holds the deployment's raw form.
    KnownCycle {
        target: "model",
        modules: &["alarm", "deployment", "spec"],
    },
    // The renderers take `RenderOptions` and helpers from lib.rs, which calls every renderer,
    // and they share each other's resource builders.
    KnownCycle {
        target: "cfn-render",
        modules: &[
            "alb",
            "appmesh",
            "appmesh_arn",
            "checkov",
            "crate",
            "deployment",
            "ecs",
            "network",
            "template",
        ],
    },
    // `Supervisor` (supervisor/mod.rs) holds `Inner`, whose parts by concern (routing, tasks,
    // the rollout driver, the adoption of what a dead supervisor left) and the control API
    // reach back into it and into each other.
    KnownCycle {
        target: "local-supervisor (bin meshtest-local)",
        modules: &[
            "supervisor",
            "supervisor::adopt",
            "supervisor::api",
            "supervisor::driver",
            "supervisor::routing",
            "supervisor::tasks",
        ],
    },
    // aws.rs holds the flows' shared helpers (`region_suffix`, ...) and re-exports the flows
    // its children define; each flow uses the helpers.
    KnownCycle {
        target: "deploy",
        modules: &[
            "aws",
            "aws::alarms",
            "aws::client",
            "aws::deploy",
            "aws::destroy",
            "aws::diff",
            "aws::rollout",
            "aws::stack",
            "aws::status",
            "aws::upload",
            "aws::verify",
        ],
    },
    // local.rs holds the local flows and their shared types; its children (the state, the
    // rollout view, the display) use those types while local.rs calls them. (`Error` no longer
    // names anything of local.rs: `LocalBinary` moved to error.rs, issue 19.)
    KnownCycle {
        target: "deploy",
        modules: &["local", "local::rollout", "local::show", "local::state"],
    },
];

/// The file-level dependency graph of one target: `from -> to -> first place it is named`.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

fn graph(target: &Target) -> Graph {
    let mut graph = Graph::new();
    for module in &target.modules {
        let from = module_name(&module.file_module);
        graph.entry(from.clone()).or_default();
        let mut collector = Collector {
            target,
            module,
            aliases: module_aliases(target, module),
            found: Vec::new(),
        };
        for item in &module.items {
            collector.visit_item(item);
        }
        for (to, line) in collector.found {
            let Some(to_module) = target.module(&to) else {
                continue;
            };
            let to = module_name(&to_module.file_module);
            if to != from {
                graph
                    .entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_insert_with(|| format!("{}:{line}", module.file));
            }
        }
    }
    graph
}

/// Where a path leads: the deepest module it walks through, and whether it names that module
/// itself (nothing after it) rather than an item in it.
fn resolve(
    target: &Target,
    module: &[String],
    aliases: &BTreeMap<String, Vec<String>>,
    segments: &[String],
) -> Option<(Vec<String>, bool)> {
    let first = segments.first()?;
    let (mut current, mut next) = match first.as_str() {
        "crate" => (Vec::new(), 1),
        "self" => (module.to_vec(), 1),
        "super" => {
            let mut current = module.to_vec();
            let mut next = 0;
            while segments.get(next).is_some_and(|s| s == "super") {
                current.pop()?;
                next += 1;
            }
            (current, next)
        }
        name => {
            let mut child = module.to_vec();
            child.push(name.to_string());
            if target.has_module(&child) {
                (child, 1)
            } else {
                (aliases.get(name)?.clone(), 1)
            }
        }
    };
    while let Some(segment) = segments.get(next) {
        let mut child = current.clone();
        child.push(segment.clone());
        if !target.has_module(&child) {
            break;
        }
        current = child;
        next += 1;
    }
    Some((current, next == segments.len()))
}

/// One leaf of a `use` tree: the full path, the name it binds (`None` for a glob), and the line.
struct UseLeaf {
    segments: Vec<String>,
    binds: Option<String>,
    line: usize,
}

fn use_leaves(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<UseLeaf>) {
    match tree {
        syn::UseTree::Path(path) => {
            prefix.push(path.ident.to_string());
            use_leaves(&path.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(name) => {
            let ident = name.ident.to_string();
            // `use foo::{self}` names `foo` itself.
            let mut segments = prefix.clone();
            let binds = if ident == "self" {
                prefix.last().cloned()
            } else {
                segments.push(ident.clone());
                Some(ident)
            };
            out.push(UseLeaf {
                segments,
                binds,
                line: name.ident.span().start().line,
            });
        }
        syn::UseTree::Rename(rename) => {
            let mut segments = prefix.clone();
            if rename.ident != "self" {
                segments.push(rename.ident.to_string());
            }
            out.push(UseLeaf {
                segments,
                binds: Some(rename.rename.to_string()),
                line: rename.ident.span().start().line,
            });
        }
        syn::UseTree::Glob(glob) => out.push(UseLeaf {
            segments: prefix.clone(),
            binds: None,
            line: glob.star_token.span.start().line,
        }),
        syn::UseTree::Group(group) => {
            for tree in &group.items {
                use_leaves(tree, prefix, out);
            }
        }
    }
}

/// The modules a module imports by name (`use crate::aws;`, `use super::stack as s;`).
fn module_aliases(target: &Target, module: &Module) -> BTreeMap<String, Vec<String>> {
    let mut leaves = Vec::new();
    let mut uses = UseFinder(Vec::new());
    for item in &module.items {
        uses.visit_item(item);
    }
    for tree in &uses.0 {
        use_leaves(tree, &mut Vec::new(), &mut leaves);
    }
    let none = BTreeMap::new();
    leaves
        .into_iter()
        .filter_map(|leaf| {
            let (to, exact) = resolve(target, &module.path, &none, &leaf.segments)?;
            (exact && leaf.binds.is_some()).then(|| (leaf.binds.unwrap_or_default(), to))
        })
        .collect()
}

/// Every `use` tree of some items, nested ones (in function bodies) included.
struct UseFinder(Vec<syn::UseTree>);

impl<'ast> Visit<'ast> for UseFinder {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.0.push(item.tree.clone());
    }
}

/// Collects the modules one module uses, each with the line that names it.
struct Collector<'a> {
    target: &'a Target,
    module: &'a Module,
    aliases: BTreeMap<String, Vec<String>>,
    found: Vec<(Vec<String>, usize)>,
}

impl Collector<'_> {
    fn path(&mut self, segments: &[String], line: usize) {
        if let Some((to, _)) = resolve(self.target, &self.module.path, &self.aliases, segments) {
            self.found.push((to, line));
        }
    }

    /// Paths inside a macro's tokens (`format!("{}", super::NAME)`, `select! { ... }`): each run
    /// of `ident :: ident ...`.
    fn tokens(&mut self, tokens: proc_macro2::TokenStream) {
        let tokens: Vec<proc_macro2::TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                proc_macro2::TokenTree::Group(group) => {
                    self.tokens(group.stream());
                    i += 1;
                }
                proc_macro2::TokenTree::Ident(ident) => {
                    let line = ident.span().start().line;
                    let mut segments = vec![ident.to_string()];
                    let mut j = i + 1;
                    while let (
                        Some(proc_macro2::TokenTree::Punct(a)),
                        Some(proc_macro2::TokenTree::Punct(b)),
                        Some(proc_macro2::TokenTree::Ident(next)),
                    ) = (tokens.get(j), tokens.get(j + 1), tokens.get(j + 2))
                    {
                        if a.as_char() != ':' || b.as_char() != ':' {
                            break;
                        }
                        segments.push(next.to_string());
                        j += 3;
                    }
                    // A lone identifier is a local name as often as an item: only paths count.
                    if segments.len() > 1 && !(i > 0 && is_dollar(&tokens[i - 1])) {
                        self.path(&segments, line);
                    }
                    i = j;
                }
                _ => i += 1,
            }
        }
    }
}

fn is_dollar(token: &proc_macro2::TokenTree) -> bool {
    matches!(token, proc_macro2::TokenTree::Punct(p) if p.as_char() == '$')
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {
        // Inline modules are modules of their own (rust_source); a declaration is not a use.
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let mut leaves = Vec::new();
        use_leaves(&item.tree, &mut Vec::new(), &mut leaves);
        for leaf in leaves {
            let Some((to, exact)) = resolve(
                self.target,
                &self.module.path,
                &self.aliases,
                &leaf.segments,
            ) else {
                continue;
            };
            // Importing a module by name is not a use of it; a glob of it is.
            if exact && leaf.binds.is_some() {
                continue;
            }
            self.found.push((to, leaf.line));
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        if segments.len() > 1 {
            let line = path.segments[0].ident.span().start().line;
            self.path(&segments, line);
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.visit_path(&mac.path);
        self.tokens(mac.tokens.clone());
    }

    fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
        // `#[serde(with = "crate::module")]` and friends name modules in strings.
        if !attr.path().is_ident("serde") {
            return;
        }
        if let syn::Meta::List(list) = &attr.meta {
            for token in list.tokens.clone() {
                let proc_macro2::TokenTree::Literal(literal) = token else {
                    continue;
                };
                let Ok(syn::Lit::Str(text)) = syn::parse_str::<syn::Lit>(&literal.to_string())
                else {
                    continue;
                };
                let segments: Vec<String> = text.value().split("::").map(str::to_string).collect();
                if segments.len() > 1 {
                    self.path(&segments, literal.span().start().line);
                }
            }
        }
    }
}

/// Strongly connected groups of two or more nodes (Tarjan), each sorted.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        let graph = s.graph;
        for w in graph.get(v).into_iter().flat_map(|edges| edges.keys()) {
            let w = w.as_str();
            if !graph.contains_key(w) {
                continue;
            }
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                group.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.out.push(group);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !state.index.contains_key(v.as_str()) {
            visit(&mut state, v);
        }
    }
    state.out.sort();
    state.out
}

/// Every cycle of `targets`, as `(target, modules, the edges inside it with where each is named)`.
fn find_cycles(targets: &[Target]) -> Vec<(String, Vec<String>, Vec<String>)> {
    let mut found = Vec::new();
    for target in targets {
        let graph = graph(target);
        for group in cycles(&graph) {
            let edges = group
                .iter()
                .flat_map(|from| {
                    graph[from]
                        .iter()
                        .filter(|(to, _)| group.contains(to))
                        .map(move |(to, at)| format!("{from} -> {to} ({at})"))
                })
                .collect();
            found.push((target.label.clone(), group, edges));
        }
    }
    found
}

/// What differs between the cycles found and the known ones, as messages.
fn unexpected(targets: &[Target], known: &[KnownCycle]) -> Vec<String> {
    let found = find_cycles(targets);
    let mut problems = Vec::new();
    for (target, modules, edges) in &found {
        let listed = known
            .iter()
            .any(|k| k.target == target && k.modules == modules.as_slice());
        if !listed {
            problems.push(format!(
                "{target}: module cycle {{{}}} is not in KNOWN_CYCLES: a child must not use its \
                 parent's items while the parent uses the child's; move what both need into one \
                 of them or a module of its own (if a known cycle only shrank, update its entry)\n    {}",
                modules.join(", "),
                edges.join("\n    ")
            ));
        }
    }
    for k in known {
        let still = found
            .iter()
            .any(|(target, modules, _)| target == k.target && modules == k.modules);
        if !still {
            problems.push(format!(
                "{}: KNOWN_CYCLES lists {{{}}}, which is no longer a cycle: remove the entry (or \
                 update it to the smaller cycle reported above)",
                k.target,
                k.modules.join(", ")
            ));
        }
    }
    problems
}

#[test]
fn no_new_module_cycles() {
    let targets = workspace_targets();
    // Positive control: the deploy library's tree is read through its `mod` declarations.
    let deploy = targets.iter().find(|t| t.label == "deploy").unwrap();
    assert!(deploy.modules.len() > 5, "{:?}", deploy.modules.len());
    for (target, modules, edges) in find_cycles(&targets) {
        println!(
            "{target}: {{{}}}\n    {}",
            modules.join(", "),
            edges.join("\n    ")
        );
    }
    let problems = unexpected(&targets, KNOWN_CYCLES);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn planted(files: &[(&str, &str)]) -> Vec<Target> {
    vec![load_target("planted", "src/lib.rs", &in_memory(files)).unwrap()]
}

fn cycle_sets(targets: &[Target]) -> Vec<Vec<String>> {
    find_cycles(targets)
        .into_iter()
        .map(|(_, m, _)| m)
        .collect()
}

#[test]
fn parent_using_its_child_is_not_a_cycle() {
    let targets = planted(&[
        (
            "src/lib.rs",
            "mod aws;\nmod util { pub fn f() {} }\npub fn run() { aws::deploy::go(); util::f(); }",
        ),
        (
            "src/aws.rs",
            "pub mod deploy;\npub mod stack;\nuse crate::aws;\npub fn x() { deploy::go(); }",
        ),
        ("src/aws/stack.rs", "pub fn make() {}"),
        // The child names its siblings, an external crate and its own items only.
        (
            "src/aws/deploy.rs",
            "use super::stack;\nuse std::fmt;\npub fn go() { stack::make(); self::inner(); }\n\
             fn inner() {}\n#[cfg(test)]\nmod tests { use super::super::x; }",
        ),
    ]);
    assert_eq!(cycle_sets(&targets), Vec::<Vec<String>>::new());
}

#[test]
fn child_using_its_parent_is_a_cycle() {
    for child in [
        "pub fn go() { super::helper(); }",
        "use super::*;\npub fn go() { helper(); }",
        "use crate::aws::helper;\npub fn go() { helper(); }",
        "use crate::aws::{self, stack};\npub fn go() { aws::helper(); stack::f(); }",
        "pub fn go() -> String { format!(\"{}\", super::helper()) }",
        "pub fn go(_: super::Thing) {}",
        "#[derive(serde::Serialize)]\npub struct S { #[serde(with = \"crate::aws\")] t: u8 }",
    ] {
        let targets = planted(&[
            ("src/lib.rs", "mod aws;"),
            (
                "src/aws.rs",
                "mod deploy;\nmod stack { pub fn f() {} }\npub struct Thing;\n\
                 pub fn helper() { deploy::go(); }",
            ),
            ("src/aws/deploy.rs", child),
        ]);
        assert_eq!(cycle_sets(&targets), [["aws", "aws::deploy"]], "{child}");
    }
}

#[test]
fn a_planted_cycle_fails_and_a_stale_entry_fails() {
    let targets = planted(&[
        ("src/lib.rs", "mod local;\nmod other;"),
        (
            "src/local.rs",
            "mod state;\npub struct Settings;\npub fn f() { state::load(); }",
        ),
        (
            "src/local/state.rs",
            "pub fn load() -> crate::local::Settings { crate::local::Settings }",
        ),
        ("src/other.rs", "pub fn g() {}"),
    ]);
    let problems = unexpected(&targets, &[]);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0]
            .starts_with("planted: module cycle {local, local::state} is not in KNOWN_CYCLES"),
        "{problems:#?}"
    );
    assert!(
        problems[0].contains("local::state -> local (src/local/state.rs:1)"),
        "{problems:#?}"
    );
    let known = [KnownCycle {
        target: "planted",
        modules: &["local", "local::state"],
    }];
    assert_eq!(unexpected(&targets, &known), Vec::<String>::new());
    let stale = [KnownCycle {
        target: "planted",
        modules: &["other", "local"],
    }];
    let problems = unexpected(&targets, &[known.as_slice(), &stale].concat());
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].contains("no longer a cycle"), "{problems:#?}");
}
