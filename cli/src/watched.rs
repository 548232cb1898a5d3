//! How a followed watch ends on the command line: `status --watch` and `status --wait-until`
//! turn the engine's [`Rollouts`] into a row of the exit-code table ([`Outcome`]), and a wait
//! says in one line why it ended

use deploy::outcome::Rollouts;
use deploy::report::Reporter;
use deploy::request::Wait;

use crate::args::Outcome;

/// How a followed watch ended, as an exit outcome ([`crate::args::Outcome`]'s table), with a
/// line saying so for a wait (`--wait-until`) on the target `label` names.
pub fn outcome(
    rollouts: Rollouts,
    wait: Option<Wait>,
    label: &str,
    local: bool,
    out: &dyn Reporter,
) -> Outcome {
    let Some(wait) = wait else {
        // `--watch` alone: 1 when one rolled back or stopped, as before the waits.
        return Outcome::of(rollouts != Rollouts::Failed);
    };
    let until = wait.until;
    // Waiting again judges the same deployments: since the same instant, not a new "10m ago".
    let since = wait
        .since
        .map(|t| format!(" --since {}", humantime::format_rfc3339_millis(t)))
        .unwrap_or_default();
    let local = if local { " --local" } else { "" };
    match rollouts {
        Rollouts::Reached | Rollouts::Completed => {
            out.line(format!("reached {until}"));
            Outcome::Success
        }
        Rollouts::Failed => {
            out.line(format!(
                "{until} cannot be reached any more: the deployment ended, or is rolling back or stopping, short of it"
            ));
            Outcome::Failure
        }
        Rollouts::TimedOut => {
            let waited = wait
                .timeout
                .map(|t| format!(" after {}", humantime::format_duration(t)))
                .unwrap_or_default();
            out.line(format!(
                "timed out{waited} waiting for {until}: the deployment carries on; wait again with `cargo xtask status {label} --wait-until {until}{since}{local}`"
            ));
            Outcome::TimedOut
        }
        Rollouts::NotFollowed => {
            out.line(format!("no rollout to wait for {until}"));
            Outcome::NothingInProgress
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each way a watch ends maps to one row of the exit-code table, with a line for a wait;
    /// `--watch` alone keeps 0 and 1.
    #[test]
    fn a_wait_ends_with_its_exit_code_and_says_why() {
        use deploy::request::Until;
        let wait = Wait {
            until: Until::Successful,
            timeout: Some(std::time::Duration::from_millis(1500)),
            since: None,
        };
        let cases = [
            (Rollouts::Reached, Outcome::Success, "reached SUCCESSFUL"),
            (
                Rollouts::Failed,
                Outcome::Failure,
                "SUCCESSFUL cannot be reached any more: the deployment ended, or is rolling back or stopping, short of it",
            ),
            (
                Rollouts::TimedOut,
                Outcome::TimedOut,
                "timed out after 1s 500ms waiting for SUCCESSFUL: the deployment carries on; wait again with `cargo xtask status r --wait-until SUCCESSFUL --local`",
            ),
            (
                Rollouts::NotFollowed,
                Outcome::NothingInProgress,
                "no rollout to wait for SUCCESSFUL",
            ),
        ];
        for (rollouts, expected, line) in cases {
            let out = deploy::Recorder::new();
            assert_eq!(outcome(rollouts, Some(wait), "r", true, &out), expected);
            assert_eq!(out.text().trim_end(), line);
        }
        // A wait since a time is retried since the same instant.
        let since = Wait {
            since: Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_475_600)),
            ..wait
        };
        let out = deploy::Recorder::new();
        outcome(Rollouts::TimedOut, Some(since), "r", false, &out);
        assert!(
            out.text().contains("wait again with `cargo xtask status r --wait-until SUCCESSFUL --since 2026-12-05T13:00:00.000Z`"),
            "{}",
            out.text()
        );
        let out = deploy::Recorder::new();
        assert_eq!(
            outcome(Rollouts::Failed, None, "r", true, &out),
            Outcome::Failure
        );
        assert_eq!(
            outcome(Rollouts::Completed, None, "r", true, &out),
            Outcome::Success
        );
        assert_eq!(
            outcome(Rollouts::NotFollowed, None, "r", true, &out),
            Outcome::Success
        );
        assert_eq!(out.text(), "");
    }
}
