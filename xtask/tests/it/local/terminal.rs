//! The live tree on a real terminal: `deploy` run on a pseudo-terminal (util-linux `script`)
//! redraws the whole stack's tree in place while it follows a rollout, and what a person sees at
//! the end (the screen of a terminal emulator fed the same bytes) is one tree and the lines
//! printed above it, not one copy of the tree per poll.

use std::num::NonZeroU16;
use std::process::Command;
use std::time::Duration;

use super::{DEPLOY_TIMEOUT, Deployed};

const ROWS: NonZeroU16 = NonZeroU16::new(200).unwrap();
const COLS: NonZeroU16 = NonZeroU16::new(120).unwrap();

/// Runs the xtask binary with `args` on a pseudo-terminal of `ROWS` x `COLS`: everything it
/// wrote to the terminal, escape sequences included.
fn on_a_terminal(args: &[&str]) -> Vec<u8> {
    let quoted: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_xtask"))
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    // `stty` sizes the pseudo-terminal: without a terminal on stdin, `script` leaves it 0 x 0.
    let inner = format!("stty rows {ROWS} cols {COLS}; exec {}", quoted.join(" "));
    let mut child = Command::new("script")
        .args(["--quiet", "--return", "--command", &inner, "/dev/null"])
        .env("TERM", "xterm-256color")
        .env("MESHTEST_LOCAL_GATEWAY_PORT", "0")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("util-linux `script` runs (Debian's bsdutils)");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut bytes);
        bytes
    });
    let deadline = std::time::Instant::now() + DEPLOY_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for script") {
            break status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            panic!("{args:?} on a terminal did not finish within {DEPLOY_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let bytes = reader.join().unwrap_or_default();
    assert!(
        status.success(),
        "{args:?} failed on a terminal:\n{}",
        String::from_utf8_lossy(&bytes)
    );
    bytes
}

#[test]
fn the_tree_is_redrawn_in_place_on_a_terminal() {
    let (stack, _) = Deployed::new("rollout", "terminal", &[]);
    let bytes = on_a_terminal(&[
        "deploy",
        &stack.app,
        "--local",
        "--stack-name",
        &stack.stack,
        "--version",
        "2",
        "--minute",
        "300ms",
    ]);
    let raw = String::from_utf8_lossy(&bytes);
    let header = format!("stack {}", stack.stack);
    let drawn = raw.matches(&header).count();
    let steps_drawn = (1..=5)
        .filter(|n| {
            raw.contains(&format!(
                "web: LINEAR 1 -> 2, PRODUCTION_TRAFFIC_SHIFT, step {n}/5"
            ))
        })
        .count();
    // The follower polls every 100 ms over ~2 s of rollout: the tree went out many times, at
    // most of the five steps (a loaded machine may poll past one).
    assert!(drawn >= 5, "the tree was drawn {drawn} times:\n{raw}");
    assert!(
        steps_drawn >= 3,
        "the tree showed {steps_drawn} of 5 steps:\n{raw}"
    );

    let mut terminal = vt100::Parser::new(ROWS, COLS, 0);
    terminal.process(&bytes);
    // The rows as a person sees them (indicatif pads a line to the width and lets the terminal
    // wrap instead of writing a newline, so the emulator's logical lines would run together).
    let screen = terminal
        .screen()
        .rows(0, COLS.get())
        .map(|row| row.trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    eprintln!("the screen at the end:\n{screen}");
    // What stays on screen: one tree (each redraw erased the last), showing the end, and none
    // of the steps the redraws went through.
    assert_eq!(
        screen.matches(&header).count(),
        1,
        "one tree, redrawn in place and left at the end:\n{screen}"
    );
    assert!(
        screen.contains("web: LINEAR 1 -> 2, SUCCESSFUL"),
        "the last tree stays:\n{screen}"
    );
    assert!(
        !screen.contains("web: LINEAR 1 -> 2, PRODUCTION_TRAFFIC_SHIFT"),
        "a step's tree was left on screen:\n{screen}"
    );
    // The one-line changes stay above, in order, as in a CI log.
    let lines: Vec<&str> = screen.lines().collect();
    let at = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("`{needle}` is not on screen:\n{screen}"))
    };
    let first = at("web 1 -> 2: PRODUCTION_TRAFFIC_SHIFT, step 1/5");
    let last = at("web: rollout to 2 finished, production traffic on 2");
    assert!(first < last, "{screen}");
    assert!(screen.contains("web took "), "{screen}");
}
