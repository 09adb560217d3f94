//! Business metrics of the User Service.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use shop_telemetry::metrics::Metrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub enum LoginOutcome {
    Success,
    Failure,
    Throttled,
}

#[derive(Debug, Clone, Default)]
pub struct UserMetrics {
    pub registrations: Counter,
    logins: Family<OutcomeLabels, Counter>,
    validations: Family<OutcomeLabels, Counter>,
}

impl UserMetrics {
    pub fn register(metrics: &Metrics) -> Self {
        let this = Self::default();
        metrics.register(
            "users_registered",
            "Accounts created",
            this.registrations.clone(),
        );
        metrics.register(
            "user_logins",
            "Login attempts by outcome (success, failure, throttled)",
            this.logins.clone(),
        );
        metrics.register(
            "token_validations",
            "Token validations by outcome (valid, invalid, expired)",
            this.validations.clone(),
        );
        this
    }

    pub fn login(&self, outcome: LoginOutcome) {
        let outcome = match outcome {
            LoginOutcome::Success => "success",
            LoginOutcome::Failure => "failure",
            LoginOutcome::Throttled => "throttled",
        };
        self.logins.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    pub fn validation(&self, outcome: &'static str) {
        self.validations
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }
}
