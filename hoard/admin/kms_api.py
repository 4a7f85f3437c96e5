"""The admin API's KMS (``hoard admin kms``): the named keys SSE-KMS encrypts under, kept by the
built-in key store (``hoard.crypto.kms.BuiltinKms``) sealed by the master key. The KMS's refusals
(KmsError) become S3's answers where every lower error does (``hoard.s3.error_map``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from hoard.admin.iam_api import _param, json_answer
from hoard.crypto.kms import BuiltinKms, KeyManager, KmsKey
from hoard.http.request import Request
from hoard.http.response import Response
from hoard.objects.rotation import MasterKeyRotation, RotationRefused
from hoard.s3.auth.authenticate import AuthContext
from hoard.s3.errors import S3Error

Handler = Callable[[Request, AuthContext], Awaitable[Response]]


def key_json(key: KmsKey) -> dict:
    return {
        "key_id": key.key_id, "arn": key.arn, "description": key.description, "created": key.created,
        "state": key.state, "aliases": list(key.aliases),
    }  # fmt: skip


class KmsAdmin:
    def __init__(self, kms: KeyManager | None, rotation: MasterKeyRotation | None = None) -> None:
        self.kms = kms
        self.rotation = rotation
        self.routes: dict[tuple[str, str], Handler] = {
            ("POST", "kms/rotate"): self.rotate,
            ("GET", "kms/rotate"): self.rotation_status,
            ("GET", "kms/keys"): self.list_keys,
            ("POST", "kms/keys"): self.create_key,
            ("POST", "kms/key/state"): self.set_state,
        }

    def _store(self) -> BuiltinKms:
        if not isinstance(self.kms, BuiltinKms):
            # An external KMS's keys are made and listed with its own tools.
            raise S3Error("InvalidRequest", "This server has no built-in KMS (it has no master key, or uses another KMS).")
        return self.kms

    async def list_keys(self, req: Request, auth: AuthContext) -> Response:
        keys = await asyncio.to_thread(self._store().list_keys)
        return json_answer({"keys": [key_json(k) for k in keys]})

    async def create_key(self, req: Request, auth: AuthContext) -> Response:
        """Query: description, alias (alias/NAME), both optional."""
        key = await asyncio.to_thread(self._store().create_key, req.params.get("description", ""), req.params.get("alias") or None)
        return json_answer(key_json(key))

    async def set_state(self, req: Request, auth: AuthContext) -> Response:
        """Query: key (an id, ARN or alias), state (Enabled or Disabled)."""
        store = self._store()
        state = _param(req, "state")
        if state not in ("Enabled", "Disabled"):
            raise S3Error("InvalidArgument", "state is Enabled or Disabled.", ArgumentName="state")
        key = await asyncio.to_thread(store.set_enabled, _param(req, "key"), state == "Enabled")
        return json_answer(key_json(key))

    async def rotate(self, req: Request, auth: AuthContext) -> Response:
        """Start a master key rotation (or carry on the one under way); the answer is its job."""
        if self.rotation is None:
            raise S3Error("InvalidRequest", "This process does not rotate keys.")
        try:
            job = self.rotation.begin()
        except RotationRefused as e:
            raise S3Error("InvalidRequest", f"The master key cannot be rotated: {e}.") from None
        except OSError as e:
            raise S3Error("InternalError", f"The new master key could not be written: {e.strerror or e}.") from None
        return json_answer(job.to_json())

    async def rotation_status(self, req: Request, auth: AuthContext) -> Response:
        job = self.rotation.job if self.rotation is not None else None
        return json_answer(job.to_json() if job is not None else {"state": "none", "running": False})
