//! Stable, readable CloudFormation logical ids derived from model names

/// Joins name parts into a PascalCase logical id: `["virtual-gateway", "Service"]` ->
/// `VirtualGatewayService`, `["blue.appmesh"]` -> `BlueAppmesh`. No hashes: renaming a model
/// object renames its resources, which CloudFormation shows as a replacement.
pub fn logical_id(parts: &[&str]) -> String {
    let mut id = String::new();
    for part in parts {
        for word in part
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            let mut chars = word.chars();
            if let Some(first) = chars.next() {
                id.push(first.to_ascii_uppercase());
                id.extend(chars);
            }
        }
    }
    id
}

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
