//! The shop's client of the public APIs (User, Product and Order Services), and what their
//! answers mean to a page: a value, a problem document the page turns into a message, an
//! expired session, or a service that cannot be reached.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde_json::Value;
use shop_config::Secret;
use shop_http::client_addr::CLIENT_IP_HEADER;
use shop_http::http_client::HttpClient;
use shop_http::problem::Problem;
use shop_http::service_auth::SERVICE_TOKEN_HEADER;

/// What went wrong with one API call.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The service refused the request; its problem document says why.
    #[error("{} answered {}: {}", .service, .problem.status, .problem.title)]
    Refused {
        service: &'static str,
        problem: Problem,
    },
    /// The token was not (or no longer) accepted: the person logs in again.
    #[error("the session is no longer valid")]
    SessionExpired,
    /// Unreachable, too slow, a 5xx, or an answer that does not parse.
    #[error("{0} is unavailable")]
    Unavailable(&'static str),
}

impl ApiError {
    /// The problem type without its `urn:problem:` prefix, when the service sent one.
    pub fn kind(&self) -> Option<&str> {
        match self {
            Self::Refused { problem, .. } => Some(
                problem
                    .kind
                    .strip_prefix("urn:problem:")
                    .unwrap_or(&problem.kind),
            ),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Refused { problem, .. } => Some(problem.status),
            _ => None,
        }
    }
}

use shop_contract::order::{CreateOrderRequest, UpdateOrderRequest};
pub use shop_contract::order::{Order, OrderPage, OrderStatus};
pub use shop_contract::product::{
    CreateProductRequest, Product, ProductPage, UpdateProductRequest, price_text,
};
pub use shop_contract::user::TokenResponse as IssuedToken;
use shop_contract::user::{LoginRequest, RegisterRequest};

/// What the catalogue asks for; prices already parsed, so only valid filters reach the API.
#[derive(Debug, Clone, Default)]
pub struct ProductQuery {
    pub name: Option<String>,
    pub min_price: Option<Decimal>,
    pub max_price: Option<Decimal>,
    pub limit: u8,
    pub skip: u32,
}

fn with_query(path: &str, params: &[(&str, String)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in params {
        query.append_pair(key, value);
    }
    format!("{path}?{}", query.finish())
}

/// One client for the three services; each call names the service it talks to in its errors.
#[derive(Debug, Clone)]
pub struct Api {
    http: HttpClient,
    /// Makes the User Service believe the shopper's address we state.
    service_token: Option<Secret>,
    users: String,
    products: String,
    orders: String,
}

impl Api {
    pub fn new(
        users: &str,
        products: &str,
        orders: &str,
        timeout: Duration,
        service_token: Option<Secret>,
    ) -> anyhow::Result<Self> {
        let base = |url: &str| url.trim_end_matches('/').to_owned();
        Ok(Self {
            http: HttpClient::new("shop-api", timeout)?,
            service_token,
            users: base(users),
            products: base(products),
            orders: base(orders),
        })
    }

    pub async fn register(
        &self,
        username: &str,
        password: &str,
        shopper: Option<IpAddr>,
    ) -> Result<(), ApiError> {
        let body = RegisterRequest {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        let request = self
            .on_behalf_of(
                shopper,
                self.request(Method::POST, &self.users, "/register"),
            )
            .json(&body);
        self.call::<Value>("the account service", request, false)
            .await
            .map(drop)
    }

    /// The access token for these credentials.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        shopper: Option<IpAddr>,
    ) -> Result<IssuedToken, ApiError> {
        let body = LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
        };
        let request = self
            .on_behalf_of(shopper, self.request(Method::POST, &self.users, "/login"))
            .json(&body);
        // A 401 here means wrong credentials, not an expired session.
        self.call("the account service", request, false).await
    }

    /// The User Service limits logins and registrations per client; behind the storefront
    /// every request would come from us, so we say whose request it is, and vouch for that
    /// with the service credential.
    fn on_behalf_of(&self, shopper: Option<IpAddr>, request: RequestBuilder) -> RequestBuilder {
        let request = match shopper {
            Some(address) => request.header(CLIENT_IP_HEADER, address.to_string()),
            None => request,
        };
        match &self.service_token {
            Some(token) => request.header(SERVICE_TOKEN_HEADER, token.expose()),
            None => request,
        }
    }

    pub async fn products(&self, query: &ProductQuery) -> Result<ProductPage, ApiError> {
        let mut params: Vec<(&str, String)> = vec![
            ("limit", query.limit.to_string()),
            ("skip", query.skip.to_string()),
        ];
        if let Some(name) = &query.name {
            params.push(("name", name.clone()));
        }
        if let Some(min) = query.min_price {
            params.push(("min_price", min.to_string()));
        }
        if let Some(max) = query.max_price {
            params.push(("max_price", max.to_string()));
        }
        let path = with_query("/products", &params);
        let request = self.request(Method::GET, &self.products, &path);
        self.call("the catalogue", request, false).await
    }

    pub async fn product(&self, id: i64) -> Result<Product, ApiError> {
        let path = format!("/products/{id}");
        let request = self.request(Method::GET, &self.products, &path);
        self.call("the catalogue", request, false).await
    }

    pub async fn create_product(
        &self,
        token: &str,
        product: &CreateProductRequest,
    ) -> Result<Product, ApiError> {
        let request = self
            .request(Method::POST, &self.products, "/products")
            .bearer_auth(token)
            .json(product);
        self.call("the catalogue", request, true).await
    }

    pub async fn update_product(
        &self,
        token: &str,
        id: i64,
        changes: &UpdateProductRequest,
    ) -> Result<Product, ApiError> {
        let path = format!("/products/{id}");
        let request = self
            .request(Method::PUT, &self.products, &path)
            .bearer_auth(token)
            .json(changes);
        self.call("the catalogue", request, true).await
    }

    /// Places an order; the same `idempotency_key` again returns the order placed first.
    /// A duplicate that arrives while the first is still being placed (a double click) waits
    /// for it, up to about 3 s, and then gets that same order.
    pub async fn place_order(
        &self,
        token: &str,
        product_id: i64,
        quantity: i64,
        idempotency_key: &str,
    ) -> Result<Order, ApiError> {
        let mut pause = Duration::from_millis(50);
        let mut waited = Duration::ZERO;
        loop {
            let request = self
                .request(Method::POST, &self.orders, "/orders")
                .bearer_auth(token)
                .header("idempotency-key", idempotency_key)
                .json(&CreateOrderRequest {
                    product_id,
                    quantity,
                });
            match self.call("the order service", request, true).await {
                Err(error)
                    if error.kind() == Some("request-in-progress")
                        && waited < Duration::from_secs(3) =>
                {
                    tokio::time::sleep(pause).await;
                    waited += pause;
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                outcome => return outcome,
            }
        }
    }

    /// A page of orders, newest first: the caller's own, or every order for an admin.
    pub async fn orders(&self, token: &str, cursor: Option<i64>) -> Result<OrderPage, ApiError> {
        let mut params = vec![("limit", "50".to_owned())];
        if let Some(cursor) = cursor {
            params.push(("cursor", cursor.to_string()));
        }
        let path = with_query("/orders", &params);
        let request = self
            .request(Method::GET, &self.orders, &path)
            .bearer_auth(token);
        self.call("the order service", request, true).await
    }

    pub async fn order(&self, token: &str, id: i64) -> Result<Order, ApiError> {
        let path = format!("/orders/{id}");
        let request = self
            .request(Method::GET, &self.orders, &path)
            .bearer_auth(token);
        self.call("the order service", request, true).await
    }

    pub async fn set_order_status(
        &self,
        token: &str,
        id: i64,
        status: OrderStatus,
    ) -> Result<Order, ApiError> {
        let path = format!("/orders/{id}");
        let request = self
            .request(Method::PUT, &self.orders, &path)
            .bearer_auth(token)
            .json(&UpdateOrderRequest { status });
        self.call("the order service", request, true).await
    }

    fn request(&self, method: Method, base: &str, path: &str) -> RequestBuilder {
        self.http.inner().request(method, format!("{base}{path}"))
    }

    /// Sends, then sorts the answer: 2xx parsed as `T`; 401 with a token is an expired session;
    /// other 4xx carry a problem document; everything else is "unavailable".
    async fn call<T: DeserializeOwned>(
        &self,
        service: &'static str,
        request: RequestBuilder,
        with_token: bool,
    ) -> Result<T, ApiError> {
        let request = request.build().map_err(|error| {
            tracing::error!(error = %error, service, "cannot build an API request");
            ApiError::Unavailable(service)
        })?;
        let response = self.http.send(request).await.map_err(|error| {
            tracing::warn!(error = %error, service, "API call failed");
            ApiError::Unavailable(service)
        })?;
        let status = response.status();
        if status.is_success() {
            return response.json().await.map_err(|error| {
                tracing::warn!(error = %error, service, "API answer does not parse");
                ApiError::Unavailable(service)
            });
        }
        if status == StatusCode::UNAUTHORIZED && with_token {
            return Err(ApiError::SessionExpired);
        }
        if status.is_client_error() {
            let problem = response
                .json::<Problem>()
                .await
                .unwrap_or_else(|_| Problem::from_status(status));
            return Err(ApiError::Refused { service, problem });
        }
        tracing::warn!(
            status = status.as_u16(),
            service,
            "API answered with an error"
        );
        Err(ApiError::Unavailable(service))
    }
}
