//! The admin's pages: the catalogue (create, edit, restock) and fulfilment (advance an order).

use maud::{Markup, html};
use shop_sessions::Visitor;

use crate::api::{OrderStatus, Product};
use crate::views::{csrf, money, status_label};

/// What a product form shows: the stored product, or what was typed before a refusal.
#[derive(Debug, Clone, Default)]
pub struct ProductForm {
    pub name: String,
    pub description: String,
    pub price: String,
    pub quantity: String,
}

impl From<&Product> for ProductForm {
    fn from(product: &Product) -> Self {
        Self {
            name: product.name.clone(),
            description: product.description.clone(),
            price: product.price.to_string(),
            quantity: product.quantity.to_string(),
        }
    }
}

fn product_fields(form: &ProductForm) -> Markup {
    html! {
        div.field {
            label for="name" { "Name" }
            input #name type="text" name="name" value=(form.name) maxlength="200" required;
        }
        div.field {
            label for="description" { "Description" }
            textarea #description name="description" rows="3" maxlength="5000" { (form.description) }
        }
        div.field {
            label for="price" { "Price ($)" }
            input #price type="text" inputmode="decimal" name="price" value=(form.price) required;
        }
        div.field {
            label for="quantity" { "Stock" }
            input #quantity type="number" name="quantity" min="0" value=(form.quantity) required;
        }
    }
}

pub fn products(products: &[Product], visitor: &Visitor, form: &ProductForm) -> Markup {
    html! {
        h1 { "Products" }
        table.products-admin {
            thead { tr {
                th scope="col" { "Id" } th scope="col" { "Name" }
                th scope="col" { "Price" } th scope="col" { "Stock" }
            } }
            tbody {
                @for product in products {
                    tr {
                        td { (product.id) }
                        td { a href={ "/admin/products/" (product.id) } { (product.name) } }
                        td { (money(product.price)) }
                        td { (product.quantity) }
                    }
                }
            }
        }
        h2 { "New product" }
        form.admin method="post" action="/admin/products" {
            (csrf(visitor))
            (product_fields(form))
            button type="submit" { "Create product" }
        }
    }
}

pub fn edit_product(id: i64, visitor: &Visitor, form: &ProductForm) -> Markup {
    html! {
        p { a href="/admin/products" { "← Products" } }
        h1 { "Edit product #" (id) }
        form.admin method="post" action={ "/admin/products/" (id) } {
            (csrf(visitor))
            (product_fields(form))
            button type="submit" { "Save" }
        }
        h2 { "Restock" }
        form.admin.inline method="post" action={ "/admin/products/" (id) "/restock" } {
            (csrf(visitor))
            div.field {
                label for="add" { "Units to add" }
                input #add type="number" name="add" min="1" value="10" required;
            }
            button type="submit" { "Add stock" }
        }
    }
}

/// The next step of fulfilment from `status`, as (status, button text).
pub fn next_step(status: OrderStatus) -> Option<(OrderStatus, &'static str)> {
    match status {
        OrderStatus::Pending => Some((OrderStatus::Confirmed, "Confirm")),
        OrderStatus::Confirmed => Some((OrderStatus::Shipped, "Mark shipped")),
        OrderStatus::Shipped => Some((OrderStatus::Completed, "Mark delivered")),
        OrderStatus::Completed | OrderStatus::Cancelled => None,
    }
}

/// One order on the fulfilment page.
#[derive(Debug, Clone)]
pub struct FulfilmentRow {
    pub id: i64,
    pub customer: String,
    pub product: String,
    pub quantity: i64,
    pub status: OrderStatus,
}

/// The fulfilment page: an order looked up by number, then the orders this replica saw change
/// most recently (the Order Service lists only a caller's own orders, even for an admin).
pub fn orders(rows: &[FulfilmentRow], visitor: &Visitor, live: bool) -> Markup {
    html! {
        h1 { "Fulfilment" }
        form.filters method="get" action="/admin/orders" {
            div.field {
                label for="order" { "Order number" }
                input #order type="number" name="order" min="1" required;
            }
            button type="submit" { "Open" }
        }
        @if !live {
            p.notice.error { "Live updates are paused: recent orders may be missing. Open an order by its number." }
        }
        @if rows.is_empty() {
            p.empty { "No recent orders. Open an order by its number." }
        } @else {
            table.orders {
                thead { tr {
                    th scope="col" { "Order" } th scope="col" { "Customer" }
                    th scope="col" { "Product" } th scope="col" { "Qty" }
                    th scope="col" { "Status" } th scope="col" { "Next step" }
                } }
                tbody {
                    @for row in rows {
                        tr {
                            td { "#" (row.id) }
                            td { (row.customer) }
                            td { (row.product) }
                            td { (row.quantity) }
                            td { span.status data-status=(row.status) { (status_label(row.status)) } }
                            td {
                                @if let Some((next, text)) = next_step(row.status) {
                                    form.inline method="post" action={ "/admin/orders/" (row.id) "/advance" } {
                                        (csrf(visitor))
                                        input type="hidden" name="status" value=(next);
                                        button type="submit" aria-label={ (text) " order " (row.id) } { (text) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
