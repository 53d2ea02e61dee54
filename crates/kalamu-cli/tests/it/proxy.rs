//! A fault-injecting TCP proxy on loopback, standing in for the links of a
//! real center: it cuts connections part-way, resets them, stalls them,
//! delivers slowly, and replays whole request streams to the hub.
//!
//! Each accepted connection takes the fault set at that moment; every
//! thread ends by itself (reads time out, the listener polls a stop flag).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What the proxy does to the next connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Pass everything through.
    None,
    /// Close both sides after this many bytes of requests (mid-batch).
    CutRequest(usize),
    /// Close both sides after this many bytes of responses: the hub stored
    /// the batch but the laptop never hears so.
    CutResponse(usize),
    /// Send a TCP reset to the laptop after this many bytes of requests.
    Reset(usize),
    /// Stop forwarding after this many bytes of requests and hold the connection.
    Stall(usize),
    /// Deliver both ways at about this many bytes per second.
    Slow(usize),
    /// Pass through, then send the laptop's whole request stream to the hub again.
    Replay,
}

/// A running proxy.
pub struct Proxy {
    /// Where laptops connect.
    pub addr: SocketAddr,
    fault: Arc<Mutex<Fault>>,
    stop: Arc<AtomicBool>,
    accept: Option<thread::JoinHandle<()>>,
    delivered: Arc<AtomicU64>,
}

const IO_TIMEOUT: Duration = Duration::from_secs(20);

impl Proxy {
    /// Starts a proxy in front of `upstream`.
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let fault = Arc::new(Mutex::new(Fault::None));
        let stop = Arc::new(AtomicBool::new(false));
        let delivered = Arc::new(AtomicU64::new(0));
        let (f, s, d) = (fault.clone(), stop.clone(), delivered.clone());
        let accept = thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let fault = *f.lock().unwrap();
                        let (s, d) = (s.clone(), d.clone());
                        thread::spawn(move || relay(client, upstream, fault, s, d));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Proxy { addr, fault, stop, accept: Some(accept), delivered }
    }

    /// The URL laptops use to reach the hub through the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Bytes of responses it has passed to laptops so far.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Sets the fault for connections accepted from now on.
    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn relay(
    client: TcpStream,
    upstream: SocketAddr,
    fault: Fault,
    stop: Arc<AtomicBool>,
    delivered: Arc<AtomicU64>,
) {
    let Ok(server) = TcpStream::connect_timeout(&upstream, IO_TIMEOUT) else { return };
    for s in [&client, &server] {
        s.set_nodelay(true).ok();
        s.set_read_timeout(Some(Duration::from_millis(200))).ok();
    }
    let captured = Arc::new(Mutex::new(Vec::new()));
    let up = {
        let (client, server) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        let (stop, captured) = (stop.clone(), captured.clone());
        thread::spawn(move || pump(client, server, Direction::Request, fault, stop, Some(captured), None))
    };
    let down = {
        let (client, server) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        let stop = stop.clone();
        thread::spawn(move || pump(server, client, Direction::Response, fault, stop, None, Some(delivered)))
    };
    let _ = up.join();
    let _ = down.join();
    if fault == Fault::Replay {
        let bytes = std::mem::take(&mut *captured.lock().unwrap());
        replay(upstream, &bytes);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Request,
    Response,
}

/// Copies `from` → `to`, applying the fault, until either side closes.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    dir: Direction,
    fault: Fault,
    stop: Arc<AtomicBool>,
    captured: Option<Arc<Mutex<Vec<u8>>>>,
    counted: Option<Arc<AtomicU64>>,
) {
    let count = |n: usize| {
        if let Some(c) = &counted {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
    };
    let mut buf = [0u8; 16 * 1024];
    let mut sent = 0usize;
    let mut idle = Duration::ZERO;
    let limit = match (fault, dir) {
        (Fault::CutRequest(n) | Fault::Reset(n) | Fault::Stall(n), Direction::Request) => Some(n),
        (Fault::CutResponse(n), Direction::Response) => Some(n),
        _ => None,
    };
    let chunk = match fault {
        Fault::Slow(rate) => (rate / 20).clamp(1, buf.len()),
        _ => buf.len(),
    };
    while !stop.load(Ordering::Relaxed) && idle < IO_TIMEOUT {
        let n = match from.read(&mut buf[..chunk]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                idle += Duration::from_millis(200);
                continue;
            }
            Err(_) => break,
        };
        idle = Duration::ZERO;
        let mut n = n;
        if let Some(limit) = limit
            && sent + n >= limit
        {
            n = limit - sent;
            if to.write_all(&buf[..n]).is_ok() {
                count(n);
            }
            return end(fault, from, to, dir, stop);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        count(n);
        if let Some(c) = &captured {
            c.lock().unwrap().extend_from_slice(&buf[..n]);
        }
        sent += n;
        if matches!(fault, Fault::Slow(_)) {
            thread::sleep(Duration::from_millis(50));
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn end(fault: Fault, from: TcpStream, to: TcpStream, dir: Direction, stop: Arc<AtomicBool>) {
    let client = if dir == Direction::Request { &from } else { &to };
    match fault {
        Fault::Reset(_) => {
            // Linger 0 turns the close into a reset, as a dropped mobile link does.
            let _ = socket2::SockRef::from(client).set_linger(Some(Duration::ZERO));
        }
        Fault::Stall(_) => {
            // Hold the connection open, silent, until the laptop gives up (or the test ends).
            let mut waited = Duration::ZERO;
            let mut probe = [0u8; 1024];
            while waited < IO_TIMEOUT && !stop.load(Ordering::Relaxed) {
                match client.peek(&mut probe) {
                    Ok(0) => break,
                    _ => {
                        thread::sleep(Duration::from_millis(100));
                        waited += Duration::from_millis(100);
                    }
                }
            }
        }
        _ => {}
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// Sends a captured request stream to the hub again and reads the answers away.
fn replay(upstream: SocketAddr, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    let Ok(mut s) = TcpStream::connect_timeout(&upstream, IO_TIMEOUT) else { return };
    s.set_read_timeout(Some(Duration::from_secs(2))).ok();
    let _ = s.write_all(bytes);
    let _ = s.shutdown(Shutdown::Write);
    let mut sink = [0u8; 16 * 1024];
    while let Ok(n) = s.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
}
