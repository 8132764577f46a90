"""TFF's full-EMNIST download, for real: TFF's own download code against an HTTP server
on 127.0.0.1 serving an `emnist_all.sqlite.lzma` made from the bundled writers."""

import http.server
import lzma
import socket
import threading
import time

import numpy as np
import pytest

from course_utils import data
from course_utils.emnist import download as emnist_download
from course_utils.emnist import sample_writers
from course_utils.emnist import sqlite as emnist_sqlite

WRITERS = 12  # a small database: the download path, not the data, is under test


@pytest.fixture(scope="module")
def lzma_bytes(tmp_path_factory):
    with np.load(sample_writers.BUNDLE) as npz:
        bundle = {name: npz[name] for name in npz.files}
    clients = [c for c in sample_writers._clients_in_order(bundle)][:2 * WRITERS]
    path = emnist_sqlite.write_sqlite(tmp_path_factory.mktemp("db") / "emnist_all.sqlite",
                                      clients)
    return lzma.compress(path.read_bytes(), preset=1)


class _Handler(http.server.BaseHTTPRequestHandler):
    payload = b""

    def log_message(self, *args):  # keep the test output clean
        pass

    def _headers(self, code=200, length=None):
        self.send_response(code)
        self.send_header("Content-Length", str(len(self.payload) if length is None else length))
        self.end_headers()

    def do_HEAD(self):
        if self.path.startswith("/missing/"):
            self.send_error(404)
        else:
            self._headers()

    def do_GET(self):
        if self.path.startswith("/missing/"):
            self.send_error(404)
        elif self.path.startswith("/drop/"):  # the connection drops halfway
            self._headers()
            self.wfile.write(self.payload[: len(self.payload) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        elif self.path.startswith("/short/"):  # says nothing of the size, then stops
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(self.payload[: len(self.payload) // 2])
        else:
            self._headers()
            self.wfile.write(self.payload)


@pytest.fixture(scope="module")
def server(lzma_bytes):
    handler = type("Handler", (_Handler,), {"payload": lzma_bytes})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _use(monkeypatch, url):
    monkeypatch.setenv(emnist_download.URL_ENV, url)


def _left_in_cache() -> list[str]:
    return sorted(p.name for p in data.tff_cache_dir().glob("*")) \
        if data.tff_cache_dir().exists() else []


def test_a_complete_download_loads(isolated_cache, server, monkeypatch, capsys, lzma_bytes):
    _use(monkeypatch, f"{server}/ok/emnist_all.sqlite.lzma")
    train, test = data.load_emnist(data="emnist")
    out, err = capsys.readouterr()
    size_mb = f"{len(lzma_bytes) / 1e6:,.0f} MB"
    assert out.startswith(f"Downloading TFF's full federated EMNIST ({size_mb} compressed) "
                          f"from {server}/ok/emnist_all.sqlite.lzma into "
                          f"{data.tff_cache_dir() / data.SQLITE_NAME}; progress below.")
    assert "Downloading emnist_all.sqlite.lzma" in err  # TFF's own progress bar
    assert f"Data: TFF's full federated EMNIST: {WRITERS} writers" in out
    assert len(train.client_ids) == WRITERS and len(test.client_ids) == WRITERS
    assert _left_in_cache() == [data.SQLITE_NAME, data.SQLITE_NAME + ".checked.json"]


@pytest.mark.parametrize("route", ["drop", "short"])
def test_an_interrupted_download_is_never_used_and_the_next_succeeds(
        isolated_cache, server, monkeypatch, route):
    _use(monkeypatch, f"{server}/{route}/emnist_all.sqlite.lzma")
    with pytest.raises(data.DataError, match="nothing was kept|was not used"):
        data.load_emnist(data="emnist", verbose=False)
    assert _left_in_cache() == []  # no half-written file for TFF's loader to reuse
    _use(monkeypatch, f"{server}/ok/emnist_all.sqlite.lzma")
    train, _ = data.load_emnist(data="emnist", verbose=False)
    assert len(train.client_ids) == WRITERS


def test_a_404_names_the_url_and_the_fix(isolated_cache, server, monkeypatch):
    url = f"{server}/missing/emnist_all.sqlite.lzma"
    _use(monkeypatch, url)
    with pytest.raises(data.DataError) as error:
        data.load_emnist(data="emnist", verbose=False)
    message = str(error.value)
    assert url in message and "404" in message
    assert "COURSE_EMNIST_URL" in message and "COURSE_DATA=sample" in message
    assert _left_in_cache() == []


def test_no_server_is_a_clear_message_within_seconds(isolated_cache, monkeypatch):
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _use(monkeypatch, f"http://127.0.0.1:{port}/emnist_all.sqlite.lzma")
    start = time.perf_counter()
    with pytest.raises(data.DataError, match="Cannot reach .*Check your connection"):
        data.load_emnist(data="emnist", verbose=False)
    assert time.perf_counter() - start < 5


def test_a_url_that_is_not_lzma_is_refused(isolated_cache, monkeypatch):
    _use(monkeypatch, "http://127.0.0.1:9/emnist_all.sqlite")
    with pytest.raises(data.DataError, match="must name an .lzma file"):
        data.load_emnist(data="emnist", verbose=False)
