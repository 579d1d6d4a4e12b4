"""Text on images: a CJK font, lines that fit, and no boxes for glyphs a font lacks."""

from functools import lru_cache
from pathlib import Path

from PIL import ImageDraw, ImageFont

# U+FFFF is never a character, so every font draws its "missing glyph" box for it.
NOT_A_CHARACTER = "\uffff"


def drawable(text: str, font: ImageFont.FreeTypeFont) -> str:
    """`text` without the characters `font` would draw as a box."""
    return "".join(char for char in text if char.isspace() or _has_glyph(font, char))


def _has_glyph(font: ImageFont.FreeTypeFont, char: str) -> bool:
    return _mask_of(font, char) != _mask_of(font, NOT_A_CHARACTER)


@lru_cache(maxsize=8192)
def _mask_of(font: ImageFont.FreeTypeFont, char: str) -> bytes:
    return bytes(font.getmask(char))


@lru_cache(maxsize=32)
def font_of(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


def wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Greedy lines no wider than `width`, broken at a space when a line has one."""
    lines: list[str] = []
    line = ""
    for char in " ".join(drawable(text, font).split()):
        if line and font.getlength(line + char) > width:
            cut = line.rfind(" ")
            if cut > 0 and char != " ":
                lines.append(line[:cut])
                line = line[cut + 1 :]
            else:
                lines.append(line)
                line = ""
            if char == " ":
                continue
        line += char
    return [*lines, line] if line else lines or [""]


def centred_line(
    draw: ImageDraw.ImageDraw,
    line: str,
    font: ImageFont.FreeTypeFont,
    top: int,
    *,
    width: int,
    fill: tuple[int, int, int],
) -> int:
    """Draw `line` centred across `width` at `top`, without glyphs the font lacks; the bottom
    of the line it took."""
    line = drawable(line, font)
    left, _, right, bottom = draw.textbbox((0, top), line, font=font)
    draw.text(((width - (right - left)) // 2, top), line, font=font, fill=fill)
    return int(bottom)
