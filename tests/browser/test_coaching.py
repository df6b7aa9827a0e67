"""In Chromium: a coach with two teams' boards open pushes an exercise to both, starts a round timer
that both boards count down together, makes an announcement both boards read out, and reads both
teams' work side by side, commenting onto a team's own board. The coach's pages pass axe."""

from __future__ import annotations

import re

from browser.conftest import Pages, check_axe, new_session, open_actions, run, wait_synced
from conftest import LiveServer
from foundation.db import create_engine


async def _round(url: str) -> dict[str, str]:
    from auth import directory as d
    from boards.catalogue import create_board

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            east = await d.create_organisation(conn, "Itäkunta")
            west = await d.create_organisation(conn, "Länsikunta")
            programme = await d.create_programme(conn, "Sujuvat palvelut")
            round_id = await d.create_round(conn, programme, "Kierros 1")
            team_a = await d.create_team(conn, "Kotihoito", east, round_id)
            team_b = await d.create_team(conn, "Perhekeskus", west, round_id)
            pro_a = await d.create_person(conn, "Paula Ammattilainen")
            pro_b = await d.create_person(conn, "Pirjo Toinen")
            coach = await d.create_person(conn, "Veera Valmentaja")
            await d.add_member(conn, team_a, pro_a, "professional")
            await d.add_member(conn, team_b, pro_b, "professional")
            await d.add_programme_coach(conn, programme, coach)
            board_a = await create_board(conn, "Asiakaspolku", "journey", team_id=team_a)
            board_b = await create_board(conn, "Asiakaspolku", "journey", team_id=team_b)
    finally:
        await engine.dispose()
    return {
        "round": round_id,
        "team_a": team_a,
        "board_a": board_a,
        "board_b": board_b,
        "pro_a": await new_session(url, pro_a),
        "pro_b": await new_session(url, pro_b),
        "coach": await new_session(url, coach),
    }


async def _write_ideas(url: str, live: LiveServer, tokens: dict[str, str]) -> dict[str, str]:
    """Each team writes an idea on the pushed exercise's board; returns team A's exercise board."""
    from sqlalchemy import select

    from boards import protocol as p
    from boards.client import BoardClient
    from boards.models import Board

    engine = create_engine(url)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(Board.id, Board.team_id).where(Board.exercise_id.is_not(None)))).all()
    await engine.dispose()
    boards = {r.team_id: r.id for r in rows}
    for token, team, idea in (("pro_a", "team_a", "Soittokierros aamuisin"), ("pro_b", None, "Perhekahvila")):
        board = boards[tokens[team]] if team else next(b for t, b in boards.items() if t != tokens["team_a"])
        client = BoardClient(live.ws_url(board), cookie=f"kumppani={tokens[token]}", origin=live.base)
        await client.connect()
        await client.call(p.ItemCreate(id=f"idea-{token}-01", item_type="idea", fields={"title": idea}))
        await client.close()
    return {"exercise_a": boards[tokens["team_a"]]}


def _seconds_left(text: str) -> int:
    match = re.search(r"(\d+)\.(\d\d)", text)
    assert match, text
    return int(match.group(1)) * 60 + int(match.group(2))


def test_a_coach_steers_two_teams_at_once(pages: Pages, live: LiveServer, migrated_url: str, axe_source: str) -> None:
    from playwright.sync_api import expect

    ids = run(_round(migrated_url))
    team_a = pages.context(ids["pro_a"]).new_page()
    team_a.goto(f"{live.base}/boards/{ids['board_a']}")
    team_b = pages.context(ids["pro_b"]).new_page()
    team_b.goto(f"{live.base}/boards/{ids['board_b']}")
    wait_synced(team_a)
    wait_synced(team_b)

    coach = pages.context(ids["coach"]).new_page()
    coach.goto(f"{live.base}/rounds/{ids['round']}")
    expect(coach.get_by_role("heading", level=1)).to_have_text("Sujuvat palvelut: Kierros 1")
    row_a = coach.locator(f'tr[data-team="{ids["team_a"]}"]')
    expect(row_a.locator('[data-field="boards"]')).to_have_text("1")
    expect(coach.locator("#dashboard")).to_have_attribute("data-live", "yes")
    check_axe(coach, axe_source, "the coach's round page")

    # Push an exercise: every team gets the board, and the dashboard counts it without a reload.
    coach.get_by_label("Harjoituksen nimi").fill("Ideat yhdessä")
    coach.get_by_label("Pohja").select_option("ideas")
    coach.get_by_role("button", name="Luo taulu jokaiselle tiimille").click()
    expect(coach.get_by_role("status").filter(has_text="jokaisen tiimin tauluissa")).to_be_visible()
    expect(coach.get_by_role("link", name="Lue rinnakkain: Ideat yhdessä")).to_be_visible()

    # The round timer: both teams' boards count down, in step.
    coach.get_by_label("Minuutteja").fill("5")
    coach.get_by_role("button", name="Käynnistä ajastin").click()
    timers = [page.locator("#round-timer") for page in (team_a, team_b)]
    for timer in timers:
        expect(timer).to_be_visible()
        expect(timer).to_contain_text("Kierroksen ajastin")
    shown = [timer.text_content() or "" for timer in timers]  # read one right after the other
    left = [_seconds_left(text) for text in shown]
    assert abs(left[0] - left[1]) <= 1, shown
    assert 270 <= left[0] <= 300, shown

    # An announcement: shown on both boards and read out in their polite live region.
    coach.get_by_label("Tiedote kaikille tiimeille").fill("Kymmenen minuutin tauko, palataan klo 11")
    coach.get_by_role("button", name="Lähetä tiedote").click()
    for page in (team_a, team_b):
        expect(page.locator("#round-announcement")).to_have_text("Kymmenen minuutin tauko, palataan klo 11")
        live_region = page.locator("#round-live")
        expect(live_region).to_have_attribute("aria-live", "polite")
        expect(live_region).to_have_text("Valmentajan tiedote: Kymmenen minuutin tauko, palataan klo 11")

    # Side by side: both teams' work on the exercise, and a comment that lands on team A's board.
    exercise = run(_write_ideas(migrated_url, live, ids))
    coach.goto(f"{live.base}/rounds/{ids['round']}")
    coach.get_by_role("link", name="Lue rinnakkain: Ideat yhdessä").click()
    kotihoito = coach.get_by_role("region", name="Kotihoito")
    perhekeskus = coach.get_by_role("region", name="Perhekeskus")
    expect(kotihoito).to_contain_text("Soittokierros aamuisin")
    expect(perhekeskus).to_contain_text("Perhekahvila")
    check_axe(coach, axe_source, "the side-by-side view")
    comment = coach.get_by_role("textbox", name="Kommentoi tiimin Kotihoito korttia: Soittokierros aamuisin")
    comment.fill("Hyvä! Kokeilkaa viikon ajan.")
    coach.get_by_role("button", name="Kommentoi tiimin Kotihoito korttia: Soittokierros aamuisin").click()
    expect(coach.get_by_role("status").filter(has_text="Kommentti on nyt tiimin taululla")).to_be_visible()
    team_a.goto(f"{live.base}/boards/{exercise['exercise_a']}")
    wait_synced(team_a)
    open_actions(team_a, "Soittokierros aamuisin")
    team_a.get_by_role("button", name="Kommentit (1): Soittokierros aamuisin").click()
    expect(team_a.get_by_text("Hyvä! Kokeilkaa viikon ajan.")).to_be_visible()
    # The board opened after the announcement shows it too (read when the socket connects).
    expect(team_a.locator("#round-announcement")).to_have_text("Kymmenen minuutin tauko, palataan klo 11")
