"""A member's personal fission poster: the campaign's pitch, their nickname and their QR code.

Drawing only; which link and which words go on it is the service's business.
"""

import io

import qrcode
import qrcode.constants
from PIL import Image, ImageDraw

from shequn.fission.rules import PosterText
from shequn.kit.drawing import centred_line, font_of, wrap
from shequn.kit.fonts import FontFiles, Weight

WIDTH, HEIGHT = 750, 1334  # the usual phone poster, shared in chats and moments
MARGIN = 56
QR_SIDE = 340
INK = (33, 33, 33)
ACCENT = (200, 32, 48)
PAPER = (255, 255, 255)


def render_poster(
    text: PosterText,
    *,
    link: str,
    fonts: FontFiles,
    background: Image.Image | None = None,
) -> bytes:
    """A PNG of WIDTH×HEIGHT; glyphs the font lacks (colour emoji) are left out, never boxed."""
    poster = _backdrop(background)
    draw = ImageDraw.Draw(poster)
    y = MARGIN * 2
    headline_font = font_of(fonts.path(Weight.BOLD), 64)
    for line in wrap(text.headline, headline_font, WIDTH - 2 * MARGIN):
        y = centred_line(draw, line, headline_font, y, width=WIDTH, fill=PAPER) + 12
    y += 28
    body_font = font_of(fonts.path(Weight.REGULAR), 36)
    for entry in text.lines:
        for line in wrap(entry, body_font, WIDTH - 2 * MARGIN):
            y = centred_line(draw, line, body_font, y, width=WIDTH, fill=PAPER) + 10

    card_top = HEIGHT - MARGIN - QR_SIDE - 220
    draw.rounded_rectangle(
        (MARGIN, card_top, WIDTH - MARGIN, HEIGHT - MARGIN), radius=28, fill=PAPER
    )
    name_font = font_of(fonts.path(Weight.BOLD), 40)
    invite = f"{text.nickname} 邀请你入群"
    name_line = wrap(invite, name_font, WIDTH - 4 * MARGIN)[0]
    qr_top = centred_line(draw, name_line, name_font, card_top + 40, width=WIDTH, fill=ACCENT) + 24
    code = _qr(link)
    poster.paste(code, ((WIDTH - code.width) // 2, qr_top + (QR_SIDE - code.height) // 2))
    call_font = font_of(fonts.path(Weight.REGULAR), 28)
    centred_line(draw, text.call, call_font, qr_top + QR_SIDE + 20, width=WIDTH, fill=INK)

    out = io.BytesIO()
    poster.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _backdrop(background: Image.Image | None) -> Image.Image:
    if background is None:
        poster = Image.new("RGB", (WIDTH, HEIGHT), ACCENT)
        draw = ImageDraw.Draw(poster)
        # A vertical gradient from the accent to a darker red: plain but not flat.
        for row in range(HEIGHT):
            shade = row / HEIGHT
            colour = tuple(int(channel * (1 - 0.45 * shade)) for channel in ACCENT)
            draw.line(((0, row), (WIDTH, row)), fill=colour)
        return poster
    # Cover the poster, cropping the overflow evenly on both sides.
    image = background.convert("RGB")
    scale = max(WIDTH / image.width, HEIGHT / image.height)
    resized = image.resize((round(image.width * scale), round(image.height * scale)))
    left, top = (resized.width - WIDTH) // 2, (resized.height - HEIGHT) // 2
    return resized.crop((left, top, left + WIDTH, top + HEIGHT))


def _qr(link: str) -> Image.Image:
    # Level M survives a poster being re-shared as a compressed chat image.
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    code.add_data(link)
    code.make(fit=True)
    # Whole pixels per module: a module blurred across pixel edges is harder to scan.
    side = code.modules_count + 2 * code.border
    image = code.make_image(fill_color="black", back_color="white").get_image()
    scaled = max(1, QR_SIDE // side) * side
    return image.convert("RGB").resize((scaled, scaled), Image.Resampling.NEAREST)
