//! The exporting side: OTLP/HTTP (protobuf) through reqwest's blocking client (rustls on
//! ring, as every client of herald's), behind the SDK's batch span processor, which runs
//! on a thread of its own with a bounded queue: ending a span only puts it in the queue,
//! or drops it when the queue is full. Failed exports are logged once per outage and
//! counted (`herald_trace_spans_total{outcome="failed"}`).

use crate::config::TelemetryConfig;
use crate::telemetry;
use opentelemetry::InstrumentationScope;
use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, IdGenerator, RandomIdGenerator, SdkTracer,
    SdkTracerProvider, SpanData, SpanExporter,
};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Spans sent per request at most.
const BATCH: usize = 512;

pub struct Exporter {
    provider: SdkTracerProvider,
    pub(super) tracer: SdkTracer,
    timeout: Duration,
}

impl Exporter {
    /// Start the batch thread sending to `endpoint` (the full traces URL).
    pub fn start(endpoint: &str, config: &TelemetryConfig) -> Result<Self, String> {
        // reqwest is built without a default provider (see `tls.rs`).
        crate::tls::install_crypto_provider();
        let headers: HashMap<String, String> = config
            .headers
            .iter()
            .map(|(name, secret)| (name.to_string(), secret.expose().to_string()))
            .collect();
        let otlp = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .with_timeout(config.timeout)
            .with_headers(headers)
            .build()
            .map_err(|error| error.to_string())?;
        let exporter = Reporting {
            inner: otlp,
            endpoint: endpoint.to_string(),
            failing: AtomicBool::new(false),
        };
        let batch = BatchConfigBuilder::default()
            .with_max_queue_size(config.max_queue)
            .with_max_export_batch_size(BATCH.min(config.max_queue))
            .build();
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(batch)
            .build();
        let resource = Resource::builder()
            .with_service_name(config.service_name.clone())
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_id_generator(ChosenIds::default())
            .with_resource(resource)
            .build();
        let scope = InstrumentationScope::builder("herald")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        let tracer = provider.tracer_with_scope(scope);
        tracing::info!(endpoint, "Exporting traces");
        Ok(Exporter {
            provider,
            tracer,
            timeout: config.timeout,
        })
    }

    /// Blocks until what is queued is sent (or the export failed).
    pub fn flush(&self) {
        if let Err(error) = self.provider.force_flush() {
            tracing::debug!(%error, "Flushing traces failed");
        }
    }

    /// Blocks until what is queued is sent and the thread has stopped, `timeout` at most
    /// (and a second for the thread).
    pub fn shutdown(&self) {
        match self
            .provider
            .shutdown_with_timeout(self.timeout + Duration::from_secs(1))
        {
            Ok(()) => tracing::debug!("Traces flushed"),
            Err(error) => tracing::warn!(%error, "The last traces may not have been sent"),
        }
    }
}

/// The OTLP exporter, logging the first failure of an outage and the recovery. The
/// exporter's errors name neither the headers nor the payload ("network error", "status
/// code: 503"), and the endpoint holds no credentials (see `config/telemetry.rs`).
#[derive(Debug)]
struct Reporting {
    inner: opentelemetry_otlp::SpanExporter,
    endpoint: String,
    failing: AtomicBool,
}

impl SpanExporter for Reporting {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len() as u64;
        let result = self.inner.export(batch).await;
        telemetry::trace_export(result.is_ok(), spans);
        match &result {
            Ok(()) if self.failing.swap(false, Ordering::Relaxed) => {
                tracing::info!(endpoint = %self.endpoint, "Traces are exported again");
            }
            Ok(()) => {}
            Err(error) if !self.failing.swap(true, Ordering::Relaxed) => {
                tracing::warn!(
                    endpoint = %self.endpoint, %error,
                    "Cannot export traces; spans are dropped until the collector answers"
                );
            }
            Err(_) => {}
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

thread_local! {
    static TRACE: Cell<Option<TraceId>> = const { Cell::new(None) };
    static SPAN: Cell<Option<SpanId>> = const { Cell::new(None) };
}

/// Random ids, unless the span being started on this thread was given its own
/// (`with_ids`): the SDK asks its id generator while it starts a span, synchronously.
#[derive(Debug, Default)]
struct ChosenIds(RandomIdGenerator);

impl IdGenerator for ChosenIds {
    fn new_trace_id(&self) -> TraceId {
        TRACE
            .with(Cell::take)
            .unwrap_or_else(|| self.0.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        SPAN.with(Cell::take)
            .unwrap_or_else(|| self.0.new_span_id())
    }
}

/// Run `start` (which starts one span) with the trace and span ids chosen; a trace id is
/// used only by a span without a parent.
pub(super) fn with_ids<T>(
    trace: Option<TraceId>,
    span: Option<SpanId>,
    start: impl FnOnce() -> T,
) -> T {
    TRACE.with(|cell| cell.set(trace));
    SPAN.with(|cell| cell.set(span));
    let started = start();
    TRACE.with(|cell| cell.set(None));
    SPAN.with(|cell| cell.set(None));
    started
}
