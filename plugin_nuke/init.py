"""Relume's Nuke plug-in folder, run by Nuke at start-up (GUI and command line).

Install by hand: add ``nuke.pluginAddPath("/path/to/relume/plugin_nuke")`` to ~/.nuke/init.py,
or put /path/to/relume/plugin_nuke on NUKE_PATH. This file then adds the gizmos and icons folders
to the plugin path and registers the callback that updates Relume_Relight when a light changes.
"""

import os
import sys

import nuke

# pluginAddPath and NUKE_PATH put this folder on sys.path; make sure even if a studio set-up did not.
for _folder in nuke.pluginPath():
    if os.path.isfile(os.path.join(_folder, "relume_nuke", "__init__.py")) and _folder not in sys.path:
        sys.path.insert(0, _folder)

import relume_nuke.callbacks  # noqa: E402
import relume_nuke.plugin  # noqa: E402

relume_nuke.plugin.register_paths()
relume_nuke.callbacks.register()
