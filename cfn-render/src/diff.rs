//! Template diff: what changes between two CloudFormation templates, like `cdk diff`.
//!
//! Works on `serde_json::Value`s because the old side is whatever CloudFormation holds (read back
//! with GetTemplate), not necessarily something this crate rendered. Pure: the caller fetches the
//! templates and, when a change set exists, passes its replacement verdicts in with
//! [`TemplateDiff::apply_replacements`]; this module only compares and formats.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Map, Value};

/// Whether something was added, removed or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Removed,
    Modified,
}

impl ChangeKind {
    /// The cdk-diff marker: `[+]`, `[-]` or `[~]`.
    pub fn marker(self) -> &'static str {
        match self {
            ChangeKind::Added => "[+]",
            ChangeKind::Removed => "[-]",
            ChangeKind::Modified => "[~]",
        }
    }
}

/// Whether CloudFormation will replace a resource, as a change set reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Replacement {
    /// Replaced: a new physical resource, the old one deleted.
    True,
    /// Replaced depending on values only known during the deployment.
    Conditional,
    /// Updated in place.
    False,
}

/// One changed leaf (or subtree) of a resource, parameter or output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PropertyChange {
    /// Path inside the resource's `Properties` (e.g. `ContainerDefinitions[0].Image`); other
    /// resource attributes are named in parentheses (e.g. `(DependsOn)`).
    pub path: String,
    pub kind: ChangeKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
    /// The change set says changing this property recreates the resource.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub requires_replacement: bool,
}

/// One resource that is added, removed or modified.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResourceChange {
    pub logical_id: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub kind: ChangeKind,
    /// The old type when the type itself changed (CloudFormation then replaces the resource).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_type: Option<String>,
    /// Property-level changes of a modified resource (empty for added and removed ones).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<PropertyChange>,
    /// From a change set, when one was made; `None` without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<Replacement>,
}

/// A parameter or output that is added, removed or modified, with its whole old and new value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntryChange {
    pub name: String,
    pub kind: ChangeKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

/// An IAM policy statement that appears or disappears.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct IamStatementChange {
    pub kind: ChangeKind,
    /// The role or policy resource holding the statement.
    pub resource: String,
    /// Which document: `AssumeRolePolicyDocument`, `Policies[<name>]` or `PolicyDocument`.
    pub document: String,
    pub effect: String,
    pub actions: String,
    pub resources: String,
    pub principal: String,
}

/// A security group rule that appears or disappears.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SecurityGroupRuleChange {
    pub kind: ChangeKind,
    /// The resource declaring the rule (a rule resource or the group with inline rules).
    pub resource: String,
    /// `ingress` or `egress`.
    pub direction: String,
    /// The group the rule belongs to.
    pub group: String,
    pub protocol: String,
    pub ports: String,
    /// Source (ingress) or destination (egress): a CIDR, a group or a prefix list.
    pub peer: String,
}

/// Changes that widen or narrow access: reviewed on their own, like cdk's security section.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SecurityChanges {
    pub iam_statements: Vec<IamStatementChange>,
    pub security_group_rules: Vec<SecurityGroupRuleChange>,
}

impl SecurityChanges {
    pub fn is_empty(&self) -> bool {
        self.iam_statements.is_empty() && self.security_group_rules.is_empty()
    }
}

/// Everything that differs between two templates.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TemplateDiff {
    pub security: SecurityChanges,
    pub parameters: Vec<EntryChange>,
    pub resources: Vec<ResourceChange>,
    pub outputs: Vec<EntryChange>,
    /// Description or format version changes, and other top-level sections.
    pub other: Vec<EntryChange>,
}

/// A change set's verdict on one resource, as read from DescribeChangeSet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplacementMark {
    pub logical_id: String,
    pub replacement: Replacement,
    /// Property names (top-level, as CloudFormation reports them) whose change recreates it.
    pub recreating_properties: BTreeSet<String>,
}

impl TemplateDiff {
    /// Compares two whole templates. An absent stack is `Value::Null` (or `{}`): everything
    /// in `new` is then added.
    pub fn between(old: &Value, new: &Value) -> TemplateDiff {
        let empty = Map::new();
        let old = old.as_object().unwrap_or(&empty);
        let new = new.as_object().unwrap_or(&empty);
        let section = |t: &'_ Map<String, Value>, name: &str| -> Map<String, Value> {
            t.get(name)
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        let mut resources =
            resource_changes(&section(old, "Resources"), &section(new, "Resources"));
        drop_ecs_owned_weights(&mut resources, &section(new, "Resources"));
        let mut diff = TemplateDiff {
            parameters: entry_changes(&section(old, "Parameters"), &section(new, "Parameters")),
            outputs: entry_changes(&section(old, "Outputs"), &section(new, "Outputs")),
            resources,
            ..TemplateDiff::default()
        };
        // The format version is the same in every template; showing it as added is noise.
        let known = [
            "Parameters",
            "Outputs",
            "Resources",
            "AWSTemplateFormatVersion",
        ];
        let others = |t: &Map<String, Value>| -> Map<String, Value> {
            t.iter()
                .filter(|(k, _)| !known.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        diff.other = entry_changes(&others(old), &others(new));
        diff.security = SecurityChanges {
            iam_statements: set_changes(
                iam_statements(&section(old, "Resources")),
                iam_statements(&section(new, "Resources")),
                |s, kind| IamStatementChange { kind, ..s },
            ),
            security_group_rules: set_changes(
                security_group_rules(&section(old, "Resources")),
                security_group_rules(&section(new, "Resources")),
                |r, kind| SecurityGroupRuleChange { kind, ..r },
            ),
        };
        diff
    }

    /// Whether the templates are the same.
    pub fn is_empty(&self) -> bool {
        self.security.is_empty()
            && self.parameters.is_empty()
            && self.resources.is_empty()
            && self.outputs.is_empty()
            && self.other.is_empty()
    }

    /// Marks resources (and their properties) that the change set says will be replaced.
    pub fn apply_replacements(&mut self, marks: &[ReplacementMark]) {
        for mark in marks {
            let Some(resource) = self
                .resources
                .iter_mut()
                .find(|r| r.logical_id == mark.logical_id)
            else {
                continue;
            };
            resource.replacement = Some(mark.replacement);
            for property in &mut resource.properties {
                let top = property
                    .path
                    .split(['.', '['])
                    .next()
                    .unwrap_or(&property.path);
                if mark.recreating_properties.contains(top) {
                    property.requires_replacement = true;
                }
            }
        }
    }

    /// The diff as cdk-diff-like text; `"no differences\n"` when there are none.
    pub fn to_text(&self) -> String {
        if self.is_empty() {
            return "no differences\n".to_string();
        }
        let mut out = String::new();
        if !self.security.is_empty() {
            out.push_str("Security changes\n");
            if !self.security.iam_statements.is_empty() {
                out.push_str("IAM statements\n");
                for s in &self.security.iam_statements {
                    let _ = writeln!(
                        out,
                        "{} {} {}: {} {} on {}{}",
                        s.kind.marker(),
                        s.resource,
                        s.document,
                        s.effect,
                        s.actions,
                        s.resources,
                        if s.principal.is_empty() {
                            String::new()
                        } else {
                            format!(" for {}", s.principal)
                        }
                    );
                }
            }
            if !self.security.security_group_rules.is_empty() {
                out.push_str("Security group rules\n");
                for r in &self.security.security_group_rules {
                    let (towards, peer_word) = if r.direction == "egress" {
                        ("from", "to")
                    } else {
                        ("to", "from")
                    };
                    let _ = writeln!(
                        out,
                        "{} {} {} {towards} {} {} {} {peer_word} {}",
                        r.kind.marker(),
                        r.resource,
                        r.direction,
                        r.group,
                        r.protocol,
                        r.ports,
                        r.peer
                    );
                }
            }
            out.push('\n');
        }
        write_entries(&mut out, "Template", "", &self.other);
        write_entries(&mut out, "Parameters", "Parameter ", &self.parameters);
        if !self.resources.is_empty() {
            out.push_str("Resources\n");
            for r in &self.resources {
                let replace = match r.replacement {
                    Some(Replacement::True) => " replace",
                    Some(Replacement::Conditional) => " may be replaced",
                    _ => "",
                };
                let _ = writeln!(
                    out,
                    "{} {} {}{replace}",
                    r.kind.marker(),
                    r.resource_type,
                    r.logical_id
                );
                if let Some(old_type) = &r.old_type {
                    let _ = writeln!(
                        out,
                        " └─ [~] Type\n     ├─ [-] {old_type}\n     └─ [+] {}",
                        r.resource_type
                    );
                }
                let count = r.properties.len();
                for (i, p) in r.properties.iter().enumerate() {
                    let (branch, rail) = if i + 1 == count {
                        (" └─", "    ")
                    } else {
                        (" ├─", " │  ")
                    };
                    let recreate = if p.requires_replacement {
                        " (requires replacement)"
                    } else {
                        ""
                    };
                    let _ = writeln!(out, "{branch} {} {}{recreate}", p.kind.marker(), p.path);
                    write_old_new(&mut out, rail, p.old.as_ref(), p.new.as_ref());
                }
            }
            out.push('\n');
        }
        write_entries(&mut out, "Outputs", "Output ", &self.outputs);
        while out.ends_with("\n\n") {
            out.pop();
        }
        out
    }
}

fn write_entries(out: &mut String, title: &str, label: &str, entries: &[EntryChange]) {
    if entries.is_empty() {
        return;
    }
    let _ = writeln!(out, "{title}");
    for e in entries {
        let _ = writeln!(out, "{} {label}{}", e.kind.marker(), e.name);
        write_old_new(out, "", e.old.as_ref(), e.new.as_ref());
    }
    out.push('\n');
}

fn write_old_new(out: &mut String, rail: &str, old: Option<&Value>, new: Option<&Value>) {
    match (old, new) {
        (Some(old), Some(new)) => {
            let _ = writeln!(out, "{rail} ├─ [-] {}", compact(old));
            let _ = writeln!(out, "{rail} └─ [+] {}", compact(new));
        }
        (Some(old), None) => {
            let _ = writeln!(out, "{rail} └─ [-] {}", compact(old));
        }
        (None, Some(new)) => {
            let _ = writeln!(out, "{rail} └─ [+] {}", compact(new));
        }
        (None, None) => {}
    }
}

/// Compact JSON with sorted keys, the way values appear on one diff line. Keys are sorted here
/// because serde_json keeps insertion order when any crate in the build enables its
/// `preserve_order` feature, and the text must not depend on what else is compiled.
fn compact(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&map[k])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string(&sorted(value))
        .unwrap_or_else(|e| unreachable!("a JSON value serializes: {e}"))
}

fn entry_changes(old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<EntryChange> {
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let (o, n) = (old.get(name), new.get(name));
            let kind = match (o, n) {
                (None, Some(_)) => ChangeKind::Added,
                (Some(_), None) => ChangeKind::Removed,
                (Some(o), Some(n)) if o != n => ChangeKind::Modified,
                _ => return None,
            };
            Some(EntryChange {
                name: name.clone(),
                kind,
                old: o.cloned(),
                new: n.cloned(),
            })
        })
        .collect()
}

fn resource_changes(old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<ResourceChange> {
    let ids: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let type_of = |r: &Value| {
        r.get("Type")
            .and_then(Value::as_str)
            .unwrap_or("(no type)")
            .to_string()
    };
    let mut changes = Vec::new();
    for id in ids {
        let change = match (old.get(id), new.get(id)) {
            (None, Some(n)) => ResourceChange {
                logical_id: id.clone(),
                resource_type: type_of(n),
                kind: ChangeKind::Added,
                old_type: None,
                properties: Vec::new(),
                replacement: None,
            },
            (Some(o), None) => ResourceChange {
                logical_id: id.clone(),
                resource_type: type_of(o),
                kind: ChangeKind::Removed,
                old_type: None,
                properties: Vec::new(),
                replacement: None,
            },
            (Some(o), Some(n)) if o != n => {
                let (old_type, new_type) = (type_of(o), type_of(n));
                let mut properties = Vec::new();
                let without_type = |r: &Value| -> Value {
                    let mut r = r.as_object().cloned().unwrap_or_default();
                    r.remove("Type");
                    let props = r.remove("Properties");
                    // Properties are what people read; other attributes keep their own name.
                    let mut flat: Map<String, Value> = props
                        .and_then(|p| p.as_object().cloned())
                        .unwrap_or_default();
                    for (k, v) in r {
                        flat.insert(format!("({k})"), v);
                    }
                    Value::Object(flat)
                };
                leaf_changes("", &without_type(o), &without_type(n), &mut properties);
                ResourceChange {
                    logical_id: id.clone(),
                    old_type: (old_type != new_type).then_some(old_type),
                    resource_type: new_type,
                    kind: ChangeKind::Modified,
                    properties,
                    replacement: None,
                }
            }
            _ => continue,
        };
        changes.push(change);
    }
    changes
}

/// Leaves out the forward weights of the listener rules ECS owns: a rule an ECS service names
/// as its `ProductionListenerRule` or `TestListenerRule` has its weights moved by ECS during
/// every deployment (and left on the target group that won), so a difference there is ECS's
/// doing, not the template's; reporting it would invite resetting live traffic (README "What
/// CloudFormation does with the weights ECS moves"). A rule whose other properties change is
/// still reported, those properties only.
fn drop_ecs_owned_weights(changes: &mut Vec<ResourceChange>, new: &Map<String, Value>) {
    let owned: BTreeSet<&str> = new
        .values()
        .filter(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::ECS::Service"))
        .filter_map(|r| {
            r.pointer("/Properties/LoadBalancers")
                .and_then(Value::as_array)
        })
        .flatten()
        .filter_map(|lb| lb.get("AdvancedConfiguration"))
        .flat_map(|ac| ["ProductionListenerRule", "TestListenerRule"].map(|k| ac.get(k)))
        .flatten()
        .filter_map(|rule| rule.get("Ref").and_then(Value::as_str))
        .collect();
    let is_weight = |path: &str| {
        path.starts_with("Actions[")
            && path.contains("].ForwardConfig.TargetGroups[")
            && path.ends_with("].Weight")
    };
    for change in changes.iter_mut() {
        if change.kind == ChangeKind::Modified && owned.contains(change.logical_id.as_str()) {
            change.properties.retain(|p| !is_weight(&p.path));
        }
    }
    changes.retain(|c| {
        c.kind != ChangeKind::Modified || !c.properties.is_empty() || c.old_type.is_some()
    });
}

/// Walks two values in step and records the smallest subtrees that differ: map keys one by one,
/// lists element by element when their lengths match, everything else as a whole.
fn leaf_changes(path: &str, old: &Value, new: &Value, out: &mut Vec<PropertyChange>) {
    if old == new {
        return;
    }
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (old, new) {
        (Value::Object(o), Value::Object(n)) if !is_intrinsic(o) && !is_intrinsic(n) => {
            let keys: BTreeSet<&String> = o.keys().chain(n.keys()).collect();
            for key in keys {
                match (o.get(key), n.get(key)) {
                    (Some(ov), Some(nv)) => leaf_changes(&join(key), ov, nv, out),
                    (ov, nv) => out.push(PropertyChange {
                        path: join(key),
                        kind: if ov.is_none() {
                            ChangeKind::Added
                        } else {
                            ChangeKind::Removed
                        },
                        old: ov.cloned(),
                        new: nv.cloned(),
                        requires_replacement: false,
                    }),
                }
            }
        }
        (Value::Array(o), Value::Array(n)) if o.len() == n.len() => {
            for (i, (ov, nv)) in o.iter().zip(n).enumerate() {
                leaf_changes(&format!("{path}[{i}]"), ov, nv, out);
            }
        }
        _ => out.push(PropertyChange {
            path: path.to_string(),
            kind: ChangeKind::Modified,
            old: Some(old.clone()),
            new: Some(new.clone()),
            requires_replacement: false,
        }),
    }
}

/// `{"Ref": ..}`, `{"Fn::...": ..}`: shown whole, never split into keys.
fn is_intrinsic(map: &Map<String, Value>) -> bool {
    map.len() == 1
        && map
            .keys()
            .next()
            .is_some_and(|k| k == "Ref" || k.starts_with("Fn::") || k == "Condition")
}

/// Items only in `old` (removed) and only in `new` (added), sorted.
fn set_changes<T: Ord + Clone>(
    old: BTreeSet<T>,
    new: BTreeSet<T>,
    with_kind: impl Fn(T, ChangeKind) -> T,
) -> Vec<T> {
    let mut out: Vec<T> = old
        .difference(&new)
        .cloned()
        .map(|t| with_kind(t, ChangeKind::Removed))
        .chain(
            new.difference(&old)
                .cloned()
                .map(|t| with_kind(t, ChangeKind::Added)),
        )
        .collect();
    out.sort();
    out
}

/// A value as it reads in a security line: `${Id}` for a `Ref`, `${Id.Attr}` for a `GetAtt`,
/// the text of a `Fn::Sub`, comma-joined lists, compact JSON for anything else.
fn readable(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(readable).collect::<Vec<_>>().join(", "),
        Value::Object(map) if map.len() == 1 => {
            let (key, inner) = map.iter().next().unwrap_or_else(|| unreachable!());
            match (key.as_str(), inner) {
                ("Ref", Value::String(id)) => format!("${{{id}}}"),
                ("Fn::GetAtt", Value::Array(parts)) if parts.len() == 2 => {
                    format!("${{{}.{}}}", readable(&parts[0]), readable(&parts[1]))
                }
                ("Fn::Sub", Value::String(text)) => text.clone(),
                _ => compact(value),
            }
        }
        other => compact(other),
    }
}

fn iam_statements(resources: &Map<String, Value>) -> BTreeSet<IamStatementChange> {
    let mut out = BTreeSet::new();
    for (id, r) in resources {
        let kind = r.get("Type").and_then(Value::as_str).unwrap_or_default();
        let props = r.get("Properties").cloned().unwrap_or(Value::Null);
        let mut documents: Vec<(String, &Value)> = Vec::new();
        match kind {
            "AWS::IAM::Role" => {
                if let Some(doc) = props.get("AssumeRolePolicyDocument") {
                    documents.push(("AssumeRolePolicyDocument".into(), doc));
                }
                for policy in props
                    .get("Policies")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(doc) = policy.get("PolicyDocument") {
                        let name = policy.get("PolicyName").map(readable).unwrap_or_default();
                        documents.push((format!("Policies[{name}]"), doc));
                    }
                }
            }
            "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" | "AWS::IAM::RolePolicy" => {
                if let Some(doc) = props.get("PolicyDocument") {
                    documents.push(("PolicyDocument".into(), doc));
                }
            }
            _ => {}
        }
        for (document, doc) in documents {
            let statements = match doc.get("Statement") {
                Some(Value::Array(list)) => list.clone(),
                Some(single) => vec![single.clone()],
                None => Vec::new(),
            };
            for s in statements {
                out.insert(IamStatementChange {
                    kind: ChangeKind::Added,
                    resource: id.clone(),
                    document: document.clone(),
                    effect: s.get("Effect").map(readable).unwrap_or_default(),
                    actions: prefixed(&s, "Action"),
                    resources: {
                        let r = prefixed(&s, "Resource");
                        if r.is_empty() { "*".into() } else { r }
                    },
                    principal: prefixed(&s, "Principal"),
                });
            }
        }
    }
    out
}

/// A statement field, or its `Not` form marked as such (e.g. `NotAction`).
fn prefixed(statement: &Value, field: &str) -> String {
    if let Some(v) = statement.get(field) {
        return readable(v);
    }
    statement
        .get(format!("Not{field}"))
        .map(|v| format!("not {}", readable(v)))
        .unwrap_or_default()
}

fn security_group_rules(resources: &Map<String, Value>) -> BTreeSet<SecurityGroupRuleChange> {
    let mut out = BTreeSet::new();
    let rule = |resource: &str, direction: &str, group: String, r: &Value| {
        let protocol = match r.get("IpProtocol").map(readable).as_deref() {
            Some("-1") => "all".to_string(),
            Some(p) => p.to_string(),
            None => "?".to_string(),
        };
        let from = r.get("FromPort").map(readable);
        let to = r.get("ToPort").map(readable);
        let ports = match (from, to) {
            (Some(f), Some(t)) if f == t => f,
            (Some(f), Some(t)) if f == "-1" || (f == "0" && t == "65535") => "all".to_string(),
            (Some(f), Some(t)) => format!("{f}-{t}"),
            _ => "all".to_string(),
        };
        let peer_keys: &[&str] = if direction == "egress" {
            &[
                "CidrIp",
                "CidrIpv6",
                "DestinationSecurityGroupId",
                "DestinationPrefixListId",
            ]
        } else {
            &[
                "CidrIp",
                "CidrIpv6",
                "SourceSecurityGroupId",
                "SourceSecurityGroupName",
                "SourcePrefixListId",
            ]
        };
        let peer = peer_keys
            .iter()
            .find_map(|k| r.get(*k).map(readable))
            .unwrap_or_else(|| "?".to_string());
        SecurityGroupRuleChange {
            kind: ChangeKind::Added,
            resource: resource.to_string(),
            direction: direction.to_string(),
            group,
            protocol,
            ports,
            peer,
        }
    };
    for (id, r) in resources {
        let kind = r.get("Type").and_then(Value::as_str).unwrap_or_default();
        let props = r.get("Properties").cloned().unwrap_or(Value::Null);
        let group_of = |p: &Value| {
            p.get("GroupId")
                .or_else(|| p.get("GroupName"))
                .map(readable)
                .unwrap_or_else(|| "?".to_string())
        };
        match kind {
            "AWS::EC2::SecurityGroupIngress" => {
                out.insert(rule(id, "ingress", group_of(&props), &props));
            }
            "AWS::EC2::SecurityGroupEgress" => {
                out.insert(rule(id, "egress", group_of(&props), &props));
            }
            "AWS::EC2::SecurityGroup" => {
                for (key, direction) in [
                    ("SecurityGroupIngress", "ingress"),
                    ("SecurityGroupEgress", "egress"),
                ] {
                    for inline in props
                        .get(key)
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        out.insert(rule(id, direction, format!("${{{id}}}"), inline));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests;
