//! Templates over CloudFormation's inline limit go to S3, and change sets get their URL
//!
//! The object key is the template's SHA-256, so uploading the same template again writes the
//! same object. Objects are not deleted after use: CloudFormation copies the template when it
//! creates the change set, so a deploy or diff never needs the object again, and the bucket's
//! lifecycle rule expires it after [`OBJECT_LIFETIME_DAYS`]. Deleting right away would race a
//! concurrent deploy or diff of the same template (same key). With `--template-bucket`, that
//! bucket's own lifecycle rules decide how long objects stay.

use super::client::{Aws, Failed, answer_error, aws_error, failed, remedied};
use crate::error::{Remedy, Result};
use aws_sdk_cloudformation::operation::create_change_set::builders::CreateChangeSetFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, CreateBucketConfiguration,
    ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use cfn_render::{BodyLimit, Template};
use sha2::{Digest, Sha256};

use crate::report::Reporter;

/// How long the tool's own bucket keeps an uploaded template.
pub const OBJECT_LIFETIME_DAYS: i32 = 7;

/// How a change set gets its template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    /// Sent in the request (`TemplateBody`).
    Inline(String),
    /// Uploaded to S3 (`TemplateURL`).
    Uploaded(S3Object),
}

/// A template uploaded to S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    pub bucket: String,
    pub key: String,
    pub bytes: usize,
    /// The HTTPS URL CloudFormation reads it from.
    pub url: String,
}

impl TemplateSource {
    /// Puts the template into a CreateChangeSet request.
    pub fn apply(&self, request: CreateChangeSetFluentBuilder) -> CreateChangeSetFluentBuilder {
        match self {
            TemplateSource::Inline(body) => request.template_body(body),
            TemplateSource::Uploaded(object) => request.template_url(&object.url),
        }
    }

    /// The size and the path taken, e.g. `template: 68,930 bytes, uploaded to s3://...`.
    pub fn report(&self) -> String {
        match self {
            TemplateSource::Inline(body) => describe_path(body.len(), None),
            TemplateSource::Uploaded(o) => {
                describe_path(o.bytes, Some(&format!("s3://{}/{}", o.bucket, o.key)))
            }
        }
    }
}

/// `template: 68,930 bytes, uploaded to s3://...` or `template: 3,210 bytes, sent inline`.
pub fn describe_path(bytes: usize, destination: Option<&str>) -> String {
    match destination {
        Some(uri) => format!("template: {}, uploaded to {uri}", BodyLimit::of(bytes)),
        None => format!("template: {}, sent inline", BodyLimit::of(bytes)),
    }
}

/// Sends a template under the inline limit as it is; uploads a larger one to `bucket` (or the
/// tool's own bucket, created on first use). [`TemplateSource::report`] says which.
pub async fn place(
    aws: &Aws,
    ui: &dyn Reporter,
    stack: &str,
    bucket: Option<&str>,
    template: &Template,
) -> Result<TemplateSource> {
    let body = template.to_json_compact();
    let BodyLimit::NeedsS3Upload { bytes } = template.body_limit() else {
        return Ok(TemplateSource::Inline(body));
    };
    let bucket = match bucket {
        Some(name) => name.to_string(),
        None => own_bucket(aws, ui).await?,
    };
    let key = object_key(stack, &body);
    aws.s3
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .content_type("application/json")
        .body(ByteStream::from(body.into_bytes()))
        .send()
        .await
        .map_err(|e| {
            aws_error("PutObject", &e, |why| {
                format!(
                    "cannot upload the template of {stack} ({}) to s3://{bucket}/{key}: {why}",
                    BodyLimit::of(bytes)
                )
            })
        })?;
    Ok(TemplateSource::Uploaded(S3Object {
        url: object_url(&bucket, &aws.region, &key),
        bytes,
        bucket,
        key,
    }))
}

/// `<stack>/<sha256 of the body>.json`: the same template always lands on the same key.
pub fn object_key(stack: &str, body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{stack}/{hex}.json")
}

/// The virtual-hosted-style URL of an object, the form CloudFormation documents.
pub fn object_url(bucket: &str, region: &str, key: &str) -> String {
    format!("https://{bucket}.s3.{region}.amazonaws.com/{key}")
}

/// The tool's bucket for this account and region, like `cdk bootstrap`'s.
pub fn own_bucket_name(account: &str, region: &str) -> String {
    format!("meshtest-templates-{account}-{region}")
}

/// Finds the tool's bucket, creating and locking it down on first use.
async fn own_bucket(aws: &Aws, ui: &dyn Reporter) -> Result<String> {
    let identity = aws.sts.get_caller_identity().send().await.map_err(|e| {
        aws_error("GetCallerIdentity", &e, |why| {
            format!("cannot read the AWS account id: {why}")
        })
    })?;
    let account = identity.account().ok_or_else(|| {
        answer_error(
            "GetCallerIdentity",
            "STS GetCallerIdentity returned no account id".to_owned(),
        )
    })?;
    let name = own_bucket_name(account, &aws.region);
    match aws
        .s3
        .head_bucket()
        .bucket(&name)
        .expected_bucket_owner(account)
        .send()
        .await
    {
        Ok(_) => return Ok(name),
        // HEAD has no body, so a missing bucket is told by its 404 alone.
        Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => {}
        Err(err) => {
            let err = aws_error("HeadBucket", &err, |why| {
                format!("cannot use the template bucket {name} ({why})")
            });
            let region = aws.region.clone();
            return Err(remedied(err, Remedy::OtherTemplateBucket { region }));
        }
    }
    ui.note(format!(
        "creating the template bucket {name} (public access blocked, encrypted, objects expire after {OBJECT_LIFETIME_DAYS} days)"
    ));
    create_bucket(aws, &name).await?;
    if let Err(err) = configure_bucket(aws, &name).await {
        // A bucket left without its settings would be found and used next time: remove it.
        let _ = aws.s3.delete_bucket().bucket(&name).send().await;
        return Err(err);
    }
    Ok(name)
}

async fn create_bucket(aws: &Aws, name: &str) -> Result<()> {
    let mut request = aws.s3.create_bucket().bucket(name);
    // us-east-1 is the one region that refuses an explicit location constraint.
    if aws.region != "us-east-1" {
        request = request.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(aws.region.as_str()))
                .build(),
        );
    }
    request.send().await.map_err(|e| {
        let err = aws_error("CreateBucket", &e, |why| {
            format!("cannot create the template bucket {name}: {why}")
        });
        remedied(err, Remedy::ExistingTemplateBucket)
    })?;
    Ok(())
}

async fn configure_bucket(aws: &Aws, name: &str) -> Result<()> {
    let fail = |operation: &'static str, what: &str, why: Failed| {
        why.into_error(operation, |why| {
            format!("cannot {what} on the template bucket {name}: {why}")
        })
    };
    aws.s3
        .put_public_access_block()
        .bucket(name)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(|e| fail("PutPublicAccessBlock", "block public access", failed(&e)))?;
    let encryption = ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::Aes256)
                        .build()?,
                )
                .build(),
        )
        .build()?;
    aws.s3
        .put_bucket_encryption()
        .bucket(name)
        .server_side_encryption_configuration(encryption)
        .send()
        .await
        .map_err(|e| {
            fail(
                "PutBucketEncryption",
                "turn on default encryption",
                failed(&e),
            )
        })?;
    let lifecycle = BucketLifecycleConfiguration::builder()
        .rules(
            LifecycleRule::builder()
                .id("expire-meshtest-templates")
                .status(ExpirationStatus::Enabled)
                .filter(LifecycleRuleFilter::builder().prefix("").build())
                .expiration(
                    LifecycleExpiration::builder()
                        .days(OBJECT_LIFETIME_DAYS)
                        .build(),
                )
                .build()?,
        )
        .build()?;
    aws.s3
        .put_bucket_lifecycle_configuration()
        .bucket(name)
        .lifecycle_configuration(lifecycle)
        .send()
        .await
        .map_err(|e| {
            fail(
                "PutBucketLifecycleConfiguration",
                "set the expiry rule",
                failed(&e),
            )
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_content() {
        let a = object_key("big", "{}");
        assert_eq!(
            a,
            "big/44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a.json"
        );
        assert_eq!(a, object_key("big", "{}"));
        assert_ne!(a, object_key("big", "{ }"));
    }

    #[test]
    fn url_and_bucket_name() {
        assert_eq!(
            object_url("b", "eu-west-1", "s/k.json"),
            "https://b.s3.eu-west-1.amazonaws.com/s/k.json"
        );
        assert_eq!(
            own_bucket_name("123456789012", "eu-west-1"),
            "meshtest-templates-123456789012-eu-west-1"
        );
    }
}
