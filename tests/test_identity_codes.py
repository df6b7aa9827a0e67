"""The identity-code guard: one check for every text a person or the CLI enters, by every route.

A valid henkilötunnus is refused wherever it stands (also glued to letters), with a plain message,
and nothing is stored; eleven characters that fail the check character are not a code and pass.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from auth.directory import DirectoryError, create_person, create_team
from auth.hetu import contains_identity_code
from auth.models import Invite, LocalAccount, Person
from boards.models import Board
from conftest import Seeded
from foundation.db import create_engine
from tests.test_invites import _invite
from webapp import csrf_of, make_client, sign_in_as

CODE = "131052-308T"
NEAR_MISS = "131052-308U"  # the wrong check character: not a code

GLUED = [
    f"HETU{CODE}",
    f"{CODE}kotona",
    f"hetu:{CODE.lower()}.",
    f"Matti {CODE}",
    "131052A308T",  # the 2000s century sign
    f"131052-{CODE}",  # a false start right before the code
]


@pytest.mark.parametrize("text", GLUED)
def test_codes_are_found_also_glued_to_letters(text: str) -> None:
    assert contains_identity_code(text)


@pytest.mark.parametrize("text", [NEAR_MISS, f"HETU{NEAR_MISS}", "131052-308", f"1{CODE}", "puh. 0401310523"])
def test_near_misses_pass(text: str) -> None:
    assert not contains_identity_code(text)


async def _count(url: str, model: type, *where: object) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(model).where(*where))).scalar() or 0)
    finally:
        await engine.dispose()


def test_a_board_title_with_a_code_is_refused_by_the_http_form(
    migrated_url: str, seeded: Seeded, tmp_path: Path
) -> None:
    before = asyncio.run(_count(migrated_url, Board))
    with make_client(migrated_url, tmp_path) as client:
        sign_in_as(client, seeded.tokens["professional"])
        page = f"/teams/{seeded.team}"
        refused = client.post(
            f"{page}/boards",
            data={"csrf": csrf_of(client, page), "title": f"Asiakas {CODE}kotona", "template": "blank"},
        )
        assert refused.status_code == 400
        assert "henkilötunnus" in refused.text
        assert asyncio.run(_count(migrated_url, Board)) == before
        near = client.post(
            f"{page}/boards", data={"csrf": csrf_of(client, page), "title": f"Koodi {NEAR_MISS}", "template": "blank"}
        )
        assert near.status_code == 303
        assert asyncio.run(_count(migrated_url, Board)) == before + 1


def test_the_invite_form_refuses_a_name_with_a_code_and_says_so(
    migrated_url: str, seeded: Seeded, tmp_path: Path
) -> None:
    token = asyncio.run(_invite(migrated_url, seeded, role="professional"))
    people = asyncio.run(_count(migrated_url, Person))
    with make_client(migrated_url, tmp_path) as client:
        path = f"/invite/{token}"
        refused = client.post(path, data={"csrf": csrf_of(client, path), "display_name": f"HETU{CODE}"})
        assert refused.status_code == 400
        assert "henkilötunnus" in refused.text
        assert 'aria-invalid="true"' in refused.text
        # Nothing stored and the invite not used up: the person can try again with another name.
        assert asyncio.run(_count(migrated_url, Person)) == people
        assert asyncio.run(_count(migrated_url, Invite, Invite.uses > 0)) == 0
        accepted = client.post(path, data={"csrf": csrf_of(client, path), "display_name": "Kalle K."})
        assert accepted.status_code == 303
        assert asyncio.run(_count(migrated_url, Person, Person.display_name == "Kalle K.")) == 1


async def test_the_directory_refuses_names_with_a_code(migrated_url: str, seeded: Seeded) -> None:
    engine = create_engine(migrated_url)
    try:
        async with engine.begin() as conn:
            with pytest.raises(DirectoryError, match="identity code"):
                await create_person(conn, f"{CODE}kotona")
            with pytest.raises(DirectoryError, match="identity code"):
                await create_team(conn, f"Tiimi HETU{CODE}", seeded.org)
            assert await create_person(conn, f"Koodi {NEAR_MISS}")
    finally:
        await engine.dispose()


def _cli(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KUMPPANI_DATABASE_URL": database_url,
        "KUMPPANI_DATA_DIR": str(tmp_path),
        "KUMPPANI_SECRET_KEY": "test-secret-key-" + "x" * 32,
    }
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_user_add_refuses_a_name_with_a_code(migrated_url: str, tmp_path: Path) -> None:
    result = _cli(migrated_url, tmp_path, "user", "add", "matti", "--name", f"Matti {CODE}", "--password", "x" * 12)
    assert result.returncode == 2
    assert "identity code" in result.stderr
    assert "Traceback" not in result.stderr
    assert asyncio.run(_count(migrated_url, LocalAccount)) == 0
    assert asyncio.run(_count(migrated_url, Person, Person.display_name.like("Matti%"))) == 0


def test_cli_user_add_without_password_or_terminal_says_what_to_do(migrated_url: str, tmp_path: Path) -> None:
    result = _cli(migrated_url, tmp_path, "user", "add", "maija", "--name", "Maija")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--password" in result.stderr
    assert asyncio.run(_count(migrated_url, LocalAccount)) == 0
    added = _cli(migrated_url, tmp_path, "user", "add", "maija", "--name", "Maija", "--password", "y" * 12)
    assert added.returncode == 0, added.stderr
    assert asyncio.run(_count(migrated_url, LocalAccount)) == 1


def test_cli_provider_add_refuses_a_name_with_a_code_and_asks_for_no_secret_without_a_terminal(
    migrated_url: str, tmp_path: Path
) -> None:
    common = ["provider", "add", "--issuer", "https://idp.example.fi", "--client-id", "kumppani"]
    named = _cli(migrated_url, tmp_path, *common, "--name", f"Kirjaudu {CODE}", "--client-secret", "s" * 20)
    assert named.returncode == 2 and "identity code" in named.stderr and "Traceback" not in named.stderr
    secretless = _cli(migrated_url, tmp_path, *common, "--name", "Kunta")
    assert secretless.returncode == 2 and "--client-secret" in secretless.stderr
    assert "Traceback" not in secretless.stderr


def test_a_signed_in_person_joins_as_themselves_whatever_the_name_field_says(
    migrated_url: str, seeded: Seeded, tmp_path: Path
) -> None:
    token = asyncio.run(_invite(migrated_url, seeded, role="professional"))
    people = asyncio.run(_count(migrated_url, Person))
    with make_client(migrated_url, tmp_path) as client:
        sign_in_as(client, seeded.tokens["outsider"])
        path = f"/invite/{token}"
        joined = client.post(path, data={"csrf": csrf_of(client, path), "display_name": f"HETU{CODE}"})
        assert joined.status_code == 303
    assert asyncio.run(_count(migrated_url, Person)) == people
    assert asyncio.run(_count(migrated_url, Person, Person.display_name.like("%308T%"))) == 0
