"""The factory's keys: an Ed25519 key signing its ads, and an X25519 key pair frontends seal secrets
for, rotated every `interval` seconds; the previous key still opens requests for `grace` seconds.

Files (0600): the configured `encryption_key` is the current key; at rotation it moves to
`<encryption_key>.previous` (its mtime marks the rotation) and a new key takes its place.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from glidein.common import crypto

log = logging.getLogger(__name__)


def load_or_create_signing(path: Path) -> Ed25519PrivateKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        crypto.save_private_key(crypto.generate_signing_key(), path)
        log.info("created factory signing key %s", path)
    return crypto.load_signing_key(path)


@dataclass
class FactoryKeys:
    signing: Ed25519PrivateKey
    current: X25519PrivateKey
    previous: X25519PrivateKey | None
    previous_until: float

    @property
    def current_id(self) -> str:
        return crypto.key_id(self.current)

    def open_keys(self, now: float) -> dict[str, X25519PrivateKey]:
        """Key id -> private key for every key a request may be sealed for right now."""
        keys = {self.current_id: self.current}
        if self.previous is not None and now < self.previous_until:
            keys[crypto.key_id(self.previous)] = self.previous
        return keys


def load_keys(
    signing_path: Path, box_path: Path, interval: float, grace: float, now: float | None = None
) -> FactoryKeys:
    """Load (creating or rotating when due) the factory's keys."""
    now = time.time() if now is None else now
    signing = load_or_create_signing(signing_path)
    previous_path = box_path.with_name(box_path.name + ".previous")
    if not box_path.exists():
        box_path.parent.mkdir(parents=True, exist_ok=True)
        crypto.save_private_key(crypto.generate_box_key(), box_path)
        log.info("created factory encryption key %s", box_path)
    elif interval > 0 and now - box_path.stat().st_mtime >= interval:
        os.replace(box_path, previous_path)
        os.utime(previous_path, (now, now))
        crypto.save_private_key(crypto.generate_box_key(), box_path)
        os.utime(box_path, (now, now))
        log.info("rotated factory encryption key; the previous one stays valid for %.0f s", grace)
    previous, until = None, 0.0
    if previous_path.exists():
        until = previous_path.stat().st_mtime + grace
        if now < until:
            previous = crypto.load_box_key(previous_path)
    return FactoryKeys(signing, crypto.load_box_key(box_path), previous, until)
