// Kalamu's own script in a lesson page, allowed by a per-response nonce:
// no lesson script can run. It stands before the lesson's bytes (after its
// doctype), so no unclosed tag in them can swallow it; it sets itself up
// once the page is parsed. It reports where the learner is (page scroll,
// video and audio time) to the app's window, and moves there when the
// window asks. It can only post messages: the frame has no same-origin
// access, no network and no navigation.
(() => {
  // Every message names the page it comes from, so the window can tell its
  // lesson from a page the frame was led to.
  const page_ = location.href;
  const post = (at, media) => parent.postMessage({ kalamu: "position", at, media, page: page_ }, "*");
  const page = () => {
    const h = document.documentElement;
    const room = h.scrollHeight - innerHeight;
    return room > 0 ? Math.min(1, Math.max(0, scrollY / room)) : 0;
  };
  // The media file's path in its pack: what follows /TOKEN/PACK/ on the media server.
  const path = (m) => {
    try {
      return decodeURIComponent(new URL(m.currentSrc).pathname.split("/").slice(3).join("/"));
    } catch {
      return null;
    }
  };
  let scrolled = 0;
  addEventListener("scroll", () => {
    if (Date.now() - scrolled > 1000) {
      scrolled = Date.now();
      post(page());
    }
  }, { passive: true });
  const watchMedia = () => {
  for (const m of document.querySelectorAll("video, audio")) {
    let told = 0;
    const tell = () => {
      const p = path(m);
      if (p) {
        told = Date.now();
        post(m.currentTime, p);
      }
    };
    m.addEventListener("timeupdate", () => Date.now() - told > 2000 && tell());
    m.addEventListener("pause", tell);
    m.addEventListener("seeked", tell);
  }
  parent.postMessage({ kalamu: "ready", page: page_ }, "*");
  };
  // Keys pressed in the window while the page is shown scroll the page.
  const steps = { PageDown: 0.9, PageUp: -0.9, ArrowDown: 0.1, ArrowUp: -0.1 };
  addEventListener("message", (e) => {
    const d = e.source === parent ? e.data : null;
    if (d && d.kalamu === "scroll" && typeof d.key === "string") {
      const h = document.documentElement;
      if (d.key === "Home") scrollTo(0, 0);
      else if (d.key === "End") scrollTo(0, h.scrollHeight);
      else if (d.key in steps) scrollBy(0, steps[d.key] * innerHeight);
      return;
    }
    if (!d || d.kalamu !== "restore" || typeof d.at !== "number") return;
    if (typeof d.media === "string") {
      const m = [...document.querySelectorAll("video, audio")].find((x) => path(x) === d.media);
      if (m) {
        const seek = () => (m.currentTime = d.at);
        m.readyState > 0 ? seek() : m.addEventListener("loadedmetadata", seek, { once: true });
      }
    } else {
      const h = document.documentElement;
      scrollTo(0, d.at * (h.scrollHeight - innerHeight));
    }
  });
  if (document.readyState === "loading") addEventListener("DOMContentLoaded", watchMedia, { once: true });
  else watchMedia();
})();
