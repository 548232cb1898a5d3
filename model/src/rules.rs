//! AWS naming and sizing rules, each a small pure predicate with the message a user sees

/// Fargate's supported task sizes: CPU units and the memory (MiB) range and step for each.
const FARGATE_SIZES: &[(u32, u32, u32, u32)] = &[
    (256, 512, 2048, 512),
    (512, 1024, 4096, 1024),
    (1024, 2048, 8192, 1024),
    (2048, 4096, 16384, 1024),
    (4096, 8192, 30720, 1024),
    (8192, 16384, 61440, 4096),
    (16384, 32768, 122_880, 8192),
];

/// Retention periods CloudWatch Logs accepts.
pub const LOG_RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// CPU units alone, so a caller can blame `cpu` rather than `memoryMib` when the CPU is the problem.
pub fn fargate_cpu(cpu: u32) -> Result<(), String> {
    if FARGATE_SIZES.iter().any(|s| s.0 == cpu) {
        return Ok(());
    }
    let cpus: Vec<String> = FARGATE_SIZES.iter().map(|s| s.0.to_string()).collect();
    Err(format!(
        "Fargate does not offer {cpu} CPU units: use one of {}",
        cpus.join(", ")
    ))
}

pub fn fargate_size(cpu: u32, memory_mib: u32) -> Result<(), String> {
    let Some(&(_, min, max, step)) = FARGATE_SIZES.iter().find(|s| s.0 == cpu) else {
        return fargate_cpu(cpu);
    };
    if memory_mib < min || memory_mib > max || !(memory_mib - min).is_multiple_of(step) {
        return Err(format!(
            "Fargate does not offer {memory_mib} MiB with {cpu} CPU units: use {min} to {max} MiB in steps of {step}"
        ));
    }
    Ok(())
}

/// The most characters of user text a message repeats.
const QUOTE_MAX_CHARS: usize = 80;

/// User text as a message shows it: in backticks, cut at 80 characters with an ellipsis, control
/// characters escaped, so a huge or hostile name can neither flood nor drive the terminal.
pub fn quote(text: &str) -> String {
    let mut out = String::from("`");
    for (i, c) in text.chars().enumerate() {
        if i == QUOTE_MAX_CHARS {
            out.push('…');
            break;
        }
        push_inert(&mut out, c);
    }
    out.push('`');
    out
}

/// User text with its control characters escaped (`\n`, `\u{1b}`), for a field path built from a
/// map key: shown whole, but unable to break a line or drive the terminal.
pub fn inert(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_inert(&mut out, c);
    }
    out
}

fn push_inert(out: &mut String, c: char) {
    if c.is_control() {
        out.extend(c.escape_default());
    } else {
        out.push(c);
    }
}

pub fn port(value: u32) -> Result<(), String> {
    if (1..=65535).contains(&value) {
        Ok(())
    } else {
        Err(format!("port {value} is out of range 1-65535"))
    }
}

pub fn range(value: u32, min: u32, max: u32, what: &str) -> Result<(), String> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!("{what} {value} is out of range {min}-{max}"))
    }
}

fn chars_ok(name: &str, allowed: impl Fn(char) -> bool) -> bool {
    name.chars().all(allowed)
}

/// CloudFormation stack names.
pub fn stack_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && chars_ok(name, |c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid stack name: start with a letter, then up to 127 letters, digits and hyphens",
            quote(name)
        ))
    }
}

/// ECS cluster and service names.
pub fn ecs_name(name: &str) -> Result<(), String> {
    let ok = (1..=255).contains(&name.len())
        && chars_ok(name, |c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid ECS name: use 1-255 letters, digits, hyphens and underscores",
            quote(name)
        ))
    }
}

/// Service Connect port mapping names and discovery names.
pub fn service_connect_name(name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.len())
        && !name.starts_with('-')
        && chars_ok(name, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid Service Connect name: use 1-64 lowercase letters, digits, hyphens and underscores, not starting with a hyphen",
            quote(name)
        ))
    }
}

fn dns_label_ok(label: &str, allow_underscore: bool) -> bool {
    (1..=63).contains(&label.len())
        && !label.starts_with('-')
        && !label.ends_with('-')
        && chars_ok(label, |c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || c == '-'
                || (allow_underscore && c == '_')
        })
}

/// DNS names: Cloud Map namespaces and Service Connect client aliases.
pub fn dns_name(name: &str) -> Result<(), String> {
    if name.len() <= 253 && name.split('.').all(|l| dns_label_ok(l, false)) {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid DNS name: use dot-separated labels of 1-63 lowercase letters, digits and hyphens",
            quote(name)
        ))
    }
}

/// Cloud Map service names in a DNS namespace (one label).
pub fn cloud_map_service_name(name: &str) -> Result<(), String> {
    if dns_label_ok(name, true) {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid Cloud Map service name: use 1-63 lowercase letters, digits, hyphens and underscores",
            quote(name)
        ))
    }
}

/// App Mesh resource names (meshes, nodes, routers, routes, gateways, virtual services).
pub fn app_mesh_name(name: &str) -> Result<(), String> {
    let ok = (1..=255).contains(&name.len())
        && chars_ok(name, |c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid App Mesh name: use 1-255 letters, digits, hyphens, underscores and dots",
            quote(name)
        ))
    }
}

/// Joins name parts into a PascalCase CloudFormation logical id: `["virtual-gateway",
/// "Service"]` -> `VirtualGatewayService`, `["blue.appmesh"]` -> `BlueAppmesh`. No hashes:
/// renaming a model object renames its resources, which CloudFormation shows as a replacement.
/// Here rather than in the renderer so the validator can tell two names that make one id apart.
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

/// Names the renderer turns into CloudFormation logical ids need at least one letter or digit.
pub fn logical_id_source(name: &str) -> Result<(), String> {
    if name.chars().any(|c| c.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(format!(
            "{} has no letters or digits to build a CloudFormation logical id from",
            quote(name)
        ))
    }
}

/// Free text that ends up on a terminal (a version in status lines, an environment value in a
/// diff): no control characters, so a value can neither forge lines (`\n`, `\r`) nor drive the
/// terminal (ESC).
pub fn no_control(text: &str, what: &str) -> Result<(), String> {
    if text.contains(char::is_control) {
        Err(format!(
            "{what} {} has control characters (such as a newline or ESC): use printable text",
            quote(text)
        ))
    } else {
        Ok(())
    }
}

/// A service version: free text (demo-app's `SERVICE_VERSION`, a template output), one line.
pub fn version(version: &str) -> Result<(), String> {
    if version.is_empty() || version.len() > 128 {
        return Err("version must be 1-128 characters".to_owned());
    }
    no_control(version, "version")
}

pub fn env_var_name(name: &str) -> Result<(), String> {
    let ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && chars_ok(name, |c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid environment variable name",
            quote(name)
        ))
    }
}

pub fn path_prefix(prefix: &str) -> Result<(), String> {
    if prefix.starts_with('/')
        && !prefix.contains(|c: char| c.is_whitespace() || c.is_control())
        && prefix.len() <= 255
    {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid path prefix: start with `/`, no spaces",
            quote(prefix)
        ))
    }
}

/// SSM parameter names with a leading slash (hierarchical).
pub fn ssm_parameter_name(name: &str) -> Result<(), String> {
    let ok = name.starts_with('/')
        && name.len() <= 1011
        && chars_ok(name, |c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '.' | '-')
        })
        && !name.to_ascii_lowercase().starts_with("/aws")
        && !name.to_ascii_lowercase().starts_with("/ssm");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid SSM parameter name: start with `/`, use letters, digits and `/_.-`, not under /aws or /ssm",
            quote(name)
        ))
    }
}

pub fn vpc_id(id: &str) -> Result<(), String> {
    hex_id(id, "vpc-")
}

pub fn subnet_id(id: &str) -> Result<(), String> {
    hex_id(id, "subnet-")
}

fn hex_id(id: &str, prefix: &str) -> Result<(), String> {
    let ok = id.strip_prefix(prefix).is_some_and(|hex| {
        matches!(hex.len(), 8 | 17)
            && chars_ok(hex, |c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid id: expected {prefix} and 8 or 17 hex digits",
            quote(id)
        ))
    }
}

pub fn image_uri(uri: &str) -> Result<(), String> {
    if !uri.is_empty()
        && uri.len() <= 255
        && !uri.contains(|c: char| c.is_whitespace() || c.is_control())
    {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid image reference: 1-255 characters, no spaces",
            quote(uri)
        ))
    }
}

/// Application Load Balancer names.
pub fn alb_name(name: &str) -> Result<(), String> {
    let ok = (1..=32).contains(&name.len())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.starts_with("internal-")
        && chars_ok(name, |c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid load balancer name: use 1-32 letters, digits and hyphens, not starting or ending with a hyphen or starting with `internal-`",
            quote(name)
        ))
    }
}

/// An ALB listener rule's path prefix. The rule matches `<prefix>` and `<prefix>/*`, and each
/// ALB path pattern is at most 128 characters of a fixed set (`*` and `?` are its wildcards).
pub fn alb_path_prefix(prefix: &str) -> Result<(), String> {
    let ok = prefix.starts_with('/')
        && prefix.trim_end_matches('/').len() <= 126
        && chars_ok(prefix, |c| {
            c.is_ascii_alphanumeric() || "_-.$/~\"'@:+&".contains(c)
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid path prefix: start with `/`, then at most 125 letters, digits and _-.$/~\"'@:+& (no wildcards or spaces)",
            quote(prefix)
        ))
    }
}

/// `arn:<partition>:<service>:<region>:<account>:<resource>` with the account as 12 digits.
fn arn_parts<'a>(arn: &'a str, service: &str) -> Option<(&'a str, &'a str)> {
    let mut parts = arn.splitn(6, ':');
    let ok = parts.next() == Some("arn")
        && parts.next().is_some_and(|p| p.starts_with("aws"))
        && parts.next() == Some(service);
    let region = parts.next()?;
    let account = parts.next()?;
    let resource = parts.next()?;
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    (ok && account_ok).then_some((region, resource))
}

/// A Lambda function ARN (optionally with a version or alias qualifier).
pub fn lambda_function_arn(arn: &str) -> Result<(), String> {
    let name_ok = |n: &str| {
        (1..=64).contains(&n.len())
            && chars_ok(n, |c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    let ok = arn_parts(arn, "lambda").is_some_and(|(region, resource)| {
        let region_ok = !region.is_empty()
            && chars_ok(region, |c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
            });
        let mut res = resource.split(':');
        let function_ok = res.next() == Some("function") && res.next().is_some_and(name_ok);
        let qualifier_ok = res.next().is_none_or(|q| q == "$LATEST" || name_ok(q));
        region_ok && function_ok && qualifier_ok && res.next().is_none()
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a Lambda function ARN: expected arn:aws:lambda:<region>:<account>:function:<name>",
            quote(arn)
        ))
    }
}

/// An IAM role ARN.
pub fn iam_role_arn(arn: &str) -> Result<(), String> {
    let ok = arn_parts(arn, "iam").is_some_and(|(region, resource)| {
        region.is_empty()
            && resource.len() > "role/".len()
            && resource.starts_with("role/")
            && !resource.contains(char::is_whitespace)
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not an IAM role ARN: expected arn:aws:iam::<account>:role/<name>",
            quote(arn)
        ))
    }
}

/// A KMS key ARN, as CloudWatch Logs takes it for `KmsKeyId`: a key, not an alias.
pub fn kms_key_arn(arn: &str) -> Result<(), String> {
    let key = arn_parts(arn, "kms").and_then(|(region, resource)| {
        let region_ok = !region.is_empty()
            && chars_ok(region, |c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
            });
        region_ok.then_some(resource)
    });
    let ok = key.and_then(|r| r.strip_prefix("key/")).is_some_and(|id| {
        (1..=128).contains(&id.len()) && chars_ok(id, |c| c.is_ascii_alphanumeric() || c == '-')
    });
    if ok {
        return Ok(());
    }
    let hint = if key.is_some_and(|r| r.starts_with("alias/")) {
        ": CloudWatch Logs takes the key's own ARN, not an alias"
    } else {
        ""
    };
    Err(format!(
        "{} is not a KMS key ARN: expected arn:aws:kms:<region>:<account>:key/<key id>{hint}",
        quote(arn)
    ))
}

/// An S3 bucket name (the general purpose bucket rules; dots allowed, no `..`).
pub fn s3_bucket_name(name: &str) -> Result<(), String> {
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok = (3..=63).contains(&name.len())
        && chars_ok(name, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'
        })
        && edge_ok(name.chars().next())
        && edge_ok(name.chars().last())
        && !name.contains("..");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not an S3 bucket name: 3-63 lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit (the name, not an ARN)",
            quote(name)
        ))
    }
}

/// A load balancer access log prefix: a key prefix without a leading or trailing `/`, and
/// without `AWSLogs`, which Elastic Load Balancing adds itself and refuses in the prefix. The
/// 512-character bound leaves room in S3's 1024-byte keys for the path ELB appends.
pub fn access_log_prefix(prefix: &str) -> Result<(), String> {
    let ok = (1..=512).contains(&prefix.len())
        && !prefix.starts_with('/')
        && !prefix.ends_with('/')
        && !prefix.contains("AWSLogs")
        && !prefix.contains(|c: char| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not an access log prefix: 1-512 characters without spaces, no leading or trailing `/`, and no `AWSLogs` (ELB adds that itself)",
            quote(prefix)
        ))
    }
}

/// HTTP header names as Service Connect's test traffic rules take them: lowercase tokens.
pub fn http_header_name(name: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&name.len())
        && chars_ok(name, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || "!#$%&'*+-.^_`|~".contains(c)
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid header name: use 1-64 lowercase letters, digits and !#$%&'*+-.^_`|~",
            quote(name)
        ))
    }
}

/// HTTP header values a test traffic rule matches exactly.
pub fn http_header_value(value: &str) -> Result<(), String> {
    if (1..=128).contains(&value.len()) && value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid header value: use 1-128 printable ASCII characters",
            quote(value)
        ))
    }
}

/// CloudWatch alarm names.
pub fn alarm_name(name: &str) -> Result<(), String> {
    if (1..=255).contains(&name.len()) && !name.contains(|c: char| c.is_control()) {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid alarm name: use 1-255 characters, no control characters",
            quote(name)
        ))
    }
}

/// The error-rate alarm's period. PutMetricAlarm accepts 10, 20, 30 and any multiple of 60, but
/// 10, 20 and 30 are for metrics stored at high resolution: on a metric that has one datapoint a
/// minute "the alarm ... does not receive data for the attempts that do not correspond to a
/// one-minute data resolution, and the alarm might often lapse into INSUFFICIENT_DATA"
/// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html>,
/// `Period`). The Service Connect metrics the alarm reads are standard resolution (published once a
/// minute), so a sub-minute period is refused: on AWS it would miss most periods.
pub fn alarm_period(seconds: u32) -> Result<(), String> {
    const USE: &str = "use a multiple of 60 up to 86400";
    if seconds.is_multiple_of(60) && (60..=86_400).contains(&seconds) {
        Ok(())
    } else if matches!(seconds, 10 | 20 | 30) {
        Err(format!(
            "a period of {seconds} s is for high-resolution metrics: the Service Connect metrics the alarm reads come once a minute, so CloudWatch would find no data in most periods ({USE})"
        ))
    } else {
        Err(format!(
            "period {seconds} s is not one CloudWatch accepts: {USE}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(result: Result<(), String>, expected: Option<&str>) {
        assert_eq!(result.err().as_deref(), expected);
    }

    #[test]
    fn fargate_sizes() {
        check(fargate_size(256, 512), None);
        check(fargate_size(4096, 30720), None);
        check(fargate_size(16384, 122_880), None);
        check(
            fargate_size(256, 4096),
            Some(
                "Fargate does not offer 4096 MiB with 256 CPU units: use 512 to 2048 MiB in steps of 512",
            ),
        );
        check(
            fargate_size(8192, 20000),
            Some(
                "Fargate does not offer 20000 MiB with 8192 CPU units: use 16384 to 61440 MiB in steps of 4096",
            ),
        );
        check(
            fargate_size(300, 512),
            Some(
                "Fargate does not offer 300 CPU units: use one of 256, 512, 1024, 2048, 4096, 8192, 16384",
            ),
        );
    }

    #[test]
    fn names() {
        check(service_connect_name("expressjs"), None);
        assert!(service_connect_name("-x").is_err());
        assert!(service_connect_name("Upper").is_err());
        assert!(service_connect_name(&"a".repeat(65)).is_err());
        check(dns_name("blue.serviceconnect"), None);
        assert!(dns_name("bad_.x").is_err());
        assert!(dns_name("-a").is_err());
        check(cloud_map_service_name("blue"), None);
        assert!(cloud_map_service_name("a.b").is_err());
        check(stack_name("serviceconnect"), None);
        assert!(stack_name("1abc").is_err());
        check(ecs_name("blue_1-x"), None);
        assert!(ecs_name("a b").is_err());
        check(ssm_parameter_name("/bluegreen/blue-green-state"), None);
        assert!(ssm_parameter_name("nostartslash").is_err());
        assert!(ssm_parameter_name("/aws/x").is_err());
        check(vpc_id("vpc-0123456789abcdef0"), None);
        assert!(vpc_id("vpc-xyz").is_err());
        check(subnet_id("subnet-12345678"), None);
        check(logical_id_source("a-b"), None);
        assert!(logical_id_source("--").is_err());
        check(env_var_name("RUST_LOG"), None);
        assert!(env_var_name("1X").is_err());
        check(path_prefix("/blue"), None);
        assert!(path_prefix("blue").is_err());
        assert!(path_prefix("/a\u{1b}[2J").is_err());
        assert!(image_uri("demo:1\u{1b}[2J").is_err());
    }

    #[test]
    fn free_text_has_no_control_characters() {
        check(version("1.2-beta+x y"), None);
        for bad in ["1\n2", "1\r", "\u{1b}[31m1", "1\t", "\u{85}", "\u{7f}"] {
            assert_eq!(
                version(bad),
                Err(format!(
                    "version {} has control characters (such as a newline or ESC): use printable text",
                    quote(bad)
                )),
                "{bad:?}"
            );
        }
        check(version(""), Some("version must be 1-128 characters"));
        check(version(&"é".repeat(64)), None);
        check(no_control("a=b c", "value"), None);
    }

    #[test]
    fn quoted_user_text_is_short_and_inert() {
        assert_eq!(quote("blue"), "`blue`");
        assert_eq!(
            quote("a\u{1b}]0;x\u{7}\nb\0"),
            "`a\\u{1b}]0;x\\u{7}\\nb\\u{0}`"
        );
        let long = "é".repeat(81);
        assert_eq!(quote(&long), format!("`{}…`", "é".repeat(80)));
        assert_eq!(quote(&long[..160]), format!("`{}`", "é".repeat(80)));
    }
}
