//! A typed CloudFormation template: parameters, resources, outputs and intrinsic functions

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::RenderError;

/// CloudFormation refuses a template with more resources than this.
pub const MAX_RESOURCES: usize = 500;
/// The largest template body CloudFormation accepts inline; larger ones must be uploaded to S3.
pub const MAX_INLINE_BODY_BYTES: usize = 51_200;

const PSEUDO_PARAMETERS: &[&str] = &[
    "AWS::AccountId",
    "AWS::NotificationARNs",
    "AWS::NoValue",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
];

/// A property value: a literal or an intrinsic function. Intrinsics are types, never strings,
/// so the renderer cannot misspell one and the reference check can see every edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Str(String),
    Int(i64),
    /// A decimal number on a 0.1 grid, held as tenths: `Tenths(333)` is the JSON number `33.3`,
    /// `Tenths(200)` is `20` (no `.0`), so a model percentage reaches the template unchanged.
    Tenths(u32),
    Bool(bool),
    List(Vec<Expr>),
    Map(BTreeMap<String, Expr>),
    /// `{"Ref": id}`: a resource, a parameter or a pseudo parameter.
    Ref(String),
    /// `{"Fn::GetAtt": [id, attribute]}`.
    GetAtt(String, String),
    /// `{"Fn::Sub": text}` with `${Name}` / `${Resource.Attr}` placeholders.
    Sub(String),
    /// `{"Fn::Join": [separator, parts]}`.
    Join(String, Vec<Expr>),
    /// `{"Fn::Select": [index, list]}`.
    Select(u32, Box<Expr>),
    /// `{"Fn::GetAZs": region}` (empty string: the stack's region).
    GetAzs(String),
}

impl Expr {
    pub fn str(s: impl Into<String>) -> Expr {
        Expr::Str(s.into())
    }

    pub fn r#ref(id: impl Into<String>) -> Expr {
        Expr::Ref(id.into())
    }

    pub fn get_att(id: impl Into<String>, attribute: &str) -> Expr {
        Expr::GetAtt(id.into(), attribute.to_owned())
    }

    pub fn sub(text: impl Into<String>) -> Expr {
        Expr::Sub(text.into())
    }

    /// Calls `f` with every logical id this expression refers to.
    fn references(&self, f: &mut impl FnMut(&str)) {
        match self {
            Expr::Str(_) | Expr::Int(_) | Expr::Tenths(_) | Expr::Bool(_) | Expr::GetAzs(_) => {}
            Expr::List(items) | Expr::Join(_, items) => items.iter().for_each(|e| e.references(f)),
            Expr::Map(map) => map.values().for_each(|e| e.references(f)),
            Expr::Ref(id) | Expr::GetAtt(id, _) => f(id),
            Expr::Select(_, list) => list.references(f),
            Expr::Sub(text) => sub_references(text).for_each(f),
        }
    }
}

/// The names a `Fn::Sub` string refers to (`${X}` or `${X.Attr}`, but not the literal `${!X}`).
fn sub_references(text: &str) -> impl Iterator<Item = &str> {
    text.split("${").skip(1).filter_map(|rest| {
        let name = &rest[..rest.find('}')?];
        if name.starts_with('!') {
            None
        } else {
            Some(name.split('.').next().unwrap_or(name))
        }
    })
}

impl From<&str> for Expr {
    fn from(s: &str) -> Expr {
        Expr::Str(s.to_owned())
    }
}

impl From<String> for Expr {
    fn from(s: String) -> Expr {
        Expr::Str(s)
    }
}

impl From<u32> for Expr {
    fn from(n: u32) -> Expr {
        Expr::Int(i64::from(n))
    }
}

impl From<model::Percent> for Expr {
    fn from(p: model::Percent) -> Expr {
        Expr::Tenths(p.tenths())
    }
}

impl From<bool> for Expr {
    fn from(b: bool) -> Expr {
        Expr::Bool(b)
    }
}

impl From<Vec<Expr>> for Expr {
    fn from(items: Vec<Expr>) -> Expr {
        Expr::List(items)
    }
}

/// Builds a map value from key/value pairs.
pub fn obj<const N: usize>(pairs: [(&str, Expr); N]) -> Expr {
    Expr::Map(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// Builds a property map from key/value pairs.
pub fn props<const N: usize>(pairs: [(&str, Expr); N]) -> BTreeMap<String, Expr> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// A list of literal strings.
pub fn strs<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Expr {
    Expr::List(
        items
            .into_iter()
            .map(|s| Expr::Str(s.as_ref().to_owned()))
            .collect(),
    )
}

impl Serialize for Expr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        fn single<S: Serializer, V: Serialize + ?Sized>(
            s: S,
            key: &str,
            value: &V,
        ) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(Some(1))?;
            map.serialize_entry(key, value)?;
            map.end()
        }
        match self {
            Expr::Str(v) => s.serialize_str(v),
            Expr::Int(v) => s.serialize_i64(*v),
            Expr::Tenths(t) if t % 10 == 0 => s.serialize_u32(t / 10),
            // The shortest text of the double nearest n/10 is the decimal itself (33.3).
            Expr::Tenths(t) => s.serialize_f64(f64::from(*t) / 10.0),
            Expr::Bool(v) => s.serialize_bool(*v),
            Expr::List(v) => v.serialize(s),
            Expr::Map(v) => v.serialize(s),
            Expr::Ref(id) => single(s, "Ref", id),
            Expr::GetAtt(id, attr) => single(s, "Fn::GetAtt", &[id, attr]),
            Expr::Sub(text) => single(s, "Fn::Sub", text),
            Expr::Join(sep, parts) => single(s, "Fn::Join", &(sep, parts)),
            Expr::Select(i, list) => single(s, "Fn::Select", &(i.to_string(), list)),
            Expr::GetAzs(region) => single(s, "Fn::GetAZs", region),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parameter {
    #[serde(rename = "Type")]
    pub kind: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_pattern: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraint_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub depends_on: BTreeSet<String>,
    /// Resource metadata; only literals belong here (CloudFormation resolves no intrinsics in it).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, Expr>,
    pub properties: BTreeMap<String, Expr>,
}

impl Resource {
    pub fn new(kind: &str, properties: BTreeMap<String, Expr>) -> Resource {
        Resource {
            kind: kind.to_owned(),
            depends_on: BTreeSet::new(),
            metadata: BTreeMap::new(),
            properties,
        }
    }

    /// Adds explicit ordering edges (for dependencies CloudFormation cannot see in properties).
    pub fn depends_on<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Resource {
        self.depends_on.extend(ids.into_iter().map(Into::into));
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Output {
    pub description: String,
    pub value: Expr,
}

/// A whole template. Maps are ordered, so the same template always serializes to the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Template {
    #[serde(rename = "AWSTemplateFormatVersion")]
    pub format_version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, Parameter>,
    pub resources: BTreeMap<String, Resource>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, Output>,
}

impl Template {
    pub fn new(description: Option<String>) -> Template {
        Template {
            format_version: "2010-09-09",
            description,
            ..Template::default()
        }
    }

    /// Adds a resource; a logical id used twice is an error naming both uses.
    pub fn add(&mut self, id: impl Into<String>, resource: Resource) -> Result<(), RenderError> {
        let id = id.into();
        if let Some(first) = self.resources.get(&id) {
            return Err(RenderError::DuplicateLogicalId {
                id,
                first: first.kind.clone(),
                second: resource.kind,
            });
        }
        self.resources.insert(id, resource);
        Ok(())
    }

    pub fn add_parameter(&mut self, id: &str, parameter: Parameter) {
        self.parameters.insert(id.to_owned(), parameter);
    }

    pub fn add_output(&mut self, id: &str, description: &str, value: Expr) {
        self.outputs.insert(
            id.to_owned(),
            Output {
                description: description.to_owned(),
                value,
            },
        );
    }

    /// Checks every `Ref`, `Fn::GetAtt`, `Fn::Sub` placeholder and `DependsOn` names something
    /// the template declares, and that CloudFormation's resource limit holds.
    pub fn check(&self) -> Result<(), RenderError> {
        if self.resources.len() > MAX_RESOURCES {
            return Err(RenderError::TooManyResources {
                count: self.resources.len(),
            });
        }
        let mut dangling = BTreeSet::new();
        let known = |id: &str| {
            self.resources.contains_key(id)
                || self.parameters.contains_key(id)
                || PSEUDO_PARAMETERS.contains(&id)
        };
        let mut visit = |owner: &str, e: &Expr| {
            e.references(&mut |id| {
                if !known(id) {
                    dangling.insert(format!("{owner} -> {id}"));
                }
            })
        };
        for (id, r) in &self.resources {
            r.properties.values().for_each(|e| visit(id, e));
        }
        for (id, o) in &self.outputs {
            visit(id, &o.value);
        }
        for (id, r) in &self.resources {
            for dep in r
                .depends_on
                .iter()
                .filter(|d| !self.resources.contains_key(*d))
            {
                dangling.insert(format!("{id} -> {dep}"));
            }
        }
        if dangling.is_empty() {
            Ok(())
        } else {
            Err(RenderError::DanglingReferences(
                dangling.into_iter().collect::<Vec<_>>().join(", "),
            ))
        }
    }

    /// The template as indented JSON, for files and review; identical for identical templates.
    pub fn to_json_pretty(&self) -> String {
        let mut out = serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| unreachable!("template serializes: {e}"));
        out.push('\n');
        out
    }

    /// The template as compact JSON, the body to send to CloudFormation.
    pub fn to_json_compact(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| unreachable!("template serializes: {e}"))
    }

    /// The template as a JSON value, the form `diff` compares.
    pub fn to_json_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|e| unreachable!("template serializes: {e}"))
    }

    /// Whether the compact body fits inline in a CloudFormation API call.
    pub fn body_limit(&self) -> BodyLimit {
        BodyLimit::of(self.to_json_compact().len())
    }
}

/// How a template body can be handed to CloudFormation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLimit {
    Inline {
        bytes: usize,
    },
    /// Over 51,200 bytes: CloudFormation only takes it from an S3 URL.
    NeedsS3Upload {
        bytes: usize,
    },
}

/// The size for messages, digits grouped: `68,930 bytes`.
impl std::fmt::Display for BodyLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (BodyLimit::Inline { bytes } | BodyLimit::NeedsS3Upload { bytes }) = *self;
        let digits = bytes.to_string();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                f.write_str(",")?;
            }
            write!(f, "{c}")?;
        }
        f.write_str(" bytes")
    }
}

impl BodyLimit {
    /// The limit for a body of `bytes` bytes.
    pub fn of(bytes: usize) -> BodyLimit {
        if bytes <= MAX_INLINE_BODY_BYTES {
            BodyLimit::Inline { bytes }
        } else {
            BodyLimit::NeedsS3Upload { bytes }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(expr: Expr, expected: &str) {
        assert_eq!(serde_json::to_string(&expr).unwrap(), expected);
    }

    #[test]
    fn intrinsics_serialize_as_cloudformation_expects() {
        check(Expr::r#ref("Vpc"), r#"{"Ref":"Vpc"}"#);
        check(
            Expr::get_att("Sg", "GroupId"),
            r#"{"Fn::GetAtt":["Sg","GroupId"]}"#,
        );
        check(
            Expr::sub("arn:${AWS::Partition}:x"),
            r#"{"Fn::Sub":"arn:${AWS::Partition}:x"}"#,
        );
        check(
            Expr::Join(",".into(), vec!["a".into(), Expr::r#ref("B")]),
            r#"{"Fn::Join":[",",["a",{"Ref":"B"}]]}"#,
        );
        check(
            Expr::Select(1, Box::new(Expr::GetAzs(String::new()))),
            r#"{"Fn::Select":["1",{"Fn::GetAZs":""}]}"#,
        );
        check(Expr::Tenths(333), "33.3");
        check(Expr::Tenths(200), "20");
        check(Expr::Tenths(3), "0.3");
        check(Expr::Tenths(1001), "100.1");
        check(
            obj([("b", 1u32.into()), ("a", true.into())]),
            r#"{"a":true,"b":1}"#,
        );
    }

    #[test]
    fn sub_placeholders_are_references() {
        let refs: Vec<&str> = sub_references("${A}-${B.Arn}-${!Literal}-${AWS::Region}").collect();
        assert_eq!(refs, ["A", "B", "AWS::Region"]);
    }

    #[test]
    fn check_reports_dangling_references_and_duplicates() {
        let mut t = Template::new(None);
        t.add(
            "A",
            Resource::new(
                "AWS::X::Y",
                props([
                    ("P", Expr::r#ref("Missing")),
                    ("Q", Expr::sub("${Gone.Arn}")),
                ]),
            ),
        )
        .unwrap();
        t.add(
            "B",
            Resource::new("AWS::X::Y", props([])).depends_on(["Nope"]),
        )
        .unwrap();
        t.add_output("O", "o", Expr::get_att("Absent", "Arn"));
        assert_eq!(
            t.check().unwrap_err().to_string(),
            "template refers to logical ids it does not declare: A -> Gone, A -> Missing, B -> Nope, O -> Absent"
        );
        let dup = t
            .add("A", Resource::new("AWS::Z::W", props([])))
            .unwrap_err();
        assert_eq!(
            dup.to_string(),
            "two resources would share the logical id `A` (AWS::X::Y and AWS::Z::W): rename one"
        );
    }

    #[test]
    fn too_many_resources_is_an_error() {
        let mut t = Template::new(None);
        for i in 0..=MAX_RESOURCES {
            t.add(format!("R{i}"), Resource::new("AWS::SNS::Topic", props([])))
                .unwrap();
        }
        assert_eq!(
            t.check().unwrap_err().to_string(),
            "template has 501 resources, more than the 500 CloudFormation allows in one stack: split the stack"
        );
    }

    #[test]
    fn body_sizes_read_grouped() {
        for (bytes, text) in [
            (0, "0 bytes"),
            (999, "999 bytes"),
            (51_200, "51,200 bytes"),
            (68_930, "68,930 bytes"),
            (1_048_576, "1,048,576 bytes"),
        ] {
            assert_eq!(BodyLimit::of(bytes).to_string(), text);
        }
        assert!(matches!(
            BodyLimit::of(MAX_INLINE_BODY_BYTES),
            BodyLimit::Inline { .. }
        ));
        assert!(matches!(
            BodyLimit::of(MAX_INLINE_BODY_BYTES + 1),
            BodyLimit::NeedsS3Upload { .. }
        ));
    }

    #[test]
    fn body_limit_says_when_s3_is_needed() {
        let mut t = Template::new(Some("x".repeat(MAX_INLINE_BODY_BYTES)));
        assert!(matches!(t.body_limit(), BodyLimit::NeedsS3Upload { .. }));
        t.description = None;
        assert!(matches!(t.body_limit(), BodyLimit::Inline { .. }));
    }
}
