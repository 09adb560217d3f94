//! The default channel: the notification as a structured log line (JSON in production), which
//! is what the spec asks of a service that has no mail server yet.

use super::Message;
use crate::event::OrderEvent;

#[derive(Debug, Clone, Copy)]
pub struct LogChannel;

impl LogChannel {
    pub fn send(&self, event: &OrderEvent, message: &Message) {
        let order = &event.order;
        tracing::info!(
            channel = "log",
            order_id = order.id,
            event_id = %event.event_id,
            event_type = event.event_type.as_str(),
            user_id = order.user_id,
            username = %order.username,
            product_id = order.product_id,
            quantity = order.quantity,
            total_price = %order.total_price,
            subject = %message.subject,
            text = %message.text,
            "notification sent"
        );
    }
}
