//! `demo-app health-check`: a container health probe that needs no curl in the image.
//!
//! It speaks just enough HTTP/1.1 over a plain socket to read the status line of `GET /`, so it
//! ignores `HTTP_PROXY` (a probe must reach this container, not a proxy) and starts in
//! microseconds.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::config::Config;
use crate::fault::HEALTH_HEADER;

/// Why the probe failed.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("cannot connect to {addr}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("request to {addr} failed")]
    Io {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("{addr} answered with a malformed status line")]
    Malformed { addr: SocketAddr },
    #[error("{addr} answered {status}, expected 200")]
    Status { addr: SocketAddr, status: u16 },
    #[error("SERVICE_PORT is 0, so there is no known port to probe")]
    NoPort,
}

/// The address the probe should use for `config`: its host, or loopback when it listens on all
/// interfaces.
pub fn probe_addr(config: &Config) -> Result<SocketAddr, HealthError> {
    if config.port == 0 {
        return Err(HealthError::NoPort);
    }
    let ip = match config.host {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Ok(SocketAddr::new(ip, config.port))
}

/// `GET /` on `addr`, marked as a health probe so `FAULT_RATE` spares it; Ok when the answer is 200 within `timeout` (per connect, write and read).
pub fn check(addr: SocketAddr, timeout: Duration) -> Result<(), HealthError> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|source| HealthError::Connect { addr, source })?;
    let io_err = |source| HealthError::Io { addr, source };
    stream.set_read_timeout(Some(timeout)).map_err(io_err)?;
    stream.set_write_timeout(Some(timeout)).map_err(io_err)?;
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: demo-app-health-check\r\n{HEALTH_HEADER}: 1\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(io_err)?;
    // "HTTP/1.1 200" is 12 bytes; read until the first line is complete or the peer closes.
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 64];
    while !head.contains(&b'\n') && head.len() < 1024 {
        let n = stream.read(&mut buf).map_err(io_err)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = std::str::from_utf8(line).map_err(|_| HealthError::Malformed { addr })?;
    let mut parts = line.split_whitespace();
    let status = match (parts.next(), parts.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/") => code
            .parse::<u16>()
            .map_err(|_| HealthError::Malformed { addr })?,
        _ => return Err(HealthError::Malformed { addr }),
    };
    if status == 200 {
        Ok(())
    } else {
        Err(HealthError::Status { addr, status })
    }
}
