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
