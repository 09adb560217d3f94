//! The visitor as every page sees it: who is logged in, and the token the page's forms carry.
//! [`crate::Sessions::visit`] fills it in; pages render for it.

use shop_auth_client::Caller;

/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// What every page knows about its visitor, from [`crate::Sessions::visit`].
#[derive(Debug, Clone, Default)]
pub struct Visitor {
    /// The access token and whose it is, when logged in. Server-side only: no page shows it.
    pub user: Option<(String, Caller)>,
    /// The session id, when logged in.
    pub session: Option<String>,
    /// The token the forms of this page carry.
    pub csrf_token: String,
    /// A session cookie was present but is no longer valid.
    pub expired: bool,
    /// A session cookie was present but could not be checked (Redis or the User Service down).
    pub account_unavailable: bool,
}

impl Visitor {
    pub fn caller(&self) -> Option<&Caller> {
        self.user.as_ref().map(|(_, caller)| caller)
    }

    pub fn is_admin(&self) -> bool {
        self.caller().is_some_and(Caller::is_admin)
    }
}
