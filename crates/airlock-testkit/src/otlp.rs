//! A real OTLP/HTTP receiver on a free loopback port: it accepts `POST /v1/traces` and
//! `POST /v1/metrics` (protobuf), decodes them with the `opentelemetry-proto` types and keeps
//! them for the test to read. It runs on a thread of its own and stops when dropped.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a receiver that cannot start stops the test

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{Metric, metric};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

#[derive(Default)]
struct Received {
    /// Keep what is received (`false`: only count it, for benchmarks).
    keep: bool,
    traces: Vec<ExportTraceServiceRequest>,
    metrics: Vec<ExportMetricsServiceRequest>,
    spans: u64,
}

/// The receiver. Its base URL is what `[telemetry] endpoint` (or
/// `OTEL_EXPORTER_OTLP_ENDPOINT`) takes.
pub struct OtlpReceiver {
    port: u16,
    received: Arc<Mutex<Received>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OtlpReceiver {
    /// Start listening, keeping everything received.
    pub fn start() -> OtlpReceiver {
        OtlpReceiver::listen(true)
    }

    /// Start listening, decoding everything but only counting the spans (for benchmarks that
    /// send millions).
    pub fn counting() -> OtlpReceiver {
        OtlpReceiver::listen(false)
    }

    /// Spans received so far.
    pub fn span_count(&self) -> u64 {
        self.received.lock().unwrap().spans
    }

    fn listen(keep: bool) -> OtlpReceiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Received {
            keep,
            ..Received::default()
        }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = received.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let app = axum::Router::new()
                    .route("/v1/traces", axum::routing::post(traces))
                    .route("/v1/metrics", axum::routing::post(metrics))
                    .with_state(state);
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        OtlpReceiver {
            port,
            received,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Span> {
        let r = self.received.lock().unwrap();
        r.traces
            .iter()
            .flat_map(|t| &t.resource_spans)
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| ss.spans.clone())
            .collect()
    }

    /// The `service.name` of every batch of spans received.
    pub fn service_names(&self) -> Vec<String> {
        let r = self.received.lock().unwrap();
        r.traces
            .iter()
            .flat_map(|t| &t.resource_spans)
            .filter_map(|rs| rs.resource.as_ref())
            .filter_map(|res| string_attribute(&res.attributes, "service.name"))
            .collect()
    }

    /// Every metric received so far (each export's copy).
    pub fn metrics(&self) -> Vec<Metric> {
        let r = self.received.lock().unwrap();
        r.metrics
            .iter()
            .flat_map(|m| &m.resource_metrics)
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| sm.metrics.clone())
            .collect()
    }

    /// Wait (up to `within`) until `ready` holds for what was received.
    pub fn wait_for(&self, within: Duration, ready: impl Fn(&OtlpReceiver) -> bool) -> bool {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if ready(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        ready(self)
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn traces(State(r): State<Arc<Mutex<Received>>>, body: Bytes) -> impl IntoResponse {
    decode_into(
        body,
        ExportTraceServiceResponse::default(),
        |req: ExportTraceServiceRequest| {
            let mut r = r.lock().unwrap();
            r.spans += req
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len() as u64)
                .sum::<u64>();
            if r.keep {
                r.traces.push(req);
            }
        },
    )
}

async fn metrics(State(r): State<Arc<Mutex<Received>>>, body: Bytes) -> impl IntoResponse {
    decode_into(
        body,
        ExportMetricsServiceResponse::default(),
        |req: ExportMetricsServiceRequest| {
            let mut r = r.lock().unwrap();
            if r.keep {
                r.metrics.push(req);
            }
        },
    )
}

/// Decode an export request `T` and hand it to `keep`: `answer` (encoded) with 200, or 400
/// with why it did not decode.
fn decode_into<T: Message + Default>(
    body: Bytes,
    answer: impl Message,
    keep: impl FnOnce(T),
) -> (StatusCode, Vec<u8>) {
    match T::decode(body) {
        Ok(req) => {
            keep(req);
            (StatusCode::OK, answer.encode_to_vec())
        }
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string().into_bytes()),
    }
}

/// A string attribute's value.
pub fn string_attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref().and_then(|v: &AnyValue| v.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => Some(s.clone()),
            Some(any_value::Value::IntValue(i)) => Some(i.to_string()),
            Some(any_value::Value::BoolValue(b)) => Some(b.to_string()),
            _ => None,
        }
    })
}

/// The data points of a metric as `(attributes, value)`: sums and gauges by their value,
/// histograms by their count.
pub fn points(metric: &Metric) -> Vec<(Vec<(String, String)>, f64)> {
    use opentelemetry_proto::tonic::metrics::v1::number_data_point;
    let attrs = |kvs: &[KeyValue]| -> Vec<(String, String)> {
        kvs.iter()
            .map(|kv| {
                (
                    kv.key.clone(),
                    string_attribute(std::slice::from_ref(kv), &kv.key).unwrap_or_default(),
                )
            })
            .collect()
    };
    let number = |p: &opentelemetry_proto::tonic::metrics::v1::NumberDataPoint| match p.value {
        Some(number_data_point::Value::AsDouble(v)) => v,
        Some(number_data_point::Value::AsInt(v)) => v as f64,
        None => f64::NAN,
    };
    match &metric.data {
        Some(metric::Data::Sum(s)) => s
            .data_points
            .iter()
            .map(|p| (attrs(&p.attributes), number(p)))
            .collect(),
        Some(metric::Data::Gauge(g)) => g
            .data_points
            .iter()
            .map(|p| (attrs(&p.attributes), number(p)))
            .collect(),
        Some(metric::Data::Histogram(h)) => h
            .data_points
            .iter()
            .map(|p| (attrs(&p.attributes), p.count as f64))
            .collect(),
        _ => Vec::new(),
    }
}
