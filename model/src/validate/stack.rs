//! The one validating constructor, `Stack::new`, and the walk that runs every concern's checks
//! in field order (the order of the fields in the spec types and in JSON)

use std::collections::BTreeSet;

use super::errors::{LoadError, ValidationErrors};
use super::network::VpcLayout;
use super::validator::Validator;
use crate::deployment::*;
use crate::rules;
use crate::spec::*;

/// A validated stack. The only way to get one is [`Stack::new`], so holding a `Stack` means every
/// reference resolves, every name follows AWS's rules and every size is one AWS offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    spec: StackSpec,
    vpc: Option<VpcLayout>,
}

impl Stack {
    /// Validates `spec`, reporting every problem at once.
    pub fn new(spec: StackSpec) -> Result<Stack, ValidationErrors> {
        let mut v = Validator::default();
        let vpc = v.stack(&spec);
        if v.errors.is_empty() {
            Ok(Stack { spec, vpc })
        } else {
            Err(ValidationErrors(v.errors))
        }
    }

    /// Parses and validates a JSON stack description.
    pub fn from_json(text: &str) -> Result<Stack, LoadError> {
        Ok(Stack::new(StackSpec::from_json(text)?)?)
    }

    pub fn spec(&self) -> &StackSpec {
        &self.spec
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The VPC layout when the stack creates its own VPC.
    pub fn vpc(&self) -> Option<&VpcLayout> {
        self.vpc.as_ref()
    }

    pub fn service(&self, name: &str) -> Option<&ServiceSpec> {
        self.spec.services.iter().find(|s| s.name == name)
    }

    /// How `svc` (one of this stack's services) deploys, with ECS's defaults filled in.
    pub fn deployment(&self, svc: &ServiceSpec) -> Deployment {
        deployment_of(svc)
    }

    /// How `svc` shifts traffic at the ALB gateway: `None` unless it deploys with a
    /// traffic-shifting strategy behind the gateway.
    pub fn alb_shift(&self, svc: &ServiceSpec) -> Option<crate::alb::AlbShift> {
        crate::alb::AlbShift::of(&self.spec, svc)
    }

    /// The metrics `svc`'s error-rate alarm reads (its callers in the stack's order and their
    /// count); `None` without Service Connect. Validated to fit CloudWatch's limit.
    pub fn error_rate_metrics<'a>(
        &'a self,
        svc: &'a ServiceSpec,
    ) -> Option<crate::alarm::ErrorRateMetrics<'a>> {
        crate::alarm::error_rate_metrics(&self.spec, svc)
    }

    /// What `svc`'s error-rate alarm reads: the ALB's two target groups for a service that
    /// shifts traffic at the ALB gateway, its callers' Service Connect counts otherwise.
    pub fn error_rate_reads<'a>(
        &'a self,
        svc: &'a ServiceSpec,
    ) -> Option<crate::alarm::ErrorRateReads<'a>> {
        crate::alb::error_rate_reads(&self.spec, svc)
    }

    pub fn into_spec(self) -> StackSpec {
        self.spec
    }

    /// The blue-green pair and its state parameter when this stack keeps a blue-green state:
    /// the one place that decides whether a deploy reads and writes one.
    pub fn blue_green(&self) -> Option<&BlueGreenSpec> {
        self.spec.blue_green.as_ref()
    }

    /// This stack with its blue-green colours at `versions` and `state_json` as the state the
    /// stack writes, validated again (a version is free text until then). `None` when the stack
    /// keeps no blue-green state.
    pub fn with_blue_green(
        &self,
        versions: &BlueGreenVersions,
    ) -> Option<Result<Stack, ValidationErrors>> {
        self.blue_green_spec(versions).map(Stack::new)
    }

    /// The description [`Stack::with_blue_green`] validates, not validated yet: for a caller
    /// that changes more before validating once. `None` when the stack keeps no blue-green
    /// state.
    pub fn blue_green_spec(&self, versions: &BlueGreenVersions) -> Option<StackSpec> {
        let pair = self.blue_green()?;
        let mut spec = self.spec.clone();
        for svc in &mut spec.services {
            if svc.name == pair.blue_service {
                svc.version = versions.blue.to_string();
            } else if svc.name == pair.green_service {
                svc.version = versions.green.to_string();
            }
        }
        if let Some(bg) = &mut spec.blue_green {
            bg.state_json = versions.state_json.clone();
        }
        Some(spec)
    }
}

fn deployment_of(svc: &ServiceSpec) -> Deployment {
    let test_traffic = svc
        .service_connect
        .as_ref()
        .map(|sc| TestTrafficRule::of(sc.test_traffic.as_ref()));
    Deployment::new(&svc.deployment, test_traffic)
}

impl Validator {
    /// Every concern's checks, in field order: a problem's place in the report is its field's
    /// place in the description, whichever module checks it.
    pub(super) fn stack(&mut self, s: &StackSpec) -> Option<VpcLayout> {
        self.check("name", rules::stack_name(&s.name));
        if let Some(d) = &s.description
            && d.len() > 1024
        {
            self.err("description", "description is longer than 1024 characters");
        }
        let vpc = self.network(&s.network);
        self.cluster(&s.cluster);
        if s.services.is_empty() {
            self.err("services", "a stack needs at least one service");
        }
        let service_names: BTreeSet<&str> = s.services.iter().map(|x| x.name.as_str()).collect();
        for (i, svc) in s.services.iter().enumerate() {
            self.service(&format!("services[{i}]"), svc, s, &service_names);
        }
        self.unique(
            "service name",
            s.services
                .iter()
                .enumerate()
                .map(|(i, x)| (format!("services[{i}].name"), x.name.as_str())),
        );
        self.service_connect_names(s);
        if let Some(mesh) = &s.mesh {
            self.mesh(mesh, s);
        }
        if let Some(bg) = &s.blue_green {
            self.blue_green(bg, &service_names);
        }
        if let Some(alb) = &s.alb_gateway {
            self.alb_gateway(alb, s);
        }
        self.encryption_and_access_logs(s);
        self.log_retention(&s.logs);
        vpc
    }
}
