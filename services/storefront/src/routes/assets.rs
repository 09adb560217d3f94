//! The stylesheet and the page script, compiled into the binary: no CDN, no files to deploy.
//! Their URLs carry no version, so browsers revalidate them after an hour.

use salvo::prelude::*;
use shop_http::route::route;

const CSS: &str = include_str!("../../static/app.css");
const JS: &str = include_str!("../../static/app.js");

#[handler]
async fn stylesheet(res: &mut Response) {
    serve(res, "text/css; charset=utf-8", CSS);
}

#[handler]
async fn script(res: &mut Response) {
    serve(res, "text/javascript; charset=utf-8", JS);
}

fn serve(res: &mut Response, content_type: &'static str, body: &'static str) {
    let _ = res.add_header("cache-control", "public, max-age=3600", true);
    let _ = res.add_header("x-content-type-options", "nosniff", true);
    res.render(Text::Plain(body));
    let _ = res.add_header("content-type", content_type, true);
}

pub fn router() -> Router {
    Router::new()
        .push(route("/static/app.css").get(stylesheet))
        .push(route("/static/app.js").get(script))
}
