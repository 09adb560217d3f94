//! The OpenAPI document of a service, as generated clients and schemathesis read it: plain type
//! names, a description, the gateway as a server, real security schemes (so `/docs` has an
//! Authorize button) with the 401/403 of the hoops that enforce them, and no 413/415 on
//! operations that read no body.

use std::collections::BTreeSet;
use std::sync::Once;

use salvo::Router;
use salvo::http::StatusCode;
use salvo::oapi::naming::{self, FlexNamer};
use salvo::oapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use salvo::oapi::{Info, OpenApi, Operation, RouterExt, SecurityRequirement, Server};

use crate::headers::SERVICE_TOKEN_HEADER;
use crate::problem::register_problem_responses;
use shop_config::ServiceInfo;

/// Security scheme of a user's access token (`Authorization: Bearer <JWT>`).
pub const BEARER: &str = "bearer";
/// Security scheme of the deployment's service credential (`X-Service-Token`).
pub const SERVICE_TOKEN: &str = "service_token";
/// Where clients reach every service: the gateway, HTTPS only, on 8443 as compose and Nomad
/// deploy it and on 8080 in the local cluster (`cargo xtask cluster`).
pub const GATEWAY_URLS: [(&str, &str); 2] = [
    ("https://localhost:8443", "the gateway (compose, Nomad)"),
    (
        "https://127.0.0.1:8080",
        "the gateway of `cargo xtask cluster`",
    ),
];

/// Declares that the routes below `router` need `scheme` (one of the constants above). The
/// hoop that enforces it is attached by the caller next to this, as the service credential's
/// [`RequireServiceToken`](crate::service_auth::RequireServiceToken) is.
pub fn requires(router: Router, scheme: &str) -> Router {
    router.oapi_security(SecurityRequirement::new(scheme, Vec::<String>::new()))
}

/// The document of `router`'s endpoints.
pub fn document(info: ServiceInfo, router: &Router) -> OpenApi {
    // Type names, not module paths: `Order`, not `order_service.routes.Order`. The namer is
    // process-wide (several services share a test process), so it is set once.
    static NAMER: Once = Once::new();
    NAMER.call_once(|| naming::set_namer(FlexNamer::new().short_mode(true)));

    let mut document =
        OpenApi::with_info(Info::new(info.name, info.version).description(info.description));
    for (url, description) in GATEWAY_URLS {
        document = document.add_server(Server::new(url).description(description));
    }
    let mut document = document
        .add_server(Server::new("/").description("this instance"))
        .merge_router(router);
    let mut used = BTreeSet::new();
    let mut components = std::mem::take(&mut document.components);
    for item in document.paths.values_mut() {
        for operation in item.operations.values_mut() {
            let names = security_names(operation);
            // The guard hoops answer these themselves, whatever the endpoint's error type.
            let mut statuses = Vec::new();
            if !names.is_empty() {
                statuses.push(StatusCode::UNAUTHORIZED);
            }
            if names.iter().any(|name| name == BEARER) {
                statuses.push(StatusCode::FORBIDDEN);
            }
            register_problem_responses(&mut components, operation, &statuses);
            if operation.request_body.is_none() {
                // Nothing is read: neither too large nor of the wrong media type.
                operation
                    .responses
                    .retain(|status, _| !matches!(status.as_str(), "413" | "415"));
            }
            used.extend(names);
        }
    }
    document.components = components;
    if used.contains(BEARER) {
        document = document.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                Http::new(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description("An access token from the User Service's POST /login."),
            ),
        );
    }
    if used.contains(SERVICE_TOKEN) {
        document = document.add_security_scheme(
            SERVICE_TOKEN,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                SERVICE_TOKEN_HEADER,
                "The deployment's SERVICE_TOKEN; for the services, not for users.",
            ))),
        );
    }
    document
}

fn security_names(operation: &Operation) -> Vec<String> {
    let requirements = operation.securities.iter().flatten();
    requirements
        .filter_map(|requirement| serde_json::to_value(requirement).ok())
        .filter_map(|value| {
            value
                .as_object()
                .map(|map| map.keys().cloned().collect::<Vec<_>>())
        })
        .flatten()
        .collect()
}

// The schema blocks the contract's bounded fields are built from, for the services' own
// parameters too.
pub use shop_contract::schema::{NO_NUL, integer, text};
