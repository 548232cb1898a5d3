//! Stable, readable CloudFormation logical ids derived from model names

/// The model's: its validator refuses names whose derived ids collide.
pub use model::rules::logical_id;

#[cfg(test)]
mod tests {
    use super::*;

    fn check(parts: &[&str], expected: &str) {
        assert_eq!(logical_id(parts), expected);
    }

    #[test]
    fn pascal_cases_parts() {
        check(&["blue", "TaskDefinition"], "BlueTaskDefinition");
        check(&["virtual-gateway"], "VirtualGateway");
        check(
            &["blue.appmesh", "VirtualService"],
            "BlueAppmeshVirtualService",
        );
        check(&["my_svc2", "Service"], "MySvc2Service");
        check(&["/split"], "Split");
    }
}
