//! Renders a validated [`model::Stack`] to a CloudFormation [`Template`].
//!
//! `render` is a pure, deterministic function: the same stack and options always give the
//! same template, byte for byte. Each module writes its resources into the template it is
//! given: `network` (VPC, subnets, security groups), `ecs` (cluster, discovery, tasks,
//! services), `deployment` (how a service deploys: strategy, alarms, hooks), `alb` (the ALB
//! gateway), `appmesh` (mesh, nodes, routers, gateway and its load balancer); `checkov` holds
//! the reasons for the checkov checks a template deliberately does not meet.

pub mod alb;
mod appmesh;
mod appmesh_arn;
pub mod checkov;
pub mod deployment;
pub mod diff;
mod ecs;
mod ids;
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
    for svc in &spec.services {
        ecs::render_service(&mut t, stack, svc, &cx)?;
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
    t.check()?;
    Ok(t)
}
