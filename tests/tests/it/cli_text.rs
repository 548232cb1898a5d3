//! No command-line text in the engine (issue 19 item 2): `deploy`'s non-test code names no
//! `cargo xtask` command and no flag of the command line. The engine says which verb would help
//! as data (`deploy::report::Next`), and its reporter words it (meshtest-cli: `cargo xtask
//! status gateway --watch`).
//!
//! What counts: every string literal in the non-test code of the `deploy` library (see
//! `rust_source`), inside macro arguments and thiserror's `#[error(...)]` too. A literal fails when it contains `cargo xtask`,
//! or names a flag (`--name`), unless that flag belongs to an AWS CLI command (`` `aws
//! cloudformation ... --stack-name x` ``, or the rest of a line after ` aws `), which is AWS's
//! text, not ours.
//!
//! A message names an input as data instead (`deploy::report::Input`), worded by the
//! reporter or, for an error, by whoever shows it (`said`): meshtest-cli by its flag. `KNOWN`
//! lists exceptions by file and flag (none are left): the test fails on a finding it does not
//! list, and on an entry that no longer matches.

use std::collections::BTreeSet;

use syn::visit::Visit;

use crate::rust_source::{Target, in_memory, load_target, workspace_targets};

/// Flags `deploy` still names in its messages: none. Each message names an input as data
/// (`deploy::report::Input`), and meshtest-cli words it as its flag (`cli/src/wording.rs`).
const KNOWN: &[(&str, &str)] = &[];

/// What the engine may not say, per file: `cargo xtask` or a flag.
fn findings(target: &Target) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for module in &target.modules {
        let mut literals = Literals(Vec::new());
        for item in &module.items {
            literals.visit_item(item);
        }
        for text in literals.0 {
            for word in cli_words(&text) {
                found.insert((module.file.clone(), word));
            }
        }
    }
    found
}

/// The command-line words in `text`: `cargo xtask`, and each `--flag` outside a backquoted
/// AWS CLI command.
fn cli_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    if text.contains("cargo xtask") {
        words.push("cargo xtask".to_owned());
    }
    for (i, segment) in text.split('`').enumerate() {
        // Odd segments are inside backquotes; an AWS CLI command runs to the segment's end.
        if i % 2 == 1 && segment.starts_with("aws ") {
            continue;
        }
        let ours = match segment.find(" aws ") {
            Some(at) => &segment[..at],
            None => segment,
        };
        let chars: Vec<char> = ours.chars().collect();
        for at in 0..chars.len() {
            let starts = chars[at] == '-'
                && chars.get(at + 1) == Some(&'-')
                && chars.get(at + 2).is_some_and(char::is_ascii_lowercase)
                && (at == 0 || !(chars[at - 1].is_alphanumeric() || chars[at - 1] == '-'));
            if starts {
                let flag: String = chars[at..]
                    .iter()
                    .take_while(|c| c.is_ascii_lowercase() || **c == '-')
                    .collect();
                words.push(flag);
            }
        }
    }
    words
}

/// Every string literal's value, macro arguments and `#[error(...)]` messages included, other
/// attributes (doc comments) not.
struct Literals(Vec<String>);

impl<'ast> Visit<'ast> for Literals {
    /// An error's message (thiserror's `#[error("...")]`) is a message; doc comments and other
    /// attributes are not.
    fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
        if attr.path().is_ident("error")
            && let syn::Meta::List(list) = &attr.meta
        {
            self.tokens(list.tokens.clone());
        }
    }

    fn visit_lit_str(&mut self, lit: &'ast syn::LitStr) {
        self.0.push(lit.value());
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.tokens(mac.tokens.clone());
    }
}

impl Literals {
    fn tokens(&mut self, tokens: proc_macro2::TokenStream) {
        for token in tokens {
            match token {
                proc_macro2::TokenTree::Group(group) => self.tokens(group.stream()),
                proc_macro2::TokenTree::Literal(lit) => {
                    if let Ok(text) = syn::parse_str::<syn::LitStr>(&lit.to_string()) {
                        self.0.push(text.value());
                    }
                }
                _ => {}
            }
        }
    }
}

/// What is found that `KNOWN` does not list, and the entries that match nothing.
fn unexpected(found: &BTreeSet<(String, String)>, known: &[(&str, &str)]) -> Vec<String> {
    let known: BTreeSet<(String, String)> = known
        .iter()
        .map(|(f, w)| (f.to_string(), w.to_string()))
        .collect();
    let mut problems: Vec<String> = found
        .difference(&known)
        .map(|(file, word)| format!("{file}: names `{word}`: say it as data (deploy::report::Next) and word it in meshtest-cli"))
        .collect();
    problems.extend(known.difference(found).map(|(file, word)| {
        format!("{file}: KNOWN lists `{word}`, which it no longer names: remove the entry")
    }));
    problems
}

#[test]
fn the_engine_names_no_command_line() {
    let targets = workspace_targets();
    let deploy = targets
        .iter()
        .find(|t| t.label == "deploy")
        .expect("the deploy library");
    let problems = unexpected(&findings(deploy), KNOWN);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn planted_command_line_text_fails() {
    let source = r#"
#[derive(Debug, thiserror::Error)]
pub enum E {
    /// Doc comments may say --force.
    #[error("--strategy only applies to the rollout app")]
    Strategy,
}
pub fn hint(stack: &str) -> String {
    let a = "run `cargo xtask status x`";
    let b = format!("pass --yes to go on ({stack})");
    let c = format!("see `aws cloudformation describe-stacks --stack-name {stack}`");
    let d = "a-b--c and 5--6 are not flags; cancel: aws cloudformation cancel-update-stack --stack-name x";
    format!("{a}{b}{c}{d}")
}
#[cfg(test)]
mod tests { fn t() -> &'static str { "cargo xtask deploy --local" } }
"#;
    let target = load_target(
        "planted",
        "src/lib.rs",
        &in_memory(&[("src/lib.rs", source)]),
    )
    .expect("the planted crate loads");
    let found = findings(&target);
    let words: Vec<&str> = found.iter().map(|(_, w)| w.as_str()).collect();
    assert_eq!(words, ["--strategy", "--yes", "cargo xtask"]);
    let planted = [
        ("src/lib.rs", "--strategy"),
        ("src/lib.rs", "--yes"),
        ("src/lib.rs", "cargo xtask"),
    ];
    assert_eq!(unexpected(&found, &planted), Vec::<String>::new());
    assert_eq!(
        unexpected(
            &found,
            &[&planted[..], &[("src/lib.rs", "--gone")]].concat()
        ),
        ["src/lib.rs: KNOWN lists `--gone`, which it no longer names: remove the entry"]
    );
}
