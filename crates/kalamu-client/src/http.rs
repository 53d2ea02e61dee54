//! The hub's API over HTTP, one method per endpoint.

use std::time::Duration;

use kalamu_core::store::now_millis;
use kalamu_core::sync::HubAddress;
use kalamu_core::sync::enrolment;
use kalamu_core::sync::protocol::{
    self, CatalogEntry, EnrollRequest, EnrollResponse, Health, PullRequest, PushAck, VectorResponse,
};
use kalamu_core::sync::wire::MAX_PULL_BYTES;
use serde::de::DeserializeOwned;

use crate::error::{ClientError, Result};
use crate::tls::{Presented, Trust};

/// The first characters of a key's fingerprint, enough for people to compare.
pub fn short(fingerprint: &str) -> String {
    if fingerprint.is_empty() {
        "no key (plain HTTP)".to_owned()
    } else {
        fingerprint.chars().take(16).collect()
    }
}

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
    trust: Trust,
    presented: Presented,
}

impl HubClient {
    /// A client for a first contact with the hub at `url` (enrolment, or
    /// asking whether it is there): it accepts any TLS key and notes it.
    /// Each request gives up after `timeout`.
    pub fn new(url: &str, token: Option<String>, timeout: Duration) -> Result<HubClient> {
        HubClient::build(url, token, timeout, Trust::FirstContact)
    }

    /// A client for the hub this laptop enrolled with, trusting only the key it pinned.
    pub fn pinned(hub: &HubAddress, token: Option<String>, timeout: Duration) -> Result<HubClient> {
        HubClient::build(&hub.url, token, timeout, Trust::Pinned(hub.key.clone()))
    }

    fn build(url: &str, token: Option<String>, timeout: Duration, trust: Trust) -> Result<HubClient> {
        let base = url.trim().trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base).map_err(|_| ClientError::BadUrl(url.to_owned()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ClientError::BadUrl(url.to_owned()));
        }
        let presented = Presented::default();
        let tls = crate::tls::config(trust.clone(), presented.clone())
            .map_err(|e| ClientError::Protocol { url: base.clone(), detail: e.to_string() })?;
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            // A laptop talks to its center's hub directly; a system proxy would only get in the way.
            .no_proxy()
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| ClientError::Protocol { url: base.clone(), detail: e.to_string() })?;
        Ok(HubClient { http, base, token, trust, presented })
    }

    /// The same hub and connection pool with another credential.
    pub fn with_token(&self, token: String) -> HubClient {
        HubClient { token: Some(token), ..self.clone() }
    }

    /// Whether requests go over TLS.
    pub fn is_tls(&self) -> bool {
        self.base.starts_with("https:")
    }

    /// The fingerprint of the TLS key the hub presented last; none before a
    /// TLS connection, or on plain HTTP.
    pub fn presented_key(&self) -> Option<String> {
        self.presented.lock().unwrap_or_else(|p| p.into_inner()).clone()
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
        if let Trust::Pinned(pinned) = &self.trust
            && let Some(presented) = self.presented_key()
            && pinned.as_ref() != Some(&presented)
        {
            return ClientError::HubKeyChanged {
                url: self.base.clone(),
                pinned: pinned.clone().unwrap_or_else(|| "none".into()),
                presented,
            };
        }
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

    /// Trades a one-time code for a device credential, without sending the
    /// code: both sides prove they hold it over the TLS key this laptop sees
    /// ([`kalamu_core::sync::enrolment`]). Returns the hub's answer and the
    /// address to keep, with the key to pin.
    pub async fn enroll(
        &self,
        code: &str,
        device_id: &str,
        device_name: &str,
        device_key: &str,
    ) -> Result<(EnrollResponse, HubAddress)> {
        // The hub's own word on its key: a machine in the middle that passes
        // it on unchanged is caught here, before any proof is made.
        let health = self.health().await?;
        let seen = match self.presented_key() {
            Some(seen) if self.is_tls() => seen,
            _ if self.is_tls() => return Err(self.intercepted("no TLS key was presented")),
            _ => String::new(),
        };
        if health.hub_key != seen {
            return Err(self.intercepted(&format!(
                "the hub says its key is {}, but this laptop was shown {}",
                short(&health.hub_key),
                short(&seen)
            )));
        }
        let key = enrolment::code_key(code);
        let nonce = enrolment::fresh_nonce();
        let req = EnrollRequest {
            code_proof: enrolment::proof(enrolment::Side::Laptop, &key, &seen, &nonce),
            nonce: nonce.clone(),
            device_id: device_id.to_owned(),
            device_name: device_name.to_owned(),
            device_key: Some(device_key.to_owned()),
        };
        let answer: EnrollResponse =
            self.json(self.request(reqwest::Method::POST, protocol::ENROLL).json(&req)).await?;
        // Requests may have used another connection; each must have shown the same key.
        if self.is_tls() && self.presented_key().as_deref() != Some(seen.as_str()) {
            return Err(self.intercepted("the hub's TLS key changed during enrolment"));
        }
        if !enrolment::proof_holds(&answer.hub_proof, enrolment::Side::Hub, &key, &seen, &nonce) {
            return Err(self.intercepted("the answer does not prove it knows the code"));
        }
        let pinned = self.is_tls().then_some(seen);
        Ok((answer, HubAddress { url: self.base.clone(), key: pinned }))
    }

    fn intercepted(&self, detail: &str) -> ClientError {
        ClientError::Intercepted { url: self.base.clone(), detail: detail.to_owned() }
    }

    /// What the hub holds of this laptop's center.
    pub async fn vector(&self) -> Result<VectorResponse> {
        self.json(self.request(reqwest::Method::GET, protocol::VECTOR)).await
    }

    /// What a center's hub relaying here must apply: revocations and required courses.
    pub async fn relay_down(&self) -> Result<kalamu_core::sync::protocol::RelayDown> {
        self.json(self.request(reqwest::Method::GET, protocol::RELAY_DOWN)).await
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

    /// Offers the hub the hash of this laptop's next credential.
    pub async fn offer_token(&self, next_token_hash: &str) -> Result<()> {
        let offer = protocol::TokenOffer { next_token_hash: next_token_hash.to_owned() };
        self.send(self.request(reqwest::Method::POST, protocol::TOKEN).json(&offer)).await.map(drop)
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
