//! The catalogue (search, price filter, pages) and a product's page with its buy form.

use maud::{Markup, html};
use shop_sessions::Visitor;

use crate::api::Product;
use crate::views::{csrf, money};

/// The catalogue's filters as the person typed them (shown back in the form).
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub q: String,
    pub min: String,
    pub max: String,
    pub page: u32,
}

impl Filters {
    /// The query string of page `page` with the same filters.
    pub fn link(&self, page: u32) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (key, value) in [("q", &self.q), ("min", &self.min), ("max", &self.max)] {
            if !value.is_empty() {
                query.append_pair(key, value);
            }
        }
        query.append_pair("page", &page.to_string());
        format!("/?{}", query.finish())
    }
}

pub fn catalogue(filters: &Filters, products: &[Product], has_next: bool) -> Markup {
    html! {
        h1 { "Catalogue" }
        form.filters method="get" action="/" role="search" {
            div.field.search {
                label for="q" { "Search" }
                input #q type="search" name="q" value=(filters.q) placeholder="Product name";
            }
            div.field.price {
                label for="min" { "Min price" }
                input #min type="text" inputmode="decimal" name="min" value=(filters.min)
                    size="6" placeholder="$";
            }
            div.field.price {
                label for="max" { "Max price" }
                input #max type="text" inputmode="decimal" name="max" value=(filters.max)
                    size="6" placeholder="$";
            }
            button type="submit" { "Search" }
        }
        @if products.is_empty() {
            p.empty { "No products match. Try another search or a wider price range." }
        } @else {
            ul.products {
                @for product in products {
                    li.card {
                        h2 { a href={ "/products/" (product.id) } { (product.name) } }
                        p.price { (money(product.price)) }
                        p.stock { (stock_text(product.quantity)) }
                    }
                }
            }
        }
        nav.pages aria-label="Pages" {
            @if filters.page > 1 {
                a rel="prev" href=(filters.link(filters.page - 1)) { "← Previous" }
            }
            span { "Page " (filters.page) }
            @if has_next {
                a rel="next" href=(filters.link(filters.page + 1)) { "Next →" }
            }
        }
    }
}

fn stock_text(quantity: i32) -> String {
    match quantity {
        0 => "Out of stock".into(),
        1..=5 => format!("Only {quantity} left"),
        _ => "In stock".into(),
    }
}

/// A product and, for a logged-in visitor, the form that buys it. `idempotency_key` is new for
/// each rendering, so submitting this form twice places one order.
pub fn product(
    product: &Product,
    visitor: &Visitor,
    idempotency_key: &str,
    quantity: i64,
) -> Markup {
    html! {
        p { a href="/" { "← Catalogue" } }
        article.product {
            h1 { (product.name) }
            p.price { (money(product.price)) }
            p.stock #stock { (stock_text(product.quantity)) }
            @if !product.description.is_empty() {
                p.description { (product.description) }
            }
            @if visitor.caller().is_some() {
                form.buy method="post" action="/checkout" {
                    (csrf(visitor))
                    input type="hidden" name="product_id" value=(product.id);
                    input type="hidden" name="idempotency_key" value=(idempotency_key);
                    div.field {
                        label for="quantity" { "Quantity" }
                        input #quantity type="number" name="quantity" min="1" max="10000"
                            value=(quantity) required;
                    }
                    button #buy type="submit" { "Buy now" }
                }
            } @else {
                p {
                    a href={ "/login?next=/products/" (product.id) } { "Log in" }
                    " or "
                    a href="/register" { "register" }
                    " to buy."
                }
            }
        }
    }
}
