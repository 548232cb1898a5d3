//! The README's library examples are this crate's `examples/library.rs` (AWS) and
//! `examples/local_library.rs` (its local twin): the README shows each word for word, and they
//! deploy a stack to moto, and to the local runtime, from Rust

use std::path::Path;
use std::process::Command;

use meshtest_tests::moto::{MotoServer, isolate_aws_env};

/// The lines of `text` between the `// README: begin` and `// README: end` markers, without
/// their indentation.
fn marked_block(text: &str) -> String {
    let start = text.find("// README: begin\n").expect("begin marker") + "// README: begin\n".len();
    let end = text.find("// README: end").expect("end marker");
    let block = text[start..end].trim_end();
    let indent = block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    block
        .lines()
        .map(|line| line.get(indent..).unwrap_or("").trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
}

#[test]
fn the_readme_shows_both_examples_word_for_word() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for example in ["library", "local_library"] {
        let path = format!("deploy/examples/{example}.rs");
        let block = marked_block(&std::fs::read_to_string(root().join(&path)).unwrap());
        assert!(
            block.lines().count() <= 15,
            "{path} is over 15 lines:\n{block}"
        );
        assert!(
            readme.contains(&format!("```rust\n{block}\n```")),
            "README.md's library section must show {path} between its markers:\n{block}"
        );
    }
}

#[test]
fn the_example_deploys_the_gateway_app_to_moto() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    // The example as the test build made it: `cargo run -p deploy --example library` would
    // resolve other features and compile the AWS SDK a second time.
    let mut command = Command::new(meshtest_tests::built::executable("library"));
    command.current_dir(root()).arg(moto.endpoint_url());
    isolate_aws_env(&mut command);
    let output = command.output().expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // The engine's own report, read back from moto.
    assert!(stdout.contains("stack demo: CREATE_COMPLETE"), "{stdout}");
}

#[test]
fn the_local_example_deploys_reads_and_destroys_on_the_local_runtime() {
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("local-library-{}", std::process::id()));
    let binaries = crate::local_binaries();
    let mut command = Command::new(meshtest_tests::built::executable("local_library"));
    command
        .current_dir(root())
        .arg(&binaries.supervisor)
        .arg(&binaries.demo_app)
        .arg(&folder);
    let output = command.output().expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // The engine's own report: the deploy, the status it read, the destroy.
    assert!(stdout.contains("healthy in"), "{stdout}");
    assert!(stdout.contains("stopped demo:"), "{stdout}");
    assert!(
        !folder.join("local/demo").exists(),
        "destroy removes the state folder"
    );
}
