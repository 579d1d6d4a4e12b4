"""A winner's certificate (奖状): something to show, which makes every win a second poster."""

import io
from datetime import date

from PIL import Image, ImageDraw

from shequn.kit.drawing import centred_line, font_of
from shequn.kit.fonts import FontFiles, Weight

WIDTH, HEIGHT = 1200, 850
GOLD = (176, 128, 32)
RED = (178, 24, 38)
INK = (40, 40, 40)
PAPER = (255, 249, 236)


def render_certificate(
    *, winner: str, prize: str, lottery: str, day: date, code: str, fonts: FontFiles
) -> bytes:
    """A landscape PNG: title, the winner's name, the prize, the date and the lookup code."""
    image = Image.new("RGB", (WIDTH, HEIGHT), PAPER)
    draw = ImageDraw.Draw(image)
    draw.rectangle((24, 24, WIDTH - 24, HEIGHT - 24), outline=GOLD, width=10)
    draw.rectangle((48, 48, WIDTH - 48, HEIGHT - 48), outline=GOLD, width=2)
    bold, regular = fonts.path(Weight.BOLD), fonts.path(Weight.REGULAR)
    y = centred_line(draw, "奖 状", font_of(bold, 110), 90, width=WIDTH, fill=RED) + 30
    y = centred_line(draw, "CERTIFICATE", font_of(regular, 30), y, width=WIDTH, fill=GOLD) + 60
    y = centred_line(draw, winner, font_of(bold, 72), y, width=WIDTH, fill=INK) + 40
    line = f"在「{lottery}」中荣获"
    y = centred_line(draw, line, font_of(regular, 40), y, width=WIDTH, fill=INK) + 30
    y = centred_line(draw, prize, font_of(bold, 64), y, width=WIDTH, fill=RED) + 70
    footer = f"{day:%Y 年 %m 月 %d 日}  ·  验证码 {code}"
    centred_line(draw, footer, font_of(regular, 30), y, width=WIDTH, fill=INK)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
