"""The frontend's pilots page lists the pilots of its groups it sees in the user pool (issue 18:
it always said "No pilots match")."""

from __future__ import annotations

from glidein.common.monitoring.model import PilotState
from glidein.frontend.monitoring import pilots_from_slots


def slot(pid: object, client: str, state: str, start: int, entry: str = "CE_1") -> dict[str, object]:
    return {"GLIDEIN_Pilot_ID": pid, "GLIDECLIENT_Name": client, "State": state, "DaemonStartTime": start,
            "GLIDEIN_Entry_Name": entry, "GLIDEIN_Site": "Site1"}  # fmt: skip


def test_one_row_per_pilot_of_our_groups() -> None:
    slots = [
        slot("p1", "fe1.main", "Unclaimed", 100),
        slot("p1", "fe1.main", "Claimed", 90),  # a second slot of the same pilot, busy
        slot("p2", "fe1.gpu", "Unclaimed", 120, "CE_2"),
        slot("p3", "other.main", "Claimed", 100),  # another frontend's
        slot("../x", "fe1.main", "Claimed", 100),  # not a pilot id
        {"GLIDEIN_Pilot_ID": "p4", "GLIDEIN_Client": "fe1.main", "State": "Claimed"},  # embedded startd
        {"Name": "slot1@node", "State": "Claimed"},  # not a glidein
    ]
    rows = {p.pilot_id: p for p in pilots_from_slots(slots, "fe1")}
    assert set(rows) == {"p1", "p2", "p4"}
    assert rows["p1"].state == PilotState.RUNNING and rows["p1"].start_time == 90
    assert (
        rows["p2"].state == PilotState.IDLE and rows["p2"].entry == "CE_2" and rows["p2"].client == "fe1.gpu"
    )
    assert rows["p4"].start_time is None and rows["p4"].state == PilotState.RUNNING and rows["p4"].entry == ""
