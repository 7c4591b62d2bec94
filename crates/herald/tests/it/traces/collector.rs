//! A fake OpenTelemetry collector: OTLP/HTTP on port 0, `POST /v1/traces` with a
//! protobuf `ExportTraceServiceRequest`, answered as the specification says (200 and an
//! `ExportTraceServiceResponse`; 415 for another content type, 400 for a body that does
//! not decode). It keeps each request's headers and raw body, and the spans decoded.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One export herald sent.
#[derive(Debug, Clone)]
pub struct Export {
    pub headers: HeaderMap,
    /// The protobuf body as received.
    pub body: Vec<u8>,
    pub request: ExportTraceServiceRequest,
}

/// A span as decoded, ids in hex.
#[derive(Debug, Clone)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    /// `SpanKind` as its number (1 internal, 2 server, 3 client, 4 producer, 5 consumer).
    pub kind: i32,
    pub start: u64,
    pub end: u64,
    /// Values as text (numbers written out).
    pub attributes: BTreeMap<String, String>,
    /// (trace id, span id) of each link.
    pub links: Vec<(String, String)>,
    /// `StatusCode` as its number (0 unset, 1 ok, 2 error), and its message.
    pub status: (i32, String),
    /// The resource's `service.name`.
    pub service: String,
    /// The instrumentation scope's name.
    pub scope: String,
}

impl Span {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

#[derive(Clone, Default)]
pub struct Collector {
    pub url: String,
    exports: Arc<Mutex<Vec<Export>>>,
}

impl Collector {
    pub async fn start() -> Collector {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let collector = Collector {
            url: format!("http://{}", listener.local_addr().unwrap()),
            ..Collector::default()
        };
        let router = axum::Router::new()
            .route("/v1/traces", axum::routing::post(receive))
            .with_state(collector.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        collector
    }

    pub fn exports(&self) -> Vec<Export> {
        self.exports.lock().unwrap().clone()
    }

    /// Every span received, in the order received.
    pub fn spans(&self) -> Vec<Span> {
        self.exports()
            .iter()
            .flat_map(|e| spans(&e.request))
            .collect()
    }

    /// The spans of one trace.
    pub fn trace(&self, trace_id: &str) -> Vec<Span> {
        let spans = self.spans();
        spans
            .into_iter()
            .filter(|s| s.trace_id == trace_id)
            .collect()
    }
}

async fn receive(
    State(collector): State<Collector>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if content_type != Some("application/x-protobuf") {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, Vec::new()).into_response();
    }
    let Ok(request) = ExportTraceServiceRequest::decode(body.as_ref()) else {
        return (StatusCode::BAD_REQUEST, Vec::new()).into_response();
    };
    collector.exports.lock().unwrap().push(Export {
        headers,
        body: body.to_vec(),
        request,
    });
    let answer = ExportTraceServiceResponse::default().encode_to_vec();
    ([(header::CONTENT_TYPE, "application/x-protobuf")], answer).into_response()
}

fn spans(request: &ExportTraceServiceRequest) -> Vec<Span> {
    let mut all = Vec::new();
    for resource in &request.resource_spans {
        let resource_attributes = resource
            .resource
            .as_ref()
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        let service = resource_attributes
            .get("service.name")
            .cloned()
            .unwrap_or_default();
        for scope in &resource.scope_spans {
            let scope_name = scope
                .scope
                .as_ref()
                .map(|s| s.name.clone())
                .unwrap_or_default();
            for span in &scope.spans {
                all.push(Span {
                    trace_id: hex::encode(&span.trace_id),
                    span_id: hex::encode(&span.span_id),
                    parent_span_id: hex::encode(&span.parent_span_id),
                    name: span.name.clone(),
                    kind: span.kind,
                    start: span.start_time_unix_nano,
                    end: span.end_time_unix_nano,
                    attributes: attributes(&span.attributes),
                    links: span
                        .links
                        .iter()
                        .map(|l| (hex::encode(&l.trace_id), hex::encode(&l.span_id)))
                        .collect(),
                    status: span
                        .status
                        .as_ref()
                        .map(|s| (s.code, s.message.clone()))
                        .unwrap_or_default(),
                    service: service.clone(),
                    scope: scope_name.clone(),
                });
            }
        }
    }
    all
}

fn attributes(list: &[KeyValue]) -> BTreeMap<String, String> {
    list.iter()
        .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
        .collect()
}

fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(n)) => n.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}
