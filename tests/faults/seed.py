"""Seed the fault suite's own database (run as a child process with its DATABASE_URL): stewards, a domain at the
emulator with a short undo window, and open groups whose profiles exist at the emulator. Prints JSON.

    python -m tests.faults.seed EMULATOR_URL DOMAIN GROUPS STEWARDS
"""

from __future__ import annotations

import json
import sys

import django


def main(emulator_url: str, name: str, groups: int, stewards: int) -> dict:
    django.setup()
    from emulator.testing import EmulatorControl
    from matches import roles
    from tests.factories import DomainFactory, UserFactory
    from tests.merging import make_groups

    ctl = EmulatorControl(emulator_url)
    ctl.create_domain(name, customers=0)
    domain = DomainFactory(name=name, endpoint_url=emulator_url, undo_window_seconds=2)
    users = [UserFactory(username=f"{name}-steward{i}", roles=[roles.STEWARD]).username for i in range(stewards)]
    made = make_groups(ctl, domain, groups, 2)
    return {"domain_id": domain.pk, "stewards": users, "groups": [g.pk for g in made]}


if __name__ == "__main__":
    url, name, groups, stewards = sys.argv[1:5]
    print("SEED=" + json.dumps(main(url, name, int(groups), int(stewards))))
