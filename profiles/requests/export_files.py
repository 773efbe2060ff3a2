"""Export files at rest and their download links.

Each export is sealed with AES-256-GCM under its own random key, stored wrapped by the KEK
(associated data binds the file to its export and request ids). Destroying the wrapped key
makes the file unreadable at once, even before the file itself is unlinked — which is what
expiry and erasure do. Links are signed, carry their expiry, and name no person.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from audit import keys
from hub.errors import DomainError, NotFound
from profiles.requests.models import ExportFile, PrivacyRequest

LINK_SALT = "privacy-request.export"
NONCE_BYTES = 12


class ExportLinkInvalid(NotFound):
    code = "export.link_invalid"


class ExportExpired(DomainError):
    code = "export.expired"
    status = 410


def _root() -> Path:
    return Path(settings.HUB_EXPORT_ROOT)


def _path(export: ExportFile) -> Path:
    return _root() / export.storage_name


def _scope(export: ExportFile) -> keys.Scope:
    return (export.request_id, "export", str(export.id))


def _ad(export: ExportFile) -> bytes:
    return f"hub.export.v1|{export.id}|{export.request_id}".encode()


def export_store(*, case: PrivacyRequest, content: bytes, subject_id: uuid.UUID | None) -> ExportFile:
    """Encrypt and write an export; replaces an earlier attempt's file for the same case."""
    now = timezone.now()
    export = ExportFile.objects.filter(request=case).first() or ExportFile(
        id=uuid.uuid4(), request=case, storage_name=f"{case.id}.zip.enc"
    )
    raw = AESGCM.generate_key(bit_length=256)
    kek = keys.current_kek()
    export.wrapped_key = keys.wrap(kek, export.id, _scope(export), raw)
    export.kek_id, export.subject_id = kek.kek_id, subject_id
    export.size, export.sha256 = len(content), hashlib.sha256(content).hexdigest()
    export.created_at, export.deleted_at = now, None
    export.expires_at = now + timedelta(days=settings.HUB_EXPORT_LINK_DAYS)
    nonce = os.urandom(NONCE_BYTES)
    sealed = nonce + AESGCM(raw).encrypt(nonce, content, _ad(export))
    path = _path(export)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".part")
    temporary.write_bytes(sealed)
    os.replace(temporary, path)  # a crash leaves the old file or the new one, never half of one
    export.save()
    return export


def export_link(export: ExportFile) -> str:
    token = signing.dumps({"e": str(export.id), "x": int(export.expires_at.timestamp())}, salt=LINK_SALT)
    return f"{settings.HUB_PUBLIC_URL.rstrip('/')}/api/v1/privacy-requests/exports/{token}"


@dataclass(frozen=True)
class Download:
    export: ExportFile
    content: bytes


def export_open(*, token: str, now: datetime | None = None) -> Download:
    """The decrypted zip a link points to: 404 for a forged or altered link, 410 once expired."""
    now = now or timezone.now()
    try:
        data = signing.loads(token, salt=LINK_SALT)
        export = ExportFile.objects.get(pk=uuid.UUID(str(data["e"])))
        expires = int(data["x"])
    except (signing.BadSignature, KeyError, TypeError, ValueError, ExportFile.DoesNotExist):
        raise ExportLinkInvalid("This download link is not valid.", field="token") from None
    if now.timestamp() > expires or now > export.expires_at or export.deleted_at or not export.wrapped_key:
        raise ExportExpired("This download link has expired; ask for a new export.", field="token")
    kek = keys.kek_by_id(export.kek_id)
    if kek is None:
        raise ExportExpired("This export can no longer be opened; ask for a new one.", field="token")
    raw = keys.unwrap(kek, export.id, _scope(export), bytes(export.wrapped_key))
    sealed = _path(export).read_bytes()
    content = AESGCM(raw).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _ad(export))
    return Download(export, content)


def exports_destroy(*, exports: list[ExportFile]) -> int:
    """Destroy the keys now (in the caller's transaction) and unlink the files after commit."""
    ids = [export.id for export in exports]
    if not ids:
        return 0
    ExportFile.objects.filter(id__in=ids).update(wrapped_key=None, deleted_at=timezone.now())
    paths = [_path(export) for export in exports]

    def unlink() -> None:
        for path in paths:
            path.unlink(missing_ok=True)

    transaction.on_commit(unlink)
    return len(ids)


def exports_purge_expired(*, now: datetime | None = None) -> int:
    """Expired exports: key destroyed, file deleted (beat, daily). Returns how many."""
    now = now or timezone.now()
    with transaction.atomic():
        expired = list(ExportFile.objects.filter(expires_at__lte=now, deleted_at__isnull=True))
        return exports_destroy(exports=expired)
