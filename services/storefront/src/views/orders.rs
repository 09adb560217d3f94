//! "My orders" and one order's page. Status cells carry `data-order` so the page script can
//! update them from the live events; the cancel form is shown only while an order is pending.

use maud::{Markup, html};
use shop_sessions::Visitor;

use crate::api::{Order, OrderStatus};
use crate::views::{csrf, money, status_label};

fn status(order: &Order) -> Markup {
    html! {
        span.status data-order=(order.id) data-status=(order.status) {
            (status_label(order.status))
        }
    }
}

fn cancel_form(order: &Order, visitor: &Visitor) -> Markup {
    html! {
        form.inline.cancel method="post" action={ "/orders/" (order.id) "/cancel" }
            data-cancel=(order.id) hidden[order.status != OrderStatus::Pending] {
            (csrf(visitor))
            button.secondary type="submit" { "Cancel order " (order.id) }
        }
    }
}

pub fn list(orders: &[Order], visitor: &Visitor) -> Markup {
    html! {
        h1 { "My orders" }
        @if orders.is_empty() {
            p.empty { "You have no orders yet. " a href="/" { "Browse the catalogue" } "." }
        } @else {
            table.orders {
                caption.visually-hidden { "Your orders, newest first" }
                thead { tr {
                    th scope="col" { "Order" } th scope="col" { "Product" }
                    th scope="col" { "Qty" } th scope="col" { "Total" }
                    th scope="col" { "Status" } th scope="col" { span.visually-hidden { "Actions" } }
                } }
                tbody {
                    @for order in orders {
                        tr {
                            td { a href={ "/orders/" (order.id) } { "#" (order.id) } }
                            td { (order.product_name) }
                            td { (order.quantity) }
                            td { (money(order.total_price)) }
                            td { (status(order)) }
                            td { (cancel_form(order, visitor)) }
                        }
                    }
                }
            }
        }
    }
}

pub fn detail(order: &Order, visitor: &Visitor) -> Markup {
    html! {
        p { a href="/orders" { "← My orders" } }
        h1 { "Order #" (order.id) }
        dl.order {
            dt { "Status" } dd { (status(order)) }
            dt { "Product" } dd { a href={ "/products/" (order.product_id) } { (order.product_name) } }
            dt { "Quantity" } dd #quantity { (order.quantity) }
            dt { "Unit price" } dd { (money(order.unit_price)) }
            dt { "Total" } dd { (money(order.total_price)) }
            dt { "Placed" } dd { (order.created_at.format("%Y-%m-%d %H:%M UTC")) }
        }
        (cancel_form(order, visitor))
    }
}
