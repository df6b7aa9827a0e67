"""Browser tests (Playwright + Chromium + axe-core) against a live server."""
