"""A small client for the admin API: SigV4-signed requests with the root credentials."""

from __future__ import annotations

import hashlib
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from defusedxml import DefusedXmlException, ElementTree

from hoard.crypto import sigv4

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
TIMEOUT = 60.0  # every admin request answers at once; long work (heal, rebuild) is followed by polling


class AdminError(Exception):
    """The server refused (``code`` and ``message`` from its S3 error document), or could not be reached."""

    def __init__(self, message: str, code: str = "", status: int = 0) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        self.message = message
        self.status = status


def _refusal(status: int, reason: str, body: bytes) -> AdminError:
    """The one-line error an S3 error document (or, from something that is not Hoard, a bare
    HTTP status) says."""
    try:
        root = ElementTree.fromstring(body)
        code, message = root.findtext("Code"), root.findtext("Message")
    except (ElementTree.ParseError, DefusedXmlException):  # not an S3 error: the status is all there is
        code = message = None
    if code:
        return AdminError(message or reason, code, status)
    return AdminError(f"HTTP {status} {reason}", status=status)


def _tls(ca_bundle: Path | None) -> ssl.SSLContext:
    """Verification against ``ca_bundle`` (a self-signed server's own certificate, or a private
    CA), else the system's CAs. Raises AdminError for a bundle that holds no certificate."""
    try:
        return ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle is not None else None)
    except (ssl.SSLError, OSError) as e:
        raise AdminError(f"cannot use the CA bundle {ca_bundle}: {getattr(e, 'strerror', None) or e}") from None


class AdminClient:
    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        region: str = "us-east-1",
        source: str = "",
        ca_bundle: Path | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.source = source  # where the keys were found, for messages
        self.ca_bundle = ca_bundle
        self.tls = _tls(ca_bundle) if urllib.parse.urlsplit(self.endpoint).scheme == "https" else None

    def call(self, method: str, name: str, params: dict[str, str] | None = None, timeout: float = TIMEOUT, body: bytes = b"") -> dict:
        path = f"/.hoard/admin/v1/{name}"
        pairs = sorted((params or {}).items())
        amz_date = sigv4.format_amz_date(time.time())
        host = urllib.parse.urlsplit(self.endpoint).netloc
        payload_hash = hashlib.sha256(body).hexdigest()  # the body is signed: the server checks it
        headers = {"host": host, "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash}
        signed = tuple(sorted(headers))
        canonical = sigv4.canonical_request(
            method, sigv4.uri_encode(path, keep_slash=True), sigv4.canonical_query(pairs), headers, signed, payload_hash
        )
        scope = f"{amz_date[:8]}/{self.region}/s3/aws4_request"
        key = sigv4.signing_key(self.secret_key, amz_date[:8], self.region, "s3")
        signature = sigv4.sign(key, sigv4.string_to_sign(amz_date, scope, canonical))
        headers["authorization"] = (
            f"{sigv4.ALGORITHM} Credential={self.access_key}/{scope}, SignedHeaders={';'.join(signed)}, Signature={signature}"
        )
        url = self.endpoint + path + (("?" + sigv4.canonical_query(pairs)) if pairs else "")
        request = urllib.request.Request(url, method=method, headers={k: v for k, v in headers.items() if k != "host"}, data=body if (body or method == "POST") else None)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self.tls) as response:
                body = response.read()
            answer = json.loads(body)
            if not isinstance(answer, dict):
                raise ValueError(body[:60])
            return answer
        except urllib.error.HTTPError as e:
            raise _refusal(e.code, e.reason, e.read()) from None
        except urllib.error.URLError as e:
            raise AdminError(f"cannot reach Hoard at {self.endpoint}: {e.reason}{self._tls_hint(e.reason)}") from None
        except (TimeoutError, ConnectionError) as e:
            raise AdminError(f"no answer from Hoard at {self.endpoint}: {e}{self._tls_hint(e)}") from None
        except ValueError:
            raise AdminError(f"{self.endpoint} answered, but not as Hoard's admin API does") from None

    def _tls_hint(self, error: object) -> str:
        """What to try when the failure looks like a mismatch of HTTP and HTTPS, or of trust."""
        if isinstance(error, ssl.SSLCertVerificationError):
            given = f"the CA bundle {self.ca_bundle}" if self.ca_bundle else "the system's CAs"
            return f" (the server's certificate is not trusted by {given}: give it with --ca-bundle, or HOARD_CA_BUNDLE)"
        if isinstance(error, ssl.SSLError):
            return " (does the server serve HTTPS? an http:// endpoint talks to one that does not)"
        if isinstance(error, ConnectionError) and self.tls is None:
            return " (if the server serves HTTPS, give an https:// endpoint)"
        return ""
