"""Patient ids are stored only as HMAC-SHA256 with a secret key: the same patient links across rows
(how often one record was assessed) but the id cannot be read back or confirmed without the key.

The key comes from RELAPSE_CDS_PATIENT_HASH_KEY; unset, one is generated once and kept in the data
directory (file `patient-hash.key`, mode 0600). Several servers sharing one PostgreSQL database must be
given the same key, or their hashes of one patient differ."""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger("relapse_cds")
KEY_FILE = "patient-hash.key"


def load_key(configured: str | None, data_dir: Path) -> bytes:
    if configured:
        return configured.encode("utf-8")
    path = data_dir / KEY_FILE
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return _read(path)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32) + "\n")
        out.flush()
        os.fsync(out.fileno())
    log.warning("RELAPSE_CDS_PATIENT_HASH_KEY is not set: generated a patient-hash key in %s", path)
    return _read(path)


def _read(path: Path) -> bytes:
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < 32:
        raise ValueError(f"{path} holds no usable key (expected 64 hexadecimal digits)")
    return key.encode("utf-8")


class PatientHasher:
    def __init__(self, key: bytes):
        self._key = key

    def __call__(self, patient_id: str | None) -> str | None:
        if not patient_id:
            return None
        return hmac.digest(self._key, patient_id.encode("utf-8"), "sha256").hex()
