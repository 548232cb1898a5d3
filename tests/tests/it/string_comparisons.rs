//! No new comparison of a string-typed identity against a literal outside parsing (issue 19
//! item 4): a status, stage, kind, profile or app name is a type, and only the code that turns
//! text into that type may look at the text.
//!
//! What counts: in the non-test code of every library and binary (see `rust_source`), an
//! `a == "..."` or `a != "..."` (either side a string literal, through `&` and parentheses), and
//! a `matches!(a, "..." | ...)` whose pattern has a string literal; inside macro arguments too.
//! What is parsing, and so exempt: the body of an `impl FromStr`, `TryFrom`, `Deserialize` or
//! serde `Visitor`, and of a function named `from_str`, `parse`, `parse_*`, `deserialize` or
//! `deserialize_*` (serde's `deserialize_with` converters).
//!
//! Today's comparisons of identities are in `KNOWN`, by file and text, and comparisons of text
//! that is no identity (a path prefix, a URL scheme, a command-line token) in `ACCEPTED`, each
//! with why: the test fails on a comparison that is in neither and on an entry that no longer
//! matches one, so `KNOWN` only shrinks as the identities become types.

use std::collections::BTreeMap;

use syn::parse::Parser as _;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned as _;
use syn::visit::Visit;

use crate::rust_source::{Target, in_memory, load_target, workspace_targets};

/// A comparison: its file and its text (whitespace collapsed). An entry listed twice stands for
/// two identical comparisons in that file.
type Known = (&'static str, &'static str);

/// The identities still compared as text when the check was written (issue 19 item 4). This
/// list only shrinks: each entry goes when its status, stage, kind or name becomes a type.
const KNOWN: &[Known] = &[
    // AWS error codes and operation names.
    (
        "deploy/src/aws/rollout.rs",
        r#"matches!( code, "UnknownOperationException" | "UnknownOperation" | "InvalidAction" | "NotImplemented" )"#,
    ),
    ("deploy/src/aws/client.rs", r#"action == "CreateChangeSet""#),
    // A CloudFormation resource type read back from a template.
    (
        "deploy/src/aws/alarms.rs",
        r#"resource["Type"] != "AWS::CloudWatch::Alarm""#,
    ),
    // A process state letter from /proc.
    ("local-runtime/src/process.rs", r#"state == "X""#),
    ("local-runtime/src/process.rs", r#"state == "Z""#),
    // A security-group rule's direction.
    ("cfn-render/src/diff.rs", r#"direction == "egress""#),
    ("cfn-render/src/diff.rs", r#"r.direction == "egress""#),
];

/// Comparisons with text that is not an identity (a path, a URL scheme, a command-line token, a
/// key of a foreign JSON document), each with why. Unlike `KNOWN` this list may grow, with a
/// reason a reviewer accepts; a stale entry fails the same way.
const ACCEPTED: &[(&str, &str, &str)] = &[
    (
        "cfn-render/src/diff.rs",
        r#"k == "Condition""#,
        "an intrinsic's key in template JSON from GetTemplate",
    ),
    (
        "cfn-render/src/diff.rs",
        r#"k == "Ref""#,
        "an intrinsic's key in template JSON from GetTemplate",
    ),
    (
        "cfn-render/src/diff.rs",
        r#"f == "-1""#,
        "a port in template JSON from GetTemplate",
    ),
    (
        "cfn-render/src/diff.rs",
        r#"f == "0""#,
        "a port in template JSON from GetTemplate",
    ),
    (
        "cfn-render/src/diff.rs",
        r#"t == "65535""#,
        "a port in template JSON from GetTemplate",
    ),
    (
        "cfn-render/src/metric_series.rs",
        r#"s == ".""#,
        "a dimension value's text",
    ),
    (
        "demo-app/src/logging.rs",
        r#"field.name() == "message""#,
        "tracing's message field",
    ),
    (
        "demo-app/src/logging.rs",
        r#"field.name() == "message""#,
        "tracing's message field",
    ),
    (
        "deploy/src/error.rs",
        r#"code == "InvalidChangeSetStatus""#,
        "AWS's error code read into an AwsErrorKind (AwsErrorKind::classify)",
    ),
    (
        "deploy/src/error.rs",
        r#"code == "OperationAbortedException""#,
        "AWS's error code read into an AwsErrorKind (AwsErrorKind::classify)",
    ),
    (
        "deploy/src/aws/upload.rs",
        r#"aws.region != "us-east-1""#,
        "S3's rule for the one region without a location constraint",
    ),
    (
        "deploy/src/local/show.rs",
        r#"path == "/""#,
        "a route's path prefix",
    ),
    (
        "deploy/src/report.rs",
        r#"matches!( answer.trim().to_ascii_lowercase().as_str(), "y" | "yes" )"#,
        "reading a person's answer",
    ),
    (
        "load-client/src/h1.rs",
        r#"url.scheme() != "http""#,
        "a URL scheme",
    ),
    (
        "local-runtime/src/changes.rs",
        r#"key == "SERVICE_VERSION""#,
        "demo-app's environment variable",
    ),
    (
        "local-runtime/src/plan.rs",
        r#"prefix == "/""#,
        "a route's path prefix",
    ),
    (
        "model/src/downstream.rs",
        r#"name == "instance-data""#,
        "a host name the allow-list rule refuses",
    ),
    (
        "model/src/downstream.rs",
        r#"name == "localhost""#,
        "a host name the allow-list rule refuses",
    ),
    (
        "model/src/migrate.rs",
        r#"route.prefix != "/""#,
        "a route's path prefix",
    ),
    (
        "model/src/migrate.rs",
        r#"route.prefix != "/""#,
        "a route's path prefix",
    ),
    (
        "model/src/migrate.rs",
        r#"route.prefix == "/""#,
        "a route's path prefix",
    ),
    (
        "model/src/rules.rs",
        r#"q == "$LATEST""#,
        "a name rule's reserved qualifier",
    ),
    ("xtask/src/migrate.rs", r#"e != "json""#, "a file extension"),
    (
        "xtask/src/test_cmd.rs",
        r#"arg == "--manifest-path""#,
        "a cargo argument passed through",
    ),
    (
        "xtask/src/test_cmd.rs",
        r#"arg == "--package""#,
        "a cargo argument passed through",
    ),
    (
        "xtask/src/test_cmd.rs",
        r#"arg == "-p""#,
        "a cargo argument passed through",
    ),
    (
        "xtask/src/test_cmd.rs",
        r#"arg.as_str() != "--""#,
        "a cargo argument passed through",
    ),
];

/// Every comparison of a string literal outside parsing in `targets`, as `(file, text) -> lines`.
fn comparisons(targets: &[Target]) -> BTreeMap<(String, String), Vec<usize>> {
    let mut found: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for target in targets {
        for module in &target.modules {
            let mut finder = Finder {
                parsing: 0,
                found: Vec::new(),
            };
            for item in &module.items {
                finder.visit_item(item);
            }
            for span in finder.found {
                let text = target.quote(&module.file, span);
                found
                    .entry((module.file.clone(), text))
                    .or_default()
                    .push(span.start().line);
            }
        }
    }
    // A file in two targets (a binary that declares the library's modules) counts once.
    for lines in found.values_mut() {
        lines.sort();
        lines.dedup();
    }
    found
}

struct Finder {
    /// How deep inside parsing code the visitor is.
    parsing: usize,
    found: Vec<proc_macro2::Span>,
}

const PARSING_TRAITS: &[&str] = &["FromStr", "TryFrom", "Deserialize", "Visitor"];

fn is_parsing_fn(name: &str) -> bool {
    matches!(name, "from_str" | "parse" | "deserialize")
        || name.starts_with("parse_")
        || name.starts_with("deserialize_")
}

fn is_str_literal(expr: &syn::Expr) -> bool {
    match expr {
        syn::Expr::Lit(lit) => matches!(lit.lit, syn::Lit::Str(_)),
        syn::Expr::Reference(r) => is_str_literal(&r.expr),
        syn::Expr::Paren(p) => is_str_literal(&p.expr),
        syn::Expr::Group(g) => is_str_literal(&g.expr),
        _ => false,
    }
}

fn has_str_literal(pat: &syn::Pat) -> bool {
    match pat {
        syn::Pat::Lit(lit) => matches!(lit.lit, syn::Lit::Str(_)),
        syn::Pat::Or(or) => or.cases.iter().any(has_str_literal),
        syn::Pat::Paren(p) => has_str_literal(&p.pat),
        syn::Pat::Reference(r) => has_str_literal(&r.pat),
        syn::Pat::Tuple(t) => t.elems.iter().any(has_str_literal),
        syn::Pat::TupleStruct(t) => t.elems.iter().any(has_str_literal),
        syn::Pat::Slice(s) => s.elems.iter().any(has_str_literal),
        syn::Pat::Ident(i) => i.subpat.as_ref().is_some_and(|(_, p)| has_str_literal(p)),
        _ => false,
    }
}

/// `matches!`'s arguments: an expression, a pattern and an optional guard.
fn parse_matches(input: syn::parse::ParseStream<'_>) -> syn::Result<(syn::Expr, syn::Pat)> {
    let expr: syn::Expr = input.parse()?;
    input.parse::<syn::Token![,]>()?;
    let pat = syn::Pat::parse_multi_with_leading_vert(input)?;
    let _: proc_macro2::TokenStream = input.parse()?;
    Ok((expr, pat))
}

impl Finder {
    fn scoped(&mut self, parsing: bool, visit: impl FnOnce(&mut Self)) {
        self.parsing += usize::from(parsing);
        visit(self);
        self.parsing -= usize::from(parsing);
    }
}

impl<'ast> Visit<'ast> for Finder {
    fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {
        // Inline modules are modules of their own (rust_source).
    }

    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        let parsing = item.trait_.as_ref().is_some_and(|(_, path, _)| {
            path.segments
                .last()
                .is_some_and(|s| PARSING_TRAITS.iter().any(|t| s.ident == t))
        });
        self.scoped(parsing, |me| syn::visit::visit_item_impl(me, item));
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        if crate::rust_source::is_test_only(&item.attrs) {
            return;
        }
        let parsing = is_parsing_fn(&item.sig.ident.to_string());
        self.scoped(parsing, |me| syn::visit::visit_impl_item_fn(me, item));
    }

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        let parsing = is_parsing_fn(&item.sig.ident.to_string());
        self.scoped(parsing, |me| syn::visit::visit_item_fn(me, item));
    }

    fn visit_expr_binary(&mut self, expr: &'ast syn::ExprBinary) {
        let equality = matches!(expr.op, syn::BinOp::Eq(_) | syn::BinOp::Ne(_));
        if equality
            && self.parsing == 0
            && (is_str_literal(&expr.left) || is_str_literal(&expr.right))
        {
            self.found.push(expr.span());
        }
        syn::visit::visit_expr_binary(self, expr);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        if mac.path.is_ident("matches") {
            if let Ok((expr, pat)) = parse_matches.parse2(mac.tokens.clone()) {
                if self.parsing == 0 && has_str_literal(&pat) {
                    self.found.push(mac.span());
                }
                self.visit_expr(&expr);
            }
            return;
        }
        // Most macros (assert!, format!, bail!, ...) take expressions: look inside them.
        let args = Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated;
        if let Ok(exprs) = args.parse2(mac.tokens.clone()) {
            for expr in &exprs {
                self.visit_expr(expr);
            }
        }
    }
}

/// What differs between the comparisons found and `known`, as messages.
fn unexpected(targets: &[Target], known: &[Known]) -> Vec<String> {
    let found = comparisons(targets);
    let mut listed: BTreeMap<(String, String), usize> = BTreeMap::new();
    for &(file, text) in known {
        *listed
            .entry((file.to_string(), text.to_string()))
            .or_default() += 1;
    }
    let mut problems = Vec::new();
    for ((file, text), lines) in &found {
        let allowed = listed
            .get(&(file.clone(), text.clone()))
            .copied()
            .unwrap_or(0);
        if lines.len() > allowed {
            let at: Vec<String> = lines.iter().map(|l| format!("{file}:{l}")).collect();
            problems.push(format!(
                "{} compares a string literal: `{text}`: give the status, stage, kind or name a \
                 type (an enum parsed once, in a FromStr impl or serde converter) and compare \
                 that, or, if the text is no identity (a path, a URL scheme, a command-line \
                 token), add it to ACCEPTED with why; it is listed {allowed} time(s) in KNOWN \
                 and ACCEPTED and found {} time(s)",
                at.join(", "),
                lines.len()
            ));
        }
    }
    for ((file, text), allowed) in &listed {
        let count = found.get(&(file.clone(), text.clone())).map_or(0, Vec::len);
        if count < *allowed {
            problems.push(format!(
                "KNOWN and ACCEPTED list `{text}` in {file} {allowed} time(s), and it is there \
                 {count} time(s): remove the entries that are gone, so the lists only shrink"
            ));
        }
    }
    problems
}

#[test]
fn no_new_string_comparisons() {
    let targets = workspace_targets();
    let found = comparisons(&targets);
    for ((file, text), lines) in &found {
        println!("{file} {lines:?}: {text}");
    }
    let allowed: Vec<Known> = KNOWN
        .iter()
        .copied()
        .chain(ACCEPTED.iter().map(|&(file, text, _)| (file, text)))
        .collect();
    let problems = unexpected(&targets, &allowed);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn planted_comparisons_fail() {
    let source = r#"
use std::str::FromStr;
pub enum Kind { Service }
impl FromStr for Kind {
    type Err = String;
    fn from_str(text: &str) -> Result<Kind, String> {
        if text == "service" { Ok(Kind::Service) } else { Err(text.to_string()) }
    }
}
pub fn parse_profile(text: &str) -> bool { text != "debug" }
fn deserialize_status<'de, D: serde::Deserializer<'de>>(d: D) -> bool { matches!(d, "x") }
pub fn show(kind: &str, status: String) -> bool {
    let a = kind == "service";
    let b = "FAILED" != status.as_str();
    let c = matches!(kind, "green" | "blue");
    let d = matches!(kind, Some(_));
    assert!(status == "SUCCESSFUL", "{}", kind.len());
    let e = kind.len() == 3;
    a && b && c && d && e
}
#[cfg(test)]
mod tests { fn t(k: &str) -> bool { k == "service" } }
"#;
    let targets = vec![
        load_target(
            "planted",
            "src/lib.rs",
            &in_memory(&[("src/lib.rs", source)]),
        )
        .unwrap(),
    ];
    let found: Vec<(String, usize)> = comparisons(&targets)
        .into_iter()
        .flat_map(|((_, text), lines)| lines.into_iter().map(move |l| (text.clone(), l)))
        .collect();
    assert_eq!(
        found,
        [
            ("\"FAILED\" != status.as_str()".to_string(), 14),
            ("kind == \"service\"".to_string(), 13),
            ("matches!(kind, \"green\" | \"blue\")".to_string(), 15),
            ("status == \"SUCCESSFUL\"".to_string(), 17),
        ]
    );
    let problems = unexpected(&targets, &[]);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(
        problems[1].starts_with("src/lib.rs:13 compares a string literal: `kind == \"service\"`"),
        "{problems:#?}"
    );
    // Listed, they pass; an entry listed once more than found fails.
    let known = [
        ("src/lib.rs", "\"FAILED\" != status.as_str()"),
        ("src/lib.rs", "kind == \"service\""),
        ("src/lib.rs", "matches!(kind, \"green\" | \"blue\")"),
        ("src/lib.rs", "status == \"SUCCESSFUL\""),
    ];
    assert_eq!(unexpected(&targets, &known), Vec::<String>::new());
    let stale = [known.as_slice(), &[("src/lib.rs", "kind == \"service\"")]].concat();
    let problems = unexpected(&targets, &stale);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].contains("remove the entries that are gone"),
        "{problems:#?}"
    );
}
