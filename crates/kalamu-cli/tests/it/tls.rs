//! TLS between laptop and hub, as an attacker on the LAN would meet it: a
//! recording relay sees no secret, and a machine in the middle with its own
//! key is refused at enrolment and at sync.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::fleet::{Hub, Laptop, PACK, ok};
use crate::stderr;

/// A TCP relay that keeps every byte it passes, both ways.
struct Recorder {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
}

impl Recorder {
    fn start(upstream: SocketAddr) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (seen, stop) = (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicBool::new(false)));
        let (s, st) = (seen.clone(), stop.clone());
        thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(5));
                    continue;
                };
                client.set_nonblocking(false).unwrap();
                let hub = TcpStream::connect(upstream).unwrap();
                for (from, to) in [(client.try_clone().unwrap(), hub.try_clone().unwrap()), (hub, client)] {
                    let s = s.clone();
                    thread::spawn(move || copy_recording(from, to, &s));
                }
            }
        });
        Recorder { addr, seen, stop }
    }

    fn bytes(&self) -> Vec<u8> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn copy_recording(mut from: TcpStream, mut to: TcpStream, seen: &Mutex<Vec<u8>>) {
    from.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf) {
        seen.lock().unwrap().extend_from_slice(&buf[..n]);
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

/// Ends the laptop's TLS with a key of its own and passes every byte on
/// unchanged, to a hub over TLS (a machine in the middle) or plain (a TLS
/// proxy in front of a `--plain-http` hub).
struct Impostor {
    addr: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

impl Impostor {
    fn start(upstream: SocketAddr) -> Impostor {
        Self::start_to(upstream, true)
    }

    fn start_to(upstream: SocketAddr, upstream_tls: bool) -> Impostor {
        let made = rcgen::generate_simple_self_signed(vec!["kalamu-hub".to_owned()]).unwrap();
        Self::with_identity(upstream, upstream_tls, made)
    }

    fn with_identity(
        upstream: SocketAddr,
        upstream_tls: bool,
        made: rcgen::CertifiedKey<rcgen::KeyPair>,
    ) -> Impostor {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![made.cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(made.signing_key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        // Towards the hub it trusts whatever answers, as an attacker would.
        let client =
            kalamu_client::tls::config(kalamu_client::tls::Trust::FirstContact, Default::default()).unwrap();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        runtime.spawn(async move {
            while let Ok((laptop, _)) = listener.accept().await {
                let (acceptor, connector) = (acceptor.clone(), connector.clone());
                tokio::spawn(async move {
                    let Ok(mut laptop) = acceptor.accept(laptop).await else { return };
                    let mut hub = tokio::net::TcpStream::connect(upstream).await.unwrap();
                    if !upstream_tls {
                        let _ = tokio::io::copy_bidirectional(&mut laptop, &mut hub).await;
                        return;
                    }
                    let name = rustls::pki_types::ServerName::try_from("kalamu-hub").unwrap();
                    let Ok(mut hub) = connector.connect(name, hub).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut laptop, &mut hub).await;
                });
            }
        });
        Impostor { addr, _runtime: runtime }
    }

    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

#[test]
fn over_tls_a_recording_relay_sees_no_code_credential_key_or_name() {
    let hub = Hub::start_tls();
    hub.add_center("Centre de Mamou");
    let code = hub.code("Centre de Mamou");
    let relay = Recorder::start(hub.addr);
    let laptop = Laptop::new();
    laptop.enroll(&format!("https://{}", relay.addr), &code, "Poste 3");
    let learner = laptop.add_learner("Mariama Bah");
    laptop.study(&learner, 12);
    ok(laptop.sync(None));
    // Everything arrived, over the relay.
    let (ids, _) = hub.event_ids();
    assert!(laptop.event_ids().iter().all(|id| ids.contains(id)), "every event reached the hub");
    // The laptop pinned the key the hub announced when it started.
    let link = laptop.store().hub_link().unwrap().unwrap();
    let pinned = link.hub_key.clone().expect("a key is pinned");
    assert!(hub.log().contains(&format!("TLS key {pinned}")), "{}", hub.log());
    let seen = relay.bytes();
    assert!(seen.len() > 1000, "the relay carried the enrolment and the sync ({} bytes)", seen.len());
    for secret in [code.as_str(), &code.replace('-', ""), &link.device_token, "Mariama Bah", PACK] {
        assert!(!contains(&seen, secret.as_bytes()), "the relay saw {secret:?}");
    }
}

#[test]
fn a_machine_in_the_middle_is_refused_at_enrolment_and_at_sync() {
    let hub = Hub::start_tls();
    hub.add_center("Centre de Kankan");
    let code = hub.code("Centre de Kankan");
    let impostor = Impostor::start(hub.addr);
    let laptop = Laptop::new();
    // Enrolment through the impostor stops before anything is kept; the code was never sent.
    let refused = laptop.run(&["enroll", "--hub", &impostor.url(), "--code", &code, "--name", "Poste 1"]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("posing as the hub"), "{}", stderr(&refused));
    assert!(laptop.store().hub_link().unwrap().is_none());
    let devices: i64 = hub.db().query_row("SELECT count(*) FROM devices", [], |r| r.get(0)).unwrap();
    assert_eq!(devices, 0, "the hub enrolled nobody");
    // The same code still enrols the laptop directly: the impostor could not use it up.
    laptop.enroll(&hub.url(), &code, "Poste 1");
    let learner = laptop.add_learner("Sekou Camara");
    laptop.study(&learner, 5);
    // A sync pointed at the impostor sends nothing: the key is not the pinned one.
    let diverted = laptop.sync(Some(&impostor.url()));
    assert!(!diverted.status.success());
    assert!(stderr(&diverted).contains("another TLS key"), "{}", stderr(&diverted));
    assert!(hub.event_ids().0.is_empty(), "nothing reached the hub through the impostor");
    // Back on the hub's own address, everything goes through.
    ok(laptop.sync(Some(&hub.url())));
    let (ids, _) = hub.event_ids();
    assert!(!ids.is_empty() && laptop.event_ids().iter().all(|id| ids.contains(id)));
}

#[test]
fn behind_a_tls_proxy_laptops_pin_the_proxys_key_and_refuse_any_other() {
    // The proxy's certificate, made before the hub starts so the hub can name it.
    let made = rcgen::generate_simple_self_signed(vec!["hub.example".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("proxy.pem");
    std::fs::write(&pem, made.cert.pem()).unwrap();
    let hub = Hub::start_behind_proxy(&pem);
    let proxy = Impostor::with_identity(hub.addr, false, made);
    hub.add_center("Centre de Labé");
    let laptop = Laptop::new();
    laptop.enroll(&proxy.url(), &hub.code("Centre de Labé"), "Poste 2");
    let pinned = laptop.store().hub_link().unwrap().unwrap().hub_key.expect("the proxy's key is pinned");
    assert!(hub.log().contains(&pinned), "the hub names the key it is behind: {}", hub.log());
    let learner = laptop.add_learner("Aïssatou Diallo");
    laptop.study(&learner, 4);
    ok(laptop.sync(None));
    assert_eq!(hub.event_ids().1, 5, "her addition and 4 events came through the proxy");
    // Another machine with its own key, in front of the same hub, is refused.
    let impostor = Impostor::start_to(hub.addr, false);
    let diverted = laptop.sync(Some(&impostor.url()));
    assert!(stderr(&diverted).contains("another TLS key"), "{}", stderr(&diverted));
    // And a laptop enrolling through it is stopped before the code is used.
    let other = Laptop::new();
    let code = hub.code("Centre de Labé");
    let refused = other.run(&["enroll", "--hub", &impostor.url(), "--code", &code, "--name", "Poste 9"]);
    assert!(stderr(&refused).contains("posing as the hub"), "{}", stderr(&refused));
    other.enroll(&proxy.url(), &code, "Poste 9");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
