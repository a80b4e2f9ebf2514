"""Contracts between the engine and the host adapters, written once: standard library only, Python 3.7 syntax.

The engine imports this package, and so do both adapters, whose hosts' Pythons (Nuke 13's 3.7,
Blender's 3.11) have neither numpy nor torch. What lives here is what the three must read alike:

- :mod:`.errors`: the ``PATH: problem`` errors every layer reports;
- :mod:`.home`: Relume's per-user folder (``$RELUME_HOME`` or ``~/.relume``), ``config.json``, assets;
- :mod:`.engine`: which Python runs the engine, its command line and its cleaned environment;
- :mod:`.frames`: how an output pattern's frame field (``####``, ``%04d``) expands;
- :mod:`.atomic`: writing a file so a reader never sees half of it;
- :mod:`.process`: whether a process still runs (stale temporaries, the service's parent watch);
- :mod:`.vocabulary`: closed choices that cross the seam (weight methods, job states);
- :mod:`.lights_file`: the lights file both adapters write for the engine;
- :mod:`.farm`: farm job files (written by the Nuke plug-in, read by submitters); :mod:`.deadline` submits
  one to Thinkbox Deadline (``python -m relume_host.deadline JOB.json``).

Where it lives: ``relume_host/`` at the top of the checkout. The engine finds it as an installed
package (``pyproject.toml``); the Nuke plug-in beside ``plugin_nuke/`` in the same checkout
(``relume_nuke/__init__.py``); the Blender extension as its own subpackage, copied into the extension by
``install.py`` (``relume_install.blender``), because an extension must be self-contained.
"""
