//! The downstream hop: pooled HTTP clients, bounded in time and body size, whose failures map
//! to short, detail-free reasons (the seed returned the raw error object to the caller).
//!
//! A target goes either through the configured HTTP proxy (the platform hop: the local runtime's
//! egress proxy maps mesh names, so it resolves them, not this service) or straight to the
//! target, through [`GuardedResolver`]. The route is decided here, with the same matcher reqwest
//! uses for `HTTP_PROXY`/`NO_PROXY`, so the direct client never has a proxy to fall back on and
//! the proxied client never connects anywhere but the proxy.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use bytes::BytesMut;
use hyper_util::client::proxy::matcher::Matcher;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::value::RawValue;

use crate::config::{Config, ProxySetting};
use crate::guard::{DestinationRefused, GuardedResolver};

/// Idle keep-alive connections are dropped after this long, below the usual 60 s idle timeout of
/// Envoy and load balancers, so the pool rarely hands out a connection the peer is closing.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The one reason every refused target gets, whether refused by name or by address.
pub(crate) const NOT_ALLOWED: &str = "downstream target not allowed";

/// Why a downstream fetch failed, as told to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FetchError {
    /// The name resolved to an address the guard refuses; answered like a name the allow-list
    /// refuses.
    Refused,
    /// Connecting failed (refused, unreachable, DNS failure).
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
            Self::Refused => StatusCode::FORBIDDEN,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::BAD_GATEWAY,
        }
    }

    pub(crate) fn reason(self) -> &'static str {
        match self {
            Self::Refused => NOT_ALLOWED,
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
    #[error("downstream proxy url {url:?} is not an http proxy this service can use")]
    ProxyUnusable { url: String },
    #[error("cannot build the downstream http client")]
    Build(#[source] reqwest::Error),
}

/// The clients and the limits applied to every fetch.
#[derive(Debug)]
pub(crate) struct Downstream {
    /// No proxy; names resolve through the guard.
    direct: reqwest::Client,
    /// The proxy and the client that always goes through it, when one is configured.
    proxied: Option<(Arc<Matcher>, reqwest::Client)>,
    max_body_bytes: usize,
}

impl Downstream {
    pub(crate) fn new(config: &Config) -> Result<Self, ClientError> {
        let base = || {
            reqwest::Client::builder()
                .connect_timeout(config.connect_timeout)
                .timeout(config.timeout)
                // A redirect could point anywhere (169.254.169.254 included): never follow one.
                .redirect(reqwest::redirect::Policy::none())
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .tcp_nodelay(true)
        };
        let direct = base()
            .no_proxy()
            .dns_resolver(GuardedResolver {
                inner: config.resolver.clone(),
                allow: config.allow.clone(),
            })
            .build()
            .map_err(ClientError::Build)?;
        let matcher = match &config.proxy {
            ProxySetting::Disabled => None,
            // The same reading of HTTP_PROXY/ALL_PROXY/NO_PROXY as reqwest's own.
            ProxySetting::Environment => Some(Matcher::from_env()),
            ProxySetting::Url(url) => {
                // reqwest's parser is the one that reports a bad URL clearly.
                reqwest::Proxy::http(url).map_err(|source| ClientError::Proxy {
                    url: url.clone(),
                    source,
                })?;
                let matcher = Matcher::builder().http(url.as_str()).build();
                let probe = url::Url::parse("http://downstream.invalid/").expect("a valid url");
                if proxy_uri(&matcher, &probe).is_none() {
                    // Never quietly go direct when a proxy was asked for.
                    return Err(ClientError::ProxyUnusable { url: url.clone() });
                }
                Some(matcher)
            }
        };
        let proxied = match matcher {
            Some(matcher) => {
                let matcher = Arc::new(matcher);
                let client = base()
                    .proxy(proxy_through(matcher.clone()))
                    .build()
                    .map_err(ClientError::Build)?;
                Some((matcher, client))
            }
            None => None,
        };
        Ok(Self {
            direct,
            proxied,
            max_body_bytes: config.max_body_bytes,
        })
    }

    /// The client for `url`: the proxied one when the proxy settings cover it.
    fn client_for(&self, url: &url::Url) -> &reqwest::Client {
        match &self.proxied {
            Some((matcher, client)) if proxy_uri(matcher, url).is_some() => client,
            _ => &self.direct,
        }
    }

    /// GET `url` with `headers` and return its body once it is known to be a single JSON value
    /// within the cap. The downstream status is not checked: like the seed, any JSON answer is passed on.
    pub(crate) async fn fetch(
        &self,
        url: &url::Url,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<Box<RawValue>, FetchError> {
        let mut request = self.client_for(url).get(url.clone());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let mut response = request.send().await.map_err(|e| classify(&e))?;
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

/// The proxy `matcher` sends `url` to, if any.
fn proxy_uri(matcher: &Matcher, url: &url::Url) -> Option<String> {
    let uri: http::Uri = url.as_str().parse().ok()?;
    matcher.intercept(&uri).map(|i| i.uri().to_string())
}

/// A reqwest proxy that asks `matcher` for every URL. The client carrying it is only handed URLs
/// the same matcher intercepts ([`Downstream::client_for`]), and interception is a pure function
/// of the matcher and the URL, so this client never connects anywhere but the proxy.
fn proxy_through(matcher: Arc<Matcher>) -> reqwest::Proxy {
    reqwest::Proxy::custom(move |url| proxy_uri(&matcher, url))
}

fn classify(err: &reqwest::Error) -> FetchError {
    if has_source::<DestinationRefused>(err) {
        tracing::warn!(target: "demo_app::downstream", error = %model::error_chain(err), "downstream target not allowed");
        return FetchError::Refused;
    }
    let kind = if err.is_timeout() {
        FetchError::Timeout
    } else if err.is_connect() {
        FetchError::Unreachable
    } else {
        FetchError::Failed
    };
    // The caller gets the short reason; the operator gets the detail in the service log.
    tracing::warn!(target: "demo_app::downstream", error = %model::error_chain(err), "downstream fetch failed");
    kind
}

/// Whether `E` is somewhere in `err`'s source chain.
fn has_source<E: std::error::Error + 'static>(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<E>() {
            return true;
        }
        current = e.source();
    }
    false
}
