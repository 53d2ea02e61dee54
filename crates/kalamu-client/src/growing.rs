//! A file that a download is still writing, read from its start by another
//! thread as it grows: the import of a pack follows its download closely
//! instead of waiting for the last byte.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

/// How far the writer has got, shared with the readers.
#[derive(Debug, Default)]
pub(crate) struct Growth {
    state: Mutex<State>,
    grew: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Bytes written so far.
    written: u64,
    /// Set once the writer stopped: whether the file is whole.
    ended: Option<bool>,
    /// Set when what was read so far shows the rest is not worth writing.
    stop: bool,
}

impl Growth {
    /// A file of which `written` bytes are there already.
    pub fn new(written: u64) -> Arc<Growth> {
        Arc::new(Growth { state: Mutex::new(State { written, ..State::default() }), grew: Condvar::new() })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The file now holds `written` bytes.
    pub fn wrote(&self, written: u64) {
        self.lock().written = written;
        self.grew.notify_all();
    }

    /// The writer stopped: the file is `whole` or never will be by this download.
    pub fn end(&self, whole: bool) {
        self.lock().ended = Some(whole);
        self.grew.notify_all();
    }

    /// Asks the writer to stop: what was read shows the rest is not worth fetching.
    pub fn stop(&self) {
        self.lock().stop = true;
    }

    /// Whether the writer was asked to stop.
    pub fn stopped(&self) -> bool {
        self.lock().stop
    }
}

/// Reads a growing file from its start; blocks for bytes not yet written,
/// ends at the end of a whole file, fails when the writer stopped short.
pub(crate) struct GrowingReader {
    file: File,
    at: u64,
    growth: Arc<Growth>,
}

impl GrowingReader {
    /// Reads `path`, which `growth` describes.
    pub fn open(path: &Path, growth: Arc<Growth>) -> std::io::Result<GrowingReader> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(0))?;
        Ok(GrowingReader { file, at: 0, growth })
    }
}

impl Read for GrowingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut state = self.growth.lock();
        loop {
            if state.written > self.at {
                let n = (state.written - self.at).min(buf.len() as u64) as usize;
                drop(state);
                let got = self.file.read(&mut buf[..n])?;
                self.at += got as u64;
                return Ok(got);
            }
            match state.ended {
                Some(true) => return Ok(0),
                Some(false) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("the download stopped after {} bytes", state.written),
                    ));
                }
                None => state = self.growth.grew.wait(state).unwrap_or_else(|p| p.into_inner()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_reader_follows_the_writer_and_sees_a_stop_short() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut file = File::create(&path).unwrap();
        file.write_all(b"abc").unwrap();
        let growth = Growth::new(3);
        let mut reader = GrowingReader::open(&path, growth.clone()).unwrap();
        let writer = std::thread::spawn(move || {
            for _ in 0..3 {
                std::thread::sleep(std::time::Duration::from_millis(20));
                file.write_all(b"def").unwrap();
                let len = file.metadata().unwrap().len();
                growth.wrote(len);
            }
            growth.end(false);
        });
        let mut got = Vec::new();
        let err = reader.read_to_end(&mut got).unwrap_err();
        writer.join().unwrap();
        assert_eq!(got, b"abcdefdefdef", "every byte written was read, in order");
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
