//! The hub's HTTP API: thin handlers that check the credential, parse,
//! call the storage, and map errors. Writes and every decode of a pushed
//! batch run off the async runtime; credential checks and pulls, a few
//! indexed reads mostly answered from the run cache, run in place: cheaper
//! than the two thread hand-offs a worker costs.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kalamu_core::store::now_millis;
use kalamu_core::sync::Batch;
use kalamu_core::sync::bundle::token_hash;
use kalamu_core::sync::enrolment;
use kalamu_core::sync::protocol::{
    self, CatalogEntry, EnrollRequest, EnrollResponse, Health, PullRequest, PushAck, VectorResponse,
};
use kalamu_core::sync::wire::{MAX_BATCH_BYTES, MAX_BATCH_EVENTS, append_frame};
use serde::de::DeserializeOwned;

use crate::error::{HubError, Result};
use crate::storage::{Caller, Storage};

/// Largest JSON request body.
const MAX_JSON: usize = 1 << 20;

type Store = Arc<dyn Storage>;

/// The fingerprint of the TLS key the hub serves with (empty on plain HTTP),
/// which enrolment proofs cover.
#[derive(Debug, Clone)]
pub struct HubKey(pub String);

/// The hub's bundle key (Ed25519 public key, hex), which laptops learn at
/// enrolment: its bundles are signed with it and theirs encrypted to it.
#[derive(Debug, Clone)]
pub struct BundleKey(pub String);

/// The keys the hub tells laptops of: the TLS key they pin, its bundle key.
#[derive(Debug, Clone)]
pub struct Keys {
    /// The fingerprint laptops pin: the hub's TLS key, or its TLS proxy's; empty on plain HTTP.
    pub tls: HubKey,
    /// The hub's bundle key.
    pub bundle: BundleKey,
}

impl BundleKey {
    /// The bundle key of the hub this storage belongs to.
    pub fn of(store: &dyn Storage) -> Result<BundleKey> {
        let key = crate::tls::bundle_key(store)?;
        Ok(BundleKey(kalamu_core::sync::seal::bundle_key_hex(&key.verifying_key())))
    }
}

/// The hub's routes over a storage, serving with the TLS key `hub_key`.
pub fn router(store: Store, hub_key: HubKey, bundle_key: BundleKey) -> Router {
    Router::new()
        .route(protocol::HEALTH, get(health))
        .route(protocol::ENROLL, post(enroll))
        .route(protocol::VECTOR, get(vector))
        .route(protocol::PUSH, post(push))
        .route(protocol::PULL, post(pull))
        .route(protocol::CATALOG, get(catalog))
        .route(protocol::HELD, post(held_packs))
        .route(protocol::TOKEN, post(offer_token))
        .route(protocol::RELAY_DOWN, get(relay_down))
        .route(&format!("{}/{{pack}}", protocol::PACKS), get(pack_file))
        .route(&format!("{}/{{pack}}/{}", protocol::PACKS, protocol::PATCH_SUFFIX), post(pack_patch))
        .merge(crate::web::routes())
        .fallback(|| async { HubError::BadRequest("no such endpoint".into()) })
        .layer(axum::Extension(hub_key))
        .layer(axum::Extension(bundle_key))
        .with_state(store)
}

/// Serves the hub on `listener` until the process is asked to stop: over
/// TLS with `tls`, else plain HTTP; health and enrolments tell of `keys`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Store,
    tls: Option<crate::tls::HubTls>,
    keys: Keys,
) -> std::io::Result<()> {
    let Keys { tls: hub_key, bundle: bundle_key } = keys;
    // Staff sign-ins are limited per address, which the handlers read from the connection.
    let app =
        router(store, hub_key, bundle_key).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let guarded = crate::listener::Guarded::new(listener, tls.map(|t| t.acceptor));
    // `tap_io` (doing nothing) is how axum hands a custom listener's peer address to `ConnectInfo`.
    let listener = axum::serve::ListenerExt::tap_io(guarded, |_| {});
    axum::serve(listener, app).with_graceful_shutdown(stop_signal()).await
}

async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("signal handlers install");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Storage calls running at once. More would only thrash: the writer is one
/// thread and reads are CPU-bound; beyond this, requests wait their turn in order.
static WORKERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(6);

/// Pushes in progress at once, so that memory stays bounded however many
/// laptops push. As many as the writer commits in one group: the more wait
/// together, the fewer commits it makes.
static PUSHES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(crate::sqlite::GROUP);

/// Pack downloads served at once.
static DOWNLOADS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(16);

/// Runs blocking storage work off the async runtime, in turn with the other workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    let _turn = WORKERS.acquire().await.map_err(|_| stopping())?;
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(HubError::Io(std::io::Error::other(format!("a hub worker failed: {e}")))))
}

/// Makes a staff page off the async runtime: storage writes and password
/// hashes block. Pages wait their turn with the other workers.
pub(crate) async fn blocking_page(f: impl FnOnce() -> Response + Send + 'static) -> Response {
    let Ok(_turn) = WORKERS.acquire().await else { return stopping().into_response() };
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        HubError::Io(std::io::Error::other(format!("a hub worker failed: {e}"))).into_response()
    })
}

fn stopping() -> HubError {
    HubError::Commit("the hub is stopping".into())
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes> {
    axum::body::to_bytes(body, limit).await.map_err(|_| HubError::TooLarge(limit))
}

async fn read_json<T: DeserializeOwned>(body: Body) -> Result<T> {
    let bytes = read_body(body, MAX_JSON).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| HubError::BadRequest(format!("the JSON body is not understood ({e})")))
}

/// The caller behind the request's credential: handlers that take a
/// `Caller` run only for an enrolled, unrevoked laptop.
impl axum::extract::FromRequestParts<Store> for Caller {
    type Rejection = HubError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, store: &Store) -> Result<Caller> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(HubError::NoCredential)?;
        // One indexed lookup, a few microseconds: cheaper right here than the
        // two thread hand-offs of sending it to a worker and back.
        let caller = store.authenticate(&token_hash(token.trim()))?;
        if caller.by_next_token {
            // The laptop holds its new credential for sure now: the old one dies.
            let (store, device) = (store.clone(), caller.device_id.clone());
            blocking(move || store.adopt_token(&device)).await?;
        }
        Ok(caller)
    }
}

async fn health(axum::Extension(HubKey(hub_key)): axum::Extension<HubKey>) -> Response {
    axum::Json(Health {
        service: "kalamu-hub".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        time_ms: now_millis(),
        hub_key,
    })
    .into_response()
}

/// Wrong enrolment codes by address, for this process.
static ENROL_LIMIT: std::sync::LazyLock<crate::enrol_limit::EnrolLimit> =
    std::sync::LazyLock::new(Default::default);

/// The client's address: the peer's, or behind a reverse proxy on the hub's
/// own box (every request then comes from loopback), the one the proxy added
/// last, so that one guesser cannot make everyone wait.
pub(crate) fn client_ip(headers: &HeaderMap, peer: Option<std::net::IpAddr>) -> Option<std::net::IpAddr> {
    let forwarded = peer.filter(std::net::IpAddr::is_loopback).and_then(|_| {
        let list = headers.get("x-forwarded-for")?.to_str().ok()?;
        list.rsplit(',').next()?.trim().parse::<std::net::IpAddr>().ok()
    });
    forwarded.or(peer)
}

async fn enroll(
    State(store): State<Store>,
    axum::Extension(HubKey(hub_key)): axum::Extension<HubKey>,
    axum::Extension(BundleKey(hub_bundle_key)): axum::Extension<BundleKey>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<EnrollResponse>> {
    let address = client_ip(&headers, Some(peer.ip())).unwrap_or(peer.ip());
    // Before anything is read or written: guesses never wait beside pushes.
    ENROL_LIMIT.check(address, std::time::Instant::now())?;
    let req: EnrollRequest = read_json(body).await?;
    if uuid::Uuid::try_parse(&req.device_id).is_err() {
        return Err(HubError::BadRequest("device_id is not a UUID".into()));
    }
    let key =
        match &req.device_key {
            None => None,
            Some(k) => Some(kalamu_core::sync::proof::parse_public_key(k).ok_or_else(|| {
                HubError::BadRequest("device_key is not an Ed25519 public key in hex".into())
            })?),
        };
    let name: String = req.device_name.trim().chars().take(80).collect();
    if name.chars().any(char::is_control) {
        // It is shown to staff, in a terminal among other places.
        return Err(HubError::BadRequest("device_name holds control characters".into()));
    }
    let name = if name.is_empty() { "laptop".to_owned() } else { name };
    let token = kalamu_core::sync::protocol::new_token();
    let hash = token_hash(&token);
    let nonce = req.nonce.clone();
    let logged = format!("laptop {} ({name})", req.device_id);
    let enrolled = blocking(move || {
        let now = now_millis();
        // Codes that expired lately still match, so a late laptop hears "expired", not "wrong".
        let keys = store.enroll_code_keys(now - i64::from(crate::admin::MAX_CODE_MINUTES) * 60_000)?;
        let (code, code_key) = crate::rules::code_of_proof(&keys, &req.code_proof, &hub_key, &req.nonce)
            .ok_or(HubError::BadCode)?;
        let center = store.enroll(&code, &req.device_id, &name, &hash, key, now)?;
        Ok((center, code_key, hub_key))
    })
    .await;
    let center = match enrolled {
        Err(
            e @ (HubError::BadCode
            | HubError::CodeUsed
            | HubError::CodeExpired
            | HubError::CodeForAnotherDevice),
        ) => {
            let n = ENROL_LIMIT.failed(address, std::time::Instant::now());
            tracing::warn!("enrolment refused from {address}: {e} ({n} wrong codes in 10 min)");
            return Err(e);
        }
        other => other?,
    };
    let (center, code_key, hub_key) = center;
    tracing::info!("enrolled {logged} into {} from {address}", center.name);
    Ok(axum::Json(EnrollResponse {
        center_id: center.id,
        center_name: center.name,
        device_token: token,
        hub_bundle_key,
        hub_proof: enrolment::proof(enrolment::Side::Hub, &code_key, &hub_key, &nonce),
    }))
}

async fn offer_token(State(store): State<Store>, who: Caller, body: Body) -> Result<StatusCode> {
    let offer: protocol::TokenOffer = read_json(body).await?;
    let hash = offer.next_token_hash;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(HubError::BadRequest("next_token_hash is not a BLAKE3 hash in hex".into()));
    }
    blocking(move || store.offer_token(&who.device_id, &hash.to_ascii_lowercase())).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a center's hub relaying to this one must apply: its center's
/// revocations and required courses. Laptops are refused.
async fn relay_down(State(store): State<Store>, who: Caller) -> Result<axum::Json<protocol::RelayDown>> {
    if !who.relay {
        return Err(HubError::BadRequest("only a center's hub that relays here asks this".into()));
    }
    let down = blocking(move || {
        let revoked = store
            .devices(Some(&who.center_id))?
            .into_iter()
            .filter(|d| d.revoked_at.is_some())
            .map(|d| d.id)
            .collect();
        Ok(protocol::RelayDown { revoked, required: store.required(&who.center_id)? })
    })
    .await?;
    Ok(axum::Json(down))
}

async fn vector(
    State(store): State<Store>,
    axum::Extension(BundleKey(hub_bundle_key)): axum::Extension<BundleKey>,
    who: Caller,
    headers: HeaderMap,
) -> Result<axum::Json<VectorResponse>> {
    let now = now_millis();
    let offset = clock_offset(&headers, now);
    let vector = blocking(move || {
        store.note_seen(&who.device_id, now, offset)?;
        store.vector(&who.center_id)
    })
    .await?;
    Ok(axum::Json(VectorResponse { vector, hub_time_ms: now, hub_bundle_key: Some(hub_bundle_key) }))
}

/// The laptop's clock minus the hub's, from the request's clock header.
fn clock_offset(headers: &HeaderMap, now: i64) -> Option<i64> {
    headers
        .get(protocol::CLOCK_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .map(|clock| clock.saturating_sub(now))
}

async fn push(State(store): State<Store>, who: Caller, body: Body) -> Result<axum::Json<PushAck>> {
    let bytes = read_body(body, MAX_BATCH_BYTES).await?;
    let _turn = PUSHES.acquire().await.map_err(|_| stopping())?;
    let queue = move || {
        let batch = Batch::decode(&bytes)?;
        // A laptop speaks for itself; a center's hub for one laptop of its center at a time.
        let device = if who.relay {
            let device = crate::rules::relayed_device(&who.device_id, &batch)?;
            store.relayed_devices(&who.center_id, std::slice::from_ref(&device), now_millis())?;
            device
        } else {
            crate::rules::from_laptop(&who.device_id, &batch)?;
            who.device_id.clone()
        };
        // The signature is checked here, beside the other pushes; the writer only sees it still holds.
        let checked = Some(store.precheck(&device, &batch)?);
        let incoming = crate::storage::Incoming { batch, wire: bytes.into(), checked };
        Ok(store.push(&who.center_id, &device, vec![incoming], now_millis()))
    };
    // Decoding is the laptop's work done on the hub's CPU, bounded but not
    // small: never on the async threads, where it would stall every other request.
    let committing = blocking(queue).await?;
    let (applied, vector) = committing.await.map_err(|_| stopping())??;
    Ok(axum::Json(PushAck { received: applied.received, new: applied.new, vector }))
}

async fn pull(State(store): State<Store>, who: Caller, headers: HeaderMap, body: Body) -> Result<Response> {
    let req: PullRequest = read_json(body).await?;
    let limit = req.limit.clamp(1, MAX_BATCH_EVENTS);
    let now = now_millis();
    let offset = clock_offset(&headers, now);
    // Every sync ends here: when the laptop was seen, and how far off its clock is.
    store.note_seen(&who.device_id, now, offset)?;
    // In place, as the credential check: in a burst of a thousand laptops
    // this took 13% off the hub's CPU. A pull's work is bounded: it reads the
    // runs of at most `limit` events and a batch's bytes, and re-encodes at
    // most the runs the laptop holds part of.
    let pulled = store.pull(&who.center_id, &req.vector, limit)?;
    let mut body = Vec::with_capacity(pulled.frames.iter().map(|f| f.len() + 4).sum());
    for frame in &pulled.frames {
        append_frame(&mut body, frame);
    }
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(protocol::BATCHES_TYPE));
    headers.insert(protocol::MORE_HEADER, HeaderValue::from_static(if pulled.more { "1" } else { "0" }));
    headers.insert(protocol::BEHIND_HEADER, HeaderValue::from_static(if pulled.behind { "1" } else { "0" }));
    headers.insert(protocol::TIME_HEADER, HeaderValue::from(now));
    Ok(response)
}

async fn catalog(State(store): State<Store>, who: Caller) -> Result<axum::Json<Vec<CatalogEntry>>> {
    Ok(axum::Json(blocking(move || crate::catalog::entries(&*store, Some(&who.center_id))).await?))
}

/// Most packs a laptop may say it holds at once.
const MAX_HELD: usize = 1_000;

async fn held_packs(State(store): State<Store>, who: Caller, body: Body) -> Result<StatusCode> {
    let req: protocol::HeldPacks = read_json(body).await?;
    let sane = |t: &str, most: usize| {
        !t.is_empty()
            && t.len() <= most
            && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
    };
    if req.packs.len() > MAX_HELD || req.packs.iter().any(|(id, v)| !sane(id, 200) || !sane(v, 100)) {
        return Err(HubError::BadRequest(format!(
            "at most {MAX_HELD} packs, with ids and versions of sane length"
        )));
    }
    blocking(move || store.set_held_packs(&who.device_id, &req.packs, now_millis())).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A pack file, whole or from where an interrupted download stopped
/// (`Range: bytes=N-`, honoured only with the `If-Range` of the same file),
/// streamed piece by piece from the database.
async fn pack_file(
    State(store): State<Store>,
    _who: Caller,
    axum::extract::Path(pack): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Result<Response> {
    let held = store.clone();
    let wanted = pack.clone();
    let entry = blocking(move || {
        held.packs()?
            .iter()
            .find(|p| p.manifest.id == wanted)
            .map(crate::catalog::entry)
            .ok_or_else(|| HubError::NotFound(format!("pack {wanted}")))
    })
    .await?;
    let total = entry.bytes;
    let same_file = headers.get(header::IF_RANGE).is_none_or(|v| v.as_bytes() == entry.etag.as_bytes());
    let start = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(range) if same_file => parse_range_start(range).ok_or_else(|| {
            HubError::BadRequest(format!("the range {range:?} is not one this hub serves (bytes=N-)"))
        })?,
        _ => 0,
    };
    if start > total || (start == total && total > 0 && headers.contains_key(header::RANGE) && same_file) {
        let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
        response.headers_mut().insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!("bytes */{total}")).expect("ascii"),
        );
        return Ok(response);
    }
    // A bounded number at once, so slow downloads cannot take the threads
    // pushes and pages need; the others wait their turn.
    let turn = DOWNLOADS.acquire().await.map_err(|_| stopping())?;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(2);
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let piece = crate::storage::PACK_PIECE;
        let mut at = start;
        while at < total {
            let n = at / piece;
            let bytes = match store.pack_piece(&pack, n) {
                Ok(Some(b)) => b,
                Ok(None) => {
                    let _ =
                        tx.blocking_send(Err(std::io::Error::other("the pack was unpublished meanwhile")));
                    return;
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                    return;
                }
            };
            let from = (at - n * piece) as usize;
            if from >= bytes.len() {
                let _ =
                    tx.blocking_send(Err(std::io::Error::other("the stored pack is shorter than its size")));
                return;
            }
            at += (bytes.len() - from) as u64;
            if tx.blocking_send(Ok(Bytes::from(bytes).slice(from..))).is_err() {
                return; // the laptop went away
            }
        }
    });
    let body = Body::new(ChannelBody(rx));
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/vnd.kalamu.pack+zip"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(total - start));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::ETAG, HeaderValue::from_str(&entry.etag).expect("etags are ascii"));
    if start > 0 {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        let range = format!("bytes {start}-{}/{total}", total - 1);
        response.headers_mut().insert(header::CONTENT_RANGE, HeaderValue::from_str(&range).expect("ascii"));
    }
    Ok(response)
}

/// What an upgrade needs beyond what the laptop holds, as a patch.
async fn pack_patch(
    State(store): State<Store>,
    _who: Caller,
    axum::extract::Path(pack): axum::extract::Path<String>,
    body: Body,
) -> Result<Response> {
    let req: protocol::PatchRequest = read_json(body).await?;
    let _turn = DOWNLOADS.acquire().await.map_err(|_| stopping())?;
    let bytes = blocking(move || crate::catalog::patch(&*store, &pack, &req.have)).await?;
    let mut response = bytes.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/vnd.kalamu.patch+zip"));
    Ok(response)
}

/// `bytes=N-` (or `bytes=N-M`, served to the end all the same, which a client may read as it likes).
fn parse_range_start(range: &str) -> Option<u64> {
    let spec = range.trim().strip_prefix("bytes=")?;
    let (start, _) = spec.split_once('-')?;
    if spec.contains(',') {
        return None;
    }
    start.trim().parse().ok()
}

/// A response body fed piece by piece from a blocking reader.
struct ChannelBody(tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::result::Result<http_body::Frame<Bytes>, std::io::Error>>> {
        self.0.poll_recv(cx).map(|next| next.map(|r| r.map(http_body::Frame::data)))
    }
}
