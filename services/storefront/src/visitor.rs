//! The visitor as every page sees it. It sits below both [`crate::session`], which fills it in,
//! and [`crate::views`], which render for it, so neither has to import the other for it.

use shop_auth_client::Caller;

/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// What every page knows about its visitor; put in the depot by [`crate::session::LoadSession`].
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
