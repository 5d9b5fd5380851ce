"""The console's route table (/console): server-rendered pages and the forms they post."""

from __future__ import annotations

import datetime as dt

from api.dialects.base import Routes, WriteContext
from api.dialects.console import apps, dist, hooks, live, people, signin, static
from api.dialects.console.pages import Console
from store import client_tokens, rules


def routes(ctx: WriteContext) -> Routes:
    console = Console(
        lifetime=dt.timedelta(hours=ctx.settings.console_session_hours),
        settings=ctx.settings,
        limiter=ctx.limiter,
        connection=ctx.connection,
        storage=ctx.storage,
        backends=ctx.backends,
    )
    app = "/console/apps/{app_id}"
    return [
        ("/console", signin.Home(console)),
        ("/console/login", signin.Login(console)),
        ("/console/logout", signin.Logout(console)),
        ("/console/account", signin.Password(console)),
        ("/console/static/{name}", static.Static()),
        ("/console/apps", apps.Apps(console)),
        (app, apps.AppPage(console)),
        (f"{app}/tokens", apps.Tokens(console)),
        (
            f"{app}/tokens/{{row_id:int}}/revoke",
            apps.Removal(console, client_tokens.delete_client_token, "tokens"),
        ),
        (f"{app}/environments", apps.Environments(console)),
        (f"{app}/rules", apps.RuleForm(console, rules.create_version_rule, "version", "rules")),
        (f"{app}/rules/{{row_id:int}}/delete", apps.Removal(console, rules.delete_version_rule, "rules")),
        (
            f"{app}/minimum-rules",
            apps.RuleForm(console, rules.create_minimum_rule, "minimum_version", "minimum-rules"),
        ),
        (
            f"{app}/minimum-rules/{{row_id:int}}/delete",
            apps.Removal(console, rules.delete_minimum_rule, "minimum-rules"),
        ),
        (f"{app}/maintenance/{{alias}}", apps.Maintenance(console)),
        (f"{app}/serving", apps.Serving(console)),
        (f"{app}/impact", apps.Impact(console)),
        (f"{app}/adoption.csv", apps.AdoptionCsv(console)),
        (f"{app}/builds", apps.Builds(console, ctx.settings.upload_max_bytes)),
        (f"{app}/app-config", apps.AppConfigForm(console)),
        (f"{app}/distribution", dist.Distribution(console)),
        (f"{app}/variants", dist.Variants(console)),
        (f"{app}/publish", dist.Publish(console)),
        (f"{app}/releases", dist.ReleaseUpload(console, ctx.settings.upload_max_bytes)),
        (f"{app}/live", live.Live(console)),
        (f"{app}/channels", live.Channels(console)),
        (f"{app}/bundles", live.BundleUpload(console, ctx.settings.upload_max_bytes)),
        (f"{app}/rollouts/{{channel}}", live.Rollout(console)),
        (f"{app}/rollouts/{{channel}}/health", live.RolloutHealth(console)),
        (f"{app}/rollouts/{{channel}}/{{action}}", live.RolloutAction(console)),
        ("/console/audit", people.Audit(console)),
        ("/console/teams", people.Teams(console)),
        ("/console/users", people.Users(console)),
        ("/console/teams/{team_id:int}/webhooks", hooks.Webhooks(console)),
        ("/console/teams/{team_id:int}/keys", hooks.Keys(console)),
        ("/console/teams/{team_id:int}/webhooks/{webhook_id:int}", hooks.Deliveries(console)),
        (
            "/console/teams/{team_id:int}/webhooks/{webhook_id:int}/deliveries/{delivery_id:int}/redeliver",
            hooks.Redeliver(console),
        ),
    ]
