//! Benchmark baseline: the least a plain actix-web service can do for the same two routes.
//!
//! No allow-list, no access log, no body cap, serialising per request: the practical upper
//! bound that `demo-app` is measured against in BENCHMARKS.md. Not for deployment.
//!
//! Usage: `cargo run --release -p demo-app --example bare -- [port]` (listens on 127.0.0.1; port
//! 0 or none: any free port). Prints `listening on port: <port>` once bound.

use actix_web::{App, HttpResponse, HttpServer, web};
use serde::Serialize;
use serde_json::value::RawValue;

#[derive(Serialize)]
struct OkBody {
    message: &'static str,
    service: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct Fetched<'a> {
    message: &'static str,
    service: &'static str,
    response: &'a RawValue,
}

async fn ok() -> HttpResponse {
    HttpResponse::Ok().json(OkBody {
        message: "ok",
        service: "bare",
        version: "1",
    })
}

async fn downstream(path: web::Path<String>, client: web::Data<reqwest::Client>) -> HttpResponse {
    let fetched = async {
        let body = client
            .get(format!("http://{path}/"))
            .send()
            .await?
            .bytes()
            .await?;
        Ok::<_, Box<dyn std::error::Error>>(body)
    };
    match fetched.await {
        Ok(body) => match serde_json::from_slice::<&RawValue>(&body) {
            Ok(raw) => HttpResponse::Ok().json(Fetched {
                message: "fetched!",
                service: "bare",
                response: raw,
            }),
            Err(_) => HttpResponse::BadGateway().finish(),
        },
        Err(_) => HttpResponse::BadGateway().finish(),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let client = web::Data::new(reqwest::Client::new());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(client.clone())
            .route("/downstream/{service}", web::get().to(downstream))
            .default_service(web::to(ok))
    })
    .bind(("127.0.0.1", port))?;
    println!("listening on port: {}", server.addrs()[0].port());
    server.run().await
}
