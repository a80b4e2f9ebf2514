"""Relume's menus, run by Nuke after init.py in GUI sessions: a Relume toolbar and main menu."""

import relume_nuke.plugin

relume_nuke.plugin.build_menus()
