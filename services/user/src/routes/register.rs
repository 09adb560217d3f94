use std::sync::Arc;

use salvo::http::StatusCode;
use salvo::prelude::*;
use shop_http::body;
use shop_http::server::state;
use shop_postgres::DbError;

use crate::domain::{Password, Role, Username};
use crate::error::UserError;
use crate::limiter::Limit;
use crate::repository::UserRecord;
use crate::state::AppState;

pub use shop_contract::user::{RegisterRequest, User as UserResponse};

impl From<UserRecord> for UserResponse {
    fn from(user: UserRecord) -> Self {
        Self {
            id: user.id,
            username: user.username,
            role: user.role,
            is_active: user.is_active,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

/// Register a new customer account.
///
/// At most `REGISTER_MAX_PER_CLIENT` registrations per client address in
/// `REGISTER_WINDOW_SECS`; beyond that 429 with `Retry-After`. The client is the peer, the
/// address a trusted gateway put in `X-Forwarded-For`, or the one a service names in
/// `X-Client-IP` beside a valid `X-Service-Token`.
#[endpoint(
    tags("users"),
    request_body = RegisterRequest,
    responses((status_code = 201, description = "Account created", body = UserResponse))
)]
pub async fn register(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), UserError> {
    let request: RegisterRequest = body::json(req).await?;
    let (username, password) = match (
        Username::parse(&request.username),
        Password::parse(&request.password),
    ) {
        (Ok(username), Ok(password)) => (username, password),
        (username, password) => {
            let errors = [username.err(), password.err()]
                .into_iter()
                .flatten()
                .collect();
            return Err(UserError::Validation(errors));
        }
    };
    let state = state::<Arc<AppState>>(depot);
    // Counted before the hash (the expensive part), per client, across replicas.
    let client = Limit::new(
        format!("ip:{}", state.clients.request_client_key(req)),
        state.limits.register_per_client,
    );
    if let Err(retry_after) = state.registrations.begin(&[client]).await {
        return Err(UserError::TooManyRegistrations { retry_after });
    }
    let hash = state.hasher.hash(&password).await?;
    let user = match state.users.insert(&username, &hash, Role::Customer).await {
        Ok(user) => user,
        Err(DbError::UniqueViolation { .. }) => return Err(UserError::UsernameTaken),
        Err(error) => return Err(error.into()),
    };
    state.metrics.registrations.inc();
    tracing::info!(user_id = user.id, "user registered");
    res.status_code(StatusCode::CREATED);
    res.render(Json(UserResponse::from(user)));
    Ok(())
}
