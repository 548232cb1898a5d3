//! What `deploy --local` and `status --local` show of what runs, and the hint to try it

use std::path::Path;

use crate::report::Reporter;
use crate::rollout_view;
use local_runtime::control::Status;
use local_runtime::plan::{GatewayRoutePlan, GatewayTarget, NameTarget};
use local_runtime::rollout::alarm::Datapoint;
use local_runtime::state_dir::StateDir;

use super::Folders;

/// What runs: the gateway, every service and task, the mesh names, the blue-green state and
/// the rollout.
pub(super) fn print_status(out: &dyn Reporter, status: &Status, dir: &StateDir, folders: &Folders) {
    out.line(format!(
        "{} runs locally (state in {})",
        status.stack,
        folders.shown(dir.path())
    ));
    if let Some(g) = &status.gateway {
        out.line(format!(
            "  gateway {:<16} {}   {}",
            g.name,
            g.url,
            g.routes
                .iter()
                .map(GatewayRoutePlan::describe)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for svc in &status.services {
        out.line(format!(
            "  service {:<16} {}   version {}, {}/{} task{}{}",
            svc.name,
            svc.url,
            svc.version,
            svc.tasks.len(),
            svc.desired_count,
            if svc.desired_count == 1 { "" } else { "s" },
            if svc.restarts > 0 {
                format!(", {} restart(s)", svc.restarts)
            } else {
                String::new()
            }
        ));
        for task in &svc.tasks {
            out.line(format!(
                "    task {:<18} {}   pid {}, log {}",
                task.id,
                task.url,
                task.pid,
                folders.shown(Path::new(&task.log))
            ));
        }
    }
    let names: Vec<String> = status
        .names
        .iter()
        .map(|n| {
            if n.port == 80 {
                n.name.clone()
            } else {
                format!("{}:{}", n.name, n.port)
            }
        })
        .collect();
    if !names.is_empty() {
        out.line(format!(
            "  mesh names (from inside the services, through {}): {}",
            status.egress_url,
            names.join(", ")
        ));
    }
    if let Some(state) = &status.blue_green_state {
        out.line(format!("  blue-green state {}", state.to_json()));
    }
    if let Some(rollout) = &status.rollout {
        out.line(format!(
            "  rollout {} (one model minute = {} ms; {:.1} s of {:.1} s of bakes)",
            rollout_view::summary(&rollout.progress),
            rollout.minute_ms,
            rollout.elapsed_ms as f64 / 1000.0,
            rollout.nominal_ms as f64 / 1000.0
        ));
        if let Some(line) = alarm_periods(&rollout.alarm_datapoints) {
            out.line(format!("    {line}"));
        }
        if let Some(log) = &rollout.hook_log {
            out.line(format!("    hook log: {}", log.display()));
        }
    }
}

/// How many of the alarm's last periods `status` lists.
const PERIODS_SHOWN: usize = 10;

/// `alarm periods: 1 5.2% (73 of 1414), 2 10.9% (156 of 1425) over, 3 no answer`: the alarm's
/// last evaluated periods with their figures, the breaching ones marked.
fn alarm_periods(points: &[Datapoint]) -> Option<String> {
    if points.is_empty() {
        return None;
    }
    let shown = &points[points.len().saturating_sub(PERIODS_SHOWN)..];
    let periods: Vec<String> = shown
        .iter()
        .map(|d| match d.value_percent {
            None => format!("{} no answer", d.period),
            Some(value) => format!(
                "{} {value}% ({} of {}){}",
                d.period,
                d.errors,
                d.answers,
                if d.breaching { " over" } else { "" }
            ),
        })
        .collect();
    Some(format!("alarm periods: {}", periods.join(", ")))
}

/// One example command that shows routing on what runs.
pub(super) fn hint(out: &dyn Reporter, status: &Status) {
    if let Some(g) = &status.gateway {
        // A route to a router shows the weighted split; any route will do otherwise.
        let is_router = |vs: &str| {
            status
                .names
                .iter()
                .any(|n| n.name == vs && matches!(n.target, NameTarget::Router(_)))
        };
        let to_router = |r: &&GatewayRoutePlan| matches!(&r.target, GatewayTarget::VirtualService { name } if is_router(name));
        let path = g
            .routes
            .iter()
            .find(to_router)
            .or(g.routes.first())
            .map_or("/", |r| r.prefix.as_str());
        out.line(format!(
            "try: curl {}{}",
            g.url,
            if path == "/" { "" } else { path }
        ));
    } else if let (Some(a), Some(b)) = (status.services.first(), status.services.get(1))
        && let Some(name) = status
            .names
            .iter()
            .find(|n| n.target == NameTarget::Service(a.name.clone()))
    {
        // The seed's Service Connect demo: the second service calls the first by its name.
        out.line(format!("try: curl {}/downstream/{}", b.url, name.name));
    }
}

/// `pids 1, 2`
pub(super) fn pid_list(pids: &[u32]) -> String {
    let list: Vec<String> = pids.iter().map(ToString::to_string).collect();
    format!(
        "pid{} {}",
        if pids.len() == 1 { "" } else { "s" },
        list.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use model::Percent;

    use super::*;

    fn point(period: u64, errors: u64, answers: u64, breaching: bool) -> Datapoint {
        Datapoint {
            period,
            end_ms: period * 1000,
            answers,
            errors,
            value_percent: (answers > 0)
                .then(|| Percent::from_tenths((errors * 1000 / answers.max(1)) as u32)),
            breaching,
        }
    }

    #[test]
    fn the_alarm_periods_show_their_figures_and_the_last_ten() {
        assert_eq!(alarm_periods(&[]), None);
        assert_eq!(
            alarm_periods(&[
                point(1, 73, 1414, false),
                point(2, 0, 0, false),
                point(3, 156, 1425, true)
            ])
            .as_deref(),
            Some("alarm periods: 1 5.1% (73 of 1414), 2 no answer, 3 10.9% (156 of 1425) over")
        );
        let many: Vec<Datapoint> = (1..=12).map(|p| point(p, 0, 10, false)).collect();
        let line = alarm_periods(&many).unwrap();
        assert!(
            line.starts_with("alarm periods: 3 0% (0 of 10), 4 "),
            "{line}"
        );
        assert!(line.ends_with(", 12 0% (0 of 10)"), "{line}");
    }
}
