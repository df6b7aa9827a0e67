"""Anonymous feedback: answered without signing in, stored without anything that identifies the
person, limited per address without storing it, and shown to the team only from five answers."""

from __future__ import annotations

import asyncio
import re
from datetime import date
from pathlib import Path

from sqlalchemy import inspect, select
from test_progress_updates import _get, _post, _query, _team

from boards.models import FeedbackAnswer
from foundation.db import create_engine
from webapp import make_client

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _columns(url: str) -> set[str]:
    async def run() -> set[str]:
        engine = create_engine(url)
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("feedback_answer")})
        await engine.dispose()
        return names

    return asyncio.run(run())


def test_feedback_is_anonymous_limited_and_shown_from_five_answers(migrated_url: str, tmp_path: Path) -> None:
    crew = asyncio.run(_team(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        page = _get(client, crew, "professional", f"/teams/{crew.team}/updates")
        link = re.search(r'href="(/feedback/[^"]+)"', page.text)
        assert link, "the team's feedback link"
        path = link.group(1)
        client.cookies.clear()

        def answer(**data: str) -> int:
            form = client.get(path)
            assert form.status_code == 200
            token = CSRF.search(form.text)
            assert token
            return int(client.post(path, data={"csrf": token.group(1), **data}).status_code)

        assert answer(worth="maybe") == 400
        assert answer() == 400
        assert _query_count(migrated_url) == 0
        for i in range(4):
            assert answer(worth="yes", heard="no" if i else "partly", comment=f"Vastaus {i}") == 200
        team = _get(client, crew, "professional", f"/teams/{crew.team}/updates")
        assert "Palautteita 4" in team.text and "Vastaus 0" not in team.text
        client.cookies.clear()
        assert answer(worth="no", heard="no") == 200
        team = _get(client, crew, "professional", f"/teams/{crew.team}/updates")
        assert "Palautteita 5" in team.text and "Vastaus 3" in team.text
        assert re.search(r"Kyllä: 4", team.text) and re.search(r"Ei: 1", team.text)
        # Nothing that identifies a person is stored with an answer: the date is enough.
        assert _columns(migrated_url) == {"id", "team_id", "update_id", "answered_on", "worth", "heard", "comment"}
        dates = {row[0] for row in asyncio.run(_query(migrated_url, select(FeedbackAnswer.answered_on)))}
        assert len(dates) == 1 and isinstance(next(iter(dates)), date)

        client.cookies.clear()
        statuses = [answer(worth="yes") for _ in range(10)]
        assert 429 in statuses
        assert _query_count(migrated_url) == 5 + statuses.count(200)
        assert client.get("/feedback/not-a-token").status_code == 404
        # Outsiders of the team do not see its results.
        assert _get(client, crew, "outsider", f"/teams/{crew.team}/updates").status_code == 404


def _query_count(url: str) -> int:
    return len(asyncio.run(_query(url, select(FeedbackAnswer.id))))


def test_each_update_has_its_own_feedback_link(migrated_url: str, tmp_path: Path) -> None:
    crew = asyncio.run(_team(migrated_url))
    with make_client(migrated_url, tmp_path) as client:
        data = {"title": "Illat", "body": "Tekstiä"}
        assert _post(client, crew, "professional", f"/teams/{crew.team}/updates", data).status_code == 303
        page = _get(client, crew, "professional", f"/teams/{crew.team}/updates")
        links = set(re.findall(r'href="(/feedback/[^"]+)"', page.text))
        assert len(links) == 2
        for link in links:
            client.cookies.clear()
            form = client.get(link)
            assert form.status_code == 200
        titled = [link for link in links if "Illat" in client.get(link).text]
        assert len(titled) == 1
