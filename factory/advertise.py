"""What the cycle advertises besides its signed entry ads: the stage's attributes and the
monitoring ads (glidefactoryclient), re-sent only when they changed or aged a third of their
lifetime (at 5,000 entries x 10 clients most of them are the same from one cycle to the next)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from glidein.common import classads
from glidein.factory import ads
from glidein.factory.keys import FactoryKeys


def stage_attrs(url: str, stage: Any) -> dict[str, str]:
    """WebURL and, once there is a stage, its signature, hash type and description file."""
    out = {"WebURL": url}
    if stage is not None:
        out |= {
            "WebSignHash": str(stage.main.sign),
            "WebSignType": str(stage.hash_algorithm),
            "WebDescriptFile": str(stage.main.descript),
        }
    return out


class ClientAds:
    """The glidefactoryclient ads last sent, by Name: what changed is sent again, the rest waits."""

    def __init__(self, ident: ads.Identity) -> None:
        self.ident = ident
        self.sent: dict[str, tuple[dict[str, object], float]] = {}

    def changed(
        self, entry: str, clients: Sequence[Any], now: float, ended: Mapping[tuple[str, str], Any]
    ) -> list[Any]:
        """Monitoring ads (unsigned) that changed, or were last sent a third of their lifetime ago."""
        out = []
        refresh = self.ident.lifetime / 3
        for outcome in clients:
            counts = ended.get((entry, outcome.client))
            ad = ads.client_ad(self.ident, entry, outcome, counts.as_dict() if counts else None)
            last = self.sent.get(str(ad["Name"]))
            if last is None or last[0] != ad or now - last[1] >= refresh:
                self.sent[str(ad["Name"])] = (ad, now)
                out.append(classads.from_dict(ad))
        return out

    def forget(self) -> None:
        """Send them all again next time (the last advertise failed)."""
        self.sent.clear()


class SignedAds:
    """Signed ads by Name: an ad equal to the one signed last time is sent as it was (Ed25519
    signatures are deterministic: signing it again would give the same bytes, at 0.3 ms an ad).
    A changed ad is signed as the ClassAd it becomes, so that what is signed is what is read: an
    expression attribute whose text is a literal (`GLIDEIN_BW_<SE>` = 120) is an int once in the
    ClassAd, and a signature over the dict's expression would not verify."""

    def __init__(self) -> None:
        self.last: dict[str, tuple[dict[str, object], classads.ClassAd]] = {}

    def signed(self, ad: dict[str, object], keys: FactoryKeys) -> classads.ClassAd:
        name = str(ad["Name"])
        last = self.last.get(name)
        if last is not None and last[0] == ad:
            return last[1]
        result = ads.signed(ad, keys)
        self.last[name] = (ad, result)
        return result
