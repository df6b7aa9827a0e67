from __future__ import annotations


def page_routes(settings):
    return []
