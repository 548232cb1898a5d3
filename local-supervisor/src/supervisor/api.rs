//! The control API server (see [`local_runtime::control`] for the requests and answers).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::Supervisor;
use local_runtime::control::{ApplyRequest, ErrorBody, RolloutCommand, Traffic};

/// A stack description is a few kilobytes; anything near this is not one.
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

fn json(status: StatusCode, value: &impl Serialize) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(value).expect("control answers always serialise");
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error(status: StatusCode, message: impl Into<String>) -> Response<Full<Bytes>> {
    json(
        status,
        &ErrorBody {
            error: message.into(),
        },
    )
}

async fn handle(
    supervisor: Arc<Supervisor>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let expected = format!("Bearer {}", supervisor.token());
    let authorised = request
        .headers()
        .get(AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    if !authorised {
        return Ok(error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong control token (see runtime.json)",
        ));
    }
    let response = match (request.method(), request.uri().path()) {
        (&Method::GET, "/status") => json(StatusCode::OK, &*supervisor.status()),
        (&Method::GET, "/traffic") => match supervisor.plane.traffic().await {
            Ok(services) => json(StatusCode::OK, &Traffic { services }),
            Err(err) => error(
                StatusCode::BAD_GATEWAY,
                format!("cannot read the data plane's answer counts: {err}"),
            ),
        },
        (&Method::POST, "/shutdown") => {
            supervisor.request_shutdown();
            json(StatusCode::ACCEPTED, &serde_json::json!({}))
        }
        (&Method::POST, "/rollout/continue") => {
            rollout(&supervisor, RolloutCommand::Continue).await
        }
        (&Method::POST, "/rollout/rollback") => {
            rollout(&supervisor, RolloutCommand::Rollback).await
        }
        (&Method::POST, "/apply") => {
            let body = match Limited::new(request.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
            {
                Ok(body) => body.to_bytes(),
                Err(_) => {
                    return Ok(error(
                        StatusCode::BAD_REQUEST,
                        "cannot read the apply request",
                    ));
                }
            };
            let apply: ApplyRequest = match serde_json::from_slice(&body) {
                Ok(apply) => apply,
                Err(err) => {
                    return Ok(error(
                        StatusCode::BAD_REQUEST,
                        format!("the apply request is not valid: {err}"),
                    ));
                }
            };
            // On its own task: a client that gives up must not cancel an apply half-way.
            let applying = Arc::clone(&supervisor);
            let outcome = tokio::spawn(async move {
                let outcome = applying.apply(apply).await;
                // The caller's next `GET /status` must show what it just applied.
                applying.applied_status().await;
                outcome
            })
            .await;
            match outcome {
                Err(join) => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("the apply failed unexpectedly: {join}"),
                ),
                Ok(Ok(done)) => json(StatusCode::OK, &done),
                Ok(Err(err)) => {
                    tracing::error!(error = %err, "apply failed");
                    let status = StatusCode::from_u16(err.status())
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    error(status, err.to_string())
                }
            }
        }
        _ => error(StatusCode::NOT_FOUND, "no such control request"),
    };
    Ok(response)
}

async fn rollout(supervisor: &Arc<Supervisor>, command: RolloutCommand) -> Response<Full<Bytes>> {
    match supervisor.rollout_command(command).await {
        Ok(()) => json(StatusCode::OK, &*supervisor.applied_status().await),
        Err(err) => {
            let status =
                StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error(status, err.to_string())
        }
    }
}

/// Serves the control API on `listener` until aborted.
pub(crate) fn serve(listener: TcpListener, supervisor: Arc<Supervisor>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            };
            let supervisor = Arc::clone(&supervisor);
            tokio::spawn(async move {
                let service = service_fn(move |request| handle(Arc::clone(&supervisor), request));
                if let Err(err) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(error = %err, "control connection ended with an error");
                }
            });
        }
    })
}
