//! Raw stack description: what a user writes in Rust or loads from JSON, before validation

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::deployment::{DeploymentSpec, TestTrafficSpec};

/// A whole stack: one CloudFormation stack, one ECS cluster, its services and optional mesh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StackSpec {
    /// CloudFormation stack name, also the default prefix of physical names.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub network: NetworkSpec,
    pub cluster: ClusterSpec,
    pub services: Vec<ServiceSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesh: Option<MeshSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenSpec>,
    /// An Application Load Balancer with path rules: the App Mesh virtual gateway's successor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alb_gateway: Option<AlbGatewaySpec>,
    #[serde(default)]
    pub logs: LogSpec,
}

/// Where the tasks run: a VPC the stack creates, or one that already exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum NetworkSpec {
    #[serde(rename_all = "camelCase")]
    NewVpc {
        /// IPv4 CIDR of the VPC, e.g. `10.0.0.0/16`.
        cidr: String,
        /// Number of availability zones (one public subnet each).
        az_count: u32,
        /// Add one private subnet per AZ; tasks then run there without public IPs.
        #[serde(default)]
        private_subnets: bool,
        /// NAT gateways for the private subnets (0 when there are none).
        #[serde(default)]
        nat_gateways: u32,
    },
    #[serde(rename_all = "camelCase")]
    ExistingVpc {
        vpc_id: String,
        subnet_ids: Vec<String>,
        /// Give tasks public IPs (needed in public subnets without NAT).
        #[serde(default)]
        assign_public_ip: bool,
    },
}

impl NetworkSpec {
    /// The seed's shape with SPEC §3.3 applied: public subnets only, no NAT gateways.
    pub fn public_only(cidr: &str, az_count: u32) -> Self {
        NetworkSpec::NewVpc {
            cidr: cidr.to_owned(),
            az_count,
            private_subnets: false,
            nat_gateways: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSpec {
    pub name: String,
    #[serde(default = "default_true")]
    pub container_insights: bool,
    pub discovery: DiscoverySpec,
}

/// How services find each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum DiscoverySpec {
    /// ECS Service Connect over a Cloud Map HTTP namespace declared in the stack.
    ServiceConnect { namespace: String },
    /// A Cloud Map private DNS namespace in the VPC (what App Mesh virtual nodes use).
    PrivateDns { namespace: String },
}

impl DiscoverySpec {
    pub fn namespace(&self) -> &str {
        match self {
            DiscoverySpec::ServiceConnect { namespace }
            | DiscoverySpec::PrivateDns { namespace } => namespace,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogSpec {
    /// CloudWatch Logs retention; must be one of the values CloudWatch accepts.
    pub retention_days: u32,
    /// KMS key (its key ARN, not an alias) that encrypts every log group of the stack; without
    /// it CloudWatch Logs encrypts with its own key. The key policy must let
    /// `logs.<region>.amazonaws.com` use the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
}

impl Default for LogSpec {
    fn default() -> Self {
        LogSpec {
            retention_days: 14,
            kms_key_arn: None,
        }
    }
}

/// Where a load balancer writes its access logs. The bucket must exist and its policy must let
/// Elastic Load Balancing write to it (see the ELB access log documentation for the region).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessLogsSpec {
    /// S3 bucket name (not an ARN).
    pub bucket: String,
    /// Key prefix inside the bucket, e.g. `meshtest/gateway`; logs go to the bucket root without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// The container image of a service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    deny_unknown_fields,
    from = "ImageSpecJson"
)]
pub enum ImageSpec {
    /// The stack's `ServiceImage` parameter (given at deploy time).
    #[default]
    Parameter,
    /// A fixed image URI.
    Uri { uri: String },
}

/// How `ImageSpec` is read from JSON. Serde ignores `deny_unknown_fields` for the unit variant of
/// an internally tagged enum (serde-rs/serde#2123), so `{"kind": "parameter", "uri": "..."}`
/// would load and silently drop the URI; an empty struct variant does reject it.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
enum ImageSpecJson {
    Parameter {},
    Uri { uri: String },
}

impl From<ImageSpecJson> for ImageSpec {
    fn from(json: ImageSpecJson) -> Self {
        match json {
            ImageSpecJson::Parameter {} => ImageSpec::Parameter,
            ImageSpecJson::Uri { uri } => ImageSpec::Uri { uri },
        }
    }
}

/// The HTTP-aware application protocols of a Service Connect port (`PortMapping.AppProtocol`):
/// with one, Service Connect balances per request and publishes HTTP response metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppProtocol {
    Http,
    Http2,
    Grpc,
}

impl AppProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            AppProtocol::Http => "http",
            AppProtocol::Http2 => "http2",
            AppProtocol::Grpc => "grpc",
        }
    }
}

/// The app container's one port mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortSpec {
    pub container_port: u32,
    /// Port mapping name (Service Connect refers to it).
    pub name: String,
    /// ECS's `PortMapping.AppProtocol`, optional as in ECS: without one the port is TCP, which
    /// Service Connect balances per connection and publishes no HTTP metrics for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<AppProtocol>,
}

/// A container health check (ECS runs the command inside the container).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheckSpec {
    /// `["CMD", ...]` or `["CMD-SHELL", "..."]`.
    pub command: Vec<String>,
    pub interval_seconds: u32,
    pub timeout_seconds: u32,
    pub retries: u32,
    pub start_period_seconds: u32,
}

/// Service Connect registration of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceConnectSpec {
    pub discovery_name: String,
    pub client_alias_port: u32,
    /// Defaults to the discovery name; clients use `<dns name>.<namespace>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
    /// Which requests count as test traffic during a blue/green, linear or canary deployment
    /// (ECS's default header `x-amzn-ecs-blue-green-test` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_traffic: Option<TestTrafficSpec>,
}

/// The Envoy sidecar that joins a service to an App Mesh virtual node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SidecarSpec {
    pub virtual_node: String,
    #[serde(default = "default_envoy_image")]
    pub envoy_image: String,
    #[serde(default = "default_ignored_uid")]
    pub ignored_uid: u32,
    #[serde(default = "default_proxy_ingress_port")]
    pub proxy_ingress_port: u32,
    #[serde(default = "default_proxy_egress_port")]
    pub proxy_egress_port: u32,
    #[serde(default = "default_admin_port")]
    pub admin_port: u32,
    #[serde(default = "default_egress_ignored_ips")]
    pub egress_ignored_ips: Vec<String>,
}

impl SidecarSpec {
    /// The seed's sidecar settings for `virtual_node`.
    pub fn for_node(virtual_node: &str) -> Self {
        SidecarSpec {
            virtual_node: virtual_node.to_owned(),
            envoy_image: default_envoy_image(),
            ignored_uid: default_ignored_uid(),
            proxy_ingress_port: default_proxy_ingress_port(),
            proxy_egress_port: default_proxy_egress_port(),
            admin_port: default_admin_port(),
            egress_ignored_ips: default_egress_ignored_ips(),
        }
    }
}

/// One ECS service running one Fargate task definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceSpec {
    pub name: String,
    #[serde(default)]
    pub image: ImageSpec,
    /// Reaches the app as `SERVICE_VERSION`.
    pub version: String,
    pub port: PortSpec,
    /// Extra environment; `SERVICE_NAME`, `SERVICE_VERSION`, `SERVICE_PORT` and
    /// `SERVICE_NAMESPACE` are set from the model and may not be overridden.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    pub cpu: u32,
    pub memory_mib: u32,
    pub desired_count: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_connect: Option<ServiceConnectSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_mesh: Option<SidecarSpec>,
    /// Let the operator CIDR reach this service's port directly (on its task IPs).
    #[serde(default)]
    pub public: bool,
    /// Names of the services this one calls.
    #[serde(default)]
    pub backends: Vec<String>,
    /// How new revisions replace old ones (default: rolling with the circuit breaker).
    #[serde(default, skip_serializing_if = "DeploymentSpec::is_default")]
    pub deployment: DeploymentSpec,
    /// The service's own program for the local rehearsal (without it, demo-app runs). Local
    /// only: nothing of it renders to CloudFormation, where the image runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalSpec>,
}

/// What the local runtime runs for a service instead of demo-app: a program of any language,
/// told its port in `PORT`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalSpec {
    /// The program and its arguments, run as they are (no shell): `["python3", "app.py"]`.
    pub command: Vec<String>,
    /// Where it runs, relative to the JSON file it is read from (the file's folder when absent);
    /// whoever reads the file makes it absolute, the model stays pure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    /// Added to the task definition's environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// The path probed with `GET` (200 is healthy) when the service has no container
    /// `healthCheck`; `/` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_path: Option<String>,
    /// ECS's container `stopTimeout`: how long after SIGTERM before SIGKILL, in model seconds
    /// (30 when absent, ECS's default; 2-120 as Fargate takes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout_seconds: Option<u32>,
    /// Per version (the service's `version`), what changes: another command, more environment.
    /// When there are entries, the service's version must be one of them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<String, LocalVersionSpec>,
}

/// What one version of a local program changes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalVersionSpec {
    /// Replaces the block's command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Added to (and over) the block's environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
}

/// A local program as one version runs it: [`LocalSpec::program`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalProgram {
    pub command: Vec<String>,
    pub environment: BTreeMap<String, String>,
}

impl LocalSpec {
    /// ECS's default `stopTimeout` (seconds).
    pub const DEFAULT_STOP_TIMEOUT_SECONDS: u32 = 30;

    /// The command and environment of `version`: the block's, with the version's entry over
    /// them; None when the block lists versions and `version` is not one of them.
    pub fn program(&self, version: &str) -> Option<LocalProgram> {
        let entry = match self.versions.get(version) {
            Some(entry) => Some(entry),
            None if self.versions.is_empty() => None,
            None => return None,
        };
        let mut environment = self.environment.clone();
        let mut command = self.command.clone();
        if let Some(entry) = entry {
            environment.extend(entry.environment.clone());
            if let Some(c) = &entry.command {
                command.clone_from(c);
            }
        }
        Some(LocalProgram {
            command,
            environment,
        })
    }

    /// `stopTimeout` with ECS's default.
    pub fn stop_timeout_seconds(&self) -> u32 {
        self.stop_timeout_seconds
            .unwrap_or(Self::DEFAULT_STOP_TIMEOUT_SECONDS)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EgressFilter {
    #[default]
    DropAll,
    AllowAll,
}

impl EgressFilter {
    pub fn as_str(self) -> &'static str {
        match self {
            EgressFilter::DropAll => "DROP_ALL",
            EgressFilter::AllowAll => "ALLOW_ALL",
        }
    }
}

/// An App Mesh mesh and everything in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeshSpec {
    pub name: String,
    #[serde(default)]
    pub egress_filter: EgressFilter,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewaySpec>,
    #[serde(default)]
    pub virtual_nodes: Vec<VirtualNodeSpec>,
    #[serde(default)]
    pub virtual_routers: Vec<VirtualRouterSpec>,
    #[serde(default)]
    pub virtual_services: Vec<VirtualServiceSpec>,
}

/// A virtual gateway, run as its own Fargate service behind an internet-facing NLB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewaySpec {
    pub name: String,
    pub listener_port: u32,
    pub health_check_interval_seconds: u32,
    /// The NLB's TCP listener port (forwards to `listener_port`).
    pub load_balancer_port: u32,
    #[serde(default = "default_envoy_image")]
    pub envoy_image: String,
    pub cpu: u32,
    pub memory_mib: u32,
    pub desired_count: u32,
    pub routes: Vec<GatewayRouteSpec>,
    /// Access logs of the gateway's NLB (none: off, and the template says so to checkov).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_logs: Option<AccessLogsSpec>,
}

/// A path-prefix route from the gateway to a virtual service (prefix rewritten to `/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayRouteSpec {
    pub name: String,
    pub prefix: String,
    pub virtual_service: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VirtualNodeSpec {
    pub name: String,
    /// The ECS service whose tasks back this node (found through Cloud Map).
    pub service: String,
    pub port: u32,
    pub health_check_path: String,
    pub health_check_interval_seconds: u32,
    /// Virtual services this node may call.
    #[serde(default)]
    pub backends: Vec<String>,
    #[serde(default = "default_true")]
    pub access_log: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VirtualRouterSpec {
    pub name: String,
    pub port: u32,
    pub routes: Vec<RouteSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteSpec {
    pub name: String,
    pub prefix: String,
    pub targets: Vec<WeightedTargetSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WeightedTargetSpec {
    pub virtual_node: String,
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VirtualServiceSpec {
    pub name: String,
    pub provider: ProviderSpec,
}

/// What answers for a virtual service: `{"virtualNode": "blue"}` or `{"virtualRouter": "router"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "ProviderJson")]
pub enum ProviderSpec {
    VirtualNode(String),
    VirtualRouter(String),
}

/// How `ProviderSpec` is read from JSON: serde's own enum reading answers `{}` or an object with
/// both keys with a bare "expected value"; this says what is expected.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProviderJson {
    virtual_node: Option<String>,
    virtual_router: Option<String>,
}

impl TryFrom<ProviderJson> for ProviderSpec {
    type Error = &'static str;

    fn try_from(json: ProviderJson) -> Result<Self, Self::Error> {
        match (json.virtual_node, json.virtual_router) {
            (Some(node), None) => Ok(ProviderSpec::VirtualNode(node)),
            (None, Some(router)) => Ok(ProviderSpec::VirtualRouter(router)),
            (None, None) => Err(
                "a provider needs one of `virtualNode` or `virtualRouter`, e.g. {\"virtualNode\": \"blue\"}",
            ),
            (Some(_), Some(_)) => {
                Err("a provider is either `virtualNode` or `virtualRouter`, not both: keep one")
            }
        }
    }
}

/// An internet-facing Application Load Balancer in the public subnets whose listener rules route
/// path prefixes to services (weighted across several), optionally rewriting the prefix to `/`
/// as an App Mesh gateway route did. Only `AllowedCidr` may reach the listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlbGatewaySpec {
    pub name: String,
    pub listener_port: u32,
    /// Evaluated longest prefix first whatever the order here; no match answers 404.
    pub rules: Vec<AlbRuleSpec>,
    /// Access logs of the ALB (none: off, and the template says so to checkov).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_logs: Option<AccessLogsSpec>,
    /// The role ECS assumes to move a listener rule's weights when a service behind the
    /// gateway deploys BLUE_GREEN, LINEAR or CANARY (`AdvancedConfiguration.RoleArn`); without
    /// it the stack creates one with AWS's managed policy for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrastructure_role_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlbRuleSpec {
    pub name: String,
    /// `/blue` matches `/blue` and `/blue/...`.
    pub path_prefix: String,
    /// Weighted forward: each service gets `weight / sum` of the requests.
    pub targets: Vec<AlbTargetSpec>,
    /// Rewrite the matched prefix to `/` (`/split/downstream/x` arrives as `/downstream/x`).
    #[serde(default)]
    pub rewrite_prefix: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlbTargetSpec {
    pub service: String,
    pub weight: u32,
}

/// Blue-green deployment: the two colour services and the state the stack writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlueGreenSpec {
    pub blue_service: String,
    pub green_service: String,
    /// SSM parameter name, `/<stack>/blue-green-state` by convention.
    pub state_parameter: String,
    /// The state JSON the deploy writes (computed by `state-store`).
    pub state_json: String,
}

impl BlueGreenSpec {
    /// The conventional SSM parameter of stack `stack_name`'s blue-green state: one per stack
    /// (SPEC §3.5), so two stacks of one app never share a state.
    pub fn parameter_for(stack_name: &str) -> String {
        format!("/{stack_name}/blue-green-state")
    }
}

/// The versions a blue-green pair runs and the state JSON that records them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlueGreenVersions {
    pub blue: u32,
    pub green: u32,
    pub state_json: String,
}

fn default_true() -> bool {
    true
}
fn default_envoy_image() -> String {
    "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.24.0.0-prod".to_owned()
}
fn default_ignored_uid() -> u32 {
    1337
}
fn default_proxy_ingress_port() -> u32 {
    15000
}
fn default_proxy_egress_port() -> u32 {
    15001
}
fn default_admin_port() -> u32 {
    9901
}
fn default_egress_ignored_ips() -> Vec<String> {
    vec!["169.254.170.2".to_owned(), "169.254.169.254".to_owned()]
}
