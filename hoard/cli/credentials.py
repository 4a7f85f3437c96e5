"""The credentials ``hoard admin`` signs with, looked for where a user expects them, first found wins:

1. ``--data DIR``: the root keys the server generated and keeps in ``DIR/.hoard/root-credentials.json``
   (any drive of the deployment will do; readable by the user the server runs as);
2. ``--profile NAME``: that profile of the AWS CLI's files;
3. ``HOARD_ROOT_ACCESS_KEY`` and ``HOARD_ROOT_SECRET_KEY``, as the server itself takes them;
4. ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``;
5. the AWS CLI's profile (``AWS_PROFILE``, else ``default``) in ``~/.aws/credentials`` or
   ``~/.aws/config`` (``AWS_SHARED_CREDENTIALS_FILE``, ``AWS_CONFIG_FILE``).

The AWS part is the AWS Common Runtime's own resolution (``awscrt``, which Hoard already uses for
checksums), so profiles are read as the AWS tools read them. Only the environment and the
profile files are asked: never the instance metadata service or any other network source.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from awscrt.auth import AwsCredentialsProvider
from awscrt.exceptions import AwsCrtError

from hoard.iam.credentials import stored_root_keys
from hoard.iam.secrets import SecretBox, SecretsKeyError, default_key_file, load_key
from hoard.storage.pool import CREDENTIALS_FILE

LOOKUP_TIMEOUT = 10.0


class NoCredentials(Exception):
    """None were found, or the ones asked for cannot be read; the message says what to do."""


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    source: str  # where they were found, for error messages


def find_credentials(
    data: Path | None, profile: str | None, hoard_keys: tuple[str | None, str | None], secrets_key: tuple[str | None, Path | None] = (None, None)
) -> Credentials:
    """The first credentials found in the order of this module's docstring.

    ``hoard_keys`` are HOARD_ROOT_ACCESS_KEY and HOARD_ROOT_SECRET_KEY as the settings read them;
    ``secrets_key`` HOARD_SECRETS_KEY and HOARD_SECRETS_KEY_FILE, which open the root secret
    kept in a data folder. Raises ``NoCredentials``.
    """
    if data is not None:
        return _from_data_folder(data, secrets_key)
    if profile is not None:
        found = _from_profile(profile, explicit=True)
        assert found is not None
        return found
    access, secret = hoard_keys
    if access and secret:
        return Credentials(access, secret, "HOARD_ROOT_ACCESS_KEY and HOARD_ROOT_SECRET_KEY")
    found = _resolve(AwsCredentialsProvider.new_environment())
    if found is not None:
        return Credentials(*found, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    named = os.environ.get("AWS_PROFILE")
    found = _from_profile(named or "default", explicit=bool(named))
    if found is not None:
        return found
    raise NoCredentials(
        "no credentials found: give --data DIR (the server's data folder, for the root keys it generated), "
        "or set HOARD_ROOT_ACCESS_KEY and HOARD_ROOT_SECRET_KEY, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
        "or use an AWS CLI profile (--profile NAME, AWS_PROFILE)"
    )


def _secrets_box(data: Path, secrets_key: tuple[str | None, Path | None]) -> SecretBox | None:
    """The box that opens the data folder's sealed secrets, if its key can be found (the
    deployment's key file, as the server found or made it, or the settings' key)."""
    try:
        deployment = json.loads((data / ".hoard" / "format.json").read_text())["deployment"]
        value, key_file = secrets_key
        if not value and key_file is None and not default_key_file(deployment).exists():
            return None
        return SecretBox(load_key(value, key_file, deployment)[0])
    except (OSError, ValueError, KeyError, SecretsKeyError):
        return None


def _from_data_folder(data: Path, secrets_key: tuple[str | None, Path | None]) -> Credentials:
    path = data / ".hoard" / CREDENTIALS_FILE
    try:
        access, secret, _clear = stored_root_keys(path.read_bytes(), _secrets_box(data, secrets_key))
    except FileNotFoundError:
        if not (data / ".hoard" / "format.json").is_file():
            raise NoCredentials(f"{data} is not a Hoard data folder (it has no .hoard/format.json)") from None
        raise NoCredentials(
            f"{path} does not exist: the server's root keys were not generated but set "
            "(HOARD_ROOT_ACCESS_KEY and HOARD_ROOT_SECRET_KEY); give those instead"
        ) from None
    except PermissionError:
        raise NoCredentials(f"cannot read {path}: run as the user the server runs as") from None
    except SecretsKeyError:
        raise NoCredentials(
            f"the root secret key in {path} is sealed, and its secrets key was not found: run as the user the server "
            "runs as, or set HOARD_SECRETS_KEY or HOARD_SECRETS_KEY_FILE as the server has them"
        ) from None
    except (OSError, ValueError) as e:
        raise NoCredentials(f"cannot read the root keys in {path}: {e}") from None
    return Credentials(access, secret, str(path))


def _files() -> tuple[Path, Path]:
    """The AWS CLI's credentials and config files, where the AWS tools look for them."""
    home = Path("~/.aws").expanduser()
    credentials = os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or str(home / "credentials")
    config = os.environ.get("AWS_CONFIG_FILE") or str(home / "config")
    return Path(credentials).expanduser(), Path(config).expanduser()


def _from_profile(name: str, explicit: bool) -> Credentials | None:
    """A profile's keys; None if there are none and nobody asked for this profile by name."""
    credentials, config = _files()
    found = None
    if credentials.is_file() or config.is_file():
        try:
            provider = AwsCredentialsProvider.new_profile(
                profile_name=name, credentials_filepath=str(credentials), config_filepath=str(config)
            )
        except (RuntimeError, AwsCrtError):  # the profile is in neither file
            provider = None
        found = _resolve(provider) if provider is not None else None
    if found is not None:
        return Credentials(*found, f"the AWS profile {name!r}")
    if explicit:
        raise NoCredentials(f"the AWS profile {name!r} has no access keys in {credentials} or {config}")
    return None


def _resolve(provider: AwsCredentialsProvider) -> tuple[str, str] | None:
    try:
        found = provider.get_credentials().result(timeout=LOOKUP_TIMEOUT)
    except (AwsCrtError, RuntimeError, TimeoutError):
        return None
    if not found.access_key_id or not found.secret_access_key:
        return None
    return found.access_key_id, found.secret_access_key
