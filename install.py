#!/usr/bin/env python3
"""Relume installer: ``python install.py [--dry-run] [--uninstall] [--yes] [--mirror DIR_OR_URL] ...``.

Sets up the engine environment, assets, Blender extension and Nuke plugin for this user; see
``python install.py --help`` and the README's install section. The implementation is the
standard-library-only package ``relume_install``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from relume_install.cli import main  # noqa: E402  (needs the checkout on sys.path)

if __name__ == "__main__":
    sys.exit(main())
