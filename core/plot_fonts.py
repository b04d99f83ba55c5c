"""Chinese text in matplotlib plots (the data report and the evaluation report).

Without a CJK font the plots still render, with boxes for Chinese glyphs (Debian: fonts-wqy-microhei)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402

CJK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC", "SimHei")


def cjk_font() -> str | None:
    """Configure matplotlib for Chinese text; the font's name, or None when none is installed."""
    names = {f.name for f in font_manager.fontManager.ttflist}
    if not names & set(CJK_FONTS) and any("wqy" in p.lower() for p in font_manager.findSystemFonts()):
        # a font installed after matplotlib built its cache: rebuild the cache once
        font_manager.fontManager = font_manager._load_fontmanager(try_read_cache=False)
        names = {f.name for f in font_manager.fontManager.ttflist}
    found = next((n for n in CJK_FONTS if n in names), None)
    if found:
        plt.rcParams["font.sans-serif"] = [found, "DejaVu Sans"]
        plt.rcParams["axes.unicode_minus"] = False
    return found
