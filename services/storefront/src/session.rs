//! The hoop in front of every page: [`Sessions::visit`] reads who is shopping and checks the
//! CSRF token of a POST; a form that fails the check gets the 403 page before its handler runs.

use std::sync::Arc;

use salvo::prelude::*;
use shop_sessions::{CsrfMismatch, Sessions, Visitor};

use crate::views::errors::ErrorPage;

/// Puts the [`Visitor`] in the depot, or answers a refused form.
#[derive(Debug, Clone)]
pub struct LoadSession(pub Arc<Sessions>);

#[async_trait]
impl Handler for LoadSession {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        match self.0.visit(req, res).await {
            Ok(visitor) => {
                depot.insert_typed(visitor);
            }
            Err(CsrfMismatch) => {
                ErrorPage::Forbidden.render(res, &Visitor::default());
                ctrl.skip_rest();
            }
        }
    }
}

/// The visitor [`LoadSession`] provided.
pub fn visitor(depot: &Depot) -> &Visitor {
    depot
        .get_typed::<Visitor>()
        .expect("LoadSession runs in front of every page")
}
