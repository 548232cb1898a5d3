//! Cross-crate integration tests, all in one binary (one link, one process start per run).
//!
//! Tests that need cfn-lint, checkov or moto find them through `meshtest_tests::python_tool`, which
//! `cargo xtask test` sets up; under plain `cargo test` they print SKIPPED and return.

mod cfn_lint;
mod checkov;
mod cli_text;
mod dependency_rules;
mod local_core;
mod module_cycles;
mod rust_source;
mod string_comparisons;
mod templates;
mod tool_discovery;
