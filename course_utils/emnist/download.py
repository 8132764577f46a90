"""Downloading TFF's full federated EMNIST through TFF's own download code.

`tff.simulation.datasets.emnist.load_data` downloads `emnist_all.sqlite.lzma` with
`tff.simulation.datasets.download.get_compressed_file` and decompresses it where it will
be read, so an interrupted download leaves a truncated file that TFF then reuses. Here
the same TFF function downloads into a staging folder; the result is checked and only
then renamed into place. `COURSE_EMNIST_URL` overrides the URL (a mirror, or a test's
local server).
"""

from __future__ import annotations

import http.client
import lzma
import os
import shutil
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from course_utils.emnist.sqlite import SQLITE_NAME, CorruptDatasetError, check_sqlite

URL_ENV = "COURSE_EMNIST_URL"
TFF_URL = "https://storage.googleapis.com/tff-datasets-public/emnist_all.sqlite.lzma"
CONNECT_TIMEOUT_S = 10.0  # also the longest a stalled transfer may pause


class DownloadError(RuntimeError):
    """EMNIST could not be downloaded; the message says what to do."""


def emnist_url() -> str:
    url = os.environ.get(URL_ENV) or TFF_URL
    if not urllib.parse.urlparse(url).path.endswith(".lzma"):
        raise DownloadError(f"{URL_ENV}={url!r} must name an .lzma file (TFF's loader "
                            f"decompresses LZMA only), like {TFF_URL}.")
    return url


def _fix() -> str:
    return (f"Check your connection, or set {URL_ENV} to a mirror of "
            f"emnist_all.sqlite.lzma; without a network, use the bundled writers "
            f"(COURSE_DATA=sample, the default).")


def remote_size(url: str, timeout: float = CONNECT_TIMEOUT_S) -> int | None:
    """The download's size in bytes (None if the server does not say); a clear
    DownloadError when the server cannot be reached or has no such file."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"),
                                    timeout=timeout) as response:
            length = response.headers.get("content-length")
    except urllib.error.HTTPError as e:
        raise DownloadError(f"{url} answered {e.code} {e.reason}: there is no EMNIST "
                            f"file at that address. {_fix()}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DownloadError(f"Cannot reach {url} ({reason}). {_fix()}") from None
    return int(length) if length else None


def download(directory: str | os.PathLike, log=print) -> Path:
    """Download full EMNIST into `directory/emnist_all.sqlite`, all or nothing."""
    from tensorflow_federated.python.simulation.datasets import download as tff_download

    url = emnist_url()
    directory = Path(directory)
    size = remote_size(url)
    shown = f"{size / 1e6:,.0f} MB compressed" if size else "size unknown"
    log(f"Downloading TFF's full federated EMNIST ({shown}) from {url} into "
        f"{directory / SQLITE_NAME}; progress below.")
    directory.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=directory, prefix=".download-"))
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(CONNECT_TIMEOUT_S)  # TFF's urlopen has no timeout of its own
    try:
        extracted = Path(tff_download.get_compressed_file(origin=url, cache_dir=str(staging)))
        check_sqlite(extracted)
        target = directory / SQLITE_NAME
        os.replace(extracted, target)
        stamp = extracted.with_name(extracted.name + ".checked.json")
        if stamp.exists():
            os.replace(stamp, target.with_name(target.name + ".checked.json"))
        return target
    except CorruptDatasetError as e:
        raise DownloadError(f"The download from {url} is incomplete or damaged, so it "
                            f"was not used ({e}). Run again to retry. {_fix()}") from None
    except (urllib.error.URLError, OSError, EOFError, ValueError, lzma.LZMAError,
            http.client.HTTPException) as e:
        raise DownloadError(f"The download from {url} failed ({type(e).__name__}: {e}); "
                            f"nothing was kept. Run again to retry. {_fix()}") from None
    finally:
        socket.setdefaulttimeout(previous_timeout)
        shutil.rmtree(staging, ignore_errors=True)
