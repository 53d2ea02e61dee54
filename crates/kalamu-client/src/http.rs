//! The hub's API over HTTP, one method per endpoint.

use std::time::Duration;

use kalamu_core::store::now_millis;
use kalamu_core::sync::protocol::{
    self, CatalogEntry, EnrollRequest, EnrollResponse, Health, PullRequest, PushAck, VectorResponse,
};
use kalamu_core::sync::wire::MAX_PULL_BYTES;
use serde::de::DeserializeOwned;

use crate::error::{ClientError, Result};

/// Largest JSON answer a hub may give (a vector of a very large center fits many times over).
const MAX_JSON: usize = 16 << 20;

/// The hub's answer to a pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullAnswer {
    /// Encoded batches (see [`kalamu_core::sync::Batch::decode_frames`]).
    pub batches: Vec<u8>,
    /// The hub holds more than it sent.
    pub more: bool,
    /// This laptop holds events the hub lacks.
    pub behind: bool,
    /// The hub's clock (unix ms), if it said.
    pub hub_time_ms: Option<i64>,
}

/// A connection to one hub, with or without a device credential.
#[derive(Debug, Clone)]
pub struct HubClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl HubClient {
    /// A client for the hub at `url`; each request gives up after `timeout`.
    pub fn new(url: &str, token: Option<String>, timeout: Duration) -> Result<HubClient> {
        let base = url.trim().trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base).map_err(|_| ClientError::BadUrl(url.to_owned()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ClientError::BadUrl(url.to_owned()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            // A laptop talks to its center's hub directly; a system proxy would only get in the way.
            .no_proxy()
            .build()
            .map_err(|e| ClientError::Protocol { url: base.clone(), detail: e.to_string() })?;
        Ok(HubClient { http, base, token })
    }

    /// The same hub and connection pool with another credential.
    pub fn with_token(&self, token: String) -> HubClient {
        HubClient { http: self.http.clone(), base: self.base.clone(), token: Some(token) }
    }

    /// The hub's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(protocol::CLOCK_HEADER, now_millis().to_string());
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        req
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let response = req.send().await.map_err(|e| self.unreachable(e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
        match serde_json::from_slice::<kalamu_core::sync::protocol::ErrorBody>(&bytes) {
            Ok(body) => {
                Err(ClientError::Refused { status, code: body.code, message: body.message, seq: body.seq })
            }
            Err(_) => Err(ClientError::Protocol {
                url: self.base.clone(),
                detail: format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes[..bytes.len().min(200)])),
            }),
        }
    }

    async fn json<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T> {
        let bytes = self.body_at_most(self.send(req).await?, MAX_JSON).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ClientError::Protocol { url: self.base.clone(), detail: e.to_string() })
    }

    /// The body of `response`; a hub that sends more than `limit` bytes is not trusted further.
    async fn body_at_most(&self, mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>> {
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.unreachable(e))? {
            if body.len() + chunk.len() > limit {
                return Err(ClientError::Protocol {
                    url: self.base.clone(),
                    detail: format!("it sent more than the {limit} bytes such an answer may have"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    fn unreachable(&self, e: reqwest::Error) -> ClientError {
        let detail = if e.is_timeout() {
            "it did not answer in time".to_owned()
        } else if e.is_connect() {
            "no connection".to_owned()
        } else {
            "the connection broke".to_owned()
        };
        ClientError::Unreachable { url: self.base.clone(), detail }
    }

    /// Whether the hub is there, and its clock.
    pub async fn health(&self) -> Result<Health> {
        self.json(self.request(reqwest::Method::GET, protocol::HEALTH)).await
    }

    /// Trades a one-time code for a device credential.
    pub async fn enroll(&self, req: &EnrollRequest) -> Result<EnrollResponse> {
        self.json(self.request(reqwest::Method::POST, protocol::ENROLL).json(req)).await
    }

    /// What the hub holds of this laptop's center.
    pub async fn vector(&self) -> Result<VectorResponse> {
        self.json(self.request(reqwest::Method::GET, protocol::VECTOR)).await
    }

    /// Sends one encoded batch; returns once the hub has stored it.
    pub async fn push(&self, batch: Vec<u8>) -> Result<PushAck> {
        self.json(
            self.request(reqwest::Method::POST, protocol::PUSH)
                .header(reqwest::header::CONTENT_TYPE, protocol::BATCH_TYPE)
                .body(batch),
        )
        .await
    }

    /// Asks for what this laptop lacks.
    pub async fn pull(&self, req: &PullRequest) -> Result<PullAnswer> {
        let response = self.send(self.request(reqwest::Method::POST, protocol::PULL).json(req)).await?;
        let flag = |name: &str| response.headers().get(name).is_some_and(|v| v == "1");
        let (more, behind) = (flag(protocol::MORE_HEADER), flag(protocol::BEHIND_HEADER));
        let hub_time_ms = response
            .headers()
            .get(protocol::TIME_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let batches = self.body_at_most(response, MAX_PULL_BYTES).await?;
        Ok(PullAnswer { batches, more, behind, hub_time_ms })
    }

    /// Tells the hub which packs this laptop holds.
    pub async fn held_packs(&self, packs: Vec<(String, String)>) -> Result<()> {
        let req = self.request(reqwest::Method::POST, protocol::HELD).json(&protocol::HeldPacks { packs });
        self.send(req).await.map(drop)
    }

    /// The packs the hub offers.
    pub async fn catalog(&self) -> Result<Vec<CatalogEntry>> {
        self.json(self.request(reqwest::Method::GET, protocol::CATALOG)).await
    }

    /// A pack file from byte `from` on, if it is still the file `etag` names
    /// (else the hub sends it whole, with status 200). Long transfers are
    /// not cut by the client's timeout; their reads are.
    pub async fn pack_file(&self, pack_id: &str, from: u64, etag: &str) -> Result<reqwest::Response> {
        let mut req = self
            .request(reqwest::Method::GET, &format!("{}/{pack_id}", protocol::PACKS))
            .timeout(Duration::from_secs(7 * 24 * 3600));
        if from > 0 {
            req = req
                .header(reqwest::header::RANGE, format!("bytes={from}-"))
                .header(reqwest::header::IF_RANGE, etag);
        }
        self.headers_in_time(req).await
    }

    /// Sends a long transfer's request; its answer must begin within the usual timeout.
    async fn headers_in_time(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        tokio::time::timeout(crate::DEFAULT_TIMEOUT, self.send(req)).await.unwrap_or_else(|_| {
            Err(ClientError::Unreachable {
                url: self.base.clone(),
                detail: "it did not answer in time".into(),
            })
        })
    }

    /// A patch that upgrades pack `pack_id` from the contents in `have`; at most `limit` bytes.
    pub async fn pack_patch(&self, pack_id: &str, have: Vec<String>, limit: u64) -> Result<Vec<u8>> {
        let path = format!("{}/{pack_id}/{}", protocol::PACKS, protocol::PATCH_SUFFIX);
        let req = self
            .request(reqwest::Method::POST, &path)
            .timeout(Duration::from_secs(24 * 3600))
            .json(&protocol::PatchRequest { have });
        let mut response = self.headers_in_time(req).await?;
        let mut body = Vec::new();
        while let Some(chunk) = self.next_chunk(&mut response, Duration::from_secs(60)).await? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(ClientError::Protocol {
                    url: self.base.clone(),
                    detail: format!("its patch is larger than the {limit} bytes it may be"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The next bytes of a download; none at its end. A link that stalls for
    /// `stall` counts as cut.
    pub async fn next_chunk(
        &self,
        response: &mut reqwest::Response,
        stall: Duration,
    ) -> Result<Option<Vec<u8>>> {
        match tokio::time::timeout(stall, response.chunk()).await {
            Err(_) => Err(ClientError::Unreachable {
                url: self.base.clone(),
                detail: "the download stalled".into(),
            }),
            Ok(Err(e)) => Err(self.unreachable(e)),
            Ok(Ok(chunk)) => Ok(chunk.map(|c| c.to_vec())),
        }
    }
}
