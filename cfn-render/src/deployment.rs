//! How an ECS service deploys (SPEC §10): controller, strategy, bake times, alarms, lifecycle hooks,
//! the error-rate alarm the stack creates, and the cfn-lint `multipleOf` waiver
//!
//! The default deployment (rolling, circuit breaker with rollback, no alarms) renders exactly as
//! the seed's stacks always did: `DeploymentConfiguration {MaximumPercent, MinimumHealthyPercent,
//! DeploymentCircuitBreaker}` and no `DeploymentController`.

use std::collections::BTreeMap;

use model::alb::{alternate_target_group_id, gateway_id, target_group_id};
use model::{
    Deployment, DeploymentController, DeploymentSpec, ERROR_RATE_METRIC_NAMES, ErrorRateAlarmSpec,
    ErrorRateReads, Hook, HookRole, HookTarget, Percent, ServiceSpec, Stack, Strategy,
    TestTrafficSpec,
};

use crate::RenderError;
use crate::ids::logical_id;
use crate::template::{Expr, Resource, Template, obj, props, strs};

/// The cfn-lint rule that carries JSON schema `multipleOf` (and every other property check).
pub const CFN_LINT_SCHEMA_RULE: &str = "E3002";

/// `DeploymentController`, when the service needs one spelled out: always for the strategies that
/// shift traffic (they need `ECS`), and for any controller but ECS's default.
pub fn controller(dep: &Deployment) -> Option<Expr> {
    (dep.controller != DeploymentController::Ecs || dep.strategy.kind().is_native_shift())
        .then(|| obj([("Type", dep.controller.as_str().into())]))
}

/// `DeploymentConfiguration`, with ECS's defaults spelled out for the traffic-shifting
/// strategies (the bake time, which the ECS API documents as required for BLUE_GREEN, and the
/// step or canary settings), so the template says what the local engine and `status` assume.
/// `alarm_names` are the alarms the stack creates for this service, added after the model's;
/// `hook_roles` the `RoleArn` of each Lambda hook whose role the stack creates, by hook index.
pub fn configuration(
    dep: &Deployment,
    alarm_names: Vec<Expr>,
    hook_roles: &BTreeMap<usize, Expr>,
) -> Expr {
    let mut c = props([
        ("MaximumPercent", 200u32.into()),
        ("MinimumHealthyPercent", 100u32.into()),
    ]);
    // The circuit breaker and alarms belong to the ECS controller only.
    if dep.controller == DeploymentController::Ecs {
        // A task that never gets healthy rolls the service back instead of hanging the stack.
        c.insert(
            "DeploymentCircuitBreaker".into(),
            obj([
                ("Enable", dep.circuit_breaker.enable.into()),
                ("Rollback", dep.circuit_breaker.rollback.into()),
            ]),
        );
    }
    if dep.strategy.kind().is_native_shift() {
        c.insert("Strategy".into(), dep.strategy.kind().as_str().into());
    }
    if let Some(bake) = dep.bake_minutes {
        c.insert("BakeTimeInMinutes".into(), bake.into());
    }
    match dep.strategy {
        Strategy::Linear {
            step,
            step_bake_minutes,
        } => {
            c.insert(
                "LinearConfiguration".into(),
                obj([
                    ("StepPercent", step.into()),
                    ("StepBakeTimeInMinutes", step_bake_minutes.into()),
                ]),
            );
        }
        Strategy::Canary {
            percent,
            bake_minutes,
        } => {
            c.insert(
                "CanaryConfiguration".into(),
                obj([
                    ("CanaryPercent", percent.into()),
                    ("CanaryBakeTimeInMinutes", bake_minutes.into()),
                ]),
            );
        }
        Strategy::Rolling | Strategy::BlueGreen => {}
    }
    if let Some(a) = &dep.alarms {
        let mut names: Vec<Expr> = a.names.iter().map(|n| n.as_str().into()).collect();
        names.extend(alarm_names);
        c.insert(
            "Alarms".into(),
            obj([
                ("AlarmNames", Expr::List(names)),
                ("Enable", true.into()),
                ("Rollback", a.rollback.into()),
            ]),
        );
    }
    if !dep.hooks.is_empty() {
        c.insert(
            "LifecycleHooks".into(),
            Expr::List(
                dep.hooks
                    .iter()
                    .enumerate()
                    .map(|(k, h)| lifecycle_hook(h, hook_roles.get(&k)))
                    .collect(),
            ),
        );
    }
    Expr::Map(c)
}

/// The rolling update with the circuit breaker that every service had before strategies existed.
pub fn default_configuration() -> Expr {
    configuration(
        &Deployment::new(&DeploymentSpec::default(), None),
        Vec::new(),
        &BTreeMap::new(),
    )
}

/// One `LifecycleHooks` entry; `created_role` is the `RoleArn` of the role the stack creates for
/// it (a Lambda hook with `createRole`).
fn lifecycle_hook(h: &Hook, created_role: Option<&Expr>) -> Expr {
    let mut hook = props([("LifecycleStages", strs(h.stages.iter().map(|s| s.as_str())))]);
    match &h.target {
        HookTarget::Lambda { function_arn, role } => {
            hook.insert("TargetType".into(), "AWS_LAMBDA".into());
            hook.insert("HookTargetArn".into(), function_arn.as_str().into());
            match role {
                HookRole::Arn(role) => {
                    hook.insert("RoleArn".into(), role.as_str().into());
                }
                HookRole::Created => {
                    let role = created_role.unwrap_or_else(|| {
                        unreachable!("apply renders a role for every hook with createRole")
                    });
                    hook.insert("RoleArn".into(), role.clone());
                }
            }
        }
        HookTarget::Pause => {
            hook.insert("TargetType".into(), "PAUSE".into());
        }
    }
    if let Some(t) = &h.timeout {
        hook.insert(
            "TimeoutConfiguration".into(),
            obj([
                ("Action", t.action.as_str().into()),
                ("TimeoutInMinutes", t.minutes.into()),
            ]),
        );
    }
    Expr::Map(hook)
}

/// `ClientAliases[].TestTrafficRules`: on the client alias, where the schema has it (on the
/// Service Connect service, cfn-lint reports E3002 and ECS refuses it).
pub fn test_traffic_rules(rule: &TestTrafficSpec) -> Expr {
    obj([(
        "Header",
        obj([
            ("Name", rule.header.as_str().into()),
            ("Value", obj([("Exact", rule.value.as_str().into())])),
        ]),
    )])
}

/// Whether cfn-lint 1.58 wrongly reports `percent` as "not a multiple of 0.1".
///
/// Its `multipleOf` check divides floats: `int(x / 0.1) != x / 0.1`, with `x` the double nearest
/// the JSON text. 33.3 / 0.1 is 332.99999999999994 in binary floating point, so 33.3 fails while
/// ECS (which checks the decimal) accepts it; about a third of the 0.1 grid is affected (10.1,
/// 3.3, 0.3, 0.7, 2.3, ...), whole numbers never. This is the same IEEE-754 computation, so it
/// picks out exactly the values cfn-lint refuses (the cfn-render tests pin the count over the
/// whole grid, 348 of 1000, as Python computes it; the cfn-lint tests run the real thing).
pub fn cfn_lint_rejects_multiple_of_tenth(percent: Percent) -> bool {
    let x = f64::from(percent.tenths()) / 10.0;
    let quotient = x / 0.1;
    quotient.trunc() != quotient
}

/// The percentage of `dep` that cfn-lint's float check compares with `multipleOf: 0.1`.
fn grid_percent(dep: &Deployment) -> Option<Percent> {
    match dep.strategy {
        Strategy::Linear { step, .. } => Some(step),
        Strategy::Canary { percent, .. } => Some(percent),
        Strategy::Rolling | Strategy::BlueGreen => None,
    }
}

/// Resource metadata that waives cfn-lint's property rule on this one service when, and only
/// when, its percentage is a value the float check wrongly rejects. The model has already held
/// the percentage exactly on the 0.1 grid, so nothing real is hidden: `tests/tests/it/templates.rs`
/// lints each kind of waived service again without the waiver and requires that false positive
/// to be the one and only finding, and `cfn_lint.rs` fails once cfn-lint stops rejecting 33.3
/// (then this waiver should go).
pub fn cfn_lint_waiver(dep: &Deployment) -> Option<(String, Expr)> {
    grid_percent(dep)
        .is_some_and(cfn_lint_rejects_multiple_of_tenth)
        .then(|| {
            (
                "cfn-lint".to_owned(),
                obj([(
                    "config",
                    obj([("ignore_checks", strs([CFN_LINT_SCHEMA_RULE]))]),
                )]),
            )
        })
}

/// Logical id of the role the stack creates for `service`'s lifecycle hook at `index` (0-based
/// in the model, 1-based in the id: `WebHook1Role`).
pub fn hook_role_id(service: &str, index: usize) -> String {
    logical_id(&[service, "Hook", &(index + 1).to_string(), "Role"])
}

/// The role ECS assumes to invoke a Lambda hook's function, for a hook with `createRole`.
///
/// As "Permissions required for Lambda functions in Amazon ECS blue/green deployments"
/// (<https://docs.aws.amazon.com/AmazonECS/latest/developerguide/blue-green-permissions.html>)
/// documents it: trusted by `ecs.amazonaws.com` (`sts:AssumeRole`) and allowed
/// `lambda:InvokeFunction`. The page names no managed policy and no trust conditions; its
/// example policy allows every function, and this role allows only the hook's own function ARN,
/// exactly as the hook names it (ECS invokes that ARN).
fn hook_role(stack: &Stack, svc: &ServiceSpec, index: usize, function_arn: &str) -> Resource {
    Resource::new(
        "AWS::IAM::Role",
        props([
            (
                "AssumeRolePolicyDocument",
                obj([
                    ("Version", "2012-10-17".into()),
                    (
                        "Statement",
                        Expr::List(vec![obj([
                            ("Effect", "Allow".into()),
                            ("Principal", obj([("Service", "ecs.amazonaws.com".into())])),
                            ("Action", "sts:AssumeRole".into()),
                        ])]),
                    ),
                ]),
            ),
            (
                "Description",
                format!(
                    "meshtest {}: lets ECS invoke lifecycle hook {} of service {}",
                    stack.name(),
                    index + 1,
                    svc.name
                )
                .into(),
            ),
            (
                "Policies",
                Expr::List(vec![obj([
                    ("PolicyName", "invoke-lifecycle-hook".into()),
                    (
                        "PolicyDocument",
                        obj([
                            ("Version", "2012-10-17".into()),
                            (
                                "Statement",
                                Expr::List(vec![obj([
                                    ("Effect", "Allow".into()),
                                    ("Action", strs(["lambda:InvokeFunction"])),
                                    ("Resource", strs([function_arn])),
                                ])]),
                            ),
                        ]),
                    ),
                ])]),
            ),
        ]),
    )
}

/// Logical id of the error-rate alarm of `service`.
pub fn error_rate_alarm_id(service: &str) -> String {
    logical_id(&[service, "ErrorRateAlarm"])
}

/// Output key of the version a traffic-shifting service deploys (`WebVersion` for `web`).
pub fn version_output_key(service: &str) -> String {
    logical_id(&[service, "Version"])
}

/// The CloudWatch alarm on the share of `svc`'s Service Connect answers that are 5xx, as its
/// callers' proxies count them.
///
/// What it reads (SPEC §11; `cfn_render::metrics` holds the documented sets and the tests check
/// every query against them): Service Connect publishes the response codes
/// `HTTPCode_Target_2XX_Count` .. `HTTPCode_Target_5XX_Count` only on the calling side, on
/// `TargetDiscoveryName` alone or on `ClusterName, ServiceName, TargetDiscoveryName` with
/// `ServiceName` the *caller*. `RequestCount` belongs to the other family (the server's proxy, on
/// `DiscoveryName` sets), so dividing by it on a `TargetDiscoveryName` set matched no series and
/// the alarm could never fire. Numerator and denominator therefore count the same responses from
/// the same publisher: the 5xx count over the sum of the four counts.
///
/// On which sets, and why:
/// - Per caller in this stack, on `ClusterName, ServiceName=<caller>, TargetDiscoveryName`: only
///   this stack's traffic counts, so another stack's (or cluster's) services that use the same
///   discovery name cannot trip this alarm or dilute it, and each caller's answers are summed, so
///   the share is over every answer the service gave inside the stack.
/// - When nothing in the stack calls the service, the same four metrics on `TargetDiscoveryName`
///   alone: this also counts callers in other stacks and clusters of the account and region that
///   use the same discovery name, which is the price of seeing callers outside the stack at all.
/// - CloudWatch lets a metric-math alarm reference at most 10 metrics, and each caller costs
///   four, so at most two callers fit; the model refuses a service with more, naming it and its
///   callers. A period where some series have no data counts them as 0 (`FILL(x, 0)`), and a
///   period without any answer is 0%, never a division by zero.
///
/// No Service Connect dimension tells a service's revisions apart, so during a LINEAR or CANARY
/// deployment the alarm sees old and new answers together (SPEC §11). A service that shifts
/// traffic at the ALB gateway is watched on its two target groups instead
/// ([`target_group_metrics`]): its callers' Service Connect counts would miss the ALB's
/// requests, and both groups together see old and new answers too. All dimension values are
/// literal names from the model, never references to the service, so the service may reference
/// the alarm without a dependency cycle.
pub fn error_rate_alarm(
    t: &mut Template,
    stack: &Stack,
    svc: &ServiceSpec,
    alarm: &ErrorRateAlarmSpec,
) -> Result<String, RenderError> {
    let reads = stack
        .error_rate_reads(svc)
        .unwrap_or_else(|| unreachable!("validated: an error-rate alarm reads something"));
    let (metrics, answers) = match reads {
        ErrorRateReads::ServiceConnect(_) => (
            error_rate_metrics(stack, svc, alarm),
            format!("the answers {}'s Service Connect callers get", svc.name),
        ),
        ErrorRateReads::TargetGroups => (
            target_group_metrics(stack, svc, alarm),
            format!(
                "the answers the ALB gets from {} on its two target groups",
                svc.name
            ),
        ),
    };
    let id = error_rate_alarm_id(&svc.name);
    t.add(
        &id,
        Resource::new(
            "AWS::CloudWatch::Alarm",
            props([
                (
                    "AlarmName",
                    Expr::sub(format!("${{AWS::StackName}}-{}-error-rate", svc.name)),
                ),
                (
                    "AlarmDescription",
                    format!(
                        "meshtest {}: more than {}% of {answers} are 5xx (all revisions together); fails its deployment",
                        stack.name(),
                        alarm.threshold_percent,
                    )
                    .into(),
                ),
                ("Metrics", Expr::List(metrics)),
                ("ComparisonOperator", "GreaterThanThreshold".into()),
                ("Threshold", alarm.threshold_percent.into()),
                ("EvaluationPeriods", alarm.evaluation_periods.into()),
                ("DatapointsToAlarm", alarm.datapoints().into()),
                // No traffic is no evidence of failure: a quiet service must not roll back.
                ("TreatMissingData", "notBreaching".into()),
            ]),
        ),
    )?;
    Ok(id)
}

/// The 5xx count among [`ERROR_RATE_METRIC_NAMES`]: the numerator; the sum of all four is the
/// denominator.
const ERRORS_METRIC: &str = "HTTPCode_Target_5XX_Count";

/// A response count's query id on dimension set `set` (1-based): `code5xx_1` for
/// `HTTPCode_Target_5XX_Count`.
fn response_query_id(metric: &str, set: usize) -> String {
    let code = metric
        .trim_start_matches("HTTPCode_Target_")
        .trim_end_matches("_Count");
    format!("code{}_{set}", code.to_ascii_lowercase())
}

/// The alarm's metric math (see [`error_rate_alarm`]): the model's response counts
/// ([`Stack::error_rate_metrics`]) per dimension set (`code2xx_1` .. `code5xx_2`), their sums
/// `errors` and `responses`, and `errorRate`, the percentage the alarm compares.
fn error_rate_metrics(stack: &Stack, svc: &ServiceSpec, alarm: &ErrorRateAlarmSpec) -> Vec<Expr> {
    let reads = stack
        .error_rate_metrics(svc)
        .unwrap_or_else(|| unreachable!("validated: an error-rate alarm needs Service Connect"));
    let discovery = reads.discovery_name;
    let mut dimension_sets: Vec<Vec<(&str, &str)>> = reads
        .callers
        .iter()
        .map(|caller| {
            vec![
                ("ClusterName", reads.cluster),
                ("ServiceName", *caller),
                ("TargetDiscoveryName", discovery),
            ]
        })
        .collect();
    if dimension_sets.is_empty() {
        dimension_sets.push(vec![("TargetDiscoveryName", discovery)]);
    }
    let dimension_sets: Vec<Vec<(&str, Expr)>> = dimension_sets
        .into_iter()
        .map(|dims| dims.into_iter().map(|(k, v)| (k, Expr::str(v))).collect())
        .collect();
    ratio_metrics(svc, alarm, "AWS/ECS", &dimension_sets)
}

/// The metric math of the error-rate alarm of a service that shifts traffic at the ALB gateway
/// ([`ErrorRateReads::TargetGroups`]): the ALB's response counts on each of the service's two
/// target groups (`TargetGroup, LoadBalancer`, "CloudWatch metrics for your Application Load
/// Balancer",
/// <https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html>),
/// summed: ECS puts the new revision in whichever group is not production, so the groups swap
/// roles from one deployment to the next and only the two together watch every deployment.
/// The dimension values are the groups' and the load balancer's `TargetGroupFullName` and
/// `LoadBalancerFullName` (`targetgroup/<name>/<id>`, `app/<name>/<id>`: the values the metrics
/// carry); the alarm depends on them, never on the service, so the service may still list it.
fn target_group_metrics(stack: &Stack, svc: &ServiceSpec, alarm: &ErrorRateAlarmSpec) -> Vec<Expr> {
    let gw = stack
        .spec()
        .alb_gateway
        .as_ref()
        .unwrap_or_else(|| unreachable!("validated: a shift at the ALB has a gateway"));
    let load_balancer = Expr::get_att(gateway_id(gw, "LoadBalancer"), "LoadBalancerFullName");
    let sets: Vec<Vec<(&str, Expr)>> = [
        target_group_id(&svc.name),
        alternate_target_group_id(&svc.name),
    ]
    .into_iter()
    .map(|group| {
        vec![
            ("TargetGroup", Expr::get_att(group, "TargetGroupFullName")),
            ("LoadBalancer", load_balancer.clone()),
        ]
    })
    .collect();
    ratio_metrics(svc, alarm, "AWS/ApplicationELB", &sets)
}

/// The response counts of [`ERROR_RATE_METRIC_NAMES`] in `namespace` on each dimension set
/// (`code2xx_1` .. `code5xx_2`), their sums `errors` and `responses`, and `errorRate`, the
/// percentage the alarm compares.
fn ratio_metrics(
    svc: &ServiceSpec,
    alarm: &ErrorRateAlarmSpec,
    namespace: &str,
    dimension_sets: &[Vec<(&str, Expr)>],
) -> Vec<Expr> {
    let mut metrics = Vec::new();
    let (mut errors, mut responses) = (Vec::new(), Vec::new());
    for (i, dims) in dimension_sets.iter().enumerate() {
        for name in ERROR_RATE_METRIC_NAMES {
            let id = response_query_id(name, i + 1);
            metrics.push(metric(&id, namespace, name, dims, alarm.period_seconds));
            let filled = format!("FILL({id}, 0)");
            if name == ERRORS_METRIC {
                errors.push(filled.clone());
            }
            responses.push(filled);
        }
    }
    let expression = |id: &str, expression: String, label: String, returned: bool| {
        obj([
            ("Id", id.into()),
            ("Expression", expression.into()),
            ("Label", label.into()),
            ("ReturnData", returned.into()),
        ])
    };
    metrics.push(expression(
        "errors",
        errors.join(" + "),
        format!("{} 5xx answers", svc.name),
        false,
    ));
    metrics.push(expression(
        "responses",
        responses.join(" + "),
        format!("{} answers (2xx to 5xx)", svc.name),
        false,
    ));
    metrics.push(expression(
        "errorRate",
        "IF(responses > 0, 100 * errors / responses, 0)".to_owned(),
        format!("{} 5xx share of answers (%)", svc.name),
        true,
    ));
    metrics
}

fn metric(id: &str, namespace: &str, name: &str, dims: &[(&str, Expr)], period: u32) -> Expr {
    let dimensions = dims
        .iter()
        .map(|(k, v)| obj([("Name", (*k).into()), ("Value", v.clone())]))
        .collect();
    obj([
        ("Id", id.into()),
        (
            "MetricStat",
            obj([
                (
                    "Metric",
                    obj([
                        ("Namespace", namespace.into()),
                        ("MetricName", name.into()),
                        ("Dimensions", Expr::List(dimensions)),
                    ]),
                ),
                ("Period", period.into()),
                ("Stat", "Sum".into()),
            ]),
        ),
        ("ReturnData", false.into()),
    ])
}

/// Adds the deployment settings of `svc` to its service properties and resources: the alarm and
/// the hook roles it creates, the controller and configuration, and the version output of a
/// traffic-shifting service (`<Service>Version`, read by `status` to tell which version the
/// stack deployed).
/// Returns the cfn-lint waiver metadata the service resource needs, if any.
pub fn apply(
    t: &mut Template,
    stack: &Stack,
    svc: &ServiceSpec,
    service: &mut BTreeMap<String, Expr>,
) -> Result<Option<(String, Expr)>, RenderError> {
    if svc.deployment.is_default() {
        return Ok(None);
    }
    let dep = stack.deployment(svc);
    let error_rate = dep.alarms.as_ref().and_then(|a| a.error_rate.as_ref());
    let mut created = Vec::new();
    if let Some(alarm) = error_rate {
        created.push(Expr::r#ref(error_rate_alarm(t, stack, svc, alarm)?));
    }
    let mut hook_roles = BTreeMap::new();
    for (k, h) in dep.hooks.iter().enumerate() {
        if let HookTarget::Lambda {
            function_arn,
            role: HookRole::Created,
        } = &h.target
        {
            let id = hook_role_id(&svc.name, k);
            t.add(&id, hook_role(stack, svc, k, function_arn))?;
            hook_roles.insert(k, Expr::get_att(&id, "Arn"));
        }
    }
    if let Some(c) = controller(&dep) {
        service.insert("DeploymentController".into(), c);
    }
    service.insert(
        "DeploymentConfiguration".into(),
        configuration(&dep, created, &hook_roles),
    );
    if dep.strategy.kind().is_native_shift() {
        t.add_output(
            &version_output_key(&svc.name),
            &format!("Version the {} service deploys", svc.name),
            svc.version.as_str().into(),
        );
    }
    Ok(cfn_lint_waiver(&dep))
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::StrategyKind;

    fn check(spec: &DeploymentSpec, controller_json: Option<&str>, configuration_json: &str) {
        let json = |e: &Expr| serde_json::to_string(e).unwrap();
        let dep = &Deployment::new(spec, None);
        assert_eq!(
            controller(dep).as_ref().map(json).as_deref(),
            controller_json
        );
        assert_eq!(
            json(&configuration(dep, Vec::new(), &BTreeMap::new())),
            configuration_json
        );
    }

    #[test]
    fn the_numerator_is_one_of_the_counts_summed() {
        assert!(ERROR_RATE_METRIC_NAMES.contains(&ERRORS_METRIC));
        let ids: Vec<String> = ERROR_RATE_METRIC_NAMES
            .iter()
            .map(|m| response_query_id(m, 2))
            .collect();
        assert_eq!(ids, ["code2xx_2", "code3xx_2", "code4xx_2", "code5xx_2"]);
    }

    #[test]
    fn controllers_and_their_settings() {
        check(
            &DeploymentSpec::default(),
            None,
            r#"{"DeploymentCircuitBreaker":{"Enable":true,"Rollback":true},"MaximumPercent":200,"MinimumHealthyPercent":100}"#,
        );
        // Other controllers: named, and without the ECS-only circuit breaker.
        for (controller, name) in [
            (DeploymentController::CodeDeploy, "CODE_DEPLOY"),
            (DeploymentController::External, "EXTERNAL"),
        ] {
            check(
                &DeploymentSpec {
                    controller,
                    ..DeploymentSpec::default()
                },
                Some(&format!(r#"{{"Type":"{name}"}}"#)),
                r#"{"MaximumPercent":200,"MinimumHealthyPercent":100}"#,
            );
        }
        // A rolling bake time is rendered only when set.
        check(
            &DeploymentSpec {
                bake_time_minutes: Some(5),
                ..DeploymentSpec::default()
            },
            None,
            r#"{"BakeTimeInMinutes":5,"DeploymentCircuitBreaker":{"Enable":true,"Rollback":true},"MaximumPercent":200,"MinimumHealthyPercent":100}"#,
        );
        check(
            &DeploymentSpec {
                strategy: StrategyKind::BlueGreen,
                ..DeploymentSpec::default()
            },
            Some(r#"{"Type":"ECS"}"#),
            r#"{"BakeTimeInMinutes":15,"DeploymentCircuitBreaker":{"Enable":true,"Rollback":true},"MaximumPercent":200,"MinimumHealthyPercent":100,"Strategy":"BLUE_GREEN"}"#,
        );
        // ECS's step and canary defaults are spelled out too.
        check(
            &DeploymentSpec {
                strategy: StrategyKind::Linear,
                ..DeploymentSpec::default()
            },
            Some(r#"{"Type":"ECS"}"#),
            r#"{"BakeTimeInMinutes":15,"DeploymentCircuitBreaker":{"Enable":true,"Rollback":true},"LinearConfiguration":{"StepBakeTimeInMinutes":6,"StepPercent":10},"MaximumPercent":200,"MinimumHealthyPercent":100,"Strategy":"LINEAR"}"#,
        );
        check(
            &DeploymentSpec {
                strategy: StrategyKind::Canary,
                ..DeploymentSpec::default()
            },
            Some(r#"{"Type":"ECS"}"#),
            r#"{"BakeTimeInMinutes":15,"CanaryConfiguration":{"CanaryBakeTimeInMinutes":10,"CanaryPercent":5},"DeploymentCircuitBreaker":{"Enable":true,"Rollback":true},"MaximumPercent":200,"MinimumHealthyPercent":100,"Strategy":"CANARY"}"#,
        );
    }
}
