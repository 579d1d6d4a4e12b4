"""Personal posters: Chinese drawn with a real CJK font, and a QR code a phone can scan."""

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner

from shequn.app import create_app
from shequn.cli.main import app
from shequn.fission.poster import HEIGHT, WIDTH, PosterText, render_poster
from shequn.fission.rules import RewardKind, Tier, poster_lines
from shequn.invite.models import InviteCodeRecord
from shequn.invite.service import create_invite_code
from shequn.kit.drawing import drawable, font_of
from shequn.kit.fonts import FontMissing, find_cjk_font
from shequn.kit.time import utc_now
from shequn.wiring import Shequn
from tests.conftest import event, ingest

runner = CliRunner()
TIERS = [Tier(10, RewardKind.GIFT, "连衣裙一件", 19900), Tier(3, RewardKind.COUPON, "¥20 券", 2000)]


def scanned(png: bytes) -> list[str]:
    return [code.text for code in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def test_the_installed_font_draws_chinese_and_drops_what_it_cannot_draw() -> None:
    font = font_of(find_cjk_font().regular, 36)
    assert drawable("双十一裂变 邀请你入群 ¥20", font) == "双十一裂变 邀请你入群 ¥20"
    # Colour emoji would be a box in a text font: left out instead.
    assert drawable("小美🌸", font) == "小美"


def test_a_poster_carries_a_qr_code_that_scans_back_to_the_link() -> None:
    text = PosterText(
        headline="双十一裂变 邀请好友得大奖", nickname="小美🌸", lines=("邀请 3 位好友 → ¥20 券",)
    )
    png = render_poster(text, link="https://t.me/+AbCdEf123", fonts=find_cjk_font())
    image = Image.open(io.BytesIO(png))
    assert (image.format, image.size) == ("PNG", (WIDTH, HEIGHT))
    assert scanned(png) == ["https://t.me/+AbCdEf123"]


def test_a_campaign_image_is_cropped_to_cover_the_poster_and_the_code_still_scans() -> None:
    wide = Image.new("RGB", (3000, 1000), (240, 200, 210))
    text = PosterText(headline="Invite friends, win a dress", nickname="Amy", lines=())
    png = render_poster(text, link="https://example.com/j/demo/x", fonts=find_cjk_font(),
                        background=wide)  # fmt: skip
    assert Image.open(io.BytesIO(png)).size == (WIDTH, HEIGHT)
    assert scanned(png) == ["https://example.com/j/demo/x"]


def test_the_tiers_read_lowest_first_in_either_language() -> None:
    assert poster_lines(TIERS, lang="zh") == (
        "邀请 3 位好友 → ¥20 券",
        "邀请 10 位好友 → 连衣裙一件",
    )
    assert poster_lines(TIERS, lang="en")[0] == "Invite 3 friends → ¥20 券"


def test_without_any_cjk_font_the_operator_is_told_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shequn.kit.fonts.SYSTEM_FONTS", ())
    with pytest.raises(FontMissing, match="shequn fonts install"):
        find_cjk_font(tmp_path)


@pytest.fixture
def with_campaign(shequn: Shequn, db_url: str) -> str:
    ingest(shequn, [
        event("g", "group.upserted", "2020-11-06T09:00:00", {"group": "new-3", "name": "新群3"}),
        event("p", "member.upserted", "2020-11-06T09:00:00",
              {"member": "u7", "nickname": "小美🌸", "gender": "female"}),
    ])  # fmt: skip
    made = runner.invoke(app, [
        "fission", "create", "d11", "--org", "demo", "--db", db_url, "--name", "双十一裂变",
        "--from", "2020-11-07T00:00:00+08:00", "--to", "2020-11-07T23:59:59+08:00",
        "--groups", "new-3", "--tier", "3:coupon:¥20券:20.00", "--tier", "10:gift:连衣裙:199.00",
    ])  # fmt: skip
    assert made.exit_code == 0, made.output
    return db_url


def test_shequn_poster_gives_the_member_one_personal_code_and_draws_its_link(
    shequn: Shequn, with_campaign: str, tmp_path: Path
) -> None:
    first, second = tmp_path / "1.png", tmp_path / "2.png"
    for output in (first, second):
        drawn = runner.invoke(app, ["poster", "u7", "--campaign", "d11", "--org", "demo",
                                    "-o", str(output), "--db", with_campaign])  # fmt: skip
        assert drawn.exit_code == 0, drawn.output
    with shequn.sessions() as session:
        codes = session.scalars(select(InviteCodeRecord)).all()
    assert [(c.owner, c.group_id, c.channel) for c in codes] == [("u7", "new-3", "poster")]
    link = f"http://127.0.0.1:8000/j/demo/{codes[0].code}"
    assert scanned(first.read_bytes()) == scanned(second.read_bytes()) == [link]


def test_a_code_with_a_platform_link_puts_that_link_on_the_poster(
    shequn: Shequn, with_campaign: str, tmp_path: Path
) -> None:
    with shequn.sessions.begin() as session:
        create_invite_code(session, "demo", owner="u7", group="new-3", channel="poster",
                           code="u7-tg", link="https://t.me/+u7Link", now=utc_now())  # fmt: skip
    output = tmp_path / "p.png"
    drawn = runner.invoke(app, ["poster", "u7", "--campaign", "d11", "--org", "demo",
                                "-o", str(output), "--db", with_campaign])  # fmt: skip
    assert drawn.exit_code == 0, drawn.output
    assert scanned(output.read_bytes()) == ["https://t.me/+u7Link"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["poster", "u7", "--campaign", "nope"], "campaign 'nope' does not exist"),
        (["poster", "u404", "--campaign", "d11"], "member 'u404' is not known"),
        (["poster", "u7", "--campaign", "d11", "--background", "missing.png"], "--background"),
    ],
)
def test_a_poster_for_something_unknown_is_refused_by_name(
    shequn: Shequn, with_campaign: str, tmp_path: Path, args: list[str], message: str
) -> None:
    output = tmp_path / "p.png"
    refused = runner.invoke(app, [*args, "--org", "demo", "-o", str(output), "--db", with_campaign])
    assert refused.exit_code == 1
    assert message in refused.output
    assert not output.exists()


@pytest.fixture
def client(shequn: Shequn) -> Iterator[TestClient]:
    with TestClient(create_app(shequn, run_worker=False), follow_redirects=False) as test_client:
        yield test_client


def test_a_scanned_code_goes_on_to_the_platform_link(shequn: Shequn, client: TestClient) -> None:
    with shequn.sessions.begin() as session:
        create_invite_code(session, "demo", owner="u7", group="new-3", channel="poster",
                           code="u7-tg", link="https://t.me/+u7Link", now=utc_now())  # fmt: skip
        create_invite_code(session, "demo", owner="u8", group="new-3", channel="poster",
                           code="u8-none", now=utc_now())  # fmt: skip
    found = client.get("/j/demo/u7-tg")
    assert (found.status_code, found.headers["location"]) == (302, "https://t.me/+u7Link")
    unlinked = client.get("/j/demo/u8-none")
    assert unlinked.status_code == 404
    assert "no join link yet" in unlinked.text
    assert client.get("/j/other/u7-tg").status_code == 404


def test_an_invite_link_that_is_not_a_url_is_refused(shequn: Shequn) -> None:
    with shequn.sessions.begin() as session, pytest.raises(ValueError, match="link: 'tg:nope'"):
        create_invite_code(session, "demo", owner="u7", group=None, channel="poster",
                           code=None, link="tg:nope", now=utc_now())  # fmt: skip
