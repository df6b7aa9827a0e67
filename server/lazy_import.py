"""Heavy libraries that few requests need are imported on first use, off the event loop.

Imported at start-up they would stay resident in every serving process: fpdf2
with Pillow and fontTools ~21 MiB, the OIDC stack (authlib, joserfc,
cryptography, httpx) ~12 MiB. Imported on the event loop the first time they
are needed, they would stall every board's websocket for as long as the import
takes (~0.4 s for fpdf2, ~0.1 s for the OIDC stack).
"""

from __future__ import annotations

import asyncio
import importlib
import sys


async def import_off_loop(name: str) -> None:
    """Make sure module ``name`` is imported, importing it in a worker thread the first time.

    The import still needs the GIL, but Python switches threads every few
    milliseconds, so the loop keeps serving meanwhile. Afterwards the caller's
    plain ``import`` finds the module in ``sys.modules`` at no cost.
    """
    if name not in sys.modules:
        await asyncio.to_thread(importlib.import_module, name)
