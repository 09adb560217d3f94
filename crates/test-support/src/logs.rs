//! Captures what a service logs, in the production JSON format, with real trace ids: for tests
//! that check a log line carries the fields and trace it should.
//!
//! The capture is the *thread's* default subscriber, so it sees everything a `#[tokio::test]`
//! (a current-thread runtime) runs, including the tasks it spawns, and nothing of other tests.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tracing::subscriber::DefaultGuard;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// The lines logged since [`capture_json_logs`], parsed.
#[derive(Debug, Clone, Default)]
pub struct LogCapture {
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl LogCapture {
    pub fn lines(&self) -> Vec<Value> {
        let bytes = self.bytes.lock().expect("log capture lock");
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(|line| serde_json::from_str(line).expect("every log line is one JSON object"))
            .collect()
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes
            .lock()
            .expect("log capture lock")
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Installs, for this thread until the guard drops, a subscriber like the one `service`
/// runs in production (JSON lines at `info`, OpenTelemetry trace ids).
pub fn capture_json_logs(service: &'static str) -> (LogCapture, DefaultGuard) {
    crate::init();
    let capture = LogCapture::default();
    let provider = shop_telemetry::tracer_provider(
        shop_config::ServiceInfo {
            name: service,
            version: "test",
            description: "",
        },
        &shop_config::CommonConfig::default(),
    )
    .expect("tracer provider without exporter");
    let tracer = opentelemetry::trace::TracerProvider::tracer(&provider, service);
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(shop_telemetry::JsonLines::new(service))
                .with_writer(capture.clone())
                .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
        );
    let guard = tracing::subscriber::set_default(subscriber);
    (capture, guard)
}
