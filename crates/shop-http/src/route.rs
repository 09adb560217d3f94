//! Declaring routes: the template a route is labelled with in metrics and traces, and the
//! state a handler reads from the depot. Its own module so that both [`crate::server`] and
//! [`crate::health`] build on it without importing each other.

use salvo::prelude::*;

/// The route template a request matched, recorded by [`route_template`] hoops.
#[derive(Debug, Clone, Copy)]
pub struct RouteTemplate(pub &'static str);

#[async_trait]
impl Handler for RouteTemplate {
    async fn handle(&self, _: &mut Request, depot: &mut Depot, _: &mut Response, _: &mut FlowCtrl) {
        depot.insert_typed(*self);
    }
}

/// A hoop that labels the routes below it with `template` in metrics and traces. Attach it to
/// each leaf router with the full path template, e.g. `/products/{id}`.
pub fn route_template(template: &'static str) -> RouteTemplate {
    RouteTemplate(template)
}

/// A router at `path` labelled with its template: the usual way to declare a route.
pub fn route(path: &'static str) -> Router {
    Router::with_path(path.trim_start_matches('/')).hoop(route_template(path))
}

/// A hoop that puts a clone of `T` (usually an `Arc` of the service's state) in every request's
/// depot, where handlers read it with [`state`].
#[derive(Debug, Clone)]
pub struct Provide<T>(pub T);

#[async_trait]
impl<T: Clone + Send + Sync + 'static> Handler for Provide<T> {
    async fn handle(&self, _: &mut Request, depot: &mut Depot, _: &mut Response, _: &mut FlowCtrl) {
        depot.insert_typed(self.0.clone());
    }
}

/// The value a [`Provide`] hoop put in the depot. Missing state is a wiring bug, caught by
/// every test that calls the route, hence the panic (which the service turns into a 500).
pub fn state<T: Send + Sync + 'static>(depot: &Depot) -> &T {
    depot
        .get_typed::<T>()
        .unwrap_or_else(|_| panic!("{} was not provided", std::any::type_name::<T>()))
}
