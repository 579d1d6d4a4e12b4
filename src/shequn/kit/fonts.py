"""A CJK font for images we draw (posters, certificates): found on the machine or fetched once.

Pillow's own font has no Chinese, and most servers have no CJK font either, so shequn fetches
Noto Sans SC (SIL Open Font License) from the npm registry, checks it against a pinned digest,
and keeps the two weights it draws with.
"""

import base64
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

FONT_PACKAGE_URL = (
    "https://registry.npmjs.org/@expo-google-fonts/noto-sans-sc/-/noto-sans-sc-0.4.3.tgz"
)
FONT_PACKAGE_SHA512 = (
    "9rAwdFTFHbO/u6Cs0gj2jZbW74TGIiaFNQnXYH2s5wA1bzVkwbaviL4t8YUV642eGYjg86eH6DkAEQmfNHDncQ=="
)


class Weight(StrEnum):
    REGULAR = "regular"
    BOLD = "bold"


# Member of the package tarball → the name it is kept under.
PACKAGE_MEMBERS = {
    "package/400Regular/NotoSansSC_400Regular.ttf": "NotoSansSC-Regular.ttf",
    "package/700Bold/NotoSansSC_700Bold.ttf": "NotoSansSC-Bold.ttf",
    "package/LICENSE_FONT": "OFL.txt",
}
KEPT_NAMES = {Weight.REGULAR: "NotoSansSC-Regular.ttf", Weight.BOLD: "NotoSansSC-Bold.ttf"}

# Debian's and others' CJK fonts, used when present so nothing needs fetching.
SYSTEM_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
)


class FontMissing(RuntimeError):
    def __init__(self, folder: Path) -> None:
        super().__init__(
            f"no CJK font in {folder} or on this machine; run `shequn fonts install` "
            "(下载中文字体) or set SHEQUN_FONT to a .ttf/.otf/.ttc file"
        )


class FontDownloadError(RuntimeError):
    pass


def font_folder() -> Path:
    """SHEQUN_FONT_DIR, else the user's data folder, shared by every checkout."""
    if configured := os.environ.get("SHEQUN_FONT_DIR"):
        return Path(configured)
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "shequn" / "fonts"


@dataclass(frozen=True)
class FontFiles:
    regular: Path
    bold: Path

    def path(self, weight: Weight) -> Path:
        return self.bold if weight is Weight.BOLD else self.regular


def find_cjk_font(folder: Path | None = None) -> FontFiles:
    """SHEQUN_FONT wins; then the fetched Noto Sans SC; then a CJK font of the system."""
    if explicit := os.environ.get("SHEQUN_FONT"):
        path = Path(explicit)
        if not path.is_file():
            raise FileNotFoundError(f"SHEQUN_FONT: {explicit} is not a file")
        return FontFiles(regular=path, bold=path)
    folder = folder or font_folder()
    kept = {weight: folder / name for weight, name in KEPT_NAMES.items()}
    if all(path.is_file() for path in kept.values()):
        return FontFiles(regular=kept[Weight.REGULAR], bold=kept[Weight.BOLD])
    present = [Path(candidate) for candidate in SYSTEM_FONTS if Path(candidate).is_file()]
    if present:
        bold = next((path for path in present if "Bold" in path.name), present[0])
        return FontFiles(regular=present[0], bold=bold)
    raise FontMissing(folder)


def install_cjk_font(
    folder: Path | None = None,
    *,
    url: str = FONT_PACKAGE_URL,
    progress: Callable[[int, int | None], None] | None = None,
) -> FontFiles:
    """Fetch the font package once, check its digest, and keep the weights we draw with."""
    folder = folder or font_folder()
    kept = {weight: folder / name for weight, name in KEPT_NAMES.items()}
    if all(path.is_file() for path in kept.values()):
        return FontFiles(regular=kept[Weight.REGULAR], bold=kept[Weight.BOLD])
    package = _download(url, progress)
    digest = base64.b64encode(hashlib.sha512(package).digest()).decode()
    if digest != FONT_PACKAGE_SHA512:
        raise FontDownloadError(f"{url}: sha512 {digest} is not the pinned {FONT_PACKAGE_SHA512}")
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(package), mode="r:gz") as archive:
        for member, name in PACKAGE_MEMBERS.items():
            source = archive.extractfile(member)
            if source is None:
                raise FontDownloadError(f"{url}: {member} is missing from the package")
            # Written beside, then renamed: a killed install never leaves half a font behind.
            with tempfile.NamedTemporaryFile(dir=folder, delete=False) as target:
                shutil.copyfileobj(source, target)
            Path(target.name).chmod(0o644)
            Path(target.name).replace(folder / name)
    return FontFiles(regular=kept[Weight.REGULAR], bold=kept[Weight.BOLD])


def _download(url: str, progress: Callable[[int, int | None], None] | None) -> bytes:
    if not url.startswith(("https://", "http://", "file://")):
        raise FontDownloadError(f"{url}: only http(s) and file URLs are fetched")
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (scheme checked)
            length = response.headers.get("Content-Length")
            total = int(length) if length else None
            chunks: list[bytes] = []
            done = 0
            while chunk := response.read(1 << 20):
                chunks.append(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except OSError as error:
        raise FontDownloadError(f"{url}: {error}") from error
    return b"".join(chunks)
