"""Seeds a realistic data set through the write API and writes what clients should see.

apps x 2 platforms x 3 environments x rules exact rules, one minimum rule per scope, maintenance
on staging. The expectations file lets locust check every answer, not just its status.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from tqdm import tqdm

PLATFORMS = ("ios", "android")
ENVIRONMENTS = ("production", "staging", "beta")
MINIMUM = "1.0.5"


def rule_version(i: int) -> str:
    return f"{1 + i // 100}.{(i // 10) % 10}.{i % 10}"


LIVE_BUNDLE = "1.1.0"


def seed(write_url: str, admin_token: str, apps: int, rules: int, out: Path) -> dict:
    c = httpx.Client(base_url=write_url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=30)
    team = c.post("/admin/v1/teams", json={"name": "Load"}).json()
    data = {"apps": []}
    with tqdm(
        total=apps * (len(PLATFORMS) * len(ENVIRONMENTS) * (rules + 1) + 1), unit="write", desc="seed"
    ) as bar:
        for a in range(apps):
            app = c.post(
                "/admin/v1/apps",
                json={
                    "team_id": team["id"],
                    "title": f"Load {a}",
                    "environments": list(ENVIRONMENTS),
                    "package_name": f"com.load.t{team['id']}.a{a}",
                },
            ).json()
            # A live bundle on the public channel, for the capgo scenario's device checks.
            c.post(
                "/bundle/upload",
                params={"app_id": app["package_name"], "version": LIVE_BUNDLE, "channel": "production"},
                content=b"PK\x05\x06" + b"\x00" * 18,
            ).raise_for_status()
            c.post(
                "/channel", json={"app_id": app["package_name"], "channel": "production", "public": True}
            ).raise_for_status()
            token = c.post(f"/admin/v1/apps/{app['id']}/tokens", json={}).json()["token"]
            c.put(
                f"/admin/v1/apps/{app['id']}/maintenance/staging",
                json={
                    "active": True,
                    "title": "Maintenance",
                    "links": [{"title": "Status", "url": "https://s"}],
                },
            )
            bar.update(1)
            ids = {}
            for platform in PLATFORMS:
                for env in ENVIRONMENTS:
                    c.post(
                        f"/admin/v1/apps/{app['id']}/minimum-versions",
                        json={
                            "minimum_version": MINIMUM,
                            "platform": platform,
                            "environment": env,
                            "force_update": True,
                            "update_message": "unsupported",
                        },
                    )
                    bar.update(1)
                    for i in range(rules):
                        v = rule_version(i + 10)  # rules start at 1.1.0, above the minimum
                        res = c.post(
                            f"/admin/v1/apps/{app['id']}/versions",
                            json={
                                "version": v,
                                "platform": platform,
                                "environment": env,
                                "update_message": f"update {v}",
                                "update_messages": {"en": f"update {v}"},
                            },
                        )
                        res.raise_for_status()
                        ids[f"{platform}|{env}|{v}"] = res.json()["id"]
                        bar.update(1)
            data["apps"].append(
                {
                    "app_id": app["id"],
                    "package": app["package_name"],
                    "token": token,
                    "rules": rules,
                    "rule_ids": ids,
                }
            )
    data["minimum"] = MINIMUM
    out.write_text(json.dumps(data))
    return data
