"""Participation agreement, consents and data rights, end to end."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text, update

from auth import consent, invites
from auth.models import AuditEvent, ConsentRecord, Membership, Notification, Person, Team
from boards import protocol as p
from boards.client import BoardClient
from boards.models import Item, Operation
from conftest import LiveServer, Seeded
from foundation.db import create_engine, new_id, utcnow
from webapp import csrf_of, make_client, sign_in_as

KEYS = ("test-secret-key-" + "x" * 32,)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def _invite(url: str, seeded: Seeded) -> str:
    engine = create_engine(url)
    async with engine.begin() as conn:
        token = await invites.create_invite(
            conn,
            KEYS,
            team_id=seeded.team,
            role="customer",
            created_by=seeded.professional,
            contact_person_id=seeded.professional,
        )
    await engine.dispose()
    return token


async def _db(url: str, query, scalar: bool = True):  # type: ignore[no-untyped-def]
    engine = create_engine(url)
    async with engine.connect() as conn:
        result = await conn.execute(query)
        value = result.scalar() if scalar else result.all()
    await engine.dispose()
    return value


async def _join_as_customer(live: LiveServer, token: str, name: str) -> httpx.AsyncClient:
    http = httpx.AsyncClient(base_url=live.base, follow_redirects=False)
    page = await http.get(f"/invite/{token}")
    csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    joined = await http.post(f"/invite/{token}", data={"csrf": csrf, "display_name": name})
    agreement_url = joined.headers["location"]
    assert "/agreement" in agreement_url
    page = await http.get(agreement_url)
    assert page.status_code == 200
    # C1: four plain-language blocks come first, and nothing is pre-ticked.
    assert page.text.count('class="agreement-block"') >= 4
    assert "checked" not in page.text.split("<form")[1].split("</form>")[0]
    accepted = await http.post(agreement_url.split("?")[0], data={"csrf": csrf, "accept": "yes", "next": "/"})
    assert accepted.status_code == 303
    return http


async def _journey(live: LiveServer, seeded: Seeded, url: str, choice: str) -> None:
    token = await _invite(url, seeded)
    pro = BoardClient(live.ws_url(seeded.board), cookie=seeded.cookie("professional"), origin=live.base)
    await pro.connect()
    http = await _join_as_customer(live, token, "Liisa")
    person = await _db(url, select(Person.id).where(Person.display_name == "Liisa"))
    # C2: joined with every optional consent off.
    purposes = await _db(url, select(ConsentRecord.purpose).where(ConsentRecord.person_id == person), scalar=False)
    assert [r[0] for r in purposes] == ["agreement"]
    assert (await http.get(f"/boards/{seeded.board}")).status_code == 200

    cookie = f"kumppani={http.cookies['kumppani']}"
    liisa = BoardClient(live.ws_url(seeded.board), cookie=cookie, origin=live.base)
    await liisa.connect()
    card, comment = new_id(), new_id()
    await liisa.call(
        p.ItemCreate(
            id=card, item_type="card", fields={"text": "Jonotin puhelimessa"}, stage=seeded.stage, lane=seeded.lane
        )
    )
    last = await liisa.call(
        p.ItemCreate(id=comment, item_type="comment", fields={"text": "Tämä on tärkeä"}, parent=card)
    )
    await pro.wait_seq(last.seq)
    assert pro.replica.items[card]["author"] == person

    # Withdrawal: as few steps as joining — open the page, choose, confirm.
    page = await http.get(f"/me/leave/{seeded.team}")
    csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    left = await http.post(f"/me/leave/{seeded.team}", data={"csrf": csrf, "contributions": choice})
    assert left.status_code == 200

    # Live, on the open board of everyone else:
    if choice == "anonymise":
        await pro.wait_for(lambda r: r.items[card]["author"] is None, timeout=5)
        assert pro.replica.items[card]["fields"]["text"] == "Jonotin puhelimessa"
    else:
        await pro.wait_for(lambda r: card not in r.items and comment not in r.items, timeout=5)
    # ...their own socket is closed within 5 s, and their session is over.
    await liisa.wait_for(lambda r: not liisa.connected, timeout=5)
    assert (await http.get("/")).status_code == 303

    # After reload: a fresh snapshot agrees with the live view.
    fresh = BoardClient(live.ws_url(seeded.board), cookie=seeded.cookie("professional"), origin=live.base)
    await fresh.connect()
    assert fresh.replica.comparable() == pro.replica.comparable()

    # What the database holds:
    rows = await _db(
        url,
        select(Item.id, Item.author_id, Item.deleted_seq, Item.fields).where(Item.id.in_([card, comment])),
        scalar=False,
    )
    for _item_id, author, deleted, fields in rows:
        assert author is None
        if choice == "delete":
            assert deleted is not None and fields == {}
        else:
            assert deleted is None and fields
    logged = await _db(
        url, select(Operation.data, Operation.actor_id).where(Operation.board_id == seeded.board), scalar=False
    )
    assert all(actor != person for _, actor in logged)
    if choice == "delete":
        assert not any("Jonotin" in json.dumps(data, ensure_ascii=False) for data, _ in logged)
    assert await _db(url, select(func.count()).select_from(Membership).where(Membership.person_id == person)) == 0
    # The contact person is told.
    assert (
        await _db(
            url, select(func.count()).select_from(Notification).where(Notification.person_id == seeded.professional)
        )
        == 1
    )
    # And the audit log says what happened, without content.
    actions = [
        r[0]
        for r in await _db(
            url,
            select(AuditEvent.action).where(AuditEvent.object_id.in_([person])).order_by(AuditEvent.id),
            scalar=False,
        )
    ]
    assert "consent.given" in actions and "consent.withdrawn" in actions and "membership.left" in actions
    details = await _db(url, select(AuditEvent.details), scalar=False)
    assert not any("Jonotin" in json.dumps(d[0], ensure_ascii=False) for d in details)
    await pro.close()
    await fresh.close()
    await http.aclose()


@pytest.mark.parametrize("choice", ["anonymise", "delete"])
async def test_customer_from_invite_to_withdrawal(
    live: LiveServer, seeded: Seeded, migrated_url: str, choice: str
) -> None:
    await _journey(live, seeded, migrated_url, choice)


def test_consent_records_and_audit_log_are_append_only(migrated_url: str, seeded: Seeded) -> None:
    async def tamper(table: str, statement: str) -> None:
        engine = create_engine(migrated_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text(statement.format(table=table)))
        finally:
            await engine.dispose()

    for table in ("consent_record", "audit_event"):
        for statement in (
            "UPDATE {table} SET created_at = created_at" if table == "consent_record" else "UPDATE {table} SET at = at",
            "DELETE FROM {table}",
        ):
            with pytest.raises(Exception, match="append-only"):
                asyncio.run(tamper(table, statement))
    assert asyncio.run(_db(migrated_url, select(func.count()).select_from(ConsentRecord))) >= 1


def test_new_agreement_version_asks_again_and_old_acceptance_stays(
    migrated_url: str, seeded: Seeded, tmp_path: Path
) -> None:
    async def publish() -> None:
        engine = create_engine(migrated_url)
        async with engine.begin() as conn:
            await consent.publish_text(
                conn,
                "agreement",
                seeded.team,
                {"fi": ("## Uusi\nUusi versio.", "Koko teksti."), "en": ("## New\nNew version.", "Full text.")},
                actor_id=seeded.professional,
            )
        await engine.dispose()

    with make_client(migrated_url, tmp_path) as client:
        sign_in_as(client, seeded.tokens["customer"])
        assert client.get(f"/boards/{seeded.board}").status_code == 200
        asyncio.run(publish())
        gated = client.get(f"/boards/{seeded.board}")
        assert gated.status_code == 303 and "/agreement" in gated.headers["location"]
        page = client.get(gated.headers["location"])
        # C5: plain ways out, without contacting anyone.
        assert "/me/leave/" in page.text and "/me/delete" in page.text and "Uusi versio." in page.text
        client.post(f"/teams/{seeded.team}/agreement", data={"csrf": csrf_of(client, "/me"), "accept": "yes"})
        assert client.get(f"/boards/{seeded.board}").status_code == 200
    versions = asyncio.run(
        _db(migrated_url, select(ConsentRecord.text_id).where(ConsentRecord.person_id == seeded.customer), scalar=False)
    )
    assert len({v[0] for v in versions}) == 2  # both acceptances remain, of two versions


def test_optional_consent_is_withdrawn_as_easily_as_given(migrated_url: str, seeded: Seeded, tmp_path: Path) -> None:
    with make_client(migrated_url, tmp_path) as client:
        sign_in_as(client, seeded.tokens["customer"])
        page = client.get("/me")
        assert page.text.count("Anna lupa") == 4
        csrf = csrf_of(client, "/me")
        assert client.post("/me/consents/quotes", data={"csrf": csrf, "give": "yes"}).status_code == 303
        assert "Peru lupa" in client.get("/me").text
        assert client.post("/me/consents/quotes", data={"csrf": csrf, "give": "no"}).status_code == 303
        assert client.get("/me").text.count("Anna lupa") == 4
    given = asyncio.run(
        _db(
            migrated_url,
            select(ConsentRecord.given)
            .where(ConsentRecord.person_id == seeded.customer, ConsentRecord.purpose == "quotes")
            .order_by(ConsentRecord.created_at),
            scalar=False,
        )
    )
    assert [g[0] for g in given] == [True, False]


def test_personal_export_has_own_data_and_no_one_elses(migrated_url: str, seeded: Seeded, tmp_path: Path) -> None:
    async def prepare() -> None:
        engine = create_engine(migrated_url)
        async with engine.begin() as conn:
            await conn.execute(
                update(Person)
                .where(Person.id == seeded.professional)
                .values(email="canary-pro@example.invalid", phone="0500000001")
            )
            await conn.execute(update(Person).where(Person.id == seeded.customer).values(email="kalle@example.invalid"))
        await engine.dispose()

    asyncio.run(prepare())
    with make_client(migrated_url, tmp_path) as client:
        sign_in_as(client, seeded.tokens["customer"])
        csrf = csrf_of(client, "/me")
        data = client.post("/me/export.json", data={"csrf": csrf}).json()
        page = client.post("/me/export.html", data={"csrf": csrf}).text
        assert client.get("/me/export.json").status_code == 405  # never a GET: exports are audited
    dumped = json.dumps(data, ensure_ascii=False)
    assert data["profile"]["email"] == "kalle@example.invalid"
    assert data["consents"][0]["purpose"] == "agreement" and data["consents"][0]["text"]
    assert data["memberships"][0]["contact_person"] == "Paula Ammattilainen"
    for canary in ("canary-pro@example.invalid", "0500000001"):
        assert canary not in dumped and canary not in page
    assert (
        asyncio.run(
            _db(
                migrated_url, select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "export.personal")
            )
        )
        == 2
    )


def test_account_deletion_empties_personal_fields_one_by_one(migrated_url: str, seeded: Seeded, tmp_path: Path) -> None:
    with make_client(migrated_url, tmp_path) as client:
        sign_in_as(client, seeded.tokens["customer"])
        page = client.get("/me/delete")
        assert "Mitä tapahtuu" in page.text  # consequences first
        csrf = csrf_of(client, "/me")
        assert client.post("/me/delete", data={"csrf": csrf}).status_code == 400  # a choice is needed
        assert client.post("/me/delete", data={"csrf": csrf, "contributions": "anonymise"}).status_code == 200
        assert client.get("/").status_code == 303
    row = asyncio.run(
        _db(
            migrated_url,
            select(Person.display_name, Person.email, Person.phone, Person.erased_at, Person.erasure_reason).where(
                Person.id == seeded.customer
            ),
            scalar=False,
        )
    )[0]
    assert row[:3] == (None, None, None) and row[3] is not None and row[4] == "self-service"


def test_coach_sees_counts_not_statuses_and_never_contact_details(
    migrated_url: str, seeded: Seeded, tmp_path: Path
) -> None:
    async def give_email_and_a_new_customer() -> None:
        from auth import directory as d

        engine = create_engine(migrated_url)
        async with engine.begin() as conn:
            await conn.execute(update(Person).where(Person.id == seeded.customer).values(email="kalle@example.invalid"))
            # A third customer who has not accepted the agreement yet: the counts tell them apart.
            person = await d.create_person(conn, "Uusi Asiakas")
            await d.add_member(conn, seeded.team, person, "customer", contact_person_id=seeded.professional)
        await engine.dispose()

    asyncio.run(give_email_and_a_new_customer())
    with make_client(migrated_url, tmp_path) as client:
        sign_in_as(client, seeded.tokens["coach"])
        page = client.get(f"/teams/{seeded.team}").text
        assert "Asiakkaita 3, sopimuksen hyväksyneitä 2" in page
        assert "Sopimus:" not in page and "kalle@example.invalid" not in page
        sign_in_as(client, seeded.tokens["professional"])
        page = client.get(f"/teams/{seeded.team}").text
        assert "Sopimus: sopimus hyväksytty" in page


def test_assisted_consent_is_confirmed_by_the_customer_at_first_login(
    migrated_url: str, seeded: Seeded, tmp_path: Path
) -> None:
    async def fresh_customer() -> tuple[str, str]:
        from auth import directory as d
        from auth.sessions import create_session

        engine = create_engine(migrated_url)
        async with engine.begin() as conn:
            person = await d.create_person(conn, "Paperi-Pekka")
            await d.add_member(conn, seeded.team, person, "customer", contact_person_id=seeded.professional)
            token = await create_session(conn, person, absolute=timedelta(hours=1))
        await engine.dispose()
        return person, token

    person, token = asyncio.run(fresh_customer())
    with make_client(migrated_url, tmp_path) as client:
        sign_in_as(client, seeded.tokens["professional"])
        csrf = csrf_of(client, f"/teams/{seeded.team}")
        recorded = client.post(f"/teams/{seeded.team}/members/{person}/assisted-consent", data={"csrf": csrf})
        assert recorded.status_code == 303
        client.cookies.set("kumppani", token)
        first = client.get(f"/boards/{seeded.board}")
        assert first.status_code == 303 and "/agreement/confirm" in first.headers["location"]
        confirm = client.get(first.headers["location"])
        assert "paperilla" in confirm.text
        client.post(f"/teams/{seeded.team}/agreement/confirm", data={"csrf": csrf, "confirm": "yes"})
        assert client.get(f"/boards/{seeded.board}").status_code == 200
    methods = asyncio.run(
        _db(
            migrated_url,
            select(ConsentRecord.method, ConsentRecord.actor_id)
            .where(ConsentRecord.person_id == person)
            .order_by(ConsentRecord.created_at),
            scalar=False,
        )
    )
    assert [m[0] for m in methods] == ["assisted", "confirmed"] and methods[0][1] == seeded.professional
    actions = asyncio.run(
        _db(migrated_url, select(AuditEvent.action).where(AuditEvent.object_id == person), scalar=False)
    )
    assert ("consent.assisted",) in actions


def test_retention_prunes_personal_data_after_the_period(migrated_url: str, seeded: Seeded) -> None:
    from boards.engine import Limits, Submission, apply_batch
    from boards.retention import prune

    card = new_id()

    async def scenario() -> tuple[list[str], list[str]]:
        engine = create_engine(migrated_url)
        async with engine.begin() as conn:
            await apply_batch(
                conn,
                seeded.board,
                [
                    Submission(
                        seeded.customer,
                        "c1",
                        p.ItemCreate(
                            id=card,
                            item_type="card",
                            fields={"text": "sisältö jää"},
                            stage=seeded.stage,
                            lane=seeded.lane,
                        ),
                    )
                ],
                Limits(),
            )
            await conn.execute(update(Team).where(Team.id == seeded.team).values(archived_at=utcnow()))
        now = utcnow()
        async with engine.begin() as conn:
            too_early = await prune(conn, now + timedelta(days=100), timedelta(days=365))
        async with engine.begin() as conn:
            due = await prune(conn, now + timedelta(days=366), timedelta(days=365))
        await engine.dispose()
        return too_early, due

    too_early, due = asyncio.run(scenario())
    assert too_early == [] and due == [seeded.team]
    author, fields = asyncio.run(
        _db(migrated_url, select(Item.author_id, Item.fields).where(Item.id == card), scalar=False)
    )[0]
    assert author is None and fields == {"text": "sisältö jää"}
    customer = asyncio.run(
        _db(
            migrated_url,
            select(Person.display_name, Person.erased_at).where(Person.id == seeded.customer),
            scalar=False,
        )
    )[0]
    assert customer[0] is None and customer[1] is not None
    assert (
        asyncio.run(
            _db(migrated_url, select(func.count()).select_from(Membership).where(Membership.team_id == seeded.team))
        )
        == 0
    )


def test_admin_erasure_is_audited_and_in_the_audit_csv(migrated_url: str, seeded: Seeded, tmp_path: Path) -> None:
    from auth import directory as d
    from auth.sessions import create_session

    async def admin() -> str:
        engine = create_engine(migrated_url)
        async with engine.begin() as conn:
            pid = await d.create_person(conn, "Aino Ylläpitäjä", is_admin=True)
            token = await create_session(conn, pid, absolute=timedelta(hours=1))
        await engine.dispose()
        return token

    token = asyncio.run(admin())
    with make_client(migrated_url, tmp_path) as client:
        client.cookies.set("kumppani", token)
        csrf = csrf_of(client, "/admin")
        assert client.post(f"/admin/people/{seeded.customer}/erase", data={"csrf": csrf}).status_code == 303
        audit_csv = client.post("/admin/audit.csv", data={"csrf": csrf})
    assert audit_csv.status_code == 200 and "account.erased" in audit_csv.text
    # Formulas in the audit CSV: test_csv_formulas.py.
    by_admin = asyncio.run(
        _db(migrated_url, select(AuditEvent.details).where(AuditEvent.action == "account.erased"), scalar=False)
    )
    assert by_admin[0][0]["by_admin"] is True
