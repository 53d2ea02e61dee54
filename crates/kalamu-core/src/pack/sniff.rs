//! Does a file's content match the type its name claims? A `.png` that is
//! really HTML, or a lesson page that is really a program, is refused.

/// How much of a file's start is kept to judge it.
const HEAD: usize = 4096;

/// Watches a file's bytes as they stream past and judges them at the end.
#[derive(Debug)]
pub struct Sniffer {
    media_type: &'static str,
    head: Vec<u8>,
    saw_nul: bool,
}

impl Sniffer {
    /// Starts watching a file of this media type.
    pub fn new(media_type: &'static str) -> Self {
        Sniffer { media_type, head: Vec::with_capacity(HEAD), saw_nul: false }
    }

    /// Feeds the next bytes of the file.
    pub fn update(&mut self, bytes: &[u8]) {
        if self.head.len() < HEAD {
            let take = (HEAD - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
        }
        if is_text(self.media_type) && !self.saw_nul {
            self.saw_nul = bytes.contains(&0);
        }
    }

    /// Whether everything seen fits the claimed media type.
    pub fn fits(&self) -> bool {
        let h = self.head.as_slice();
        if h.starts_with(b"MZ") || h.starts_with(b"\x7fELF") || h.starts_with(b"#!") {
            return false; // a program, whatever its name says
        }
        if is_text(self.media_type) {
            return !self.saw_nul && std::str::from_utf8(utf8_prefix(h)).is_ok() && self.text_fits();
        }
        match self.media_type {
            "image/png" => h.starts_with(b"\x89PNG\r\n\x1a\n"),
            "image/jpeg" => h.starts_with(b"\xff\xd8\xff"),
            "image/gif" => h.starts_with(b"GIF87a") || h.starts_with(b"GIF89a"),
            "image/webp" => h.len() >= 12 && &h[..4] == b"RIFF" && &h[8..12] == b"WEBP",
            "audio/wav" => h.len() >= 12 && &h[..4] == b"RIFF" && &h[8..12] == b"WAVE",
            "video/webm" => h.starts_with(b"\x1a\x45\xdf\xa3"),
            "video/ogg" | "audio/ogg" => h.starts_with(b"OggS"),
            "video/mp4" | "audio/mp4" => h.len() >= 8 && &h[4..8] == b"ftyp",
            "audio/mpeg" => h.starts_with(b"ID3") || (h.len() >= 2 && h[0] == 0xff && h[1] & 0xe0 == 0xe0),
            "application/pdf" => h.starts_with(b"%PDF-"),
            "font/woff2" => h.starts_with(b"wOF2"),
            "font/woff" => h.starts_with(b"wOFF"),
            _ => true,
        }
    }

    fn text_fits(&self) -> bool {
        let text = String::from_utf8_lossy(&self.head);
        let start = text.trim_start_matches('\u{feff}').trim_start();
        match self.media_type {
            "text/html" => start.is_empty() || start.starts_with('<'),
            "image/svg+xml" => text.contains("<svg"),
            "application/json" => start.is_empty() || start.starts_with(['{', '[']),
            _ => true,
        }
    }
}

fn is_text(media_type: &str) -> bool {
    media_type.starts_with("text/") || media_type == "image/svg+xml" || media_type == "application/json"
}

/// The head without a UTF-8 sequence cut in half at its end.
fn utf8_prefix(h: &[u8]) -> &[u8] {
    match std::str::from_utf8(h) {
        Ok(_) => h,
        Err(e) if e.error_len().is_none() => &h[..e.valid_up_to()],
        Err(_) => h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fits(media_type: &'static str, bytes: &[u8]) -> bool {
        let mut s = Sniffer::new(media_type);
        for chunk in bytes.chunks(3) {
            s.update(chunk);
        }
        s.fits()
    }

    #[test]
    fn real_content_fits_its_type() {
        assert!(fits("image/png", b"\x89PNG\r\n\x1a\nrest"));
        assert!(fits("text/html", "  <!doctype html><p>Bonjour à tous</p>".as_bytes()));
        assert!(fits("image/svg+xml", b"<?xml version='1.0'?><svg xmlns='x'/>"));
        assert!(fits("video/webm", b"\x1a\x45\xdf\xa3...."));
    }

    #[test]
    fn disguised_content_does_not_fit() {
        assert!(!fits("image/png", b"<html><script>alert(1)</script>"));
        assert!(!fits("text/html", b"MZ\x90\x00 a windows program"));
        assert!(!fits("text/html", b"<p>hidden\x00binary</p>"));
        assert!(!fits("text/css", b"\xff\xfe\xfd not utf-8"));
        assert!(!fits("image/svg+xml", b"<html>no svg here</html>"));
        assert!(!fits("audio/ogg", b"ID3 an mp3 pretending"));
    }
}
