//! The non-test Rust source of the workspace's library and binary targets, parsed with syn and
//! walked module by module from each target's root, for the source checks (`module_cycles`,
//! `string_comparisons`).
//!
//! Modules are followed from their `mod` declarations, as the compiler does, so a module behind
//! `#[cfg(test)]` (and every `#[cfg(test)]` item) is left out without guessing from file names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use meshtest_tests::workspace_root;

/// One module of a target: a file, or an inline `mod name { ... }` inside one.
pub struct Module {
    /// The path from the crate root (`[]` for the root itself), inline modules included.
    pub path: Vec<String>,
    /// The file-level module it sits in: its own path unless it is an inline module.
    pub file_module: Vec<String>,
    /// The file, relative to the root the target was loaded from.
    pub file: String,
    /// Its items that are not test code, without its child modules (those are modules here).
    pub items: Vec<syn::Item>,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("path", &self.path)
            .field("file", &self.file)
            .field("items", &self.items.len())
            .finish()
    }
}

/// A library or binary target: every module reachable from its root.
#[derive(Debug)]
pub struct Target {
    /// `deploy` for a library, `deploy (bin meshtest-aws)` for a binary.
    pub label: String,
    pub modules: Vec<Module>,
    /// Each file's text, for quoting source.
    pub sources: BTreeMap<String, String>,
}

impl Target {
    pub fn has_module(&self, path: &[String]) -> bool {
        self.modules.iter().any(|m| m.path == path)
    }

    pub fn module(&self, path: &[String]) -> Option<&Module> {
        self.modules.iter().find(|m| m.path == path)
    }

    /// The source text between two span positions, whitespace collapsed to single spaces.
    pub fn quote(&self, file: &str, span: proc_macro2::Span) -> String {
        let (start, end) = (span.start(), span.end());
        let Some(source) = self.sources.get(file) else {
            return String::new();
        };
        let lines: Vec<&str> = source.lines().collect();
        let mut text = String::new();
        for line in start.line..=end.line {
            let Some(content) = lines.get(line - 1) else {
                break;
            };
            let chars: Vec<char> = content.chars().collect();
            let from = if line == start.line { start.column } else { 0 };
            let to = if line == end.line {
                end.column.min(chars.len())
            } else {
                chars.len()
            };
            text.extend(chars.get(from.min(to)..to).into_iter().flatten());
            text.push(' ');
        }
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

/// Formats a module path the way messages and allowlists name it: `crate` for the root.
pub fn module_name(path: &[String]) -> String {
    if path.is_empty() {
        "crate".to_string()
    } else {
        path.join("::")
    }
}

/// Whether the attributes put an item behind `#[cfg(test)]` (alone or in an `all(...)`).
pub fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        if !attr.path().is_ident("cfg") {
            return false;
        }
        let tokens = match &attr.meta {
            syn::Meta::List(list) => list.tokens.to_string(),
            _ => return false,
        };
        let words: Vec<&str> = tokens
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .collect();
        words.contains(&"test") && !words.contains(&"not") && !words.contains(&"any")
    })
}

/// The attributes of an item, for the kinds of item that can carry `#[cfg(test)]` here.
fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    use syn::Item;
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::ExternCrate(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

/// Loads a target from its root file (relative to `root`), reading files through `read`, so
/// tests can plant a made-up crate in memory.
pub fn load_target(
    label: &str,
    root_file: &str,
    read: &dyn Fn(&str) -> Option<String>,
) -> Result<Target, String> {
    let mut target = Target {
        label: label.to_string(),
        modules: Vec::new(),
        sources: BTreeMap::new(),
    };
    let dir = parent_dir(root_file);
    load_file(&mut target, Vec::new(), root_file, &dir, read)?;
    Ok(target)
}

fn parent_dir(file: &str) -> String {
    Path::new(file)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn load_file(
    target: &mut Target,
    path: Vec<String>,
    file: &str,
    child_dir: &str,
    read: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    let source = read(file).ok_or_else(|| format!("cannot read {file}"))?;
    let parsed = syn::parse_file(&source).map_err(|err| {
        let at = err.span().start();
        format!("{file}:{}:{}: {err}", at.line, at.column + 1)
    })?;
    target.sources.insert(file.to_string(), source);
    add_module(
        target,
        path.clone(),
        path,
        file,
        child_dir,
        parsed.items,
        read,
    )
}

fn add_module(
    target: &mut Target,
    path: Vec<String>,
    file_module: Vec<String>,
    file: &str,
    child_dir: &str,
    items: Vec<syn::Item>,
    read: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    let mut kept = Vec::new();
    let mut children = Vec::new();
    for item in items {
        if is_test_only(item_attrs(&item)) {
            continue;
        }
        match item {
            syn::Item::Mod(module) => children.push(module),
            other => kept.push(other),
        }
    }
    target.modules.push(Module {
        path: path.clone(),
        file_module: file_module.clone(),
        file: file.to_string(),
        items: kept,
    });
    for child in children {
        let name = child.ident.to_string();
        let mut child_path = path.clone();
        child_path.push(name.clone());
        let dir = join(child_dir, &name);
        match child.content {
            Some((_, items)) => add_module(
                target,
                child_path,
                file_module.clone(),
                file,
                &dir,
                items,
                read,
            )?,
            None => {
                let flat = join(child_dir, &format!("{name}.rs"));
                let nested = join(&dir, "mod.rs");
                let child_file = if read(&flat).is_some() { flat } else { nested };
                load_file(target, child_path, &child_file, &dir, read)?;
            }
        }
    }
    Ok(())
}

/// Every library and binary target of the workspace's crates, except the tests crate (test code
/// throughout), with files named relative to the workspace root.
pub fn workspace_targets() -> Vec<Target> {
    let root = workspace_root();
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(root.join("Cargo.toml"))
        .no_deps()
        .exec()
        .expect("cargo metadata on the workspace");
    let read = |file: &str| std::fs::read_to_string(root.join(file)).ok();
    let mut targets = Vec::new();
    for package in metadata.workspace_packages() {
        if package.name.as_str() == "meshtest-tests" {
            continue;
        }
        for target in &package.targets {
            let label = if target.is_lib() {
                package.name.to_string()
            } else if target.is_bin() {
                format!("{} (bin {})", package.name, target.name)
            } else {
                continue;
            };
            let src: PathBuf = target.src_path.clone().into();
            let relative = src
                .strip_prefix(&root)
                .expect("targets sit in the workspace")
                .to_string_lossy()
                .into_owned();
            targets
                .push(load_target(&label, &relative, &read).unwrap_or_else(|err| panic!("{err}")));
        }
    }
    assert!(
        targets.iter().any(|t| t.label == "deploy"),
        "the deploy library was not found"
    );
    targets
}

/// An in-memory file set for planted-violation tests.
pub fn in_memory(files: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let files: BTreeMap<String, String> = files
        .iter()
        .map(|(name, text)| (name.to_string(), text.to_string()))
        .collect();
    move |file: &str| files.get(file).cloned()
}
