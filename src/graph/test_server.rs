//! Unit-test harness: a loopback HTTP "Graph" that answers a fixed script, for failure modes the emulator does
//! not produce (replication 403s, fractional `Retry-After`, 409 on a grant that is not readable yet, …).

use super::{GraphClient, GraphConfig, RetryPolicy};
use crate::auth::StaticToken;
use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

/// One expected request and the answer to it.
pub(crate) struct Step {
    method: Method,
    /// Prefix of the request's path and query (after the `/v1.0` base), e.g. `/applications/o1/addPassword`.
    path: String,
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    /// Wait this long before answering (to provoke client timeouts).
    delay: Duration,
}

impl Step {
    pub fn new(method: Method, path: &str, status: u16, body: serde_json::Value) -> Self {
        Self {
            method,
            path: path.to_owned(),
            status,
            headers: Vec::new(),
            body: if body.is_null() {
                String::new()
            } else {
                body.to_string()
            },
            delay: Duration::ZERO,
        }
    }

    /// A Graph error answer.
    pub fn error(method: Method, path: &str, status: u16, code: &str, message: &str) -> Self {
        Self::new(
            method,
            path,
            status,
            serde_json::json!({"error": {"code": code, "message": message}}),
        )
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

type Shared = (Arc<Mutex<VecDeque<Step>>>, Arc<Mutex<Vec<String>>>);

pub(crate) struct Server {
    pub client: GraphClient,
    /// `METHOD path?query body` of every request received, in order.
    pub seen: Arc<Mutex<Vec<String>>>,
    script: Arc<Mutex<VecDeque<Step>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Requests received so far.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// Asserts that every scripted step was requested, and nothing else.
    pub fn assert_done(&self) {
        let left = self.script.lock().unwrap().len();
        let seen = self.seen();
        assert_eq!(
            left, 0,
            "{left} scripted steps not requested; seen {seen:#?}"
        );
        assert!(
            seen.iter().all(|s| !s.starts_with("UNEXPECTED")),
            "{seen:#?}"
        );
    }
}

/// Retries fast, so tests are quick but still exercise the loop.
pub(crate) fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
        max_total_wait: Duration::from_secs(5),
    }
}

pub(crate) async fn serve(steps: Vec<Step>, retry: RetryPolicy, timeout: Duration) -> Server {
    let script = Arc::new(Mutex::new(steps.into_iter().collect::<VecDeque<_>>()));
    let seen = Arc::new(Mutex::new(Vec::new()));
    async fn handle(
        State((script, seen)): State<Shared>,
        method: Method,
        uri: Uri,
        body: String,
    ) -> Response {
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().trim_start_matches("/v1.0").to_owned())
            .unwrap_or_default();
        let step = {
            let mut script = script.lock().unwrap();
            match script.front() {
                Some(s) if s.method == method && path.starts_with(&s.path) => script.pop_front(),
                _ => None,
            }
        };
        let Some(step) = step else {
            seen.lock()
                .unwrap()
                .push(format!("UNEXPECTED {method} {path} {body}"));
            return (StatusCode::IM_A_TEAPOT, "unexpected request").into_response();
        };
        seen.lock().unwrap().push(format!("{method} {path} {body}"));
        if !step.delay.is_zero() {
            tokio::time::sleep(step.delay).await;
        }
        let mut response = (
            StatusCode::from_u16(step.status).unwrap(),
            [("content-type", "application/json")],
            step.body,
        )
            .into_response();
        for (name, value) in step.headers {
            response.headers_mut().insert(name, value.parse().unwrap());
        }
        response
    }
    let app = Router::new()
        .fallback(handle)
        .with_state((script.clone(), seen.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}/v1.0", listener.local_addr().unwrap())).unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    let mut cfg = GraphConfig::new(base, Arc::new(StaticToken("token".into())));
    cfg.retry = retry;
    cfg.timeout = timeout;
    Server {
        client: GraphClient::new(cfg).unwrap(),
        seen,
        script,
        task,
    }
}
