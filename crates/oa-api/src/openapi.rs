//! The OpenAPI document, generated from the handlers' annotations.

use std::sync::OnceLock;

use utoipa::openapi::OpenApi as OpenApiDocument;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "oa-jobs Monitoring API",
        description = "Job metrics, worker status, system health, a live event stream with resume, \
            Prometheus metrics and a live dashboard. The seed's routes keep their paths and JSON \
            shapes. Every error is JSON `{\"detail\", \"code\"}`.",
        license(name = "MIT", identifier = "MIT")
    ),
    tags(
        (name = "Root", description = "What this API is"),
        (name = "Jobs", description = "Job figures: summary, recent, per tag and priority, running"),
        (name = "Workers", description = "Worker liveness and job counts"),
        (name = "System", description = "System figures, event counts, Prometheus"),
        (name = "Events", description = "The live event stream"),
        (name = "Control", description = "Reset, enable and disable collection (token rules apply)"),
        (name = "Probes", description = "Liveness and readiness"),
        (name = "Docs", description = "This document and the dashboard"),
    ),
    components(schemas(crate::ErrorBody, crate::schema::Event)),
    modifiers(&SecuritySchemes)
)]
struct ApiDoc;

/// Declares the two bearer tokens.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApiDocument) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            let mut http = Http::new(HttpAuthScheme::Bearer);
            http.description = Some(description.to_owned());
            SecurityScheme::Http(http)
        };
        components.add_security_scheme(
            "api_token",
            bearer(
                "The control token (`--api-token`, `OA_API_TOKEN`). Without one, control routes \
                 work only when the server listens on loopback.",
            ),
        );
        components.add_security_scheme(
            "read_token",
            bearer(
                "The optional read token (`OA_API_READ_TOKEN`); the control token is accepted \
                 too. `GET /events` also takes it as `?access_token=`.",
            ),
        );
    }
}

/// The OpenAPI 3.1 document of every route, as `GET /openapi.json` serves it.
///
/// ```
/// let document = oa_api::openapi();
/// assert!(document.paths.paths.contains_key("/jobs/recent"));
/// assert!(document.paths.paths.contains_key("/events"));
/// ```
#[must_use]
pub fn openapi() -> OpenApiDocument {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::public_routes())
        .merge(routes::read_routes())
        .merge(routes::stream_routes())
        .merge(routes::control_routes())
        .into_openapi()
}

/// The document as pretty JSON, rendered once.
pub(crate) fn document_json() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        openapi()
            .to_pretty_json()
            .unwrap_or_else(|_| "{}".to_owned())
    })
}
