//! The downstream hop: one pooled HTTP client, bounded in time and body size, whose failures map
//! to short, detail-free reasons (the seed returned the raw error object to the caller).

use std::net::SocketAddr;
use std::time::Duration;

use actix_web::http::StatusCode;
use bytes::BytesMut;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde_json::value::RawValue;

use crate::allow::is_metadata_or_link_local;
use crate::config::{Config, ProxySetting};

/// Idle keep-alive connections are dropped after this long, below the usual 60 s idle timeout of
/// Envoy and load balancers, so the pool rarely hands out a connection the peer is closing.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a downstream fetch failed, as told to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FetchError {
    /// Connecting failed (refused, unreachable, DNS failure, metadata address refused by the guard).
    Unreachable,
    /// Connect or total timeout.
    Timeout,
    /// The body was not JSON.
    NotJson,
    /// The body exceeded the configured cap.
    TooLarge,
    /// Anything else during the exchange (reset mid-body, protocol error).
    Failed,
}

impl FetchError {
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        }
    }

    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::Unreachable => "downstream unreachable",
            Self::Timeout => "downstream timed out",
            Self::NotJson => "downstream response is not json",
            Self::TooLarge => "downstream response too large",
            Self::Failed => "downstream request failed",
        }
    }
}

/// Error building the downstream client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid downstream proxy url {url:?}")]
    Proxy { url: String, source: reqwest::Error },
    #[error("cannot build the downstream http client")]
    Build(#[source] reqwest::Error),
}

/// The shared client and the limits applied to every fetch.
#[derive(Debug, Clone)]
pub(crate) struct Downstream {
    client: reqwest::Client,
    max_body_bytes: usize,
}

impl Downstream {
    pub(crate) fn new(config: &Config) -> Result<Self, ClientError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            // A redirect could point anywhere (169.254.169.254 included): never follow one.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .tcp_nodelay(true)
            .dns_resolver(GuardedResolver);
        builder = match &config.proxy {
            // reqwest reads HTTP_PROXY/ALL_PROXY/NO_PROXY itself unless told otherwise.
            ProxySetting::Environment => builder,
            ProxySetting::Disabled => builder.no_proxy(),
            ProxySetting::Url(url) => {
                let proxy = reqwest::Proxy::http(url).map_err(|source| ClientError::Proxy {
                    url: url.clone(),
                    source,
                })?;
                builder.no_proxy().proxy(proxy)
            }
        };
        Ok(Self {
            client: builder.build().map_err(ClientError::Build)?,
            max_body_bytes: config.max_body_bytes,
        })
    }

    /// GET `url` and return its body once it is known to be a single JSON value within the cap.
    /// The downstream status is not checked: like the seed, any JSON answer is passed on.
    pub(crate) async fn fetch(&self, url: &url::Url) -> Result<Box<RawValue>, FetchError> {
        let mut response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let limit = self.max_body_bytes;
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(FetchError::TooLarge);
        }
        let mut body =
            BytesMut::with_capacity(response.content_length().map_or(1024, |l| l as usize));
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e))? {
            if body.len() + chunk.len() > limit {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        // RawValue keeps the downstream JSON byte for byte (key order included) while proving it
        // is exactly one well-formed JSON value.
        let text = std::str::from_utf8(&body).map_err(|_| FetchError::NotJson)?;
        serde_json::from_str::<Box<RawValue>>(text).map_err(|_| FetchError::NotJson)
    }
}

fn classify(err: &reqwest::Error) -> FetchError {
    let kind = if err.is_timeout() {
        FetchError::Timeout
    } else if err.is_connect() {
        FetchError::Unreachable
    } else {
        FetchError::Failed
    };
    // The caller gets the short reason; the operator gets the detail in the service log.
    tracing::warn!(target: "demo_app::downstream", error = %error_chain(err), "downstream fetch failed");
    kind
}

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// Resolves names like the system resolver but drops link-local and metadata addresses, so a
/// name that resolves to 169.254.169.254 (`instance-data` in a VPC, or a hostile DNS record)
/// cannot reach the metadata service. IP literals bypass resolution; those are refused by the
/// allow-list unless listed explicitly.
#[derive(Debug, Clone, Copy)]
struct GuardedResolver;

#[derive(Debug, thiserror::Error)]
#[error("{0} resolves only to link-local or metadata addresses")]
struct MetadataOnly(String);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let total = resolved.len();
            let addrs: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|a| !is_metadata_or_link_local(a.ip()))
                .collect();
            if addrs.is_empty() && total > 0 {
                return Err(
                    Box::new(MetadataOnly(host)) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}
