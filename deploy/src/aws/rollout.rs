//! ECS-native service deployments on AWS: follow one to its end (`status --watch`, after
//! `deploy`), roll it back (`rollback`) and release a pause hook (`continue`)
//!
//! `ListServiceDeployments` finds a service's newest deployment, `DescribeServiceDeployments`
//! tells where it stands, and [`progress_of`] turns that into the `model::RolloutProgress` the
//! shared display shows. The poll interval is a value ([`Poll`]) so tests run in milliseconds.

use super::client::{Aws, Failed, answer_error, aws_error, failed, retry_config};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use crate::error::{Error, Refusal, Result, Stopped};
use aws_sdk_ecs::config::http::HttpResponse;
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::primitives::DateTime;
use aws_sdk_ecs::types::{
    CreatedAt, DeploymentLifecycleHookAction, DeploymentLifecycleHookDetail,
    DeploymentLifecycleHookStatus, DeploymentLifecycleHookTargetType, DeploymentStrategy,
    ServiceDeployment, ServiceRevisionSummary, StopServiceDeploymentStopType,
};
use model::{
    AlarmReading, AlarmState, DeploymentStatus, Percent, RevisionTasks, RolloutProgress, Strategy,
    StrategyKind, WaitingHook,
};
use serde::de::DeserializeOwned;

use super::alarms;
use super::stack::{self, FIRST_POLL, MAX_POLL};
use super::{AwsBackend, resolved};
use crate::outcome::Rollouts;
use crate::report::{Reporter, Verb};
use crate::request::{self, Judged, RolloutRequest, Wait};
use crate::rollout_view::{
    self, Commands, Detail, LoadBalancerTraffic, RolloutView, StepOf, TargetGroupShare,
};
use crate::stack_view::StackView;

/// The services of a stack whose deployments shift traffic, and their cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The stack's name, heading the tree.
    pub stack: String,
    pub cluster: String,
    /// Service name and the strategy the model gives it (ECS's own answer wins when it has one).
    pub services: Vec<(String, StrategyKind)>,
    /// The stack's other services, shown steady beside the followed ones.
    pub steady: Vec<String>,
}

impl Scope {
    pub fn of(stack: &model::Stack) -> Scope {
        let spec = stack.spec();
        Scope {
            stack: spec.name.clone(),
            cluster: spec.cluster.name.clone(),
            services: spec
                .services
                .iter()
                .filter(|s| s.deployment.strategy.is_native_shift())
                .map(|s| (s.name.clone(), s.deployment.strategy))
                .collect(),
            steady: spec
                .services
                .iter()
                .filter(|s| !s.deployment.strategy.is_native_shift())
                .map(|s| s.name.clone())
                .collect(),
        }
    }
}

impl Scope {
    /// `self` (the rendered stack's scope) with each service's strategy as `template` deploys it
    /// (`AWS::ECS::Service` `DeploymentConfiguration.Strategy`, absent for a rolling update:
    /// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-ecs-service-deploymentconfiguration.html>).
    /// A service the template does not name keeps the rendered strategy.
    pub fn as_deployed(&self, template: &serde_json::Value) -> Scope {
        let deployed = parse_strategies(template);
        let all = self
            .services
            .iter()
            .cloned()
            .chain(self.steady.iter().map(|s| (s.clone(), Default::default())));
        let mut scope = Scope {
            services: Vec::new(),
            steady: Vec::new(),
            ..self.clone()
        };
        for (name, rendered) in all {
            let strategy = deployed.get(&name).copied().unwrap_or(rendered);
            if strategy.is_native_shift() {
                scope.services.push((name, strategy));
            } else {
                scope.steady.push(name);
            }
        }
        scope
    }
}

/// The ECS services of `template` by `ServiceName`, each with the strategy it deploys with
/// (rolling when it names none); a service with a strategy meshtest does not know is left out.
fn parse_strategies(template: &serde_json::Value) -> BTreeMap<String, StrategyKind> {
    let Some(resources) = template["Resources"].as_object() else {
        return BTreeMap::new();
    };
    resources
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::ECS::Service"))
        .filter_map(|r| {
            let properties = &r["Properties"];
            let name = properties["ServiceName"].as_str()?;
            let strategy = match properties["DeploymentConfiguration"]["Strategy"].as_str() {
                None => StrategyKind::Rolling,
                Some(wire) => wire.parse().ok()?,
            };
            Some((name.to_owned(), strategy))
        })
        .collect()
}

/// How often to ask: from `first`, growing by half while nothing changes, up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Poll {
    pub first: Duration,
    pub max: Duration,
}

impl Poll {
    pub const STANDARD: Poll = Poll {
        first: FIRST_POLL,
        max: MAX_POLL,
    };

    fn next(self, current: Duration) -> Duration {
        stack::grow(current, self.max)
    }
}

/// Why a service's deployments cannot be read: the endpoint (moto) does not speak the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub service: String,
    pub operation: &'static str,
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot follow the ECS deployment of {}: the endpoint does not implement {}",
            self.service, self.operation
        )
    }
}

/// A service's newest deployment, or why there is none to show.
#[derive(Debug)]
pub enum Newest {
    Found(Box<ServiceDeployment>),
    None,
    Unsupported(Unsupported),
}

/// An endpoint that does not know an operation: an unknown-operation code, or an error status
/// without any error code (moto answers unimplemented actions with a bare HTTP 500 page).
pub(super) fn not_implemented<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    let code = match err {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    };
    match code {
        Some(code) => matches!(
            code,
            "UnknownOperationException" | "UnknownOperation" | "InvalidAction" | "NotImplemented"
        ),
        None => err
            .raw_response()
            .is_some_and(|r| matches!(r.status().as_u16(), 404 | 500 | 501)),
    }
}

/// The newest deployment of `service` in `cluster`, described; with `since`, the newest one
/// created at or after it (`None` while ECS has created none since).
///
/// `since` goes to ECS as `ListServiceDeployments`' `createdAt.after` filter
/// (<https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListServiceDeployments.html>,
/// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreatedAt.html>: "created
/// after this time"), a second early, so "after" whether or not it includes the instant itself,
/// and the answer is filtered on `createdAt >= since` here too: the filter is then exact, and an
/// endpoint that ignores it (a mock, an emulator) still cannot hand back an older deployment.
pub async fn newest(
    aws: &Aws,
    cluster: &str,
    service: &str,
    since: Option<SystemTime>,
) -> Result<Newest> {
    let created = since.map(|since| {
        CreatedAt::builder()
            .after(DateTime::from(
                since.checked_sub(Duration::from_secs(1)).unwrap_or(since),
            ))
            .build()
    });
    // An endpoint without the API answers with a server error the standard policy would retry
    // for seconds; one retry is enough to tell a transient failure from a missing API.
    let listed = aws
        .ecs
        .list_service_deployments()
        .cluster(cluster)
        .service(service)
        .set_created_at(created)
        .customize()
        .config_override(
            aws_sdk_ecs::config::Config::builder()
                .retry_config(retry_config().with_max_attempts(2)),
        )
        .send()
        .await;
    let listed = match listed {
        Ok(listed) => listed,
        Err(err) if not_implemented(&err) => {
            return Ok(Newest::Unsupported(Unsupported {
                service: service.to_owned(),
                operation: "ListServiceDeployments",
            }));
        }
        Err(err) => {
            return Err(aws_error("ListServiceDeployments", &err, |why| {
                format!(
                    "cannot list the deployments of service {service} in cluster {cluster}: {why}"
                )
            }));
        }
    };
    // Newest first by the API's contract; the creation time decides if an endpoint differs.
    let since_ms = since.map(request::unix_ms);
    let Some(arn) = listed
        .service_deployments()
        .iter()
        .filter(|d| since_ms.is_none_or(|since| created_ms(d.created_at()) >= Some(since)))
        .max_by_key(|d| d.created_at().map(|t| (t.secs(), t.subsec_nanos())))
        .and_then(|d| d.service_deployment_arn())
    else {
        return Ok(Newest::None);
    };
    Ok(Newest::Found(Box::new(
        describe_one(aws, service, arn).await?,
    )))
}

/// ECS's `createdAt` in milliseconds since the Unix epoch (`None` when absent or before it).
fn created_ms(at: Option<&DateTime>) -> Option<u64> {
    let at = at?;
    let ms = at.to_millis().ok()?;
    u64::try_from(ms).ok()
}

async fn describe_one(aws: &Aws, service: &str, arn: &str) -> Result<ServiceDeployment> {
    let out = aws
        .ecs
        .describe_service_deployments()
        .service_deployment_arns(arn)
        .send()
        .await
        .map_err(|e| {
            aws_error("DescribeServiceDeployments", &e, |why| {
                format!("cannot describe the deployment of service {service} ({arn}): {why}")
            })
        })?;
    match out.service_deployments().first() {
        Some(found) => Ok(found.clone()),
        None => {
            let why = out
                .failures()
                .first()
                .and_then(|f| f.reason())
                .unwrap_or("not returned");
            Err(answer_error(
                "DescribeServiceDeployments",
                format!("cannot describe the deployment of service {service} ({arn}): {why}"),
            ))
        }
    }
}

/// ECS's enums and the model's share their wire names (`IN_PROGRESS`, `BAKE_TIME`, `LINEAR`).
fn wire<T: DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
}

/// The status of `d` as the model names it; `None` when ECS gives none or one the model does
/// not know.
fn status_of(d: &ServiceDeployment) -> Option<DeploymentStatus> {
    d.status().and_then(|s| wire(s.as_str()))
}

/// Readable names of service revisions by ARN: the task definition each runs (`rollout-web:8`).
pub type RevisionNames = BTreeMap<String, String>;

/// What `DescribeServiceRevisions` says of a deployment's revisions: their names, and for a
/// service behind a load balancer the target group each serves from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revisions {
    pub names: RevisionNames,
    /// By revision ARN.
    pub load_balancers: BTreeMap<String, RevisionLoadBalancer>,
}

/// A revision behind an Application Load Balancer with a traffic-shifting strategy: the target
/// group it serves from and the production listener rule that forwards to it
/// (`ServiceRevision.resolvedConfiguration.loadBalancers[]`,
/// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceRevisionLoadBalancer.html>),
/// and the test listener rule of its `AdvancedConfiguration`
/// (`ServiceRevision.loadBalancers[].advancedConfiguration`,
/// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_AdvancedConfiguration.html>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionLoadBalancer {
    pub target_group_arn: String,
    pub production_rule_arn: String,
    pub test_rule_arn: Option<String>,
}

impl RevisionLoadBalancer {
    /// The one of `revision`'s load balancers that ECS shifts traffic on: the resolved target
    /// group that has a production listener rule. A revision behind a load balancer without
    /// `AdvancedConfiguration` (or reached over Service Connect only) has none.
    fn of(revision: &aws_sdk_ecs::types::ServiceRevision) -> Option<RevisionLoadBalancer> {
        let resolved = revision
            .resolved_configuration()?
            .load_balancers()
            .iter()
            .find(|lb| {
                lb.target_group_arn().is_some() && lb.production_listener_rule().is_some()
            })?;
        let production_rule_arn = resolved.production_listener_rule()?.to_owned();
        let test_rule_arn = revision
            .load_balancers()
            .iter()
            .filter_map(|lb| lb.advanced_configuration())
            .find(|a| a.production_listener_rule() == Some(production_rule_arn.as_str()))
            .and_then(|a| a.test_listener_rule())
            .map(str::to_owned);
        Some(RevisionLoadBalancer {
            target_group_arn: resolved.target_group_arn()?.to_owned(),
            production_rule_arn,
            test_rule_arn,
        })
    }
}

/// Describes the source and target revisions of `d` (`DescribeServiceRevisions`, once per
/// deployment rather than per poll: a revision's target group is fixed when the deployment
/// starts).
pub async fn revisions(aws: &Aws, d: &ServiceDeployment) -> Revisions {
    let arns: Vec<String> = d
        .source_service_revisions()
        .iter()
        .chain(d.target_service_revision())
        .filter_map(|r| r.arn().map(str::to_owned))
        .collect();
    if arns.is_empty() {
        return Revisions::default();
    }
    let described = aws
        .ecs
        .describe_service_revisions()
        .set_service_revision_arns(Some(arns))
        .send()
        .await;
    let Ok(out) = described else {
        // The names are a courtesy: without them the revision ids stand in, and the progress
        // is shown without its target groups.
        return Revisions::default();
    };
    let mut found = Revisions::default();
    for r in out.service_revisions() {
        let Some(arn) = r.service_revision_arn() else {
            continue;
        };
        if let Some(task_definition) = r.task_definition() {
            found
                .names
                .insert(arn.to_owned(), last_segment(task_definition).to_owned());
        }
        if let Some(lb) = RevisionLoadBalancer::of(r) {
            found.load_balancers.insert(arn.to_owned(), lb);
        }
    }
    found
}

fn last_segment(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The revision's name, or the last part of its ARN
/// (`.../service-revision/cluster/web/4980306466373577095`).
fn revision_label(names: &RevisionNames, arn: &str) -> String {
    match names.get(arn) {
        Some(name) => name.clone(),
        None => format!("revision {}", last_segment(arn)),
    }
}

/// What the display shows for one described deployment. `strategy` is the model's, used when
/// ECS does not say; `names` name the revisions.
pub fn progress_of(
    service: &str,
    strategy: StrategyKind,
    d: &ServiceDeployment,
    names: &RevisionNames,
) -> Result<RolloutProgress> {
    let status_text = d.status().map(|s| s.as_str()).unwrap_or("PENDING");
    let Some(status) = wire::<DeploymentStatus>(status_text) else {
        return Err(answer_error(
            "DescribeServiceDeployments",
            format!(
                "ECS reports status {status_text} for the deployment of {service}, which meshtest does not know: update meshtest"
            ),
        ));
    };
    let stage = d.lifecycle_stage().and_then(|s| wire(s.as_str()));
    let target = d.target_service_revision();
    let weight = target.and_then(|t| t.requested_production_traffic_weight());
    let production_percent = match weight {
        // Weights are 0.0-100.0 floats; the model holds tenths.
        Some(w) => percent(w),
        None if status == DeploymentStatus::Successful => Percent::whole(100),
        None => Percent::whole(0),
    };
    let paused = waiting_hook(d).is_some();
    let rollback_reason = d
        .rollback()
        .and_then(|r| r.reason())
        .or_else(|| {
            matches!(
                status,
                DeploymentStatus::RollbackRequested
                    | DeploymentStatus::RollbackInProgress
                    | DeploymentStatus::RollbackSuccessful
                    | DeploymentStatus::RollbackFailed
                    | DeploymentStatus::StopRequested
                    | DeploymentStatus::Stopped
            )
            .then(|| d.status_reason())
            .flatten()
        })
        .map(str::to_owned);
    Ok(RolloutProgress {
        service: service.to_owned(),
        status,
        strategy: d
            .deployment_configuration()
            .and_then(|c| c.strategy())
            .and_then(|s| wire(s.as_str()))
            .unwrap_or(strategy),
        stage,
        source: d
            .source_service_revisions()
            .first()
            .and_then(|r| r.arn())
            .map(|arn| revision_label(names, arn)),
        target: target
            .and_then(|t| t.arn())
            .map(|arn| revision_label(names, arn)),
        production_percent,
        test_traffic_on_target: target
            .and_then(|t| t.requested_test_traffic_weight())
            .is_some_and(|w| w > 0.0),
        // ECS reports no bake clock; only the local runtime fills this in.
        bake_remaining_ms: None,
        alarms_triggered: d
            .alarms()
            .map(|a| a.triggered_alarm_names().to_vec())
            .unwrap_or_default(),
        rollback_reason,
        paused_at: if paused { stage } else { None },
        // Read from CloudWatch by the caller that has a client for it.
        alarms: Vec::new(),
        hook_running: None,
        hook_timeouts: Vec::new(),
        step: step_of(d),
        // ECS reports the share it set, not the answers each revision gave.
        observed_percent: None,
        revisions: d
            .source_service_revisions()
            .iter()
            .chain(target)
            .filter_map(|r| revision_tasks(r, names))
            .collect(),
        hook_waiting: waiting_hook(d).map(|h| waiting_of(h, std::time::SystemTime::now())),
        started_at_ms: created_ms(d.created_at()),
    })
}

/// A revision's tasks as ECS counts them (`ServiceRevisionSummary`: requested, running and
/// pending tasks, no health,
/// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceRevisionSummary.html>).
fn revision_tasks(r: &ServiceRevisionSummary, names: &RevisionNames) -> Option<RevisionTasks> {
    let count = |n: i32| u32::try_from(n).unwrap_or(0);
    Some(RevisionTasks {
        revision: revision_label(names, r.arn()?),
        desired: count(r.requested_task_count()),
        running: count(r.running_task_count()),
        healthy: None,
    })
}

/// A pause hook awaiting action, with the time left until ECS takes its timeout action
/// (`DeploymentLifecycleHookDetail.expiresAt` and `timeoutAction`,
/// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentLifecycleHookDetail.html>),
/// as of `now`.
pub fn waiting_of(h: &DeploymentLifecycleHookDetail, now: std::time::SystemTime) -> WaitingHook {
    let remaining_ms = h.expires_at().and_then(|at| {
        let at = std::time::SystemTime::try_from(*at).ok()?;
        let left = at.duration_since(now).unwrap_or_default();
        u64::try_from(left.as_millis()).ok()
    });
    WaitingHook {
        hook: h.hook_id().unwrap_or("pause").to_owned(),
        remaining_ms,
        timeout_action: h.timeout_action().and_then(|a| wire(a.as_str())),
    }
}

/// The stack's services that no deployment is followed for, as `DescribeServices` counts their
/// tasks (`desiredCount`, `runningCount`; the revision is the task definition it runs), at most
/// 10 per call as the API takes them. `None` when they cannot be read: the tree then shows
/// them without tasks.
async fn steady_tasks(
    aws: &Aws,
    cluster: &str,
    services: &[String],
) -> Option<Vec<(String, RevisionTasks)>> {
    let mut found = Vec::new();
    for chunk in services.chunks(10) {
        let out = aws
            .ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(chunk.to_vec()))
            .send()
            .await
            .ok()?;
        let count = |n: i32| u32::try_from(n).unwrap_or(0);
        found.extend(out.services().iter().filter_map(|s| {
            Some((
                s.service_name()?.to_owned(),
                RevisionTasks {
                    revision: last_segment(s.task_definition()?).to_owned(),
                    desired: count(s.desired_count()),
                    running: count(s.running_count()),
                    healthy: None,
                },
            ))
        }));
    }
    Some(found)
}

/// What the display adds to the progress of `d`: its production step, and behind a load
/// balancer the target group each revision serves from with its share.
pub fn detail_of(d: &ServiceDeployment, revisions: &Revisions) -> Detail {
    Detail {
        step: step_of(d),
        load_balancer: load_balancer_of(d, revisions),
    }
}

/// Which of its production traffic shifts a LINEAR or CANARY deployment has reached, from the
/// strategy's configuration ECS reports on the deployment
/// (`ServiceDeployment.deploymentConfiguration`,
/// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceDeployment.html>) and the
/// target revision's production weight. `None` before the first shift, once the deployment
/// goes back or ends, and for BLUE_GREEN (one shift).
pub fn step_of(d: &ServiceDeployment) -> Option<StepOf> {
    if status_of(d) != Some(DeploymentStatus::InProgress) {
        return None;
    }
    let config = d.deployment_configuration()?;
    let strategy = match config.strategy()? {
        DeploymentStrategy::Linear => {
            let linear = config.linear_configuration()?;
            Strategy::Linear {
                step: percent(linear.step_percent()?),
                step_bake_minutes: 0,
            }
        }
        DeploymentStrategy::Canary => {
            let canary = config.canary_configuration()?;
            Strategy::Canary {
                percent: percent(canary.canary_percent()?),
                bake_minutes: 0,
            }
        }
        _ => return None,
    };
    let production = percent(
        d.target_service_revision()?
            .requested_production_traffic_weight()?,
    );
    let steps = strategy.traffic_steps();
    let n = steps.iter().filter(|s| s.percent <= production).count();
    (n > 0).then_some(StepOf { n, of: steps.len() })
}

/// A 0.0-100.0 weight on the model's 0.1 grid.
fn percent(weight: f64) -> Percent {
    Percent::from_tenths((weight.clamp(0.0, 100.0) * 10.0).round() as u32)
}

/// Where the production rule of a deployment behind an Application Load Balancer sends
/// traffic: each revision's target group with the weight ECS asked for it. `None` for a
/// deployment whose revisions have no such load balancer (Service Connect only).
pub fn load_balancer_of(
    d: &ServiceDeployment,
    revisions: &Revisions,
) -> Option<LoadBalancerTraffic> {
    let share = |summary: &ServiceRevisionSummary| {
        let arn = summary.arn()?;
        let lb = revisions.load_balancers.get(arn)?;
        Some((
            lb,
            TargetGroupShare {
                target_group: target_group_name(&lb.target_group_arn).to_owned(),
                revision: revision_label(&revisions.names, arn),
                production_percent: percent(
                    summary.requested_production_traffic_weight().unwrap_or(0.0),
                ),
            },
        ))
    };
    let source = d.source_service_revisions().first().and_then(share);
    let target = d.target_service_revision().and_then(share);
    // The target's rules when it has them: a test rule belongs to the new revision.
    let rules = target.as_ref().or(source.as_ref()).map(|(lb, _)| *lb)?;
    Some(LoadBalancerTraffic {
        production_rule: last_segment(&rules.production_rule_arn).to_owned(),
        test_rule: rules
            .test_rule_arn
            .as_deref()
            .map(|arn| last_segment(arn).to_owned()),
        source: source.map(|(_, s)| s),
        target: target.map(|(_, s)| s),
    })
}

/// A target group's name from its ARN
/// (`arn:aws:elasticloadbalancing:...:targetgroup/<name>/<id>`).
fn target_group_name(arn: &str) -> &str {
    let mut parts = arn.rsplit('/');
    match (parts.next(), parts.next()) {
        (Some(_), Some(name)) if !name.contains(':') => name,
        _ => arn,
    }
}

/// How `follow` shows and paces itself.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// The stack the deployments belong to (the events name it).
    pub stack: String,
    pub commands: Commands,
    pub poll: Poll,
    /// The alarms the stack itself defines (their names in the deployed stack): their threshold
    /// and value are percentages the display can show; another alarm's are not.
    pub own_alarms: BTreeSet<String>,
    /// Follow only until this is settled (`None`: until every deployment ends).
    pub wait: Option<Wait>,
    /// Follow only deployments ECS created at or after this instant (`None`: each service's
    /// newest). With a wait, a service with none yet is listed again at every poll and joins
    /// the wait once ECS has created one; without one (a deploy, once its stack update
    /// settled: CloudFormation has made its calls by then) it is said and left out.
    pub since: Option<SystemTime>,
}

/// A service whose deployment is not followed (yet): ECS has created none since
/// [`FollowOptions::since`].
struct Awaited<'a> {
    service: &'a str,
    strategy: StrategyKind,
}

/// Follows the newest deployment of each service in `scope` until all reach a terminal
/// status. Success only if every one of them succeeded.
///
/// With [`FollowOptions::since`], only deployments created since then count. A wait then keeps
/// waiting while no service has one ("not started yet", never "nothing to wait for"), and once
/// some do, it judges those: it is reached when every service with a deployment since then
/// has reached it. A service that has none is listed again at each poll, before the others are
/// judged, and joins the wait when ECS creates one.
pub async fn follow(
    aws: &Aws,
    ui: &dyn Reporter,
    scope: &Scope,
    opts: &FollowOptions,
) -> Result<Rollouts> {
    let mut watched = Vec::new();
    let mut awaited = Vec::new();
    for (service, strategy) in &scope.services {
        match newest(aws, &scope.cluster, service, opts.since).await? {
            Newest::Found(d) => {
                watched.push(watching(aws, &scope.cluster, service, *strategy, *d).await);
            }
            Newest::None => match opts.since {
                Some(_) if opts.wait.is_some() => awaited.push(Awaited {
                    service,
                    strategy: *strategy,
                }),
                Some(since) => ui.line(format!(
                    "{service}: no ECS deployment since {} (the update did not change it)",
                    instant(since)
                )),
                None => ui.line(format!("{service}: no ECS deployment yet")),
            },
            Newest::Unsupported(why) => ui.note(format!("note: {why}")),
        }
    }
    if let Some(since) = opts
        .since
        .filter(|_| opts.wait.is_some() && !awaited.is_empty())
    {
        ui.note(format!(
            "waiting for ECS deployments created since {} (none yet: {})",
            instant(since),
            awaited
                .iter()
                .map(|a| a.service)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if watched.is_empty() && awaited.is_empty() && opts.wait.is_some() {
        // Nothing to judge, and nothing can come: a wait is not met by the absence of a
        // deployment.
        return Ok(Rollouts::NotFollowed);
    }
    let mut view = RolloutView::new(&opts.stack, opts.commands.clone(), ui);
    let result = follow_loop(aws, ui, &mut view, scope, watched, awaited, opts).await;
    view.finish();
    result
}

/// `t` as RFC 3339 in UTC, to the second (`2026-12-05T13:00:00Z`).
fn instant(t: SystemTime) -> String {
    DateTime::from(t)
        .fmt(aws_sdk_ecs::primitives::DateTimeFormat::DateTime)
        .unwrap_or_else(|_| format!("{t:?}"))
}

/// `d`, found for `service`, with what following it needs: its revisions and its alarms.
async fn watching<'a>(
    aws: &Aws,
    cluster: &str,
    service: &'a str,
    strategy: StrategyKind,
    d: ServiceDeployment,
) -> Watched<'a> {
    let revisions = revisions(aws, &d).await;
    let alarm_names = deployment_alarms(aws, cluster, service, &d).await;
    Watched {
        service,
        strategy,
        deployment: d,
        revisions,
        alarm_names,
    }
}

/// One deployment being followed: its latest description, its revisions (names, target
/// groups) and the alarms that fail it.
pub(super) struct Watched<'a> {
    pub(super) service: &'a str,
    pub(super) strategy: StrategyKind,
    pub(super) deployment: ServiceDeployment,
    pub(super) revisions: Revisions,
    pub(super) alarm_names: Vec<String>,
}

/// The alarms that fail a deployment: those ECS lists on the deployment itself
/// (`ServiceDeployment.alarms.alarmNames`), else the service's
/// `deploymentConfiguration.alarms.alarmNames` from `DescribeServices`. Unreadable names are
/// none: the rollout is still followed.
async fn deployment_alarms(
    aws: &Aws,
    cluster: &str,
    service: &str,
    d: &ServiceDeployment,
) -> Vec<String> {
    let listed = d
        .alarms()
        .map(|a| a.alarm_names().to_vec())
        .unwrap_or_default();
    if !listed.is_empty() {
        return listed;
    }
    let described = aws
        .ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await;
    described
        .ok()
        .and_then(|out| {
            out.services()
                .first()
                .and_then(|s| s.deployment_configuration())
                .and_then(|c| c.alarms())
                .map(|a| a.alarm_names().to_vec())
        })
        .unwrap_or_default()
}

/// What the follower knows of the deployments' alarms between polls.
#[derive(Debug, Default)]
pub(super) struct AlarmWatch {
    /// Set by the first failed read (said once): the rollout is then followed without them.
    unreadable: bool,
    /// Each alarm's `StateReason` the last time it was seen in ALARM: why a rollback happened,
    /// even once the alarm has recovered.
    in_alarm: BTreeMap<String, String>,
}

/// One poll of `w`: its deployment described again (unless `first`), as the display shows it,
/// with its alarms' state and a rollback's reason naming the alarm and why.
pub(super) async fn observe(
    aws: &Aws,
    ui: &dyn Reporter,
    w: &mut Watched<'_>,
    first: bool,
    opts: &FollowOptions,
    alarm_watch: &mut AlarmWatch,
) -> Result<RolloutProgress> {
    if !first {
        let arn = w.deployment.service_deployment_arn().unwrap_or_default();
        w.deployment = describe_one(aws, w.service, arn).await?;
    }
    let mut now = progress_of(w.service, w.strategy, &w.deployment, &w.revisions.names)?;
    if w.alarm_names.is_empty() || alarm_watch.unreadable {
        return Ok(now);
    }
    match alarms::describe_alarms(aws, &w.alarm_names).await {
        Ok(found) => {
            now.alarms = w
                .alarm_names
                .iter()
                .map(|name| {
                    alarms::reading_of(name, found.get(name), opts.own_alarms.contains(name))
                })
                .collect();
        }
        Err(why) => {
            alarm_watch.unreadable = true;
            ui.note(format!(
                "note: cannot read the state of alarms {}: {}; following the rollout without it",
                w.alarm_names.join(", "),
                why.said(ui)
            ));
            return Ok(now);
        }
    }
    for reading in &now.alarms {
        if let (AlarmState::Alarm, Some(reason)) = (reading.state, &reading.reason) {
            alarm_watch
                .in_alarm
                .insert(reading.name.clone(), reason.clone());
        }
    }
    explain_rollback(&mut now, &alarm_watch.in_alarm);
    Ok(now)
}

/// A rollback that ECS puts down to alarms says, for each triggered alarm, why it fired: its
/// `StateReason` the last time it was read in ALARM (an alarm never read in ALARM adds nothing).
pub fn explain_rollback(p: &mut RolloutProgress, in_alarm: &BTreeMap<String, String>) {
    if p.rollback_reason.is_none() && !p.status.is_rollback() {
        return;
    }
    // Only a reason given in ALARM says why it fired; an OK reason read after the fact does not.
    let current = |name: &String| {
        p.alarms
            .iter()
            .find(|r: &&AlarmReading| &r.name == name && r.state == AlarmState::Alarm)
            .and_then(|r| r.reason.clone())
    };
    let why: Vec<String> = p
        .alarms_triggered
        .iter()
        .filter_map(|name| {
            let reason = in_alarm.get(name).cloned().or_else(|| current(name))?;
            Some(format!("alarm {name}: {reason}"))
        })
        .collect();
    if why.is_empty() {
        return;
    }
    p.rollback_reason = Some(match p.rollback_reason.take() {
        Some(ecs) => format!("{ecs}; {}", why.join("; ")),
        None => why.join("; "),
    });
}

async fn follow_loop<'a>(
    aws: &Aws,
    ui: &dyn Reporter,
    view: &mut RolloutView<'_>,
    scope: &Scope,
    mut watched: Vec<Watched<'a>>,
    mut awaited: Vec<Awaited<'a>>,
    opts: &FollowOptions,
) -> Result<Rollouts> {
    let mut last: Vec<Option<RolloutProgress>> = vec![None; watched.len()];
    let mut alarm_watch = AlarmWatch::default();
    // Once unreadable, the steady services are shown without their tasks.
    let mut steady_readable = !scope.steady.is_empty();
    let order: Vec<String> = scope
        .services
        .iter()
        .map(|(name, _)| name.clone())
        .chain(scope.steady.iter().cloned())
        .collect();
    let mut interval = opts.poll.first;
    let deadline = opts
        .wait
        .and_then(|w| w.timeout)
        .map(|timeout| tokio::time::Instant::now() + timeout);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut first_round = true;
    loop {
        let mut changed = false;
        if !first_round {
            // The services with no deployment since `since` yet: one ECS created since the
            // last poll joins before anything is judged.
            let mut still = Vec::new();
            for a in awaited {
                match newest(aws, &scope.cluster, a.service, opts.since).await? {
                    Newest::Found(d) => {
                        watched
                            .push(watching(aws, &scope.cluster, a.service, a.strategy, *d).await);
                        last.push(None);
                    }
                    Newest::None | Newest::Unsupported(_) => still.push(a),
                }
            }
            awaited = still;
        }
        first_round = false;
        // This round's readings, shown after the tree: a terminal then draws the tree at once
        // rather than a bar per rollout first.
        let mut fresh = Vec::new();
        for (w, last) in watched.iter_mut().zip(&mut last) {
            if last.as_ref().is_some_and(|p| p.status.is_terminal()) {
                continue;
            }
            let now = observe(aws, ui, w, last.is_none(), opts, &mut alarm_watch).await?;
            changed |= last.as_ref() != Some(&now);
            fresh.push((now.clone(), detail_of(&w.deployment, &w.revisions)));
            *last = Some(now);
        }
        let steady = if steady_readable {
            let read = steady_tasks(aws, &scope.cluster, &scope.steady).await;
            steady_readable = read.is_some();
            read.unwrap_or_default()
        } else {
            Vec::new()
        };
        let rollouts: Vec<(RolloutProgress, Detail)> = watched
            .iter()
            .zip(&last)
            .filter_map(|(w, p)| Some((p.clone()?, detail_of(&w.deployment, &w.revisions))))
            .collect();
        view.show_tree(&StackView::build(
            &scope.stack,
            opts.commands.clone(),
            &order,
            &steady,
            &rollouts,
        ));
        for (now, detail) in &fresh {
            view.show_with(now, detail);
        }
        if let Some(wait) = opts.wait {
            // None created since `since` yet: not started, so nothing is reached or missed.
            let judged = if last.iter().flatten().next().is_none() {
                Judged::Pending
            } else {
                request::judge_all(wait.until, last.iter().flatten())
            };
            match judged {
                Judged::Reached => return Ok(Rollouts::Reached),
                Judged::Missed => return Ok(Rollouts::Failed),
                Judged::Pending => {}
            }
        } else if last.iter().flatten().all(|p| p.status.is_terminal()) {
            let failed = last.iter().flatten().any(rollout_view::failed);
            return Ok(if failed {
                Rollouts::Failed
            } else {
                Rollouts::Completed
            });
        }
        interval = if changed {
            opts.poll.first
        } else {
            opts.poll.next(interval)
        };
        let now = tokio::time::Instant::now();
        let pause = match deadline {
            Some(deadline) if now >= deadline => return Ok(Rollouts::TimedOut),
            Some(deadline) => interval.min(deadline - now),
            None => interval,
        };
        tokio::select! {
            _ = &mut ctrl_c => {
                return Err(Error::Stopped(Stopped::Watching));
            }
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// The in-progress deployment of each service, or an error naming where each one stands.
async fn in_progress(
    aws: &Aws,
    scope: &Scope,
    app: &str,
    doing: &str,
) -> Result<Vec<(String, ServiceDeployment)>> {
    let mut found = Vec::new();
    let mut elsewhere = Vec::new();
    for (service, _) in &scope.services {
        match newest(aws, &scope.cluster, service, None).await? {
            Newest::Found(d)
                if matches!(
                    status_of(&d),
                    Some(DeploymentStatus::Pending | DeploymentStatus::InProgress)
                ) =>
            {
                found.push((service.clone(), *d));
            }
            Newest::Found(d) => elsewhere.push(format!(
                "{service}'s newest is {}",
                d.status().map(|s| s.as_str()).unwrap_or("unknown")
            )),
            Newest::None => elsewhere.push(format!("{service} has none")),
            Newest::Unsupported(why) => {
                return Err(answer_error(
                    why.operation,
                    format!(
                        "cannot {doing} the ECS deployment of {service}: the endpoint does not implement {}",
                        why.operation
                    ),
                ));
            }
        }
    }
    if scope.services.is_empty() {
        return Err(Error::Refused(Refusal::NoRolloutService {
            app: app.to_owned(),
            doing: doing.to_owned(),
        }));
    }
    if found.is_empty() {
        return Err(Error::Refused(Refusal::NoneInProgress {
            app: app.to_owned(),
            doing: doing.to_owned(),
            elsewhere,
        }));
    }
    Ok(found)
}

/// The pause hook `d` waits at, if any.
fn waiting_hook(d: &ServiceDeployment) -> Option<&DeploymentLifecycleHookDetail> {
    d.lifecycle_hook_details().iter().find(|h| {
        h.target_type() == Some(&DeploymentLifecycleHookTargetType::Pause)
            && h.status() == Some(&DeploymentLifecycleHookStatus::AwaitingAction)
    })
}

/// `ContinueServiceDeployment`: lets a deployment paused at `hook` go on, or roll it back.
async fn release(
    aws: &Aws,
    d: &ServiceDeployment,
    hook: &DeploymentLifecycleHookDetail,
    action: DeploymentLifecycleHookAction,
) -> Result<(), Failed> {
    aws.ecs
        .continue_service_deployment()
        .set_service_deployment_arn(d.service_deployment_arn().map(str::to_owned))
        .set_hook_id(hook.hook_id().map(str::to_owned))
        .action(action)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| failed(&e))
}

/// `rollback`: each in-progress deployment rolls back: one paused at a hook through the hook
/// (`ContinueServiceDeployment(ROLLBACK)`, what ECS documents for a pause), any other with
/// `StopServiceDeployment(ROLLBACK)`.
pub async fn rollback(
    backend: &AwsBackend,
    request: &RolloutRequest,
    out: &dyn Reporter,
) -> Result<()> {
    let (aws, target) = (&backend.aws, resolved(&request.target)?);
    let app = &out.target_name(&target.named.name);
    let scope = deployed_scope(aws, target, out).await?;
    for (service, d) in in_progress(aws, &scope, app, "roll back").await? {
        let arn = d.service_deployment_arn().unwrap_or_default();
        let (operation, sent) = match waiting_hook(&d) {
            Some(hook) => (
                "ContinueServiceDeployment",
                release(aws, &d, hook, DeploymentLifecycleHookAction::Rollback).await,
            ),
            None => (
                "StopServiceDeployment",
                aws.ecs
                    .stop_service_deployment()
                    .service_deployment_arn(arn)
                    .stop_type(StopServiceDeploymentStopType::Rollback)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| failed(&e)),
            ),
        };
        sent.map_err(|why| {
            why.into_error(operation, |why| {
                format!("cannot roll back the deployment of {service}: {why}")
            })
        })?;
        out.line(format!(
            "{service}: rollback requested ({arn}); follow it with `{}`",
            out.command(&Verb::Watch.on(&target.named.name))
        ));
    }
    Ok(())
}

/// `continue`: `ContinueServiceDeployment(CONTINUE)` on each deployment waiting at a pause hook.
pub async fn continue_paused(
    backend: &AwsBackend,
    request: &RolloutRequest,
    out: &dyn Reporter,
) -> Result<()> {
    let (aws, target) = (&backend.aws, resolved(&request.target)?);
    let app = &out.target_name(&target.named.name);
    let scope = deployed_scope(aws, target, out).await?;
    let mut continued = 0;
    for (service, d) in in_progress(aws, &scope, app, "continue").await? {
        let Some(hook) = waiting_hook(&d) else {
            continue;
        };
        release(aws, &d, hook, DeploymentLifecycleHookAction::Continue)
            .await
            .map_err(|why| {
                why.into_error("ContinueServiceDeployment", |why| {
                    format!("cannot continue the deployment of {service}: {why}")
                })
            })?;
        out.line(format!(
            "{service}: continued past the pause at {}",
            d.lifecycle_stage()
                .map(|s| s.as_str())
                .unwrap_or("its hook")
        ));
        continued += 1;
    }
    if continued == 0 {
        return Err(Error::Refused(Refusal::NonePaused {
            app: app.to_owned(),
        }));
    }
    Ok(())
}

/// `status --watch`: follows `target`'s traffic-shifting deployments until they end (with
/// `request.wait`, until that is settled).
pub async fn watch(
    backend: &AwsBackend,
    request: &RolloutRequest,
    out: &dyn Reporter,
) -> Result<Rollouts> {
    let (aws, target) = (&backend.aws, resolved(&request.target)?);
    let template = stack::running_template(aws, &target.named, out).await?;
    let scope = Scope::of(&target.stack).as_deployed(&template);
    if scope.services.is_empty() {
        let app = out.target_name(&target.named.name);
        if request.wait.is_some() {
            // Nothing can ever be waited for: said, and the wait's own outcome.
            out.line(format!(
                "{app} has no service with a blue-green, linear or canary deployment"
            ));
            return Ok(Rollouts::NotFollowed);
        }
        return Err(Error::Refused(Refusal::NoRolloutService {
            app,
            doing: "watch".to_owned(),
        }));
    }
    let opts = FollowOptions {
        stack: target.named.name.clone(),
        commands: Commands::of(&target.named.name, out),
        poll: Poll::STANDARD,
        own_alarms: alarms::names(&alarms::template_alarms(&template, &target.named.name).0),
        wait: request.wait,
        since: request.wait.and_then(|w| w.since),
    };
    follow(aws, out, &scope, &opts).await
}

/// The scope of `target`'s stack as deployed: its services' strategies from the template the
/// stack runs ([`Scope::as_deployed`]).
async fn deployed_scope(
    aws: &Aws,
    target: &crate::target::Resolved,
    out: &dyn Reporter,
) -> Result<Scope> {
    let template = stack::running_template(aws, &target.named, out).await?;
    Ok(Scope::of(&target.stack).as_deployed(&template))
}

#[cfg(test)]
mod deployed_scope_tests {
    use super::*;
    use model::StrategyKind;
    use serde_json::{Value, json};

    fn rendered() -> Scope {
        Scope {
            stack: "gateway".into(),
            cluster: "gateway".into(),
            services: Vec::new(),
            steady: vec!["blue".into(), "green".into(), "other".into()],
        }
    }

    fn service(name: &str, strategy: Option<&str>) -> Value {
        let mut configuration = json!({"MaximumPercent": 200});
        if let Some(strategy) = strategy {
            configuration["Strategy"] = json!(strategy);
        }
        json!({"Type": "AWS::ECS::Service",
               "Properties": {"ServiceName": name, "DeploymentConfiguration": configuration}})
    }

    fn check(template: Value, services: &[(&str, StrategyKind)], steady: &[&str]) {
        let scope = rendered().as_deployed(&template);
        let services: Vec<(String, StrategyKind)> = services
            .iter()
            .map(|(n, s)| ((*n).to_owned(), *s))
            .collect();
        assert_eq!(scope.services, services);
        assert_eq!(scope.steady, steady);
        assert_eq!(
            (scope.stack, scope.cluster),
            ("gateway".into(), "gateway".into())
        );
    }

    /// The gateway deployed with `--strategy linear`, watched without the flag: both ALB
    /// services are followed as LINEAR; a service the template lacks keeps the rendered one.
    #[test]
    fn the_deployed_template_says_which_services_shift_traffic() {
        let template = json!({"Resources": {
            "BlueService": service("blue", Some("LINEAR")),
            "GreenService": service("green", Some("CANARY")),
            "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {}},
        }});
        check(
            template,
            &[
                ("blue", StrategyKind::Linear),
                ("green", StrategyKind::Canary),
            ],
            &["other"],
        );
    }

    /// A service deployed without a strategy (or with ROLLING) is steady, whatever the
    /// rendered stack says; no template at all leaves the rendered scope.
    #[test]
    fn a_rolling_service_in_the_template_is_steady() {
        let mut scope = rendered();
        scope.services = vec![("blue".into(), StrategyKind::Linear)];
        scope.steady = vec!["green".into()];
        let template = json!({"Resources": {
            "BlueService": service("blue", None),
            "GreenService": service("green", Some("ROLLING")),
        }});
        let deployed = scope.as_deployed(&template);
        assert!(deployed.services.is_empty(), "{deployed:?}");
        assert_eq!(deployed.steady, ["blue", "green"]);
        assert_eq!(scope.as_deployed(&Value::Null), scope);
    }
}
