//! Header names the services and their clients agree on. They sit below every other module so
//! that the OpenAPI document, the credential check and the client-address logic can all name
//! them without importing each other.

/// The header carrying the deployment's service credential; see
/// [`RequireServiceToken`](crate::service_auth::RequireServiceToken).
pub const SERVICE_TOKEN_HEADER: &str = "x-service-token";

/// The header in which a service names the end client it calls on behalf of; see
/// [`ClientAddressing`](crate::client_addr::ClientAddressing).
pub const CLIENT_IP_HEADER: &str = "x-client-ip";
