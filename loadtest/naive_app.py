"""The naive design the read service is measured against: one indexed Postgres query per check.

Falcon WSGI under gunicorn gthread, psycopg pool; answers /v1/versions like the read service
(exact rule, else minimum rule), without snapshots.
"""

from __future__ import annotations

import os

import falcon
import orjson
from psycopg_pool import ConnectionPool

from store.versions import canonical

pool = ConnectionPool(os.environ["GATEHOUSE_DATABASE_URL"], min_size=2, max_size=8, open=True)

QUERY = """
SELECT r.version, r.platform, r.force_update, r.update_message
FROM version_rule r
JOIN environment e ON e.id = r.environment_id
JOIN app a ON a.id = r.app_id
WHERE a.public_id = %s AND e.alias = %s AND r.platform = %s AND r.version_key = %s AND r.enabled
"""


class Versions:
    def on_get(self, req, resp):
        p = req.params
        with pool.connection() as conn:
            row = conn.execute(
                QUERY, (p["app_id"], p["environment"], p["platform"], canonical(p["app_version"]))
            ).fetchone()
        resp.content_type = "application/json"
        if row is None:
            resp.status = 404
            resp.data = b'{"error":"Version not found"}'
            return
        resp.data = orjson.dumps(
            {"version": row[0], "platform": row[1], "force_update": row[2], "update_message": row[3]}
        )


app = falcon.App()
app.add_route("/v1/versions", Versions())


# The naive /updates: one query per device check (app, its public channel for the platform, the bundle).
UPDATE_QUERY = """
SELECT b.name, b.checksum, b.external_url
FROM app a
JOIN channel c ON c.app_id = a.id AND c.public AND (CASE WHEN %s = 'ios' THEN c.ios ELSE c.android END)
JOIN bundle b ON b.id = c.bundle_id
WHERE a.package_name = %s
ORDER BY c.id LIMIT 1
"""


class Updates:
    def on_post(self, req, resp):
        body = orjson.loads(req.bounded_stream.read())
        with pool.connection() as conn:
            row = conn.execute(UPDATE_QUERY, (body["platform"], body["app_id"])).fetchone()
        resp.content_type = "application/json"
        if row is None:
            resp.data = b'{"error":"no_channel","message":"no default channel or override"}'
        elif row[0] == body.get("version_name"):
            resp.data = b'{"error":"no_new_version_available","message":"No new version available"}'
        else:
            resp.data = orjson.dumps({"version": row[0], "url": row[2] or "", "checksum": row[1]})


app.add_route("/updates", Updates())
