"""`shequn poster` and `shequn fonts`: personal fission posters, and the CJK font they need."""

from pathlib import Path
from typing import Annotated, Literal

import typer
from PIL import Image, UnidentifiedImageError
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from shequn.cli.common import DbOption, console, fail, opened
from shequn.cli.invite import OrgOption
from shequn.fission.poster import render_poster
from shequn.fission.service import UnknownCampaign, plan_poster
from shequn.kit.fonts import FontDownloadError, FontMissing, find_cjk_font, install_cjk_font
from shequn.kit.time import utc_now

fonts_app = typer.Typer(
    help="The CJK font posters are drawn with (中文字体).", no_args_is_help=True
)


def poster(
    member: Annotated[str, typer.Argument(help="The member whose poster it is.")],
    campaign: Annotated[str, typer.Option(help="The fission campaign it promotes.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The PNG file to write.")],
    db: DbOption = None,
    org: OrgOption = None,
    lang: Annotated[
        Literal["zh", "en"], typer.Option(help="Language of the tier lines: zh or en.")
    ] = "zh",
    background: Annotated[
        Path | None, typer.Option(help="Campaign image to draw on (PNG/JPEG), cropped to fit.")
    ] = None,
) -> None:
    """Draw a member's personal poster (个人海报) with the QR code of their own invite link."""
    try:
        fonts = find_cjk_font()
    except (FontMissing, FileNotFoundError) as error:
        fail(str(error))
    backdrop = None
    if background is not None:
        try:
            backdrop = Image.open(background)
            backdrop.load()
        except (OSError, UnidentifiedImageError) as error:
            fail(f"--background: {background} is not a readable image ({error})")
    with opened(db) as shequn, shequn.sessions.begin() as session:
        org_id = org or shequn.settings.default_org
        try:
            plan = plan_poster(
                session, org_id, member=member, campaign=campaign, lang=lang,
                public_url=shequn.settings.public_url, now=utc_now(),
            )  # fmt: skip
        except (UnknownCampaign, LookupError) as error:
            fail(str(error))
    png = render_poster(plan.text, link=plan.link, fonts=fonts, background=backdrop)
    try:
        output.write_bytes(png)
    except OSError as error:
        fail(f"-o: cannot write {output}: {error}")
    console.print(f"poster 海报 {output}: code {plan.code} → {plan.link}")


@fonts_app.command("install")
def fonts_install() -> None:
    """Fetch Noto Sans SC once (about 57 MB), checked against its pinned digest."""
    with Progress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
        TransferSpeedColumn(), console=console, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("Noto Sans SC 字体", total=None)

        def advance(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        try:
            files = install_cjk_font(progress=advance)
        except (FontDownloadError, OSError) as error:
            fail(f"font download failed: {error}")
    console.print(f"fonts 字体: {files.regular.parent}")


@fonts_app.command("where")
def fonts_where() -> None:
    """Print the font file posters are drawn with."""
    try:
        files = find_cjk_font()
    except (FontMissing, FileNotFoundError) as error:
        fail(str(error))
    print(files.regular)
