from __future__ import annotations


def install_security(app, settings):
    return None
