//! The whole stack as one live view: every service, and for each one rolling out its
//! revisions, step, shares, alarm, hook and tasks, as a tree (stack -> service -> revision ->
//! tasks) in the manner of `kubectl argo rollouts get rollout --watch`
//!
//! [`StackView`] is a plain value the followers build from what they read (the local
//! supervisor's status, or ECS and CloudWatch on AWS) and hand to their reporter as
//! [`Progress::Tree`]; [`StackView::lines`] renders it, purely, so tests snapshot exactly what a
//! terminal redraws. The types and wording the line-per-change display shares with it
//! ([`crate::rollout_view`]) live here too, so neither module reaches back into the other.
//!
//! [`Progress::Tree`]: crate::report::Progress::Tree

use model::{
    AlarmReading, DeploymentStatus, HookTimeoutAction, Percent, RevisionTasks, RolloutProgress,
    RunningHook,
};

/// The commands a pause's hint names, as the flow's reporter words them
/// ([`Reporter::command`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commands {
    pub continue_paused: String,
    pub rollback: String,
}

/// What the AWS follower reads beside a [`RolloutProgress`]: the traffic step, and for a service
/// behind an Application Load Balancer where its listener rules send traffic. Empty for a
/// local rollout, which shows the same progress without them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Detail {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<StepOf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancerTraffic>,
}

/// Step `n` of `of` production traffic shifts: the model's, which the local engine fills in
/// too.
pub use model::StepOf;

/// Where a deployment behind an Application Load Balancer sends traffic: ECS moves the weights
/// of one production listener rule (and a test rule) between the service's two target groups,
/// and each revision serves from one of them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerTraffic {
    /// The production listener rule ECS moves (the last part of its ARN).
    pub production_rule: String,
    /// The test listener rule, if the service has one (the last part of its ARN).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_rule: Option<String>,
    /// The target group of the revision serving before the deployment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<TargetGroupShare>,
    /// The target group of the revision being deployed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetGroupShare>,
}

/// One revision's target group and its share of the production rule's traffic.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupShare {
    /// The target group's name (from its ARN).
    pub target_group: String,
    /// The revision it serves, named as the progress names it.
    pub revision: String,
    pub production_percent: Percent,
}

/// ` (target group gw-blue-alt)` when `detail` knows the revision's target group.
pub(crate) fn group_of(share: Option<&TargetGroupShare>) -> String {
    share
        .map(|s| format!(" (target group {})", s.target_group))
        .unwrap_or_default()
}

/// `alarm rollout-web-error-rate OK 6.1% (threshold 10%)`: the state and last value against the
/// threshold (what CloudWatch evaluated last, on AWS and locally alike).
pub(crate) fn alarm(a: &AlarmReading) -> String {
    let mut text = format!("alarm {} {}", a.name, a.state.as_str());
    if let Some(value) = a.value_percent {
        text.push_str(&format!(" {value}%"));
    }
    if let Some(threshold) = a.threshold_percent {
        text.push_str(&format!(" (threshold {threshold}%)"));
    }
    text
}

/// `hook check at POST_SCALE_UP running 3.0 s, timeout 1440 min (14 s here) then ROLLBACK`: the
/// real length in brackets when the time scale is not AWS's.
pub(crate) fn running_hook(h: &RunningHook) -> String {
    let scaled = if h.timeout_seconds == u64::from(h.timeout.minutes) * 60 {
        String::new()
    } else {
        format!(
            " ({} here)",
            duration(h.timeout_seconds.saturating_mul(1000))
        )
    };
    format!(
        "hook {} at {} running {}, timeout {} min{scaled} then {}",
        h.hook,
        h.stage.as_str(),
        duration(h.elapsed_seconds.saturating_mul(1000)),
        h.timeout.minutes,
        h.timeout.action.as_str()
    )
}

/// `web 1 -> 2`, `web -> 2` or `web`.
pub(crate) fn heading(p: &RolloutProgress) -> String {
    match (&p.source, &p.target) {
        (Some(source), Some(target)) => format!("{} {source} -> {target}", p.service),
        (None, Some(target)) => format!("{} -> {target}", p.service),
        _ => p.service.clone(),
    }
}

/// The stage while the deployment moves forward, the status with its stage while it rolls
/// back or stops, and the status alone once it ended.
pub(crate) fn state(p: &RolloutProgress) -> String {
    match (p.status, p.stage) {
        (DeploymentStatus::InProgress, Some(stage)) => stage.as_str().to_owned(),
        (status, Some(stage)) if !status.is_terminal() && status != DeploymentStatus::Pending => {
            format!("{} at {}", status.as_str(), stage.as_str())
        }
        (status, _) => status.as_str().to_owned(),
    }
}

/// `0.2 s`, `9.5 s` (tenths below 10 s, where a rehearsal's short bakes are), `45 s`, `6 min`,
/// `5 min 30 s`; rounded up, so a bake that has not ended never reads 0.
pub(crate) fn duration(ms: u64) -> String {
    let tenths = ms.div_ceil(100);
    if tenths < 100 {
        return format!("{}.{} s", tenths / 10, tenths % 10);
    }
    let seconds = ms.div_ceil(1000);
    match (seconds / 60, seconds % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

/// Every service of a stack as a watch shows it: the tree [`StackView::lines`] draws.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackView {
    /// The stack's name.
    pub stack: String,
    /// In the stack's order.
    pub services: Vec<ServiceView>,
    /// What a pause hook's line tells the reader to run.
    pub commands: Commands,
}

/// One service of the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceView {
    /// Not rolling out (or never followed): its serving revision's tasks, when known.
    Steady {
        service: String,
        tasks: Option<RevisionTasks>,
    },
    /// Its newest deployment, in progress or ended, as last read.
    Rollout {
        progress: Box<RolloutProgress>,
        detail: Detail,
    },
}

impl ServiceView {
    pub fn name(&self) -> &str {
        match self {
            ServiceView::Steady { service, .. } => service,
            ServiceView::Rollout { progress, .. } => &progress.service,
        }
    }
}

impl StackView {
    /// The view of `stack`: each service of `order` (the stack's services, in its order) as
    /// the rollout `rollouts` has of it, else steady with the tasks `steady` has of it. A
    /// rollout of a service `order` does not name comes last, so nothing read goes unseen.
    pub fn build(
        stack: &str,
        commands: Commands,
        order: &[String],
        steady: &[(String, RevisionTasks)],
        rollouts: &[(RolloutProgress, Detail)],
    ) -> StackView {
        let rollout = |name: &str| {
            rollouts
                .iter()
                .find(|(p, _)| p.service == name)
                .map(|(p, d)| ServiceView::Rollout {
                    progress: Box::new(p.clone()),
                    detail: d.clone(),
                })
        };
        let mut services: Vec<ServiceView> = order
            .iter()
            .map(|name| {
                rollout(name).unwrap_or_else(|| ServiceView::Steady {
                    service: name.clone(),
                    tasks: steady
                        .iter()
                        .find(|(s, _)| s == name)
                        .map(|(_, t)| t.clone()),
                })
            })
            .collect();
        for (p, _) in rollouts {
            if !order.contains(&p.service) {
                services.extend(rollout(&p.service));
            }
        }
        StackView {
            stack: stack.to_owned(),
            services,
            commands,
        }
    }

    /// The tree, one line per node:
    ///
    /// ```text
    /// stack rollout
    /// ├── front: steady, revision front:1, tasks 1 desired, 1 running, 1 healthy
    /// └── web: LINEAR 1 -> 2, PRODUCTION_TRAFFIC_SHIFT, step 2/5
    ///     ├── production 40% set, 39.2% observed, bake 0.6 s left
    ///     ├── alarm rollout-web-error-rate OK 1.2% (threshold 10%)
    ///     ├── revision 1 (stable): 60% of production
    ///     │   └── tasks: 1 desired, 1 running, 1 healthy
    ///     └── revision 2 (new): 40% of production, test traffic
    ///         └── tasks: 1 desired, 1 running, 1 healthy
    /// ```
    pub fn lines(&self) -> Vec<String> {
        let mut tree = Tree::default();
        tree.lines.push(format!("stack {}", self.stack));
        let last = self.services.len().saturating_sub(1);
        for (i, service) in self.services.iter().enumerate() {
            let (text, children) = match service {
                ServiceView::Steady { service, tasks } => (
                    steady(service, tasks.as_ref()),
                    [].into_iter().collect::<Vec<Node>>(),
                ),
                ServiceView::Rollout { progress, detail } => {
                    rollout_node(progress, detail, &self.commands)
                }
            };
            tree.node("", i == last, &text, &children);
        }
        tree.lines
    }
}

/// A node of the tree below a service: its text and its children.
#[derive(Debug, Clone)]
struct Node {
    text: String,
    children: Vec<Node>,
}

fn leaf(text: impl Into<String>) -> Node {
    Node {
        text: text.into(),
        children: Vec::new(),
    }
}

/// Lines drawn so far.
#[derive(Debug, Default)]
struct Tree {
    lines: Vec<String>,
}

impl Tree {
    /// Draws `text` under `prefix` (the last child of its parent when `last`), then its
    /// children.
    fn node(&mut self, prefix: &str, last: bool, text: &str, children: &[Node]) {
        let (branch, below) = if last {
            ("└── ", "    ")
        } else {
            ("├── ", "│   ")
        };
        self.lines.push(format!("{prefix}{branch}{text}"));
        let prefix = format!("{prefix}{below}");
        let end = children.len().saturating_sub(1);
        for (i, child) in children.iter().enumerate() {
            self.node(&prefix, i == end, &child.text, &child.children);
        }
    }
}

/// `front: steady, revision front:1, tasks 1 desired, 1 running, 1 healthy`.
fn steady(service: &str, tasks: Option<&RevisionTasks>) -> String {
    match tasks {
        Some(t) => format!(
            "{service}: steady, revision {}, tasks {}",
            t.revision,
            task_counts(t)
        ),
        None => format!("{service}: steady, tasks not reported"),
    }
}

/// `1 desired, 1 running, 1 healthy` (healthy when reported).
fn task_counts(t: &RevisionTasks) -> String {
    let mut text = format!("{} desired, {} running", t.desired, t.running);
    if let Some(healthy) = t.healthy {
        text.push_str(&format!(", {healthy} healthy"));
    }
    text
}

/// A service rolling out: its heading and the nodes below it (traffic, alarms, hooks, the
/// reason it ended, then each revision with its tasks).
fn rollout_node(p: &RolloutProgress, detail: &Detail, commands: &Commands) -> (String, Vec<Node>) {
    let mut heading_parts = vec![format!("{} {}", p.strategy.as_str(), revisions_heading(p))];
    heading_parts.push(state(p));
    if let Some(step) = p.step.or(detail.step) {
        heading_parts.push(format!("step {}/{}", step.n, step.of));
    }
    let heading = format!("{}: {}", p.service, heading_parts.join(", "));

    let mut children = Vec::new();
    let mut traffic = vec![format!("production {}% set", p.production_percent)];
    if let Some(observed) = p.observed_percent {
        traffic.push(format!("{observed}% observed"));
    }
    if let Some(ms) = p.bake_remaining_ms {
        traffic.push(format!("bake {} left", duration(ms)));
    }
    let lb = detail.load_balancer.as_ref();
    if let Some(lb) = lb {
        traffic.push(format!("production rule {}", lb.production_rule));
        if let Some(test) = &lb.test_rule {
            traffic.push(format!("test rule {test}"));
        }
    }
    children.push(leaf(traffic.join(", ")));
    for reading in &p.alarms {
        let mut text = alarm(reading);
        if p.alarms_triggered.contains(&reading.name) {
            text.push_str(", triggered");
        }
        children.push(leaf(text));
    }
    for name in &p.alarms_triggered {
        if !p.alarms.iter().any(|a| &a.name == name) {
            children.push(leaf(format!("alarm {name} triggered")));
        }
    }
    if let Some(hook) = &p.hook_waiting {
        children.push(leaf(waiting(p, hook, commands)));
    } else if let Some(stage) = p.paused_at {
        children.push(leaf(format!(
            "paused at {}: run `{}` to go on, or `{}` to roll back",
            stage.as_str(),
            commands.continue_paused,
            commands.rollback
        )));
    }
    children.extend(p.hook_running.as_ref().map(|h| leaf(running_hook(h))));
    children.extend(
        p.hook_timeouts
            .iter()
            .filter(|t| t.action == HookTimeoutAction::Continue)
            .map(|t| leaf(t.to_string())),
    );
    if let Some(reason) = &p.rollback_reason {
        children.push(leaf(format!("reason: {reason}")));
    }
    let target_share = p.production_percent;
    let source_share = Percent::from_tenths(
        Percent::HUNDRED
            .tenths()
            .saturating_sub(target_share.tenths()),
    );
    let (source_role, target_role) = roles(p.status);
    if let Some(source) = &p.source {
        children.push(revision_node(
            p,
            source,
            source_role,
            source_share,
            false,
            group_of(lb.and_then(|lb| lb.source.as_ref())),
        ));
    }
    if let Some(target) = &p.target {
        children.push(revision_node(
            p,
            target,
            target_role,
            target_share,
            p.test_traffic_on_target,
            group_of(lb.and_then(|lb| lb.target.as_ref())),
        ));
    }
    (heading, children)
}

/// `1 -> 2`, `-> 2` or nothing.
fn revisions_heading(p: &RolloutProgress) -> String {
    match (&p.source, &p.target) {
        (Some(source), Some(target)) => format!("{source} -> {target}"),
        (None, Some(target)) => format!("-> {target}"),
        _ => String::new(),
    }
    .trim_end()
    .to_owned()
}

/// What each revision is to the deployment: the one serving and the new one while it runs;
/// after it, which one won.
fn roles(status: DeploymentStatus) -> (&'static str, &'static str) {
    match status {
        DeploymentStatus::Successful => ("replaced", "stable"),
        DeploymentStatus::RollbackSuccessful
        | DeploymentStatus::RollbackInProgress
        | DeploymentStatus::RollbackRequested
        | DeploymentStatus::RollbackFailed => ("stable", "rolled back"),
        DeploymentStatus::Stopped | DeploymentStatus::StopRequested => ("stable", "stopped"),
        DeploymentStatus::Pending | DeploymentStatus::InProgress => ("stable", "new"),
    }
}

/// `revision 2 (new): 40% of production, test traffic (target group tg-b)` and its tasks.
fn revision_node(
    p: &RolloutProgress,
    name: &str,
    role: &str,
    share: Percent,
    test: bool,
    group: String,
) -> Node {
    let mut text = format!("revision {name} ({role}): {share}% of production");
    if test {
        text.push_str(", test traffic");
    }
    text.push_str(&group);
    let tasks = p.revisions.iter().find(|t| t.revision == name);
    Node {
        text,
        children: vec![leaf(match tasks {
            Some(t) => format!("tasks: {}", task_counts(t)),
            None => "tasks: not reported".to_owned(),
        })],
    }
}

/// `hook pause-1 awaiting action: 29 s left, then ROLLBACK; run ... to go on, or ... to roll
/// back`.
fn waiting(p: &RolloutProgress, hook: &model::WaitingHook, commands: &Commands) -> String {
    let mut text = format!("hook {} awaiting action", hook.hook);
    if let Some(stage) = p.paused_at {
        text.push_str(&format!(" at {}", stage.as_str()));
    }
    match (hook.remaining_ms, hook.timeout_action) {
        (Some(ms), Some(action)) => text.push_str(&format!(
            ": {} left, then {}",
            duration(ms),
            action.as_str()
        )),
        (Some(ms), None) => text.push_str(&format!(": {} left", duration(ms))),
        (None, Some(action)) => {
            text.push_str(&format!(": then {} at its timeout", action.as_str()))
        }
        (None, None) => {}
    }
    text.push_str(&format!(
        "; run `{}` to go on, or `{}` to roll back",
        commands.continue_paused, commands.rollback
    ));
    text
}

#[cfg(test)]
mod tests {
    use model::examples::error_rate_reading as error_rate;
    use model::{AlarmState, DeploymentStage, StrategyKind, WaitingHook};

    use super::*;

    fn commands() -> Commands {
        Commands {
            continue_paused: "cargo xtask continue rollout --local".into(),
            rollback: "cargo xtask rollback rollout --local".into(),
        }
    }

    fn tasks(revision: &str, desired: u32, running: u32, healthy: Option<u32>) -> RevisionTasks {
        RevisionTasks {
            revision: revision.into(),
            desired,
            running,
            healthy,
        }
    }

    /// `service` rolling out from `1` to `2` with `strategy`, in progress at `stage`.
    fn rolling(
        service: &str,
        strategy: StrategyKind,
        stage: DeploymentStage,
        percent: u32,
    ) -> RolloutProgress {
        RolloutProgress {
            service: service.into(),
            source: Some(format!("{service}:1")),
            target: Some(format!("{service}:2")),
            test_traffic_on_target: true,
            revisions: vec![
                tasks(&format!("{service}:1"), 1, 1, Some(1)),
                tasks(&format!("{service}:2"), 1, 1, Some(1)),
            ],
            ..model::examples::rollout_progress(strategy, stage, percent)
        }
    }

    /// The rollout app's stack: `front` steady, `web` as `web` says.
    fn rollout_app(web: RolloutProgress) -> StackView {
        StackView::build(
            "rollout",
            commands(),
            &["front".into(), "web".into()],
            &[("front".into(), tasks("front:1", 1, 1, Some(1)))],
            &[(web, Detail::default())],
        )
    }

    /// The tree `view` draws, as one text, snapshot under `name`.
    fn check(name: &str, view: &StackView) {
        insta::assert_snapshot!(name, view.lines().join("\n"));
    }

    #[test]
    fn a_linear_rollout_mid_step() {
        let web = RolloutProgress {
            step: Some(StepOf { n: 2, of: 5 }),
            observed_percent: Some(Percent::from_tenths(392)),
            bake_remaining_ms: Some(600),
            alarms: vec![error_rate(AlarmState::Ok, Some(12))],
            ..rolling(
                "web",
                StrategyKind::Linear,
                DeploymentStage::ProductionTrafficShift,
                40,
            )
        };
        check("linear_mid_step", &rollout_app(web));
    }

    #[test]
    fn a_canary_at_a_pause_hook_with_time_left() {
        let web = RolloutProgress {
            paused_at: Some(DeploymentStage::PostTestTrafficShift),
            hook_waiting: Some(WaitingHook {
                hook: "pause-post-test".into(),
                remaining_ms: Some(1_770_000),
                timeout_action: Some(HookTimeoutAction::Rollback),
            }),
            alarms: vec![error_rate(AlarmState::InsufficientData, None)],
            ..rolling(
                "web",
                StrategyKind::Canary,
                DeploymentStage::PostTestTrafficShift,
                0,
            )
        };
        check("canary_at_a_pause_hook", &rollout_app(web));
    }

    #[test]
    fn a_rollout_rolled_back_by_its_alarm() {
        let web = RolloutProgress {
            status: DeploymentStatus::RollbackSuccessful,
            alarms: vec![error_rate(AlarmState::Alarm, Some(118))],
            alarms_triggered: vec!["rollout-web-error-rate".into()],
            rollback_reason: Some("alarm rollout-web-error-rate: period 3 (60 s, 1.0 s here): 118 of 1000 answers were 5xx (11.8%), over the threshold of 10% in 1 of 1 periods".into()),
            test_traffic_on_target: false,
            revisions: vec![
                tasks("web:1", 1, 1, Some(1)),
                tasks("web:2", 0, 0, Some(0)),
            ],
            ..rolling(
                "web",
                StrategyKind::Linear,
                DeploymentStage::ProductionTrafficShift,
                0,
            )
        };
        check("rolled_back_by_its_alarm", &rollout_app(web));
    }

    /// Two services rolling out at once behind an ALB, as the AWS follower reads them: ECS
    /// reports no health per revision, the step comes from the deployment's configuration and
    /// the target groups from the revisions; a third service is steady, a fourth unread.
    #[test]
    fn two_services_rolling_out_at_once() {
        let lb = |service: &str, source: u32, target: u32| LoadBalancerTraffic {
            production_rule: format!("{service}-prod-9683"),
            test_rule: Some(format!("{service}-test-3c4d")),
            source: Some(TargetGroupShare {
                target_group: format!("gatew-{service}T-1F2A"),
                revision: format!("gateway-{service}:1"),
                production_percent: Percent::whole(source),
            }),
            target: Some(TargetGroupShare {
                target_group: format!("gatew-{service}A-6E5D"),
                revision: format!("gateway-{service}:2"),
                production_percent: Percent::whole(target),
            }),
        };
        let aws = |service: &str, strategy, stage, percent| RolloutProgress {
            source: Some(format!("gateway-{service}:1")),
            target: Some(format!("gateway-{service}:2")),
            revisions: vec![
                tasks(&format!("gateway-{service}:1"), 2, 2, None),
                tasks(&format!("gateway-{service}:2"), 2, 1, None),
            ],
            ..rolling(service, strategy, stage, percent)
        };
        let blue = aws(
            "blue",
            StrategyKind::Linear,
            DeploymentStage::ProductionTrafficShift,
            60,
        );
        let green = RolloutProgress {
            test_traffic_on_target: false,
            ..aws(
                "green",
                StrategyKind::BlueGreen,
                DeploymentStage::ScaleUp,
                0,
            )
        };
        let view = StackView::build(
            "gateway",
            Commands {
                continue_paused: "cargo xtask continue gateway".into(),
                rollback: "cargo xtask rollback gateway".into(),
            },
            &[
                "blue".into(),
                "green".into(),
                "front".into(),
                "audit".into(),
            ],
            &[("front".into(), tasks("gateway-front:4", 2, 2, None))],
            &[
                (
                    blue,
                    Detail {
                        step: Some(StepOf { n: 3, of: 5 }),
                        load_balancer: Some(lb("blue", 40, 60)),
                    },
                ),
                (
                    green,
                    Detail {
                        step: None,
                        load_balancer: Some(lb("green", 100, 0)),
                    },
                ),
            ],
        );
        check("two_services_rolling_out", &view);
    }

    /// Without a terminal (a pipe, a CI log) a reporter prints one line per change, in the
    /// format it always had, and leaves the trees to whoever draws; a countdown alone is no
    /// change. The step is in the lines too now that the progress carries it.
    #[test]
    fn without_a_terminal_each_change_is_one_line() {
        let out = crate::report::Recorder::new();
        let mut view = crate::rollout_view::RolloutView::new("rollout", commands(), &out);
        let at = |percent, n, bake_ms| RolloutProgress {
            step: Some(StepOf { n, of: 5 }),
            bake_remaining_ms: Some(bake_ms),
            ..rolling(
                "web",
                StrategyKind::Linear,
                DeploymentStage::ProductionTrafficShift,
                percent,
            )
        };
        let done = RolloutProgress {
            status: DeploymentStatus::Successful,
            stage: Some(DeploymentStage::CleanUp),
            ..rolling("web", StrategyKind::Linear, DeploymentStage::CleanUp, 100)
        };
        let readings = [at(20, 1, 1000), at(20, 1, 400), at(40, 2, 1000), done];
        for p in &readings {
            view.show(p);
            view.show_tree(&rollout_app(p.clone()));
        }
        view.finish();
        insta::assert_snapshot!("line_mode", out.text());
        assert_eq!(out.trees().len(), readings.len(), "a tree per reading");
    }
}
