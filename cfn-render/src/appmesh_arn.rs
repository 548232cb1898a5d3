//! App Mesh ARNs, for the gateway (appmesh.rs) and the services' sidecars (ecs.rs) alike

use crate::template::Expr;

/// ARNs are built with `Fn::Sub` from known names rather than `Fn::GetAtt`, so task roles and
/// Envoy's `APPMESH_RESOURCE_ARN` need no App Mesh resource to exist when they are created
/// (and the stack deploys on emulators that do not implement App Mesh).
fn arn(mesh: &str, tail: &str) -> Expr {
    Expr::sub(format!(
        "arn:${{AWS::Partition}}:appmesh:${{AWS::Region}}:${{AWS::AccountId}}:mesh/{mesh}{tail}"
    ))
}

/// A virtual node's ARN (a sidecar's task role and `APPMESH_RESOURCE_ARN`).
pub fn node(mesh: &str, node: &str) -> Expr {
    arn(mesh, &format!("/virtualNode/{node}"))
}

/// A virtual gateway's ARN (the gateway's task role and `APPMESH_RESOURCE_ARN`).
pub fn gateway(mesh: &str, gateway: &str) -> Expr {
    arn(mesh, &format!("/virtualGateway/{gateway}"))
}
