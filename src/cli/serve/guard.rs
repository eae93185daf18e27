//! The check every request passes first: no other site's page, no other host name on loopback,
//! no declared body over the limit.

use super::reply::ApiError;
use super::{MAX_BODY, Shared};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;

/// True for `localhost`, `127.x.y.z` and `[::1]`, with or without a port.
pub(super) fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Refuses requests from other sites: on loopback the Host must be a loopback name (a page
/// elsewhere cannot reach this server through DNS rebinding), and a POST from a browser must
/// come from this page's own origin.
pub(super) async fn guard(
    State(app): State<Shared>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if app.loopback && !loopback_host(host) {
        return ApiError {
            status: StatusCode::FORBIDDEN,
            message: format!("host {host:?} is not this machine's loopback address"),
        }
        .into_response();
    }
    // A declared length over the limit is refused before any of the body is read.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok());
    if declared.is_some_and(|v| {
        v.trim()
            .parse::<u128>()
            .map_or(true, |n| n > MAX_BODY as u128)
    }) {
        return ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("the request body is larger than {MAX_BODY} bytes"),
        }
        .into_response();
    }
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    if request.method() != Method::GET
        && request.method() != Method::HEAD
        && let Some(origin) = origin
        && origin
            .split_once("://")
            .is_none_or(|(_, rest)| rest != host)
    {
        return ApiError {
            status: StatusCode::FORBIDDEN,
            message: format!("requests from {origin} are not accepted"),
        }
        .into_response();
    }
    next.run(request).await
}
