//! What deploying a plan changes in what runs: the `diff --local` output and the apply summary.
//!
//! Pure, like [`crate::plan`]: it compares two plans. The supervisor acts on the same comparison
//! ([`crate::plan::ServicePlan::needs_new_tasks`]), so what `diff --local` shows is what a deploy
//! does.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::plan::{GatewayPlan, LocalPlan, MeshName, NameTarget, RoutePlan, ServicePlan};
use crate::rollout::RollsOut;

/// Added, removed or modified, like `cdk diff`'s `[+]`, `[-]` and `[~]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Add,
    Remove,
    Modify,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Add => "[+]",
            Op::Remove => "[-]",
            Op::Modify => "[~]",
        }
    }
}

/// One property of a changed object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detail {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
}

/// One changed object: a service, a route, the gateway, a mesh name or the blue-green state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub op: Op,
    pub kind: ChangeKind,
    pub name: String,
    /// What happens to the service's running tasks.
    #[serde(default, skip_serializing_if = "NewTasks::is_keep")]
    pub new_tasks: NewTasks,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Detail>,
}

/// What kind of object changed; the JSON and the text say `service`, `gateway`, `gateway route`,
/// `router route`, `mesh name` or `blue-green state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ChangeKind {
    #[serde(rename = "service")]
    Service,
    #[serde(rename = "gateway")]
    Gateway,
    #[serde(rename = "gateway route")]
    GatewayRoute,
    #[serde(rename = "router route")]
    RouterRoute,
    #[serde(rename = "mesh name")]
    MeshName,
    #[serde(rename = "blue-green state")]
    BlueGreenState,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Service => "service",
            ChangeKind::Gateway => "gateway",
            ChangeKind::GatewayRoute => "gateway route",
            ChangeKind::RouterRoute => "router route",
            ChangeKind::MeshName => "mesh name",
            ChangeKind::BlueGreenState => "blue-green state",
        }
    }
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a changed object's running tasks (or listener) reach the new model.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NewTasks {
    /// They keep running: nothing they run changes.
    #[default]
    Keep,
    /// New processes (or a new listener) take their place at once: a rolling update locally.
    Replace,
    /// A new revision starts beside them and traffic shifts to it as the strategy says
    /// ([`crate::rollout::summary`]); the old tasks stop once it has all of it.
    RollOut(RollsOut),
}

impl NewTasks {
    fn is_keep(&self) -> bool {
        *self == NewTasks::Keep
    }
}

impl fmt::Display for Change {
    /// `[~] service green (replace)` (or `(rolls out: ...)`) then one ` └─ field: old -> new`
    /// line per detail.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.op.symbol(), self.kind, self.name)?;
        match &self.new_tasks {
            NewTasks::Keep => {}
            NewTasks::Replace => write!(f, " (replace)")?,
            NewTasks::RollOut(how) => write!(f, " (rolls out: {how})")?,
        }
        for d in &self.details {
            write!(f, "\n └─ {}: ", d.field)?;
            match (&d.old, &d.new) {
                (Some(old), Some(new)) => write!(f, "{old} -> {new}")?,
                (None, Some(new)) => write!(f, "{new}")?,
                (Some(old), None) => write!(f, "{old} (removed)")?,
                (None, None) => {}
            }
        }
        Ok(())
    }
}

fn detail(field: &str, old: Option<String>, new: Option<String>) -> Detail {
    Detail {
        field: field.to_owned(),
        old,
        new,
    }
}

fn tasks(n: u32) -> String {
    format!("{n} task{}", if n == 1 { "" } else { "s" })
}

fn service_details(svc: &ServicePlan) -> Vec<Detail> {
    vec![
        detail("version", None, Some(svc.version.clone())),
        detail("tasks", None, Some(tasks(svc.desired_count))),
    ]
}

/// What happens to `before`'s tasks when `after` is deployed.
fn new_tasks(before: &ServicePlan, after: &ServicePlan) -> NewTasks {
    if !before.needs_new_tasks(after) {
        return NewTasks::Keep;
    }
    match &after.rollout {
        Some(how) => NewTasks::RollOut(*how),
        None => NewTasks::Replace,
    }
}

fn service_changes(old_plan: Option<&LocalPlan>, new_plan: &LocalPlan, out: &mut Vec<Change>) {
    let (old, new) = (
        old_plan.map_or(&[][..], |p| p.services()),
        new_plan.services(),
    );
    let old_by: BTreeMap<&str, &ServicePlan> = old.iter().map(|s| (s.name.as_str(), s)).collect();
    let new_names: BTreeSet<&str> = new.iter().map(|s| s.name.as_str()).collect();
    for svc in new {
        match old_by.get(svc.name.as_str()) {
            None => out.push(Change {
                op: Op::Add,
                kind: ChangeKind::Service,
                name: svc.name.clone(),
                new_tasks: NewTasks::Keep,
                details: service_details(svc),
            }),
            Some(before) => {
                let mut details = Vec::new();
                if before.version != svc.version {
                    details.push(detail(
                        "version",
                        Some(before.version.clone()),
                        Some(svc.version.clone()),
                    ));
                }
                let keys: BTreeSet<&String> = before
                    .environment
                    .keys()
                    .chain(svc.environment.keys())
                    .collect();
                for key in keys {
                    // The version is shown once, as `version`.
                    if key == "SERVICE_VERSION" {
                        continue;
                    }
                    let (a, b) = (before.environment.get(key), svc.environment.get(key));
                    if a != b {
                        details.push(detail(
                            &format!("environment.{key}"),
                            a.cloned(),
                            b.cloned(),
                        ));
                    }
                }
                if before.downstream_allow != svc.downstream_allow {
                    details.push(detail(
                        "local DOWNSTREAM_ALLOW",
                        before.downstream_allow.clone(),
                        svc.downstream_allow.clone(),
                    ));
                }
                // The Service Connect configuration is the service's: a new rule is a change of
                // the service, which the rollout it comes with routes test traffic by.
                let rule = |p: Option<&LocalPlan>| {
                    p.and_then(|p| p.test_rule(&svc.name))
                        .map(ToString::to_string)
                };
                let (a, b) = (rule(old_plan), rule(Some(new_plan)));
                if a != b {
                    details.push(detail("test traffic", a, b));
                }
                // How the next revision rolls out changes no task now, but is what the next
                // deploy of a new version does.
                if before.rollout != svc.rollout {
                    let how = |r: Option<RollsOut>| {
                        Some(r.map_or_else(|| "rolling update".to_owned(), |r| r.to_string()))
                    };
                    details.push(detail("rolls out", how(before.rollout), how(svc.rollout)));
                }
                if before.hooks != svc.hooks {
                    let hooks =
                        |h: &[String]| (!h.is_empty()).then(|| format!("[{}]", h.join(", ")));
                    details.push(detail(
                        "lifecycle hooks",
                        hooks(&before.hooks),
                        hooks(&svc.hooks),
                    ));
                }
                if before.desired_count != svc.desired_count {
                    details.push(detail(
                        "tasks",
                        Some(tasks(before.desired_count)),
                        Some(tasks(svc.desired_count)),
                    ));
                }
                if !details.is_empty() {
                    out.push(Change {
                        op: Op::Modify,
                        kind: ChangeKind::Service,
                        name: svc.name.clone(),
                        new_tasks: new_tasks(before, svc),
                        details,
                    });
                }
            }
        }
    }
    for svc in old {
        if !new_names.contains(svc.name.as_str()) {
            out.push(Change {
                op: Op::Remove,
                kind: ChangeKind::Service,
                name: svc.name.clone(),
                new_tasks: NewTasks::Keep,
                details: vec![detail("version", Some(svc.version.clone()), None)],
            });
        }
    }
}

fn target_text(t: &NameTarget) -> String {
    match t {
        NameTarget::Service(s) => format!("service {s}"),
        NameTarget::Router(r) => format!("router {r}"),
    }
}

fn name_changes<'a>(
    old: impl Iterator<Item = &'a MeshName>,
    new: impl Iterator<Item = &'a MeshName>,
    out: &mut Vec<Change>,
) {
    let key = |n: &MeshName| format!("{}:{}", n.name, n.port);
    let old: BTreeMap<String, &MeshName> = old.map(|n| (key(n), n)).collect();
    let new: BTreeMap<String, &MeshName> = new.map(|n| (key(n), n)).collect();
    for (k, n) in &new {
        match old.get(k) {
            None => out.push(Change {
                op: Op::Add,
                kind: ChangeKind::MeshName,
                name: k.clone(),
                new_tasks: NewTasks::Keep,
                details: vec![detail("target", None, Some(target_text(&n.target)))],
            }),
            Some(before) if before.target != n.target => out.push(Change {
                op: Op::Modify,
                kind: ChangeKind::MeshName,
                name: k.clone(),
                new_tasks: NewTasks::Keep,
                details: vec![detail(
                    "target",
                    Some(target_text(&before.target)),
                    Some(target_text(&n.target)),
                )],
            }),
            Some(_) => {}
        }
    }
    for (k, n) in &old {
        if !new.contains_key(k) {
            out.push(Change {
                op: Op::Remove,
                kind: ChangeKind::MeshName,
                name: k.clone(),
                new_tasks: NewTasks::Keep,
                details: vec![detail("target", Some(target_text(&n.target)), None)],
            });
        }
    }
}

fn weights(r: &RoutePlan) -> String {
    let targets: Vec<String> = r.targets.iter().map(|(s, w)| format!("{s}={w}")).collect();
    format!("{} to {}", r.prefix, targets.join(" "))
}

fn router_changes(
    old: &BTreeMap<String, Vec<RoutePlan>>,
    new: &BTreeMap<String, Vec<RoutePlan>>,
    out: &mut Vec<Change>,
) {
    let flatten = |m: &BTreeMap<String, Vec<RoutePlan>>| -> BTreeMap<String, String> {
        m.iter()
            .flat_map(|(router, routes)| {
                routes
                    .iter()
                    .map(move |r| (format!("{router}/{}", r.name), weights(r)))
            })
            .collect()
    };
    diff_map(
        ChangeKind::RouterRoute,
        "route",
        &flatten(old),
        &flatten(new),
        out,
    );
}

/// Added, removed and modified entries of two name -> description maps.
fn diff_map(
    kind: ChangeKind,
    field: &str,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
    out: &mut Vec<Change>,
) {
    let change = |op, name: &String, old: Option<&String>, new: Option<&String>| Change {
        op,
        kind,
        name: name.clone(),
        new_tasks: NewTasks::Keep,
        details: vec![detail(field, old.cloned(), new.cloned())],
    };
    for (name, text) in new {
        match old.get(name) {
            None => out.push(change(Op::Add, name, None, Some(text))),
            Some(before) if before != text => {
                out.push(change(Op::Modify, name, Some(before), Some(text)));
            }
            Some(_) => {}
        }
    }
    for (name, text) in old {
        if !new.contains_key(name) {
            out.push(change(Op::Remove, name, Some(text), None));
        }
    }
}

fn gateway_changes(old: Option<&GatewayPlan>, new: Option<&GatewayPlan>, out: &mut Vec<Change>) {
    match (old, new) {
        (None, Some(g)) => out.push(Change {
            op: Op::Add,
            kind: ChangeKind::Gateway,
            name: g.name.clone(),
            new_tasks: NewTasks::Keep,
            details: vec![detail(
                "listener port",
                None,
                Some(g.listener_port.to_string()),
            )],
        }),
        (Some(g), None) => out.push(Change {
            op: Op::Remove,
            kind: ChangeKind::Gateway,
            name: g.name.clone(),
            new_tasks: NewTasks::Keep,
            details: Vec::new(),
        }),
        (Some(a), Some(b)) if a.name != b.name || a.listener_port != b.listener_port => {
            out.push(Change {
                op: Op::Modify,
                kind: ChangeKind::Gateway,
                name: b.name.clone(),
                new_tasks: NewTasks::Replace,
                details: vec![detail(
                    "listener",
                    Some(format!("{} :{}", a.name, a.listener_port)),
                    Some(format!("{} :{}", b.name, b.listener_port)),
                )],
            });
        }
        _ => {}
    }
    let routes = |g: Option<&GatewayPlan>| -> BTreeMap<String, String> {
        g.map(|g| {
            g.routes
                .iter()
                .map(|r| {
                    (
                        r.name.clone(),
                        format!("{} to {}", r.prefix, r.target_text()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
    };
    diff_map(
        ChangeKind::GatewayRoute,
        "route",
        &routes(old),
        &routes(new),
        out,
    );
}

/// What changes when `new` replaces `old` (None: nothing runs yet), in a fixed order: services,
/// gateway, gateway routes, router routes, mesh names, blue-green state.
pub fn diff(old: Option<&LocalPlan>, new: &LocalPlan) -> Vec<Change> {
    let mut out = Vec::new();
    service_changes(old, new, &mut out);
    gateway_changes(old.and_then(LocalPlan::gateway), new.gateway(), &mut out);
    let empty = BTreeMap::new();
    router_changes(old.map_or(&empty, |p| p.routers()), new.routers(), &mut out);
    name_changes(
        old.into_iter().flat_map(|p| p.names()),
        new.names(),
        &mut out,
    );
    let (a, b) = (
        old.and_then(LocalPlan::blue_green_state),
        new.blue_green_state(),
    );
    if a != b {
        out.push(Change {
            op: match (a, b) {
                (None, _) => Op::Add,
                (_, None) => Op::Remove,
                _ => Op::Modify,
            },
            kind: ChangeKind::BlueGreenState,
            name: "state.json".into(),
            new_tasks: NewTasks::Keep,
            details: vec![detail("value", a.map(str::to_owned), b.map(str::to_owned))],
        });
    }
    out
}

/// `changes` with the gateway on the port it listens on: the local runtime may be asked for
/// another port than the model's (`MESHTEST_LOCAL_GATEWAY_PORT`, 0 for any free one), and the
/// plan must name the port requests reach.
pub fn gateway_listens_on(mut changes: Vec<Change>, port: u16) -> Vec<Change> {
    for change in changes.iter_mut().filter(|c| c.kind == ChangeKind::Gateway) {
        for d in &mut change.details {
            match d.field.as_str() {
                "listener port" => {
                    if let Some(model) = d.new.as_mut().filter(|m| **m != port.to_string()) {
                        *model = format!("{port} (the model's {model}, moved locally)");
                    }
                }
                "listener" => d.new = Some(format!("{} :{port}", change.name)),
                _ => {}
            }
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use model::Stack;
    use model::examples;

    use super::*;

    fn bluegreen(blue: u32, green: u32, state: &str) -> LocalPlan {
        let spec = examples::bluegreen(
            "bluegreen",
            &model::BlueGreenVersions {
                blue,
                green,
                state_json: state.into(),
            },
        );
        LocalPlan::from_stack(&Stack::new(spec).unwrap())
    }

    const S1: &str = r#"{"nextUpdate":"blue","currentVersion":1,"previousVersion":1}"#;
    const S2: &str = r#"{"nextUpdate":"green","currentVersion":2,"previousVersion":1}"#;

    #[test]
    fn same_plan_has_no_changes() {
        let p = bluegreen(1, 1, S1);
        assert_eq!(diff(Some(&p), &p), []);
    }

    #[test]
    fn first_deploy_adds_everything() {
        let p = LocalPlan::from_stack(&Stack::new(examples::appmesh("appmesh")).unwrap());
        let changes = diff(None, &p);
        let summary: Vec<String> = changes
            .iter()
            .map(|c| format!("{:?} {} {}", c.op, c.kind, c.name))
            .collect();
        assert_eq!(
            summary,
            [
                "Add service blue",
                "Add service green",
                "Add gateway virtual-gateway",
                "Add gateway route blue",
                "Add gateway route green",
                "Add gateway route split",
                "Add router route router/split",
                "Add mesh name blue.appmesh:80",
                "Add mesh name green.appmesh:80",
                "Add mesh name router:80",
            ]
        );
        assert_eq!(
            changes[0].to_string(),
            "[+] service blue\n └─ version: unknown\n └─ tasks: 1 task"
        );
    }

    #[test]
    fn version_bump_replaces_only_that_colour_and_writes_the_state() {
        let changes = diff(Some(&bluegreen(1, 1, S1)), &bluegreen(1, 2, S2));
        assert_eq!(changes.len(), 2, "{changes:#?}");
        assert_eq!(
            changes[0].to_string(),
            "[~] service green (replace)\n └─ version: 1 -> 2"
        );
        assert_eq!(changes[1].kind, ChangeKind::BlueGreenState);
        assert_eq!(changes[1].details[0].old.as_deref(), Some(S1));
        assert_eq!(changes[1].details[0].new.as_deref(), Some(S2));
    }

    /// `MESHTEST_LOCAL_GATEWAY_PORT` moved the gateway: the plan names the port it listens on,
    /// not the model's 9080.
    #[test]
    fn the_gateway_change_names_the_port_it_listens_on() {
        let p = LocalPlan::from_stack(&Stack::new(examples::appmesh("appmesh")).unwrap());
        let gateway = |changes: Vec<Change>| {
            changes
                .into_iter()
                .find(|c| c.kind == ChangeKind::Gateway)
                .unwrap()
                .to_string()
        };
        assert_eq!(
            gateway(gateway_listens_on(diff(None, &p), 43123)),
            "[+] gateway virtual-gateway\n └─ listener port: 43123 (the model's 9080, moved locally)"
        );
        assert_eq!(
            gateway(gateway_listens_on(diff(None, &p), 9080)),
            "[+] gateway virtual-gateway\n └─ listener port: 9080"
        );
    }

    /// A change of hooks (or of the strategy) alone replaces no task but is a change: it used
    /// to read "no changes", and the supervisor then kept the old model.
    #[test]
    fn hooks_or_strategy_alone_are_a_change_of_the_service() {
        let stack = |strategy, hooks: Vec<model::LifecycleHookSpec>| {
            let inputs = examples::RolloutInputs {
                version: 2,
                strategy,
            };
            let mut spec = examples::rollout("rollout", &inputs);
            let web = spec.services.iter_mut().find(|s| s.name == "web").unwrap();
            web.deployment.lifecycle_hooks = hooks;
            LocalPlan::from_stack(&Stack::new(spec).unwrap())
        };
        let pause = model::LifecycleHookSpec {
            target_type: model::HookTargetType::Pause,
            stages: vec![model::LifecycleStage::PostScaleUp],
            hook_target_arn: None,
            role_arn: None,
            create_role: false,
            timeout: None,
            local_command: None,
        };
        let linear = model::StrategyKind::Linear;
        let without = stack(linear, vec![]);
        let with = stack(linear, vec![pause]);
        let changes: Vec<String> = diff(Some(&without), &with)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            changes,
            [r#"[~] service web
 └─ lifecycle hooks: [{"targetType":"PAUSE","stages":["POST_SCALE_UP"]}]"#]
        );
        assert_eq!(
            diff(Some(&with), &without)[0].details[0].old.as_deref(),
            Some(r#"[{"targetType":"PAUSE","stages":["POST_SCALE_UP"]}]"#)
        );
        let canary = stack(model::StrategyKind::Canary, vec![]);
        let changes = diff(Some(&without), &canary);
        assert_eq!(changes.len(), 1, "{changes:#?}");
        assert_eq!(changes[0].new_tasks, NewTasks::Keep);
        assert_eq!(changes[0].details[0].field, "rolls out");
    }

    /// The change a new version of `rollout`'s web makes when web deploys with `strategy`.
    fn check_web_change(strategy: model::StrategyKind, expected: &str) {
        let plan = |version| {
            let inputs = examples::RolloutInputs { version, strategy };
            LocalPlan::from_stack(&Stack::new(examples::rollout("rollout", &inputs)).unwrap())
        };
        let changes = diff(Some(&plan(1)), &plan(2));
        let web: Vec<String> = changes
            .iter()
            .filter(|c| c.name == "web")
            .map(ToString::to_string)
            .collect();
        assert_eq!(web, [expected], "{changes:#?}");
    }

    #[test]
    fn a_rollout_travels_as_its_parts() {
        let inputs = |version| examples::RolloutInputs {
            version,
            strategy: model::StrategyKind::Linear,
        };
        let plan = |version| {
            LocalPlan::from_stack(
                &Stack::new(examples::rollout("rollout", &inputs(version))).unwrap(),
            )
        };
        let changes = diff(Some(&plan(1)), &plan(2));
        let web = changes
            .iter()
            .find(|c| c.name == "web")
            .expect("web changes");
        let json = serde_json::to_value(web).unwrap();
        assert_eq!(
            json["newTasks"],
            serde_json::json!({"rollOut": {
                "shift": {"strategy": "LINEAR", "step": 20, "stepBakeMinutes": 1},
                "bakeMinutes": 2
            }})
        );
        let back: Change = serde_json::from_value(json).unwrap();
        assert_eq!(&back, web);
    }

    #[test]
    fn a_new_test_traffic_rule_is_a_change_of_the_service() {
        let spec = |version, rule: Option<(&str, &str)>| {
            let inputs = examples::RolloutInputs {
                version,
                strategy: model::StrategyKind::Linear,
            };
            let mut spec = examples::rollout("rollout", &inputs);
            let web = spec.services.iter_mut().find(|s| s.name == "web").unwrap();
            web.service_connect.as_mut().unwrap().test_traffic =
                rule.map(|(header, value)| model::TestTrafficSpec {
                    header: header.into(),
                    value: value.into(),
                });
            LocalPlan::from_stack(&Stack::new(spec).unwrap())
        };
        let old = spec(1, None);
        let new = spec(2, Some(("x-canary", "yes")));
        let changes = diff(Some(&old), &new);
        let web = changes
            .iter()
            .find(|c| c.name == "web")
            .expect("web changes");
        assert!(matches!(web.new_tasks, NewTasks::RollOut(_)), "{web}");
        assert!(
            web.to_string()
                .contains("test traffic: x-amzn-ecs-blue-green-test (any value) -> x-canary: yes"),
            "{web}"
        );
        // Only the rule: the service changes, its tasks keep running.
        let changes = diff(Some(&spec(1, None)), &spec(1, Some(("x-canary", "yes"))));
        let web = changes
            .iter()
            .find(|c| c.name == "web")
            .expect("web changes");
        assert_eq!(web.new_tasks, NewTasks::Keep, "{web}");
        assert_eq!(web.details.len(), 1, "{web}");
    }

    #[test]
    fn a_traffic_shifting_service_rolls_out_as_its_strategy_says() {
        use model::StrategyKind::{BlueGreen, Canary, Linear, Rolling};
        check_web_change(
            Linear,
            "[~] service web (rolls out: LINEAR 20% every 1 min, bake 2 min)\n └─ version: 1 -> 2",
        );
        check_web_change(
            Canary,
            "[~] service web (rolls out: CANARY 10%, the rest 2 min later, bake 2 min)\n └─ version: 1 -> 2",
        );
        check_web_change(
            BlueGreen,
            "[~] service web (rolls out: BLUE_GREEN 100% at once, bake 2 min)\n └─ version: 1 -> 2",
        );
        check_web_change(Rolling, "[~] service web (replace)\n └─ version: 1 -> 2");
    }

    #[test]
    fn scaling_and_weights_do_not_replace() {
        let old = LocalPlan::from_stack(&Stack::new(examples::appmesh("appmesh")).unwrap());
        let mut spec = examples::appmesh("appmesh");
        spec.services[0].desired_count = 2;
        spec.mesh.as_mut().unwrap().virtual_routers[0].routes[0].targets[0].weight = 80;
        spec.mesh
            .as_mut()
            .unwrap()
            .gateway
            .as_mut()
            .unwrap()
            .routes
            .pop();
        let new = LocalPlan::from_stack(&Stack::new(spec).unwrap());
        let text: Vec<String> = diff(Some(&old), &new)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            text,
            [
                "[~] service blue\n └─ tasks: 1 task -> 2 tasks",
                "[-] gateway route split\n └─ route: /split to router (removed)",
                "[~] router route router/split\n └─ route: / to blue=50 green=50 -> / to blue=80 green=50",
            ]
        );
    }

    #[test]
    fn json_round_trip() {
        let changes = diff(Some(&bluegreen(1, 1, S1)), &bluegreen(1, 2, S2));
        let json = serde_json::to_string(&changes).unwrap();
        assert!(
            json.starts_with(
                r#"[{"op":"modify","kind":"service","name":"green","newTasks":"replace""#
            ),
            "{json}"
        );
        let back: Vec<Change> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, changes);
    }
}
