//! The Product Service as the Order Service uses it: reserve stock for an order (which also
//! validates the product and snapshots its name and price) and give it back.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use shop_config::Secret;
use shop_contract::product::ReservationRequest;
use shop_http::http_client::HttpClient;
use shop_http::service_auth::SERVICE_TOKEN_HEADER;
use uuid::Uuid;

use crate::domain::Quantity;

/// What the Product Service answers for a reservation: the units held and the product's name
/// and price when they were taken.
pub use shop_contract::product::ReservationResponse as Reservation;

#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    #[error("product {0} does not exist")]
    NotFound(i64),
    #[error("not enough stock: {0}")]
    InsufficientStock(String),
    #[error("the Product Service refused the request: {0}")]
    Rejected(String),
    #[error("the Product Service is unavailable")]
    Unavailable(String),
}

#[derive(Deserialize)]
struct ProblemBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    detail: Option<String>,
    title: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ProductClient {
    http: HttpClient,
    base_url: String,
    service_token: Secret,
}

impl ProductClient {
    pub fn new(base_url: &str, service_token: Secret, timeout: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            http: HttpClient::new("product-service", timeout)?,
            base_url: base_url.trim_end_matches('/').to_owned(),
            service_token,
        })
    }

    /// Sends `method path` (with `body` as JSON) to an internal route with the service
    /// credential; no answer at all is [`ProductError::Unavailable`].
    async fn internal(
        &self,
        method: Method,
        path: &str,
        body: Option<&ReservationRequest>,
    ) -> Result<reqwest::Response, ProductError> {
        let mut request = self
            .http
            .inner()
            .request(method, format!("{}{path}", self.base_url))
            .header(SERVICE_TOKEN_HEADER, self.service_token.expose());
        if let Some(body) = body {
            request = request.json(body);
        }
        let request = request
            .build()
            .map_err(|error| ProductError::Unavailable(error.to_string()))?;
        self.http
            .send(request)
            .await
            .map_err(|error| ProductError::Unavailable(error.to_string()))
    }

    /// Takes `quantity` units of `product_id` out of stock for the order named by
    /// `reservation_id`. Repeating it with the same id reserves nothing more.
    pub async fn reserve(
        &self,
        reservation_id: Uuid,
        product_id: i64,
        quantity: Quantity,
    ) -> Result<Reservation, ProductError> {
        let body = ReservationRequest {
            reservation_id,
            product_id,
            quantity: i64::from(quantity.get()),
        };
        let response = self
            .internal(Method::POST, "/internal/reservations", Some(&body))
            .await?;
        match response.status() {
            StatusCode::OK | StatusCode::CREATED => response
                .json()
                .await
                .map_err(|error| ProductError::Unavailable(error.to_string())),
            StatusCode::NOT_FOUND => Err(ProductError::NotFound(product_id)),
            StatusCode::CONFLICT => {
                let problem = problem_of(response).await;
                if problem.kind.as_deref() == Some("urn:problem:insufficient-stock") {
                    Err(ProductError::InsufficientStock(
                        problem.detail.unwrap_or_default(),
                    ))
                } else {
                    Err(ProductError::Rejected(
                        problem.detail.or(problem.title).unwrap_or_default(),
                    ))
                }
            }
            status if status.is_client_error() => {
                let problem = problem_of(response).await;
                Err(ProductError::Rejected(format!(
                    "{status}: {}",
                    problem.detail.or(problem.title).unwrap_or_default()
                )))
            }
            status => Err(ProductError::Unavailable(format!("answered {status}"))),
        }
    }

    /// Tells the Product Service that a stored order uses this reservation, so it is never
    /// swept back to stock. Idempotent.
    pub async fn confirm(&self, reservation_id: Uuid) -> Result<Confirmation, ProductError> {
        let path = format!("/internal/reservations/{reservation_id}/confirmation");
        let response = self.internal(Method::POST, &path, None).await?;
        match response.status() {
            status if status.is_success() => Ok(Confirmation::Confirmed),
            StatusCode::CONFLICT => {
                let problem = problem_of(response).await;
                Ok(Confirmation::Gone(problem.kind.unwrap_or_default()))
            }
            // A Product Service older than confirmations answers 404 or 405 without a problem
            // type of ours: retried until it is upgraded.
            StatusCode::NOT_FOUND => {
                let problem = problem_of(response).await;
                match problem.kind.as_deref() {
                    Some("urn:problem:reservation-not-found") => Ok(Confirmation::Gone(
                        "urn:problem:reservation-not-found".into(),
                    )),
                    _ => Err(ProductError::Unavailable(
                        "confirmation route missing".into(),
                    )),
                }
            }
            status => Err(ProductError::Unavailable(format!(
                "confirmation answered {status}"
            ))),
        }
    }

    /// Gives a reservation's stock back. Idempotent on the Product Service's side: calling it
    /// again, or for an unknown id, releases nothing more.
    pub async fn release(&self, reservation_id: Uuid) -> Result<(), ProductError> {
        let path = format!("/internal/reservations/{reservation_id}");
        let response = self.internal(Method::DELETE, &path, None).await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(ProductError::Unavailable(format!(
                "release answered {}",
                response.status()
            )))
        }
    }
}

/// What the Product Service said to a confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    Confirmed,
    /// Nothing left to confirm (released already, swept with its stock sold, unknown): the
    /// reason, for the log. Retrying would change nothing.
    Gone(String),
}

async fn problem_of(response: reqwest::Response) -> ProblemBody {
    response.json().await.unwrap_or(ProblemBody {
        kind: None,
        detail: None,
        title: None,
    })
}
