"""The local web page of ``bin/live.py --serve``: the stream as it is predicted.

An aiohttp application in its own thread and event loop serves one self-contained page
(no CDN, nothing fetched from the internet): arousal and valence curves over the last
minute, the current face crop, the valence-arousal point on the circumplex plane, the
latency and the dropped video frames. Updates are pushed by server-sent events
(``/events``): on connecting, a page gets the last minute, then every frame as it is
predicted, and ``end`` when the stream ends. ``/face.jpg`` is the latest face crop and
``/status.json`` the figures so far.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import json
import threading

from tfrecords_tools.schema import FRAME_SECONDS

HISTORY_SECONDS = 60
# Events a slow page may have queued before it is sent the newest ones only.
CLIENT_QUEUE = 500


class PageError(Exception):
    """The page cannot be served (bad address, port in use); the message says which."""


def parse_address(address):
    """``"HOST:PORT"`` -> ``(host, port)``; port 0 picks a free one."""
    host, sep, port = str(address).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise PageError(f"--serve: expected HOST:PORT (e.g. 127.0.0.1:8080), got {address!r}")
    return host, int(port)


class LivePage:
    """Serves the page while a stream runs: ``start()``, ``publish(row, crop)``, ``stop()``."""

    def __init__(self, address="127.0.0.1:8080", history_seconds=HISTORY_SECONDS):
        self.host, self.port = parse_address(address)
        self._history = collections.deque(maxlen=int(history_seconds / FRAME_SECONDS))
        self._crop = None  # JPEG bytes of the latest face crop
        self._status = {"frames": 0, "dropped": 0, "ended": False}
        self._clients = set()
        self._lock = threading.Lock()
        self._loop = None
        self._thread = None
        self._runner = None

    @property
    def url(self):
        return f"http://{self.host}:{self.port}/"

    def start(self):
        """Binds and serves in a background thread; returns the page's URL."""
        from aiohttp import web

        app = web.Application()
        app.add_routes(
            [
                web.get("/", self._index),
                web.get("/events", self._events),
                web.get("/face.jpg", self._face),
                web.get("/status.json", self._status_json),
            ]
        )
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        try:
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, self.host, self.port)
            self._loop.run_until_complete(site.start())
        except OSError as error:
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()
            if error.errno == errno.EADDRINUSE:
                raise PageError(f"--serve: port {self.port} on {self.host} is in use") from None
            raise PageError(
                f"--serve: cannot listen on {self.host}:{self.port} ({error})"
            ) from None
        if self.port == 0:
            self.port = self._runner.addresses[0][1]  # the port the system chose
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        return self.url

    def publish(self, row, crop=None):
        """One predicted frame (a ``bin/live.py`` JSON row) and its face crop (uint8 RGB)."""
        from tfrecords_tools import faces

        if crop is not None and row["frame"] % 5 == 0:  # 5 crops per second are enough
            jpeg = faces.encode_image(crop, quality=85)
        else:
            jpeg = None
        with self._lock:
            self._history.append(row)
            self._status["frames"] += 1
            self._status["dropped"] += bool(row.get("dropped"))
            self._status["latency_ms"] = row.get("latency_ms")
            if jpeg is not None:
                self._crop = jpeg
        self._send("frame", row)

    def set_source(self, text):
        """What the stream reads (one source, or the audio and the video sources)."""
        with self._lock:
            self._status["source"] = text

    def end(self, summary=None):
        """The stream ended: pages are told (they keep the curves); the page stays up."""
        with self._lock:
            self._status["ended"] = True
            if summary is not None:
                self._status["summary"] = summary
        self._send("end", self._status)

    def stop(self):
        """Closes every connection, releases the port and ends the server's thread."""
        if self._loop is None or self._thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        future.result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
        self._thread = None

    async def _shutdown(self):
        for queue in list(self._clients):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(None)  # ends that client's event stream
        await self._runner.cleanup()

    def _send(self, kind, data):
        if self._loop is None or self._thread is None:
            return
        message = f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
        self._loop.call_soon_threadsafe(self._broadcast, message)

    def _broadcast(self, message):
        for queue in self._clients:
            if queue.full():  # a page that does not keep up: drop its oldest event
                queue.get_nowait()
            queue.put_nowait(message)

    # -- handlers (in the server's event loop) ------------------------------------------

    async def _index(self, request):
        from aiohttp import web

        return web.Response(text=PAGE, content_type="text/html", charset="utf-8")

    async def _face(self, request):
        from aiohttp import web

        with self._lock:
            crop = self._crop
        if crop is None:
            raise web.HTTPNotFound(text="no face crop yet")
        return web.Response(body=crop, content_type="image/jpeg")

    async def _status_json(self, request):
        from aiohttp import web

        with self._lock:
            status = dict(self._status)
        return web.json_response(status)

    async def _events(self, request):
        from aiohttp import web

        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        queue = asyncio.Queue(maxsize=CLIENT_QUEUE)
        with self._lock:
            history = list(self._history)
            status = dict(self._status)
        self._clients.add(queue)
        try:
            await response.write(_event("history", history))
            if status["ended"]:
                await response.write(_event("end", status))
            while True:
                message = await queue.get()
                if message is None:
                    break
                await response.write(message.encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._clients.discard(queue)
        return response


def _event(kind, data):
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>e2e_emotion live</title>
<style>
body { font-family: sans-serif; margin: 16px; background: #fafafa; color: #222; }
#top { display: flex; gap: 16px; align-items: flex-start; }
canvas { background: #fff; border: 1px solid #ccc; }
#face { width: 192px; height: 192px; border: 1px solid #ccc; background: #eee;
        image-rendering: pixelated; }
table { border-collapse: collapse; margin-top: 8px; }
td { padding: 2px 10px 2px 0; }
.arousal { color: #d62728; } .valence { color: #1f77b4; }
</style></head><body>
<h1>e2e_emotion live</h1>
<div id="top">
  <canvas id="curves" width="640" height="300"></canvas>
  <canvas id="plane" width="300" height="300"></canvas>
  <div><img id="face" alt="face crop">
    <table>
      <tr><td>status</td><td id="status">connecting</td></tr>
      <tr><td>source</td><td id="source">-</td></tr>
      <tr><td>frames</td><td id="frames">0</td></tr>
      <tr><td>time</td><td id="time">-</td></tr>
      <tr><td class="arousal">arousal</td><td id="arousal">-</td></tr>
      <tr><td class="valence">valence</td><td id="valence">-</td></tr>
      <tr><td>latency</td><td id="latency">-</td></tr>
      <tr><td>dropped video frames</td><td id="dropped">0</td></tr>
    </table>
  </div>
</div>
<script>
"use strict";
const keep = 1500;  // the last minute of 40 ms frames
let rows = [], frames = 0, dropped = 0, pending = false;
const $ = (id) => document.getElementById(id);
function add(row) {
  rows.push(row); if (rows.length > keep) rows.shift();
  frames += 1; if (row.dropped) dropped += 1;
  if (row.frame % 5 === 0 && row.face !== null) $("face").src = "face.jpg?" + row.frame;
}
function drawCurves() {
  const c = $("curves"), g = c.getContext("2d"), w = c.width, h = c.height;
  g.clearRect(0, 0, w, h);
  g.strokeStyle = "#ccc"; g.beginPath(); g.moveTo(0, h / 2); g.lineTo(w, h / 2); g.stroke();
  if (!rows.length) return;
  const last = rows[rows.length - 1].time, first = last - 60;
  const x = (t) => (t - first) / 60 * w, y = (v) => h / 2 - Math.max(-1, Math.min(1, v)) * h / 2.2;
  for (const [key, colour] of [["arousal", "#d62728"], ["valence", "#1f77b4"]]) {
    g.strokeStyle = colour; g.lineWidth = 2; g.beginPath();
    rows.forEach((r, i) => i ? g.lineTo(x(r.time), y(r[key])) : g.moveTo(x(r.time), y(r[key])));
    g.stroke();
  }
}
function drawPlane() {
  const c = $("plane"), g = c.getContext("2d"), s = c.width, m = s / 2;
  g.clearRect(0, 0, s, s);
  g.strokeStyle = "#999"; g.beginPath(); g.arc(m, m, m - 10, 0, 2 * Math.PI);
  g.moveTo(10, m); g.lineTo(s - 10, m); g.moveTo(m, 10); g.lineTo(m, s - 10); g.stroke();
  g.fillStyle = "#666"; g.font = "12px sans-serif";
  g.fillText("valence", s - 52, m - 4); g.fillText("arousal", m + 4, 20);
  if (!rows.length) return;
  const r = rows[rows.length - 1], k = m - 10;
  g.fillStyle = "#2ca02c"; g.beginPath();
  g.arc(m + Math.max(-1, Math.min(1, r.valence)) * k, m - Math.max(-1, Math.min(1, r.arousal)) * k,
        7, 0, 2 * Math.PI);
  g.fill();
}
function show() {
  pending = false;
  $("frames").textContent = frames; $("dropped").textContent = dropped;
  if (rows.length) {
    const r = rows[rows.length - 1];
    $("time").textContent = r.time.toFixed(2) + " s";
    $("arousal").textContent = r.arousal.toFixed(3);
    $("valence").textContent = r.valence.toFixed(3);
    $("latency").textContent = r.latency_ms.toFixed(1) + " ms";
  }
  drawCurves(); drawPlane();
}
function later() { if (!pending) { pending = true; setTimeout(show, 100); } }
fetch("status.json").then((r) => r.json()).then((s) => {
  if (s.source) $("source").textContent = s.source;
});
const events = new EventSource("events");
events.addEventListener("history", (e) => {
  rows = []; frames = 0; dropped = 0;
  JSON.parse(e.data).forEach(add); $("status").textContent = "live"; later();
});
events.addEventListener("frame", (e) => { add(JSON.parse(e.data)); later(); });
events.addEventListener("end", (e) => {
  $("status").textContent = "ended"; events.close(); show();
});
events.onerror = () => {
  if ($("status").textContent !== "ended") $("status").textContent = "reconnecting";
};
</script></body></html>
"""
