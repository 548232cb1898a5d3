//! What a caller asks the engine to do, one request type per verb for both backends (AWS and
//! the local runtime): typed requests built once from the command line (or by a program), so
//! the flows never see clap arguments
//!
//! A request says only what every backend needs: which target. What one backend alone takes
//! (AWS's parameters and confirmation policy, the local runtime's time scale) is that
//! backend's options, carried by its backend value ([`crate::aws::Options`],
//! [`crate::local::Options`]).

use model::Ipv4Cidr;

use crate::target::{Resolved, Subject};

/// Where AWS is: the standard aws-config chain (environment, profiles), with these overrides.
/// Only the AWS backend connects.
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

/// The template parameters an AWS deploy sets. A parameter left out keeps its deployed value,
/// or its default; a first deploy of a template without a default needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parameters {
    /// `ServiceImage`: the services' container image.
    pub image: Option<String>,
    /// `AllowedCidr`: who may reach the listener ports. A `/0` block needs a confirmation.
    pub allowed_cidr: Option<Ipv4Cidr>,
}

/// Deploy a target and follow it to the end (its rollouts included).
#[derive(Debug, Clone)]
pub struct DeployRequest {
    pub target: Resolved,
}

impl DeployRequest {
    pub fn new(target: Resolved) -> DeployRequest {
        DeployRequest { target }
    }
}

/// Compare a target with what is deployed (or runs).
#[derive(Debug, Clone)]
pub struct DiffRequest {
    pub target: Resolved,
}

impl DiffRequest {
    pub fn new(target: Resolved) -> DiffRequest {
        DiffRequest { target }
    }
}

/// Take a target down: delete its stack, or stop what the local runtime runs for it.
#[derive(Debug, Clone)]
pub struct DestroyRequest {
    /// The name is enough, so a stack whose description is gone can go; with the model, AWS
    /// also deletes the Service Connect namespace ECS may have left.
    pub target: Subject,
}

impl DestroyRequest {
    pub fn new(target: impl Into<Subject>) -> DestroyRequest {
        DestroyRequest {
            target: target.into(),
        }
    }
}

/// Where a target stands.
#[derive(Debug, Clone)]
pub struct StatusRequest {
    /// With the model, AWS also reads the blue-green state and the rollouts.
    pub target: Subject,
}

impl StatusRequest {
    pub fn new(target: impl Into<Subject>) -> StatusRequest {
        StatusRequest {
            target: target.into(),
        }
    }
}

/// Follow (`watch`), roll back or continue a target's rollouts.
#[derive(Debug, Clone)]
pub struct RolloutRequest {
    /// AWS needs the model (which services shift traffic); the local runtime asks its
    /// supervisor, so the name is enough.
    pub target: Subject,
}

impl RolloutRequest {
    pub fn new(target: impl Into<Subject>) -> RolloutRequest {
        RolloutRequest {
            target: target.into(),
        }
    }
}
