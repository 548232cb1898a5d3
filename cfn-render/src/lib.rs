//! Renders a validated [`model::Stack`] to a CloudFormation [`Template`].
//!
//! `render` is a pure, deterministic function: the same stack and options always give the
//! same template, byte for byte. Each module writes its resources into the template it is
//! given: `network` (VPC, subnets, security groups), `ecs` (cluster, discovery, tasks,
//! services), `deployment` (how a service deploys: strategy, alarms, hooks), `alb` (the ALB
//! gateway), `appmesh` (mesh, nodes, routers, gateway and its load balancer); `checkov` holds
//! the reasons for the checkov checks a template deliberately does not meet. `metrics` is the
//! catalog of CloudWatch metrics AWS publishes, and `metric_series` lists the series a rendered
//! template reads and checks them against it.

pub mod alb;
mod appmesh;
mod appmesh_arn;
pub mod checkov;
pub mod deployment;
pub mod diff;
mod ecs;
mod ids;
pub mod metric_series;
pub mod metrics;
mod network;
mod template;

pub use ids::logical_id;
pub use template::{
    BodyLimit, Expr, MAX_INLINE_BODY_BYTES, MAX_RESOURCES, Output, Parameter, Resource, Template,
    obj, props, strs,
};

use model::{ImageSpec, Stack};

/// The parameter holding the services' container image.
pub const IMAGE_PARAMETER: &str = "ServiceImage";
/// The parameter holding the operator CIDR allowed to reach the listener ports.
pub const ALLOWED_CIDR_PARAMETER: &str = "AllowedCidr";

/// Choices that are not part of the topology itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderOptions {
    /// Default value of the `ServiceImage` parameter (none: it must be given at deploy time).
    pub image_default: Option<String>,
    /// Default value of the `AllowedCidr` parameter (none: it must be given at deploy time).
    pub allowed_cidr_default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("two resources would share the logical id `{id}` ({first} and {second}): rename one")]
    DuplicateLogicalId {
        id: String,
        first: String,
        second: String,
    },
    #[error(
        "template has {count} resources, more than the 500 CloudFormation allows in one stack: split the stack"
    )]
    TooManyResources { count: usize },
    #[error(
        "template has {count} resources, CloudFormation allows 500: move {which} to another stack"
    )]
    SplitServices {
        count: usize,
        /// The trailing services whose resources bring it under 500, with their sizes.
        which: String,
    },
    #[error("template refers to logical ids it does not declare: {0}")]
    DanglingReferences(String),
}

/// Renders `stack` into a new template and checks its references and limits.
pub fn render(stack: &Stack, options: &RenderOptions) -> Result<Template, RenderError> {
    let spec = stack.spec();
    let mut t = Template::new(spec.description.clone());
    if spec
        .services
        .iter()
        .any(|s| s.image == ImageSpec::Parameter)
    {
        t.add_parameter(
            IMAGE_PARAMETER,
            Parameter {
                kind: "String".into(),
                description: "Container image of the services, e.g. an ECR image URI".into(),
                default: options.image_default.clone(),
                allowed_pattern: None,
                constraint_description: None,
                min_length: Some(1),
            },
        );
    }
    let public_ports = network::public_ports(stack);
    let has_gateway =
        spec.mesh.as_ref().is_some_and(|m| m.gateway.is_some()) || spec.alb_gateway.is_some();
    if !public_ports.is_empty() || has_gateway {
        t.add_parameter(
            ALLOWED_CIDR_PARAMETER,
            Parameter {
                kind: "String".into(),
                description:
                    "IPv4 CIDR allowed to reach the listener ports, e.g. your public IP with /32"
                        .into(),
                default: options.allowed_cidr_default.clone(),
                allowed_pattern: Some(r"^(\d{1,3}\.){3}\d{1,3}/\d{1,2}$".into()),
                constraint_description: Some(
                    "must be an IPv4 CIDR block such as 203.0.113.7/32".into(),
                ),
                min_length: None,
            },
        );
    }
    let net = network::render(&mut t, stack, &public_ports)?;
    let cluster = ecs::render_cluster(&mut t, stack, &net)?;
    let alb = match &spec.alb_gateway {
        Some(gw) => alb::render(&mut t, stack, gw, &net)?,
        None => alb::Attachments::new(),
    };
    let cx = ecs::ServiceContext {
        net: &net,
        cluster: &cluster,
        alb: &alb,
    };
    let mut per_service = Vec::with_capacity(spec.services.len());
    for svc in &spec.services {
        let before = t.resources.len();
        ecs::render_service(&mut t, stack, svc, &cx)?;
        per_service.push((svc.name.as_str(), t.resources.len() - before));
    }
    if let Some(mesh) = &spec.mesh {
        appmesh::render(&mut t, stack, mesh, &net, &cluster)?;
    }
    if let Some(bg) = &spec.blue_green {
        t.add(
            "BlueGreenStateParameter",
            Resource::new(
                "AWS::SSM::Parameter",
                props([
                    ("Name", bg.state_parameter.as_str().into()),
                    ("Type", "String".into()),
                    ("Value", bg.state_json.as_str().into()),
                    (
                        "Description",
                        "meshtest blue-green state: which colour takes the next version, and the versions".into(),
                    ),
                ]),
            ),
        )?;
        t.add_output(
            "BlueGreenStateParameterName",
            "SSM parameter holding the blue-green state",
            Expr::r#ref("BlueGreenStateParameter"),
        );
    }
    t.check().map_err(|e| split_hint(e, &per_service))?;
    Ok(t)
}

/// Turns "too many resources" into which trailing services to move to another stack, when
/// moving some (and keeping at least one) is enough.
fn split_hint(err: RenderError, per_service: &[(&str, usize)]) -> RenderError {
    let RenderError::TooManyResources { count } = err else {
        return err;
    };
    let excess = count - MAX_RESOURCES;
    let mut moved = 0;
    for (taken, (_, n)) in per_service.iter().rev().enumerate() {
        moved += n;
        let services = taken + 1;
        if moved >= excess && services < per_service.len() {
            let first = per_service[per_service.len() - services].0;
            let last = per_service[per_service.len() - 1].0;
            let which = if services == 1 {
                format!("service {last} ({moved} resources)")
            } else {
                format!(
                    "the {services} services {first}..{last} (about {} resources each)",
                    moved.div_ceil(services)
                )
            };
            return RenderError::SplitServices { count, which };
        }
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(count: usize, per_service: &[(&str, usize)], expected: &str) {
        let err = split_hint(RenderError::TooManyResources { count }, per_service);
        assert_eq!(err.to_string(), expected);
    }

    #[test]
    fn too_many_resources_names_the_services_to_move() {
        let sixty: Vec<String> = (1..=60).map(|i| format!("s{i}")).collect();
        let even: Vec<(&str, usize)> = sixty.iter().map(|s| (s.as_str(), 6)).collect();
        // 112 over: 19 services of 6 make 114.
        check(
            612,
            &even,
            "template has 612 resources, CloudFormation allows 500: move the 19 services s42..s60 (about 6 resources each) to another stack",
        );
        check(
            501,
            &even,
            "template has 501 resources, CloudFormation allows 500: move service s60 (6 resources) to another stack",
        );
        // Moving every service would not be a split: the plain message stays.
        check(
            501,
            &[("only", 490)],
            "template has 501 resources, more than the 500 CloudFormation allows in one stack: split the stack",
        );
    }
}
