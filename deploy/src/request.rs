//! What a caller asks the engine to do: typed requests built once from the command line (or by
//! a program), so the flows never see clap arguments

use model::{DiscoverySpec, Ipv4Cidr};

use crate::report::Confirm;
use crate::target::{Named, Resolved};

/// Where AWS is: the standard aws-config chain (environment, profiles), with these overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connection {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// An endpoint such as a local moto server; every client uses it.
    pub endpoint_url: Option<String>,
}

impl Connection {
    /// Everything from the aws-config chain except the endpoint, e.g. `http://127.0.0.1:5000`.
    pub fn endpoint(url: impl Into<String>) -> Connection {
        Connection {
            endpoint_url: Some(url.into()),
            ..Connection::default()
        }
    }
}

/// The template parameters a deploy sets. A parameter left out keeps its deployed value, or
/// its default; a first deploy of a template without a default needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parameters {
    /// `ServiceImage`: the services' container image.
    pub image: Option<String>,
    /// `AllowedCidr`: who may reach the listener ports. A `/0` block needs [`Confirm::Yes`].
    pub allowed_cidr: Option<Ipv4Cidr>,
}

/// Deploy a target through a change set and follow it to the end.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    pub target: Resolved,
    pub parameters: Parameters,
    pub confirm: Confirm,
    /// Where a template over CloudFormation's inline limit goes (`None`: the account's own
    /// `meshtest-templates-<account>-<region>` bucket, created on first use).
    pub template_bucket: Option<String>,
    /// Follow the ECS deployments the stack update starts until they end.
    pub follow_rollouts: bool,
    /// Once the stack settled, check the alarms it defines (`verify`) and show the result.
    pub verify_alarms: bool,
}

impl DeployRequest {
    /// A deploy of `target` that asks before changing anything, follows its rollouts and
    /// verifies its alarms.
    pub fn new(target: Resolved) -> DeployRequest {
        DeployRequest {
            target,
            parameters: Parameters::default(),
            confirm: Confirm::Ask,
            template_bucket: None,
            follow_rollouts: true,
            verify_alarms: true,
        }
    }
}

/// Compare a target with what is deployed.
#[derive(Debug, Clone)]
pub struct DiffRequest {
    pub target: Resolved,
    /// As for [`DeployRequest::template_bucket`]: the replacement marks need a change set.
    pub template_bucket: Option<String>,
}

/// Delete a target's stack (and the Service Connect namespace ECS may have left).
#[derive(Debug, Clone)]
pub struct DestroyRequest {
    /// Only the name is needed to delete a stack, so a stack whose description is gone can go.
    pub target: Named,
    /// The stack's Service Connect namespace: one of that name that ECS made outside the stack
    /// is deleted after it (`None`: no such clean-up).
    pub namespace: Option<String>,
    pub confirm: Confirm,
}

impl DestroyRequest {
    /// Deletes `target`'s stack and its leftover namespace, asking first.
    pub fn new(target: &Resolved) -> DestroyRequest {
        let namespace = match &target.stack.spec().cluster.discovery {
            DiscoverySpec::ServiceConnect { namespace } => Some(namespace.clone()),
            DiscoverySpec::PrivateDns { .. } => None,
        };
        DestroyRequest {
            target: target.named.clone(),
            namespace,
            confirm: Confirm::Ask,
        }
    }
}
