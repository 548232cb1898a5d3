//! What a deployed stack runs, read from the template CloudFormation holds for it
//! (`GetTemplate`): which of its services shift traffic with which strategy, and which alarms it
//! defines
//!
//! The commands that act on a stack already deployed (`status`, its watch and waits,
//! `rollback`, `continue`, `verify`, the dashboard) read these instead of what this checkout
//! renders with the command's flags: the gateway deployed with `--strategy linear` carries its
//! services' strategies in its template, and `status gateway --watch` (which has no
//! `--strategy`) must follow them as deployed. The rendered stack still gives the cluster and
//! the services' names.

use std::collections::BTreeMap;

use serde_json::Value;

use super::client::Aws;
use super::rollout::Scope;
use super::stack;
use crate::error::{AwsErrorKind, Error, Refusal, Result};
use crate::report::{Reporter, Verb};
use crate::target::Named;

/// The template `target`'s stack runs; refused when the stack does not exist on AWS.
pub async fn template(aws: &Aws, target: &Named, out: &dyn Reporter) -> Result<Value> {
    match stack::deployed_template(aws, &target.name).await {
        Err(Error::Aws(err)) if err.kind == AwsErrorKind::NotFound => {
            Err(Error::Refused(Refusal::NotDeployed {
                stack: target.name.clone(),
                deploy: out.command(&Verb::Deploy.on(&target.name)),
            }))
        }
        other => other,
    }
}

impl Scope {
    /// `self` (the rendered stack's scope) with each service's strategy as `template` deploys it
    /// (`AWS::ECS::Service` `DeploymentConfiguration.Strategy`, absent for a rolling update:
    /// <https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-ecs-service-deploymentconfiguration.html>).
    /// A service the template does not name keeps the rendered strategy.
    pub fn as_deployed(&self, template: &Value) -> Scope {
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
fn parse_strategies(template: &Value) -> BTreeMap<String, model::StrategyKind> {
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
                None => model::StrategyKind::Rolling,
                Some(wire) => wire.parse().ok()?,
            };
            Some((name.to_owned(), strategy))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::StrategyKind;
    use serde_json::json;

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
